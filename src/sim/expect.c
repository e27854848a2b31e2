/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* What shotsyncd will make of a timeline: the files are classified with the
 * configuration (classify.c, as the daemon does) and fed, at their delivery
 * instants, to the grouping engine (engine.c, the daemon's own rules), with
 * simulated monotonic time. The prediction holds as long as shotsyncd sees
 * each file when it is delivered. */

#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>

#include "classify.h"
#include "engine-config.h"
#include "json-util.h"
#include "sim.h"

/* Monotonic time of playback instant 0 for the engine. */
#define BASE_USEC ((usec_t) 1000 * USEC_PER_SEC)

static const char *const fate_table[_SIM_FATE_MAX] = {
        [SIM_FATE_ASSIGNED] = "assigned", [SIM_FATE_ORPHAN] = "orphan",   [SIM_FATE_DUPLICATE] = "duplicate",
        [SIM_FATE_IGNORED] = "ignored",   [SIM_FATE_UNSEEN] = "unseen",
        [SIM_FATE_DUPLICATE_TRIGGER] = "duplicate-trigger",
};

const char *sim_fate_to_string(SimFate f) {
        return f >= 0 && f < _SIM_FATE_MAX ? fate_table[f] : NULL;
}

typedef struct Run {
        const SimTimeline *t;
        Engine *engine;
        SimExpect *x;
        GHashTable *index_of; /* rel_path → index + 1 */
} Run;

static size_t file_index(Run *r, const char *path) {
        return GPOINTER_TO_SIZE(g_hash_table_lookup(r->index_of, path));
}

static char **missing_names(Run *r, const Shot *s) {
        uint32_t n_cams = engine_n_cameras(r->engine);
        g_autofree uint32_t *cams = g_new(uint32_t, n_cams + 1);
        uint32_t n = shot_missing(s, r->engine, cams, n_cams);
        char **names = g_new0(char *, n + 1);
        for (uint32_t i = 0; i < n; i++)
                names[i] = g_strdup(engine_camera_name(r->engine, cams[i]));
        return names;
}

static void on_event(const EngineEvent *ev, void *userdata) {
        Run *r = userdata;
        SimExpectShot *xs = ev->shot ? ev->shot->userdata : NULL;
        size_t idx = ev->file ? file_index(r, ev->file->path) : 0;
        SimExpectFile *xf = idx > 0 ? &r->x->files[idx - 1] : NULL;

        switch (ev->type) {
        case ENGINE_EVENT_SHOT_OPENED: {
                Shot *s = ev->shot;
                xs = g_new0(SimExpectShot, 1);
                xs->id = g_strdup(s->id);
                xs->fired = s->trigger_camera == ENGINE_NO_CAMERA;
                xs->trigger_camera = g_strdup(xs->fired ? "" : engine_camera_name(r->engine, s->trigger_camera));
                xs->status = g_strdup("collecting");
                xs->files = g_array_new(false, false, sizeof(size_t));
                if (s->trigger_file) {
                        size_t ti = file_index(r, s->trigger_file->path);
                        if (ti > 0)
                                xs->sim_shot = r->t->files[ti - 1].shot;
                }
                s->userdata = xs;
                g_ptr_array_add(r->x->shots, xs);
                break;
        }
        case ENGINE_EVENT_FILE_ASSIGNED:
                if (!xf || !xs)
                        break;
                xf->fate = SIM_FATE_ASSIGNED;
                g_free(xf->shot_id);
                xf->shot_id = g_strdup(xs->id);
                xf->kind = ev->file->kind + 1u;
                xf->late = ev->file->flags & ENGINE_FILE_LATE;
                g_array_append_val(xs->files, xf->index);
                if (xf->late)
                        xs->n_late++;
                g_strfreev(xs->missing);
                xs->missing = missing_names(r, ev->shot);
                break;
        case ENGINE_EVENT_FILE_ORPHANED:
        case ENGINE_EVENT_FILE_HELD:
                if (xf)
                        xf->fate = SIM_FATE_ORPHAN;
                break;
        case ENGINE_EVENT_FILE_DUPLICATE_TRIGGER:
                if (xf) {
                        xf->fate = SIM_FATE_DUPLICATE_TRIGGER;
                        g_free(xf->shot_id);
                        xf->shot_id = g_strdup(ev->shot->id);
                }
                break;
        case ENGINE_EVENT_FILE_DUPLICATE:
                if (xf) {
                        xf->fate = SIM_FATE_DUPLICATE;
                        g_free(xf->shot_id);
                        xf->shot_id = g_strdup(ev->shot ? ev->shot->id : "");
                }
                break;
        case ENGINE_EVENT_SHOT_CLOSED:
                if (!xs)
                        break;
                g_free(xs->status);
                xs->status = g_strdup(shot_status_to_string(ev->shot->status));
                g_strfreev(xs->missing_at_close);
                xs->missing_at_close = missing_names(r, ev->shot);
                g_strfreev(xs->missing);
                xs->missing = g_strdupv(xs->missing_at_close);
                break;
        case ENGINE_EVENT_SHOT_RETIRED:
                ev->shot->userdata = NULL;
                break;
        default:
                break;
        }
}

typedef struct Event {
        usec_t at;
        bool fire;
        size_t index; /* file index or shot index */
} Event;

static int event_cmp(const void *a, const void *b) {
        const Event *x = a, *y = b;
        if (x->at != y->at)
                return x->at < y->at ? -1 : 1;
        if (x->fire != y->fire)
                return x->fire ? -1 : 1;
        return x->index < y->index ? -1 : x->index > y->index;
}

static uint64_t mix(uint64_t x) {
        x += 0x9e3779b97f4a7c15ULL;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        return x ^ (x >> 31);
}

static int add_camera(Run *r, const Config *c, const CameraConfig *cc, uint32_t *ret) {
        if (engine_find_camera(r->engine, cc->name, ret) >= 0)
                return 0;
        g_autofree const char **kinds = config_camera_kind_ids(cc);
        int e = engine_add_camera(r->engine, cc->name, kinds, (unsigned) cc->n_kinds, cc->expected, ret);
        if (e < 0)
                return e;
        return engine_configure_camera(r->engine, *ret, cc);
}

static void feed_file(Run *r, const Config *c, size_t i, usec_t now) {
        const SimFile *f = &r->t->files[i];
        SimExpectFile *xf = &r->x->files[i];
        const char *slash = strchr(f->rel_path, '/');
        g_autofree char *camera = g_strndup(f->rel_path, (gsize) (slash - f->rel_path));
        const char *base = strrchr(f->rel_path, '/') + 1;

        const CameraConfig *cc = config_camera((Config *) c, camera);
        if (!cc) {
                xf->fate = SIM_FATE_UNSEEN;
                xf->reason = g_strdup("not a configured camera folder");
                return;
        }
        size_t kind;
        bool trigger;
        FileVerdict v = classify_file(c, cc, base, &kind, &trigger);
        if (v == FILE_IGNORED_HIDDEN || v == FILE_IGNORED_TEMPORARY) {
                xf->fate = SIM_FATE_UNSEEN;
                xf->reason = g_strdup_printf("%s name", file_verdict_to_string(v));
                return;
        }
        if (v != FILE_ELIGIBLE) {
                xf->fate = SIM_FATE_IGNORED;
                xf->reason = g_strdup(v == FILE_IGNORED_KEYWORD ? "ignore keyword" : "matches no Files= kind");
                return;
        }
        uint32_t cam;
        if (add_camera(r, c, cc, &cam) < 0)
                return;
        xf->trigger = trigger;
        EngineFileInfo info = {
                .path = f->rel_path,
                .camera = cam,
                .kind = (uint16_t) kind,
                .trigger = trigger,
                .dt = sim_file_mtime(r->t, f, r->t->shots[f->shot - 1].fire_time),
        };
        (void) engine_add_file(r->engine, &info, now, NULL);
}

SimExpect *sim_expect_compute(const SimTimeline *t, const Config *c, usec_t perturb, uint64_t seed, GError **error) {
        g_autoptr(SimExpect) x = g_new0(SimExpect, 1);
        Run r = { .t = t, .x = x };
        int e;

        x->window = c->full_window_sec;
        x->timeout = c->timeout_sec;
        x->late_grace = c->late_grace_sec;
        x->shots = g_ptr_array_new();
        x->n_files = t->n_files;
        x->files = g_new0(SimExpectFile, t->n_files ?: 1);
        for (size_t i = 0; i < t->n_files; i++) {
                x->files[i].index = i;
                x->files[i].fate = SIM_FATE_UNSEEN;
        }

        EngineParams params = engine_params_from_config(c);
        e = engine_new(&params, on_event, &r, &r.engine);
        if (e >= 0)
                e = engine_set_reference(r.engine, config_reference_camera(c));
        if (e < 0) {
                g_set_error(error, SIM_ERROR, 0, "Cannot set up the grouping engine: %s", g_strerror(-e));
                return NULL;
        }
        r.index_of = g_hash_table_new(g_str_hash, g_str_equal);
        for (size_t i = 0; i < t->n_files; i++)
                g_hash_table_insert(r.index_of, t->files[i].rel_path, GSIZE_TO_POINTER(i + 1));

        /* Cameras as shotsyncd registers them: the configured ones at start;
         * without groups, every camera folder present (the scenario's). */
        uint32_t cam;
        if (c->n_cameras > 0)
                for (size_t i = 0; i < c->n_cameras; i++)
                        (void) add_camera(&r, c, &c->cameras[i], &cam);
        else
                for (size_t i = 0; i < t->scenario->n_cameras; i++) {
                        const CameraConfig *cc = config_camera((Config *) c, t->scenario->cameras[i].name);
                        if (cc)
                                (void) add_camera(&r, c, cc, &cam);
                }

        size_t n_events = t->n_files + t->n_shots;
        g_autofree Event *events = g_new(Event, n_events ?: 1);
        size_t n = 0;
        for (size_t i = 0; i < t->n_files; i++)
                events[n++] = (Event) { t->files[i].deliver_at, false, i };
        for (uint32_t i = 0; i < t->n_shots; i++)
                if (t->shots[i].fired)
                        events[n++] = (Event) { t->shots[i].at, true, i };
        qsort_safe(events, n, sizeof *events, event_cmp);
        /* shotsyncd sees files in the order they were renamed into place (one
         * inotify queue), each some time after: the perturbation delays
         * events without reordering them. */
        for (size_t i = 0; perturb > 0 && i < n; i++) {
                events[i].at += mix(seed ^ mix(i + 1)) % (perturb + 1);
                if (i > 0)
                        events[i].at = MAX(events[i].at, events[i - 1].at);
        }

        usec_t now = BASE_USEC;
        for (size_t i = 0; i < n; i++) {
                now = BASE_USEC + events[i].at;
                /* Deadlines that passed before this event, in order. */
                for (usec_t d; (d = engine_next_deadline(r.engine)) <= now;)
                        engine_run(r.engine, d);
                if (events[i].fire) {
                        Shot *s = NULL;
                        const SimShotPlan *p = &t->shots[events[i].index];
                        if (engine_fire(r.engine, p->fire_time, now, &s) >= 0 && s && s->userdata)
                                ((SimExpectShot *) s->userdata)->sim_shot = p->number;
                } else
                        feed_file(&r, c, events[i].index, now);
        }
        /* Let every collecting shot reach its timeout. */
        usec_t end = now + params.timeout + 1;
        for (usec_t d; (d = engine_next_deadline(r.engine)) <= end;)
                engine_run(r.engine, d);

        engine_free(r.engine);
        g_hash_table_unref(r.index_of);
        return TAKE_PTR(x);
}

void sim_expect_free(SimExpect *x) {
        if (!x)
                return;
        for (guint i = 0; x->shots && i < x->shots->len; i++) {
                SimExpectShot *s = x->shots->pdata[i];
                g_free(s->id);
                g_free(s->trigger_camera);
                g_free(s->status);
                g_array_unref(s->files);
                g_strfreev(s->missing_at_close);
                g_strfreev(s->missing);
                g_free(s);
        }
        if (x->shots)
                g_ptr_array_unref(x->shots);
        for (size_t i = 0; i < x->n_files; i++) {
                g_free(x->files[i].shot_id);
                g_free(x->files[i].reason);
        }
        g_free(x->files);
        g_free(x);
}

/* ---- output ---- */

static char *join_or_dash(char **v) {
        return v && v[0] ? g_strjoinv(",", v) : g_strdup("-");
}

static nsec_t file_mtime(const SimTimeline *t, const SimFile *f) {
        return sim_file_mtime(t, f, t->shots[f->shot - 1].fire_time);
}

void sim_expect_print(const SimExpect *x, const SimTimeline *t, FILE *out) {
        bool fired = false;
        fprintf(out, "Expected outcome (FullWindowSec=%g, TimeoutSec=%g, LateGraceSec=%g):\n\n", x->window, x->timeout,
                x->late_grace);
        fprintf(out, "%-14s %-8s %-12s %-9s %5s %4s  %s\n", "SHOT", "SCENARIO", "OPENED BY", "STATUS", "FILES", "LATE",
                "MISSING");
        for (guint i = 0; i < x->shots->len; i++) {
                const SimExpectShot *s = x->shots->pdata[i];
                g_autofree char *missing = join_or_dash(s->missing);
                g_autofree char *at_close = join_or_dash(s->missing_at_close);
                g_autofree char *sim = s->sim_shot ? g_strdup_printf("shot %" PRIu32, s->sim_shot) : g_strdup("-");
                fprintf(out, "%-14s %-8s %-12s %-9s %5u %4u  %s", s->id, sim, s->fired ? "Fire" : s->trigger_camera,
                        s->status, s->files->len, s->n_late, missing);
                if (!streq(missing, at_close))
                        fprintf(out, " (at close: %s)", at_close);
                fputc('\n', out);
                fired = fired || s->fired;
        }
        if (x->shots->len == 0)
                fprintf(out, "(no shot)\n");

        static const struct {
                SimFate fate;
                bool late;
                const char *title;
        } sections[] = {
                { SIM_FATE_ASSIGNED, true, "Late files (added to their shot after it closed)" },
                { SIM_FATE_ORPHAN, false, "Orphans (in no shot's window)" },
                { SIM_FATE_DUPLICATE, false, "Duplicates (the shot already has that camera's file; left alone)" },
                { SIM_FATE_DUPLICATE_TRIGGER, false,
                  "Duplicate triggers (within MinShotIntervalSec of a shot that has that camera's; never a shot)" },
                { SIM_FATE_IGNORED, false, "Ignored (ImageIgnored)" },
                { SIM_FATE_UNSEEN, false, "Not looked at by shotsyncd" },
        };
        for (size_t k = 0; k < ELEMENTSOF(sections); k++) {
                bool title = false;
                for (size_t i = 0; i < x->n_files; i++) {
                        const SimExpectFile *xf = &x->files[i];
                        const SimFile *f = &t->files[i];
                        if (xf->fate != sections[k].fate || (sections[k].late && !xf->late))
                                continue;
                        if (!title)
                                fprintf(out, "\n%s:\n", sections[k].title);
                        title = true;
                        char mt[TIME_OF_DAY_MAX];
                        format_time_of_day(file_mtime(t, f), mt);
                        fprintf(out, "  %s  mtime %s  scenario shot %" PRIu32, f->rel_path, mt, f->shot);
                        if (xf->shot_id)
                                fprintf(out, "  → %s", xf->shot_id);
                        if (xf->reason)
                                fprintf(out, "  (%s)", xf->reason);
                        fputc('\n', out);
                }
        }
        if (fired)
                fprintf(out, "\nFired shots also get the images of the cameras shotsyncd fires ([Trigger] Ports=); "
                             "they are not part of this prediction.\n");
}

static void add_strv(JsonBuilder *b, const char *key, char **v) {
        json_builder_set_member_name(b, key);
        json_builder_begin_array(b);
        for (char **p = v; p && *p; p++)
                json_add_string(b, NULL, *p);
        json_builder_end_array(b);
}

static const char *role_string(SimFileRole r) {
        return r == SIM_FILE_TEST ? "test" : r == SIM_FILE_DUPLICATE ? "duplicate" : r == SIM_FILE_FRAME ? "frame" : "shot";
}

char *sim_expect_to_json(const SimExpect *x, const SimTimeline *t) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        char iso[ISO8601_MAX];

        json_builder_begin_object(b);
        json_add_string(b, "scenario", t->scenario->path);
        json_add_string(b, "start", format_iso8601(t->opt.start, iso));
        /* Exactly, for --start: names may carry microseconds. */
        g_autofree char *start_arg = g_strdup_printf("@%" PRIi64 ".%09" PRIi64, t->opt.start / NSEC_PER_SEC,
                                                     t->opt.start % NSEC_PER_SEC);
        json_add_string(b, "start_arg", start_arg);
        json_add_double(b, "speed", t->opt.speed);
        json_add_double(b, "window", x->window);
        json_add_double(b, "timeout", x->timeout);
        json_add_double(b, "late_grace", x->late_grace);

        json_builder_set_member_name(b, "shots");
        json_builder_begin_array(b);
        for (guint i = 0; i < x->shots->len; i++) {
                const SimExpectShot *s = x->shots->pdata[i];
                json_builder_begin_object(b);
                json_add_string(b, "id", s->id);
                json_add_int(b, "scenario_shot", s->sim_shot);
                json_add_bool(b, "fired", s->fired);
                json_add_string(b, "trigger_camera", s->trigger_camera);
                json_add_string(b, "status", s->status);
                json_builder_set_member_name(b, "files");
                json_builder_begin_array(b);
                for (guint k = 0; k < s->files->len; k++) {
                        size_t fi = g_array_index(s->files, size_t, k);
                        const SimFile *f = &t->files[fi];
                        const SimExpectFile *xf = &x->files[fi];
                        json_builder_begin_object(b);
                        json_add_string(b, "camera", t->scenario->cameras[f->camera].name);
                        json_add_int(b, "kind", xf->kind);
                        json_add_string(b, "path", f->rel_path);
                        json_add_bool(b, "late", xf->late);
                        json_builder_end_object(b);
                }
                json_builder_end_array(b);
                add_strv(b, "missing", s->missing);
                add_strv(b, "missing_at_close", s->missing_at_close);
                json_builder_end_object(b);
        }
        json_builder_end_array(b);

        json_builder_set_member_name(b, "files");
        json_builder_begin_array(b);
        for (size_t i = 0; i < x->n_files; i++) {
                const SimFile *f = &t->files[i];
                const SimExpectFile *xf = &x->files[i];
                json_builder_begin_object(b);
                json_add_string(b, "camera", t->scenario->cameras[f->camera].name);
                json_add_string(b, "path", f->rel_path);
                json_add_int(b, "scenario_shot", f->shot);
                json_add_string(b, "role", role_string(f->role));
                json_add_string(b, "mtime", format_iso8601(file_mtime(t, f), iso));
                json_add_double(b, "deliver_at", (double) f->deliver_at / 1e6);
                json_add_string(b, "fate", sim_fate_to_string(xf->fate));
                json_add_bool(b, "trigger", xf->trigger);
                json_add_string(b, "shot", xf->shot_id);
                json_add_bool(b, "late", xf->late);
                json_add_string(b, "reason", xf->reason);
                json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);

        g_autoptr(JsonGenerator) g = json_generator_new();
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        json_generator_set_root(g, root);
        json_generator_set_pretty(g, true);
        return json_generator_to_data(g, NULL);
}

char *sim_expect_digest(const SimExpect *x, const SimTimeline *t) {
        g_autoptr(GString) d = g_string_new(NULL);
        for (guint i = 0; i < x->shots->len; i++) {
                const SimExpectShot *s = x->shots->pdata[i];
                g_autofree char *missing = join_or_dash(s->missing);
                g_autofree char *at_close = join_or_dash(s->missing_at_close);
                g_string_append_printf(d, "shot %s: scenario shot %" PRIu32 ", %s, missing %s (at close %s)\n", s->id,
                                       s->sim_shot, s->status, missing, at_close);
        }
        for (size_t i = 0; i < x->n_files; i++) {
                const SimExpectFile *xf = &x->files[i];
                g_string_append_printf(d, "file %s: %s%s%s%s\n", t->files[i].rel_path, sim_fate_to_string(xf->fate),
                                       xf->shot_id ? " " : "", xf->shot_id ?: "", xf->late ? " late" : "");
        }
        return g_string_free(TAKE_PTR(d), false);
}
