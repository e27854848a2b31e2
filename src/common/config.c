/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <fcntl.h>
#include <glib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "classify.h"
#include "config-build.h"
#include "config-loader.h"
#include "config.h"

/* Without --config: the main file, when there is one, and the drop-ins of
 * three folders, highest priority first (systemd's order). */
#define CONFIG_DEFAULT_PATH SYSCONFDIR "/shotsync/shotsync.conf"
static const char *const config_dropin_dirs[] = {
        SYSCONFDIR "/shotsync/shotsync.conf.d",
        RUNSTATEDIR "/shotsync/shotsync.conf.d",
        VENDORDIR "/shotsync/shotsync.conf.d",
        NULL,
};

/* Ten years: far beyond any sensible duration, and far below what the
 * nanosecond and microsecond clocks downstream can hold. */
#define SECONDS_MAX (10.0 * 365 * 24 * 3600)

/* SPEC §5: the service runs with no file at all. */
#define DEFAULT_RAW_ROOT "/srv/shotsync/raw"
#define DEFAULT_CLEAN_ROOT "/srv/shotsync/clean"
#define DEFAULT_TRIGGER_KEYWORD "shot"
#define DEFAULT_FILES "*.tif|*.tiff"
#define DEFAULT_IGNORE_KEYWORDS "test;align"

/* The header's Config is public; the cameras made up on demand from the
 * [Watch] defaults are an implementation detail behind it. */
typedef struct ConfigPrivate {
        Config pub;
        GHashTable *synthesised; /* folder name → CameraConfig* */
        GHashTable *downloads;   /* folder name → CameraConfig*, for config_download_camera() */
} ConfigPrivate;

static const char *const publish_mode_table[_PUBLISH_MODE_MAX] = {
        [PUBLISH_COPY] = "copy",
        [PUBLISH_HARDLINK] = "hardlink",
        [PUBLISH_REFLINK] = "reflink",
};

const char *publish_mode_to_string(PublishMode m) {
        return m >= 0 && m < _PUBLISH_MODE_MAX ? publish_mode_table[m] : NULL;
}

int publish_mode_from_string(const char *s, PublishMode *ret) {
        if (!s)
                return -EINVAL;
        for (PublishMode m = 0; m < _PUBLISH_MODE_MAX; m++)
                if (streq(s, publish_mode_table[m])) {
                        *ret = m;
                        return 0;
                }
        return -EINVAL;
}

/* ---- freeing ---- */

static void kinds_free(FileKind *kinds, size_t n) {
        for (size_t i = 0; kinds && i < n; i++) {
                g_strfreev(kinds[i].patterns);
                g_free(kinds[i].id);
        }
        g_free(kinds);
}

static FileKind *kinds_copy(const FileKind *kinds, size_t n) {
        FileKind *k = g_new0(FileKind, n);
        for (size_t i = 0; i < n; i++) {
                k[i].patterns = g_strdupv(kinds[i].patterns);
                k[i].id = g_strdup(kinds[i].id);
        }
        return k;
}

static void camera_config_done(CameraConfig *cam) {
        g_free(cam->name);
        g_free(cam->trigger_keyword);
        kinds_free(cam->kinds, cam->n_kinds);
}

static void camera_config_free(void *p) {
        CameraConfig *cam = p;
        if (!cam)
                return;
        camera_config_done(cam);
        g_free(cam);
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        ConfigPrivate *p = (ConfigPrivate *) c;

        if (p->synthesised)
                g_hash_table_unref(p->synthesised);
        if (p->downloads)
                g_hash_table_unref(p->downloads);
        g_free(c->path);
        g_strfreev(c->dropins);
        g_free(c->raw_root);
        g_free(c->trigger_keyword);
        kinds_free(c->kinds, c->n_kinds);
        g_strfreev(c->ignore_keywords);
        g_strfreev(c->trigger_cameras);
        g_free(c->clean_root);
        for (size_t i = 0; c->cameras && i < c->n_cameras; i++)
                camera_config_done(&c->cameras[i]);
        g_free(c->cameras);
        g_strfreev(c->ports);
        g_free(c->download_root);
        g_free(p);
        return NULL;
}

/* ---- values ---- */

