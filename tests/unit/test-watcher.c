/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The watcher on a real sd-event loop and a real tree. Never a fixed sleep:
 * the loop runs until what is expected happened or a 10 s deadline passed,
 * and "nothing else was reported" is proved with a cookie file, written
 * last and waited for — inotify delivers one instance's events in order. */

#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <sys/fsuid.h>
#include <sys/stat.h>

#include "util.h"
#include "watcher.h"

#define DEADLINE_USEC (10 * USEC_PER_SEC)
#define STEP_USEC ((uint64_t) 100000)

typedef struct Fixture {
        char *tmp;  /* everything the test makes lives here */
        char *root; /* tmp/raw */
        sd_event *event;
        Watcher *w;
        GPtrArray *events; /* "READY path", "GONE path", "RESCAN", "DEGRADED path" */
        unsigned n_cookies;
        unsigned n_found; /* files reported as found by a crawl */
} Fixture;

static const char *const type_names[] = {
        [WATCH_FILE_READY] = "READY",
        [WATCH_FILE_WRITTEN] = "READY",
        [WATCH_FILE_ATTRIB] = "ATTRIB",
        [WATCH_FILE_FOUND] = "READY", /* counted apart in n_found */
        [WATCH_FILE_GONE] = "GONE",
        [WATCH_RESCAN] = "RESCAN",
        [WATCH_DEGRADED] = "DEGRADED",
};

static void on_watch(Watcher *w, WatchEventType type, const char *path, void *userdata) {
        Fixture *f = userdata;

        g_assert_true(w == f->w || !f->w);
        g_assert_true((type == WATCH_RESCAN) == (path == NULL));
        if (type == WATCH_FILE_FOUND)
                f->n_found++;
        g_ptr_array_add(f->events,
                        path ? g_strdup_printf("%s %s", type_names[type], path) : g_strdup(type_names[type]));
}

static char *at(Fixture *f, const char *rel) {
        return g_build_filename(f->root, rel, NULL);
}

static char *in_tmp(Fixture *f, const char *rel) {
        return g_build_filename(f->tmp, rel, NULL);
}

static void make_dir_abs(const char *p) {
        g_assert_cmpint(g_mkdir_with_parents(p, 0755), ==, 0);
}

static void make_dir(Fixture *f, const char *rel) {
        g_autofree char *p = at(f, rel);
        make_dir_abs(p);
}

static void write_abs(const char *p) {
        int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(write(fd, "data", 4), ==, 4);
        g_assert_cmpint(close(fd), ==, 0);
}

static void write_file(Fixture *f, const char *rel) {
        g_autofree char *p = at(f, rel);
        write_abs(p);
}

static void rename_abs(const char *from, const char *to) {
        g_assert_cmpint(rename(from, to), ==, 0);
}

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

static unsigned count(Fixture *f, const char *line) {
        unsigned n = 0;
        for (guint i = 0; i < f->events->len; i++)
                if (streq(f->events->pdata[i], line))
                        n++;
        return n;
}

static unsigned count_prefix(Fixture *f, const char *prefix) {
        unsigned n = 0;
        for (guint i = 0; i < f->events->len; i++)
                if (g_str_has_prefix(f->events->pdata[i], prefix))
                        n++;
        return n;
}

static bool seen(Fixture *f, const char *line) {
        return count(f, line) > 0;
}

static void forget_events(Fixture *f) {
        g_ptr_array_set_size(f->events, 0);
}

/* Runs the loop until every line was reported at least once. */
static void wait_for_lines(Fixture *f, const char *const *lines) {
        usec_t deadline = now_monotonic() + DEADLINE_USEC;
        for (;;) {
                const char *missing = NULL;
                for (size_t i = 0; lines[i] && !missing; i++)
                        if (!seen(f, lines[i]))
                                missing = lines[i];
                if (!missing)
                        return;
                if (now_monotonic() > deadline) {
                        for (guint i = 0; i < f->events->len; i++)
                                g_test_message("reported: %s", (char *) f->events->pdata[i]);
                        g_error("not reported within %u s: %s", (unsigned) (DEADLINE_USEC / USEC_PER_SEC), missing);
                }
                g_assert_cmpint(sd_event_run(f->event, STEP_USEC), >=, 0);
        }
}

static void wait_for(Fixture *f, const char *line) {
        wait_for_lines(f, (const char *const[]) { line, NULL });
}

