/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The manager's side of persistence: snapshots built in the event loop,
 * written by the disk worker in order with publishing, so a shot's number
 * is on disk before any of its files is published under it. */

#include "log.h"
#include "manager-internal.h"

char *raw_path_of(Manager *m, const char *rel) {
        return g_build_filename(m->config->raw_root, rel, NULL);
}

char *shot_raw_path(const ShotData *sd, const char *rel) {
        return g_build_filename(sd->raw_root, rel, NULL);
}

guint path_key_hash(const void *p) {
        return (guint) ((const EnginePathKey *) p)->a;
}

gboolean path_key_equal(const void *a, const void *b) {
        const EnginePathKey *x = a, *y = b;
        return x->a == y->a && x->b == y->b;
}

void shot_to_state(Manager *m, ShotData *sd, StateShot *out) {
        const Shot *s = sd->shot;

        if (!s) {
                state_shot_copy(sd->retired, out);
                g_hash_table_unref(out->metadata);
        } else {
                usec_t mono = now_monotonic();
                nsec_t real = now_realtime();
                *out = (StateShot) {
                        .date = s->date,
                        .number = s->number,
                        .status = s->status,
                        .trigger_camera = s->trigger_camera == ENGINE_NO_CAMERA ?
                                                  NULL :
                                                  g_strdup(engine_camera_name(m->engine, s->trigger_camera)),
                        .trigger_time = s->trigger_time,
                        .window_start = s->window_start,
                        .window_end = s->window_end,
                        .opened = sd->opened,
                        .closed = sd->closed,
                        /* Monotonic time does not survive a reboot: keep the
                         * deadline as wall-clock time. */
                        .deadline = s->deadline >= mono ? sat_add(real, (nsec_t) (s->deadline - mono) * 1000) :
                                                          sat_sub(real, (nsec_t) (mono - s->deadline) * 1000),
                        .live = true,
                        .raw_root = g_strdup(sd->raw_root),
                        .late_grace = (int64_t) s->late_grace,
                };
                out->expected = g_new0(char *, s->n_expected + 1);
                for (uint32_t i = 0; i < s->n_expected; i++)
                        out->expected[i] = g_strdup(engine_camera_name(m->engine, s->expected[i]));
                /* The kinds it holds its cameras to, as they may differ
                 * from the configuration after a restart. */
                g_autoptr(GHashTable) done = g_hash_table_new(NULL, NULL);
                for (uint32_t i = 0; i < s->n_expected + s->n_files; i++) {
                        uint32_t c = i < s->n_expected ? s->expected[i] : s->files[i - s->n_expected]->camera;
                        if (!g_hash_table_add(done, GUINT_TO_POINTER(c + 1)))
                                continue;
                        unsigned n = shot_camera_n_kinds(s, m->engine, c);
                        StateKinds *k = state_shot_add_kinds(out, engine_camera_name(m->engine, c));
                        k->ids = g_new0(char *, n + 1);
                        for (unsigned j = 0; j < n; j++)
                                k->ids[j] = g_strdup(shot_camera_kind_id(s, m->engine, c, j));
                }
                out->files = g_new(StateFile, MAX(s->n_files, 1u));
                out->n_files = s->n_files;
                for (uint32_t i = 0; i < s->n_files; i++) {
                        const EngineFile *f = s->files[i];
                        out->files[i] = (StateFile) {
                                .path = g_strdup(f->path),
                                .camera = g_strdup(engine_camera_name(m->engine, f->camera)),
                                .kind = f->kind,
                                .trigger = f->flags & ENGINE_FILE_TRIGGER,
                                .late = f->flags & ENGINE_FILE_LATE,
                                .dt = f->dt,
                                .offset = f->offset,
                        };
                }
        }
        out->metadata = state_metadata_copy(sd->metadata);
        if (s && sd->duplicate_triggers->len > 0) {
                out->duplicate_triggers = g_new0(char *, sd->duplicate_triggers->len + 1);
                for (guint i = 0; i < sd->duplicate_triggers->len; i++)
                        out->duplicate_triggers[i] = g_strdup(sd->duplicate_triggers->pdata[i]);
        }
        out->needs_publish = sd->generation != sd->published_generation;
        out->announced = sd->announced;
        out->live = s != NULL;
}

static int restore_camera(Manager *m, const char *name, const StateShot *sh, uint32_t *ret) {
        if (engine_find_camera(m->engine, name, ret) >= 0)
                return 0;
        if (manager_ensure_camera(m, name, ret) >= 0)
                return 0;
        /* Gone from the configuration since: known again, but not expected,
         * with the kinds the shot knew it by. */
        for (size_t i = 0; i < sh->n_kinds; i++)
                if (streq(sh->kinds[i].camera, name))
                        return engine_add_camera(m->engine, name, (const char *const *) sh->kinds[i].ids,
                                                 g_strv_length(sh->kinds[i].ids), false, ret);
        unsigned n = 1;
        for (size_t i = 0; i < sh->n_files; i++)
                if (streq(sh->files[i].camera, name))
                        n = MAX(n, sh->files[i].kind + 1);
        return engine_add_camera(m->engine, name, NULL, n, false, ret);
}

