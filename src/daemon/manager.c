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

/* ---- engine decisions ---- */

static const char *camera_of(Manager *m, uint32_t c) {
        return c == ENGINE_NO_CAMERA ? "" : engine_camera_name(m->engine, c);
}

static void log_shot_closed(Manager *m, const Shot *s) {
        uint32_t missing[256];
        uint32_t n = shot_missing(s, m->engine, missing, ELEMENTSOF(missing));
        g_autoptr(GString) miss = g_string_new(NULL);
        for (uint32_t i = 0; i < n; i++)
                g_string_append_printf(miss, "%s%s", i ? ", " : "", engine_camera_name(m->engine, missing[i]));

        /* The timing summary the user's program logged: spread of mtimes and
         * who came first and last. */
        nsec_t min = 0, max = 0;
        const char *first = "", *last = "";
        for (uint32_t i = 0; i < s->n_files; i++) {
                const EngineFile *f = s->files[i];
                if (i == 0 || f->dt < min) {
                        min = f->dt;
                        first = camera_of(m, f->camera);
                }
                if (i == 0 || f->dt > max) {
                        max = f->dt;
                        last = camera_of(m, f->camera);
                }
        }
        double spread = s->n_files ? (double) (max - min) / 1e9 : 0;

        if (s->status == SHOT_COMPLETE)
                log_fields(LOG_INFO, 0, s->id, NULL, NULL,
                           "Shot %s complete: %" PRIu32 " files, all %" PRIu32 " cameras present; mtimes span %.3f s, first %s, last %s.",
                           s->id, s->n_files, s->n_expected, spread, first, last);
        else
                log_fields(LOG_WARNING, 0, s->id, NULL, NULL,
                           "Shot %s timed out: %" PRIu32 " files, missing %" PRIu32 " of %" PRIu32 " cameras: %s; mtimes span %.3f s, first %s, last %s.",
                           s->id, s->n_files, n, s->n_expected, miss->str, spread, first, last);
}

static void manager_forget(Manager *m, const EngineFile *f) {
        StateForgotten k = { .dt = f->dt };
        engine_identity_key(f->path, f->dt, &k.id);
        g_array_append_val(m->forget, k);
}

