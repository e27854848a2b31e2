/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <fcntl.h>
#include <glib.h>
#include <stdalign.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "classify.h"
#include "watcher.h"

/* Folders below a camera folder that are watched; the same bound as the
 * manager's scan_tree() depth, so that the watcher and the scan see the same
 * tree. */
#define WATCHER_MAX_DEPTH 16

/* Reads of the 64 KiB buffer per dispatch (a few thousand events): the io
 * source is level-triggered, so what is left is read on the next iteration
 * and timers and the bus get their turn in between. */
#define WATCHER_READS_PER_DISPATCH 16

#define WATCH_MASK                                                                                           \
        (IN_CLOSE_WRITE | IN_ATTRIB | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_DELETE_SELF | \
         IN_MOVE_SELF | IN_EXCL_UNLINK | IN_ONLYDIR)

/* On the nearest existing ancestor of a missing root: anything that may
 * bring the next path component into existence. */
#define PARENT_MASK (IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

typedef struct WatchDir {
        int wd;
        int depth; /* -1 the root, 0 a camera folder */
        unsigned generation;
        char *path; /* relative to the root, "" for the root itself */
} WatchDir;

struct Watcher {
        sd_event *event;
        sd_event_source *io;
        sd_event_source *defer; /* delivers rescans and degraded reports outside the read loop */
        int fd;

        char *root;
        int root_wd;
        int parent_wd;     /* nearest existing ancestor while the root is missing */
        char *parent_next; /* the name in it that leads to the root */

        WatcherFn fn;
        void *userdata;

        GHashTable *by_wd; /* wd → WatchDir* */
        /* Watches we removed ourselves: events already queued for them, up
         * to their IN_IGNORED, are stale, not a sign of a lost event. */
        GHashTable *retired;
        GHashTable *degraded_reported; /* paths, each reported once until a clean refresh */
        GPtrArray *pending_degraded;   /* paths to report */
        bool rescan_pending;
        bool degraded;
        bool refresh_failed; /* the refresh running now could not watch something */
        unsigned generation;
        unsigned n_overflows;

        alignas(struct inotify_event) uint8_t buf[64 * 1024];
};

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

static void *mfree(void *p) {
        g_free(p);
        return NULL;
}

static void watcher_freep(Watcher **w) {
        watcher_free(*w);
}

static void watch_dir_free(void *p) {
        WatchDir *d = p;
        g_free(d->path);
        g_free(d);
}

static bool errno_is_vanished(int e) {
        /* Gone or replaced by something that is not a folder since we
         * looked: not a failure to watch. */
        return e == ENOENT || e == ENOTDIR || e == ELOOP;
}

static char *path_join(const char *dir, const char *name) {
        return isempty(dir) ? g_strdup(name) : g_strconcat(dir, "/", name, NULL);
}

static void schedule(Watcher *w) {
        (void) sd_event_source_set_enabled(w->defer, SD_EVENT_ONESHOT);
}

static void request_rescan(Watcher *w) {
        w->rescan_pending = true;
        schedule(w);
}

static void degrade(Watcher *w, const char *rel) {
        w->degraded = true;
        w->refresh_failed = true;
        if (g_hash_table_contains(w->degraded_reported, rel))
                return;
        g_hash_table_add(w->degraded_reported, g_strdup(rel));
        g_ptr_array_add(w->pending_degraded, g_strdup(rel));
        schedule(w);
}

/* Watches exactly the folder open as fd: no path is resolved again, so a
 * folder swapped for a symlink meanwhile cannot redirect the watch. */
static int add_watch_fd(Watcher *w, int fd, const char *rel) {
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%i", fd);

        int wd = inotify_add_watch(w->fd, proc, WATCH_MASK);
        if (wd >= 0)
                return wd;
        if (errno != ENOENT)
                return -errno;

        /* No /proc (a chroot, early boot): by path, the last component
         * never followed. */
        g_autofree char *abs = isempty(rel) ? g_strdup(w->root) : g_strconcat(w->root, "/", rel, NULL);
        wd = inotify_add_watch(w->fd, abs, WATCH_MASK | (isempty(rel) ? 0 : IN_DONT_FOLLOW));
        return wd >= 0 ? wd : -errno;
}