static int parse_boolean(const char *s) {
        static const char *const yes[] = { "true", "yes", "on", "1" }, *const no[] = { "false", "no", "off", "0" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (g_ascii_strcasecmp(s, yes[i]) == 0)
                        return 1;
                if (g_ascii_strcasecmp(s, no[i]) == 0)
                        return 0;
        }
        return -EINVAL;
}

/* Plain decimal notation only: strtod alone would also take "0x10", "inf",
 * "nan" and the locale's decimal comma. */
static int parse_number(const char *s, double *ret) {
        if (isempty(s) || strspn(s, "0123456789.+-eE") != strlen(s) || !strpbrk(s, "0123456789"))
                return -EINVAL;

        char *end = NULL;
        errno = 0;
        double v = g_ascii_strtod(s, &end);
        if (!end || *end != 0)
                return -EINVAL;
        if (errno == ERANGE || !isfinite(v))
                return -ERANGE;
        *ret = v;
        return 0;
}

static int get_bool(Loader *l, const char *group, const char *key, bool def, bool *ret) {
        const Setting *s = loader_get(l, group, key);
        if (!s) {
                *ret = def;
                return 0;
        }
        int r = parse_boolean(s->value);
        if (r < 0)
                return loader_fail_setting(l, s, "not a boolean (use true or false)");
        *ret = r;
        return 0;
}

/* A duration of at least min seconds; zero_off: 0 is also allowed and
 * means "off". The floors keep timers from spinning and the engine from
 * values it cannot use, and say so naming the key (a sub-nanosecond
 * FullWindowSec used to pass here and fail later, unnamed). */
static int get_seconds(Loader *l, const char *group, const char *key, double def, double min, bool zero_off,
                       double *ret) {
        const Setting *s = loader_get(l, group, key);
        double v;

        if (!s) {
                *ret = def;
                return 0;
        }
        int r = parse_number(s->value, &v);
        if (r == -ERANGE || (r >= 0 && v > SECONDS_MAX))
                return loader_fail_setting(l, s, "too large (at most %.0f seconds)", SECONDS_MAX);
        if (r < 0)
                return loader_fail_setting(l, s, "not a number");
        if (zero_off && v == 0) {
                *ret = 0; /* no "-0" */
                return 0;
        }
        if (v < min) {
                if (zero_off)
                        return loader_fail_setting(l, s, "must be 0 (off) or at least %g s", min);
                if (min == 0)
                        return loader_fail_setting(l, s, "must not be negative");
                return loader_fail_setting(l, s, "must be at least %g s", min);
        }
        *ret = v == 0 ? 0 : v;
        return 0;
}

/* A signed offset in seconds; *ret_set says whether the key was given. A
 * clock more than a day off is on the wrong date, not late. */
static int get_offset(Loader *l, const char *group, const char *key, bool *ret_set, double *ret) {
        const Setting *s = loader_get(l, group, key);
        double v;

        *ret_set = false;
        *ret = 0;
        if (!s)
                return 0;
        int r = parse_number(s->value, &v);
        if (r == -ERANGE || (r >= 0 && (v > 86400 || v < -86400)))
                return loader_fail_setting(l, s, "too large (at most 86400 seconds either way)");
        if (r < 0)
                return loader_fail_setting(l, s, "not a number");
        *ret_set = true;
        *ret = v == 0 ? 0 : v; /* no "-0" */
        return 0;
}

/* Absolute, '.' and repeated or trailing '/' folded away. '..' is refused
 * rather than resolved: through a symlink it can mean anything. */
static int path_normalise(const char *s, char **ret) {
        if (s[0] != '/')
                return -EINVAL;

        g_auto(GStrv) parts = g_strsplit(s, "/", -1);
        g_autoptr(GString) out = g_string_new(NULL);
        for (char **p = parts; *p; p++) {
                if (isempty(*p) || streq(*p, "."))
                        continue;
                if (streq(*p, ".."))
                        return -ELOOP;
                g_string_append_c(out, '/');
                g_string_append(out, *p);
        }
        if (out->len == 0)
                g_string_append_c(out, '/');
        *ret = g_string_free(g_steal_pointer(&out), false);
        return 0;
}

/* Whether b is a or lies below it; both normalised. */
static bool path_within(const char *a, const char *b) {
        size_t n = strlen(a);
        if (streq(a, "/"))
                return true;
        return strncmp(a, b, n) == 0 && (b[n] == 0 || b[n] == '/');
}

