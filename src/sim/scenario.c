/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* shotsync-sim scenarios: GKeyFile text → a validated SimScenario, plus the
 * name templates and time specifications they use. See shotsync-sim(1) for
 * the format. Every message names the file, the group and the key. */

#include <math.h>
#include <stdio.h>

#include "sim.h"

GQuark sim_error_quark(void) {
        return g_quark_from_static_string("shotsync-sim-error");
}

static const char *const failure_keys[_SIM_FAIL_MAX] = {
        [SIM_FAIL_NEVER] = "Never",           [SIM_FAIL_WRITE_LATE] = "WriteLate",
        [SIM_FAIL_SYNC_LATE] = "SyncLate",    [SIM_FAIL_AFTER_CLOSE] = "AfterClose",
        [SIM_FAIL_DUPLICATE] = "Duplicate",   [SIM_FAIL_TEST] = "Test",
};

/* Default seconds of each mode, and the range a value may take. */
static const struct {
        double def, min, max;
} failure_secs[_SIM_FAIL_MAX] = {
        [SIM_FAIL_NEVER] = { 0, 0, 0 },
        [SIM_FAIL_WRITE_LATE] = { 40, -86400, 86400 },
        [SIM_FAIL_SYNC_LATE] = { 60, 0, 86400 },
        [SIM_FAIL_AFTER_CLOSE] = { 5, 0, 86400 },
        [SIM_FAIL_DUPLICATE] = { 3, -3600, 3600 },
        [SIM_FAIL_TEST] = { -20, -3600, 3600 },
};

const char *sim_failure_key(SimFailure f) {
        return f >= 0 && f < _SIM_FAIL_MAX ? failure_keys[f] : NULL;
}

/* ---- templates ---- */

typedef enum Field {
        FIELD_CAMERA,
        FIELD_KIND,
        FIELD_COUNTER,
        FIELD_SHOT,
        FIELD_MTIME,
        FIELD_SESSION,
        _FIELD_MAX,
} Field;

static const char *const field_names[_FIELD_MAX] = {
        [FIELD_CAMERA] = "camera", [FIELD_KIND] = "kind",   [FIELD_COUNTER] = "counter",
        [FIELD_SHOT] = "shot",     [FIELD_MTIME] = "mtime", [FIELD_SESSION] = "session",
};

static GDateTime *date_time_local(nsec_t t) {
        int64_t sec = t / NSEC_PER_SEC, ns = t % NSEC_PER_SEC;
        if (ns < 0) {
                ns += NSEC_PER_SEC;
                sec--;
        }
        GDateTime *d = g_date_time_new_from_unix_local(sec);
        if (!d)
                return NULL;
        GDateTime *r = g_date_time_add(d, ns / 1000);
        g_date_time_unref(d);
        return r;
}

/* strftime as GLib does it, plus %L for milliseconds. */
static char *format_time(const char *fmt, nsec_t t) {
        g_autoptr(GDateTime) d = date_time_local(t);
        if (!d)
                return NULL;
        int64_t ns = t % NSEC_PER_SEC;
        if (ns < 0)
                ns += NSEC_PER_SEC;
        char ms[4];
        snprintf(ms, sizeof ms, "%03d", (int) (ns / 1000000));

        g_autoptr(GString) f = g_string_new(NULL);
        for (const char *p = fmt; *p; p++) {
                if (p[0] == '%' && p[1] == 'L') {
                        g_string_append(f, ms);
                        p++;
                } else if (p[0] == '%' && p[1]) {
                        g_string_append_len(f, p, 2);
                        p++;
                } else
                        g_string_append_c(f, *p);
        }
        return g_date_time_format(d, f->str);
}