static void forget(Watcher *w, WatchDir *d) {
        g_hash_table_remove(w->by_wd, GINT_TO_POINTER(d->wd));
}

static void unwatch(Watcher *w, WatchDir *d) {
        (void) inotify_rm_watch(w->fd, d->wd);
        g_hash_table_add(w->retired, GINT_TO_POINTER(d->wd));
        forget(w, d);
}

static void remember(Watcher *w, int wd, const char *rel, int depth) {
        WatchDir *d = g_hash_table_lookup(w->by_wd, GINT_TO_POINTER(wd));

        if (d && d->depth < 0 && depth >= 0)
                return; /* the root again, through a bind mount below it */

        if (!d) {
                d = g_new0(WatchDir, 1);
                d->wd = wd;
                d->path = g_strdup(rel);
                g_hash_table_insert(w->by_wd, GINT_TO_POINTER(wd), d);
        } else if (!streq(d->path, rel)) {
                /* Moved without us seeing it (events lost, or its parent
                 * unwatched): the inode is what counts. */
                g_free(d->path);
                d->path = g_strdup(rel);
        }
        d->depth = depth;
        d->generation = w->generation;
}

static void drop_all(Watcher *w) {
        GHashTableIter it;
        void *v;

        g_hash_table_iter_init(&it, w->by_wd);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                WatchDir *d = v;
                (void) inotify_rm_watch(w->fd, d->wd);
                g_hash_table_add(w->retired, GINT_TO_POINTER(d->wd));
        }
        g_hash_table_remove_all(w->by_wd);
        w->root_wd = -1;
}

/* A folder renamed away takes its sub-folders along: their paths are wrong
 * now, and if it moved within the tree the new place is watched afresh. */
static void drop_subtree(Watcher *w, const char *rel) {
        g_autoptr(GPtrArray) gone = g_ptr_array_new();
        size_t n = strlen(rel);
        GHashTableIter it;
        void *v;

        g_hash_table_iter_init(&it, w->by_wd);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                WatchDir *d = v;
                if (strncmp(d->path, rel, n) == 0 && (d->path[n] == '\0' || d->path[n] == '/'))
                        g_ptr_array_add(gone, d);
        }
        for (guint i = 0; i < gone->len; i++)
                unwatch(w, gone->pdata[i]);
}

/* Opens a watched folder by walking from the root one component at a time,
 * never following a symlink below the root. No folder is kept open between
 * events: an open root would hold back its IN_DELETE_SELF until closed. */
static int open_folder(Watcher *w, const char *rel) {
        _cleanup_close_ int fd = open(w->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;

        for (const char *p = rel; *p;) {
                const char *slash = strchr(p, '/');
                size_t n = slash ? (size_t) (slash - p) : strlen(p);
                g_autofree char *comp = g_strndup(p, n);

                int next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0)
                        return -errno;
                closep(&fd);
                fd = next;
                p += n;
                if (*p == '/')
                        p++;
        }
        return TAKE_FD(fd);
}

static void walk_children(Watcher *w, int fd, GString *rel, int depth, bool crawl);

/* Watch first, then read: a file written in between is reported twice at
 * worst, never lost. A folder whose link count says it has no sub-folder
 * (ext4, xfs: 2) is not read unless its files are wanted (a crawl): a date
 * folder of a year-old campaign costs one watch, not a read of its files. */
static void watch_and_walk(Watcher *w, int fd, GString *rel, int depth, bool crawl) {
        int wd = add_watch_fd(w, fd, rel->str);
        if (wd >= 0)
                remember(w, wd, rel->str, depth);
        else if (!errno_is_vanished(-wd))
                degrade(w, rel->str);

        struct stat st;
        if (!crawl && depth >= 0 && fstat(fd, &st) >= 0 && st.st_nlink == 2) {
                close(fd);
                return;
        }
        walk_children(w, fd, rel, depth, crawl);
}

/* Takes over fd. Reports the regular files found when crawling a folder
 * that appeared: they were written before its watch existed. */
