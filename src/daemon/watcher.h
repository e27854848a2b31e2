/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* inotify over the whole raw tree, as an sd-event source. Reports a file
 * when it is closed after writing or renamed in (never on create), when its
 * attributes change (its mtime may have been set), a file gone when it is
 * deleted or renamed away, and asks for a full rescan when
 * events may have been lost (IN_Q_OVERFLOW, an unknown watch descriptor, the
 * root replaced or unmounted). Folders created or renamed in later are
 * watched and crawled: their files are reported like renamed-in ones.
 * Hidden and temporary folder names (classify.h) are not descended into;
 * symlinks are never followed. */

#include <stdbool.h>
#include <systemd/sd-event.h>

typedef struct Watcher Watcher;

typedef enum WatchEventType {
        WATCH_FILE_READY,   /* path: relative to the root, a regular file renamed in */
        WATCH_FILE_WRITTEN, /* path: a regular file closed after writing (its mtime may still be set) */
        WATCH_FILE_ATTRIB,  /* path: a regular file whose attributes changed (mtime set, touch) */
        WATCH_FILE_FOUND, /* path: a regular file found in a folder that appeared (it may still be written) */
        WATCH_FILE_GONE,  /* path: deleted or renamed away */
        WATCH_RESCAN,     /* path NULL: events were lost, diff the tree against what is known */
        WATCH_DEGRADED,   /* path: the folder that could not be watched (watch limit, EACCES...) */
} WatchEventType;

typedef void (*WatcherFn)(Watcher *w, WatchEventType type, const char *path, void *userdata);

/* The root need not exist yet: the watcher then watches for it to appear
 * (checking on each rescan) and asks for a rescan when it does. */
int watcher_new(sd_event *event, const char *root, WatcherFn fn, void *userdata, Watcher **ret);
Watcher *watcher_free(Watcher *w);

/* Adds watches on every folder of the tree (again), e.g. after a rescan
 * request or when the root appeared. Blocking but cheap (no stat of files). */
int watcher_refresh(Watcher *w);

bool watcher_is_degraded(const Watcher *w); /* some folder is not watched */
/* Some folder, or the root itself (not there yet), is not watched: a
 * refresh may mend it. Otherwise events keep the watches as they must be. */
bool watcher_needs_refresh(const Watcher *w);
unsigned watcher_n_watches(const Watcher *w);
unsigned watcher_n_overflows(const Watcher *w);