/* Walks a template; with ctx == NULL only checks it. */
static char *template_expand(const char *tmpl, const SimNameContext *ctx, GError **error) {
        g_autoptr(GString) out = g_string_new(NULL);

        for (const char *p = tmpl; *p;) {
                if (p[0] == '{' && p[1] == '{') {
                        g_string_append_c(out, '{');
                        p += 2;
                        continue;
                }
                if (p[0] == '}' && p[1] == '}') {
                        g_string_append_c(out, '}');
                        p += 2;
                        continue;
                }
                if (*p == '}') {
                        g_set_error(error, SIM_ERROR, 0, "'}' without '{' (write '}}' for a brace)");
                        return NULL;
                }
                if (*p != '{') {
                        g_string_append_c(out, *p++);
                        continue;
                }
                const char *end = strchr(p, '}');
                if (!end) {
                        g_set_error(error, SIM_ERROR, 0, "'{' without '}' (write '{{' for a brace)");
                        return NULL;
                }
                g_autofree char *inner = g_strndup(p + 1, (gsize) (end - p - 1));
                char *colon = strchr(inner, ':');
                const char *arg = NULL;
                if (colon) {
                        *colon = 0;
                        arg = colon + 1;
                }
                Field field = _FIELD_MAX;
                for (Field i = 0; i < _FIELD_MAX; i++)
                        if (streq(inner, field_names[i]))
                                field = i;
                if (field == _FIELD_MAX) {
                        g_set_error(error, SIM_ERROR, 0,
                                    "unknown placeholder {%s} (known: camera, kind, counter, shot, mtime, session)",
                                    inner);
                        return NULL;
                }

                switch (field) {
                case FIELD_CAMERA:
                case FIELD_KIND:
                        if (arg) {
                                g_set_error(error, SIM_ERROR, 0, "{%s} takes no argument", inner);
                                return NULL;
                        }
                        if (ctx && field == FIELD_CAMERA)
                                g_string_append(out, ctx->camera);
                        else if (ctx)
                                g_string_append_printf(out, "%u", ctx->kind);
                        break;
                case FIELD_COUNTER:
                case FIELD_SHOT: {
                        unsigned width = 0;
                        if (arg) {
                                char *e = NULL;
                                unsigned long w = strtoul(arg, &e, 10);
                                if (!*arg || *e || w > 12) {
                                        g_set_error(error, SIM_ERROR, 0, "{%s:%s}: the width must be 0 to 12 digits",
                                                    inner, arg);
                                        return NULL;
                                }
                                width = (unsigned) w;
                        }
                        if (ctx)
                                g_string_append_printf(out, "%0*" PRIu32, (int) width,
                                                       field == FIELD_COUNTER ? ctx->counter : ctx->shot);
                        break;
                }
                case FIELD_MTIME:
                case FIELD_SESSION: {
                        if (isempty(arg)) {
                                g_set_error(error, SIM_ERROR, 0, "{%s:FORMAT} needs a strftime format, e.g. {%s:%%Y%%m%%d}",
                                            inner, inner);
                                return NULL;
                        }
                        nsec_t t = ctx ? (field == FIELD_MTIME ? ctx->mtime : ctx->session) :
                                         (nsec_t) 1765450200 * NSEC_PER_SEC;
                        g_autofree char *s = format_time(arg, t);
                        if (!s) {
                                g_set_error(error, SIM_ERROR, 0, "{%s:%s}: not a format GLib understands", inner, arg);
                                return NULL;
                        }
                        g_string_append(out, s);
                        break;
                }
                default:
                        g_assert_not_reached();
                }
                p = end + 1;
        }
        return g_string_free(TAKE_PTR(out), false);
}

char *sim_template_render(const char *tmpl, const SimNameContext *ctx, GError **error) {
        g_return_val_if_fail(ctx, NULL);
        return template_expand(tmpl, ctx, error);
}

bool sim_template_check(const char *tmpl, GError **error) {
        g_autofree char *s = template_expand(tmpl, NULL, error);
        return s != NULL;
}

/* ---- durations and start times ---- */

int sim_parse_duration(const char *s, nsec_t *ret) {
        double total = 0;
        const char *p = s;
        bool any = false;

        if (isempty(s))
                return -EINVAL;
        while (*p) {
                char *e = NULL;
                double v = g_ascii_strtod(p, &e);
                if (e == p || !isfinite(v) || v < 0)
                        return -EINVAL;
                p = e;
                double unit = 1;
                if (g_str_has_prefix(p, "min")) {
                        unit = 60;
                        p += 3;
                } else if (g_str_has_prefix(p, "ms")) {
                        unit = 0.001;
                        p += 2;
                } else if (*p == 'h') {
                        unit = 3600;
                        p++;
                } else if (*p == 'm') {
                        unit = 60;
                        p++;
                } else if (*p == 's') {
                        p++;
                } else if (*p && any)
                        return -EINVAL;
                else if (*p)
                        return -EINVAL;
                total += v * unit;
                any = true;
        }
        if (total > 1e9)
                return -ERANGE;
        *ret = (nsec_t) sim_round(total * 1e9);
        return 0;
}