static void walk_children(Watcher *w, int fd, GString *rel, int depth, bool crawl) {
        _cleanup_(closedirp) DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                degrade(w, rel->str);
                return;
        }

        size_t base = rel->len;
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                degrade(w, rel->str);
                        break;
                }
                if (name_is_hidden_or_temporary(de->d_name))
                        continue; /* also "." and ".." */

                unsigned char type = de->d_type;
                if (type == DT_UNKNOWN) {
                        struct stat st;
                        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                                continue;
                        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
                }

                if (base > 0)
                        g_string_append_c(rel, '/');
                g_string_append(rel, de->d_name);

                if (type == DT_DIR && depth + 1 <= WATCHER_MAX_DEPTH) {
                        int cfd = openat(dirfd(d), de->d_name,
                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
                        if (cfd >= 0)
                                watch_and_walk(w, cfd, rel, depth + 1, crawl);
                        else if (!errno_is_vanished(errno))
                                degrade(w, rel->str);
                } else if (type == DT_REG && crawl && depth >= 0)
                        w->fn(w, WATCH_FILE_FOUND, rel->str, w->userdata);

                g_string_truncate(rel, base);
        }
}

/* A folder created or renamed into parent_rel. */
static void watch_new_folder(Watcher *w, const char *parent_rel, const char *name, int depth) {
        _cleanup_close_ int pfd = open_folder(w, parent_rel);
        if (pfd < 0)
                return;

        g_autoptr(GString) rel = g_string_new(parent_rel);
        if (rel->len > 0)
                g_string_append_c(rel, '/');
        g_string_append(rel, name);

        int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
                if (!errno_is_vanished(errno))
                        degrade(w, rel->str);
                return;
        }
        watch_and_walk(w, fd, rel, depth, true);
}

static bool is_regular_file(Watcher *w, const char *folder_rel, const char *name) {
        _cleanup_close_ int fd = open_folder(w, folder_rel);
        struct stat st;

        return fd >= 0 && fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISREG(st.st_mode);
}

static bool is_directory(const char *path) {
        struct stat st;
        return stat(path, &st) >= 0 && S_ISDIR(st.st_mode);
}

static void unaim_parent(Watcher *w) {
        if (w->parent_wd < 0)
                return;
        (void) inotify_rm_watch(w->fd, w->parent_wd);
        g_hash_table_add(w->retired, GINT_TO_POINTER(w->parent_wd));
        w->parent_wd = -1;
        w->parent_next = mfree(w->parent_next);
}

/* The root is missing: watch its nearest existing ancestor, so that its
 * creation (or that of the next folder on the way) is seen at once rather
 * than at the next periodic rescan. */
static void aim_parent(Watcher *w) {
        for (unsigned tries = 0; tries < 64; tries++) {
                g_autofree char *child = g_strdup(w->root);
                int wd = -1;

                for (;;) {
                        g_autofree char *dir = g_path_get_dirname(child);
                        wd = inotify_add_watch(w->fd, dir, PARENT_MASK);
                        if (wd >= 0)
                                break;
                        if (!errno_is_vanished(errno) || streq(dir, child)) {
                                /* Nothing to watch: the periodic refresh
                                 * will look again. */
                                degrade(w, "");
                                unaim_parent(w);
                                return;
                        }
                        g_free(child);
                        child = TAKE_PTR(dir);
                }

                if (wd != w->parent_wd) {
                        unaim_parent(w);
                        w->parent_wd = wd;
                }
                g_free(w->parent_next);
                w->parent_next = g_path_get_basename(child);

                /* Created between our look and the watch? Look again. */
                if (!is_directory(child))
                        return;
                if (streq(child, w->root)) {
                        request_rescan(w);
                        return;
                }
        }
}