/* Everything done in the tree before this call has been seen afterwards. */
static void settle(Fixture *f, const char *folder) {
        g_autofree char *rel = g_strdup_printf("%s/cookie-%u", folder, ++f->n_cookies);
        write_file(f, rel);
        g_autofree char *line = g_strconcat("READY ", rel, NULL);
        wait_for(f, line);
        /* Flush what became pending with the cookie, e.g. a rescan. */
        while (sd_event_run(f->event, 0) > 0)
                ;
}

static void start(Fixture *f) {
        g_assert_cmpint(watcher_new(f->event, f->root, on_watch, f, &f->w), ==, 0);
}

static void setup(Fixture *f, const void *data) {
        GError *error = NULL;
        f->tmp = g_dir_make_tmp("test-watcher-XXXXXX", &error);
        g_assert_no_error(error);
        /* Readable by the unprivileged fsuid the permission test takes. */
        g_assert_cmpint(chmod(f->tmp, 0755), ==, 0);
        f->root = g_build_filename(f->tmp, "raw", NULL);
        make_dir(f, "CamA/20251212");
        f->events = g_ptr_array_new_with_free_func(g_free);
        g_assert_cmpint(sd_event_new(&f->event), >=, 0);
}

static void teardown(Fixture *f, const void *data) {
        f->w = watcher_free(f->w);
        f->event = sd_event_unref(f->event);
        g_ptr_array_unref(f->events);
        rm_rf(f->tmp);
        g_free(f->root);
        g_free(f->tmp);
}

/* ---- sysctls lowered for a moment, always put back ---- */

typedef struct Sysctl {
        const char *path;
        char *old;
} Sysctl;

static void sysctl_restore(Sysctl *s) {
        if (!s->old)
                return;
        g_autoptr(GError) error = NULL;
        if (!g_file_set_contents_full(s->path, s->old, -1, G_FILE_SET_CONTENTS_NONE, 0644, &error))
                g_printerr("Cannot restore %s to %s: %s\n", s->path, s->old, error->message);
        g_clear_pointer(&s->old, g_free);
}

/* False when the test cannot change it: not root, or /proc/sys read-only. */
static bool sysctl_set(Sysctl *s, const char *path, const char *value) {
        s->path = path;
        if (geteuid() != 0)
                return false;
        if (!g_file_get_contents(path, &s->old, NULL, NULL))
                return false;
        g_strchomp(s->old);
        if (!g_file_set_contents_full(path, value, -1, G_FILE_SET_CONTENTS_NONE, 0644, NULL)) {
                g_clear_pointer(&s->old, g_free);
                return false;
        }
        return true;
}

/* ---- tests ---- */

static void test_write_in_place(Fixture *f, const void *data) {
        start(f);

        g_autofree char *p = at(f, "CamA/20251212/shot_001.tiff");
        int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(write(fd, "half", 4), ==, 4);
        /* Created and being written: not ready yet. */
        settle(f, "CamA/20251212");
        g_assert_cmpuint(count_prefix(f, "READY CamA/20251212/shot_001"), ==, 0);

        g_assert_cmpint(write(fd, "rest", 4), ==, 4);
        g_assert_cmpint(close(fd), ==, 0);
        wait_for(f, "READY CamA/20251212/shot_001.tiff");
        settle(f, "CamA/20251212");
        g_assert_cmpuint(count(f, "READY CamA/20251212/shot_001.tiff"), ==, 1);
        g_assert_cmpuint(count_prefix(f, "RESCAN"), ==, 0);
        g_assert_cmpuint(count_prefix(f, "DEGRADED"), ==, 0);
        g_assert_false(watcher_is_degraded(f->w));
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 3);
}