static int get_path(Loader *l, const char *group, const char *key, char **ret) {
        const Setting *s = loader_get(l, group, key);

        *ret = NULL;
        if (!s || isempty(s->value))
                return 0;
        int r = path_normalise(s->value, ret);
        if (r == -ELOOP)
                return loader_fail_setting(l, s, "the path must not contain '..'");
        if (r < 0)
                return loader_fail_setting(l, s, "must be an absolute path");
        return 0;
}

/* RawRoot= and CleanRoot=: a default when unset, a path when set. */
static int get_root_path(Loader *l, const char *group, const char *key, const char *def, char **ret) {
        int r = get_path(l, group, key, ret);
        if (r < 0)
                return r;
        if (*ret)
                return 0;
        const Setting *s = loader_get(l, group, key);
        if (s)
                return loader_fail_setting(l, s, "a path is required");
        *ret = g_strdup(def);
        return 0;
}

/* ';'-separated, each entry stripped. An empty entry is refused everywhere:
 * in IgnoreKeywords= it would match, and so ignore, every file. */
static int split_list(Loader *l, const Setting *s, const char *value, char ***ret) {
        if (isempty(value)) {
                *ret = g_new0(char *, 1);
                return 0;
        }

        g_auto(GStrv) v = g_strsplit(value, ";", -1);
        for (char **p = v; *p; p++)
                if (isempty(g_strstrip(*p)))
                        return loader_fail_setting(l, s, "empty entry (two ';' in a row, or a ';' at the end)");
        *ret = g_steal_pointer(&v);
        return 0;
}

static int get_list(Loader *l, const char *group, const char *key, const char *def, char ***ret) {
        const Setting *s = loader_get(l, group, key);
        return split_list(l, s, s ? s->value : def, ret);
}

static int str_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Folded and sorted: "*.TIFF|*.tif" and "*.tif|*.tiff" are one kind. */
static char *kind_id(char **patterns) {
        g_autoptr(GPtrArray) v = g_ptr_array_new_with_free_func(g_free);
        for (char **p = patterns; *p; p++)
                g_ptr_array_add(v, g_utf8_casefold(*p, -1));
        g_ptr_array_sort(v, str_cmp);
        g_ptr_array_add(v, NULL);
        return g_strjoinv("|", (char **) v->pdata);
}

static int parse_kinds(Loader *l, const Setting *s, const char *value, FileKind **ret, size_t *ret_n) {
        if (isempty(value))
                return loader_fail_setting(l, s, "at least one file kind is required");

        g_auto(GStrv) kinds = g_strsplit(value, ";", -1);
        size_t n = g_strv_length(kinds);
        g_autoptr(GHashTable) folded = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        FileKind *k = g_new0(FileKind, n);

        for (size_t i = 0; i < n; i++) {
                if (isempty(g_strstrip(kinds[i]))) {
                        kinds_free(k, n);
                        return loader_fail_setting(l, s, "kind %zu is empty (two ';' in a row, or a ';' at the end)", i + 1);
                }
                k[i].patterns = g_strsplit(kinds[i], "|", -1);
                for (char **p = k[i].patterns; *p; p++) {
                        if (isempty(g_strstrip(*p))) {
                                kinds_free(k, n);
                                return loader_fail_setting(l, s, "kind %zu has an empty alternative", i + 1);
                        }
                        g_autofree char *pat = config_quote(*p, MESSAGE_VALUE_MAX);
                        if (strchr(*p, '/')) {
                                kinds_free(k, n);
                                return loader_fail_setting(l, s, "pattern %s contains '/', but patterns match file names",
                                                    pat);
                        }
                        /* A file takes the first kind that matches: the same
                         * pattern later would name a kind that no file can
                         * ever fill, and every shot would time out. */
                        if (!g_hash_table_add(folded, g_utf8_casefold(*p, -1))) {
                                kinds_free(k, n);
                                return loader_fail_setting(l, s, "pattern %s appears twice", pat);
                        }
                }
                k[i].id = kind_id(k[i].patterns);
        }
        *ret = k;
        *ret_n = n;
        return 0;
}

/* ---- loading: settings → Config ---- */