int sim_parse_start(const char *s, nsec_t now, nsec_t *ret) {
        if (isempty(s))
                return -EINVAL;
        if (g_str_has_prefix(s, "now")) {
                const char *p = s + 3;
                if (!*p) {
                        *ret = now;
                        return 0;
                }
                if (*p != '+' && *p != '-')
                        return -EINVAL;
                nsec_t d;
                if (sim_parse_duration(p + 1, &d) < 0)
                        return -EINVAL;
                *ret = *p == '+' ? now + d : now - d;
                return 0;
        }
        if (s[0] == '@') {
                /* Decimal, exactly: "@1765450200.123456789". */
                const char *p = s + 1;
                nsec_t sec = 0, frac = 0, scale = NSEC_PER_SEC;
                if (!g_ascii_isdigit(*p))
                        return -EINVAL;
                for (; g_ascii_isdigit(*p); p++) {
                        sec = sec * 10 + (*p - '0');
                        if (sec > 100000000000LL)
                                return -ERANGE;
                }
                if (*p == '.')
                        for (p++; g_ascii_isdigit(*p); p++)
                                if (scale > 1) {
                                        scale /= 10;
                                        frac += (*p - '0') * scale;
                                }
                if (*p)
                        return -EINVAL;
                *ret = sec * NSEC_PER_SEC + frac;
                return 0;
        }
        g_autofree char *iso = g_strdup(s);
        if (strlen(iso) > 10 && iso[10] == ' ')
                iso[10] = 'T';
        g_autoptr(GTimeZone) tz = g_time_zone_new_local();
        g_autoptr(GDateTime) d = g_date_time_new_from_iso8601(iso, tz);
        if (!d)
                return -EINVAL;
        *ret = (nsec_t) g_date_time_to_unix(d) * NSEC_PER_SEC + (nsec_t) g_date_time_get_microsecond(d) * 1000;
        return 0;
}

/* ---- the key file ---- */

typedef struct Parser {
        GKeyFile *kf;
        const char *file;
        GError **error;
} Parser;

static bool fail(Parser *p, const char *group, const char *key, const char *fmt, ...) G_GNUC_PRINTF(4, 5);
static bool fail(Parser *p, const char *group, const char *key, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        g_autofree char *msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        if (key)
                g_set_error(p->error, SIM_ERROR, 0, "%s: [%s] %s: %s", p->file, group, key, msg);
        else
                g_set_error(p->error, SIM_ERROR, 0, "%s: [%s]: %s", p->file, group, msg);
        return false;
}

static bool has(Parser *p, const char *group, const char *key) {
        return g_key_file_has_key(p->kf, group, key, NULL);
}

static bool get_string(Parser *p, const char *group, const char *key, const char *def, char **ret) {
        if (!has(p, group, key)) {
                *ret = g_strdup(def);
                return true;
        }
        g_autoptr(GError) e = NULL;
        char *v = g_key_file_get_string(p->kf, group, key, &e);
        if (!v)
                return fail(p, group, key, "%s", e->message);
        *ret = g_strstrip(v);
        return true;
}

static bool get_double(Parser *p, const char *group, const char *key, double def, double min, double max,
                       double *ret) {
        if (!has(p, group, key)) {
                *ret = def;
                return true;
        }
        g_autofree char *v = NULL;
        if (!get_string(p, group, key, NULL, &v))
                return false;
        char *e = NULL;
        double d = g_ascii_strtod(v, &e);
        if (isempty(v) || *e || !isfinite(d))
                return fail(p, group, key, "'%s' is not a number", v);
        if (d < min || d > max)
                return fail(p, group, key, "%s is out of range: it must be between %g and %g", v, min, max);
        *ret = d;
        return true;
}