static void test_temp_then_rename(Fixture *f, const void *data) {
        start(f);

        /* What sync clients do: write under a temporary name, rename. */
        write_file(f, "CamA/20251212/img.tiff.part");
        write_file(f, "CamA/20251212/.~img2.tiff");
        write_file(f, "CamA/20251212/img3.tiff.crdownload");
        g_autofree char *part = at(f, "CamA/20251212/img.tiff.part");
        g_autofree char *final = at(f, "CamA/20251212/img.tiff");
        g_autofree char *hidden = at(f, "CamA/20251212/.~img2.tiff");
        g_autofree char *final2 = at(f, "CamA/20251212/img2.tiff");
        rename_abs(part, final);
        rename_abs(hidden, final2);

        wait_for_lines(f, (const char *const[]) { "READY CamA/20251212/img.tiff", "READY CamA/20251212/img2.tiff",
                                                  NULL });
        /* Hidden and temporary names are never reported, in any way. */
        write_file(f, "CamA/20251212/~$lock.tiff");
        write_file(f, "CamA/20251212/x.TMP");
        write_file(f, "CamA/20251212/y.partial");
        g_autofree char *y = at(f, "CamA/20251212/y.partial");
        g_assert_cmpint(unlink(y), ==, 0);
        settle(f, "CamA/20251212");

        g_assert_cmpuint(count(f, "READY CamA/20251212/img.tiff"), ==, 1);
        g_assert_cmpuint(count(f, "READY CamA/20251212/img2.tiff"), ==, 1);
        for (guint i = 0; i < f->events->len; i++) {
                const char *e = f->events->pdata[i];
                g_assert_true(g_str_has_prefix(e, "READY CamA/20251212/img") ||
                              g_str_has_prefix(e, "READY CamA/20251212/cookie-"));
        }
}

static void test_gone(Fixture *f, const void *data) {
        write_file(f, "CamA/20251212/a.tiff");
        write_file(f, "CamA/20251212/b.tiff");
        start(f);

        g_autofree char *a = at(f, "CamA/20251212/a.tiff");
        g_autofree char *away = in_tmp(f, "a-away.tiff");
        g_autofree char *b = at(f, "CamA/20251212/b.tiff");
        g_autofree char *c = at(f, "CamA/20251212/c.tiff");
        rename_abs(a, away);
        g_assert_cmpint(unlink(b), ==, 0);
        write_file(f, "CamA/20251212/c.tiff");
        g_autofree char *d = at(f, "CamA/20251212/d.tiff");
        rename_abs(c, d); /* within the tree: gone, then ready */

        wait_for_lines(f, (const char *const[]) { "GONE CamA/20251212/a.tiff", "GONE CamA/20251212/b.tiff",
                                                  "GONE CamA/20251212/c.tiff", "READY CamA/20251212/d.tiff",
                                                  NULL });
        settle(f, "CamA/20251212");
        g_assert_cmpuint(count_prefix(f, "GONE"), ==, 3);
        g_assert_cmpuint(count_prefix(f, "RESCAN"), ==, 0);
}

static void test_new_folders(Fixture *f, const void *data) {
        start(f);

        /* One at a time: each folder is watched before its files come. */
        make_dir(f, "CamB");
        settle(f, "CamA/20251212");
        make_dir(f, "CamB/20251213");
        settle(f, "CamA/20251212");
        write_file(f, "CamB/20251213/b1.tiff");
        wait_for(f, "READY CamB/20251213/b1.tiff");

        /* All at once, before the loop runs: the files were written before
         * any watch on their folder existed, only the crawl finds them. */
        make_dir(f, "CamC/20251213/sub");
        make_dir(f, "CamC/.hidden");
        write_file(f, "CamC/20251213/c1.tiff");
        write_file(f, "CamC/20251213/sub/c2.tiff");
        write_file(f, "CamC/20251213/.c3.tiff");
        write_file(f, "CamC/.hidden/c4.tiff");
        write_file(f, "CamC/c5.tiff");
        wait_for_lines(f, (const char *const[]) { "READY CamC/20251213/c1.tiff", "READY CamC/20251213/sub/c2.tiff",
                                                  "READY CamC/c5.tiff", NULL });

        /* The crawled folders are watched from then on. */
        write_file(f, "CamC/20251213/sub/c6.tiff");
        wait_for(f, "READY CamC/20251213/sub/c6.tiff");
        settle(f, "CamC/20251213");
        g_assert_cmpuint(count_prefix(f, "READY CamC/20251213/.c3"), ==, 0);
        g_assert_cmpuint(count_prefix(f, "READY CamC/.hidden"), ==, 0);
        g_assert_cmpuint(count_prefix(f, "RESCAN"), ==, 0);
        /* raw, CamA, CamA/20251212, CamB, CamB/20251213, CamC, CamC/20251213, CamC/20251213/sub */
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 8);
}

