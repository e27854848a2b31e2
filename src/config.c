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
#include "config.h"

#define CONFIG_DEFAULT_PATH SYSCONFDIR "/shotsync/shotsync.conf"

/* A configuration is a few hundred bytes; anything this big is a mistake
 * (a log or an image given as --config), not something to slurp. */
#define CONFIG_FILE_MAX ((size_t) 4 * 1024 * 1024)

/* Ten years: far beyond any sensible duration, and far below what the
 * nanosecond and microsecond clocks downstream can hold. */
#define SECONDS_MAX (10.0 * 365 * 24 * 3600)

/* Values are quoted in messages; a runaway line must not make them unreadable. */
#define MESSAGE_VALUE_MAX 60

#define DEFAULT_TRIGGER_KEYWORD "shot"
#define DEFAULT_FILES "*.tif|*.tiff"
#define DEFAULT_IGNORE_KEYWORDS "test;align"

/* The header's Config is public; the cameras made up on demand from the
 * [Watch] defaults are an implementation detail behind it. */
typedef struct ConfigPrivate {
        Config pub;
        GHashTable *synthesised; /* folder name → CameraConfig* */
} ConfigPrivate;

typedef enum GroupType {
        GROUP_WATCH,
        GROUP_GROUPING,
        GROUP_OUTPUT,
        GROUP_TRIGGER,
        GROUP_CAMERA,
        _GROUP_TYPE_MAX,
        GROUP_UNKNOWN = -1,
} GroupType;

static const char *const group_names[_GROUP_TYPE_MAX] = {
        [GROUP_WATCH] = "Watch",
        [GROUP_GROUPING] = "Grouping",
        [GROUP_OUTPUT] = "Output",
        [GROUP_TRIGGER] = "Trigger",
};

static const char *const *const group_keys[_GROUP_TYPE_MAX] = {
        [GROUP_WATCH] = (const char *const[]) { "RawRoot", "TriggerKeyword", "Files", "IgnoreKeywords",
                                                "TriggerCameras", "RescanIntervalSec", NULL },
        [GROUP_GROUPING] = (const char *const[]) { "FullWindowSec", "TimeoutSec", "LateGraceSec", "OrphanKeepSec",
                                                   NULL },
        [GROUP_OUTPUT] = (const char *const[]) { "CleanRoot", "Mode", NULL },
        [GROUP_TRIGGER] = (const char *const[]) { "Ports", "SetClock", "Download", "DownloadRoot",
                                                  "CaptureTimeoutSec", NULL },
        [GROUP_CAMERA] = (const char *const[]) { "Trigger", "Expected", "TriggerKeyword", "Files", NULL },
};

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
        for (size_t i = 0; kinds && i < n; i++)
                g_strfreev(kinds[i].patterns);
        g_free(kinds);
}

static FileKind *kinds_copy(const FileKind *kinds, size_t n) {
        FileKind *k = g_new0(FileKind, n);
        for (size_t i = 0; i < n; i++)
                k[i].patterns = g_strdupv(kinds[i].patterns);
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

/* ---- messages ---- */

/* Quotes text from a file in a message: invalid UTF-8 and control
 * characters become \xNN, so the message stays one valid UTF-8 line (it
 * travels over D-Bus on Reload), and long text is cut. */
static char *shorten(const char *s, size_t max_chars) {
        GString *out = g_string_new(NULL);
        size_t n = 0;

        for (const char *p = s; *p; n++) {
                if (n >= max_chars) {
                        g_string_append(out, "…");
                        break;
                }
                gunichar c = g_utf8_get_char_validated(p, -1);
                if (c == (gunichar) -1 || c == (gunichar) -2 || c < 0x20 || c == 0x7f) {
                        g_string_append_printf(out, "\\x%02x", (unsigned char) *p);
                        p++;
                        continue;
                }
                const char *next = g_utf8_next_char(p);
                g_string_append_len(out, p, next - p);
                p = next;
        }
        return g_string_free(out, false);
}

/* ---- loading: files → settings ---- */

/* One key as the files leave it: the last file that sets it wins. */
typedef struct Setting {
        const char *file; /* owned by Loader.files */
        unsigned line;
        char *group;
        char *key;
        char *value; /* unescaped by GKeyFile, stripped */
} Setting;

typedef struct Loader {
        const char *main_path;
        GPtrArray *files;      /* char*: names of the files read, in order */
        GHashTable *settings;  /* "group\nkey" → Setting* */
        GPtrArray *cameras;    /* char*: [Camera NAME] names in order of first appearance */
        char *error;
} Loader;

static void setting_free(void *p) {
        Setting *s = p;
        g_free(s->group);
        g_free(s->key);
        g_free(s->value);
        g_free(s);
}

static Loader loader_make(const char *main_path) {
        return (Loader) {
                .main_path = main_path,
                .files = g_ptr_array_new_with_free_func(g_free),
                .settings = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, setting_free),
                .cameras = g_ptr_array_new_with_free_func(g_free),
        };
}

