/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The state on disk (state.h says what each file holds): a commit appended
 * to the journal, a new base, and the load that replays one over the other. */

#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <sys/stat.h>

#include "state-internal.h"

#define STATE_FILE "state.json"
#define JOURNAL_FILE "journal"
#define FORGOTTEN_FILE "forgotten2.bin"
#define LEGACY_FORGOTTEN_FILE "forgotten.bin"
#define SHOTS_DIR "shots"

/* A journal line is "<16 hex digits> <JSON>\n": the digits are the start of
 * the JSON's SHA-256, so a torn or half-written tail (a crash mid-append) is
 * told from a record and dropped, never half-applied. */
static char *line_checksum(const char *json, size_t len) {
        g_autofree char *full = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *) json, len);
        return g_strndup(full, 16);
}


static int write_all(int fd, const void *data, size_t len) {
        const char *p = data;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}



static int fsync_dir(const char *dir) {
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0)
                return negative_errno();
        return 0;
}

/* One commit: one record appended, one fdatasync(). */
static int append_record(const char *dir, const StateSnapshot *s, uint64_t *ret_size) {
        g_autofree char *path = g_build_filename(dir, JOURNAL_FILE, NULL);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        bool created = false;
        if (fd < 0 && errno == ENOENT) {
                fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
                created = true;
        }
        if (fd < 0)
                return negative_errno();

        size_t jlen;
        g_autofree char *json = state_record_to_json(s, &jlen);
        g_autofree char *sum = line_checksum(json, jlen);
        g_autofree char *line = g_strdup_printf("%s %s\n", sum, json);
        size_t len = strlen(line);
        int r = write_all(fd, line, len);
        if (r < 0)
                return r;
        if (fdatasync(fd) < 0)
                return negative_errno();
        /* A new journal's name must outlive a crash too. */
        if (created) {
                r = fsync_dir(dir);
                if (r < 0)
                        return r;
        }
        struct stat st;
        if (ret_size && fstat(fd, &st) >= 0)
                *ret_size = (uint64_t) st.st_size;
        return 0;
}

static int write_forgotten(const char *dir, const StateForgotten *f, size_t n) {
        return write_file_atomic(dir, FORGOTTEN_FILE, f, n * sizeof(StateForgotten), 0600);
}

/* A base replaces everything: the forgotten files first (a crash before
 * state.json replays the journal over them, which only adds what they
 * hold already), then state.json naming the last commit it includes, then
 * the journal is emptied (a crash before that replays nothing older than
 * the base). What versions before 4 kept elsewhere goes. */
static int write_base(const char *dir, const StateSnapshot *s, uint64_t *ret_size) {
        int r = write_forgotten(dir, s->forget, s->n_forget);
        if (r < 0)
                return r;
        size_t len;
        g_autofree char *data = state_to_data(s, &len);
        r = write_file_atomic(dir, STATE_FILE, data, len, 0600);
        if (r < 0)
                return r;
        if (ret_size)
                *ret_size = len + s->n_forget * sizeof(StateForgotten);

        g_autofree char *journal = g_build_filename(dir, JOURNAL_FILE, NULL);
        _cleanup_close_ int fd = open(journal, O_WRONLY | O_CLOEXEC);
        if (fd < 0 && errno != ENOENT)
                return negative_errno();
        if (fd >= 0 && (ftruncate(fd, 0) < 0 || fsync(fd) < 0))
                return negative_errno();

        g_autofree char *shots = g_build_filename(dir, SHOTS_DIR, NULL);
        g_autoptr(GDir) d = g_dir_open(shots, 0, NULL);
        const char *name;
        while (d && (name = g_dir_read_name(d))) {
                if (g_str_has_suffix(name, ".corrupt"))
                        continue; /* kept for whoever wants to look */
                g_autofree char *p = g_build_filename(shots, name, NULL);
                if (unlink(p) < 0 && errno != ENOENT)
                        return negative_errno();
        }
        if (d && rmdir(shots) < 0 && errno != ENOENT && errno != ENOTEMPTY)
                return negative_errno();
        if (s->drop_legacy) {
                g_autofree char *legacy = g_build_filename(dir, LEGACY_FORGOTTEN_FILE, NULL);
                if (unlink(legacy) < 0 && errno != ENOENT)
                        return negative_errno();
        }
        return fsync_dir(dir);
}

int state_save(const char *dir, const StateSnapshot *s, StateSaveInfo *ret) {
        StateSaveInfo info = { .base = s->full };
        int r = s->full ? write_base(dir, s, &info.base_size) : append_record(dir, s, &info.journal_size);
        if (r >= 0 && ret)
                *ret = info;
        return r;
}



/* Replays the journal over the base; cuts a torn tail off the file so that
 * the next commit follows the last good one. */