static bool get_uint(Parser *p, const char *group, const char *key, uint64_t def, uint64_t min, uint64_t max,
                     uint64_t *ret) {
        if (!has(p, group, key)) {
                *ret = def;
                return true;
        }
        g_autofree char *v = NULL;
        if (!get_string(p, group, key, NULL, &v))
                return false;
        guint64 n;
        g_autoptr(GError) e = NULL;
        if (!g_ascii_string_to_unsigned(v, 10, min, max, &n, &e))
                return fail(p, group, key, "'%s' is not a whole number between %" PRIu64 " and %" PRIu64, v, min, max);
        *ret = n;
        return true;
}

static bool get_bool(Parser *p, const char *group, const char *key, bool def, bool *ret) {
        if (!has(p, group, key)) {
                *ret = def;
                return true;
        }
        g_autofree char *v = NULL;
        if (!get_string(p, group, key, NULL, &v))
                return false;
        static const char *const yes[] = { "true", "yes", "on", "1" }, *const no[] = { "false", "no", "off", "0" };
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (g_ascii_strcasecmp(v, yes[i]) == 0) {
                        *ret = true;
                        return true;
                }
                if (g_ascii_strcasecmp(v, no[i]) == 0) {
                        *ret = false;
                        return true;
                }
        }
        return fail(p, group, key, "'%s' is not a boolean (true or false)", v);
}

static bool get_list(Parser *p, const char *group, const char *key, char ***ret) {
        *ret = NULL;
        if (!has(p, group, key))
                return true;
        g_autoptr(GError) e = NULL;
        gsize n;
        char **v = g_key_file_get_string_list(p->kf, group, key, &n, &e);
        if (!v)
                return fail(p, group, key, "%s", e->message);
        for (gsize i = 0; i < n; i++)
                g_strstrip(v[i]);
        *ret = v;
        return true;
}

static bool check_keys(Parser *p, const char *group, const char *const *known) {
        g_auto(GStrv) keys = g_key_file_get_keys(p->kf, group, NULL, NULL);
        for (char **k = keys; k && *k; k++)
                if (!g_strv_contains(known, *k))
                        return fail(p, group, *k, "unknown key");
        return true;
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
        return x < y ? -1 : x > y;
}

/* "3;7" or "2:35;5:-10": shots (1-based), each with optional seconds. */
static bool get_shot_list(Parser *p, const char *group, const char *key, uint32_t n_shots, bool with_secs,
                          double min, double max, uint32_t **ret_shots, double **ret_secs, size_t *ret_n) {
        g_auto(GStrv) items = NULL;
        *ret_shots = NULL;
        if (ret_secs)
                *ret_secs = NULL;
        *ret_n = 0;
        if (!get_list(p, group, key, &items) || !items)
                return !*p->error;

        size_t n = g_strv_length(items);
        g_autofree uint32_t *shots = g_new0(uint32_t, n + 1);
        g_autofree double *secs = g_new0(double, n + 1);
        for (size_t i = 0; i < n; i++) {
                char *item = items[i];
                char *colon = strchr(item, ':');
                secs[i] = NAN;
                if (colon) {
                        if (!with_secs)
                                return fail(p, group, key, "'%s': only shot numbers here, no ':SECONDS'", item);
                        *colon = 0;
                        char *e = NULL;
                        double d = g_ascii_strtod(colon + 1, &e);
                        if (!colon[1] || *e || !isfinite(d) || d < min || d > max)
                                return fail(p, group, key, "'%s:%s': the seconds must be a number between %g and %g",
                                            item, colon + 1, min, max);
                        secs[i] = d;
                }
                guint64 v;
                if (!g_ascii_string_to_unsigned(g_strstrip(item), 10, 1, n_shots, &v, NULL))
                        return fail(p, group, key, "'%s' is not a shot number between 1 and %" PRIu32, item, n_shots);
                for (size_t j = 0; j < i; j++)
                        if (shots[j] == v)
                                return fail(p, group, key, "shot %s is listed twice", item);
                shots[i] = (uint32_t) v;
        }
        *ret_shots = TAKE_PTR(shots);
        if (ret_secs)
                *ret_secs = TAKE_PTR(secs);
        *ret_n = n;
        return true;
}

static bool get_template(Parser *p, const char *group, const char *key, const char *value, bool is_path) {
        g_autoptr(GError) e = NULL;
        if (!sim_template_check(value, &e))
                return fail(p, group, key, "'%s': %s", value, e->message);
        if (!is_path && strchr(value, '/'))
                return fail(p, group, key, "'%s': a file name cannot contain '/' (use SubFolder= for folders)", value);
        if (is_path && (value[0] == '/' || strstr(value, "..")))
                return fail(p, group, key, "'%s': must be relative to the camera folder, without '..'", value);
        return true;
}