static int build_watch(Loader *l, Config *c) {
        const Setting *s;
        int r;

        r = get_root_path(l, "Watch", "RawRoot", DEFAULT_RAW_ROOT, &c->raw_root);
        if (r < 0)
                return r;

        s = loader_get(l, "Watch", "TriggerKeyword");
        c->trigger_keyword = g_strdup(s ? s->value : DEFAULT_TRIGGER_KEYWORD);

        s = loader_get(l, "Watch", "Files");
        r = parse_kinds(l, s, s ? s->value : DEFAULT_FILES, &c->kinds, &c->n_kinds);
        if (r < 0)
                return r;

        r = get_list(l, "Watch", "IgnoreKeywords", DEFAULT_IGNORE_KEYWORDS, &c->ignore_keywords);
        if (r < 0)
                return r;

        s = loader_get(l, "Watch", "TriggerCameras");
        r = split_list(l, s, s ? s->value : NULL, &c->trigger_cameras);
        if (r < 0)
                return r;
        for (char **p = c->trigger_cameras; *p; p++) {
                g_autofree char *name = config_quote(*p, MESSAGE_VALUE_MAX);
                const char *problem = config_camera_name_problem(*p);
                if (problem)
                        return loader_fail_setting(l, s, "%s: %s", name, problem);
                for (char **q = c->trigger_cameras; q < p; q++)
                        if (streq(*p, *q))
                                return loader_fail_setting(l, s, "names %s twice", name);
        }

        r = get_seconds(l, "Watch", "RescanIntervalSec", 60, 1, true, &c->rescan_interval_sec);
        if (r < 0)
                return r;
        return get_seconds(l, "Watch", "MaxAgeSec", 2 * 86400, 60, false, &c->max_age_sec);
}

static int build_grouping(Loader *l, Config *c) {
        int r;

        r = get_seconds(l, "Grouping", "FullWindowSec", 10, 0.001, false, &c->full_window_sec);
        if (r < 0)
                return r;
        r = get_seconds(l, "Grouping", "TimeoutSec", 60, 0.01, false, &c->timeout_sec);
        if (r < 0)
                return r;
        r = get_seconds(l, "Grouping", "LateGraceSec", 600, 0, false, &c->late_grace_sec);
        if (r < 0)
                return r;
        r = get_seconds(l, "Grouping", "OrphanKeepSec", 86400, 1, false, &c->orphan_keep_sec);
        if (r < 0)
                return r;
        r = get_bool(l, "Grouping", "LearnClockOffsets", true, &c->learn_clock_offsets);
        if (r < 0)
                return r;
        /* The lab's old program ignored a trigger of a camera already in a
         * collecting shot's window: W/2 by default. 0 turns it off. */
        r = get_seconds(l, "Grouping", "MinShotIntervalSec", c->full_window_sec / 2, 0, false,
                        &c->min_shot_interval_sec);
        if (r < 0)
                return r;

        /* A shot must stay open at least until its window has passed, or
         * files inside the window could never join it. */
        if (c->timeout_sec <= c->full_window_sec / 2) {
                const Setting *t = loader_get(l, "Grouping", "TimeoutSec");
                if (t)
                        return loader_fail_setting(l, t, "must exceed FullWindowSec/2 (%g)", c->full_window_sec / 2);
                return loader_fail_setting(l, loader_get(l, "Grouping", "FullWindowSec"),
                                    "TimeoutSec (%g) must exceed FullWindowSec/2 (%g)", c->timeout_sec,
                                    c->full_window_sec / 2);
        }
        return 0;
}

static int build_output(Loader *l, Config *c) {
        const Setting *s;
        int r;

        r = get_root_path(l, "Output", "CleanRoot", DEFAULT_CLEAN_ROOT, &c->clean_root);
        if (r < 0)
                return r;

        /* Published files must never look like raw files to the watcher, and
         * the watcher must never see its own output. The message points at
         * the key that was written: CleanRoot=, unless it is the default. */
        s = loader_get(l, "Output", "CleanRoot");
        if (!s) {
                s = loader_get(l, "Watch", "RawRoot");
                if (streq(c->raw_root, c->clean_root))
                        return loader_fail_setting(l, s, "must differ from CleanRoot (default %s)", c->clean_root);
                if (path_within(c->raw_root, c->clean_root))
                        return loader_fail_setting(l, s, "must not contain CleanRoot (default %s)", c->clean_root);
                if (path_within(c->clean_root, c->raw_root))
                        return loader_fail_setting(l, s, "must not be inside CleanRoot (default %s)", c->clean_root);
        }
        if (streq(c->raw_root, c->clean_root))
                return loader_fail_setting(l, s, "must differ from RawRoot (%s)", c->raw_root);
        if (path_within(c->raw_root, c->clean_root))
                return loader_fail_setting(l, s, "must not be inside RawRoot (%s)", c->raw_root);
        if (path_within(c->clean_root, c->raw_root))
                return loader_fail_setting(l, s, "must not contain RawRoot (%s)", c->raw_root);

        s = loader_get(l, "Output", "Mode");
        c->mode = PUBLISH_COPY;
        if (s && publish_mode_from_string(s->value, &c->mode) < 0)
                return loader_fail_setting(l, s, "must be copy, hardlink or reflink");
        return 0;
}

