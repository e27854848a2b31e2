/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* publish.c against real folders: every mode, every way a publish can fail,
 * and after each failure nothing under the final name and nothing left in
 * .staging. Tests that need a small, read-only or second file system mount
 * tmpfs and bind mounts when run as root, in a private mount namespace, and
 * skip otherwise. Runs with TZ=Europe/Paris (set by meson). */

#include <fcntl.h>
#include <ftw.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <limits.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/statfs.h>

#include "publish.h"

/* The test hook of publish.c (not part of its interface). */
extern void (*publish_test_after_copy)(const char *src, unsigned attempt);

#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* 2026-11-23 14:05:09.123456789 CET: the raw files' mtime. */
#define MTIME_SEC 1795439109
#define MTIME_NSEC 123456789

typedef struct Fixture {
        char *tmp;
        char *raw;
        char *clean;
        GPtrArray *mounts; /* unmounted at teardown, last first */
} Fixture;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        if (flag == FTW_DP || flag == FTW_D)
                (void) chmod(path, 0755);
        (void) remove(path);
        return 0;
}

static void setup(Fixture *f, const void *data) {
        GError *error = NULL;
        f->tmp = g_dir_make_tmp("test-publish-XXXXXX", &error);
        g_assert_no_error(error);
        f->raw = g_build_filename(f->tmp, "raw", NULL);
        f->clean = g_build_filename(f->tmp, "clean", NULL);
        f->mounts = g_ptr_array_new_with_free_func(g_free);
        g_assert_cmpint(g_mkdir(f->raw, 0755), ==, 0);
        g_assert_cmpint(publish_prepare(f->clean), ==, 0);
}