static const char *const scenario_keys[] = { "Name",     "Description", "Shots",    "PeriodSec", "PeriodJitterSec",
                                             "Speed",    "Start",       "Seed",     "Fire",      "SubFolder",
                                             "FileSize", "JitterSec",   "Periods",  NULL };
static const char *const sync_keys[] = { "DelayMinSec", "DelayMaxSec", "BurstPeriodSec", NULL };
static const char *const camera_keys[] = {
        "Trigger",       "Names",         "TestName",       "SubFolder",    "ClockOffsetSec", "JitterSec",
        "DelayMinSec",   "DelayMaxSec",   "CounterStart",   "SessionAgeSec", "FileSize",
        "Never",         "NeverRate",     "WriteLate",      "WriteLateRate", "WriteLateSec",
        "SyncLate",      "SyncLateRate",  "SyncLateSec",    "AfterClose",   "AfterCloseRate", "AfterCloseSec",
        "Duplicate",     "DuplicateRate", "DuplicateSec",   "Test",         "TestRate",       "TestSec",
        "ClockJump",     "FreeRun",       "FreeRunPeriodSec",
        NULL,
};

/* The literal extension at the end of a template ("….tiff" → ".tiff"). */
static char *template_extension(const char *tmpl) {
        const char *dot = strrchr(tmpl, '.');
        if (!dot || strpbrk(dot, "{}/% "))
                return g_strdup("");
        return g_strdup(dot);
}

typedef struct CameraDefaults {
        char *subfolder;
        double jitter, delay_min, delay_max;
        uint64_t file_size;
} CameraDefaults;

