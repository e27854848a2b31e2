/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The clean tree's only writer. Everything here blocks; it runs on the disk
 * worker thread.
 *
 * Errors the caller can act on have one meaning each: -ENOENT only ever
 * means that the raw file is gone (a permanent condition for that file), so
 * a clean-side ENOENT (a clean folder deleted under us) becomes -EAGAIN and a
 * missing CleanRoot -ENOMEDIUM (a disk not mounted yet: wait). A raw file
 * that is not a regular file is refused as systemd's stat_verify_regular()
 * does: -ELOOP for a symlink, -EISDIR for a folder, and -EINVAL (systemd
 * says -EBADFD) for a FIFO, socket or device, which the caller already
 * counts among the errors no retry cures. */

#include <dirent.h>
#include <fcntl.h>
#include <glib.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "publish-internal.h"

#define COPY_ATTEMPTS 3
#define COPY_CHUNK ((size_t) 1 << 30)  /* per copy_file_range() call: the kernel may copy less */
#define IO_CHUNK ((size_t) 1 << 20)    /* read/write fallback and hashing */
#define STAGING_DIR_MODE 0700          /* half-written files are nobody's business */

/* Test hook, declared again in tests/unit/test-publish.c: called after each
 * copy attempt (hashing attempt for a hard link), before src is checked for
 * changes, so that a test can change src at exactly that moment. Always NULL
 * in the daemon. */
void (*publish_test_after_copy)(const char *src, unsigned attempt);

int clean_errno(void) {
        return errno == ENOENT ? -EAGAIN : negative_errno();
}

static bool errno_in(int e, const int *list, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (list[i] == e)
                        return true;
        return false;
}
#define ERRNO_IN(e, ...) errno_in((e), (const int[]) { __VA_ARGS__ }, ELEMENTSOF(((const int[]) { __VA_ARGS__ })))

/* A temporary file being written: unlinked on every path unless committed
 * (name cleared). */


void tmpfile_done(TmpFile *t) {
        if (t->fd >= 0)
                (void) close(t->fd);
        t->fd = -1;
        if (t->name[0])
                (void) unlinkat(t->dir_fd, t->name, 0);
        t->name[0] = 0;
}

/* Created 0600 and made 0644 only once complete. The leading ".#" keeps it
 * out of sight when it has to live beside its final name. */
int tmpfile_create(int dir_fd, TmpFile *t) {
        for (unsigned i = 0; i < 64; i++) {
                snprintf(t->name, sizeof t->name, ".#publish-%08x%08x", g_random_int(), g_random_int());
                int fd = openat(dir_fd, t->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd >= 0) {
                        t->dir_fd = dir_fd;
                        t->fd = fd;
                        return 0;
                }
                if (errno != EEXIST) {
                        t->name[0] = 0;
                        return clean_errno();
                }
        }
        t->name[0] = 0;
        return -EEXIST;
}

/* Read-only, never following a symlink, and never blocking on a FIFO (the
 * open succeeds at once and fstat() then refuses it). */
int open_src(const char *src, struct stat *ret_st) {
        _cleanup_close_ int fd = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                /* ENXIO: a socket; ENODEV: a device without a driver. */
                return ERRNO_IN(errno, ENXIO, ENODEV) ? -EINVAL : negative_errno();

        struct stat st;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (S_ISLNK(st.st_mode))
                return -ELOOP;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;

        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
                return negative_errno();

        *ret_st = st;
        return TAKE_FD(fd);
}

/* Whether a file changed between two fstat()s of one descriptor. ctime
 * catches an in-place rewrite that restored size and mtime; nlink 0 a file
 * deleted meanwhile (the next attempt then reports it gone). */
static bool stat_changed(const struct stat *a, const struct stat *b) {
        return a->st_dev != b->st_dev || a->st_ino != b->st_ino || a->st_size != b->st_size ||
               a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec ||
               a->st_ctim.tv_sec != b->st_ctim.tv_sec || a->st_ctim.tv_nsec != b->st_ctim.tv_nsec ||
               b->st_nlink == 0;
}

