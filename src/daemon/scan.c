/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <sys/stat.h>

#include "classify.h"
#include "scan.h"

/* Enough to tell the admin what is wrong without flooding the journal when
 * a whole sub-tree lost its permissions. */
#define SCAN_MAX_ERRORS 16

/* Every level of the walk keeps its folder open: this bounds the number of
 * file descriptors whatever the caller passes. */
#define SCAN_DEPTH_CAP 256U

typedef struct Child {
        ino_t ino;
        size_t name; /* offset into the folder's name buffer */
        unsigned char type;
} Child;

typedef struct Walk {
        const char *root;
        unsigned max_depth;
        nsec_t horizon, until;
        size_t n_dirs_passed, n_history;
        GArray *entries;   /* ScanEntry */
        GPtrArray *errors; /* char* */
        size_t n_errors;
        size_t n_dirs;
        GString *path; /* the folder being read, relative, with a trailing '/' unless it is the root */
} Walk;

#define IN_SET(x, a, b, c) ((x) == (a) || (x) == (b) || (x) == (c))

static void scan_result_freep(ScanResult **r) {
        scan_result_free(*r);
}

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

static void scan_entry_done(ScanEntry *e) {
        g_free(e->path);
}

static void walk_error(Walk *w, const char *name, int error) {
        w->n_errors++;
        if (w->errors->len >= SCAN_MAX_ERRORS)
                return;

        g_autofree char *raw = g_strdup_printf("%s/%s%s", w->root, w->path->str, name ?: "");
        g_autofree char *safe = utf8_escape_invalid(raw);
        g_ptr_array_add(w->errors, g_strdup_printf("%s: %s", safe, g_strerror(error)));
}

static int child_compare_ino(const void *a, const void *b) {
        const Child *x = a, *y = b;
        return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int entry_compare(const void *a, const void *b) {
        const ScanEntry *x = a, *y = b;
        if (x->mtime != y->mtime)
                return x->mtime < y->mtime ? -1 : 1;
        return strcmp(x->path, y->path);
}

static nsec_t ts_nsec(const struct timespec *ts) {
        return (nsec_t) ts->tv_sec * NSEC_PER_SEC + ts->tv_nsec;
}

static void add_entry(Walk *w, const char *name, const struct stat *st) {
        nsec_t mtime = ts_nsec(&st->st_mtim);
        if (mtime < w->horizon || mtime > w->until) {
                w->n_history++;
                return;
        }
        size_t dl = w->path->len, nl = strlen(name);
        char *p = g_malloc(dl + nl + 1);

        memcpy(p, w->path->str, dl);
        memcpy(p + dl, name, nl + 1);

        ScanEntry e = {
                .path = p,
                .mtime = mtime,
                .size = (uint64_t) st->st_size,
        };
        g_array_append_val(w->entries, e);
}

/* Reads one folder through fd (taken over). level 0 is the root, 1 a camera
 * folder: files directly in the root belong to no camera and are skipped. */
static void walk_dir(Walk *w, int fd, unsigned level) {
        _cleanup_(closedirp) DIR *d = fdopendir(fd);
        if (!d) {
                walk_error(w, NULL, errno);
                close(fd);
                return;
        }
        if (level > 0)
                w->n_dirs++;

        /* Unchanged since before the horizon: no file came or went here
         * since, so every file it holds is history. Only its sub-folders
         * may hold news, and a link count of 2 says there are none. */
        bool passed = false;
        struct stat dst;
        if (level > 0 && w->horizon != INT64_MIN && fstat(dirfd(d), &dst) >= 0 && ts_nsec(&dst.st_mtim) < w->horizon) {
                passed = true;
                w->n_dirs_passed++;
                if (dst.st_nlink == 2)
                        return;
        }

        /* Read the whole folder first and stat in inode order: on a cold
         * cache that turns random inode-table reads into mostly sequential
         * ones (what fts and du do). */
        g_autoptr(GArray) kids = g_array_new(false, false, sizeof(Child));
        g_autoptr(GString) names = g_string_new(NULL);
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                walk_error(w, NULL, errno);
                        break;
                }
                if (name_is_hidden_or_temporary(de->d_name))
                        continue; /* also drops "." and ".." */
                if ((level == 0 || passed) && de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
                        continue;
                if (de->d_type == DT_LNK || de->d_type == DT_FIFO || de->d_type == DT_SOCK ||
                    de->d_type == DT_CHR || de->d_type == DT_BLK)
                        continue;

                Child c = { .ino = de->d_ino, .name = names->len, .type = de->d_type };
                g_string_append_len(names, de->d_name, (gssize) strlen(de->d_name) + 1);
                g_array_append_val(kids, c);
        }
        qsort_safe(kids->data, kids->len, sizeof(Child), child_compare_ino);

        size_t base = w->path->len;
        for (guint i = 0; i < kids->len; i++) {
                const Child *c = &g_array_index(kids, Child, i);
                const char *name = names->str + c->name;
                bool is_dir = c->type == DT_DIR;
                struct stat st;

                if (c->type != DT_DIR) {
                        /* Regular files need their mtime anyway; DT_UNKNOWN
                         * (some file systems) needs it to learn the type. */
                        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                                if (errno != ENOENT)
                                        walk_error(w, name, errno);
                                continue;
                        }
                        is_dir = S_ISDIR(st.st_mode);
                        if (!is_dir && (!S_ISREG(st.st_mode) || level == 0 || passed))
                                continue;
                }

                if (!is_dir) {
                        add_entry(w, name, &st);
                        continue;
                }

                if (level > w->max_depth)
                        continue;
                /* O_NOFOLLOW: a folder swapped for a symlink since readdir
                 * fails with ELOOP instead of leading out of the tree. */
                int cfd = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
                if (cfd < 0) {
                        /* Gone, or no longer a folder: the watcher reports
                         * what it became. */
                        if (!IN_SET(errno, ENOENT, ENOTDIR, ELOOP))
                                walk_error(w, name, errno);
                        continue;
                }
                g_string_append(w->path, name);
                g_string_append_c(w->path, '/');
                walk_dir(w, cfd, level + 1);
                g_string_truncate(w->path, base);
        }
}