static void test_tree_moved_in(Fixture *f, const void *data) {
        start(f);

        /* Prepared outside the root, then moved in whole (mv). */
        static const char *const files[] = {
                "CamX/x0.tiff",
                "CamX/20251214/x1.tiff",
                "CamX/20251214/x2 with space.fer",
                "CamX/20251214/deeper/x3.tiff",
                NULL,
        };
        g_autofree char *staging = in_tmp(f, "staging");
        g_autofree char *deeper = in_tmp(f, "staging/CamX/20251214/deeper");
        make_dir_abs(deeper);
        for (size_t i = 0; files[i]; i++) {
                g_autofree char *p = g_build_filename(staging, files[i], NULL);
                write_abs(p);
        }
        g_autofree char *hidden = in_tmp(f, "staging/CamX/20251214/.x4.tiff");
        g_autofree char *tmpname = in_tmp(f, "staging/CamX/20251214/x5.tiff.tmp");
        g_autofree char *link = in_tmp(f, "staging/CamX/20251214/x6.tiff");
        write_abs(hidden);
        write_abs(tmpname);
        g_assert_cmpint(symlink("x1.tiff", link), ==, 0);

        g_autofree char *cam = in_tmp(f, "staging/CamX");
        g_autofree char *cam_target = at(f, "CamX");
        rename_abs(cam, cam_target);

        /* And a date folder moved into an existing camera. */
        g_autofree char *date = in_tmp(f, "staging/20251215");
        make_dir_abs(date);
        g_autofree char *y1 = in_tmp(f, "staging/20251215/y1.tiff");
        write_abs(y1);
        g_autofree char *date_target = at(f, "CamA/20251215");
        rename_abs(date, date_target);

        wait_for_lines(f, (const char *const[]) {
                                  "READY CamX/x0.tiff",
                                  "READY CamX/20251214/x1.tiff",
                                  "READY CamX/20251214/x2 with space.fer",
                                  "READY CamX/20251214/deeper/x3.tiff",
                                  "READY CamA/20251215/y1.tiff",
                                  NULL,
                          });
        /* Found by the crawl, not by an event: the consumer may let them settle. */
        g_assert_cmpuint(f->n_found, >=, 5);

        /* Watched from then on. */
        write_file(f, "CamX/20251214/deeper/x7.tiff");
        wait_for(f, "READY CamX/20251214/deeper/x7.tiff");
        settle(f, "CamA/20251215");

        g_assert_cmpuint(count_prefix(f, "READY CamX/20251214/.x4"), ==, 0);
        g_assert_cmpuint(count_prefix(f, "READY CamX/20251214/x5"), ==, 0);
        g_assert_cmpuint(count_prefix(f, "READY CamX/20251214/x6"), ==, 0);
        g_assert_cmpuint(count_prefix(f, "READY"), ==, 6 + f->n_cookies);
        g_assert_cmpuint(count_prefix(f, "RESCAN"), ==, 0);
}

/* A folder renamed away (or within the tree): its files' old paths are
 * known only to the consumer, so a rescan is asked for; its new place is
 * crawled like any folder moved in. */
static void test_folder_moved_away(Fixture *f, const void *data) {
        make_dir(f, "CamA/20251212/sub");
        write_file(f, "CamA/20251212/a.tiff");
        write_file(f, "CamA/20251212/sub/b.tiff");
        make_dir(f, "CamB");
        start(f);
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 5);

        g_autofree char *from = at(f, "CamA/20251212");
        g_autofree char *away = in_tmp(f, "away");
        rename_abs(from, away);
        wait_for(f, "RESCAN");
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 3);

        /* Nothing under the old name is reported any more. */
        g_autofree char *c = in_tmp(f, "away/c.tiff");
        write_abs(c);
        settle(f, "CamB");
        g_assert_cmpuint(count_prefix(f, "READY CamA/20251212"), ==, 0);

        /* Back in under another name, within the tree. */
        forget_events(f);
        g_autofree char *back = at(f, "CamB/20251213");
        rename_abs(away, back);
        wait_for_lines(f, (const char *const[]) { "READY CamB/20251213/a.tiff", "READY CamB/20251213/sub/b.tiff",
                                                  "READY CamB/20251213/c.tiff", NULL });
        g_autofree char *renamed = at(f, "CamB/20251214");
        rename_abs(back, renamed);
        wait_for_lines(f, (const char *const[]) { "RESCAN", "READY CamB/20251214/a.tiff",
                                                  "READY CamB/20251214/sub/b.tiff", NULL });
        write_file(f, "CamB/20251214/sub/d.tiff");
        wait_for(f, "READY CamB/20251214/sub/d.tiff");
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 5);
}

