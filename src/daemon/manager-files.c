/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Files in: inotify reports and scans become classified files for the
 * engine; fresh files found by a crawl settle first; rescans are diffs. */

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "bus-manager.h"
#include "camera.h"
#include "classify.h"
#include "log.h"
#include "manager-internal.h"
#include "scan.h"

#define SCAN_MAX_DEPTH 16

/* ---- files in ---- */

/* The camera folder of a relative path and the file's base name. */
static bool split_path(const char *rel, char **ret_camera, const char **ret_name) {
        const char *slash = strchr(rel, '/');
        const char *base = strrchr(rel, '/');
        if (!slash || slash == rel || !base[1])
                return false;
        *ret_camera = g_strndup(rel, (gsize) (slash - rel));
        *ret_name = base + 1;
        return true;
}

const CameraConfig *manager_camera_config(Manager *m, const char *folder) {
        const Config *c = m->config;
        /* A camera the service fires and downloads from is a camera of
         * its shots, whatever the image's extension. */
        if (c->download && streq(c->download_root, c->raw_root) && manager_cameras_has_id(m, folder))
                return config_download_camera(m->config, folder);
        return config_camera(m->config, folder);
}

int manager_ensure_camera(Manager *m, const char *name, uint32_t *ret) {
        const CameraConfig *cc = manager_camera_config(m, name);
        if (!cc)
                return -ENOENT;
        if (engine_find_camera(m->engine, name, ret) >= 0)
                return 0;
        g_autofree const char **kinds = config_camera_kind_ids(cc);
        int r = engine_add_camera(m->engine, name, kinds, (unsigned) cc->n_kinds, cc->expected, ret);
        if (r >= 0) {
                manager_camera_added(m, *ret, cc);
                log_info("Camera %s: %zu kind(s), %s%s.", name, cc->n_kinds, cc->expected ? "expected" : "not expected",
                         cc->trigger ? ", trigger" : "");
                bus_property_changed(m, "Cameras");
                bus_property_changed(m, "TriggerCameras");
        }
        return r;
}

bool manager_file_eligible(Manager *m, const char *rel, nsec_t mtime) {
        g_autofree char *camera = NULL;
        const char *name;
        size_t kind;
        bool trigger;

        if (!split_path(rel, &camera, &name))
                return false;
        const CameraConfig *cc = manager_camera_config(m, camera);
        return cc && classify_file(m->config, cc, name, &kind, &trigger) == FILE_ELIGIBLE;
}

nsec_t manager_horizon(const Manager *m) {
        if (m->once)
                return m->since;
        return sat_sub(now_realtime(), (nsec_t) (m->config->max_age_sec * (double) NSEC_PER_SEC));
}

void manager_report_ignored(Manager *m, const char *camera, const char *rel, nsec_t mtime, const char *reason,
                            const char *why) {
        /* Said once per file (path and mtime, rule 15): rescans see the
         * same file again. Forgotten with the history horizon. */
        EnginePathKey k;
        engine_identity_key(rel, mtime, &k);
        if (g_hash_table_contains(m->ignored_seen, &k))
                return;
        g_hash_table_insert(m->ignored_seen, g_memdup2(&k, sizeof k), g_memdup2(&mtime, sizeof mtime));
        g_autofree char *raw = raw_path_of(m, rel);
        log_fields(LOG_INFO, 0, NULL, camera, raw, "Ignoring %s (%s).", raw, why);
        m->stats.ignored++;
        bus_emit_image_ignored(m, camera, rel, reason);
}