static bool parse_camera(Parser *p, SimScenario *s, const char *group, const CameraDefaults *d, SimCamera *c) {
        if (!check_keys(p, group, camera_keys))
                return false;

        c->name = g_strdup(group + strlen("Camera "));
        g_strstrip(c->name);
        if (isempty(c->name) || strchr(c->name, '/') || c->name[0] == '.' || c->name[0] == '~')
                return fail(p, group, NULL, "'%s' is not a usable camera folder name", c->name);
        for (size_t i = 0; i + 1 < s->n_cameras; i++)
                if (streq(s->cameras[i].name, c->name))
                        return fail(p, group, NULL, "camera %s is described twice", c->name);

        if (!get_bool(p, group, "Trigger", false, &c->trigger))
                return false;
        if (!get_list(p, group, "Names", &c->names))
                return false;
        if (!c->names || !c->names[0])
                return fail(p, group, "Names", "required: one file name template per kind of file the camera writes");
        c->n_kinds = g_strv_length(c->names);
        for (size_t i = 0; i < c->n_kinds; i++) {
                if (isempty(c->names[i]))
                        return fail(p, group, "Names", "an empty template");
                if (!get_template(p, group, "Names", c->names[i], false))
                        return false;
        }

        g_autofree char *ext = template_extension(c->names[0]);
        g_autofree char *test_def = g_strdup_printf("{camera}_align_{counter:4}%s", ext);
        if (!get_string(p, group, "TestName", test_def, &c->test_name) ||
            !get_template(p, group, "TestName", c->test_name, false))
                return false;
        if (!get_string(p, group, "SubFolder", d->subfolder, &c->subfolder) ||
            (!isempty(c->subfolder) && !get_template(p, group, "SubFolder", c->subfolder, true)))
                return false;

        uint64_t counter_start;
        if (!get_double(p, group, "ClockOffsetSec", 0, -86400, 86400, &c->clock_offset) ||
            !get_double(p, group, "JitterSec", d->jitter, 0, 3600, &c->jitter) ||
            !get_double(p, group, "DelayMinSec", d->delay_min, 0, 86400, &c->delay_min) ||
            !get_double(p, group, "DelayMaxSec", MAX(d->delay_max, c->delay_min), 0, 86400, &c->delay_max) ||
            !get_uint(p, group, "CounterStart", 1, 0, UINT32_MAX / 2, &counter_start) ||
            !get_double(p, group, "SessionAgeSec", 0, 0, 86400 * 365, &c->session_age) ||
            !get_uint(p, group, "FileSize", d->file_size, 0, (uint64_t) 1 << 34, &c->file_size))
                return false;
        c->counter_start = (uint32_t) counter_start;
        if (c->delay_max < c->delay_min)
                return fail(p, group, "DelayMaxSec", "%g is less than DelayMinSec=%g", c->delay_max, c->delay_min);
        if (s->burst_period > 0 && c->delay_max - c->delay_min < s->burst_period)
                return fail(p, group, "DelayMaxSec",
                            "DelayMaxSec − DelayMinSec (%g s) must be at least [Sync] BurstPeriodSec=%g, so that "
                            "every delay stays between them",
                            c->delay_max - c->delay_min, s->burst_period);

        for (SimFailure f = 0; f < _SIM_FAIL_MAX; f++) {
                SimFailureSpec *fs = &c->fail[f];
                g_autofree char *rate_key = g_strdup_printf("%sRate", failure_keys[f]);
                g_autofree char *sec_key = g_strdup_printf("%sSec", failure_keys[f]);
                bool with_secs = f != SIM_FAIL_NEVER;
                if (!get_shot_list(p, group, failure_keys[f], s->n_shots, with_secs, failure_secs[f].min,
                                   failure_secs[f].max, &fs->shots, with_secs ? &fs->secs : NULL, &fs->n) ||
                    !get_double(p, group, rate_key, 0, 0, 1, &fs->rate))
                        return false;
                fs->sec = failure_secs[f].def;
                if (with_secs &&
                    !get_double(p, group, sec_key, failure_secs[f].def, failure_secs[f].min, failure_secs[f].max, &fs->sec))
                        return false;
        }
        if (!get_shot_list(p, group, "ClockJump", s->n_shots, true, -86400, 86400, &c->jump_shots, &c->jump_secs,
                           &c->n_jumps) ||
            !get_shot_list(p, group, "FreeRun", s->n_shots, true, 2, 1000, &c->free_run_shots, &c->free_run_frames,
                           &c->n_free_runs) ||
            !get_double(p, group, "FreeRunPeriodSec", 12.0 / 13, 0.001, 3600, &c->free_run_period))
                return false;
        for (size_t i = 0; i < c->n_jumps; i++)
                if (isnan(c->jump_secs[i]))
                        return fail(p, group, "ClockJump", "shot %" PRIu32 ": give the jump as SHOT:SECONDS",
                                    c->jump_shots[i]);
        for (size_t i = 0; i < c->n_free_runs; i++)
                if (isnan(c->free_run_frames[i]) || c->free_run_frames[i] != (double) (uint32_t) c->free_run_frames[i])
                        return fail(p, group, "FreeRun", "shot %" PRIu32 ": give SHOT:FRAMES, a whole number of frames",
                                    c->free_run_shots[i]);

        /* A shot the camera misses cannot also be late or duplicated. */
        const SimFailureSpec *never = &c->fail[SIM_FAIL_NEVER];
        for (size_t i = 0; i < never->n; i++)
                for (SimFailure f = SIM_FAIL_WRITE_LATE; f <= SIM_FAIL_DUPLICATE; f++)
                        for (size_t j = 0; j < c->fail[f].n; j++)
                                if (c->fail[f].shots[j] == never->shots[i])
                                        return fail(p, group, failure_keys[f],
                                                    "shot %" PRIu32 " is also in Never=: the camera writes nothing then",
                                                    never->shots[i]);
        for (size_t i = 0; i < never->n; i++)
                for (size_t j = 0; j < c->n_free_runs; j++)
                        if (c->free_run_shots[j] == never->shots[i])
                                return fail(p, group, "FreeRun",
                                            "shot %" PRIu32 " is also in Never=: the camera writes nothing then",
                                            never->shots[i]);
        return true;
}

/* "10:60;50:4" or "10:60:15": shots per phase, seconds between them, and
 * optionally a jitter added to each gap. */
