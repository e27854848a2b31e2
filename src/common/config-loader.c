/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "classify.h"
#include "config-loader.h"

static const char *const group_names[_GROUP_TYPE_MAX] = {
        [GROUP_WATCH] = "Watch",
        [GROUP_GROUPING] = "Grouping",
        [GROUP_OUTPUT] = "Output",
        [GROUP_TRIGGER] = "Trigger",
};

static const char *const *const group_keys[_GROUP_TYPE_MAX] = {
        [GROUP_WATCH] = (const char *const[]) { "RawRoot", "TriggerKeyword", "Files", "IgnoreKeywords",
                                                "TriggerCameras", "RescanIntervalSec", "MaxAgeSec", NULL },
        [GROUP_GROUPING] = (const char *const[]) { "FullWindowSec", "TimeoutSec", "LateGraceSec", "OrphanKeepSec",
                                                   "LearnClockOffsets", "MinShotIntervalSec", NULL },
        [GROUP_OUTPUT] = (const char *const[]) { "CleanRoot", "Mode", NULL },
        [GROUP_TRIGGER] = (const char *const[]) { "Ports", "SetClock", "Download", "DownloadRoot",
                                                  "CaptureTimeoutSec", NULL },
        [GROUP_CAMERA] = (const char *const[]) { "Trigger", "Expected", "TriggerKeyword", "Files", "ClockOffsetSec",
                                                 NULL },
};

/* ---- messages ---- */

/* Quotes text from a file in a message: invalid UTF-8 and control
 * characters become \xNN, so the message stays one valid UTF-8 line (it
 * travels over D-Bus on Reload), and long text is cut. */
char *config_quote(const char *s, size_t max_chars) {
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

static void setting_free(void *p) {
        Setting *s = p;
        g_free(s->group);
        g_free(s->key);
        g_free(s->value);
        g_free(s);
}

Loader loader_make(const char *main_path) {
        return (Loader) {
                .main_path = main_path,
                .files = g_ptr_array_new_with_free_func(g_free),
                .settings = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, setting_free),
                .cameras = g_ptr_array_new_with_free_func(g_free),
        };
}

void loader_done(Loader *l) {
        g_ptr_array_unref(l->files);
        g_hash_table_unref(l->settings);
        g_ptr_array_unref(l->cameras);
        g_free(l->error);
}

/* Only the first problem is reported: later ones are often its echoes.
 * File names too may be any bytes, so the whole sentence is escaped. */
_printf_(3, 4) int loader_fail_errno(Loader *l, int r, const char *fmt, ...) {
        if (!l->error) {
                va_list ap;
                va_start(ap, fmt);
                g_autofree char *m = g_strdup_vprintf(fmt, ap);
                va_end(ap);
                l->error = config_quote(m, SIZE_MAX);
        }
        return r;
}


/* "file:line: [Group] Key=value: problem", or "file: problem" for a
 * default value, which has no line. */
_printf_(3, 4) int loader_fail_setting(Loader *l, const Setting *s, const char *fmt, ...) {
        g_autofree char *problem = NULL;
        va_list ap;

        va_start(ap, fmt);
        problem = g_strdup_vprintf(fmt, ap);
        va_end(ap);

        if (!s)
                return loader_fail(l, "%s: %s", l->main_path, problem);
        g_autofree char *v = config_quote(s->value, MESSAGE_VALUE_MAX);
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
const char *config_camera_name_problem(const char *name) {
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

const Setting *loader_get(Loader *l, const char *group, const char *key) {
        g_autofree char *id = setting_id(group, key);
        return g_hash_table_lookup(l->settings, id);
}

static int loader_add_key(Loader *l, GKeyFile *kf, GHashTable *seen, const char *file, unsigned line,
                          const char *group, GroupType type, const char *key) {
        g_autofree char *k = config_quote(key, MESSAGE_VALUE_MAX);
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
                g_autofree char *m = config_quote(error->message, 2 * MESSAGE_VALUE_MAX);
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
int loader_add(Loader *l, const char *name, const char *data, size_t len) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) error = NULL;
        int r;

        const char *nul = memchr(data, 0, len);
        if (nul)
                return loader_fail(l, "%s:%u: the file contains a NUL byte", name, line_of(data, nul));

        if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_KEEP_TRANSLATIONS, &error)) {
                g_autofree char *m = config_quote(error->message, 2 * MESSAGE_VALUE_MAX);
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
                                g_autofree char *g = config_quote(group, MESSAGE_VALUE_MAX);
                                return loader_fail(l, "%s:%u: [%s]: unknown group", file, line, g);
                        }
                        if (type == GROUP_CAMERA) {
                                const char *problem = config_camera_name_problem(camera);
                                if (problem) {
                                        g_autofree char *g = config_quote(group, MESSAGE_VALUE_MAX);
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

int config_read_file(const char *path, char **ret, size_t *ret_len) {
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

/* Adds the "*.conf" entries of one folder to chosen (name → path, or NULL
 * for a mask) unless a folder of higher priority already chose that name.
 * Hidden names are skipped (editors and package managers leave those), and
 * so are entries that are neither regular files nor masks, or that vanish
 * while we look: they neither count nor override. A mask is a character
 * device, in practice a symlink to /dev/null, as systemd has it. */
static int list_dropin_dir(Loader *l, const char *dir, GHashTable *chosen) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        if (!d) {
                if (errno == ENOENT)
                        return 0;
                int r = negative_errno();
                return loader_fail_errno(l, r, "%s: cannot read the drop-in folder: %s", dir, g_strerror(-r));
        }

        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno != 0) {
                                int r = negative_errno();
                                return loader_fail_errno(l, r, "%s: cannot read the drop-in folder: %s", dir,
                                                         g_strerror(-r));
                        }
                        return 0;
                }
                if (de->d_name[0] == '.' || !g_str_has_suffix(de->d_name, ".conf"))
                        continue;
                if (g_hash_table_contains(chosen, de->d_name))
                        continue; /* overridden, or masked, by a folder of higher priority */

                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, 0) < 0) {
                        if (errno == ENOENT)
                                continue;
                        int r = negative_errno();
                        return loader_fail_errno(l, r, "%s/%s: cannot read: %s", dir, de->d_name, g_strerror(-r));
                }
                if (S_ISCHR(st.st_mode))
                        g_hash_table_insert(chosen, g_strdup(de->d_name), NULL);
                else if (S_ISREG(st.st_mode))
                        g_hash_table_insert(chosen, g_strdup(de->d_name), g_build_filename(dir, de->d_name, NULL));
        }
}

/* The drop-ins of the folders dirs (NULL-terminated, highest priority
 * first), merged by file name as systemd merges its configuration folders:
 * a name in an earlier folder overrides the same name in later ones, and a
 * mask there hides it. The result is sorted by file name (strcmp), whatever
 * folder each comes from. */
int loader_list_dropins(Loader *l, const char *const *dirs, GPtrArray *ret) {
        g_autoptr(GHashTable) chosen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        int r;

        for (const char *const *dir = dirs; *dir; dir++) {
                r = list_dropin_dir(l, *dir, chosen);
                if (r < 0)
                        return r;
        }

        guint n = 0;
        g_autofree char **names = (char **) g_hash_table_get_keys_as_array(chosen, &n);
        qsort(names, n, sizeof *names, cmp_str);
        for (guint i = 0; i < n; i++) {
                const char *path = g_hash_table_lookup(chosen, names[i]);
                if (path)
                        g_ptr_array_add(ret, g_strdup(path));
        }
        return 0;
}