static int build_camera(Loader *l, const Config *c, const char *name, CameraConfig *cam) {
        g_autofree char *group = g_strconcat("Camera ", name, NULL);
        const Setting *s;
        int r;

        cam->name = g_strdup(name);

        bool listed = g_strv_contains((const char *const *) c->trigger_cameras, name);
        s = loader_get(l, group, "Trigger");
        cam->trigger = listed;
        if (s) {
                r = parse_boolean(s->value);
                if (r < 0)
                        return loader_fail_setting(l, s, "not a boolean (use true or false)");
                if (r == 0 && listed)
                        return loader_fail_setting(l, s, "contradicts [Watch] TriggerCameras=, which names %s", name);
                cam->trigger = r;
        }

        r = get_bool(l, group, "Expected", true, &cam->expected);
        if (r < 0)
                return r;

        s = loader_get(l, group, "TriggerKeyword");
        cam->trigger_keyword = g_strdup(s ? s->value : c->trigger_keyword);

        r = get_offset(l, group, "ClockOffsetSec", &cam->clock_offset_set, &cam->clock_offset_sec);
        if (r < 0)
                return r;

        s = loader_get(l, group, "Files");
        if (s)
                return parse_kinds(l, s, s->value, &cam->kinds, &cam->n_kinds);
        cam->kinds = kinds_copy(c->kinds, c->n_kinds);
        cam->n_kinds = c->n_kinds;
        return 0;
}

static int build_cameras(Loader *l, Config *c) {
        int r;

        if (l->cameras->len == 0)
                return 0;

        /* Counted first, so that config_free() sees every slot whatever fails. */
        c->n_cameras = l->cameras->len;
        c->cameras = g_new0(CameraConfig, c->n_cameras);
        for (size_t i = 0; i < c->n_cameras; i++) {
                r = build_camera(l, c, l->cameras->pdata[i], &c->cameras[i]);
                if (r < 0)
                        return r;
        }

        for (char **p = c->trigger_cameras; *p; p++) {
                bool found = false;
                for (size_t i = 0; i < c->n_cameras && !found; i++)
                        found = streq(c->cameras[i].name, *p);
                if (!found) {
                        g_autofree char *name = config_quote(*p, MESSAGE_VALUE_MAX);
                        return loader_fail_setting(l, loader_get(l, "Watch", "TriggerCameras"),
                                            "names %s, which has no [Camera %s] group", name, name);
                }
        }
        return 0;
}

static int build_trigger(Loader *l, Config *c) {
        const Setting *s;
        int r;

        s = loader_get(l, "Trigger", "Ports");
        r = split_list(l, s, s ? s->value : NULL, &c->ports);
        if (r < 0)
                return r;
        for (char **p = c->ports; *p; p++) {
                g_autofree char *port = config_quote(*p, MESSAGE_VALUE_MAX);
                if (streq(*p, "auto")) {
                        if (p != c->ports || p[1])
                                return loader_fail_setting(l, s, "\"auto\" must stand alone");
                        c->ports_auto = true;
                        g_strfreev(c->ports);
                        c->ports = g_new0(char *, 1);
                        break;
                }
                for (char **q = c->ports; q < p; q++)
                        if (streq(*p, *q))
                                return loader_fail_setting(l, s, "names port %s twice", port);
        }

        r = get_bool(l, "Trigger", "SetClock", true, &c->set_clock);
        if (r < 0)
                return r;
        r = get_bool(l, "Trigger", "Download", false, &c->download);
        if (r < 0)
                return r;

        r = get_path(l, "Trigger", "DownloadRoot", &c->download_root);
        if (r < 0)
                return r;
        if (!c->download_root)
                c->download_root = g_strdup(c->raw_root);
        /* Downloads are raw files: among published ones they would be
         * mistaken for output, and never grouped. */
        else if (path_within(c->clean_root, c->download_root))
                return loader_fail_setting(l, loader_get(l, "Trigger", "DownloadRoot"),
                                    "must not be CleanRoot or inside it (%s)", c->clean_root);

        return get_seconds(l, "Trigger", "CaptureTimeoutSec", 10, 0.1, false, &c->capture_timeout_sec);
}

