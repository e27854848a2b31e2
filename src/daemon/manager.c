/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "bus-manager.h"
#include "camera.h"
#include "engine-config.h"
#include "log.h"
#include "manager-internal.h"

uint32_t manager_today(void) {
        uint32_t d = 0;
        (void) local_date(now_realtime(), &d);
        return d;
}

/* ---- shots ---- */

ShotData *shot_data_get(Manager *m, const char *id) {
        return g_hash_table_lookup(m->shots, id);
}

static void message_unref(void *p) {
        sd_bus_message_unref(p);
}

ShotData *shot_data_new(Manager *m, uint32_t date, uint32_t number, const char *raw_root) {
        ShotData *sd = g_new0(ShotData, 1);
        sd->manager = m;
        sd->raw_root = g_strdup(raw_root);
        sd->date = date;
        sd->number = number;
        (void) shot_format_id(date, number, sd->id);
        sd->metadata = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        sd->done = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, done_file_free);
        sd->staged = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, stage_free);
        sd->images = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        sd->pending_calls = g_ptr_array_new_with_free_func(message_unref);
        sd->duplicate_triggers = g_ptr_array_new_with_free_func(g_free);
        g_hash_table_insert(m->shots, sd->id, sd);
        return sd;
}

static void shot_data_free(void *p) {
        ShotData *sd = p;
        if (!sd)
                return;
        sd_event_source_disable_unref(sd->retry);
        if (sd->retired) {
                state_shot_clear(sd->retired);
                g_free(sd->retired);
        }
        g_free(sd->raw_root);
        g_hash_table_unref(sd->metadata);
        g_hash_table_unref(sd->done);
        GHashTableIter it;
        void *v;
        g_hash_table_iter_init(&it, sd->staged);
        while (g_hash_table_iter_next(&it, NULL, &v))
                manager_discard_staged(sd->manager, &((Stage *) v)->sf);
        g_hash_table_unref(sd->staged);
        g_hash_table_unref(sd->images);
        manifest_free(sd->manifest);
        sd->manager->n_pending_calls -= sd->pending_calls->len;
        g_ptr_array_unref(sd->pending_calls);
        g_ptr_array_unref(sd->duplicate_triggers);
        g_free(sd);
}

/* A shot is let go once the engine retired it and nothing of it remains to
 * be published. */
void shot_data_maybe_release(Manager *m, ShotData *sd) {
        if (sd->shot || sd->publishing || sd->generation != sd->published_generation)
                return;
        g_ptr_array_add(m->removed, g_strdup(sd->id));
        m->state_dirty = true;
        g_hash_table_remove(m->shots, sd->id);
}

/* ---- timers and flushing ---- */

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        engine_run(m->engine, now_monotonic());
        manager_schedule_flush(m);
        return 0;
}