static void loader_done(Loader *l) {
        g_ptr_array_unref(l->files);
        g_hash_table_unref(l->settings);
        g_ptr_array_unref(l->cameras);
        g_free(l->error);
}

/* Only the first problem is reported: later ones are often its echoes.
 * File names too may be any bytes, so the whole sentence is escaped. */
_printf_(3, 4) static int loader_fail_errno(Loader *l, int r, const char *fmt, ...) {
        if (!l->error) {
                va_list ap;
                va_start(ap, fmt);
                g_autofree char *m = g_strdup_vprintf(fmt, ap);
                va_end(ap);
                l->error = shorten(m, SIZE_MAX);
        }
        return r;
}

#define loader_fail(l, ...) loader_fail_errno(l, -EINVAL, __VA_ARGS__)

/* "file:line: [Group] Key=value: problem", or "file: problem" for a
 * default value, which has no line. */
_printf_(3, 4) static int fail_setting(Loader *l, const Setting *s, const char *fmt, ...) {
        g_autofree char *problem = NULL;
        va_list ap;

        va_start(ap, fmt);
        problem = g_strdup_vprintf(fmt, ap);
        va_end(ap);

        if (!s)
                return loader_fail(l, "%s: %s", l->main_path, problem);
        g_autofree char *v = shorten(s->value, MESSAGE_VALUE_MAX);
        return loader_fail(l, "%s:%u: [%s] %s=%s: %s", s->file, s->line, s->group, s->key, v, problem);
}

static GroupType group_type(const char *group, const char **ret_camera) {
        for (GroupType t = 0; t < GROUP_CAMERA; t++)
                if (streq(group, group_names[t]))
                        return t;
        if (streq(group, "Camera")) {
                *ret_camera = "";
                return GROUP_CAMERA;
        }
        if (g_str_has_prefix(group, "Camera ")) {
                *ret_camera = group + strlen("Camera ");
                return GROUP_CAMERA;
        }
        return GROUP_UNKNOWN;
}

static bool key_known(GroupType t, const char *key) {
        for (const char *const *k = group_keys[t]; *k; k++)
                if (streq(*k, key))
                        return true;
        return false;
}

/* Why a name cannot be a camera folder, or NULL when it can. The watcher
 * never enters hidden or temporary folders, so such a camera would simply
 * never be seen; better to say so at start. */