static void teardown(Fixture *f, const void *data) {
        for (guint i = f->mounts->len; i > 0; i--)
                g_assert_cmpint(umount2(f->mounts->pdata[i - 1], MNT_DETACH), ==, 0);
        g_ptr_array_unref(f->mounts);
        (void) nftw(f->tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        g_assert_false(g_file_test(f->tmp, G_FILE_TEST_EXISTS));
        publish_test_after_copy = NULL;
        g_free(f->tmp);
        g_free(f->raw);
        g_free(f->clean);
}

static bool need_root(void) {
        if (geteuid() == 0)
                return true;
        g_test_skip("needs root (mounts)");
        return false;
}

static bool mount_tmpfs(Fixture *f, const char *where, const char *options) {
        if (!need_root())
                return false;
        if (mount("tmpfs", where, "tmpfs", 0, options) < 0) {
                g_autofree char *msg = g_strdup_printf("cannot mount tmpfs: %s", g_strerror(errno));
                g_test_skip(msg);
                return false;
        }
        g_ptr_array_add(f->mounts, g_strdup(where));
        return true;
}

static bool mount_bind(Fixture *f, const char *from, const char *where, bool read_only) {
        if (!need_root())
                return false;
        if (mount(from, where, "none", MS_BIND, NULL) < 0) {
                g_test_skip("cannot bind mount");
                return false;
        }
        g_ptr_array_add(f->mounts, g_strdup(where));
        if (read_only && mount("none", where, "none", MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0) {
                g_test_skip("cannot remount read-only");
                return false;
        }
        return true;
}

static char *raw_file(Fixture *f, const char *name, const void *data, size_t len) {
        char *path = g_build_filename(f->raw, name, NULL);
        g_autofree char *dir = g_path_get_dirname(path);
        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        GError *error = NULL;
        g_file_set_contents(path, data, (gssize) len, &error);
        g_assert_no_error(error);
        const struct timespec ts[2] = { { MTIME_SEC, 0 }, { MTIME_SEC, MTIME_NSEC } };
        g_assert_cmpint(utimensat(AT_FDCWD, path, ts, 0), ==, 0);
        return path;
}

static char *dst_path(Fixture *f, const char *name) {
        return g_build_filename(f->clean, "Cam", "20261123", name, NULL);
}

static void assert_content(const char *path, const void *data, size_t len) {
        g_autofree char *got = NULL;
        gsize n;
        GError *error = NULL;
        g_file_get_contents(path, &got, &n, &error);
        g_assert_no_error(error);
        g_assert_cmpmem(got, n, data, len);
}

static unsigned n_entries(const char *dir) {
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        if (!d)
                return 0;
        unsigned n = 0;
        while (g_dir_read_name(d))
                n++;
        return n;
}

/* Nothing half-written anywhere: no staging file, no temporary file beside
 * the final name (whose folder may hold other, finished files). */
static void assert_no_leftovers(Fixture *f, const char *dst) {
        g_autofree char *staging = g_build_filename(f->clean, STAGING_DIR, NULL);
        g_assert_cmpuint(n_entries(staging), ==, 0);
        g_autofree char *dir = g_path_get_dirname(dst);
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        for (const char *n; d && (n = g_dir_read_name(d));)
                g_assert_false(g_str_has_prefix(n, ".#"));
}

static void assert_absent(const char *path) {
        struct stat st;
        g_assert_cmpint(lstat(path, &st), <, 0);
        g_assert_cmpint(errno, ==, ENOENT);
}

static char *sha256_of(const void *data, size_t len) {
        return g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, len);
}

static void test_copy(Fixture *f, const void *data) {
        g_autofree char *src = raw_file(f, "Cam/20261123/shot_0001.tif", "abc", 3);
        g_autofree char *dst = dst_path(f, "Cam_20261123_140509_shot001.tif");
        PublishResult r;

        /* Modes are explicit, whatever the daemon's umask. */
        mode_t old = umask(0077);
        g_assert_cmpint(publish_file(f->clean, PUBLISH_COPY, src, dst, &r), ==, 0);
        umask(old);

        g_assert_cmpstr(r.sha256, ==, SHA_ABC);
        g_assert_cmpuint(r.size, ==, 3);
        g_assert_false(r.existed);
        g_assert_false(r.fell_back);
        assert_content(dst, "abc", 3);

        struct stat st, sst;
        g_assert_cmpint(lstat(dst, &st), ==, 0);
        g_assert_cmpint(lstat(src, &sst), ==, 0);
        g_assert_true(S_ISREG(st.st_mode));
        g_assert_cmpint(st.st_mode & 07777, ==, 0644);
        g_assert_cmpint(st.st_mtim.tv_sec, ==, MTIME_SEC);
        g_assert_cmpint(st.st_mtim.tv_nsec, ==, MTIME_NSEC);
        g_assert_cmpuint(st.st_ino, !=, sst.st_ino);
        g_assert_cmpuint(sst.st_nlink, ==, 1);

        g_autofree char *dir = g_path_get_dirname(dst);
        g_assert_cmpint(stat(dir, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 07777, ==, 0755);
        assert_no_leftovers(f, dst);
}

static void test_copy_sizes(Fixture *f, const void *data) {
        static const size_t sizes[] = { 0, 1, 4095, 4096, 1 << 20, (1 << 20) + 1, (5 << 20) + 333 };
        GRand *rand = g_rand_new_with_seed(42);

        for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
                g_autofree unsigned char *buf = g_malloc(MAX(sizes[i], 1));
                for (size_t j = 0; j < sizes[i]; j++)
                        buf[j] = (unsigned char) g_rand_int(rand);
                g_autofree char *name = g_strdup_printf("Cam/f%zu.tif", i);
                g_autofree char *dname = g_strdup_printf("f%zu.tif", i);
                g_autofree char *src = raw_file(f, name, buf, sizes[i]);
                g_autofree char *dst = dst_path(f, dname);
                g_autofree char *want = sha256_of(buf, sizes[i]);
                PublishResult r;

                g_assert_cmpint(publish_file(f->clean, PUBLISH_COPY, src, dst, &r), ==, 0);
                g_assert_cmpstr(r.sha256, ==, want);
                g_assert_cmpuint(r.size, ==, sizes[i]);
                assert_content(dst, buf, sizes[i]);
                if (sizes[i] == 0)
                        g_assert_cmpstr(r.sha256, ==, SHA_EMPTY);
        }
        g_rand_free(rand);
}

static void test_republish_same(Fixture *f, const void *data) {
        g_autofree char *src = raw_file(f, "Cam/a.tif", "abc", 3);
        g_autofree char *dst = dst_path(f, "a.tif");
        PublishResult r;
        struct stat before, after;

        g_assert_cmpint(publish_file(f->clean, PUBLISH_COPY, src, dst, &r), ==, 0);
        g_assert_false(r.existed);
        g_assert_cmpint(lstat(dst, &before), ==, 0);

        /* What a crash between the rename and the caller's records leaves. */
        g_assert_cmpint(publish_file(f->clean, PUBLISH_COPY, src, dst, &r), ==, 0);
        g_assert_true(r.existed);
        g_assert_cmpstr(r.sha256, ==, SHA_ABC);
        g_assert_cmpuint(r.size, ==, 3);
        g_assert_cmpint(lstat(dst, &after), ==, 0);
        g_assert_cmpuint(before.st_ino, ==, after.st_ino);
        assert_no_leftovers(f, dst);

        /* Identical content that some other publish put there counts too. */
        g_autofree char *dst2 = dst_path(f, "b.tif");
        g_assert_true(g_file_set_contents(dst2, "abc", 3, NULL));
        g_assert_cmpint(publish_file(f->clean, PUBLISH_REFLINK, src, dst2, &r), ==, 0);
        g_assert_true(r.existed);
        assert_no_leftovers(f, dst2);
}

static void test_existing_different(Fixture *f, const void *data) {
        g_autofree char *src = raw_file(f, "Cam/a.tif", "abc", 3);
        g_autofree char *dst = dst_path(f, "a.tif");
        g_autofree char *dir = g_path_get_dirname(dst);
        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        PublishResult r = { .size = 42 };

        static const char *const others[] = { "abd", "ab", "abcd", "" };
        for (size_t i = 0; i < G_N_ELEMENTS(others); i++) {
                g_assert_true(g_file_set_contents(dst, others[i], -1, NULL));
                const struct timespec ts[2] = { { 1000, 0 }, { 1000, 0 } };
                g_assert_cmpint(utimensat(AT_FDCWD, dst, ts, 0), ==, 0);
                struct stat before, after;
                g_assert_cmpint(lstat(dst, &before), ==, 0);

                for (PublishMode m = 0; m < _PUBLISH_MODE_MAX; m++) {
                        g_assert_cmpint(publish_file(f->clean, m, src, dst, &r), ==, -EEXIST);
                        assert_content(dst, others[i], strlen(others[i]));
                        g_assert_cmpint(lstat(dst, &after), ==, 0);
                        g_assert_cmpuint(before.st_ino, ==, after.st_ino);
                        g_assert_cmpint(after.st_mtim.tv_sec, ==, 1000);
                        g_assert_cmpuint(after.st_nlink, ==, 1);
                        assert_no_leftovers(f, dst);
                }
        }
        /* A failure leaves the result alone. */
        g_assert_cmpuint(r.size, ==, 42);

        /* A folder or a symlink with the name is not our file either. */
        g_assert_cmpint(unlink(dst), ==, 0);
        g_assert_cmpint(g_mkdir(dst, 0755), ==, 0);
        g_assert_cmpint(publish_file(f->clean, PUBLISH_COPY, src, dst, &r), ==, -EEXIST);
        g_assert_cmpint(g_rmdir(dst), ==, 0);
        g_assert_cmpint(symlink(src, dst), ==, 0);
        for (PublishMode m = 0; m < _PUBLISH_MODE_MAX; m++)
                g_assert_cmpint(publish_file(f->clean, m, src, dst, &r), ==, -EEXIST);
        g_assert_true(g_file_test(dst, G_FILE_TEST_IS_SYMLINK));
        assert_no_leftovers(f, dst);
}

static void test_src_missing(Fixture *f, const void *data) {
        g_autofree char *src = g_build_filename(f->raw, "Cam", "gone.tif", NULL);
        g_autofree char *dst = dst_path(f, "gone.tif");
        PublishResult r;

        for (PublishMode m = 0; m < _PUBLISH_MODE_MAX; m++) {
                g_assert_cmpint(publish_file(f->clean, m, src, dst, &r), ==, -ENOENT);
                assert_absent(dst);
                assert_no_leftovers(f, dst);
        }
}

static void test_src_not_regular(Fixture *f, const void *data) {
        g_autofree char *target = raw_file(f, "Cam/real.tif", "abc", 3);
        g_autofree char *link = g_build_filename(f->raw, "Cam", "link.tif", NULL);
        g_autofree char *dangling = g_build_filename(f->raw, "Cam", "dangling.tif", NULL);
        g_autofree char *fifo = g_build_filename(f->raw, "Cam", "fifo.tif", NULL);
        g_autofree char *dir = g_build_filename(f->raw, "Cam", "dir.tif", NULL);
        g_autofree char *dst = dst_path(f, "x.tif");
        g_assert_cmpint(symlink(target, link), ==, 0);
        g_assert_cmpint(symlink("/nonexistent", dangling), ==, 0);
        g_assert_cmpint(mkfifo(fifo, 0644), ==, 0);
        g_assert_cmpint(g_mkdir(dir, 0755), ==, 0);
        PublishResult r;

        /* Nobody ever writes to the FIFO: blocking would hang here. */
        alarm(20);
        for (PublishMode m = 0; m < _PUBLISH_MODE_MAX; m++) {
                g_assert_cmpint(publish_file(f->clean, m, link, dst, &r), ==, -ELOOP);
                g_assert_cmpint(publish_file(f->clean, m, dangling, dst, &r), ==, -ELOOP);
                g_assert_cmpint(publish_file(f->clean, m, fifo, dst, &r), ==, -EINVAL);
                g_assert_cmpint(publish_file(f->clean, m, dir, dst, &r), ==, -EISDIR);
                assert_absent(dst);
                assert_no_leftovers(f, dst);
        }
        alarm(0);

        /* A device: refused before anything is read from it. */
        g_assert_cmpint(publish_file(f->clean, PUBLISH_COPY, "/dev/zero", dst, &r), ==, -EINVAL);
        g_assert_cmpint(publish_file(f->clean, PUBLISH_HARDLINK, "/dev/null", dst, &r), ==, -EINVAL);
        assert_absent(dst);
}

static void test_bad_arguments(Fixture *f, const void *data) {
        g_autofree char *src = raw_file(f, "Cam/a.tif", "abc", 3);
        g_autofree char *outside = g_build_filename(f->tmp, "outside.tif", NULL);
        g_autofree char *climb = g_build_filename(f->clean, "Cam", "..", "..", "outside.tif", NULL);
        g_autofree char *staging = g_build_filename(f->clean, STAGING_DIR, "x.tif", NULL);
        g_autofree char *twice = g_strdup_printf("%s/Cam//x.tif", f->clean);
        g_autofree char *dst = dst_path(f, "x.tif");
        g_autofree char *prefix = g_strdup_printf("%s2/x.tif", f->clean);
        PublishResult r;

        const char *const bad[] = { outside, climb, staging, twice, prefix, f->clean, "relative/x.tif" };
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_assert_cmpint(publish_file(f->clean, PUBLISH_COPY, src, bad[i], &r), ==, -EINVAL);
                g_assert_cmpint(publish_replace(f->clean, bad[i], "x", 1), ==, -EINVAL);
        }
        assert_absent(outside);
        g_assert_cmpint(publish_file(f->clean, PUBLISH_COPY, "raw/Cam/a.tif", dst, &r), ==, -EINVAL);
        g_assert_cmpint(publish_file(f->clean, _PUBLISH_MODE_MAX, src, dst, &r), ==, -EINVAL);
        g_assert_cmpint(publish_prepare("relative"), ==, -EINVAL);
        assert_absent(dst);

        /* A trailing slash on the root is fine; a missing root is a disk not
         * mounted yet, not a vanished raw file. */
        g_autofree char *slashed = g_strconcat(f->clean, "/", NULL);
        g_assert_cmpint(publish_file(slashed, PUBLISH_COPY, src, dst, &r), ==, 0);
        g_autofree char *nowhere = g_build_filename(f->tmp, "nowhere", NULL);
        g_autofree char *dst2 = g_build_filename(nowhere, "Cam", "x.tif", NULL);
        g_assert_cmpint(publish_file(nowhere, PUBLISH_COPY, src, dst2, &r), ==, -ENOMEDIUM);
        g_autofree char *m = g_build_filename(nowhere, "shots", "x.json", NULL);
        g_assert_cmpint(publish_replace(nowhere, m, "x", 1), ==, -ENOMEDIUM);
        assert_absent(nowhere);
}