static int loader_finish(Loader *l, Config **ret, char **ret_error) {
        ConfigPrivate *p = g_new0(ConfigPrivate, 1);
        _cleanup_config_ Config *c = &p->pub;
        int r;

        p->synthesised = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, camera_config_free);
        c->path = g_strdup(l->main_path);

        r = build_watch(l, c);
        if (r >= 0)
                r = build_grouping(l, c);
        if (r >= 0)
                r = build_output(l, c);
        if (r >= 0)
                r = build_cameras(l, c);
        if (r >= 0)
                r = build_trigger(l, c);
        if (r < 0) {
                if (ret_error)
                        *ret_error = g_steal_pointer(&l->error);
                return r;
        }

        *ret = TAKE_PTR(c);
        return 0;
}

static int loader_error(Loader *l, int r, char **ret_error) {
        if (ret_error)
                *ret_error = g_steal_pointer(&l->error);
        return r;
}

int config_load(const char *path, Config **ret, char **ret_error) {
        if (!path)
                return config_load_files(CONFIG_DEFAULT_PATH, true, config_dropin_dirs, ret, ret_error);

        g_autofree char *dir = g_strconcat(path, ".d", NULL);
        return config_load_files(path, false, (const char *const[]) { dir, NULL }, ret, ret_error);
}

int config_load_files(const char *main_path, bool main_optional, const char *const *dropin_dirs, Config **ret,
                      char **ret_error) {
        _cleanup_(loader_done) Loader l = loader_make(main_path);
        g_autofree char *data = NULL;
        size_t len = 0;
        int r;

        r = config_read_file(main_path, &data, &len);
        bool main_missing = r == -ENOENT;
        if (r < 0 && !main_missing) {
                loader_fail_errno(&l, r, "%s: cannot read: %s", main_path, g_strerror(-r));
                return loader_error(&l, r, ret_error);
        }
        if (r >= 0) {
                r = loader_add(&l, main_path, data, len);
                if (r < 0)
                        return loader_error(&l, r, ret_error);
        }

        g_autoptr(GPtrArray) dropins = g_ptr_array_new_with_free_func(g_free);
        r = loader_list_dropins(&l, dropin_dirs, dropins);
        if (r < 0)
                return loader_error(&l, r, ret_error);

        /* Nothing at all to read where a file was named is most likely a
         * mistyped --config: say that, rather than run on the defaults. */
        if (main_missing && !main_optional && dropins->len == 0) {
                loader_fail_errno(&l, -ENOENT, "%s: cannot read: %s", main_path, g_strerror(ENOENT));
                return loader_error(&l, -ENOENT, ret_error);
        }

        for (unsigned i = 0; i < dropins->len; i++) {
                const char *f = dropins->pdata[i];
                g_autofree char *d = NULL;
                r = config_read_file(f, &d, &len);
                if (r < 0) {
                        loader_fail_errno(&l, r, "%s: cannot read: %s", f, g_strerror(-r));
                        return loader_error(&l, r, ret_error);
                }
                r = loader_add(&l, f, d, len);
                if (r < 0)
                        return loader_error(&l, r, ret_error);
        }

        Config *c = NULL;
        r = loader_finish(&l, &c, ret_error);
        if (r < 0)
                return r;
        g_ptr_array_add(dropins, NULL);
        c->dropins = (char **) g_ptr_array_free(g_steal_pointer(&dropins), false);
        *ret = c;
        return 0;
}

int config_load_from_data(const char *name, const char *data, size_t len, Config **ret, char **ret_error) {
        if (!name)
                name = "(data)";

        _cleanup_(loader_done) Loader l = loader_make(name);
        int r;

        r = loader_add(&l, name, data ?: "", data ? len : 0);
        if (r < 0)
                return loader_error(&l, r, ret_error);

        Config *c = NULL;
        r = loader_finish(&l, &c, ret_error);
        if (r < 0)
                return r;
        c->dropins = g_new0(char *, 1);
        *ret = c;
        return 0;
}