int watcher_refresh(Watcher *w) {
        g_return_val_if_fail(w, -EINVAL);

        w->generation++;
        w->refresh_failed = false;

        _cleanup_close_ int fd = open(w->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
                int r = -errno;
                if (w->root_wd >= 0 || g_hash_table_size(w->by_wd) > 0) {
                        drop_all(w);
                        request_rescan(w);
                }
                if (!errno_is_vanished(-r)) {
                        degrade(w, "");
                        return r;
                }
                aim_parent(w);
                return 0;
        }

        int wd = add_watch_fd(w, fd, "");
        if (wd < 0) {
                degrade(w, "");
                drop_all(w);
        } else if (w->root_wd >= 0 && wd != w->root_wd) {
                /* Replaced behind our back (mounted over, or renamed over
                 * with the events still queued): all of it is new. */
                drop_all(w);
                request_rescan(w);
        }
        unaim_parent(w);
        if (wd >= 0) {
                w->root_wd = wd;
                remember(w, wd, "", -1);
        }

        g_autoptr(GString) rel = g_string_new(NULL);
        walk_children(w, TAKE_FD(fd), rel, -1, false);

        /* Folders not met on this walk were renamed or removed while their
         * events were lost. */
        g_autoptr(GPtrArray) stale = g_ptr_array_new();
        GHashTableIter it;
        void *v;
        g_hash_table_iter_init(&it, w->by_wd);
        while (g_hash_table_iter_next(&it, NULL, &v))
                if (((WatchDir *) v)->generation != w->generation)
                        g_ptr_array_add(stale, v);
        for (guint i = 0; i < stale->len; i++)
                unwatch(w, stale->pdata[i]);

        if (!w->refresh_failed) {
                w->degraded = false;
                g_hash_table_remove_all(w->degraded_reported);
        }
        return 0;
}

static void handle_event(Watcher *w, const struct inotify_event *ev) {
        if (ev->mask & IN_Q_OVERFLOW) {
                w->n_overflows++;
                request_rescan(w);
                return;
        }
        if (ev->wd < 0)
                return;

        if (g_hash_table_contains(w->retired, GINT_TO_POINTER(ev->wd))) {
                if (ev->mask & IN_IGNORED)
                        g_hash_table_remove(w->retired, GINT_TO_POINTER(ev->wd));
                return;
        }

        if (ev->wd == w->parent_wd) {
                /* The ancestor may be busy (/srv, /mnt): only the way to
                 * the root matters. */
                if (ev->mask & IN_IGNORED)
                        w->parent_wd = -1;
                else if (!(ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) &&
                         !streq_ptr(ev->len > 0 ? ev->name : "", w->parent_next))
                        return;
                aim_parent(w);
                return;
        }

        WatchDir *d = g_hash_table_lookup(w->by_wd, GINT_TO_POINTER(ev->wd));
        if (!d) {
                /* Our map and the kernel's disagree: trust neither. */
                request_rescan(w);
                return;
        }

        if (ev->mask & (IN_IGNORED | IN_UNMOUNT | IN_DELETE_SELF | IN_MOVE_SELF)) {
                if (d->depth < 0) {
                        drop_all(w);
                        request_rescan(w);
                } else if (ev->mask & IN_IGNORED)
                        forget(w, d);
                else if (ev->mask & (IN_UNMOUNT | IN_MOVE_SELF))
                        /* A mount below the root went, or a folder moved
                         * without its parent telling us. A folder deleted
                         * is told by its parent and ends in IN_IGNORED. */
                        request_rescan(w);
                return;
        }

        const char *name = ev->len > 0 ? ev->name : "";
        if (isempty(name) || name_is_hidden_or_temporary(name))
                return;

        /* Callbacks below may refresh, which may free d. */
        int depth = d->depth;
        g_autofree char *folder = g_strdup(d->path);
        g_autofree char *path = path_join(folder, name);

        if (ev->mask & IN_ISDIR) {
                if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
                        if (depth + 1 <= WATCHER_MAX_DEPTH)
                                watch_new_folder(w, folder, name, depth + 1);
                } else if (ev->mask & IN_MOVED_FROM) {
                        /* The files that went with it are known only to the
                         * consumer: a rescan tells it what is gone. */
                        drop_subtree(w, path);
                        request_rescan(w);
                }
                return;
        }

        if (depth < 0)
                return; /* directly in the root: no camera's */

        if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_ATTRIB)) {
                if (is_regular_file(w, folder, name))
                        w->fn(w,
                              ev->mask & IN_MOVED_TO    ? WATCH_FILE_READY :
                              ev->mask & IN_CLOSE_WRITE ? WATCH_FILE_WRITTEN :
                                                          WATCH_FILE_ATTRIB,
                              path, w->userdata);
        } else if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
                w->fn(w, WATCH_FILE_GONE, path, w->userdata);
}