/* What the clean tree holds of a shot already, from its manifest: a late
 * file after a restart must not publish its shot's files again (a raw file
 * changed since would be refused, and dropped from the manifest). */
static void restore_published(Manager *m, ShotData *sd) {
        g_autofree char *path = manifest_path(m->config->clean_root, sd->date, sd->number);
        g_autofree char *text = NULL;
        gsize len;
        g_autoptr(Manifest) mf = NULL;
        if (!g_file_get_contents(path, &text, &len, NULL) || manifest_from_data(text, len, &mf) < 0)
                return;
        for (size_t i = 0; i < mf->n_files; i++) {
                const ManifestFile *f = &mf->files[i];
                g_autofree char *raw = utf8_unescape(f->raw_path);
                g_autofree char *clean = utf8_unescape(f->clean_path);
                if (!raw || !clean || !path_startswith_dir(raw, sd->raw_root))
                        continue;
                const char *rel = raw + strlen(sd->raw_root);
                if (*rel != '/')
                        continue;
                DoneFile *d = g_new0(DoneFile, 1);
                d->clean_path = g_steal_pointer(&clean);
                d->result.size = f->size;
                memcpy(d->result.sha256, f->sha256, sizeof d->result.sha256);
                g_hash_table_replace(sd->done, g_strdup(rel + 1), d);
        }
        manifest_free(sd->manifest);
        sd->manifest = g_steal_pointer(&mf);
}

int restore_shot(Manager *m, const StateShot *sh, usec_t mono, nsec_t real) {
        char id[SHOT_ID_MAX];
        Shot *s = NULL;
        bool sh_needs_publish = false;
        int r;

        if (shot_format_id(sh->date, sh->number, id) < 0)
                return -EINVAL;
        if (shot_data_get(m, id))
                return -EEXIST;

        /* Its files are in the root it came from: a shot of another root
         * takes no file from this one, it only finishes publishing. */
        const char *root = sh->raw_root ?: m->config->raw_root;
        bool other_root = !streq(root, m->config->raw_root);
        if (other_root && sh->live)
                log_fields(LOG_WARNING, 0, id, NULL, NULL,
                           "Shot %s came from RawRoot %s, not %s: it takes no more files and is published as it is.", id,
                           root, m->config->raw_root);

        if (sh->live && !other_root) {
                g_autofree uint32_t *expected = g_new(uint32_t, g_strv_length(sh->expected) + 1);
                uint32_t n_expected = 0;
                for (char **e = sh->expected; e && *e; e++) {
                        r = restore_camera(m, *e, sh, &expected[n_expected]);
                        if (r < 0)
                                return r;
                        n_expected++;
                }
                uint32_t trigger_camera = ENGINE_NO_CAMERA;
                if (sh->trigger_camera) {
                        r = restore_camera(m, sh->trigger_camera, sh, &trigger_camera);
                        if (r < 0)
                                return r;
                }
                g_autofree EngineCameraKinds *kinds = g_new0(EngineCameraKinds, MAX(sh->n_kinds, 1u));
                uint32_t n_kinds = 0;
                for (size_t i = 0; i < sh->n_kinds; i++) {
                        r = restore_camera(m, sh->kinds[i].camera, sh, &kinds[n_kinds].camera);
                        if (r < 0)
                                return r;
                        kinds[n_kinds].ids = (const char *const *) sh->kinds[i].ids;
                        kinds[n_kinds].n = g_strv_length(sh->kinds[i].ids);
                        n_kinds++;
                }
                nsec_t left = sh->deadline - real;
                EngineShotRestore rs = {
                        .date = sh->date,
                        .number = sh->number,
                        .status = sh->status,
                        .trigger_time = sh->trigger_time,
                        .window_start = sh->window_start,
                        .window_end = sh->window_end,
                        .trigger_camera = trigger_camera,
                        .opened_at = mono,
                        .closed_at = mono,
                        .deadline = left > 0 ? usec_add(mono, (usec_t) (left / 1000)) : mono,
                        .late_grace = sh->late_grace >= 0 ? (usec_t) sh->late_grace :
                                                            (usec_t) (m->config->late_grace_sec * USEC_PER_SEC),
                        .expected = expected,
                        .n_expected = n_expected,
                        .kinds = kinds,
                        .n_kinds = n_kinds,
                };
                r = engine_restore_shot(m->engine, &rs, &s);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < sh->n_files; i++) {
                        const StateFile *f = &sh->files[i];
                        uint32_t cam;
                        r = restore_camera(m, f->camera, sh, &cam);
                        if (r >= 0) {
                                EngineFileInfo info = {
                                        .path = f->path,
                                        .camera = cam,
                                        .kind = (uint16_t) f->kind,
                                        .trigger = f->trigger,
                                        .dt = f->dt,
                                };
                                r = engine_restore_file(m->engine, s, &info, f->late, f->offset, mono);
                        }
                        if (r < 0)
                                log_fields(LOG_WARNING, r, s->id, f->camera, f->path,
                                           "Cannot restore %s into shot %s: %m", f->path, s->id);
                }
        } else if (!other_root) {
                /* Published state was lost with a crash: the files that were
                 * in it must not come back as new ones. */
                for (size_t i = 0; i < sh->n_files; i++) {
                        EnginePathKey k;
                        engine_identity_key(sh->files[i].path, sh->files[i].dt, &k);
                        engine_add_tombstone(m->engine, &k, sh->files[i].dt);
                }
        }

        ShotData *sd = shot_data_new(m, sh->date, sh->number, root);
        if (s) {
                sd->shot = s;
                s->userdata = sd;
        } else {
                sd->retired = g_new0(StateShot, 1);
                state_shot_copy(sh, sd->retired);
                if (sd->retired->status == SHOT_COLLECTING)
                        sd->retired->status = SHOT_TIMEOUT;
                sd->retired->live = false;
                if (other_root && sh->live)
                        sh_needs_publish = true;
        }
        sd->opened = sh->opened;
        sd->closed = sh->closed;
        sd->announced = sh->announced;
        for (char **p = sh->duplicate_triggers; p && *p; p++)
                g_ptr_array_add(sd->duplicate_triggers, g_strdup(*p));
        GHashTableIter it;
        void *k, *v;
        g_hash_table_iter_init(&it, sh->metadata);
        while (g_hash_table_iter_next(&it, &k, &v))
                g_hash_table_insert(sd->metadata, g_strdup(k), g_strdup(v));
        if (sd->announced)
                restore_published(m, sd);
        if (sh->needs_publish || sh_needs_publish)
                sd->generation = 1;
        return 0;
}