/* The kernel stamps ctime from a coarse clock, and a write within the tick
 * of the last change leaves ctime as it was: a copy taken then could be torn
 * by such a write, unseen by stat_changed(). */
static bool changed_this_tick(const struct stat *st, struct timespec *ret_coarse) {
        struct timespec now;
        if (clock_gettime(CLOCK_REALTIME_COARSE, &now) < 0)
                return false;
        if (ret_coarse)
                *ret_coarse = now;
        /* A ctime far ahead (the clock was set back) is not waited for
         * either: fstat_settled() gives up after a few ticks. */
        return st->st_ctim.tv_sec > now.tv_sec || (st->st_ctim.tv_sec == now.tv_sec && st->st_ctim.tv_nsec >= now.tv_nsec);
}

/* So a look waits for the tick of the file's last change to pass (a few
 * ms, only for a file changed that recently); any later write then moves
 * ctime. */
static int fstat_settled(int fd, struct stat *st) {
        struct timespec res = { 0, 4 * 1000 * 1000 };
        (void) clock_getres(CLOCK_REALTIME_COARSE, &res);
        const int64_t tick = (int64_t) res.tv_sec * 1000000000 + res.tv_nsec;
        for (unsigned i = 0;; i++) {
                if (fstat(fd, st) < 0)
                        return negative_errno();
                struct timespec coarse, fine;
                if (i >= 16 || !changed_this_tick(st, &coarse) || clock_gettime(CLOCK_REALTIME, &fine) < 0)
                        return 0;
                /* The coarse clock moves at the next tick, res after the
                 * last: sleep what is left of this one, not a whole tick. */
                int64_t left = (int64_t) (coarse.tv_sec - fine.tv_sec) * 1000000000 + (coarse.tv_nsec - fine.tv_nsec) + tick;
                left = CLAMP(left, 0, tick) + 20 * 1000;
                struct timespec d = { left / 1000000000, left % 1000000000 };
                (void) nanosleep(&d, NULL);
        }
}

