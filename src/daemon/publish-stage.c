/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Publishing in two steps (publish.h): staged as a file joins its shot,
 * finished when the shot closes. */

#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <unistd.h>

#include "publish-internal.h"


static int64_t ts_nsec(const struct timespec *ts) {
        return (int64_t) ts->tv_sec * NSEC_PER_SEC + ts->tv_nsec;
}

void staged_file_clear(StagedFile *sf) {
        g_free(sf->tmp);
        *sf = (StagedFile) {};
}

static char *rel_join(const char *dir, const char *name) {
        return isempty(dir) ? g_strdup(name) : g_strconcat(dir, "/", name, NULL);
}

int publish_stage(const char *clean_root, PublishMode mode, const char *src, const char *dst, StagedFile *ret) {
        struct stat st;
        _cleanup_close_ int src_fd = -1;
        _cleanup_(clean_target_done) CleanTarget tg = CLEAN_TARGET_NULL;
        int r = publish_open(clean_root, mode, src, dst, &src_fd, &st, &tg);
        if (r < 0)
                return r;
        int root_fd = tg.root_fd, dir_fd = tg.dir_fd;
        const char *dir = tg.dir;

        StagedFile sf = {};
        if (mode == PUBLISH_HARDLINK) {
                /* The link is made at finish; what costs is the hash. The
                 * raw file must then still be this one, unchanged. */
                struct stat before;
                r = hash_stable(src, src_fd, &sf.result);
                if (r < 0)
                        return r;
                if (fstat(src_fd, &before) < 0)
                        return negative_errno();
                sf.link = true;
                sf.dev = before.st_dev;
                sf.ino = before.st_ino;
                sf.size = before.st_size;
                sf.mtime_ns = ts_nsec(&before.st_mtim);
                sf.ctime_ns = ts_nsec(&before.st_ctim);
                *ret = sf;
                return 0;
        }

        _cleanup_close_ int staging_fd = open_staging(root_fd);
        if (staging_fd < 0)
                return staging_fd;
        /* rename() cannot cross file systems: stage beside the final name. */
        bool beside = !same_fs(staging_fd, dir_fd);
        int stage_fd = beside ? dir_fd : staging_fd;
        _cleanup_(tmpfile_done) TmpFile t = TMPFILE_NULL;
        r = tmpfile_create(stage_fd, &t);
        if (r < 0)
                return r;
        struct stat copied;
        bool fell_back = false;
        /* A shot's last file is staged the moment it arrives, often within
         * the coarse clock's tick of its rename: rather than wait for that
         * tick to pass first, copy and hash at once and check afterwards
         * (by then the tick is mostly over), copying again the careful way
         * only if the file was written to meanwhile. */
        for (bool careful = false;; careful = true) {
                bool unsettled = false;
                r = stage_copy(src, src_fd, t.fd, mode == PUBLISH_REFLINK, &fell_back, &copied,
                               careful ? NULL : &unsettled);
                if (r < 0)
                        return r;
                /* The capture time, for whoever browses the clean tree. */
                const struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, copied.st_mtim };
                if (fchmod(t.fd, CLEAN_FILE_MODE) < 0 || futimens(t.fd, ts) < 0)
                        return negative_errno();
                /* The disk writes while the CPU hashes: the fsync then waits for
                 * less (publish_stage_sync(), maybe after many files written). */
                (void) sync_file_range(t.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
                r = file_sha256(t.fd, sf.result.sha256, &sf.result.size);
                if (r < 0)
                        return r;
                if (!unsettled)
                        break;
                r = verify_settled(src_fd, t.fd, &copied);
                if (r != -EAGAIN) {
                        if (r < 0)
                                return r;
                        break;
                }
                if (ftruncate(t.fd, 0) < 0)
                        return negative_errno();
        }
        sf.result.fell_back = fell_back;
        sf.tmp = beside ? rel_join(dir, t.name) : rel_join(STAGING_DIR, t.name);
        t.name[0] = 0; /* kept for publish_finish() */
        *ret = sf;
        return 0;
}