void manager_file_seen(Manager *m, const char *rel, nsec_t mtime) {
        g_autofree char *camera = NULL;
        const char *name;
        size_t kind;
        bool trigger;
        uint32_t cam;

        if (!split_path(rel, &camera, &name))
                return;
        const CameraConfig *cc = manager_camera_config(m, camera);
        if (!cc) {
                log_debug("Ignoring %s: %s is not a configured camera folder.", rel, camera);
                return;
        }

        FileVerdict v = classify_file(m->config, cc, name, &kind, &trigger);
        if (v != FILE_ELIGIBLE) {
                if (v == FILE_IGNORED_KEYWORD || v == FILE_IGNORED_NO_KIND)
                        manager_report_ignored(m, camera, rel, mtime, file_verdict_to_string(v),
                                               v == FILE_IGNORED_KEYWORD ? "ignore keyword" : "matches no Files= kind");
                return;
        }
        /* Rule 16: history is never grouped by the service (--once takes
         * what it was told to). A file the engine holds already is not
         * history, whatever time passed. */
        const EngineFile *known = engine_lookup_file(m->engine, rel);
        if (mtime < manager_horizon(m) && !(known && known->dt == mtime)) {
                if (!m->once)
                        manager_report_ignored(m, camera, rel, mtime, "too-old", "older than MaxAgeSec: history");
                return;
        }
        if (m->once && mtime > m->until)
                return;

        if (manager_ensure_camera(m, camera, &cam) < 0)
                return;

        EngineFileInfo info = {
                .path = rel,
                .camera = cam,
                .kind = (uint16_t) kind,
                .trigger = trigger,
                .dt = mtime,
        };
        EngineAddResult res;
        int r = engine_add_file(m->engine, &info, now_monotonic(), &res);
        if (r < 0) {
                log_warning_errno(r, "Cannot take %s: %m", rel);
                return;
        }
        if (res != ENGINE_ADD_KNOWN)
                m->stats.files_seen++;
        manager_schedule_flush(m);
}

/* A file found in a folder that just appeared may still be written (an SMB
 * or in-place writer creates the folder, then the file, then writes it):
 * one changed in the last SETTLE_NSEC is looked at again until it holds
 * still. A file closed after writing may still get its mtime set (cp then
 * touch, SMB clients): it waits SETTLE_WRITTEN_NSEC after its last event, so
 * that the last mtime groups it (rule 15). A file renamed in is final. */
#define SETTLE_NSEC (2 * NSEC_PER_SEC)
#define SETTLE_WRITTEN_NSEC (100 * NSEC_PER_SEC / 1000)

typedef struct Settling {
        nsec_t mtime, ctime;
        off_t size;
        usec_t due;
        nsec_t quiet; /* how long it must hold still */
} Settling;

static nsec_t ts_nsec(const struct timespec *ts) {
        return (nsec_t) ts->tv_sec * NSEC_PER_SEC + ts->tv_nsec;
}

static bool stat_raw(Manager *m, const char *rel, struct stat *st) {
        g_autofree char *abs = raw_path_of(m, rel);
        if (lstat(abs, st) < 0) {
                if (errno != ENOENT)
                        log_warning_errno(errno, "Cannot stat %s: %m", abs);
                return false;
        }
        return S_ISREG(st->st_mode);
}