static void test_symlinks(Fixture *f, const void *data) {
        write_file(f, "CamA/20251212/real.tiff");
        g_autofree char *outside_dir = in_tmp(f, "outside");
        make_dir_abs(outside_dir);
        g_autofree char *outside_file = in_tmp(f, "outside/o.tiff");
        write_abs(outside_file);
        g_autofree char *looped = at(f, "CamA/loop");
        g_assert_cmpint(symlink("..", looped), ==, 0);
        start(f);
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 3);

        g_autofree char *l1 = at(f, "CamA/20251212/l1.tiff");
        g_autofree char *l2 = at(f, "CamA/20251212/l2");
        g_autofree char *l3 = at(f, "CamLink");
        g_assert_cmpint(symlink("real.tiff", l1), ==, 0);
        g_assert_cmpint(symlink(outside_dir, l2), ==, 0);
        g_assert_cmpint(symlink(outside_dir, l3), ==, 0);
        /* A symlink renamed in arrives as IN_MOVED_TO: lstat tells. */
        g_autofree char *staged = in_tmp(f, "staged-link.tiff");
        g_autofree char *l4 = at(f, "CamA/20251212/l4.tiff");
        g_assert_cmpint(symlink(outside_file, staged), ==, 0);
        rename_abs(staged, l4);
        /* Files written behind the symlinks are not ours. */
        g_autofree char *o2 = in_tmp(f, "outside/o2.tiff");
        write_abs(o2);
        settle(f, "CamA/20251212");

        g_assert_cmpuint(f->events->len, ==, 1); /* the cookie */
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 3);

        /* A refresh does not follow them either. */
        g_assert_cmpint(watcher_refresh(f->w), ==, 0);
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 3);
}

static void test_files_in_root_ignored(Fixture *f, const void *data) {
        start(f);
        write_file(f, "stray.tiff");
        settle(f, "CamA");
        g_assert_cmpuint(count_prefix(f, "READY stray"), ==, 0);
        g_assert_cmpuint(f->events->len, ==, 1);
}

static void test_overflow(Fixture *f, const void *data) {
        _cleanup_(sysctl_restore) Sysctl s = {};
        /* The limit is taken when the inotify instance is made. */
        if (!sysctl_set(&s, "/proc/sys/fs/inotify/max_queued_events", "64")) {
                g_test_skip("needs root and a writable /proc/sys/fs/inotify/max_queued_events");
                return;
        }
        int r = watcher_new(f->event, f->root, on_watch, f, &f->w);
        sysctl_restore(&s);
        g_assert_cmpint(r, ==, 0);

        for (unsigned i = 0; i < 2000; i++) {
                g_autofree char *rel = g_strdup_printf("CamA/20251212/f%04u.tiff", i);
                write_file(f, rel);
        }
        wait_for(f, "RESCAN");
        g_assert_cmpuint(watcher_n_overflows(f->w), >, 0);

        /* One rescan for the whole burst, and watching goes on. */
        write_file(f, "CamA/20251212/after.tiff");
        wait_for(f, "READY CamA/20251212/after.tiff");
        settle(f, "CamA/20251212");
        g_assert_cmpuint(count(f, "RESCAN"), ==, 1);
        g_assert_cmpuint(watcher_n_overflows(f->w), ==, 1);
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 3);
}