static bool get_periods(Parser *p, SimScenario *s) {
        g_auto(GStrv) items = NULL;
        if (!get_list(p, "Scenario", "Periods", &items) || !items)
                return !*p->error;
        size_t n = g_strv_length(items);
        s->phase_counts = g_new0(uint32_t, n + 1);
        s->phase_periods = g_new0(double, n + 1);
        s->phase_jitters = g_new0(double, n + 1);
        uint64_t total = 0;
        for (size_t i = 0; i < n; i++) {
                g_auto(GStrv) f = g_strsplit(items[i], ":", -1);
                guint64 count;
                char *e1 = NULL, *e2 = NULL;
                guint nf = g_strv_length(f);
                double period = nf >= 2 ? g_ascii_strtod(f[1], &e1) : NAN;
                double jitter = nf == 3 ? g_ascii_strtod(f[2], &e2) : 0;
                if (nf < 2 || nf > 3 || !g_ascii_string_to_unsigned(g_strstrip(f[0]), 10, 1, 100000, &count, NULL) ||
                    isempty(f[1]) || *e1 || !isfinite(period) || period < 0.001 || period > 86400 ||
                    (nf == 3 && (isempty(f[2]) || *e2 || !isfinite(jitter) || jitter < 0 || jitter > 86400)))
                        return fail(p, "Scenario", "Periods",
                                    "'%s': give SHOTS:SECONDS or SHOTS:SECONDS:JITTER, e.g. 10:60;50:4", items[i]);
                s->phase_counts[i] = (uint32_t) count;
                s->phase_periods[i] = period;
                s->phase_jitters[i] = jitter;
                total += count;
        }
        if (total > s->n_shots)
                return fail(p, "Scenario", "Periods", "the phases hold %" PRIu64 " shots, more than Shots=%" PRIu32,
                            total, s->n_shots);
        s->n_phases = n;
        return true;
}

static bool parse(Parser *p, SimScenario *s) {
        g_auto(GStrv) groups = g_key_file_get_groups(p->kf, NULL);
        for (char **g = groups; g && *g; g++)
                if (!streq(*g, "Scenario") && !streq(*g, "Sync") && !g_str_has_prefix(*g, "Camera "))
                        return fail(p, *g, NULL, "unknown group (known: [Scenario], [Sync], [Camera NAME])");
        if (!g_key_file_has_group(p->kf, "Scenario"))
                return fail(p, "Scenario", NULL, "missing: a scenario needs a [Scenario] group with Shots=");
        if (!check_keys(p, "Scenario", scenario_keys) ||
            (g_key_file_has_group(p->kf, "Sync") && !check_keys(p, "Sync", sync_keys)))
                return false;

        uint64_t n_shots, seed;
        if (!has(p, "Scenario", "Shots"))
                return fail(p, "Scenario", "Shots", "required: how many shots the campaign has");
        if (!get_string(p, "Scenario", "Name", NULL, &s->name) ||
            !get_string(p, "Scenario", "Description", NULL, &s->description) ||
            !get_uint(p, "Scenario", "Shots", 0, 1, 100000, &n_shots) ||
            !get_double(p, "Scenario", "PeriodSec", 60, 0.001, 86400, &s->period) ||
            !get_double(p, "Scenario", "PeriodJitterSec", 0, 0, 86400, &s->period_jitter) ||
            !get_double(p, "Scenario", "Speed", 1, 0.001, 10000, &s->speed) ||
            !get_string(p, "Scenario", "Start", NULL, &s->start) ||
            !get_uint(p, "Scenario", "Seed", 1, 0, UINT64_MAX, &seed))
                return false;
        s->n_shots = (uint32_t) n_shots;
        s->seed = seed;
        if (s->start) {
                nsec_t t;
                if (sim_parse_start(s->start, 0, &t) < 0)
                        return fail(p, "Scenario", "Start",
                                    "'%s' is not a time: use 'now', 'now-20m', '@EPOCH' or '2025-12-11 11:50:00'",
                                    s->start);
        }
        if (!get_shot_list(p, "Scenario", "Fire", s->n_shots, false, 0, 0, &s->fire_shots, NULL, &s->n_fire_shots) ||
            !get_periods(p, s))
                return false;
        qsort_safe(s->fire_shots, s->n_fire_shots, sizeof(uint32_t), cmp_u32);

        if (!get_double(p, "Sync", "DelayMinSec", 5, 0, 86400, &s->delay_min) ||
            !get_double(p, "Sync", "DelayMaxSec", MAX(15, s->delay_min), 0, 86400, &s->delay_max) ||
            !get_double(p, "Sync", "BurstPeriodSec", MIN(5, s->delay_max - s->delay_min), 0, 86400, &s->burst_period))
                return false;
        if (s->delay_max < s->delay_min)
                return fail(p, "Sync", "DelayMaxSec", "%g is less than DelayMinSec=%g", s->delay_max, s->delay_min);
        if (s->burst_period > s->delay_max - s->delay_min)
                return fail(p, "Sync", "BurstPeriodSec",
                            "%g is more than DelayMaxSec − DelayMinSec (%g s): deliveries could not stay within the "
                            "delays",
                            s->burst_period, s->delay_max - s->delay_min);

        CameraDefaults d = { .delay_min = s->delay_min, .delay_max = s->delay_max };
        g_autofree char *subfolder = NULL;
        if (!get_string(p, "Scenario", "SubFolder", "", &subfolder) ||
            (!isempty(subfolder) && !get_template(p, "Scenario", "SubFolder", subfolder, true)) ||
            !get_double(p, "Scenario", "JitterSec", 0.2, 0, 3600, &d.jitter) ||
            !get_uint(p, "Scenario", "FileSize", 4096, 0, (uint64_t) 1 << 34, &d.file_size))
                return false;
        d.subfolder = subfolder;

        size_t n = 0;
        for (char **g = groups; g && *g; g++)
                n += g_str_has_prefix(*g, "Camera ");
        if (n == 0)
                return fail(p, "Camera NAME", NULL, "no camera: describe each camera folder in a [Camera NAME] group");
        s->cameras = g_new0(SimCamera, n);
        for (char **g = groups; g && *g; g++) {
                if (!g_str_has_prefix(*g, "Camera "))
                        continue;
                /* Counted before it is parsed, so that it is freed on error. */
                if (!parse_camera(p, s, *g, &d, &s->cameras[s->n_cameras++]))
                        return false;
        }
        return true;
}