static void test_hardlink(Fixture *f, const void *data) {
        g_autofree char *src = raw_file(f, "Cam/a.tif", "abc", 3);
        g_autofree char *dst = dst_path(f, "a.tif");
        PublishResult r;
        struct stat sst, dstst;

        g_assert_cmpint(chmod(src, 0640), ==, 0);
        g_assert_cmpint(publish_file(f->clean, PUBLISH_HARDLINK, src, dst, &r), ==, 0);
        g_assert_false(r.fell_back);
        g_assert_false(r.existed);
        g_assert_cmpstr(r.sha256, ==, SHA_ABC);
        g_assert_cmpuint(r.size, ==, 3);
        g_assert_cmpint(lstat(src, &sst), ==, 0);
        g_assert_cmpint(lstat(dst, &dstst), ==, 0);
        g_assert_cmpuint(sst.st_ino, ==, dstst.st_ino);
        g_assert_cmpuint(sst.st_nlink, ==, 2);
        /* Linking never touches the raw file's mode or times. */
        g_assert_cmpint(sst.st_mode & 07777, ==, 0640);
        g_assert_cmpint(sst.st_mtim.tv_nsec, ==, MTIME_NSEC);
        assert_no_leftovers(f, dst);

        /* Linked already: the same inode. */
        g_assert_cmpint(publish_file(f->clean, PUBLISH_HARDLINK, src, dst, &r), ==, 0);
        g_assert_true(r.existed);
        g_assert_cmpstr(r.sha256, ==, SHA_ABC);
        g_assert_cmpint(lstat(src, &sst), ==, 0);
        g_assert_cmpuint(sst.st_nlink, ==, 2);

        /* Another inode, same bytes (published by copy before a Mode=
         * change): as good. */
        g_autofree char *dst2 = dst_path(f, "b.tif");
        g_assert_true(g_file_set_contents(dst2, "abc", 3, NULL));
        g_assert_cmpint(publish_file(f->clean, PUBLISH_HARDLINK, src, dst2, &r), ==, 0);
        g_assert_true(r.existed);
        g_assert_cmpint(lstat(src, &sst), ==, 0);
        g_assert_cmpuint(sst.st_nlink, ==, 2);

        /* Another inode, other bytes: left alone. */
        g_autofree char *dst3 = dst_path(f, "c.tif");
        g_assert_true(g_file_set_contents(dst3, "xyz", 3, NULL));
        g_assert_cmpint(publish_file(f->clean, PUBLISH_HARDLINK, src, dst3, &r), ==, -EEXIST);
        assert_content(dst3, "xyz", 3);
        g_assert_cmpint(lstat(src, &sst), ==, 0);
        g_assert_cmpuint(sst.st_nlink, ==, 2);
        assert_no_leftovers(f, dst3);
}