static const char *camera_name_problem(const char *name) {
        if (isempty(name))
                return "the camera name is empty";
        if (!g_utf8_validate(name, -1, NULL))
                return "the camera name is not valid UTF-8";
        if (strchr(name, '/'))
                return "the camera name must be a single folder name, without '/'";
        if (streq(name, ".") || streq(name, ".."))
                return "the camera name must be a folder name, not '.' or '..'";
        if (name_is_hidden_or_temporary(name))
                return "the camera name is a hidden or temporary name (leading '.' or '~', or a temporary "
                       "suffix), which shotsync never watches";
        for (const char *p = name; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return "the camera name contains a control character";
        if (g_ascii_isspace(name[0]) || g_ascii_isspace(name[strlen(name) - 1]))
                return "the camera name starts or ends with a space";
        return NULL;
}

static unsigned line_of(const char *data, const char *at) {
        unsigned line = 1;
        for (const char *p = data; p < at; p++)
                line += *p == '\n';
        return line;
}

static char *setting_id(const char *group, const char *key) {
        /* A line never holds '\n', so neither a group nor a key does. */
        return g_strconcat(group, "\n", key, NULL);
}

static const Setting *setting_get(Loader *l, const char *group, const char *key) {
        g_autofree char *id = setting_id(group, key);
        return g_hash_table_lookup(l->settings, id);
}

static int loader_add_key(Loader *l, GKeyFile *kf, GHashTable *seen, const char *file, unsigned line,
                          const char *group, GroupType type, const char *key) {
        g_autofree char *k = shorten(key, MESSAGE_VALUE_MAX);
        g_autoptr(GError) error = NULL;

        /* Includes Key[fr]: translations mean nothing here. */
        if (!key_known(type, key))
                return loader_fail(l, "%s:%u: [%s] %s: unknown key", file, line, group, k);

        g_autofree char *id = setting_id(group, key);
        unsigned first = GPOINTER_TO_UINT(g_hash_table_lookup(seen, id));
        if (first > 0)
                return loader_fail(l, "%s:%u: [%s] %s= is set twice in this file (first on line %u)", file, line,
                                   group, k, first);
        g_hash_table_insert(seen, g_strdup(id), GUINT_TO_POINTER(line));

        /* GKeyFile may return a value and an error together (a bad escape):
         * the error decides. */
        g_autofree char *value = g_key_file_get_string(kf, group, key, &error);
        if (error || !value) {
                if (!error)
                        return loader_fail(l, "%s:%u: [%s] %s: cannot read the value", file, line, group, k);
                if (g_error_matches(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_UNKNOWN_ENCODING))
                        return loader_fail(l, "%s:%u: [%s] %s: the value is not valid UTF-8", file, line, group, k);
                g_autofree char *m = shorten(error->message, 2 * MESSAGE_VALUE_MAX);
                return loader_fail(l, "%s:%u: [%s] %s: %s", file, line, group, k, m);
        }

        Setting *s = g_new(Setting, 1);
        *s = (Setting) {
                .file = file,
                .line = line,
                .group = g_strdup(group),
                .key = g_strdup(key),
                /* Trailing blanks are invisible in an editor; never let them
                 * change a keyword or a path. */
                .value = g_strstrip(g_steal_pointer(&value)),
        };
        g_hash_table_replace(l->settings, g_steal_pointer(&id), s);
        return 0;
}

/* Reads one file's text into the settings. GKeyFile validates the syntax
 * and unescapes values, but it neither reports line numbers nor refuses a
 * key given twice, so the text is walked once more alongside it. */
static int loader_add(Loader *l, const char *name, const char *data, size_t len) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) error = NULL;
        int r;

        const char *nul = memchr(data, 0, len);
        if (nul)
                return loader_fail(l, "%s:%u: the file contains a NUL byte", name, line_of(data, nul));

        if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_KEEP_TRANSLATIONS, &error)) {
                g_autofree char *m = shorten(error->message, 2 * MESSAGE_VALUE_MAX);
                return loader_fail(l, "%s: %s", name, m);
        }

        g_ptr_array_add(l->files, g_strdup(name));
        const char *file = l->files->pdata[l->files->len - 1];

        g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autofree char *group = NULL;
        GroupType type = GROUP_UNKNOWN;
        unsigned line = 0;

        for (const char *p = data, *end = data + len; p < end;) {
                const char *eol = memchr(p, '\n', (size_t) (end - p));
                if (!eol)
                        eol = end;
                g_autofree char *text = g_strstrip(g_strndup(p, (gsize) (eol - p)));
                p = eol < end ? eol + 1 : end;
                line++;

                if (text[0] == 0 || text[0] == '#')
                        continue;

                if (text[0] == '[') {
                        const char *close = strchr(text, ']');
                        if (!close)
                                return loader_fail(l, "%s:%u: cannot parse this line", file, line);
                        g_free(group);
                        group = g_strndup(text + 1, (gsize) (close - text - 1));

                        const char *camera = NULL;
                        type = group_type(group, &camera);
                        if (type == GROUP_UNKNOWN) {
                                g_autofree char *g = shorten(group, MESSAGE_VALUE_MAX);
                                return loader_fail(l, "%s:%u: [%s]: unknown group", file, line, g);
                        }
                        if (type == GROUP_CAMERA) {
                                const char *problem = camera_name_problem(camera);
                                if (problem) {
                                        g_autofree char *g = shorten(group, MESSAGE_VALUE_MAX);
                                        return loader_fail(l, "%s:%u: [%s]: %s", file, line, g, problem);
                                }
                                bool known = false;
                                for (unsigned i = 0; i < l->cameras->len && !known; i++)
                                        known = streq(l->cameras->pdata[i], camera);
                                if (!known)
                                        g_ptr_array_add(l->cameras, g_strdup(camera));
                        }
                        continue;
                }

                const char *eq = strchr(text, '=');
                if (!group || !eq || eq == text)
                        return loader_fail(l, "%s:%u: cannot parse this line", file, line);
                g_autofree char *key = g_strchomp(g_strndup(text, (gsize) (eq - text)));
                r = loader_add_key(l, kf, seen, file, line, group, type, key);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

static int read_config_file(const char *path, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();

        struct stat st;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;

        g_autoptr(GString) buf = g_string_new(NULL);
        for (;;) {
                char chunk[16384];
                ssize_t n = read(fd, chunk, sizeof chunk);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;
                if (buf->len + (size_t) n > CONFIG_FILE_MAX)
                        return -EFBIG;
                g_string_append_len(buf, chunk, n);
        }
        *ret_len = buf->len;
        *ret = g_string_free(g_steal_pointer(&buf), false);
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The "*.conf" files of "<main>.d", sorted by strcmp. Hidden names are
 * skipped (editors and package managers leave those), and so are entries
 * that are not regular files or vanish while we look. */
static int list_dropins(Loader *l, const char *dir, GPtrArray *ret) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        if (!d) {
                if (errno == ENOENT)
                        return 0;
                int r = negative_errno();
                return loader_fail_errno(l, r, "%s: cannot read the drop-in folder: %s", dir, g_strerror(-r));
        }

        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno != 0) {
                                int r = negative_errno();
                                return loader_fail_errno(l, r, "%s: cannot read the drop-in folder: %s", dir,
                                                         g_strerror(-r));
                        }
                        break;
                }
                if (de->d_name[0] == '.' || !g_str_has_suffix(de->d_name, ".conf"))
                        continue;

                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, 0) < 0) {
                        if (errno == ENOENT)
                                continue;
                        int r = negative_errno();
                        return loader_fail_errno(l, r, "%s/%s: cannot read: %s", dir, de->d_name, g_strerror(-r));
                }
                if (!S_ISREG(st.st_mode))
                        continue;
                g_ptr_array_add(names, g_strdup(de->d_name));
        }

        g_ptr_array_sort(names, cmp_str);
        for (unsigned i = 0; i < names->len; i++)
                g_ptr_array_add(ret, g_build_filename(dir, names->pdata[i], NULL));
        return 0;
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
        const Setting *s = setting_get(l, group, key);
        if (!s) {
                *ret = def;
                return 0;
        }
        int r = parse_boolean(s->value);
        if (r < 0)
                return fail_setting(l, s, "not a boolean (use true or false)");
        *ret = r;
        return 0;
}