/* Whether two files hold the same size bytes (and no more). */
static int same_bytes(int a, int b, uint64_t size) {
        g_autofree char *buf = g_malloc(2 * IO_CHUNK);
        char *x = buf, *y = buf + IO_CHUNK;
        for (uint64_t off = 0;;) {
                ssize_t n = pread(a, x, IO_CHUNK, (off_t) off);
                ssize_t m = n < 0 ? 0 : pread(b, y, (size_t) n, (off_t) off);
                if (n < 0 || m < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (m != n || memcmp(x, y, (size_t) n) != 0)
                        return 0;
                if (n == 0) {
                        struct stat st;
                        if (fstat(b, &st) < 0)
                                return negative_errno();
                        return off == size && (uint64_t) st.st_size == size;
                }
                off += (uint64_t) n;
        }
}

int verify_settled(int src_fd, int copy_fd, const struct stat *copied) {
        struct stat settled, after;
        int r = fstat_settled(src_fd, &settled);
        if (r < 0)
                return r;
        if (stat_changed(copied, &settled))
                return -EAGAIN;
        r = same_bytes(src_fd, copy_fd, (uint64_t) settled.st_size);
        if (r <= 0)
                return r < 0 ? r : -EAGAIN;
        if (fstat(src_fd, &after) < 0)
                return negative_errno();
        return stat_changed(&settled, &after) ? -EAGAIN : 0;
}

int write_all_at(int fd, const void *data, size_t len, off_t off) {
        const char *p = data;
        while (len > 0) {
                ssize_t n = pwrite(fd, p, len, off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += n;
                off += n;
                len -= (size_t) n;
        }
        return 0;
}

/* Copies in_fd from offset 0 into the empty out_fd. copy_file_range() lets
 * the file system share or offload the copy; where it cannot (another file
 * system, no support) or stops short of the size seen before (some FUSE and
 * network file systems answer 0 early), plain reads take over from there
 * and run to the real end of the file. Growth past the size seen before is
 * the caller's stat check's business. */
static int copy_data(int in_fd, int out_fd, uint64_t expected, uint64_t *ret_size) {
        loff_t in_off = 0, out_off = 0;

        while ((uint64_t) in_off < expected) {
                size_t want = (size_t) MIN(expected - (uint64_t) in_off, (uint64_t) COPY_CHUNK);
                ssize_t n = copy_file_range(in_fd, &in_off, out_fd, &out_off, want, 0);
                if (n > 0)
                        continue;
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && !ERRNO_IN(errno, EXDEV, EINVAL, ENOSYS, EOPNOTSUPP))
                        return negative_errno();
                break;
        }
        if ((uint64_t) in_off >= expected) {
                *ret_size = (uint64_t) out_off;
                return 0;
        }

        g_autofree char *buf = g_malloc(IO_CHUNK);
        for (;;) {
                ssize_t n = pread(in_fd, buf, IO_CHUNK, in_off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;
                int r = write_all_at(out_fd, buf, (size_t) n, out_off);
                if (r < 0)
                        return r;
                in_off += n;
                out_off += n;
        }
        *ret_size = (uint64_t) out_off;
        return 0;
}

/* Fills tmp_fd with a consistent snapshot of src: an attempt counts only if
 * src looked the same before and after it. The first attempt reads src_fd
 * (opened and checked by the caller); later ones open src afresh, since a
 * sync client may have renamed a new version over it. */
int stage_copy(const char *src, int src_fd, int tmp_fd, bool reflink, bool *ret_fell_back, struct stat *ret_st,
               bool *ret_unsettled) {
        bool cloning = reflink;
        for (unsigned attempt = 1;; attempt++) {
                struct stat before, after;
                _cleanup_close_ int opened = -1;
                int fd = src_fd;
                if (attempt > 1) {
                        fd = opened = open_src(src, &before);
                        if (fd < 0)
                                return fd;
                        if (ftruncate(tmp_fd, 0) < 0)
                                return negative_errno();
                }
                bool unsettled = false;
                if (ret_unsettled && attempt == 1) {
                        if (fstat(fd, &before) < 0)
                                return negative_errno();
                        unsettled = changed_this_tick(&before, NULL);
                } else {
                        int k = fstat_settled(fd, &before);
                        if (k < 0)
                                return k;
                }

                uint64_t size = 0;
                bool copied = false;
                if (cloning) {
                        if (ioctl(tmp_fd, FICLONE, fd) >= 0) {
                                struct stat st;
                                if (fstat(tmp_fd, &st) < 0)
                                        return negative_errno();
                                size = (uint64_t) st.st_size;
                                copied = true;
                        } else if (ERRNO_IN(errno, EOPNOTSUPP, EXDEV, EINVAL, ENOTTY, ENOSYS)) {
                                cloning = false;
                                *ret_fell_back = true;
                        } else
                                return negative_errno();
                }
                if (!copied) {
                        int r = copy_data(fd, tmp_fd, (uint64_t) before.st_size, &size);
                        if (r < 0)
                                return r;
                }

                if (publish_test_after_copy)
                        publish_test_after_copy(src, attempt);

                if (fstat(fd, &after) < 0)
                        return negative_errno();
                if (!stat_changed(&before, &after) && size == (uint64_t) after.st_size) {
                        *ret_st = after;
                        if (ret_unsettled)
                                *ret_unsettled = unsettled;
                        return 0;
                }
                if (attempt >= COPY_ATTEMPTS)
                        return -EAGAIN;
        }
}

/* The hash of what fd holds, checked like a copy: for a hard link the raw
 * file and the published one are the same bytes, and a writer may still be
 * busy with them. The first look is taken here, after linking: linkat()
 * itself changes the ctime. */
int hash_stable(const char *src, int fd, PublishResult *res) {
        struct stat before, after;
        int k = fstat_settled(fd, &before);
        if (k < 0)
                return k;
        for (unsigned attempt = 1;; attempt++) {
                int r = file_sha256(fd, res->sha256, &res->size);
                if (r < 0)
                        return r;
                if (publish_test_after_copy)
                        publish_test_after_copy(src, attempt);
                if (fstat(fd, &after) < 0)
                        return negative_errno();
                if (!stat_changed(&before, &after) && res->size == (uint64_t) after.st_size)
                        return 0;
                if (attempt >= COPY_ATTEMPTS)
                        return -EAGAIN;
                before = after;
        }
}

/* Opens (creating what is missing) rel below dir_fd, one component at a
 * time, so nothing above dir_fd is ever created. New folders get 0755
 * whatever the umask (the clean tree is for the lab to read), and the parent
 * of each is fsync()ed so that the folder outlives a crash together with the
 * file that will go into it. */
int mkdir_below(int dir_fd, const char *rel, int *ret_fd) {
        _cleanup_close_ int fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return negative_errno();

        g_auto(GStrv) parts = g_strsplit(rel, "/", -1);
        for (char **p = parts; *p; p++) {
                if (!**p)
                        continue;
                bool created = mkdirat(fd, *p, CLEAN_DIR_MODE) >= 0;
                if (!created && errno != EEXIST)
                        return clean_errno();
                _cleanup_close_ int sub = openat(fd, *p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (sub < 0)
                        return clean_errno();
                if (created) {
                        if (fchmod(sub, CLEAN_DIR_MODE) < 0 || fsync(fd) < 0)
                                return negative_errno();
                }
                closep(&fd);
                fd = TAKE_FD(sub);
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int open_clean_root(const char *clean_root) {
        int fd = open(clean_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? -ENOMEDIUM : negative_errno();
        return fd;
}

/* Never follows a symlink: publish_prepare() empties this folder. */
int open_staging(int root_fd) {
        if (mkdirat(root_fd, STAGING_DIR, STAGING_DIR_MODE) < 0 && errno != EEXIST)
                return clean_errno();
        int fd = openat(root_fd, STAGING_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ELOOP ? -ENOTDIR : clean_errno();
        return fd;
}

bool same_fs(int a, int b) {
        struct stat sa, sb;
        return fstat(a, &sa) >= 0 && fstat(b, &sb) >= 0 && sa.st_dev == sb.st_dev;
}

/* dst relative to clean_root, or NULL when it is not strictly below it, has
 * empty, "." or ".." components, or points into the staging folder. */
const char *path_below(const char *clean_root, const char *path) {
        size_t n = strlen(clean_root);
        while (n > 0 && clean_root[n - 1] == '/')
                n--;
        if (clean_root[0] != '/' || strncmp(path, clean_root, n) != 0 || path[n] != '/')
                return NULL;

        const char *rel = path + n + 1;
        for (const char *p = rel;;) {
                size_t len = strcspn(p, "/");
                if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
                        return NULL;
                if (p == rel && len == strlen(STAGING_DIR) && strncmp(p, STAGING_DIR, len) == 0)
                        return NULL;
                if (!p[len])
                        return rel;
                p += len + 1;
        }
}

/* The folder part of rel (newly allocated, "" for none) and its base name. */
char *split_rel(const char *rel, const char **ret_name) {
        const char *slash = strrchr(rel, '/');
        *ret_name = slash ? slash + 1 : rel;
        return slash ? g_strndup(rel, (size_t) (slash - rel)) : g_strdup("");
}

/* Like renameat2(RENAME_NOREPLACE): fails with -EEXIST, atomically, when to
 * exists. NFS and older FUSE lack the flag (EINVAL); a hard link refuses an
 * existing name just as atomically there. */
int rename_noreplace(int from_dir, const char *from, int to_dir, const char *to) {
        if (renameat2(from_dir, from, to_dir, to, RENAME_NOREPLACE) >= 0)
                return 0;
        if (!ERRNO_IN(errno, EINVAL, ENOSYS, EOPNOTSUPP))
                return clean_errno();
        if (linkat(from_dir, from, to_dir, to, 0) < 0)
                return clean_errno();
        (void) unlinkat(from_dir, from, 0);
        return 0;
}

/* 1 when dir_fd/name is a regular file with this size and sha256, 0 when it
 * is anything else. */
int same_content(int dir_fd, const char *name, uint64_t size, const char *sha256) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return ERRNO_IN(errno, ELOOP, ENXIO, ENODEV) ? 0 : clean_errno();
        struct stat st;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size != size)
                return 0;

        char sha[65];
        uint64_t n;
        int r = file_sha256(fd, sha, &n);
        if (r < 0)
                return r;
        return n == size && streq(sha, sha256);
}

static int tmpfile_finish(int fd, const struct timespec *mtime) {
        /* The capture time, for whoever browses the clean tree. */
        const struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, *mtime };
        if (fchmod(fd, CLEAN_FILE_MODE) < 0 || futimens(fd, ts) < 0 || fsync(fd) < 0)
                return negative_errno();
        return 0;
}

/* One try at the copy (or clone) path with the temporary file in stage_fd. */
static int copy_via(int stage_fd, int dir_fd, const char *name, const char *src, int src_fd, bool reflink,
                    PublishResult *res) {
        _cleanup_(tmpfile_done) TmpFile t = TMPFILE_NULL;
        int r = tmpfile_create(stage_fd, &t);
        if (r < 0)
                return r;

        struct stat st;
        bool fell_back = false;
        r = stage_copy(src, src_fd, t.fd, reflink, &fell_back, &st, NULL);
        if (r < 0)
                return r;
        r = tmpfile_finish(t.fd, &st.st_mtim);
        if (r < 0)
                return r;
        /* Read back from what was written, not from src: the manifest then
         * describes the bytes that really sit under the final name. */
        r = file_sha256(t.fd, res->sha256, &res->size);
        if (r < 0)
                return r;
        res->fell_back = res->fell_back || fell_back;

        r = rename_noreplace(stage_fd, t.name, dir_fd, name);
        if (r == -EEXIST) {
                r = same_content(dir_fd, name, res->size, res->sha256);
                if (r < 0)
                        return r;
                if (r == 0)
                        return -EEXIST;
                res->existed = true;
                return 0;
        }
        if (r < 0)
                return r;
        t.name[0] = 0;

        if (fsync(dir_fd) < 0)
                return negative_errno();
        return 0;
}

static int publish_copy(int root_fd, int dir_fd, const char *name, const char *src, int src_fd, bool reflink,
                        PublishResult *res) {
        _cleanup_close_ int staging_fd = open_staging(root_fd);
        if (staging_fd < 0)
                return staging_fd;

        /* A clean subfolder on another file system (mounted or symlinked
         * there): rename() cannot cross, so stage beside the final name. Bind
         * mounts share st_dev and only tell by EXDEV. */
        int stage_fd = same_fs(staging_fd, dir_fd) ? staging_fd : dir_fd;
        int r = copy_via(stage_fd, dir_fd, name, src, src_fd, reflink, res);
        if (r == -EXDEV && stage_fd != dir_fd)
                r = copy_via(dir_fd, dir_fd, name, src, src_fd, reflink, res);
        return r;
}

static void unlink_if_inode(int dir_fd, const char *name, const struct stat *st) {
        struct stat now;
        if (fstatat(dir_fd, name, &now, AT_SYMLINK_NOFOLLOW) >= 0 && now.st_dev == st->st_dev &&
            now.st_ino == st->st_ino)
                (void) unlinkat(dir_fd, name, 0);
}

/* Returns 0 or negative errno when done, 1 when this file system (or this
 * user) cannot hard-link the raw file here: copy instead. */
static int publish_link(const char *src, int fd, int dir_fd, const char *name, PublishResult *res) {
        struct stat st;
        if (fstat(fd, &st) < 0)
                return negative_errno();

        /* Link what was opened and checked, not whatever the name points to
         * by now: linkat(2) by name would link a symlink swapped in
         * meanwhile. /proc/self/fd needs no CAP_DAC_READ_SEARCH, unlike
         * AT_EMPTY_PATH. */
        char proc[sizeof("/proc/self/fd/") + 12];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        bool linked = linkat(AT_FDCWD, proc, dir_fd, name, AT_SYMLINK_FOLLOW) >= 0;
        if (!linked) {
                /* EPERM: fs.protected_hardlinks and a raw file owned by the
                 * sync client, or a file system without hard links. */
                if (ERRNO_IN(errno, EXDEV, EPERM, EMLINK, EOPNOTSUPP))
                        return 1;
                if (errno == ENOENT) {
                        struct stat now;
                        if (fstat(fd, &now) < 0)
                                return negative_errno();
                        if (now.st_nlink == 0)
                                return -ENOENT;
                        return 1; /* no /proc */
                }
                if (errno != EEXIST)
                        return clean_errno();
        }

        int r = hash_stable(src, fd, res);
        if (r < 0) {
                if (linked)
                        unlink_if_inode(dir_fd, name, &st);
                return r;
        }

        if (!linked) {
                struct stat there;
                if (fstatat(dir_fd, name, &there, AT_SYMLINK_NOFOLLOW) < 0)
                        return clean_errno();
                if (there.st_dev != st.st_dev || there.st_ino != st.st_ino) {
                        r = same_content(dir_fd, name, res->size, res->sha256);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                return -EEXIST;
                }
                res->existed = true;
                return 0;
        }

        if (fsync(dir_fd) < 0)
                return negative_errno();
        return 0;
}

void clean_target_done(CleanTarget *t) {
        closep(&t->root_fd);
        closep(&t->dir_fd);
        g_free(t->dir);
        *t = (CleanTarget) CLEAN_TARGET_NULL;
}

int clean_target_open(const char *clean_root, const char *dst, CleanTarget *ret) {
        if (!clean_root || !dst)
                return -EINVAL;
        const char *rel = path_below(clean_root, dst);
        if (!rel)
                return -EINVAL;
        CleanTarget t = CLEAN_TARGET_NULL;
        t.dir = split_rel(rel, &t.name);
        t.root_fd = open_clean_root(clean_root);
        int r = t.root_fd < 0 ? t.root_fd : mkdir_below(t.root_fd, t.dir, &t.dir_fd);
        if (r < 0) {
                clean_target_done(&t);
                return r;
        }
        *ret = t;
        return 0;
}

int publish_open(const char *clean_root, PublishMode mode, const char *src, const char *dst, int *ret_src_fd,
                 struct stat *ret_st, CleanTarget *ret_target) {
        if (!clean_root || !src || !dst || src[0] != '/' || mode < 0 || mode >= _PUBLISH_MODE_MAX ||
            !path_below(clean_root, dst))
                return -EINVAL;

        _cleanup_close_ int src_fd = open_src(src, ret_st);
        if (src_fd < 0)
                return src_fd;
        int r = clean_target_open(clean_root, dst, ret_target);
        if (r < 0)
                return r;
        *ret_src_fd = TAKE_FD(src_fd);
        return 0;
}

int publish_file(const char *clean_root, PublishMode mode, const char *src, const char *dst, PublishResult *ret) {
        struct stat st;
        _cleanup_close_ int src_fd = -1;
        _cleanup_(clean_target_done) CleanTarget t = CLEAN_TARGET_NULL;
        int r = publish_open(clean_root, mode, src, dst, &src_fd, &st, &t);
        if (r < 0)
                return r;
        int root_fd = t.root_fd, dir_fd = t.dir_fd;
        const char *name = t.name;

        PublishResult res = {};
        if (mode == PUBLISH_HARDLINK) {
                r = publish_link(src, src_fd, dir_fd, name, &res);
                if (r <= 0)
                        goto finish;
                res = (PublishResult) { .fell_back = true };
        }
        r = publish_copy(root_fd, dir_fd, name, src, src_fd, mode == PUBLISH_REFLINK, &res);

finish:
        if (r < 0)
                return r;
        if (ret)
                *ret = res;
        return 0;
}

static int replace_via(int stage_fd, int dir_fd, const char *name, const void *data, size_t len, bool sync_dir) {
        _cleanup_(tmpfile_done) TmpFile t = TMPFILE_NULL;
        int r = tmpfile_create(stage_fd, &t);
        if (r < 0)
                return r;
        r = write_all_at(t.fd, data, len, 0);
        if (r < 0)
                return r;
        if (fchmod(t.fd, CLEAN_FILE_MODE) < 0 || fsync(t.fd) < 0)
                return negative_errno();
        if (renameat(stage_fd, t.name, dir_fd, name) < 0)
                return clean_errno();
        t.name[0] = 0;
        if (sync_dir && fsync(dir_fd) < 0)
                return negative_errno();
        return 0;
}

int publish_replace(const char *clean_root, const char *path, const void *data, size_t len) {
        return publish_replace_with(clean_root, path, data, len, true);
}

int publish_replace_with(const char *clean_root, const char *path, const void *data, size_t len, bool sync_dir) {
        if (!data && len > 0)
                return -EINVAL;
        _cleanup_(clean_target_done) CleanTarget t = CLEAN_TARGET_NULL;
        int r = clean_target_open(clean_root, path, &t);
        if (r < 0)
                return r;
        int dir_fd = t.dir_fd;
        const char *name = t.name;
        _cleanup_close_ int staging_fd = open_staging(t.root_fd);
        if (staging_fd < 0)
                return staging_fd;

        int stage_fd = same_fs(staging_fd, dir_fd) ? staging_fd : dir_fd;
        r = replace_via(stage_fd, dir_fd, name, data, len, sync_dir);
        if (r == -EXDEV && stage_fd != dir_fd)
                r = replace_via(dir_fd, dir_fd, name, data, len, sync_dir);
        return r;
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

/* Empties a folder without following symlinks. Carries on past errors and
 * returns the first. */
static int remove_contents(int dir_fd) {
        int fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return negative_errno();
        _cleanup_(closedirp) DIR *d = fdopendir(fd);
        if (!d) {
                int r = negative_errno();
                (void) close(fd);
                return r;
        }

        int ret = 0;
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno != 0 && ret == 0)
                                ret = negative_errno();
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (unlinkat(dirfd(d), de->d_name, 0) >= 0)
                        continue;
                int r = negative_errno();
                if (r == -EISDIR) {
                        _cleanup_close_ int sub =
                                openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        r = sub < 0 ? negative_errno() : remove_contents(sub);
                        if (r >= 0 && unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0)
                                r = negative_errno();
                }
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

int publish_prepare(const char *clean_root) {
        if (!clean_root || clean_root[0] != '/')
                return -EINVAL;

        _cleanup_close_ int top_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (top_fd < 0)
                return negative_errno();
        _cleanup_close_ int root_fd = -1;
        int r = mkdir_below(top_fd, clean_root + 1, &root_fd);
        if (r < 0)
                return r;

        _cleanup_close_ int staging_fd = open_staging(root_fd);
        if (staging_fd < 0)
                return staging_fd;
        return remove_contents(staging_fd);
}

int file_sha256(int fd, char ret[static 65], uint64_t *ret_size) {
        g_autoptr(GChecksum) c = g_checksum_new(G_CHECKSUM_SHA256);
        g_autofree unsigned char *buf = g_malloc(IO_CHUNK);
        uint64_t off = 0;

        for (;;) {
                ssize_t n = pread(fd, buf, IO_CHUNK, (off_t) off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;
                g_checksum_update(c, buf, n);
                off += (uint64_t) n;
        }

        g_strlcpy(ret, g_checksum_get_string(c), 65);
        if (ret_size)
                *ret_size = off;
        return 0;
}

static int root_len(const char *clean_root) {
        size_t n = strlen(clean_root);
        while (n > 0 && clean_root[n - 1] == '/')
                n--;
        return (int) MIN(n, (size_t) INT_MAX);
}

char *clean_file_path(const char *clean_root, const char *camera, uint32_t date, uint32_t number, nsec_t mtime,
                      unsigned suffix_kind, const char *ext) {
        char hhmmss[7], suffix[16] = "";
        g_autofree char *lower = g_ascii_strdown(ext ?: "", -1);

        if (suffix_kind > 0)
                snprintf(suffix, sizeof suffix, "_%u", suffix_kind);
        return g_strdup_printf("%.*s/%s/%08" PRIu32 "/%s_%08" PRIu32 "_%s_shot%03" PRIu32 "%s%s", root_len(clean_root),
                               clean_root, camera, date, camera, date, format_hhmmss(mtime, hhmmss), number, suffix,
                               lower);
}

char *manifest_path(const char *clean_root, uint32_t date, uint32_t number) {
        return g_strdup_printf("%.*s/shots/%08" PRIu32 "/shot%03" PRIu32 ".json", root_len(clean_root), clean_root,
                               date, number);
}