static void save_work(void *data);

typedef struct SaveJob {
        WorkItem item;
        Manager *manager;
        uint64_t seq;
        StateSaveInfo info;
        int error;
} SaveJob;

/* A new base once the journal outweighs it: restarts replay little, and the
 * state on disk stays what is live. */
#define JOURNAL_MIN_COMPACT (1024 * 1024)

static int on_save_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        m->save_retry = sd_event_source_disable_unref(m->save_retry);
        manager_schedule_flush(m);
        return 0;
}

/* Calls waiting for a change of theirs to be saved (SetShotMetadata). */
static void reply_saved(Manager *m) {
        GHashTableIter it;
        void *v;
        if (m->n_pending_calls == 0)
                return;
        g_hash_table_iter_init(&it, m->shots);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                ShotData *sd = v;
                if (sd->pending_calls->len == 0 || sd->dirty || sd->save_seq > m->saved_seq)
                        continue;
                for (guint i = 0; i < sd->pending_calls->len; i++)
                        (void) sd_bus_reply_method_return(sd->pending_calls->pdata[i], NULL);
                m->n_pending_calls -= sd->pending_calls->len;
                g_ptr_array_set_size(sd->pending_calls, 0);
        }
}

static void save_done(WorkItem *item, Manager *m) {
        SaveJob *j = (SaveJob *) item;
        if (j->error < 0) {
                if (m->last_save_error >= 0)
                        log_error_errno(j->error, "Cannot save the state to %s: %m. Retrying; publishing waits.",
                                        m->state_dir);
                /* The worker kept what failed for the next attempt. */
                if (!m->save_retry && m->event)
                        (void) sd_event_add_time_relative(m->event, &m->save_retry, CLOCK_MONOTONIC, USEC_PER_SEC,
                                                          USEC_PER_SEC / 10, on_save_retry, m);
        } else {
                if (m->last_save_error < 0)
                        log_info("State saved again to %s.", m->state_dir);
                m->saved_seq = MAX(m->saved_seq, j->seq);
                if (j->info.base) {
                        m->base_size = j->info.base_size;
                        m->journal_size = 0;
                } else if (j->info.journal_size > 0)
                        m->journal_size = j->info.journal_size;
                m->stats.state_commits++;
                if (m->journal_size > MAX((uint64_t) JOURNAL_MIN_COMPACT, 2 * m->base_size))
                        manager_want_base(m);
                reply_saved(m);
                /* What this snapshot recorded may now reach the clean tree. */
                if (!m->stopping)
                        manager_publish_pending(m);
        }
        m->last_save_error = j->error;
        g_free(j);
}