static void test_watch_limit(Fixture *f, const void *data) {
        make_dir(f, "CamB/20251212");
        _cleanup_(sysctl_restore) Sysctl s = {};
        if (!sysctl_set(&s, "/proc/sys/fs/inotify/max_user_watches", "0")) {
                g_test_skip("needs root and a writable /proc/sys/fs/inotify/max_user_watches");
                return;
        }
        /* Nothing that could fail an assertion until it is put back. */
        int r = watcher_new(f->event, f->root, on_watch, f, &f->w);
        int r2 = r >= 0 ? watcher_refresh(f->w) : 0;
        sysctl_restore(&s);
        g_assert_cmpint(r, ==, 0);
        g_assert_cmpint(r2, ==, 0);

        g_assert_true(watcher_is_degraded(f->w));
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 0);
        wait_for_lines(f, (const char *const[]) { "DEGRADED ", "DEGRADED CamA", "DEGRADED CamA/20251212",
                                                  "DEGRADED CamB", "DEGRADED CamB/20251212", NULL });
        while (sd_event_run(f->event, 0) > 0)
                ;
        /* Once per folder, however many refreshes failed. */
        g_assert_cmpuint(f->events->len, ==, 5);

        /* Room again: the next refresh watches everything. */
        forget_events(f);
        g_assert_cmpint(watcher_refresh(f->w), ==, 0);
        g_assert_false(watcher_is_degraded(f->w));
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 5);
        write_file(f, "CamB/20251212/b.tiff");
        wait_for(f, "READY CamB/20251212/b.tiff");
        g_assert_cmpuint(count_prefix(f, "DEGRADED"), ==, 0);
}

/* Root ignores permissions: take an unprivileged file system uid
 * (setfsuid drops CAP_DAC_OVERRIDE with it). */
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

static void test_unreadable_folder(Fixture *f, const void *data) {
        make_dir(f, "CamA/locked/inner");
        make_dir(f, "CamB");
        g_autofree char *locked = at(f, "CamA/locked");
        g_assert_cmpint(chmod(locked, 0), ==, 0);

        if (!become_unprivileged()) {
                g_test_skip("cannot take an unprivileged file system uid");
                return;
        }
        int r = watcher_new(f->event, f->root, on_watch, f, &f->w);
        become_root_again();
        g_assert_cmpint(r, ==, 0);

        wait_for(f, "DEGRADED CamA/locked");
        g_assert_true(watcher_is_degraded(f->w));
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 4); /* raw, CamA, CamA/20251212, CamB */
        write_file(f, "CamB/b.tiff");
        wait_for(f, "READY CamB/b.tiff");
        g_assert_cmpuint(count_prefix(f, "DEGRADED"), ==, 1);

        g_assert_cmpint(chmod(locked, 0755), ==, 0);
        g_assert_cmpint(watcher_refresh(f->w), ==, 0);
        g_assert_false(watcher_is_degraded(f->w));
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 6);
        write_file(f, "CamA/locked/inner/c.tiff");
        wait_for(f, "READY CamA/locked/inner/c.tiff");
}

static void test_root_recreated(Fixture *f, const void *data) {
        start(f);

        rm_rf(f->root);
        wait_for(f, "RESCAN");
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 0);

        forget_events(f);
        make_dir(f, "");
        wait_for(f, "RESCAN");
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 1);

        make_dir(f, "CamZ");
        settle(f, "CamZ");
        write_file(f, "CamZ/z.tiff");
        wait_for(f, "READY CamZ/z.tiff");
        g_assert_cmpuint(count(f, "RESCAN"), ==, 1);
}

static void test_root_replaced(Fixture *f, const void *data) {
        start(f);

        /* Renamed away and another folder renamed into its place. */
        g_autofree char *old = in_tmp(f, "old-raw");
        g_autofree char *fresh = in_tmp(f, "fresh-raw");
        g_autofree char *fresh_cam = in_tmp(f, "fresh-raw/CamN");
        make_dir_abs(fresh_cam);
        rename_abs(f->root, old);
        rename_abs(fresh, f->root);
        wait_for(f, "RESCAN");

        /* The old tree is not watched any more, the new one is. */
        g_autofree char *stale = in_tmp(f, "old-raw/CamA/20251212/s.tiff");
        write_abs(stale);
        write_file(f, "CamN/n.tiff");
        wait_for(f, "READY CamN/n.tiff");
        settle(f, "CamN");
        g_assert_cmpuint(count_prefix(f, "READY CamA"), ==, 0);
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 2);
}

static void test_root_missing_at_start(Fixture *f, const void *data) {
        g_free(f->root);
        f->root = in_tmp(f, "not/yet/raw");
        start(f);
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 0);
        g_assert_false(watcher_is_degraded(f->w));

        /* Made one level at a time, the way an admin would. */
        g_autofree char *not = in_tmp(f, "not");
        g_autofree char *yet = in_tmp(f, "not/yet");
        make_dir_abs(not);
        make_dir_abs(yet);
        make_dir(f, "");
        wait_for(f, "RESCAN");
        make_dir(f, "CamA");
        settle(f, "CamA");
        write_file(f, "CamA/a.tiff");
        wait_for(f, "READY CamA/a.tiff");
        g_assert_cmpuint(count(f, "RESCAN"), ==, 1);
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 2);
        g_assert_cmpuint(count_prefix(f, "DEGRADED"), ==, 0);
}