static int replay_journal(const char *dir, StateSnapshot *s) {
        g_autofree char *path = g_build_filename(dir, JOURNAL_FILE, NULL);
        g_autofree char *data = NULL;
        gsize len;
        g_autoptr(GError) error = NULL;
        if (!g_file_get_contents(path, &data, &len, &error)) {
                if (g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return 0;
                return error->code == G_FILE_ERROR_ACCES ? -EACCES : -EIO;
        }

        size_t good = 0;
        while (good < len) {
                const char *line = data + good;
                const char *nl = memchr(line, '\n', len - good);
                if (!nl || nl - line < 18 || line[16] != ' ')
                        break;
                const char *json = line + 17;
                size_t jlen = (size_t) (nl - json);
                g_autofree char *sum = line_checksum(json, jlen);
                if (memcmp(sum, line, 16) != 0)
                        break;
                g_autoptr(JsonParser) p = json_parser_new();
                if (!json_parser_load_from_data(p, json, (gssize) jlen, NULL))
                        break;
                JsonNode *root = json_parser_get_root(p);
                if (!root || JSON_NODE_TYPE(root) != JSON_NODE_OBJECT)
                        break;
                int k = state_apply_record(s, json_node_get_object(root));
                if (k < 0)
                        return k; /* a record that checks out but makes no sense: not a torn tail */
                good = (size_t) (nl - data) + 1;
                s->n_journal_records++;
        }
        if (good < len) {
                s->journal_torn = len - good;
                if (truncate(path, (off_t) good) < 0)
                        return negative_errno();
        }
        s->journal_size = good;
        return 0;
}

int state_load(const char *dir, StateSnapshot **ret) {
        g_autofree char *path = g_build_filename(dir, STATE_FILE, NULL);
        g_autofree char *data = NULL;
        gsize len;
        g_autoptr(GError) error = NULL;
        g_autoptr(StateSnapshot) s = NULL;
        int r;

        if (!g_file_get_contents(path, &data, &len, &error)) {
                if (!g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return error->code == G_FILE_ERROR_ACCES ? -EACCES : -EIO;
                s = state_snapshot_new();
                s->version = STATE_VERSION;
        } else {
                r = state_from_data(data, len, &s);
                if (r < 0)
                        return r;
        }

        /* Before version 4 each shot had a file of its own. */
        g_autofree char *shots = g_build_filename(dir, SHOTS_DIR, NULL);
        g_autoptr(GDir) d = g_dir_open(shots, 0, NULL);
        const char *name;
        while (d && (name = g_dir_read_name(d))) {
                if (name[0] == '.' || !g_str_has_suffix(name, ".json"))
                        continue; /* a temporary file a crash left */
                g_autofree char *p = g_build_filename(shots, name, NULL);
                g_autofree char *text = NULL;
                s->version = MIN(s->version, 3u);
                if (!g_file_get_contents(p, &text, &len, NULL) || state_shot_from_data(text, len, s) < 0) {
                        if (!s->bad)
                                s->bad = g_ptr_array_new_with_free_func(g_free);
                        g_ptr_array_add(s->bad, g_steal_pointer(&p));
                }
        }

        r = replay_journal(dir, s);
        if (r < 0)
                return r;
        *ret = g_steal_pointer(&s);
        return 0;
}

/* Calls fn for each whole record of size rsize in name; a torn tail is dropped. */
static int read_records(const char *dir, const char *name, size_t rsize, void (*fn)(const void *rec, void *userdata),
                        void *userdata, nsec_t *ret_written) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (ret_written) {
                struct stat st;
                if (fstat(fd, &st) < 0)
                        return negative_errno();
                *ret_written = (nsec_t) st.st_mtim.tv_sec * NSEC_PER_SEC + st.st_mtim.tv_nsec;
        }

        g_autofree char *buf = g_malloc(rsize * 4096);
        size_t carry = 0;
        for (;;) {
                ssize_t n = read(fd, buf + carry, rsize * 4096 - carry);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                size_t have = carry + (size_t) n;
                size_t whole = have / rsize;
                for (size_t i = 0; i < whole; i++)
                        fn(buf + i * rsize, userdata);
                carry = have % rsize;
                if (n == 0)
                        break; /* a torn tail (carry > 0) is dropped */
                if (carry)
                        memmove(buf, buf + whole * rsize, carry);
        }
        return 0;
}

int state_load_forgotten(const char *dir, void (*fn)(const StateForgotten *f, void *userdata), void *userdata) {
        return read_records(dir, FORGOTTEN_FILE, sizeof(StateForgotten), (void (*)(const void *, void *)) fn, userdata,
                            NULL);
}

int state_load_legacy_forgotten(const char *dir, void (*fn)(const EnginePathKey *k, void *userdata), void *userdata,
                                nsec_t *ret_written) {
        *ret_written = 0;
        return read_records(dir, LEGACY_FORGOTTEN_FILE, sizeof(EnginePathKey), (void (*)(const void *, void *)) fn,
                            userdata, ret_written);
}