static void test_hardlink_cross_fs(Fixture *f, const void *data) {
        if (!mount_tmpfs(f, f->clean, "size=1m"))
                return;
        g_assert_cmpint(publish_prepare(f->clean), ==, 0);
        g_autofree char *src = raw_file(f, "Cam/a.tif", "abc", 3);
        g_autofree char *dst = dst_path(f, "a.tif");
        PublishResult r;
        struct stat st;

        g_assert_cmpint(publish_file(f->clean, PUBLISH_HARDLINK, src, dst, &r), ==, 0);
        g_assert_true(r.fell_back);
        g_assert_false(r.existed);
        g_assert_cmpstr(r.sha256, ==, SHA_ABC);
        g_assert_cmpint(lstat(dst, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 07777, ==, 0644);
        g_assert_cmpint(st.st_mtim.tv_nsec, ==, MTIME_NSEC);
        assert_content(dst, "abc", 3);
        assert_no_leftovers(f, dst);

        g_assert_cmpint(publish_file(f->clean, PUBLISH_HARDLINK, src, dst, &r), ==, 0);
        g_assert_true(r.existed);
}

static bool fs_cannot_reflink(const char *path) {
        struct statfs sf;
        g_assert_cmpint(statfs(path, &sf), ==, 0);
        return sf.f_type == EXT4_SUPER_MAGIC || sf.f_type == TMPFS_MAGIC;
}

static void test_reflink(Fixture *f, const void *data) {
        g_autofree char *src = raw_file(f, "Cam/a.tif", "abc", 3);
        g_autofree char *dst = dst_path(f, "a.tif");
        PublishResult r;
        struct stat st, sst;

        g_assert_cmpint(publish_file(f->clean, PUBLISH_REFLINK, src, dst, &r), ==, 0);
        if (fs_cannot_reflink(f->clean))
                g_assert_true(r.fell_back);
        g_test_message("reflink fell back: %s", r.fell_back ? "yes" : "no");
        g_assert_false(r.existed);
        g_assert_cmpstr(r.sha256, ==, SHA_ABC);
        g_assert_cmpuint(r.size, ==, 3);
        assert_content(dst, "abc", 3);
        g_assert_cmpint(lstat(dst, &st), ==, 0);
        g_assert_cmpint(lstat(src, &sst), ==, 0);
        g_assert_cmpuint(st.st_ino, !=, sst.st_ino);
        g_assert_cmpint(st.st_mode & 07777, ==, 0644);
        g_assert_cmpint(st.st_mtim.tv_nsec, ==, MTIME_NSEC);
        assert_no_leftovers(f, dst);
}

static void test_reflink_tmpfs(Fixture *f, const void *data) {
        if (!mount_tmpfs(f, f->tmp, "size=4m"))
                return;
        g_assert_cmpint(g_mkdir(f->raw, 0755), ==, 0);
        g_assert_cmpint(publish_prepare(f->clean), ==, 0);
        g_autofree char *src = raw_file(f, "Cam/a.tif", "abc", 3);
        g_autofree char *dst = dst_path(f, "a.tif");
        PublishResult r;

        g_assert_cmpint(publish_file(f->clean, PUBLISH_REFLINK, src, dst, &r), ==, 0);
        g_assert_true(r.fell_back);
        g_assert_cmpstr(r.sha256, ==, SHA_ABC);
        assert_content(dst, "abc", 3);
        assert_no_leftovers(f, dst);
}

/* What the hook does to src after a copy attempt. */
static struct {
        unsigned calls;
        unsigned change_until; /* rewrite src after attempts 1..change_until */
        bool unlink;
} hook;

static void hook_change(const char *src, unsigned attempt) {
        hook.calls++;
        if (hook.unlink) {
                if (attempt == 1)
                        g_assert_cmpint(unlink(src), ==, 0);
                return;
        }
        if (attempt > hook.change_until)
                return;
        /* Rewritten in place, as a slow writer would: a new size and mtime, so
         * the change shows whatever the timestamp granularity. */
        g_autofree char *text = g_strdup_printf("rewritten %u %.*s", attempt, (int) attempt, "xxxxxxxx");
        int fd = open(src, O_WRONLY | O_TRUNC | O_CLOEXEC);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(write(fd, text, strlen(text)), ==, (ssize_t) strlen(text));
        const struct timespec ts[2] = { { MTIME_SEC, 0 }, { MTIME_SEC + attempt, 0 } };
        g_assert_cmpint(futimens(fd, ts), ==, 0);
        g_assert_cmpint(close(fd), ==, 0);
}

/* A file nobody touches is read once: no retry, whatever the mode (linking
 * changes the ctime, and must not count as a change). */
static void test_src_stable(Fixture *f, const void *data) {
        for (PublishMode m = 0; m < _PUBLISH_MODE_MAX; m++) {
                g_autofree char *name = g_strdup_printf("Cam/a%d.tif", m);
                g_autofree char *dname = g_strdup_printf("a%d.tif", m);
                g_autofree char *src = raw_file(f, name, "abc", 3);
                g_autofree char *dst = dst_path(f, dname);
                PublishResult r;

                hook = (typeof(hook)) {};
                publish_test_after_copy = hook_change;
                g_assert_cmpint(publish_file(f->clean, m, src, dst, &r), ==, 0);
                publish_test_after_copy = NULL;
                g_assert_cmpuint(hook.calls, ==, 1);
                g_assert_cmpstr(r.sha256, ==, SHA_ABC);
        }
}

static void test_src_changes_once(Fixture *f, const void *data) {
        for (PublishMode m = 0; m < _PUBLISH_MODE_MAX; m++) {
                g_autofree char *name = g_strdup_printf("Cam/a%d.tif", m);
                g_autofree char *dname = g_strdup_printf("a%d.tif", m);
                g_autofree char *src = raw_file(f, name, "abc", 3);
                g_autofree char *dst = dst_path(f, dname);
                const char *want = "rewritten 1 x";
                g_autofree char *want_sha = sha256_of(want, strlen(want));
                PublishResult r;

                hook = (typeof(hook)) { .change_until = 1 };
                publish_test_after_copy = hook_change;
                g_assert_cmpint(publish_file(f->clean, m, src, dst, &r), ==, 0);
                publish_test_after_copy = NULL;

                g_assert_cmpuint(hook.calls, ==, 2);
                g_assert_cmpstr(r.sha256, ==, want_sha);
                g_assert_cmpuint(r.size, ==, strlen(want));
                assert_content(dst, want, strlen(want));
                struct stat st;
                g_assert_cmpint(lstat(dst, &st), ==, 0);
                g_assert_cmpint(st.st_mtim.tv_sec, ==, MTIME_SEC + 1);
                assert_no_leftovers(f, dst);
        }
}

static void test_src_never_settles(Fixture *f, const void *data) {
        for (PublishMode m = 0; m < _PUBLISH_MODE_MAX; m++) {
                g_autofree char *src = raw_file(f, "Cam/a.tif", "abc", 3);
                g_autofree char *dst = dst_path(f, "a.tif");
                PublishResult r;

                hook = (typeof(hook)) { .change_until = UINT_MAX };
                publish_test_after_copy = hook_change;
                g_assert_cmpint(publish_file(f->clean, m, src, dst, &r), ==, -EAGAIN);
                publish_test_after_copy = NULL;

                g_assert_cmpuint(hook.calls, ==, 3);
                assert_absent(dst);
                assert_no_leftovers(f, dst);
                struct stat st;
                g_assert_cmpint(lstat(src, &st), ==, 0);
                g_assert_cmpuint(st.st_nlink, ==, 1);
        }
}

static void test_src_vanishes(Fixture *f, const void *data) {
        for (PublishMode m = 0; m < _PUBLISH_MODE_MAX; m++) {
                g_autofree char *src = raw_file(f, "Cam/a.tif", "abc", 3);
                g_autofree char *dst = dst_path(f, "a.tif");
                PublishResult r;

                hook = (typeof(hook)) { .unlink = true };
                publish_test_after_copy = hook_change;
                int ret = publish_file(f->clean, m, src, dst, &r);
                publish_test_after_copy = NULL;

                if (m == PUBLISH_HARDLINK) {
                        /* Linked before it went: the clean name holds it. */
                        g_assert_cmpint(ret, ==, 0);
                        g_assert_cmpuint(hook.calls, ==, 2);
                        g_assert_cmpstr(r.sha256, ==, SHA_ABC);
                        assert_content(dst, "abc", 3);
                        g_assert_cmpint(unlink(dst), ==, 0);
                } else {
                        g_assert_cmpint(ret, ==, -ENOENT);
                        g_assert_cmpuint(hook.calls, ==, 1);
                        assert_absent(dst);
                }
                assert_no_leftovers(f, dst);
        }
}

/* Stores into a shared mapping of src whose page is already dirty: no
 * page fault, so neither mtime nor ctime moves, only the bytes. in_tick:
 * src's last change was still in the coarse clock's current tick when the
 * copy had been taken, so the copy had to be checked after the fact. */
static struct {
        char *map;
        unsigned calls;
        bool in_tick;
} store;

static void hook_store_via_map(const char *src, unsigned attempt) {
        if (store.calls++ > 0)
                return;
        struct stat before, after;
        struct timespec now;
        g_assert_cmpint(stat(src, &before), ==, 0);
        g_assert_cmpint(clock_gettime(CLOCK_REALTIME_COARSE, &now), ==, 0);
        memcpy(store.map, "xyz", 3);
        g_assert_cmpint(stat(src, &after), ==, 0);
        store.in_tick = (before.st_ctim.tv_sec > now.tv_sec ||
                         (before.st_ctim.tv_sec == now.tv_sec && before.st_ctim.tv_nsec >= now.tv_nsec)) &&
                        before.st_ctim.tv_sec == after.st_ctim.tv_sec && before.st_ctim.tv_nsec == after.st_ctim.tv_nsec;
}

/* A file staged within the coarse clock's tick of its last change (a
 * shot's last file, just renamed in) is copied at once, not after that
 * tick, and checked once the tick has passed: bytes that changed unseen by
 * stat meanwhile (a write through a mapping, a write whose time was stamped
 * before the copy began) are copied again, never staged stale or torn.
 * Rounds until a few stores fell in the tick (most do: a round takes µs). */
static void test_stage_changed_unseen(Fixture *f, const void *data) {
        const PublishMode modes[] = { PUBLISH_COPY, PUBLISH_REFLINK };
        g_autofree char *sha_old = sha256_of("abc", 3);
        g_autofree char *sha_new = sha256_of("xyz", 3);
        g_autofree char *dir = g_build_filename(f->raw, "Cam", NULL);
        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
                unsigned in_tick = 0;
                for (unsigned round = 0; round < 200 && in_tick < 3; round++) {
                        g_autofree char *src = g_strdup_printf("%s/m%zu-%u.tif", dir, i, round);
                        g_autofree char *dname = g_strdup_printf("m%zu-%u.tif", i, round);
                        g_autofree char *dst = dst_path(f, dname);
                        StagedFile sf = {};
                        PublishResult r;

                        int fd = open(src, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                        g_assert_cmpint(fd, >=, 0);
                        g_assert_cmpint(ftruncate(fd, 3), ==, 0);
                        store.map = mmap(NULL, 3, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                        g_assert_true(store.map != MAP_FAILED);
                        g_assert_cmpint(close(fd), ==, 0);
                        memcpy(store.map, "abc", 3); /* the page fault: dirty and writable from now on */

                        store.calls = 0;
                        store.in_tick = false;
                        publish_test_after_copy = hook_store_via_map;
                        g_assert_cmpint(publish_stage(f->clean, modes[i], src, dst, &sf), ==, 0);
                        publish_test_after_copy = NULL;
                        g_assert_cmpint(munmap(store.map, 3), ==, 0);
                        if (store.in_tick) {
                                in_tick++;
                                g_assert_cmpuint(store.calls, ==, 2);
                                g_assert_cmpstr(sf.result.sha256, ==, sha_new);
                        } else
                                g_assert_true(streq(sf.result.sha256, sha_new) || streq(sf.result.sha256, sha_old));
                        g_assert_cmpint(publish_stage_sync(f->clean, &sf), ==, 0);
                        g_assert_cmpint(publish_finish(f->clean, src, dst, &sf, &r), ==, 0);
                        staged_file_clear(&sf);
                        assert_content(dst, streq(r.sha256, sha_new) ? "xyz" : "abc", 3);
                        assert_no_leftovers(f, dst);
                }
                g_test_message("mode %d: %u stores within the tick", modes[i], in_tick);
                g_assert_cmpuint(in_tick, >, 0);
        }
}

/* A file left alone is staged in one copy, however recent. */
static void test_stage_recent(Fixture *f, const void *data) {
        g_autofree char *src = raw_file(f, "Cam/s.tif", "abc", 3);
        g_autofree char *dst = dst_path(f, "s.tif");
        StagedFile sf = {};
        PublishResult r;

        hook = (typeof(hook)) {};
        publish_test_after_copy = hook_change;
        g_assert_cmpint(publish_stage(f->clean, PUBLISH_COPY, src, dst, &sf), ==, 0);
        publish_test_after_copy = NULL;
        g_assert_cmpuint(hook.calls, ==, 1);
        g_assert_cmpstr(sf.result.sha256, ==, SHA_ABC);
        g_assert_cmpint(publish_finish(f->clean, src, dst, &sf, &r), ==, 0);
        staged_file_clear(&sf);
        assert_content(dst, "abc", 3);
        assert_no_leftovers(f, dst);
}

/* A staged copy removed under the daemon (the staging folder emptied): the
 * finish says so as ESTALE, so that the file is published afresh and the
 * copy never handed back, not EAGAIN, retried for ever. */
static void test_stage_gone(Fixture *f, const void *data) {
        g_autofree char *src = raw_file(f, "Cam/g.tif", "abc", 3);
        g_autofree char *dst = dst_path(f, "g.tif");
        StagedFile sf = {};
        PublishResult r;

        g_assert_cmpint(publish_stage(f->clean, PUBLISH_COPY, src, dst, &sf), ==, 0);
        g_autofree char *tmp = g_build_filename(f->clean, sf.tmp, NULL);
        g_assert_cmpint(unlink(tmp), ==, 0);
        g_assert_cmpint(publish_finish(f->clean, src, dst, &sf, &r), ==, -ESTALE);
        g_assert_false(g_file_test(dst, G_FILE_TEST_EXISTS));
        staged_file_clear(&sf);

        /* The whole staging folder gone. */
        g_assert_cmpint(publish_stage(f->clean, PUBLISH_COPY, src, dst, &sf), ==, 0);
        g_autofree char *tmp2 = g_build_filename(f->clean, sf.tmp, NULL);
        g_autofree char *folder = g_path_get_dirname(tmp2);
        g_assert_cmpint(unlink(tmp2), ==, 0);
        g_assert_cmpint(rmdir(folder), ==, 0);
        g_assert_cmpint(publish_finish(f->clean, src, dst, &sf, &r), ==, -ESTALE);
        staged_file_clear(&sf);
}

static void test_enospc(Fixture *f, const void *data) {
        if (!mount_tmpfs(f, f->clean, "size=64k"))
                return;
        g_assert_cmpint(publish_prepare(f->clean), ==, 0);
        g_autofree char *big = g_malloc0(1 << 20);
        g_autofree char *src = raw_file(f, "Cam/big.tif", big, 1 << 20);
        g_autofree char *dst = dst_path(f, "big.tif");
        PublishResult r;

        for (PublishMode m = 0; m < _PUBLISH_MODE_MAX; m++) {
                g_assert_cmpint(publish_file(f->clean, m, src, dst, &r), ==, -ENOSPC);
                assert_absent(dst);
                assert_no_leftovers(f, dst);
        }
        g_autofree char *mpath = manifest_path(f->clean, 20261123, 1);
        g_assert_cmpint(publish_replace(f->clean, mpath, big, 1 << 20), ==, -ENOSPC);
        assert_absent(mpath);
        assert_no_leftovers(f, mpath);

        /* The space of the failed attempts came back. */
        g_autofree char *small = raw_file(f, "Cam/small.tif", "abc", 3);
        g_autofree char *dst2 = dst_path(f, "small.tif");
        g_assert_cmpint(publish_file(f->clean, PUBLISH_COPY, small, dst2, &r), ==, 0);
        g_assert_cmpstr(r.sha256, ==, SHA_ABC);
}

static void test_read_only(Fixture *f, const void *data) {
        g_autofree char *src = raw_file(f, "Cam/a.tif", "abc", 3);
        g_autofree char *dst = dst_path(f, "a.tif");
        g_autofree char *dst_new_dir = g_build_filename(f->clean, "Other", "20261123", "a.tif", NULL);
        g_autofree char *mpath = manifest_path(f->clean, 20261123, 1);
        g_autofree char *staging = g_build_filename(f->clean, STAGING_DIR, NULL);
        g_autofree char *dir = g_path_get_dirname(dst);
        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        int want;
        PublishResult r;

        if (geteuid() == 0) {
                /* root ignores permissions: a read-only mount then. */
                if (!mount_bind(f, f->clean, f->clean, true))
                        return;
                want = -EROFS;
        } else {
                g_assert_cmpint(chmod(staging, 0555), ==, 0);
                g_assert_cmpint(chmod(dir, 0555), ==, 0);
                g_assert_cmpint(chmod(f->clean, 0555), ==, 0);
                want = -EACCES;
        }

        for (PublishMode m = 0; m < _PUBLISH_MODE_MAX; m++) {
                g_assert_cmpint(publish_file(f->clean, m, src, dst, &r), ==, want);
                g_assert_cmpint(publish_file(f->clean, m, src, dst_new_dir, &r), ==, want);
                assert_absent(dst);
                assert_absent(dst_new_dir);
                assert_no_leftovers(f, dst);
        }
        g_assert_cmpint(publish_replace(f->clean, mpath, "{}", 2), ==, want);
        assert_absent(mpath);
        if (geteuid() != 0) {
                g_assert_cmpint(chmod(f->clean, 0755), ==, 0);
                g_assert_cmpint(chmod(dir, 0755), ==, 0);
                g_assert_cmpint(chmod(staging, 0700), ==, 0);
        }
}

/* A clean subfolder on another file system, or bind-mounted from elsewhere
 * on the same one: rename() from .staging cannot reach it. */
static void test_other_fs_below_root(Fixture *f, const void *data) {
        if (!need_root())
                return;
        g_autofree char *cam = g_build_filename(f->clean, "Cam", NULL);
        g_autofree char *shots = g_build_filename(f->clean, "shots", NULL);
        g_autofree char *bind = g_build_filename(f->clean, "Bind", NULL);
        g_autofree char *elsewhere = g_build_filename(f->tmp, "elsewhere", NULL);
        g_assert_cmpint(g_mkdir(cam, 0755), ==, 0);
        g_assert_cmpint(g_mkdir(shots, 0755), ==, 0);
        g_assert_cmpint(g_mkdir(bind, 0755), ==, 0);
        g_assert_cmpint(g_mkdir(elsewhere, 0755), ==, 0);
        if (!mount_tmpfs(f, cam, "size=1m") || !mount_tmpfs(f, shots, "size=1m") ||
            !mount_bind(f, elsewhere, bind, false))
                return;

        g_autofree char *src = raw_file(f, "Cam/a.tif", "abc", 3);
        PublishResult r;

        for (PublishMode m = 0; m < _PUBLISH_MODE_MAX; m++) {
                g_autofree char *name = g_strdup_printf("a%d.tif", m);
                g_autofree char *d1 = g_build_filename(cam, "20261123", name, NULL);
                g_autofree char *d2 = g_build_filename(bind, "20261123", name, NULL);
                g_assert_cmpint(publish_file(f->clean, m, src, d1, &r), ==, 0);
                g_assert_cmpstr(r.sha256, ==, SHA_ABC);
                assert_content(d1, "abc", 3);
                assert_no_leftovers(f, d1);
                g_assert_cmpint(publish_file(f->clean, m, src, d2, &r), ==, 0);
                g_assert_cmpstr(r.sha256, ==, SHA_ABC);
                assert_content(d2, "abc", 3);
                assert_no_leftovers(f, d2);
                g_assert_cmpint(publish_file(f->clean, m, src, d1, &r), ==, 0);
                g_assert_true(r.existed);
        }

        g_autofree char *mpath = manifest_path(f->clean, 20261123, 1);
        g_assert_cmpint(publish_replace(f->clean, mpath, "{}\n", 3), ==, 0);
        g_assert_cmpint(publish_replace(f->clean, mpath, "{ }\n", 4), ==, 0);
        assert_content(mpath, "{ }\n", 4);
        assert_no_leftovers(f, mpath);
}

static void test_prepare(Fixture *f, const void *data) {
        g_autofree char *staging = g_build_filename(f->clean, STAGING_DIR, NULL);
        g_autofree char *keep = g_build_filename(f->tmp, "keep", NULL);
        g_autofree char *keep_file = g_build_filename(keep, "precious", NULL);
        g_autofree char *left1 = g_build_filename(staging, ".#publish-0123456789abcdef", NULL);
        g_autofree char *left2 = g_build_filename(staging, "stray", NULL);
        g_autofree char *sub = g_build_filename(staging, "sub", "deeper", NULL);
        g_autofree char *sub_file = g_build_filename(sub, "x", NULL);
        g_autofree char *link = g_build_filename(staging, "link", NULL);
        g_autofree char *sublink = g_build_filename(staging, "sub", "dirlink", NULL);
        struct stat st;

        g_assert_cmpint(lstat(staging, &st), ==, 0);
        g_assert_true(S_ISDIR(st.st_mode));
        g_assert_cmpint(g_mkdir(keep, 0755), ==, 0);
        g_assert_true(g_file_set_contents(keep_file, "x", 1, NULL));
        g_assert_true(g_file_set_contents(left1, "half", 4, NULL));
        g_assert_true(g_file_set_contents(left2, "", 0, NULL));
        g_assert_cmpint(g_mkdir_with_parents(sub, 0755), ==, 0);
        g_assert_true(g_file_set_contents(sub_file, "x", 1, NULL));
        g_assert_cmpint(symlink(keep_file, link), ==, 0);
        g_assert_cmpint(symlink(keep, sublink), ==, 0);

        g_assert_cmpint(publish_prepare(f->clean), ==, 0);
        g_assert_cmpuint(n_entries(staging), ==, 0);
        assert_content(keep_file, "x", 1);
        g_assert_cmpint(publish_prepare(f->clean), ==, 0);

        /* A .staging that is a symlink is refused, never followed. */
        g_assert_cmpint(g_rmdir(staging), ==, 0);
        g_assert_cmpint(symlink(keep, staging), ==, 0);
        g_assert_cmpint(publish_prepare(f->clean), ==, -ENOTDIR);
        g_autofree char *src = raw_file(f, "Cam/a.tif", "abc", 3);
        g_autofree char *dst = dst_path(f, "a.tif");
        PublishResult r;
        g_assert_cmpint(publish_file(f->clean, PUBLISH_COPY, src, dst, &r), ==, -ENOTDIR);
        assert_absent(dst);
        assert_content(keep_file, "x", 1);
        g_assert_cmpuint(n_entries(keep), ==, 1);

        /* A deep root that does not exist yet is created, 0755. */
        g_autofree char *deep = g_build_filename(f->tmp, "a", "b", "clean", NULL);
        mode_t old = umask(0077);
        g_assert_cmpint(publish_prepare(deep), ==, 0);
        umask(old);
        g_assert_cmpint(stat(deep, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 07777, ==, 0755);
        g_autofree char *deep_staging = g_build_filename(deep, STAGING_DIR, NULL);
        g_assert_cmpint(stat(deep_staging, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 07777, ==, 0700);

        /* A removed .staging is made again when needed. */
        g_assert_cmpint(g_rmdir(deep_staging), ==, 0);
        g_autofree char *dst2 = g_build_filename(deep, "Cam", "a.tif", NULL);
        g_assert_cmpint(publish_file(deep, PUBLISH_COPY, src, dst2, &r), ==, 0);
}

static void test_replace(Fixture *f, const void *data) {
        g_autofree char *path = manifest_path(f->clean, 20261123, 7);
        struct stat st;

        mode_t old = umask(0077);
        g_assert_cmpint(publish_replace(f->clean, path, "first\n", 6), ==, 0);
        umask(old);
        assert_content(path, "first\n", 6);
        g_assert_cmpint(stat(path, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 07777, ==, 0644);

        /* A reader that opened the old version keeps reading it whole: the
         * new one replaced the name, not the bytes. */
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(publish_replace(f->clean, path, "second version\n", 15), ==, 0);
        char buf[32] = {};
        g_assert_cmpint(pread(fd, buf, sizeof buf, 0), ==, 6);
        g_assert_cmpstr(buf, ==, "first\n");
        g_assert_cmpint(close(fd), ==, 0);
        assert_content(path, "second version\n", 15);
        g_assert_cmpint(publish_replace(f->clean, path, NULL, 0), ==, 0);
        assert_content(path, "", 0);
        assert_no_leftovers(f, path);
}

static void test_odd_names(Fixture *f, const void *data) {
        const char *camera = "Cam \n\xff";
        g_autofree char *rel = g_strdup_printf("%s/sub dir/shot 1\n\xfe\x80.TIF", camera);
        g_autofree char *src = raw_file(f, rel, "abc", 3);
        g_autofree char *dst = clean_file_path(f->clean, camera, 20261123, 1, (nsec_t) MTIME_SEC * NSEC_PER_SEC, 0,
                                               ".tif");
        PublishResult r;

        g_autofree char *want =
                g_strdup_printf("%s/Cam \n\xff/20261123/Cam \n\xff_20261123_140509_shot001.tif", f->clean);
        g_assert_cmpstr(dst, ==, want);
        for (PublishMode m = 0; m < _PUBLISH_MODE_MAX; m++) {
                g_assert_cmpint(publish_file(f->clean, m, src, dst, &r), ==, 0);
                g_assert_cmpstr(r.sha256, ==, SHA_ABC);
                g_assert_cmpint(r.existed, ==, m > 0);
                assert_content(dst, "abc", 3);
        }
        assert_no_leftovers(f, dst);
}

static void test_sha256(Fixture *f, const void *data) {
        g_autofree char *src = raw_file(f, "a", "abc", 3);
        char sha[65];
        uint64_t size;

        /* From the start, whatever the descriptor's position. */
        int fd = open(src, O_RDONLY | O_CLOEXEC);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(lseek(fd, 0, SEEK_END), ==, 3);
        g_assert_cmpint(file_sha256(fd, sha, &size), ==, 0);
        g_assert_cmpstr(sha, ==, SHA_ABC);
        g_assert_cmpuint(size, ==, 3);
        g_assert_cmpint(file_sha256(fd, sha, NULL), ==, 0);
        g_assert_cmpint(close(fd), ==, 0);

        g_assert_cmpint(file_sha256(-1, sha, &size), ==, -EBADF);
}

static nsec_t local_time(int y, int mo, int d, int h, int mi, int s, int ns) {
        g_autoptr(GDateTime) dt = g_date_time_new_local(y, mo, d, h, mi, s);
        g_assert_nonnull(dt);
        return (nsec_t) g_date_time_to_unix(dt) * NSEC_PER_SEC + ns;
}

static void test_clean_file_path(void) {
        static const struct {
                const char *root, *camera;
                uint32_t date, number;
                nsec_t mtime;
                unsigned suffix;
                const char *ext, *want;
        } cases[] = {
                { "/srv/clean", "Lanex2", 20261123, 4, 0, 0, ".tiff",
                  "/srv/clean/Lanex2/20261123/Lanex2_20261123_140509_shot004.tiff" },
                { "/srv/clean/", "Lanex2", 20261123, 4, 0, 0, ".tiff",
                  "/srv/clean/Lanex2/20261123/Lanex2_20261123_140509_shot004.tiff" },
                { "/srv/clean", "FROG", 20261123, 1, 0, 2, ".tiff",
                  "/srv/clean/FROG/20261123/FROG_20261123_140509_shot001_2.tiff" },
                { "/srv/clean", "FROG", 20261123, 1, 0, 1, ".fer",
                  "/srv/clean/FROG/20261123/FROG_20261123_140509_shot001_1.fer" },
                { "/srv/clean", "Csi", 20261123, 999, 0, 0, ".PNG",
                  "/srv/clean/Csi/20261123/Csi_20261123_140509_shot999.png" },
                { "/srv/clean", "Csi", 20261123, 1000, 0, 0, ".png",
                  "/srv/clean/Csi/20261123/Csi_20261123_140509_shot1000.png" },
                { "/srv/clean", "Csi", 20261123, 12345, 0, 12, "",
                  "/srv/clean/Csi/20261123/Csi_20261123_140509_shot12345_12" },
                { "/srv/clean", "Near Field", 20261123, 0, 0, 0, NULL,
                  "/srv/clean/Near Field/20261123/Near Field_20261123_140509_shot000" },
                { "/", "Cam", 20261123, 5, 0, 0, ".root", "/Cam/20261123/Cam_20261123_140509_shot005.root" },
        };
        nsec_t t = local_time(2026, 11, 23, 14, 5, 9, 999999999);

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *p = clean_file_path(cases[i].root, cases[i].camera, cases[i].date, cases[i].number,
                                                     cases[i].mtime ?: t, cases[i].suffix, cases[i].ext);
                g_assert_cmpstr(p, ==, cases[i].want);
        }

        /* HHMMSS is the file's own local time (summer time here), and the
         * date the shot's, even past midnight. */
        g_autofree char *summer =
                clean_file_path("/c", "Cam", 20260701, 3, (nsec_t) 1782907200 * NSEC_PER_SEC, 0, ".tif");
        g_assert_cmpstr(summer, ==, "/c/Cam/20260701/Cam_20260701_140000_shot003.tif");
        g_autofree char *midnight =
                clean_file_path("/c", "Cam", 20261123, 3, local_time(2026, 11, 24, 0, 0, 3, 0), 0, ".tif");
        g_assert_cmpstr(midnight, ==, "/c/Cam/20261123/Cam_20261123_000003_shot003.tif");
}

static void test_manifest_path(void) {
        g_autofree char *a = manifest_path("/srv/clean", 20261123, 4);
        g_autofree char *b = manifest_path("/srv/clean/", 20261123, 1000);
        g_assert_cmpstr(a, ==, "/srv/clean/shots/20261123/shot004.json");
        g_assert_cmpstr(b, ==, "/srv/clean/shots/20261123/shot1000.json");
}

/* Mounts made by the tests vanish with the process, even if it crashes.
 * ("none": the kernel ignores the type here, valgrind does not.) */
static void private_mounts(void) {
        if (geteuid() != 0)
                return;
        if (unshare(CLONE_NEWNS) >= 0)
                (void) mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL);
}

#define TEST(path, fn) g_test_add("/publish/" path, Fixture, NULL, setup, fn, teardown)

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        private_mounts();

        TEST("copy", test_copy);
        TEST("copy-sizes", test_copy_sizes);
        TEST("republish-same", test_republish_same);
        TEST("existing-different", test_existing_different);
        TEST("src-missing", test_src_missing);
        TEST("src-not-regular", test_src_not_regular);
        TEST("bad-arguments", test_bad_arguments);
        TEST("hardlink", test_hardlink);
        TEST("hardlink-cross-fs", test_hardlink_cross_fs);
        TEST("reflink", test_reflink);
        TEST("reflink-tmpfs", test_reflink_tmpfs);
        TEST("src-stable", test_src_stable);
        TEST("src-changes-once", test_src_changes_once);
        TEST("src-never-settles", test_src_never_settles);
        TEST("src-vanishes", test_src_vanishes);
        TEST("stage-changed-unseen", test_stage_changed_unseen);
        TEST("stage-recent", test_stage_recent);
        TEST("stage-gone", test_stage_gone);
        TEST("enospc", test_enospc);
        TEST("read-only", test_read_only);
        TEST("other-fs-below-root", test_other_fs_below_root);
        TEST("prepare", test_prepare);
        TEST("replace", test_replace);
        TEST("odd-names", test_odd_names);
        TEST("sha256", test_sha256);
        g_test_add_func("/publish/clean-file-path", test_clean_file_path);
        g_test_add_func("/publish/manifest-path", test_manifest_path);

        return g_test_run();
}