static void test_refresh_idempotent(Fixture *f, const void *data) {
        make_dir(f, "CamB/20251212");
        start(f);
        for (unsigned i = 0; i < 3; i++) {
                g_assert_cmpint(watcher_refresh(f->w), ==, 0);
                g_assert_cmpuint(watcher_n_watches(f->w), ==, 5);
        }
        write_file(f, "CamB/20251212/b.tiff");
        wait_for(f, "READY CamB/20251212/b.tiff");
        settle(f, "CamB");
        g_assert_cmpuint(count(f, "READY CamB/20251212/b.tiff"), ==, 1);
        g_assert_cmpuint(count_prefix(f, "RESCAN"), ==, 0);
        g_assert_null(watcher_free(NULL));
}

static void test_folder_deleted(Fixture *f, const void *data) {
        make_dir(f, "CamA/20251212/sub");
        write_file(f, "CamA/20251212/a.tiff");
        write_file(f, "CamA/20251212/sub/b.tiff");
        start(f);
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 4);

        g_autofree char *date = at(f, "CamA/20251212");
        rm_rf(date);
        wait_for_lines(f, (const char *const[]) { "GONE CamA/20251212/a.tiff", "GONE CamA/20251212/sub/b.tiff", NULL });
        settle(f, "CamA");
        /* Told file by file: nothing was lost, no rescan needed. */
        g_assert_cmpuint(count_prefix(f, "RESCAN"), ==, 0);
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 2);

        /* The same name again is a new folder. */
        make_dir(f, "CamA/20251212");
        settle(f, "CamA");
        write_file(f, "CamA/20251212/c.tiff");
        wait_for(f, "READY CamA/20251212/c.tiff");
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 3);
}

/* Folders deeper than 16 below a camera folder are neither watched nor
 * crawled, like scan_tree(root, 16). */
static void test_depth_limit(Fixture *f, const void *data) {
        g_autoptr(GString) deep = g_string_new("CamD");
        for (unsigned i = 1; i <= 17; i++)
                g_string_append_printf(deep, "/d%u", i);
        make_dir(f, deep->str);
        g_autofree char *at17 = g_strconcat(deep->str, "/f17.tiff", NULL);
        write_file(f, at17);
        start(f);
        /* raw, CamA, CamA/20251212, CamD, d1 … d16 */
        g_assert_cmpuint(watcher_n_watches(f->w), ==, 3 + 1 + 16);

        g_string_truncate(deep, deep->len - strlen("/d17"));
        g_autofree char *at16 = g_strconcat(deep->str, "/f16.tiff", NULL);
        g_autofree char *at17b = g_strconcat(deep->str, "/d17/f17b.tiff", NULL);
        write_file(f, at17b);
        write_file(f, at16);
        g_autofree char *line = g_strconcat("READY ", at16, NULL);
        wait_for(f, line);
        settle(f, "CamA");
        g_assert_cmpuint(count_prefix(f, "READY CamD"), ==, 1);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

#define T(name, fn) g_test_add("/watcher/" name, Fixture, NULL, setup, fn, teardown)
        T("write-in-place", test_write_in_place);
        T("temp-then-rename", test_temp_then_rename);
        T("gone", test_gone);
        T("new-folders", test_new_folders);
        T("tree-moved-in", test_tree_moved_in);
        T("folder-moved-away", test_folder_moved_away);
        T("folder-deleted", test_folder_deleted);
        T("depth-limit", test_depth_limit);
        T("symlinks", test_symlinks);
        T("files-in-root-ignored", test_files_in_root_ignored);
        T("overflow", test_overflow);
        T("watch-limit", test_watch_limit);
        T("unreadable-folder", test_unreadable_folder);
        T("root-recreated", test_root_recreated);
        T("root-replaced", test_root_replaced);
        T("root-missing-at-start", test_root_missing_at_start);
        T("refresh-idempotent", test_refresh_idempotent);
#undef T

        return g_test_run();
}