static void on_engine_event(const EngineEvent *ev, void *userdata) {
        Manager *m = userdata;
        Shot *s = ev->shot;
        EngineFile *f = ev->file;
        ShotData *sd = s ? shot_data_get(m, s->id) : NULL;
        g_autofree char *raw = f ? raw_path_of(m, f->path) : NULL;
        if (sd)
                sd->dirty = true;
        const char *camera = f ? camera_of(m, f->camera) : NULL;

        switch (ev->type) {
        case ENGINE_EVENT_SHOT_OPENED: {
                sd = shot_data_new(m, s->date, s->number, m->config->raw_root);
                sd->dirty = true;
                m->main_dirty = true;
                sd->shot = s;
                sd->opened = now_realtime();
                s->userdata = sd;
                m->stats.shots_opened++;
                char ws[ISO8601_MAX], we[ISO8601_MAX];
                if (s->trigger_camera == ENGINE_NO_CAMERA)
                        log_fields(LOG_INFO, 0, s->id, NULL, NULL, "Shot %s opened by Fire, window %s to %s.", s->id,
                                   format_iso8601(s->window_start, ws), format_iso8601(s->window_end, we));
                else
                        log_fields(LOG_INFO, 0, s->id, camera_of(m, s->trigger_camera), NULL,
                                   "Shot %s opened by a trigger from %s, window %s to %s.", s->id,
                                   camera_of(m, s->trigger_camera), format_iso8601(s->window_start, ws),
                                   format_iso8601(s->window_end, we));
                free(m->last_shot);
                m->last_shot = xstrdup(s->id);
                bus_emit_shot_opened(m, s);
                bus_property_changed(m, "OpenShots");
                bus_property_changed(m, "LastShot");
                bus_property_changed(m, "NextShotNumber");
                break;
        }

        case ENGINE_EVENT_FILE_ASSIGNED: {
                bool late = f->flags & ENGINE_FILE_LATE;
                double off = (double) (f->dt - s->trigger_time) / 1e9, clock = (double) f->offset / 1e9;
                if (off == 0)
                        off = 0; /* no "-0.000" */
                if (clock == 0)
                        log_fields(late ? LOG_NOTICE : LOG_INFO, 0, s->id, camera, raw,
                                   "%s %s: %s (%+.3f s from the trigger).", late ? "Late file for shot" : "Shot", s->id,
                                   raw, off);
                else
                        log_fields(late ? LOG_NOTICE : LOG_INFO, 0, s->id, camera, raw,
                                   "%s %s: %s (%+.3f s from the trigger, %+.3f s of it its clock's offset).",
                                   late ? "Late file for shot" : "Shot", s->id, raw, off, clock);
                m->stats.files_assigned++;
                if (late) {
                        m->stats.files_late++;
                        if (sd)
                                sd->generation++;
                }
                bus_emit_image_assigned(m, s, f);
                if (sd) {
                        unsigned n = shot_camera_n_kinds(s, m->engine, f->camera);
                        g_autofree const char **ids = g_new0(const char *, n + 1);
                        for (unsigned k = 0; k < n; k++)
                                ids[k] = shot_camera_kind_id(s, m->engine, f->camera, k);
                        g_autofree char *dst = shot_file_clean_path(m, s->date, s->number, camera, f->path, f->dt,
                                                                    f->kind, ids);
                        manager_stage_file(m, sd, f->path, dst);
                }
                break;
        }

        case ENGINE_EVENT_FILE_ORPHANED:
                if (s)
                        log_fields(LOG_NOTICE, 0, s->id, camera, raw,
                                   "Waiting with %s: farther from shot %s than %s's clock usually is, it joins "
                                   "that shot when it closes unless a nearer one comes.",
                                   raw, s->id, camera);
                else
                        log_fields(LOG_NOTICE, 0, NULL, camera, raw, "Orphan from %s: %s fits no open shot window (yet).",
                                   camera, raw);
                m->stats.orphans++;
                bus_emit_image_orphaned(m, f);
                break;

        case ENGINE_EVENT_FILE_DUPLICATE:
                log_fields(LOG_NOTICE, 0, s->id, camera, raw,
                           "Duplicate from %s for shot %s, left alone: %s.", camera, s->id, raw);
                m->stats.duplicates++;
                bus_emit_image_ignored(m, camera, f->path, "duplicate");
                break;

        case ENGINE_EVENT_FILE_DUPLICATE_TRIGGER:
                manager_on_duplicate_trigger(m, ev, sd);
                break;

        case ENGINE_EVENT_CLOCK_UPDATED:
        case ENGINE_EVENT_CLOCK_LEARNED:
        case ENGINE_EVENT_CLOCK_CHANGED:
                manager_on_clock_event(m, ev);
                break;

        case ENGINE_EVENT_FILE_HELD:
                log_fields(LOG_NOTICE, 0, NULL, camera, raw, "Paused: trigger from %s opens no shot: %s.", camera,
                           raw);
                m->stats.held++;
                bus_emit_image_ignored(m, camera, f->path, "paused");
                break;

        case ENGINE_EVENT_SHOT_CLOSED:
                log_shot_closed(m, s);
                if (s->status == SHOT_COMPLETE)
                        m->stats.shots_complete++;
                else
                        m->stats.shots_timeout++;
                if (sd) {
                        sd->closed = now_realtime();
                        sd->generation++;
                }
                if (m->once_closed)
                        g_ptr_array_add(m->once_closed, g_strdup(s->id));
                bus_property_changed(m, "OpenShots");
                break;

        case ENGINE_EVENT_SHOT_RETIRED:
                log_fields(LOG_DEBUG, 0, s->id, NULL, NULL, "Shot %s leaves memory (late grace over).", s->id);
                if (sd) {
                        if (sd->generation != sd->published_generation || sd->publishing) {
                                /* Still to publish: keep what it was. */
                                sd->retired = g_new0(StateShot, 1);
                                shot_to_state(m, sd, sd->retired);
                        }
                        sd->shot = NULL;
                }
                for (uint32_t i = 0; i < s->n_files; i++)
                        manager_forget(m, s->files[i]);
                if (sd)
                        shot_data_maybe_release(m, sd);
                break;

        case ENGINE_EVENT_FILE_EXPIRED:
                log_fields(LOG_DEBUG, 0, NULL, camera, raw, "%s decided for good: %s.",
                           !s                                 ? "Unassigned file forgotten after OrphanKeepSec" :
                           f->flags & ENGINE_FILE_TRIGGER ? "Duplicate trigger" :
                                                            "Duplicate of a closed shot",
                           raw);
                manager_forget(m, f);
                break;

        default:
                break;
        }

        manager_schedule_flush(m);
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
        if (n > 0 || ignored > 0) {
                log_debug("History horizon: %zu forgotten file(s) and %zu ignored one(s) older than MaxAgeSec dropped.",
                          n, ignored);
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

static void on_forgotten(const StateForgotten *f, void *userdata) {
        engine_add_tombstone(userdata, &f->id, f->dt);
}

static void on_legacy_forgotten(const EnginePathKey *k, void *userdata) {
        engine_add_legacy_tombstone(userdata, k);
}

/* Shot numbers already on disk are never given again, even if the state
 * directory was lost. */
/* The first date a new shot can have: that of the history horizon (a day
 * early, whatever the time zones); 0 when every date can (--once). */
static uint32_t first_live_date(Manager *m) {
        nsec_t h = manager_horizon(m);
        uint32_t d;
        if (h == INT64_MIN || local_date(sat_sub(h, 86400 * NSEC_PER_SEC), &d) < 0)
                return 0;
        return d;
}

static void seed_numbers_from_clean_tree(Manager *m) {
        g_autofree char *shots = g_build_filename(m->config->clean_root, "shots", NULL);
        g_autoptr(GDir) d = g_dir_open(shots, 0, NULL);
        if (!d)
                return;
        /* Older dates can get no new shot: years of manifests are not read. */
        uint32_t first = first_live_date(m);
        const char *date;
        while ((date = g_dir_read_name(d))) {
                uint32_t day;
                if (parse_date(date, &day) < 0 || day < first)
                        continue;
                g_autofree char *sub = g_build_filename(shots, date, NULL);
                g_autoptr(GDir) dd = g_dir_open(sub, 0, NULL);
                if (!dd)
                        continue;
                const char *name;
                while ((name = g_dir_read_name(dd))) {
                        unsigned n;
                        char tail[8];
                        if (sscanf(name, "shot%u.%7s", &n, tail) == 2 && streq(tail, "json") && n > 0)
                                (void) engine_mark_number_used(m->engine, day, n);
                }
        }
}

static void load_forgotten(Manager *m) {
        int r = state_load_forgotten(m->state_dir, on_forgotten, m->engine);
        if (r < 0)
                log_warning_errno(r, "Cannot read %s/forgotten2.bin, files may be decided again: %m", m->state_dir);
        /* Before version 3 a forgotten file was its path alone: what that
         * knew holds for files that have not changed since. */
        nsec_t written;
        r = state_load_legacy_forgotten(m->state_dir, on_legacy_forgotten, m->engine, &written);
        if (r < 0)
                log_warning_errno(r, "Cannot read %s/forgotten.bin, files may be decided again: %m", m->state_dir);
        engine_set_legacy_cutoff(m->engine, written);
}

static int restore_state(Manager *m) {
        g_autoptr(StateSnapshot) st = NULL;
        int r = state_load(m->state_dir, &st);
        for (guint i = 0; r >= 0 && st->bad && i < st->bad->len; i++) {
                g_autofree char *aside = g_strdup_printf("%s.corrupt", (char *) st->bad->pdata[i]);
                (void) rename(st->bad->pdata[i], aside);
                log_error("Cannot read the saved shot %s: moved aside as %s.", (char *) st->bad->pdata[i], aside);
        }
        if (r < 0) {
                /* Never start from scratch silently: that would renumber.
                 * The journal goes aside with its base: it extends that one. */
                int64_t now = (int64_t) (now_realtime() / NSEC_PER_SEC);
                g_autofree char *p = g_build_filename(m->state_dir, "state.json", NULL);
                g_autofree char *bad = g_strdup_printf("%s.corrupt-%" PRIi64, p, now);
                g_autofree char *journal = g_build_filename(m->state_dir, "journal", NULL);
                g_autofree char *journal_bad = g_strdup_printf("%s.corrupt-%" PRIi64, journal, now);
                (void) rename(p, bad);
                (void) rename(journal, journal_bad);
                log_error_errno(r, "Cannot read %s (%m): moved aside as %s; numbering continues from the clean tree.", p,
                                bad);
                st = state_snapshot_new();
                st->version = 4;
        }
        if (st->journal_torn > 0)
                log_warning("The state journal of %s ended in a torn record (%" PRIu64 " bytes, a crash while "
                            "saving): cut off.",
                            m->state_dir, st->journal_torn);
        /* Commits go on from the last one on disk, which a restart replays
         * no further than. */
        m->save_seq = m->saved_seq = st->seq;
        m->journal_size = st->journal_size;

        /* What was decided in another raw root says nothing of this one. */
        if (st->raw_root && !streq(st->raw_root, m->config->raw_root)) {
                log_notice("RawRoot changed from %s to %s since the last run: every file of %s is new.", st->raw_root,
                           m->config->raw_root, m->config->raw_root);
                m->reset_forgotten = true;
                m->main_dirty = true;
                manager_want_base(m);
                manager_schedule_flush(m);
        } else {
                if (!st->forgotten_reset)
                        load_forgotten(m);
                for (size_t i = 0; i < st->n_forget; i++)
                        engine_add_tombstone(m->engine, &st->forget[i].id, st->forget[i].dt);
        }
        /* Versions before 4 kept a file a shot: the first base replaces them. */
        if (st->version < 4)
                manager_want_base(m);

        seed_numbers_from_clean_tree(m);
        for (size_t i = 0; i < st->n_counters; i++) {
                StateCounter *c = &st->counters[i];
                for (uint32_t j = 0; j < c->n_ranges; j++)
                        for (uint64_t n = c->ranges[2 * j]; n <= c->ranges[2 * j + 1]; n++)
                                (void) engine_mark_number_used(m->engine, c->date, (uint32_t) n);
                if (!engine_number_used(m->engine, c->date, c->next))
                        (void) engine_set_next_number(m->engine, c->date, c->next);
        }
        manager_clocks_load(m, st);
        engine_set_paused(m->engine, st->paused);
        if (st->last_shot) {
                free(m->last_shot);
                m->last_shot = xstrdup(st->last_shot);
        }

        usec_t mono = now_monotonic();
        nsec_t real = now_realtime();
        for (size_t i = 0; i < st->n_shots; i++) {
                r = restore_shot(m, &st->shots[i], mono, real);
                if (r < 0) {
                        char id[SHOT_ID_MAX];
                        (void) shot_format_id(st->shots[i].date, st->shots[i].number, id);
                        log_fields(LOG_ERR, r, id, NULL, NULL, "Cannot restore shot %s: %s", id, g_strerror(-r));
                }
        }
        engine_restore_done(m->engine, mono);
        if (st->n_shots > 0)
                log_info("Restored %zu shot(s) from %s.", st->n_shots, m->state_dir);
        /* A week of downtime: what became history meanwhile goes now. */
        manager_housekeeping(m);
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

static int check_folders(Manager *m) {
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

static EngineParams params_from_config(const Config *c) {
        return engine_params_from_config(c);
}

static void register_configured_cameras(Manager *m) {
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

        EngineParams p = params_from_config(m->config);
        r = engine_new(&p, on_engine_event, m, &m->engine);
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

        (void) check_folders(m);
        manager_clocks_configure(m);
        register_configured_cameras(m);
        r = restore_state(m);
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

/* Keys whose change would mix what shots already hold with what comes
 * next: refused while any shot is in memory (collecting, in its late grace
 * or being published), applied once none is (SPEC §2 rule 17). */
static const char *reload_blocked_by(Manager *m, const Config *c) {
        if (g_hash_table_size(m->shots) == 0)
                return NULL;
        if (!streq(c->raw_root, m->config->raw_root))
                return "[Watch] RawRoot";
        if (!streq(c->clean_root, m->config->clean_root))
                return "[Output] CleanRoot";
        return NULL;
}

static int id_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static char *shots_in_memory(Manager *m) {
        g_autoptr(GPtrArray) ids = g_ptr_array_new();
        GHashTableIter it;
        void *k;
        g_hash_table_iter_init(&it, m->shots);
        while (g_hash_table_iter_next(&it, &k, NULL))
                g_ptr_array_add(ids, k);
        g_ptr_array_sort(ids, id_cmp);
        g_ptr_array_add(ids, NULL);
        return g_strjoinv(", ", (char **) ids->pdata);
}

/* Unassigned files were classified by the old configuration: each is
 * classified again, dropped (and said) when it is no longer eligible. */
static void reclassify_unassigned(Manager *m, bool root_changed) {
        g_autoptr(GPtrArray) paths = engine_unassigned_paths(m->engine, USEC_INFINITY);
        for (guint i = 0; i < paths->len; i++) {
                const char *rel = paths->pdata[i];
                const EngineFile *f = engine_lookup_file(m->engine, rel);
                if (!f)
                        continue;
                nsec_t dt = f->dt;
                /* Another root's files are another root's: the scan of the new one decides. */
                if (root_changed || !manager_file_eligible(m, rel, dt))
                        engine_file_gone(m->engine, rel);
                else
                        manager_file_seen(m, rel, dt);
        }
}

int manager_reload(Manager *m, char **ret_error) {
        _cleanup_config_ Config *c = NULL;
        g_autofree char *error = NULL;

        g_autofree char *reloading = g_strdup_printf(
                "RELOADING=1\nSTATUS=Reloading the configuration.\nMONOTONIC_USEC=%" PRIu64, now_monotonic());
        notifier_send(m->notifier, reloading);
        int r = config_load(m->config_path, &c, &error);
        EngineParams p = {};
        if (r >= 0) {
                p = params_from_config(c);
                r = engine_check_params(&p);
                if (r < 0)
                        error = g_strdup("The configuration gives the grouping engine values it cannot use.");
        }
        const char *key = r >= 0 ? reload_blocked_by(m, c) : NULL;
        if (key) {
                g_autofree char *ids = shots_in_memory(m);
                error = g_strdup_printf("%s cannot change while shots are open, in their late grace or being "
                                        "published (%s): the running configuration is kept. Reload again once they "
                                        "are published, or stop the service first.",
                                        key, ids);
                r = -EBUSY;
        }
        if (r < 0) {
                log_error("Reload refused, keeping the running configuration: %s", error);
                notifier_send(m->notifier, "READY=1");
                if (ret_error)
                        *ret_error = g_steal_pointer(&error);
                return r;
        }

        bool root_changed = !streq(c->raw_root, m->config->raw_root);
        bool clean_changed = !streq(c->clean_root, m->config->clean_root);
        config_free(m->config);
        m->config = TAKE_PTR(c);

        /* Open shots keep their window, timeout and grace, their cameras
         * and kinds; new files and new shots follow the new values. */
        r = engine_set_params(m->engine, &p);
        assert(r >= 0);
        for (uint32_t i = 0; i < engine_n_cameras(m->engine); i++) {
                const CameraConfig *cc = manager_camera_config(m, engine_camera_name(m->engine, i));
                if (cc) {
                        g_autofree const char **kinds = config_camera_kind_ids(cc);
                        (void) engine_update_camera(m->engine, i, kinds, (unsigned) cc->n_kinds, cc->expected);
                } else
                        /* Gone from the configuration: known, no longer waited for. */
                        (void) engine_update_camera(m->engine, i, NULL, 0, false);
        }
        register_configured_cameras(m);
        manager_clocks_configure(m);
        reclassify_unassigned(m, root_changed);
        if (root_changed) {
                /* No shot is in memory (reload_blocked_by()): the new root
                 * is scanned as new, nothing of the old one applies. */
                engine_clear_tombstones(m->engine);
                g_array_set_size(m->forget, 0);
                m->reset_forgotten = true;
                m->main_dirty = true;
        }
        g_hash_table_remove_all(m->ignored_seen);

        if (clean_changed) {
                m->publish_blocked = false;
                (void) check_folders(m);
        }
        if (root_changed && !m->once) {
                m->watcher = watcher_free(m->watcher);
                r = watcher_new(m->event, m->config->raw_root, manager_on_watch, m, &m->watcher);
                if (r < 0)
                        log_error_errno(r, "Cannot watch %s: %m", m->config->raw_root);
        }
        if (m->rescan_timer) {
                if (m->config->rescan_interval_sec > 0) {
                        (void) sd_event_source_set_time_relative(
                                m->rescan_timer, (uint64_t) (m->config->rescan_interval_sec * USEC_PER_SEC));
                        (void) sd_event_source_set_enabled(m->rescan_timer, SD_EVENT_ON);
                } else
                        (void) sd_event_source_set_enabled(m->rescan_timer, SD_EVENT_OFF);
        }
        manager_cameras_reload(m);
        manager_request_scan(m, true);
        manager_schedule_flush(m);

        static const char *const props[] = { "RawRoot", "CleanRoot", "FullWindowSec", "TimeoutSec", "Cameras",
                                             "TriggerCameras", "State" };
        for (size_t i = 0; i < ELEMENTSOF(props); i++)
                bus_property_changed(m, props[i]);

        log_info("Configuration reloaded; %u shot(s) in memory kept as they were.", g_hash_table_size(m->shots));
        notifier_send(m->notifier, "READY=1");
        manager_update_status(m);
        return 0;
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