SimScenario *sim_scenario_load_from_data(const char *name, const char *data, gsize len, GError **error) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) e = NULL;

        if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, &e)) {
                g_set_error(error, SIM_ERROR, 0, "%s: %s", name, e->message);
                return NULL;
        }
        SimScenario *s = g_new0(SimScenario, 1);
        s->path = g_strdup(name);
        Parser p = { .kf = kf, .file = name, .error = &e };
        if (!parse(&p, s)) {
                g_propagate_error(error, TAKE_PTR(e));
                sim_scenario_free(s);
                return NULL;
        }
        return s;
}

SimScenario *sim_scenario_load(const char *path, GError **error) {
        g_autofree char *data = NULL;
        gsize len;
        g_autoptr(GError) e = NULL;

        if (!g_file_get_contents(path, &data, &len, &e)) {
                g_set_error(error, SIM_ERROR, 0, "Cannot read the scenario: %s", e->message);
                return NULL;
        }
        return sim_scenario_load_from_data(path, data, len, error);
}

void sim_scenario_free(SimScenario *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n_cameras; i++) {
                SimCamera *c = &s->cameras[i];
                g_free(c->name);
                g_strfreev(c->names);
                g_free(c->test_name);
                g_free(c->subfolder);
                for (SimFailure f = 0; f < _SIM_FAIL_MAX; f++) {
                        g_free(c->fail[f].shots);
                        g_free(c->fail[f].secs);
                }
                g_free(c->jump_shots);
                g_free(c->jump_secs);
                g_free(c->free_run_shots);
                g_free(c->free_run_frames);
        }
        g_free(s->phase_counts);
        g_free(s->phase_periods);
        g_free(s->phase_jitters);
        g_free(s->cameras);
        g_free(s->fire_shots);
        g_free(s->path);
        g_free(s->name);
        g_free(s->description);
        g_free(s->start);
        g_free(s);
}

bool sim_scenario_is_fire_shot(const SimScenario *s, uint32_t shot) {
        for (size_t i = 0; i < s->n_fire_shots; i++)
                if (s->fire_shots[i] == shot)
                        return true;
        return false;
}

const SimCamera *sim_scenario_camera(const SimScenario *s, const char *name) {
        for (size_t i = 0; i < s->n_cameras; i++)
                if (streq(s->cameras[i].name, name))
                        return &s->cameras[i];
        return NULL;
}