/* ---- queries ---- */

const char *config_reference_camera(const Config *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_cameras; i++)
                if (c->cameras[i].trigger)
                        return c->cameras[i].name;
        if (c->n_cameras == 0 && c->trigger_cameras && c->trigger_cameras[0])
                return c->trigger_cameras[0];
        return NULL;
}

const CameraConfig *config_download_camera(Config *c, const char *folder) {
        if (!c || isempty(folder) || strchr(folder, '/') || name_is_hidden_or_temporary(folder))
                return NULL;
        for (size_t i = 0; i < c->n_cameras; i++)
                if (streq(c->cameras[i].name, folder))
                        return &c->cameras[i];

        ConfigPrivate *p = (ConfigPrivate *) c;
        if (!p->downloads)
                p->downloads = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, camera_config_free);
        CameraConfig *cam = g_hash_table_lookup(p->downloads, folder);
        if (cam)
                return cam;
        FileKind *any = g_new0(FileKind, 1);
        any->patterns = g_new0(char *, 2);
        any->patterns[0] = g_strdup("*");
        any->id = g_strdup("*");
        cam = g_new0(CameraConfig, 1);
        *cam = (CameraConfig) {
                .name = g_strdup(folder),
                .expected = c->n_cameras == 0,
                .trigger_keyword = g_strdup(""),
                .kinds = any,
                .n_kinds = 1,
        };
        g_hash_table_insert(p->downloads, cam->name, cam);
        return cam;
}

const CameraConfig *config_camera(Config *c, const char *folder) {
        if (!c || isempty(folder) || strchr(folder, '/') || name_is_hidden_or_temporary(folder))
                return NULL;

        if (c->n_cameras > 0) {
                for (size_t i = 0; i < c->n_cameras; i++)
                        if (streq(c->cameras[i].name, folder))
                                return &c->cameras[i];
                return NULL;
        }

        ConfigPrivate *p = (ConfigPrivate *) c;
        CameraConfig *cam = g_hash_table_lookup(p->synthesised, folder);
        if (cam)
                return cam;

        cam = g_new0(CameraConfig, 1);
        *cam = (CameraConfig) {
                .name = g_strdup(folder),
                .trigger = g_strv_contains((const char *const *) c->trigger_cameras, folder),
                .expected = true,
                .trigger_keyword = g_strdup(c->trigger_keyword),
                .kinds = kinds_copy(c->kinds, c->n_kinds),
                .n_kinds = c->n_kinds,
        };
        g_hash_table_insert(p->synthesised, cam->name, cam);
        return cam;
}

/* The extension every name matched by pattern ends with, lower case, or
 * NULL when the pattern can end with several. After the pattern's last '.'
 * only literal characters may follow: a '*' or '?' there could match more
 * dots, and a ']' means the '.' itself was inside brackets. */
static const char *pattern_extension(const char *pattern, char buf[static 32]) {
        const char *dot = strrchr(pattern, '.');
        const char *tail = dot ? dot + 1 : pattern;

        if (strpbrk(tail, "*?[]\\"))
                return NULL;
        return file_extension_lower(pattern, buf);
}

static bool patterns_share_extension(char *const *patterns, const char *ext) {
        for (char *const *p = patterns; p && *p; p++) {
                char buf[32];
                const char *e = pattern_extension(*p, buf);
                if (!e || streq(e, ext ?: ""))
                        return true;
        }
        return false;
}

bool config_kind_needs_suffix(const CameraConfig *cam, size_t kind, const char *ext) {
        if (!cam || kind >= cam->n_kinds)
                return false;
        for (size_t i = 0; i < kind; i++)
                if (patterns_share_extension(cam->kinds[i].patterns, ext))
                        return true;
        return false;
}

bool config_kind_ids_need_suffix(const char *const *ids, size_t kind, const char *ext) {
        for (size_t i = 0; ids && i < kind; i++) {
                g_auto(GStrv) patterns = g_strsplit(ids[i], "|", -1);
                if (patterns_share_extension(patterns, ext))
                        return true;
        }
        return false;
}

const char **config_camera_kind_ids(const CameraConfig *cam) {
        const char **v = g_new(const char *, MAX(cam->n_kinds, 1u));
        for (size_t i = 0; i < cam->n_kinds; i++)
                v[i] = cam->kinds[i].id;
        return v;
}