static void arm_settle(Manager *m) {
        usec_t due = USEC_INFINITY;
        GHashTableIter it;
        void *v;
        g_hash_table_iter_init(&it, m->settling);
        while (g_hash_table_iter_next(&it, NULL, &v))
                due = MIN(due, ((Settling *) v)->due);
        if (due == USEC_INFINITY) {
                (void) sd_event_source_set_enabled(m->settle_timer, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time(m->settle_timer, due);
        (void) sd_event_source_set_enabled(m->settle_timer, SD_EVENT_ONESHOT);
}

/* A new entry only ever brings the timer forward; manager_on_settle()
 * re-arms it from every entry (a walk per file added made a burst of N
 * files N² on the loop). */
static void settle_wake_by(Manager *m, usec_t due) {
        int enabled = SD_EVENT_OFF;
        uint64_t armed = USEC_INFINITY;
        (void) sd_event_source_get_enabled(m->settle_timer, &enabled);
        if (enabled != SD_EVENT_OFF)
                (void) sd_event_source_get_time(m->settle_timer, &armed);
        if (enabled != SD_EVENT_OFF && armed <= due)
                return;
        (void) sd_event_source_set_time(m->settle_timer, due);
        (void) sd_event_source_set_enabled(m->settle_timer, SD_EVENT_ONESHOT);
}

static void settle_add(Manager *m, const char *rel, const struct stat *st, nsec_t quiet) {
        Settling *s = g_new(Settling, 1);
        *s = (Settling) {
                .mtime = ts_nsec(&st->st_mtim),
                .ctime = ts_nsec(&st->st_ctim),
                .size = st->st_size,
                .due = now_monotonic() + (usec_t) quiet / 1000,
                .quiet = quiet,
        };
        g_hash_table_replace(m->settling, g_strdup(rel), s);
        settle_wake_by(m, s->due);
}

int manager_on_settle(sd_event_source *src, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        usec_t now = now_monotonic();
        g_autoptr(GPtrArray) ready = g_ptr_array_new_with_free_func(g_free);
        GHashTableIter it;
        void *k, *v;

        g_hash_table_iter_init(&it, m->settling);
        while (g_hash_table_iter_next(&it, &k, &v)) {
                Settling *s = v;
                struct stat st;
                if (s->due > now)
                        continue;
                if (!stat_raw(m, k, &st)) {
                        g_hash_table_iter_remove(&it);
                        continue;
                }
                if (ts_nsec(&st.st_mtim) == s->mtime && ts_nsec(&st.st_ctim) == s->ctime && st.st_size == s->size) {
                        g_ptr_array_add(ready, g_strdup(k));
                        continue;
                }
                s->mtime = ts_nsec(&st.st_mtim);
                s->ctime = ts_nsec(&st.st_ctim);
                s->size = st.st_size;
                s->due = now + (usec_t) s->quiet / 1000;
        }
        for (guint i = 0; i < ready->len; i++) {
                Settling *s = g_hash_table_lookup(m->settling, ready->pdata[i]);
                nsec_t mtime = s->mtime;
                g_hash_table_remove(m->settling, ready->pdata[i]);
                manager_file_seen(m, ready->pdata[i], mtime);
        }
        arm_settle(m);
        return 0;
}

void manager_on_watch(Watcher *w, WatchEventType type, const char *path, void *userdata) {
        Manager *m = userdata;
        struct stat st;

        switch (type) {
        case WATCH_FILE_READY:
                g_hash_table_remove(m->settling, path);
                if (stat_raw(m, path, &st))
                        manager_file_seen(m, path, ts_nsec(&st.st_mtim));
                break;
        case WATCH_FILE_WRITTEN:
                if (stat_raw(m, path, &st))
                        settle_add(m, path, &st, SETTLE_WRITTEN_NSEC);
                break;
        case WATCH_FILE_ATTRIB: {
                if (!stat_raw(m, path, &st))
                        break;
                Settling *s = g_hash_table_lookup(m->settling, path);
                if (s) {
                        /* Still settling: it must hold still from now on. */
                        /* Later, never earlier: the timer, if early, re-arms. */
                        s->due = MAX(s->due, now_monotonic() + (usec_t) MIN(s->quiet, SETTLE_WRITTEN_NSEC) / 1000);
                        break;
                }
                /* Only a new mtime matters (not a chmod, nor the link a
                 * hardlink publish adds): a file already decided gets a new
                 * identity (rule 15), one waiting is judged again. One no
                 * longer in memory is looked up by its identity. */
                const EngineFile *f = engine_lookup_file(m->engine, path);
                if (!f || f->dt != ts_nsec(&st.st_mtim))
                        settle_add(m, path, &st, SETTLE_WRITTEN_NSEC);
                break;
        }
        case WATCH_FILE_FOUND:
                if (!stat_raw(m, path, &st))
                        break;
                if (now_realtime() - ts_nsec(&st.st_ctim) < SETTLE_NSEC)
                        settle_add(m, path, &st, SETTLE_NSEC);
                else
                        manager_file_seen(m, path, ts_nsec(&st.st_mtim));
                break;
        case WATCH_FILE_GONE:
                g_hash_table_remove(m->settling, path);
                engine_file_gone(m->engine, path);
                break;
        case WATCH_RESCAN:
                log_notice("Events may have been lost (inotify overflow or the root replaced): rescanning %s.",
                           m->config->raw_root);
                manager_request_scan(m, true);
                break;
        case WATCH_DEGRADED:
                if (!m->degraded_watch)
                        bus_property_changed(m, "State");
                m->degraded_watch = true;
                /* A watch limit hit on a big tree means thousands of these. */
                if (m->n_degraded_logged < 10) {
                        g_autofree char *abs = raw_path_of(m, path);
                        if (access(abs, R_OK | X_OK) < 0 && errno != ENOENT)
                                log_warning_errno(errno, "Cannot watch %s: %m. Relying on the periodic rescan for it.",
                                                  abs);
                        else
                                log_warning("Cannot watch %s: the inotify watch limit is reached. Relying on the "
                                            "periodic rescan for it; raise fs.inotify.max_user_watches.",
                                            abs);
                } else if (m->n_degraded_logged == 10)
                        log_warning("More folders cannot be watched; not listing them all.");
                m->n_degraded_logged++;
                manager_update_status(m);
                break;
        }
}

/* ---- scans ---- */

typedef struct ScanJob {
        WorkItem item;
        char *root;
        ScanOptions options;
        bool full;
        ScanMemory *memory; /* the manager's, only ever touched by the scan worker */
        usec_t started;
        ScanResult *result;
        int error;
        size_t next;        /* entries handed to the engine so far */
        uint64_t seen_before;
} ScanJob;

/* Entries handed to the engine per turn of the event loop: a scan that
 * found thousands of files leaves room for the bus and the timers. */
#define SCAN_SLICE 1000

static void scan_work(void *data) {
        ScanJob *j = data;
        j->error = scan_tree_with(j->root, &j->options, &j->result);
        if (j->error >= 0 && !j->result->root_missing)
                scan_memory_diff(j->memory, j->result, j->options.horizon, j->full);
}

/* Every camera folder present is a camera when none is configured (rule
 * 11), even before it holds a file. */
static void register_camera_folders(Manager *m) {
        g_autoptr(GDir) d = g_dir_open(m->config->raw_root, 0, NULL);
        if (!d)
                return;
        const char *name;
        while ((name = g_dir_read_name(d))) {
                g_autofree char *p = g_build_filename(m->config->raw_root, name, NULL);
                struct stat st;
                if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
                        uint32_t c;
                        (void) manager_ensure_camera(m, name, &c);
                }
        }
}

static void scan_job_free(ScanJob *j) {
        scan_result_free(j->result);
        g_free(j->root);
        g_free(j);
}

void scan_job_abandon(ScanJob *j) {
        scan_job_free(j);
}

static void scan_finish(Manager *m, ScanJob *j) {
        ScanResult *r = j->result;
        size_t gone = 0;
        if (j->error >= 0 && !r->root_missing) {
                /* A rescan is a diff: what waits for a trigger but is no
                 * longer on disk (deleted, or its folder renamed while
                 * events were lost) must not be grouped. A full scan listed
                 * everything recent: only files known before the walk began
                 * count (newer ones the walk may have missed). */
                if (j->full) {
                        g_autoptr(GHashTable) present = g_hash_table_new(g_str_hash, g_str_equal);
                        for (size_t i = 0; i < r->n_entries; i++)
                                g_hash_table_add(present, r->entries[i].path);
                        g_autoptr(GPtrArray) waiting = engine_unassigned_paths(m->engine, j->started);
                        for (guint i = 0; i < waiting->len; i++)
                                if (!g_hash_table_contains(present, waiting->pdata[i])) {
                                        engine_file_gone(m->engine, waiting->pdata[i]);
                                        gone++;
                                }
                } else
                        for (size_t i = 0; i < r->n_gone; i++) {
                                engine_file_gone(m->engine, r->gone[i]);
                                gone++;
                        }
                log_fields(m->initial_scan_done ? LOG_DEBUG : LOG_INFO, 0, NULL, NULL, NULL,
                           "Scanned %s%s: %zu recent files %s in %zu folders, %" PRIu64 " new, %zu gone; %zu older "
                           "files read and %zu folders passed over as history (MaxAgeSec=).",
                           j->root, j->full ? "" : " (changes)", r->n_entries, j->full ? "listed" : "changed",
                           r->n_dirs, m->stats.files_seen - j->seen_before, gone, r->n_history, r->n_dirs_passed);
        }
        m->scan_running = false;
        m->scan_job = NULL;
        if (!m->initial_scan_done) {
                m->initial_scan_done = true;
                manager_update_status(m);
        }
        scan_job_free(j);

        if (m->scan_again) {
                bool full = m->scan_again_full;
                m->scan_again = m->scan_again_full = false;
                manager_request_scan(m, full);
        }
        manager_schedule_flush(m);
}

/* RawRoot changed (Reload) while the scan ran or was being handed over:
 * its paths are the old root's, and its diff would call the new root's
 * files gone. The scan the Reload asked for decides. */
static bool scan_stale(Manager *m, ScanJob *j) {
        if (streq(j->root, m->config->raw_root))
                return false;
        log_debug("Scan of %s dropped: RawRoot is now %s.", j->root, m->config->raw_root);
        j->error = -ESTALE;
        return true;
}

int manager_on_scan_slice(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        ScanJob *j = m->scan_job;
        if (!j) {
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
                return 0;
        }
        if (scan_stale(m, j)) {
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
                scan_finish(m, j);
                return 0;
        }
        ScanResult *r = j->result;
        /* mtime order: shots found now are numbered as their triggers
         * happened (rule 13). */
        size_t end = MIN(r->n_entries, j->next + SCAN_SLICE);
        for (; j->next < end; j->next++)
                manager_file_seen(m, r->entries[j->next].path, r->entries[j->next].mtime);
        if (j->next < r->n_entries)
                return 0; /* the next slice on the next turn */
        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        scan_finish(m, j);
        return 0;
}

static void scan_done(WorkItem *item, Manager *m) {
        ScanJob *j = (ScanJob *) item;

        m->n_scans++;
        if (scan_stale(m, j)) {
                scan_finish(m, j);
                return;
        }
        if (j->error < 0)
                log_warning_errno(j->error, "Scanning %s failed: %m", j->root);
        else if (j->result->root_missing)
                log_notice("%s does not exist (yet): waiting for it.", j->root);
        else {
                ScanResult *r = j->result;
                if (r->n_errors > 0)
                        for (char **e = r->errors; e && *e; e++)
                                log_warning("Cannot read %s", *e);
                register_camera_folders(m);
                j->seen_before = m->stats.files_seen;
                if (r->n_entries > 0 && m->scan_slice) {
                        m->scan_job = j;
                        (void) sd_event_source_set_enabled(m->scan_slice, SD_EVENT_ON);
                        return;
                }
                for (size_t i = 0; i < r->n_entries; i++)
                        manager_file_seen(m, r->entries[i].path, r->entries[i].mtime);
        }
        scan_finish(m, j);
}

void manager_request_scan(Manager *m, bool full) {
        if (m->scan_running) {
                m->scan_again = true;
                m->scan_again_full = m->scan_again_full || full;
                return;
        }
        ScanJob *j = g_new0(ScanJob, 1);
        j->item.done = scan_done;
        j->root = g_strdup(m->config->raw_root);
        j->options = (ScanOptions) {
                .max_depth = SCAN_MAX_DEPTH,
                .horizon = manager_horizon(m),
                .until = m->once ? m->until : INT64_MAX,
        };
        j->full = full;
        j->memory = m->scan_memory;
        j->started = now_monotonic();
        m->scan_running = true;
        if (m->n_scans > 0) {
                m->stats.rescans++;
                bus_property_changed(m, "Rescans");
        }
        (void) worker_submit(m->reader, scan_work, j);
}

int manager_on_rescan_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        /* Retry what could not be watched (only then: a refresh reads
         * every folder), then look at what changed. */
        if (m->watcher) {
                if (watcher_needs_refresh(m->watcher))
                        (void) watcher_refresh(m->watcher);
                bool degraded = watcher_is_degraded(m->watcher);
                if (degraded != m->degraded_watch) {
                        if (!degraded)
                                log_info("Every folder of %s is watched again.", m->config->raw_root);
                        m->degraded_watch = degraded;
                        m->n_degraded_logged = 0;
                        bus_property_changed(m, "State");
                }
        }
        manager_request_scan(m, false);
        (void) sd_event_source_set_time_relative(s, (uint64_t) (m->config->rescan_interval_sec * USEC_PER_SEC));
        return 0;
}
