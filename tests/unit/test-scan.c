/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* scan_tree() against a real tree: what counts (regular files in camera
 * folders), what never does (symlinks, FIFOs, sockets, hidden and temporary
 * names, files directly in the root), odd names as plain bytes, the order
 * (mtime, then path), the depth bound, unreadable folders and a missing
 * root. */

#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "scan.h"

#define T0 ((time_t) 1765540000) /* 2025-12-12 12:46:40 UTC */

typedef struct Fixture {
        char *tmp;
        char *root;
} Fixture;

static char *at(Fixture *f, const char *rel) {
        return g_build_filename(f->root, rel, NULL);
}

static void make_dir(Fixture *f, const char *rel) {
        g_autofree char *p = at(f, rel);
        g_assert_cmpint(g_mkdir_with_parents(p, 0755), ==, 0);
}

/* A file with an exact mtime: the order is checked to the nanosecond. */
static void make_file(Fixture *f, const char *rel, time_t sec, long nsec) {
        g_autofree char *p = at(f, rel);
        int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(write(fd, "data", 4), ==, 4);
        const struct timespec ts[2] = { { sec, nsec }, { sec, nsec } };
        g_assert_cmpint(futimens(fd, ts), ==, 0);
        g_assert_cmpint(close(fd), ==, 0);
}

static void make_symlink(Fixture *f, const char *target, const char *rel) {
        g_autofree char *p = at(f, rel);
        g_assert_cmpint(symlink(target, p), ==, 0);
}

/* Removes a tree, making folders a test locked readable again first. */
static void rm_rf(const char *path) {
        struct stat st;
        if (lstat(path, &st) < 0)
                return;
        if (S_ISDIR(st.st_mode)) {
                (void) chmod(path, 0755);
                g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
                g_assert_nonnull(d);
                const char *name;
                while ((name = g_dir_read_name(d))) {
                        g_autofree char *child = g_build_filename(path, name, NULL);
                        rm_rf(child);
                }
        }
        g_assert_cmpint(remove(path), ==, 0);
}

static void setup(Fixture *f, const void *data) {
        GError *error = NULL;
        f->tmp = g_dir_make_tmp("test-scan-XXXXXX", &error);
        g_assert_no_error(error);
        /* Readable by the unprivileged fsuid the permission test takes. */
        g_assert_cmpint(chmod(f->tmp, 0755), ==, 0);
        f->root = g_build_filename(f->tmp, "raw", NULL);
        g_assert_cmpint(mkdir(f->root, 0755), ==, 0);
}

static void teardown(Fixture *f, const void *data) {
        (void) chmod(f->tmp, 0700);
        rm_rf(f->tmp);
        g_free(f->root);
        g_free(f->tmp);
}

static void result_freep(ScanResult **r) {
        scan_result_free(*r);
}

static GPtrArray *paths_of(const ScanResult *r) {
        GPtrArray *a = g_ptr_array_new();
        for (size_t i = 0; i < r->n_entries; i++)
                g_ptr_array_add(a, r->entries[i].path);
        return a;
}

static void assert_paths(const ScanResult *r, const char *const *expected) {
        size_t n = g_strv_length((char **) expected);
        for (size_t i = 0; i < MIN(n, r->n_entries); i++)
                g_assert_cmpstr(r->entries[i].path, ==, expected[i]);
        g_assert_cmpuint(r->n_entries, ==, n);
}