int publish_stage_sync(const char *clean_root, const StagedFile *sf) {
        if (!sf->tmp)
                return 0; /* hardlink: nothing written */
        _cleanup_close_ int root_fd = open_clean_root(clean_root);
        if (root_fd < 0)
                return root_fd;
        _cleanup_close_ int fd = openat(root_fd, sf->tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return clean_errno();
        if (fdatasync(fd) < 0)
                return negative_errno();
        return 0;
}

int publish_stage_data(const char *clean_root, const char *path, const void *data, size_t len, StagedFile *ret) {
        if (!data && len > 0)
                return -EINVAL;
        _cleanup_(clean_target_done) CleanTarget tg = CLEAN_TARGET_NULL;
        int r = clean_target_open(clean_root, path, &tg);
        if (r < 0)
                return r;
        int dir_fd = tg.dir_fd;
        const char *dir = tg.dir;
        _cleanup_close_ int staging_fd = open_staging(tg.root_fd);
        if (staging_fd < 0)
                return staging_fd;
        bool beside = !same_fs(staging_fd, dir_fd);
        _cleanup_(tmpfile_done) TmpFile t = TMPFILE_NULL;
        r = tmpfile_create(beside ? dir_fd : staging_fd, &t);
        if (r < 0)
                return r;
        r = write_all_at(t.fd, data, len, 0);
        if (r < 0)
                return r;
        if (fchmod(t.fd, CLEAN_FILE_MODE) < 0)
                return negative_errno();
        (void) sync_file_range(t.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        *ret = (StagedFile) { .tmp = beside ? rel_join(dir, t.name) : rel_join(STAGING_DIR, t.name) };
        t.name[0] = 0;
        return 0;
}

int publish_finish_replace(const char *clean_root, const char *path, const StagedFile *sf) {
        const char *rel = path_below(clean_root, path);
        if (!rel || !sf->tmp)
                return -EINVAL;
        const char *name, *tmp_name;
        g_autofree char *dir = split_rel(rel, &name);
        g_autofree char *tmp_dir = split_rel(sf->tmp, &tmp_name);
        _cleanup_close_ int root_fd = open_clean_root(clean_root);
        if (root_fd < 0)
                return root_fd;
        _cleanup_close_ int dir_fd = openat(root_fd, isempty(dir) ? "." : dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int tmp_fd = openat(root_fd, isempty(tmp_dir) ? "." : tmp_dir,
                                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir_fd < 0 || tmp_fd < 0)
                return clean_errno();
        if (renameat(tmp_fd, tmp_name, dir_fd, name) < 0)
                return clean_errno();
        return 0;
}

int publish_finish(const char *clean_root, const char *src, const char *dst, const StagedFile *sf,
                   PublishResult *ret) {
        if (!src || !sf)
                return -EINVAL;
        _cleanup_(clean_target_done) CleanTarget tg = CLEAN_TARGET_NULL;
        int r = clean_target_open(clean_root, dst, &tg);
        if (r < 0)
                return r;
        int root_fd = tg.root_fd, dir_fd = tg.dir_fd;
        const char *name = tg.name;
        PublishResult res = sf->result;

        if (sf->link) {
                struct stat st;
                _cleanup_close_ int src_fd = open_src(src, &st);
                if (src_fd < 0)
                        return src_fd;
                if (st.st_dev != sf->dev || st.st_ino != sf->ino || st.st_size != sf->size ||
                    ts_nsec(&st.st_mtim) != sf->mtime_ns || ts_nsec(&st.st_ctim) != sf->ctime_ns)
                        return -ESTALE; /* changed since it was hashed: publish it afresh */
                char proc[sizeof("/proc/self/fd/") + 12];
                snprintf(proc, sizeof proc, "/proc/self/fd/%d", src_fd);
                if (linkat(AT_FDCWD, proc, dir_fd, name, AT_SYMLINK_FOLLOW) < 0) {
                        if (errno != EEXIST)
                                return -ESTALE; /* EXDEV, EPERM, no /proc: the full path decides */
                        r = same_content(dir_fd, name, res.size, res.sha256);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                return -EEXIST;
                        res.existed = true;
                }
                if (ret)
                        *ret = res;
                return 0;
        }

        const char *tmp_name;
        g_autofree char *tmp_dir = split_rel(sf->tmp, &tmp_name);
        _cleanup_close_ int tmp_fd = openat(root_fd, isempty(tmp_dir) ? "." : tmp_dir,
                                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (tmp_fd < 0)
                return errno == ENOENT ? -ESTALE : clean_errno(); /* the copy is gone: publish afresh */
        r = rename_noreplace(tmp_fd, tmp_name, dir_fd, name);
        if (r == -EXDEV)
                return -ESTALE; /* a bind mount sharing st_dev: the full path copies beside */
        if (r == -EAGAIN && faccessat(tmp_fd, tmp_name, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
                return -ESTALE; /* the copy is gone (clean_errno() says ENOENT as EAGAIN): publish afresh */
        if (r == -EEXIST) {
                r = same_content(dir_fd, name, res.size, res.sha256);
                if (r < 0)
                        return r;
                if (r == 0)
                        return -EEXIST;
                (void) unlinkat(tmp_fd, tmp_name, 0);
                res.existed = true;
        } else if (r < 0)
                return r;
        if (ret)
                *ret = res;
        return 0;
}

int publish_sync_dir(const char *clean_root, const char *dir) {
        const char *rel = path_below(clean_root, dir);
        _cleanup_close_ int root_fd = open_clean_root(clean_root);
        if (root_fd < 0)
                return root_fd;
        _cleanup_close_ int fd = rel ? openat(root_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) :
                                       fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return clean_errno();
        if (fsync(fd) < 0)
                return negative_errno();
        return 0;
}

void staged_file_discard(const char *clean_root, StagedFile *sf) {
        if (sf->tmp) {
                _cleanup_close_ int root_fd = open_clean_root(clean_root);
                if (root_fd >= 0)
                        (void) unlinkat(root_fd, sf->tmp, 0);
        }
        staged_file_clear(sf);
}