static int get_seconds(Loader *l, const char *group, const char *key, double def, bool zero_ok, double *ret) {
        const Setting *s = setting_get(l, group, key);
        double v;

        if (!s) {
                *ret = def;
                return 0;
        }
        int r = parse_number(s->value, &v);
        if (r == -ERANGE || (r >= 0 && v > SECONDS_MAX))
                return fail_setting(l, s, "too large (at most %.0f seconds)", SECONDS_MAX);
        if (r < 0)
                return fail_setting(l, s, "not a number");
        if (zero_ok && v < 0)
                return fail_setting(l, s, "must not be negative");
        if (!zero_ok && v <= 0)
                return fail_setting(l, s, "must be greater than 0");
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
        const Setting *s = setting_get(l, group, key);

        *ret = NULL;
        if (!s || isempty(s->value))
                return 0;
        int r = path_normalise(s->value, ret);
        if (r == -ELOOP)
                return fail_setting(l, s, "the path must not contain '..'");
        if (r < 0)
                return fail_setting(l, s, "must be an absolute path");
        return 0;
}

static int get_required_path(Loader *l, const char *group, const char *key, char **ret) {
        int r = get_path(l, group, key, ret);
        if (r < 0)
                return r;
        if (*ret)
                return 0;
        const Setting *s = setting_get(l, group, key);
        if (s)
                return fail_setting(l, s, "a path is required");
        return loader_fail(l, "%s: [%s] %s= is required", l->main_path, group, key);
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
                        return fail_setting(l, s, "empty entry (two ';' in a row, or a ';' at the end)");
        *ret = g_steal_pointer(&v);
        return 0;
}