/* Runs in the disk worker: takes whatever snapshot is newest. */
static void save_work(void *data) {
        SaveJob *j = data;
        Manager *m = j->manager;

        g_mutex_lock(&m->save_lock);
        StateSnapshot *s = m->save_next;
        m->save_next = NULL;
        m->save_queued = false;
        g_mutex_unlock(&m->save_lock);
        if (!s)
                return;

        j->seq = s->seq;
        j->error = state_save(m->state_dir, s, &j->info);
        if (j->error < 0) {
                /* Keep the digests for the next attempt. */
                g_mutex_lock(&m->save_lock);
                if (!m->save_next) {
                        m->save_next = s;
                        s = NULL;
                } else
                        state_snapshot_absorb(m->save_next, s);
                g_mutex_unlock(&m->save_lock);
        }
        state_snapshot_free(s);
}

static void add_counter(uint32_t date, uint32_t next, const uint32_t *ranges, uint32_t n_ranges, void *userdata) {
        state_snapshot_add_counter(userdata, date, next, ranges, n_ranges);
}

static void add_tombstone(const EnginePathKey *key, nsec_t day_start, void *userdata) {
        StateForgotten f = { .id = *key, .dt = day_start };
        g_array_append_val(userdata, f);
}

void manager_want_base(Manager *m) {
        m->want_base = true;
        m->state_dirty = true;
}

/* Whether a commit would carry anything: a flush for other reasons (a file
 * staged, a publish done) must not cost an empty record and its fdatasync,
 * which a closing shot then waits for. A snapshot that failed to save is
 * retried even with nothing new. */
static bool state_has_changes(Manager *m) {
        if (m->want_base || m->main_dirty || m->reset_forgotten || m->removed->len > 0 || m->forget->len > 0)
                return true;
        GHashTableIter it;
        void *v;
        g_hash_table_iter_init(&it, m->shots);
        while (g_hash_table_iter_next(&it, NULL, &v))
                if (((ShotData *) v)->dirty)
                        return true;
        g_mutex_lock(&m->save_lock);
        bool failed = m->save_next && !m->save_queued;
        g_mutex_unlock(&m->save_lock);
        return failed;
}

void manager_save_state(Manager *m) {
        if (!m->state_dirty || !m->saver)
                return;
        m->state_dirty = false;
        if (!state_has_changes(m))
                return;

        StateSnapshot *s = state_snapshot_new();
        s->seq = ++m->save_seq;
        /* A base holds everything: every shot and every forgotten file. */
        s->full = m->want_base;
        m->want_base = false;
        s->write_main = m->main_dirty || s->full;
        m->main_dirty = false;
        s->paused = engine_is_paused(m->engine);
        s->raw_root = g_strdup(m->config->raw_root);
        s->reset_forgotten = m->reset_forgotten;
        m->reset_forgotten = false;
        s->last_shot = g_strdup(m->last_shot);
        engine_foreach_counter(m->engine, add_counter, s);
        if (s->write_main)
                manager_clocks_save(m, s);

        GHashTableIter it;
        void *v;
        g_hash_table_iter_init(&it, m->shots);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                ShotData *sd = v;
                if (!sd->dirty && !s->full)
                        continue;
                sd->dirty = false;
                sd->save_seq = s->seq;
                StateShot *sh = state_snapshot_add_shot(s);
                g_hash_table_unref(sh->metadata);
                shot_to_state(m, sd, sh);
        }
        for (guint i = 0; i < m->removed->len; i++)
                state_snapshot_remove_shot(s, m->removed->pdata[i]);
        g_ptr_array_set_size(m->removed, 0);
        if (s->full) {
                g_array_set_size(m->forget, 0);
                engine_foreach_tombstone(m->engine, add_tombstone, m->forget);
                s->drop_legacy = !engine_has_legacy_tombstones(m->engine);
        }
        s->n_forget = m->forget->len;
        s->forget = (StateForgotten *) g_array_steal(m->forget, NULL);

        g_mutex_lock(&m->save_lock);
        StateSnapshot *old = m->save_next;
        if (old)
                /* Not written yet: what it carried rides with the newer one. */
                state_snapshot_absorb(s, old);
        m->save_next = s;
        bool submit = !m->save_queued;
        m->save_queued = true;
        g_mutex_unlock(&m->save_lock);
        state_snapshot_free(old);

        if (submit) {
                SaveJob *j = g_new0(SaveJob, 1);
                j->item.done = save_done;
                j->manager = m;
                (void) worker_submit(m->saver, save_work, j);
        }
}

/* ---- restoring at start ---- */

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

int manager_restore_state(Manager *m) {
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