static void test_eligible(Fixture *f, const void *data) {
        make_dir(f, "CamA/20251212");
        make_file(f, "CamA/20251212/a.tiff", T0, 1);
        make_file(f, "CamA/top.tiff", T0, 2);
        make_file(f, "root-file.tiff", T0, 3); /* in no camera folder */

        /* Hidden and temporary names, of files and of folders. */
        make_file(f, "CamA/20251212/.hidden.tiff", T0, 4);
        make_file(f, "CamA/20251212/~$lock.tiff", T0, 4);
        make_file(f, "CamA/20251212/~backup.tiff", T0, 4);
        make_file(f, "CamA/20251212/x.tiff.tmp", T0, 4);
        make_file(f, "CamA/20251212/x.tiff.PART", T0, 4);
        make_file(f, "CamA/20251212/x.tiff.partial", T0, 4);
        make_file(f, "CamA/20251212/x.tiff.CrDownload", T0, 4);
        make_dir(f, "CamA/.sync");
        make_file(f, "CamA/.sync/in-hidden.tiff", T0, 4);
        make_dir(f, "CamA/upload.tmp");
        make_file(f, "CamA/upload.tmp/in-temp.tiff", T0, 4);
        make_dir(f, ".hiddencam/d");
        make_file(f, ".hiddencam/d/f.tiff", T0, 4);

        /* Symlinks of every kind, never followed. */
        make_symlink(f, "a.tiff", "CamA/20251212/link-to-file.tiff");
        make_symlink(f, "..", "CamA/20251212/link-to-parent");
        make_symlink(f, "loop", "CamA/20251212/loop");
        make_symlink(f, "/etc", "CamA/20251212/outside-dir");
        make_symlink(f, "/etc/hostname", "CamA/20251212/outside-file.tiff");
        make_symlink(f, "CamA", "LinkCam");
        make_symlink(f, "/nonexistent/x.tiff", "CamA/dangling.tiff");

        /* A FIFO and a socket: skipped, and the scan must not block on
         * the FIFO. */
        g_autofree char *fifo = at(f, "CamA/20251212/fifo.tiff");
        g_assert_cmpint(mkfifo(fifo, 0644), ==, 0);
        g_autofree char *sock_path = at(f, "CamA/20251212/sock.tiff");
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(s, >=, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        g_assert_cmpuint(strlen(sock_path), <, sizeof sa.sun_path);
        strcpy(sa.sun_path, sock_path);
        g_assert_cmpint(bind(s, (struct sockaddr *) &sa, sizeof sa), ==, 0);

        _cleanup_(result_freep) ScanResult *r = NULL;
        g_assert_cmpint(scan_tree(f->root, 16, &r), ==, 0);
        close(s);

        g_assert_false(r->root_missing);
        g_assert_cmpuint(r->n_errors, ==, 0);
        g_assert_nonnull(r->errors);
        g_assert_null(r->errors[0]);
        assert_paths(r, (const char *const[]) { "CamA/20251212/a.tiff", "CamA/top.tiff", NULL });
        g_assert_cmpint(r->entries[0].mtime, ==, (nsec_t) T0 * NSEC_PER_SEC + 1);
        g_assert_cmpuint(r->entries[0].size, ==, 4);
        g_assert_cmpuint(r->n_dirs, ==, 2); /* CamA, CamA/20251212 */
}

static void test_odd_names(Fixture *f, const void *data) {
        static const char *const names[] = {
                "Cam A/with space.tiff",
                "Cam A/new\nline.tiff",
                "Cam A/bad\xff\xfe utf8.tiff",
                "Cam\xe9/caf\xc3\xa9.tiff",
                "Cam A/tab\tand\\backslash.tiff",
                NULL,
        };
        make_dir(f, "Cam A");
        make_dir(f, "Cam\xe9");
        for (size_t i = 0; names[i]; i++)
                make_file(f, names[i], T0 + (time_t) i, 0);

        _cleanup_(result_freep) ScanResult *r = NULL;
        g_assert_cmpint(scan_tree(f->root, 16, &r), ==, 0);
        assert_paths(r, names);
}

static void test_order(Fixture *f, const void *data) {
        make_dir(f, "A/d");
        make_dir(f, "B");
        /* Directory order and inode order differ from the expected one on
         * purpose: only mtime, then path bytes, decide. */
        make_file(f, "B/z.tiff", T0 + 1, 0);
        make_file(f, "A/d/late.tiff", T0 + 2, 999999999);
        make_file(f, "B/a.tiff", T0 + 1, 0);
        make_file(f, "A/d/early.tiff", T0 - 100, 5);
        make_file(f, "B/ns2.tiff", T0 + 1, 2);
        make_file(f, "B/ns1.tiff", T0 + 1, 1);
        make_file(f, "A/same.tiff", T0 + 1, 0);

        _cleanup_(result_freep) ScanResult *r = NULL;
        g_assert_cmpint(scan_tree(f->root, 16, &r), ==, 0);
        assert_paths(r, (const char *const[]) {
                                "A/d/early.tiff",
                                "A/same.tiff",
                                "B/a.tiff",
                                "B/z.tiff",
                                "B/ns1.tiff",
                                "B/ns2.tiff",
                                "A/d/late.tiff",
                                NULL,
                        });
        for (size_t i = 1; i < r->n_entries; i++)
                g_assert_cmpint(r->entries[i - 1].mtime, <=, r->entries[i].mtime);
        g_assert_cmpint(r->entries[4].mtime, ==, (nsec_t) (T0 + 1) * NSEC_PER_SEC + 1);
}

static void test_depth(Fixture *f, const void *data) {
        make_dir(f, "Cam/d1/d2/d3");
        make_file(f, "Cam/f0.tiff", T0, 0);
        make_file(f, "Cam/d1/f1.tiff", T0 + 1, 0);
        make_file(f, "Cam/d1/d2/f2.tiff", T0 + 2, 0);
        make_file(f, "Cam/d1/d2/d3/f3.tiff", T0 + 3, 0);

        static const char *const all[] = {
                "Cam/f0.tiff", "Cam/d1/f1.tiff", "Cam/d1/d2/f2.tiff", "Cam/d1/d2/d3/f3.tiff", NULL,
        };
        for (unsigned depth = 0; depth <= 4; depth++) {
                _cleanup_(result_freep) ScanResult *r = NULL;
                g_assert_cmpint(scan_tree(f->root, depth, &r), ==, 0);
                g_autoptr(GPtrArray) got = paths_of(r);
                g_assert_cmpuint(got->len, ==, MIN(depth + 1, 4));
                for (unsigned i = 0; i < got->len; i++)
                        g_assert_cmpstr(got->pdata[i], ==, all[i]);
                g_assert_cmpuint(r->n_errors, ==, 0);
        }
}

/* Root is exempt from permissions: as root, take an unprivileged file
 * system uid for the scan (setfsuid drops CAP_DAC_OVERRIDE with it). */
static bool become_unprivileged(void) {
        if (geteuid() != 0)
                return true;
        (void) setfsuid(65534);
        return setfsuid((uid_t) -1) == 65534;
}

static void become_root_again(void) {
        if (geteuid() == 0) {
                (void) setfsuid(0);
                g_assert_cmpint(setfsuid((uid_t) -1), ==, 0);
        }
}

static void test_unreadable(Fixture *f, const void *data) {
        make_dir(f, "CamA/locked/inner");
        make_dir(f, "CamA/open");
        make_dir(f, "CamB");
        make_file(f, "CamA/locked/secret.tiff", T0, 0);
        make_file(f, "CamA/locked/inner/deeper.tiff", T0, 0);
        make_file(f, "CamA/open/a.tiff", T0 + 1, 0);
        make_file(f, "CamB/b.tiff", T0 + 2, 0);
        g_autofree char *locked = at(f, "CamA/locked");
        g_assert_cmpint(chmod(locked, 0), ==, 0);

        if (!become_unprivileged()) {
                g_test_skip("cannot take an unprivileged file system uid");
                return;
        }
        _cleanup_(result_freep) ScanResult *r = NULL;
        int k = scan_tree(f->root, 16, &r);
        become_root_again();
        g_assert_cmpint(k, ==, 0);

        assert_paths(r, (const char *const[]) { "CamA/open/a.tiff", "CamB/b.tiff", NULL });
        g_assert_cmpuint(r->n_errors, ==, 1);
        g_assert_nonnull(r->errors[0]);
        g_assert_null(r->errors[1]);
        g_autofree char *expected = g_strdup_printf("%s/CamA/locked: %s", f->root, g_strerror(EACCES));
        g_assert_cmpstr(r->errors[0], ==, expected);
}

static void test_many_errors(Fixture *f, const void *data) {
        for (unsigned i = 0; i < 40; i++) {
                g_autofree char *rel = g_strdup_printf("Cam/locked%02u", i);
                make_dir(f, rel);
                g_autofree char *p = at(f, rel);
                g_assert_cmpint(chmod(p, 0), ==, 0);
        }
        make_file(f, "Cam/ok.tiff", T0, 0);

        if (!become_unprivileged()) {
                g_test_skip("cannot take an unprivileged file system uid");
                return;
        }
        _cleanup_(result_freep) ScanResult *r = NULL;
        int k = scan_tree(f->root, 16, &r);
        become_root_again();
        g_assert_cmpint(k, ==, 0);

        g_assert_cmpuint(r->n_entries, ==, 1);
        g_assert_cmpuint(r->n_errors, ==, 40);
        g_assert_cmpuint(g_strv_length(r->errors), ==, 16);
}

static void test_missing_root(Fixture *f, const void *data) {
        g_autofree char *missing = g_build_filename(f->tmp, "nope", "raw", NULL);
        _cleanup_(result_freep) ScanResult *r = NULL;
        g_assert_cmpint(scan_tree(missing, 16, &r), ==, 0);
        g_assert_true(r->root_missing);
        g_assert_cmpuint(r->n_entries, ==, 0);
        g_assert_cmpuint(r->n_errors, ==, 0);
        g_assert_nonnull(r->errors);
        g_assert_null(r->errors[0]);

        /* A file where the root should be is not "missing": the admin
         * must hear about it. */
        make_file(f, "CamA", T0, 0);
        g_autofree char *file = at(f, "CamA");
        ScanResult *none = NULL;
        g_assert_cmpint(scan_tree(file, 16, &none), ==, -ENOTDIR);
        g_assert_null(none);
}

static void test_empty(Fixture *f, const void *data) {
        _cleanup_(result_freep) ScanResult *r = NULL;
        g_assert_cmpint(scan_tree(f->root, 16, &r), ==, 0);
        g_assert_false(r->root_missing);
        g_assert_cmpuint(r->n_entries, ==, 0);
        g_assert_cmpuint(r->n_dirs, ==, 0);

        g_assert_null(scan_result_free(NULL));
}

/* The root may itself be a symlink chosen by the admin (RawRoot on another
 * disk); only what is below it is never followed. */
static void test_root_symlink(Fixture *f, const void *data) {
        make_dir(f, "Cam");
        make_file(f, "Cam/a.tiff", T0, 0);
        g_autofree char *link = g_build_filename(f->tmp, "raw-link", NULL);
        g_assert_cmpint(symlink(f->root, link), ==, 0);

        _cleanup_(result_freep) ScanResult *r = NULL;
        g_assert_cmpint(scan_tree(link, 16, &r), ==, 0);
        assert_paths(r, (const char *const[]) { "Cam/a.tiff", NULL });
}


static void set_dir_mtime(Fixture *f, const char *rel, time_t sec) {
        g_autofree char *p = at(f, rel);
        const struct timespec ts[2] = { { sec, 0 }, { sec, 0 } };
        g_assert_cmpint(utimensat(AT_FDCWD, p, ts, 0), ==, 0);
}

/* SPEC §2 rule 16: with a horizon, old files are counted, not listed, and
 * the files of a folder unchanged since before the horizon are not read
 * at all (its sub-folders still are). */
static void test_horizon(Fixture *f, const void *data) {
        time_t horizon = T0 + 3600;
        make_dir(f, "Cam/20251210");
        make_dir(f, "Cam/20251212");
        make_dir(f, "Cam/old/deeper");
        make_file(f, "Cam/20251210/a.tiff", T0 - 86400, 0);    /* an old day's folder */
        make_file(f, "Cam/20251210/b.tiff", T0 - 86400, 1);
        make_file(f, "Cam/20251212/old.tiff", T0, 0);         /* a recent folder, an old file */
        make_file(f, "Cam/20251212/new.tiff", horizon + 5, 0); /* a recent one */
        make_file(f, "Cam/old/deeper/n.tiff", horizon + 9, 0); /* below an old folder, a recent one */
        set_dir_mtime(f, "Cam/20251210", T0 - 86400);
        set_dir_mtime(f, "Cam/old", T0 - 86400);
        set_dir_mtime(f, "Cam/20251212", horizon + 5);
        set_dir_mtime(f, "Cam/old/deeper", horizon + 9);

        _cleanup_(result_freep) ScanResult *r = NULL;
        ScanOptions o = { .max_depth = 16, .horizon = (nsec_t) horizon * NSEC_PER_SEC, .until = INT64_MAX };
        g_assert_cmpint(scan_tree_with(f->root, &o, &r), ==, 0);
        assert_paths(r, (const char *const[]) { "Cam/20251212/new.tiff", "Cam/old/deeper/n.tiff", NULL });
        g_assert_cmpuint(r->n_history, ==, 1);      /* old.tiff: read, too old */
        g_assert_cmpuint(r->n_dirs_passed, ==, 2);  /* 20251210 (not even read: no sub-folder), old */

        /* Without a horizon (--once) everything counts. */
        _cleanup_(result_freep) ScanResult *all = NULL;
        g_assert_cmpint(scan_tree(f->root, 16, &all), ==, 0);
        g_assert_cmpuint(all->n_entries, ==, 5);
        g_assert_cmpuint(all->n_dirs_passed, ==, 0);

        /* --until leaves out what is newer. */
        _cleanup_(result_freep) ScanResult *until = NULL;
        ScanOptions u = { .max_depth = 16, .horizon = INT64_MIN, .until = (nsec_t) (horizon + 6) * NSEC_PER_SEC };
        g_assert_cmpint(scan_tree_with(f->root, &u, &until), ==, 0);
        g_assert_cmpuint(until->n_entries, ==, 4);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

#define T(name, fn) g_test_add("/scan/" name, Fixture, NULL, setup, fn, teardown)
        T("eligible", test_eligible);
        T("odd-names", test_odd_names);
        T("order", test_order);
        T("depth", test_depth);
        T("unreadable", test_unreadable);
        T("many-errors", test_many_errors);
        T("missing-root", test_missing_root);
        T("empty", test_empty);
        T("root-symlink", test_root_symlink);
        T("horizon", test_horizon);
#undef T

        return g_test_run();
}