int scan_tree(const char *root, unsigned max_depth, ScanResult **ret) {
        ScanOptions o = { .max_depth = max_depth, .horizon = INT64_MIN, .until = INT64_MAX };
        return scan_tree_with(root, &o, ret);
}

int scan_tree_with(const char *root, const ScanOptions *o, ScanResult **ret) {
        g_return_val_if_fail(root, -EINVAL);
        g_return_val_if_fail(o, -EINVAL);
        g_return_val_if_fail(ret, -EINVAL);

        _cleanup_(scan_result_freep) ScanResult *r = g_new0(ScanResult, 1);

        /* The root itself may be a symlink the admin chose (RawRoot on
         * another disk); nothing below it is ever followed. */
        int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
                if (errno != ENOENT)
                        return -errno;
                r->root_missing = true;
                r->errors = g_new0(char *, 1);
                *ret = TAKE_PTR(r);
                return 0;
        }

        g_autoptr(GArray) entries = g_array_sized_new(false, false, sizeof(ScanEntry), 1024);
        g_array_set_clear_func(entries, (GDestroyNotify) scan_entry_done);
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GString) path = g_string_new(NULL);
        Walk w = {
                .root = root,
                .max_depth = MIN(o->max_depth, SCAN_DEPTH_CAP),
                .horizon = o->horizon,
                .until = o->until,
                .entries = entries,
                .errors = errors,
                .path = path,
        };
        walk_dir(&w, fd, 0);

        qsort_safe(entries->data, entries->len, sizeof(ScanEntry), entry_compare);

        r->n_entries = entries->len;
        r->n_dirs = w.n_dirs;
        r->n_dirs_passed = w.n_dirs_passed;
        r->n_history = w.n_history;
        r->n_errors = w.n_errors;
        g_array_set_clear_func(entries, NULL);
        r->entries = (ScanEntry *) (void *) g_array_free(TAKE_PTR(entries), false);
        g_ptr_array_add(errors, NULL);
        g_ptr_array_set_free_func(errors, NULL);
        r->errors = (char **) g_ptr_array_free(TAKE_PTR(errors), false);

        *ret = TAKE_PTR(r);
        return 0;
}

typedef struct Remembered {
        nsec_t mtime;
        uint64_t size;
} Remembered;

struct ScanMemory {
        GHashTable *files; /* path → Remembered* */
};

ScanMemory *scan_memory_new(void) {
        ScanMemory *mem = g_new0(ScanMemory, 1);
        mem->files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        return mem;
}

ScanMemory *scan_memory_free(ScanMemory *mem) {
        if (!mem)
                return NULL;
        g_hash_table_unref(mem->files);
        g_free(mem);
        return NULL;
}

void scan_memory_diff(ScanMemory *mem, ScanResult *r, nsec_t horizon, bool full) {
        GHashTable *now = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        size_t kept = 0;
        for (size_t i = 0; i < r->n_entries; i++) {
                ScanEntry *e = &r->entries[i];
                Remembered *was = g_hash_table_lookup(mem->files, e->path);
                bool same = was && was->mtime == e->mtime && was->size == e->size;
                Remembered *rem = g_new(Remembered, 1);
                *rem = (Remembered) { e->mtime, e->size };
                g_hash_table_replace(now, g_strdup(e->path), rem);
                if (same && !full) {
                        g_free(e->path);
                        continue;
                }
                r->entries[kept++] = *e;
        }
        r->n_entries = kept;

        GPtrArray *gone = g_ptr_array_new();
        GHashTableIter it;
        void *k, *v;
        g_hash_table_iter_init(&it, mem->files);
        while (g_hash_table_iter_next(&it, &k, &v))
                if (!g_hash_table_contains(now, k) && ((Remembered *) v)->mtime >= horizon)
                        g_ptr_array_add(gone, g_strdup(k));
        r->n_gone = gone->len;
        g_ptr_array_add(gone, NULL);
        g_strfreev(r->gone);
        r->gone = (char **) g_ptr_array_free(gone, false);

        g_hash_table_unref(mem->files);
        mem->files = now;
}

ScanResult *scan_result_free(ScanResult *r) {
        if (!r)
                return NULL;
        g_strfreev(r->gone);
        for (size_t i = 0; i < r->n_entries; i++)
                g_free(r->entries[i].path);
        g_free(r->entries);
        g_strfreev(r->errors);
        g_free(r);
        return NULL;
}