static int on_inotify(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Watcher *w = userdata;

        for (unsigned i = 0; i < WATCHER_READS_PER_DISPATCH; i++) {
                ssize_t n = read(w->fd, w->buf, sizeof w->buf);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        /* Returning an error would disable the source for
                         * good; what was lost is found by a rescan. */
                        request_rescan(w);
                        return 0;
                }

                for (const uint8_t *p = w->buf; p < w->buf + n;) {
                        const struct inotify_event *ev = (const struct inotify_event *) (const void *) p;
                        handle_event(w, ev);
                        p += sizeof(struct inotify_event) + ev->len;
                }
        }
        return 0;
}

static int on_dispatch(sd_event_source *s, void *userdata) {
        Watcher *w = userdata;

        if (w->rescan_pending) {
                /* Watches first, so that the consumer's rescan and the
                 * events from here on leave no gap. A request the refresh
                 * makes (the root appeared meanwhile) is for the next
                 * iteration: this refresh did not see it. */
                w->rescan_pending = false;
                (void) watcher_refresh(w);
                w->fn(w, WATCH_RESCAN, NULL, w->userdata);
        }

        g_autoptr(GPtrArray) degraded = TAKE_PTR(w->pending_degraded);
        w->pending_degraded = g_ptr_array_new_with_free_func(g_free);
        for (guint i = 0; i < degraded->len; i++)
                w->fn(w, WATCH_DEGRADED, degraded->pdata[i], w->userdata);
        return 0;
}

int watcher_new(sd_event *event, const char *root, WatcherFn fn, void *userdata, Watcher **ret) {
        g_return_val_if_fail(event, -EINVAL);
        g_return_val_if_fail(!isempty(root), -EINVAL);
        g_return_val_if_fail(fn, -EINVAL);
        g_return_val_if_fail(ret, -EINVAL);

        _cleanup_(watcher_freep) Watcher *w = g_new0(Watcher, 1);
        w->fd = w->root_wd = w->parent_wd = -1;
        w->event = sd_event_ref(event);
        w->fn = fn;
        w->userdata = userdata;
        w->by_wd = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, watch_dir_free);
        w->retired = g_hash_table_new(g_direct_hash, g_direct_equal);
        w->degraded_reported = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        w->pending_degraded = g_ptr_array_new_with_free_func(g_free);

        /* "/srv/raw/" and "/srv/raw" are one root; the ancestor walk needs
         * the latter. */
        w->root = g_strdup(root);
        for (size_t n = strlen(w->root); n > 1 && w->root[n - 1] == '/'; n--)
                w->root[n - 1] = '\0';

        w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (w->fd < 0)
                return -errno;

        int r = sd_event_add_io(event, &w->io, w->fd, EPOLLIN, on_inotify, w);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(w->io, "watcher-inotify");

        r = sd_event_add_defer(event, &w->defer, on_dispatch, w);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(w->defer, "watcher-dispatch");
        r = sd_event_source_set_enabled(w->defer, SD_EVENT_OFF);
        if (r < 0)
                return r;

        /* What cannot be watched is reported as WATCH_DEGRADED and tried
         * again on every refresh: not a reason to give up. */
        (void) watcher_refresh(w);

        *ret = TAKE_PTR(w);
        return 0;
}

Watcher *watcher_free(Watcher *w) {
        if (!w)
                return NULL;

        sd_event_source_disable_unref(w->io);
        sd_event_source_disable_unref(w->defer);
        /* Closing the inotify fd drops every watch with it. */
        closep(&w->fd);
        if (w->by_wd)
                g_hash_table_destroy(w->by_wd);
        if (w->retired)
                g_hash_table_destroy(w->retired);
        if (w->degraded_reported)
                g_hash_table_destroy(w->degraded_reported);
        if (w->pending_degraded)
                g_ptr_array_unref(w->pending_degraded);
        g_free(w->parent_next);
        g_free(w->root);
        sd_event_unref(w->event);
        g_free(w);
        return NULL;
}

bool watcher_is_degraded(const Watcher *w) {
        return w && w->degraded;
}

bool watcher_needs_refresh(const Watcher *w) {
        return w && (w->degraded || w->root_wd < 0);
}

unsigned watcher_n_watches(const Watcher *w) {
        return w ? g_hash_table_size(w->by_wd) : 0;
}

unsigned watcher_n_overflows(const Watcher *w) {
        return w ? w->n_overflows : 0;
}