static int get_list(Loader *l, const char *group, const char *key, const char *def, char ***ret) {
        const Setting *s = setting_get(l, group, key);
        return split_list(l, s, s ? s->value : def, ret);
}

static int parse_kinds(Loader *l, const Setting *s, const char *value, FileKind **ret, size_t *ret_n) {
        if (isempty(value))
                return fail_setting(l, s, "at least one file kind is required");

        g_auto(GStrv) kinds = g_strsplit(value, ";", -1);
        size_t n = g_strv_length(kinds);
        g_autoptr(GHashTable) folded = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        FileKind *k = g_new0(FileKind, n);

        for (size_t i = 0; i < n; i++) {
                if (isempty(g_strstrip(kinds[i]))) {
                        kinds_free(k, n);
                        return fail_setting(l, s, "kind %zu is empty (two ';' in a row, or a ';' at the end)", i + 1);
                }
                k[i].patterns = g_strsplit(kinds[i], "|", -1);
                for (char **p = k[i].patterns; *p; p++) {
                        if (isempty(g_strstrip(*p))) {
                                kinds_free(k, n);
                                return fail_setting(l, s, "kind %zu has an empty alternative", i + 1);
                        }
                        g_autofree char *pat = shorten(*p, MESSAGE_VALUE_MAX);
                        if (strchr(*p, '/')) {
                                kinds_free(k, n);
                                return fail_setting(l, s, "pattern %s contains '/', but patterns match file names",
                                                    pat);
                        }
                        /* A file takes the first kind that matches: the same
                         * pattern later would name a kind that no file can
                         * ever fill, and every shot would time out. */
                        if (!g_hash_table_add(folded, g_utf8_casefold(*p, -1))) {
                                kinds_free(k, n);
                                return fail_setting(l, s, "pattern %s appears twice", pat);
                        }
                }
        }
        *ret = k;
        *ret_n = n;
        return 0;
}

/* ---- loading: settings → Config ---- */