static void arm_deadline(Manager *m) {
        usec_t d = engine_next_deadline(m->engine);
        if (!m->deadline_timer)
                return;
        /* Shots restored at start wait for what arrived while the service
         * was down: nothing times out before the start-up scan delivered it. */
        if (d == USEC_INFINITY || (!m->initial_scan_done && !m->once)) {
                (void) sd_event_source_set_enabled(m->deadline_timer, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time(m->deadline_timer, d);
        (void) sd_event_source_set_enabled(m->deadline_timer, SD_EVENT_ONESHOT);
}

static int on_flush(sd_event_source *s, void *userdata) {
        Manager *m = userdata;

        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        arm_deadline(m);
        manager_stage_submit(m);
        manager_save_state(m);
        manager_publish_pending(m);
        manager_update_status(m);
        return 0;
}

void manager_schedule_flush(Manager *m) {
        m->state_dirty = true;
        if (m->flush_source)
                (void) sd_event_source_set_enabled(m->flush_source, SD_EVENT_ONESHOT);
}

const char *manager_state_string(const Manager *m) {
        if (engine_is_paused(m->engine))
                return "paused";
        if (m->degraded_watch || m->publish_blocked)
                return "degraded";
        return "running";
}

void manager_update_status(Manager *m) {
        uint32_t n_live;
        Shot *const *live = engine_live_shots(m->engine, &n_live);
        unsigned open = 0;
        for (uint32_t i = 0; i < n_live; i++)
                if (live[i]->status == SHOT_COLLECTING)
                        open++;

        g_autofree char *text = g_strdup_printf(
                "%s%s %u camera%s, %u shot%s open%s%s%s", engine_is_paused(m->engine) ? "Paused: " : "",
                m->initial_scan_done ? "watching" : "scanning", engine_n_cameras(m->engine),
                engine_n_cameras(m->engine) == 1 ? "" : "s", open, open == 1 ? "" : "s",
                m->last_shot ? ", last " : "", m->last_shot ?: "",
                m->publish_blocked ? "; PUBLISHING BLOCKED (see the journal)" :
                m->degraded_watch  ? "; some folders unwatched" :
                                     "");
        if (!streq_ptr(text, m->status_text)) {
                g_free(m->status_text);
                m->status_text = g_steal_pointer(&text);
                notifier_status(m->notifier, m->status_text);
        }
}

/* ---- housekeeping ---- */

#define HOUSEKEEPING_USEC (3600 * USEC_PER_SEC)

/* SPEC §2 rule 16: what is older than the history horizon is dropped from
 * memory (forgotten identities, counters of past dates, ignored files said
 * already), and from disk with the next base, so that neither grows with
 * the years of history below the raw root. */
void manager_housekeeping(Manager *m) {
        nsec_t h = manager_horizon(m);
        if (h == INT64_MIN)
                return;
        size_t n = engine_forget_before(m->engine, h);
        GHashTableIter it;
        void *v;
        size_t ignored = 0;
        g_hash_table_iter_init(&it, m->ignored_seen);
        while (g_hash_table_iter_next(&it, NULL, &v))
                if (*(nsec_t *) v < h) {
                        g_hash_table_iter_remove(&it);
                        ignored++;
                }
        if (n > 0 || ignored > 0)
                log_debug("History horizon: %zu forgotten file(s) and %zu ignored one(s) older than MaxAgeSec dropped.",
                          n, ignored);
        /* What was ignored is said once and kept in memory only: the state
         * changes with the forgotten files alone. */
        if (n > 0) {
                m->main_dirty = true;
                manager_want_base(m);
                manager_schedule_flush(m);
        }
}

static int on_housekeeping(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        manager_housekeeping(m);
        (void) sd_event_source_set_time_relative(s, HOUSEKEEPING_USEC);
        return 0;
}

/* ---- the worker's completions ---- */

static void on_worker_done(void *data, void *userdata) {
        WorkItem *item = data;
        item->done(item, userdata);
}

/* ---- state ---- */

static int lock_state_dir(Manager *m) {
        if (mkdir(m->state_dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Cannot create the state directory %s: %m", m->state_dir);
        g_autofree char *p = g_build_filename(m->state_dir, "lock", NULL);
        m->state_lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (m->state_lock_fd < 0)
                return log_error_errno(errno, "Cannot open %s: %m", p);
        if (flock(m->state_lock_fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno == EWOULDBLOCK)
                        return log_error_errno(EBUSY,
                                               "The state directory %s is in use by another shotsyncd; give this one "
                                               "its own with --state-dir.",
                                               m->state_dir);
                return log_error_errno(errno, "Cannot lock %s: %m", p);
        }
        return 0;
}

/* ---- life cycle ---- */

static bool under_home(const char *p) {
        return path_startswith_dir(p, "/home") || path_startswith_dir(p, "/root") || path_startswith_dir(p, "/run/user");
}

#define PREPARE_RETRY_USEC (5 * USEC_PER_SEC)

/* CleanRoot could not be written at start: look again until it can, or
 * State would stay "degraded" with nothing blocked. Once publishing itself
 * failed, its own retries decide. */
static int on_prepare_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        if (!m->publish_blocked || m->stats.publish_errors > 0)
                return 0;
        if (manager_publish_busy(m) || publish_prepare(m->config->clean_root) < 0) {
                (void) sd_event_source_set_time_relative(s, PREPARE_RETRY_USEC);
                return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        }
        log_info("CleanRoot %s is writable now.", m->config->clean_root);
        m->publish_blocked = false;
        bus_property_changed(m, "State");
        manager_update_status(m);
        return 0;
}

int manager_check_folders(Manager *m) {
        const Config *c = m->config;
        struct stat st;

        /* Say plainly what the service cannot do and why: the unit's
         * sandbox (ReadOnlyPaths=/ReadWritePaths=) is the usual reason. */
        const char *hint = under_home(c->raw_root) ?
                                   "Folders under /home, /root and /run/user are hidden by ProtectHome=: grant it with a "
                                   "drop-in (ProtectHome=read-only and ReadOnlyPaths=, see shotsyncd(8))" :
                                   "Grant it to the service with a drop-in (ReadOnlyPaths=, see shotsyncd(8))";
        if (stat(c->raw_root, &st) < 0) {
                if (errno == ENOENT)
                        log_notice("RawRoot %s does not exist yet: waiting for it.", c->raw_root);
                else
                        log_error_errno(errno, "Cannot read RawRoot %s: %m. %s.", c->raw_root, hint);
        } else if (!S_ISDIR(st.st_mode))
                log_error("RawRoot %s is not a folder.", c->raw_root);
        else if (access(c->raw_root, R_OK | X_OK) < 0)
                log_error_errno(errno, "Cannot read RawRoot %s: %m. %s, and give user shotsync read access.",
                                c->raw_root, hint);

        int r = publish_prepare(c->clean_root);
        if (r < 0) {
                m->publish_blocked = true;
                log_error_errno(r,
                                "Cannot write CleanRoot %s: %m. %s (ReadWritePaths=%s) and make it writable by user "
                                "shotsync; publishing waits until then.",
                                c->clean_root,
                                under_home(c->clean_root) ? "Under /home it also needs ProtectHome=read-only" :
                                                            "Grant it to the service with a drop-in",
                                c->clean_root);
                if (!m->once)
                        (void) sd_event_add_time_relative(m->event, NULL, CLOCK_MONOTONIC, PREPARE_RETRY_USEC,
                                                          USEC_PER_SEC / 10, on_prepare_retry, m);
        }
        return 0;
}

EngineParams manager_engine_params(const Config *c) {
        return engine_params_from_config(c);
}

void manager_register_cameras(Manager *m) {
        for (size_t i = 0; i < m->config->n_cameras; i++) {
                uint32_t c;
                (void) manager_ensure_camera(m, m->config->cameras[i].name, &c);
        }
}

int manager_new(const ManagerOptions *o, Manager **ret) {
        _cleanup_manager_ Manager *m = g_new0(Manager, 1);
        g_autofree char *error = NULL;
        int r;

        m->state_lock_fd = -1;
        m->once = o->once;
        m->since = o->since;
        m->until = o->until;
        m->user_bus = o->user_bus;
        m->config_path = o->config_path ? g_strdup(o->config_path) : NULL;
        m->state_dir = g_strdup(o->state_dir);
        m->shots = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, shot_data_free);
        m->forget = g_array_new(false, false, sizeof(StateForgotten));
        m->removed = g_ptr_array_new_with_free_func(g_free);
        m->ignored_seen = g_hash_table_new_full(path_key_hash, path_key_equal, g_free, g_free);
        m->props_changed = g_ptr_array_new();
        m->stage_pending = g_ptr_array_new_with_free_func(stage_item_free);
        g_mutex_init(&m->save_lock);

        r = config_load(m->config_path, &m->config, &error);
        if (r < 0)
                return log_error_errno(r, "%s", error ?: "Cannot load the configuration.");

        EngineParams p = manager_engine_params(m->config);
        r = engine_new(&p, manager_on_engine_event, m, &m->engine);
        if (r < 0)
                return log_error_errno(r, "Cannot create the grouping engine: %m");

        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Cannot allocate the event loop: %m");

        if (!m->once) {
                r = notifier_new(m->event, &m->notifier);
                if (r < 0)
                        return log_error_errno(r, "Cannot reach the service manager's $NOTIFY_SOCKET: %m");
        }

        r = worker_new(m->event, "shotsync-state", on_worker_done, m, &m->saver);
        if (r < 0)
                return log_error_errno(r, "Cannot start the state worker: %m");
        r = worker_new(m->event, "shotsync-disk", on_worker_done, m, &m->disk);
        if (r < 0)
                return log_error_errno(r, "Cannot start the disk worker: %m");
        r = worker_new(m->event, "shotsync-scan", on_worker_done, m, &m->reader);
        if (r < 0)
                return log_error_errno(r, "Cannot start the scan worker: %m");
        /* --once publishes everything at the end, side by side, anyway. */
        for (unsigned i = 0; i < STAGERS && !m->once; i++) {
                r = worker_new(m->event, "shotsync-stage", on_worker_done, m, &m->stagers[i]);
                if (r < 0)
                        return log_error_errno(r, "Cannot start the staging workers: %m");
        }

        /* Within 1 ms of T: a timed-out shot is published right after. */
        r = sd_event_add_time(m->event, &m->deadline_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_deadline, m);
        if (r < 0)
                return log_error_errno(r, "Cannot create a timer: %m");
        (void) sd_event_source_set_enabled(m->deadline_timer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(m->deadline_timer, "engine-deadline");

        m->settling = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        r = sd_event_add_time(m->event, &m->settle_timer, CLOCK_MONOTONIC, UINT64_MAX, 100 * 1000, manager_on_settle, m);
        if (r < 0)
                return log_error_errno(r, "Cannot create a timer: %m");
        (void) sd_event_source_set_enabled(m->settle_timer, SD_EVENT_OFF);

        m->scan_memory = scan_memory_new();
        r = sd_event_add_defer(m->event, &m->scan_slice, manager_on_scan_slice, m);
        if (r < 0)
                return log_error_errno(r, "Cannot create a deferred source: %m");
        (void) sd_event_source_set_enabled(m->scan_slice, SD_EVENT_OFF);
        (void) sd_event_source_set_description(m->scan_slice, "scan-slice");

        r = sd_event_add_defer(m->event, &m->flush_source, on_flush, m);
        if (r < 0)
                return log_error_errno(r, "Cannot create a deferred source: %m");
        (void) sd_event_source_set_enabled(m->flush_source, SD_EVENT_OFF);
        /* After everything else that is pending in an iteration. */
        (void) sd_event_source_set_priority(m->flush_source, SD_EVENT_PRIORITY_IDLE);
        (void) sd_event_source_set_description(m->flush_source, "flush");

        *ret = TAKE_PTR(m);
        return 0;
}

int manager_start(Manager *m) {
        int r = lock_state_dir(m);
        if (r < 0)
                return r;

        (void) manager_check_folders(m);
        manager_clocks_configure(m);
        manager_register_cameras(m);
        r = manager_restore_state(m);
        if (r < 0)
                return r;

        if (!m->once) {
                r = watcher_new(m->event, m->config->raw_root, manager_on_watch, m, &m->watcher);
                if (r < 0)
                        return log_error_errno(r, "Cannot watch %s: %m", m->config->raw_root);
                r = sd_event_add_time_relative(m->event, &m->housekeeping_timer, CLOCK_MONOTONIC, HOUSEKEEPING_USEC,
                                               60 * USEC_PER_SEC, on_housekeeping, m);
                if (r < 0)
                        return log_error_errno(r, "Cannot create the housekeeping timer: %m");
                (void) sd_event_source_set_enabled(m->housekeeping_timer, SD_EVENT_ON);
                /* Made even when off: a reload may turn it on. */
                r = sd_event_add_time_relative(m->event, &m->rescan_timer, CLOCK_MONOTONIC,
                                               (uint64_t) (m->config->rescan_interval_sec * USEC_PER_SEC),
                                               USEC_PER_SEC, manager_on_rescan_timer, m);
                if (r < 0)
                        return log_error_errno(r, "Cannot create the rescan timer: %m");
                (void) sd_event_source_set_enabled(m->rescan_timer,
                                                   m->config->rescan_interval_sec > 0 ? SD_EVENT_ON : SD_EVENT_OFF);
                r = manager_cameras_start(m);
                if (r < 0)
                        return r;
        }

        manager_request_scan(m, true);
        manager_schedule_flush(m);
        return 0;
}

int manager_run_once(Manager *m) {
        m->once_closed = g_ptr_array_new_with_free_func(g_free);

        int r = manager_start(m);
        if (r < 0)
                return r;

        /* The scan, then closing, then publishing: each step's completions
         * come back through the loop. */
        while (m->scan_running) {
                r = sd_event_run(m->event, UINT64_MAX);
                if (r < 0)
                        return log_error_errno(r, "Event loop failed: %m");
        }
        engine_close_all(m->engine, now_monotonic());
        manager_schedule_flush(m);
        do {
                r = sd_event_run(m->event, 0);
                if (r < 0)
                        return log_error_errno(r, "Event loop failed: %m");
                manager_save_state(m);
                worker_drain(m->saver); /* its completion submits the publishing */
                worker_drain(m->disk);
        } while (manager_publish_busy(m) && !m->publish_blocked && m->last_save_error >= 0);

        manager_save_state(m);
        worker_drain(m->saver);
        manager_print_summary(m);
        if (m->publish_blocked || m->last_save_error < 0)
                return -EIO;
        return 0;
}

void manager_shutdown(Manager *m) {
        if (!m)
                return;
        notifier_send(m->notifier, "STOPPING=1\nSTATUS=Finishing publishing and saving state.");
        notifier_flush(m->notifier);
        manager_cameras_stop(m);
        /* What the engine decided must be on disk before we go; publishing
         * under way finishes, what was not started is resumed at the next
         * start. */
        m->stopping = true;
        manager_save_state(m);
        if (m->saver)
                worker_drain(m->saver);
        if (m->disk)
                worker_drain(m->disk);
        if (m->reader)
                worker_drain(m->reader);
        manager_save_state(m);
        if (m->saver)
                worker_drain(m->saver);
}

int manager_set_paused(Manager *m, bool paused) {
        if (engine_is_paused(m->engine) == paused)
                return 0;
        engine_set_paused(m->engine, paused);
        log_info("%s.", paused ? "Paused: files are remembered but no shot opens" : "Resumed");
        m->main_dirty = true;
        bus_property_changed(m, "State");
        manager_schedule_flush(m);
        return 1;
}

int manager_fire_shot(Manager *m, nsec_t t, Shot **ret) {
        int r = engine_fire(m->engine, t, now_monotonic(), ret);
        manager_schedule_flush(m);
        return r;
}

int manager_set_next_number(Manager *m, uint32_t date, uint32_t number) {
        int r = engine_set_next_number(m->engine, date, number);
        if (r < 0)
                return r;
        log_info("Next shot of %08" PRIu32 " will be number %03" PRIu32 ".", date, number);
        m->main_dirty = true;
        bus_property_changed(m, "NextShotNumber");
        manager_schedule_flush(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;

        m->stopping = true;
        manager_cameras_free(m);
        bus_manager_disconnect(m);
        /* Workers first: their completions reference shots. */
        m->disk = worker_free(m->disk);
        m->saver = worker_free(m->saver);
        sd_event_source_disable_unref(m->save_retry);
        m->reader = worker_free(m->reader);
        for (unsigned i = 0; i < STAGERS; i++)
                m->stagers[i] = worker_free(m->stagers[i]);
        sd_event_source_disable_unref(m->scan_slice);
        if (m->scan_job)
                /* Its result, being handed over a slice at a time. */
                scan_job_abandon(m->scan_job);
        scan_memory_free(m->scan_memory);
        watcher_free(m->watcher);
        sd_event_source_disable_unref(m->deadline_timer);
        sd_event_source_disable_unref(m->rescan_timer);
        sd_event_source_disable_unref(m->housekeeping_timer);
        sd_event_source_disable_unref(m->flush_source);
        sd_event_source_disable_unref(m->settle_timer);
        if (m->settling)
                g_hash_table_unref(m->settling);
        sd_event_source_disable_unref(m->sigterm);
        sd_event_source_disable_unref(m->sigint);
        sd_event_source_disable_unref(m->sighup);
        notifier_free(m->notifier);
        if (m->shots)
                g_hash_table_unref(m->shots);
        engine_free(m->engine);
        config_free(m->config);
        state_snapshot_free(m->save_next);
        if (m->forget)
                g_array_unref(m->forget);
        if (m->removed)
                g_ptr_array_unref(m->removed);
        if (m->ignored_seen)
                g_hash_table_unref(m->ignored_seen);
        if (m->saved_clocks)
                g_hash_table_unref(m->saved_clocks);
        if (m->props_changed)
                g_ptr_array_unref(m->props_changed);
        if (m->stage_pending)
                g_ptr_array_unref(m->stage_pending);
        if (m->once_closed)
                g_ptr_array_unref(m->once_closed);
        g_mutex_clear(&m->save_lock);
        sd_event_unref(m->event);
        if (m->state_lock_fd >= 0)
                close(m->state_lock_fd);
        g_free(m->config_path);
        g_free(m->state_dir);
        g_free(m->status_text);
        free(m->last_shot);
        g_free(m);
        return NULL;
}