static int build_watch(Loader *l, Config *c) {
        const Setting *s;
        int r;

        r = get_required_path(l, "Watch", "RawRoot", &c->raw_root);
        if (r < 0)
                return r;

        s = setting_get(l, "Watch", "TriggerKeyword");
        c->trigger_keyword = g_strdup(s ? s->value : DEFAULT_TRIGGER_KEYWORD);

        s = setting_get(l, "Watch", "Files");
        r = parse_kinds(l, s, s ? s->value : DEFAULT_FILES, &c->kinds, &c->n_kinds);
        if (r < 0)
                return r;

        r = get_list(l, "Watch", "IgnoreKeywords", DEFAULT_IGNORE_KEYWORDS, &c->ignore_keywords);
        if (r < 0)
                return r;

        s = setting_get(l, "Watch", "TriggerCameras");
        r = split_list(l, s, s ? s->value : NULL, &c->trigger_cameras);
        if (r < 0)
                return r;
        for (char **p = c->trigger_cameras; *p; p++) {
                g_autofree char *name = shorten(*p, MESSAGE_VALUE_MAX);
                const char *problem = camera_name_problem(*p);
                if (problem)
                        return fail_setting(l, s, "%s: %s", name, problem);
                for (char **q = c->trigger_cameras; q < p; q++)
                        if (streq(*p, *q))
                                return fail_setting(l, s, "names %s twice", name);
        }

        return get_seconds(l, "Watch", "RescanIntervalSec", 60, true, &c->rescan_interval_sec);
}

static int build_grouping(Loader *l, Config *c) {
        int r;

        r = get_seconds(l, "Grouping", "FullWindowSec", 10, false, &c->full_window_sec);
        if (r < 0)
                return r;
        r = get_seconds(l, "Grouping", "TimeoutSec", 60, false, &c->timeout_sec);
        if (r < 0)
                return r;
        r = get_seconds(l, "Grouping", "LateGraceSec", 600, true, &c->late_grace_sec);
        if (r < 0)
                return r;
        r = get_seconds(l, "Grouping", "OrphanKeepSec", 86400, false, &c->orphan_keep_sec);
        if (r < 0)
                return r;

        /* A shot must stay open at least until its window has passed, or
         * files inside the window could never join it. */
        if (c->timeout_sec <= c->full_window_sec / 2) {
                const Setting *t = setting_get(l, "Grouping", "TimeoutSec");
                if (t)
                        return fail_setting(l, t, "must exceed FullWindowSec/2 (%g)", c->full_window_sec / 2);
                return fail_setting(l, setting_get(l, "Grouping", "FullWindowSec"),
                                    "TimeoutSec (%g) must exceed FullWindowSec/2 (%g)", c->timeout_sec,
                                    c->full_window_sec / 2);
        }
        return 0;
}

static int build_output(Loader *l, Config *c) {
        const Setting *s;
        int r;

        r = get_required_path(l, "Output", "CleanRoot", &c->clean_root);
        if (r < 0)
                return r;

        /* Published files must never look like raw files to the watcher, and
         * the watcher must never see its own output. */
        s = setting_get(l, "Output", "CleanRoot");
        if (streq(c->raw_root, c->clean_root))
                return fail_setting(l, s, "must differ from RawRoot (%s)", c->raw_root);
        if (path_within(c->raw_root, c->clean_root))
                return fail_setting(l, s, "must not be inside RawRoot (%s)", c->raw_root);
        if (path_within(c->clean_root, c->raw_root))
                return fail_setting(l, s, "must not contain RawRoot (%s)", c->raw_root);

        s = setting_get(l, "Output", "Mode");
        c->mode = PUBLISH_COPY;
        if (s && publish_mode_from_string(s->value, &c->mode) < 0)
                return fail_setting(l, s, "must be copy, hardlink or reflink");
        return 0;
}

static int build_camera(Loader *l, const Config *c, const char *name, CameraConfig *cam) {
        g_autofree char *group = g_strconcat("Camera ", name, NULL);
        const Setting *s;
        int r;

        cam->name = g_strdup(name);

        bool listed = g_strv_contains((const char *const *) c->trigger_cameras, name);
        s = setting_get(l, group, "Trigger");
        cam->trigger = listed;
        if (s) {
                r = parse_boolean(s->value);
                if (r < 0)
                        return fail_setting(l, s, "not a boolean (use true or false)");
                if (r == 0 && listed)
                        return fail_setting(l, s, "contradicts [Watch] TriggerCameras=, which names %s", name);
                cam->trigger = r;
        }

        r = get_bool(l, group, "Expected", true, &cam->expected);
        if (r < 0)
                return r;

        s = setting_get(l, group, "TriggerKeyword");
        cam->trigger_keyword = g_strdup(s ? s->value : c->trigger_keyword);

        s = setting_get(l, group, "Files");
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
                        g_autofree char *name = shorten(*p, MESSAGE_VALUE_MAX);
                        return fail_setting(l, setting_get(l, "Watch", "TriggerCameras"),
                                            "names %s, which has no [Camera %s] group", name, name);
                }
        }
        return 0;
}

static int build_trigger(Loader *l, Config *c) {
        const Setting *s;
        int r;

        s = setting_get(l, "Trigger", "Ports");
        r = split_list(l, s, s ? s->value : NULL, &c->ports);
        if (r < 0)
                return r;
        for (char **p = c->ports; *p; p++) {
                g_autofree char *port = shorten(*p, MESSAGE_VALUE_MAX);
                if (streq(*p, "auto")) {
                        if (p != c->ports || p[1])
                                return fail_setting(l, s, "\"auto\" must stand alone");
                        c->ports_auto = true;
                        g_strfreev(c->ports);
                        c->ports = g_new0(char *, 1);
                        break;
                }
                for (char **q = c->ports; q < p; q++)
                        if (streq(*p, *q))
                                return fail_setting(l, s, "names port %s twice", port);
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
                return fail_setting(l, setting_get(l, "Trigger", "DownloadRoot"),
                                    "must not be CleanRoot or inside it (%s)", c->clean_root);

        return get_seconds(l, "Trigger", "CaptureTimeoutSec", 10, false, &c->capture_timeout_sec);
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
                path = CONFIG_DEFAULT_PATH;

        _cleanup_(loader_done) Loader l = loader_make(path);
        g_autofree char *data = NULL;
        size_t len = 0;
        int r;

        r = read_config_file(path, &data, &len);
        bool main_missing = r == -ENOENT;
        if (r < 0 && !main_missing) {
                loader_fail_errno(&l, r, "%s: cannot read: %s", path, g_strerror(-r));
                return loader_error(&l, r, ret_error);
        }
        if (r >= 0) {
                r = loader_add(&l, path, data, len);
                if (r < 0)
                        return loader_error(&l, r, ret_error);
        }

        g_autofree char *dir = g_strconcat(path, ".d", NULL);
        g_autoptr(GPtrArray) dropins = g_ptr_array_new_with_free_func(g_free);
        r = list_dropins(&l, dir, dropins);
        if (r < 0)
                return loader_error(&l, r, ret_error);

        /* Nothing at all to read is most likely a mistyped --config: say
         * that, rather than that RawRoot= is missing. */
        if (main_missing && dropins->len == 0) {
                loader_fail_errno(&l, -ENOENT, "%s: cannot read: %s", path, g_strerror(ENOENT));
                return loader_error(&l, -ENOENT, ret_error);
        }

        for (unsigned i = 0; i < dropins->len; i++) {
                const char *f = dropins->pdata[i];
                g_autofree char *d = NULL;
                r = read_config_file(f, &d, &len);
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

bool config_kind_needs_suffix(const CameraConfig *cam, size_t kind, const char *ext) {
        if (!cam || kind >= cam->n_kinds)
                return false;

        for (size_t i = 0; i < kind; i++)
                for (char **p = cam->kinds[i].patterns; p && *p; p++) {
                        char buf[32];
                        const char *e = pattern_extension(*p, buf);
                        if (!e || streq(e, ext ?: ""))
                                return true;
                }
        return false;
}
