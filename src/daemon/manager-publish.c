/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* From a closed shot to the clean tree: jobs built in the event loop from
 * plain copies, run by the disk worker (publish.c does the file work), and
 * finished back in the loop, which then announces the shot. A job that
 * meets a full or read-only disk is retried later, whole: publishing is
 * idempotent, so nothing is published twice. */

#include <stdio.h>

#include "bus-manager.h"
#include "classify.h"
#include "log.h"
#include "manager-internal.h"

#define RETRY_MAX_USEC (60 * USEC_PER_SEC)

typedef struct JobFile {
        char *rel, *src, *dst;
        char *camera;
        unsigned kind; /* 0-based */
        char *image_key; /* in ShotClosed's images: "camera", or "camera/kind" when it has several kinds */
        nsec_t mtime;
        nsec_t clock_offset; /* its camera's, it was grouped with */
        bool late, already;
        bool staged;      /* stage holds its staged copy (publish_finish() then, no copy) */
        bool stage_used;  /* put under dst: its folder wants an fsync */
        bool stage_stale; /* the raw file changed since, or the copy is gone: never used again */
        StagedFile stage;
        int error;
        PublishResult result;
} JobFile;

typedef struct PublishJob {
        char id[SHOT_ID_MAX];
        uint64_t generation;
        char *clean_root;
        PublishMode mode;
        Manifest *manifest;
        JobFile *files;
        size_t n_files;
        char **expected;
        unsigned *expected_kinds;
        int error;          /* the first error that makes the whole job wait and retry */
        char *error_path;
        size_t n_published; /* newly, this time */
        gint next_file;     /* shared by the threads publishing the files */
        gint stop;          /* set by the first error worth a retry */
        StagedFile manifest_stage;
} PublishJob;

/* The shots ready to publish at one moment, done in one go. */
typedef struct PublishBatch {
        WorkItem item;
        GPtrArray *jobs; /* PublishJob* */
} PublishBatch;

void done_file_free(void *p) {
        DoneFile *d = p;
        if (!d)
                return;
        g_free(d->clean_path);
        g_free(d);
}

static void job_free(PublishJob *j) {
        for (size_t i = 0; i < j->n_files; i++) {
                g_free(j->files[i].rel);
                g_free(j->files[i].src);
                g_free(j->files[i].dst);
                g_free(j->files[i].camera);
                g_free(j->files[i].image_key);
                staged_file_clear(&j->files[i].stage);
        }
        g_free(j->files);
        g_strfreev(j->expected);
        g_free(j->expected_kinds);
        manifest_free(j->manifest);
        g_free(j->clean_root);
        g_free(j->error_path);
        staged_file_clear(&j->manifest_stage);
        g_free(j);
}

/* Errors that no retry can cure for this file; anything else (a full or
 * read-only disk, permissions being fixed) is worth waiting for. */
static bool error_is_permanent(int r) {
        return r == -ENOENT || r == -EEXIST || r == -EINVAL || r == -ELOOP || r == -EISDIR || r == -ENOTDIR ||
               r == -ENAMETOOLONG || r == -EFBIG;
}

/* Small files are bound by fsync latency and large ones by the sha256
 * read-back, which is CPU work: both go faster when a shot's files are
 * published side by side. Few threads, as fsyncs on one disk queue up. */
#define PUBLISH_THREADS_MAX 4

static void *publish_files(void *data) {
        PublishJob *j = data;

        for (;;) {
                size_t i = (size_t) g_atomic_int_add(&j->next_file, 1);
                if (i >= j->n_files || g_atomic_int_get(&j->stop))
                        return NULL;
                JobFile *f = &j->files[i];
                if (f->already)
                        continue;
                if (f->staged) {
                        f->error = publish_finish(j->clean_root, f->src, f->dst, &f->stage, &f->result);
                        if (f->error >= 0) {
                                f->stage_used = true;
                                continue;
                        }
                        if (f->error != -ESTALE)
                                goto failed;
                        /* The raw file changed since, or the staged copy is
                         * gone: the full way. */
                        f->stage_stale = true;
                }
                f->error = publish_file(j->clean_root, j->mode, f->src, f->dst, &f->result);
        failed:
                if (f->error < 0 && !error_is_permanent(f->error))
                        g_atomic_int_set(&j->stop, 1);
        }
}

/* Phase one of a job: its files under their final names; the folders that
 * want an fsync are added to dirs. */
static void publish_job_files(PublishJob *j, GHashTable *dirs) {
        GThread *threads[PUBLISH_THREADS_MAX - 1];
        size_t n_threads = 0, n_todo = 0;

        for (size_t i = 0; i < j->n_files; i++)
                if (!j->files[i].already) {
                        j->files[i].error = 1; /* not tried: set by publish_files() */
                        n_todo++;
                }
        /* Renames of staged copies are quick; copies the full way gain from
         * running side by side. */
        size_t n_copies = 0;
        for (size_t i = 0; i < j->n_files; i++)
                n_copies += !j->files[i].already && !j->files[i].staged;
        size_t n_want = MIN(MIN(n_copies, (size_t) g_get_num_processors()), (size_t) PUBLISH_THREADS_MAX);
        for (; n_threads + 1 < n_want; n_threads++) {
                threads[n_threads] = g_thread_try_new("shotsync-publish", publish_files, j, NULL);
                if (!threads[n_threads])
                        break; /* fewer threads, same work */
        }
        publish_files(j);
        for (size_t t = 0; t < n_threads; t++)
                g_thread_join(threads[t]);

        /* As if done in order: the first error worth a retry holds the job. */
        for (size_t i = 0; i < j->n_files; i++) {
                JobFile *f = &j->files[i];
                if (f->already)
                        continue;
                if (f->error < 0 && !error_is_permanent(f->error)) {
                        j->error = f->error;
                        j->error_path = g_strdup(f->dst);
                        return;
                }
                if (f->error == 0)
                        j->n_published++;
                if (f->stage_used)
                        g_hash_table_add(dirs, g_path_get_dirname(f->dst));
        }
}

/* Phase two: the manifest, describing what is in the clean tree, nothing
 * else; its folder is added to dirs. */
static void publish_job_manifest(PublishJob *j, GHashTable *dirs) {
        Manifest *mf = j->manifest;
        for (size_t i = 0; i < j->n_files; i++) {
                JobFile *f = &j->files[i];
                if (f->error < 0)
                        continue;
                g_autofree char *raw = utf8_escape_invalid(f->src);
                g_autofree char *clean = utf8_escape_invalid(f->dst);
                ManifestFile *mfile = manifest_add_file(mf, f->camera, f->kind + 1, raw, f->mtime, clean, f->late);
                mfile->clock_offset = f->clock_offset;
                mfile->clock_offset_known = true;
                mfile->size = f->result.size;
                memcpy(mfile->sha256, f->result.sha256, sizeof mfile->sha256);
        }
        GPtrArray *missing = g_ptr_array_new();
        for (size_t e = 0; j->expected[e]; e++) {
                unsigned have = 0;
                for (size_t i = 0; i < j->n_files; i++)
                        if (j->files[i].error == 0 && streq(j->files[i].camera, j->expected[e]))
                                have |= 1u << MIN(j->files[i].kind, 31u);
                unsigned want = j->expected_kinds[e] >= 32 ? UINT32_MAX : (1u << j->expected_kinds[e]) - 1;
                if ((have & want) != want)
                        g_ptr_array_add(missing, g_strdup(j->expected[e]));
        }
        g_ptr_array_add(missing, NULL);
        mf->missing = (char **) g_ptr_array_free(missing, false);

        size_t len;
        g_autofree char *text = manifest_to_data(mf, &len);
        g_autofree char *path = manifest_path(j->clean_root, mf->date, mf->number);
        int r = publish_stage_data(j->clean_root, path, text, len, &j->manifest_stage);
        if (r < 0) {
                j->error = r;
                j->error_path = g_steal_pointer(&path);
                return;
        }
        g_hash_table_add(dirs, g_path_get_dirname(path));
}

/* Phase three: every manifest written first, then each synced (mostly one
 * journal commit for them all), then renamed into place. */
static void publish_job_manifest_finish(PublishJob *j) {
        if (j->error < 0 || !j->manifest_stage.tmp)
                return;
        g_autofree char *path = manifest_path(j->clean_root, j->manifest->date, j->manifest->number);
        int r = publish_stage_sync(j->clean_root, &j->manifest_stage);
        if (r >= 0)
                r = publish_finish_replace(j->clean_root, path, &j->manifest_stage);
        if (r < 0) {
                j->error = r;
                j->error_path = g_steal_pointer(&path);
                staged_file_discard(j->clean_root, &j->manifest_stage);
                return;
        }
        staged_file_clear(&j->manifest_stage);
}

/* Each folder once, however many files of however many shots went there;
 * a failure holds every job that wrote into it. */
static void sync_dirs(GPtrArray *jobs, GHashTable *dirs, bool manifests) {
        GHashTableIter it;
        void *dir;
        g_hash_table_iter_init(&it, dirs);
        while (g_hash_table_iter_next(&it, &dir, NULL)) {
                PublishJob *first = jobs->pdata[0];
                int r = publish_sync_dir(first->clean_root, dir);
                if (r >= 0)
                        continue;
                for (guint k = 0; k < jobs->len; k++) {
                        PublishJob *j = jobs->pdata[k];
                        bool wrote = false;
                        if (manifests) {
                                g_autofree char *path = manifest_path(j->clean_root, j->manifest->date,
                                                                      j->manifest->number);
                                g_autofree char *d = g_path_get_dirname(path);
                                wrote = streq(d, dir);
                        }
                        for (size_t i = 0; !wrote && i < j->n_files; i++) {
                                g_autofree char *d = g_path_get_dirname(j->files[i].dst);
                                wrote = j->files[i].stage_used && streq(d, dir);
                        }
                        if (wrote && j->error >= 0) {
                                j->error = r;
                                j->error_path = g_strdup(dir);
                        }
                }
        }
}

/* Every shot ready at once, in one go: its files, each folder's fsync once,
 * the manifests, each of their folders' fsync once. A burst of shots costs
 * a few folder fsyncs, not a dozen per shot. */
static void publish_work(void *data) {
        PublishBatch *b = data;
        g_autoptr(GHashTable) dirs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        for (guint k = 0; k < b->jobs->len; k++)
                publish_job_files(b->jobs->pdata[k], dirs);
        sync_dirs(b->jobs, dirs, false);

        g_hash_table_remove_all(dirs);
        for (guint k = 0; k < b->jobs->len; k++) {
                PublishJob *j = b->jobs->pdata[k];
                if (j->error >= 0)
                        publish_job_manifest(j, dirs);
        }
        for (guint k = 0; k < b->jobs->len; k++)
                publish_job_manifest_finish(b->jobs->pdata[k]);
        sync_dirs(b->jobs, dirs, true);
}

GHashTable *shot_images(ShotData *sd) {
        return sd->images;
}

/* What the manifest lists, as ShotClosed's images. */
static void fill_images(ShotData *sd, const PublishJob *j) {
        g_hash_table_remove_all(sd->images);
        for (size_t i = 0; i < j->n_files; i++) {
                const JobFile *f = &j->files[i];
                if (f->error < 0)
                        continue;
                g_autofree char *clean = utf8_escape_invalid(f->dst);
                g_hash_table_insert(sd->images, g_strdup(f->image_key), g_steal_pointer(&clean));
        }
}

char **shot_data_missing(Manager *m, ShotData *sd) {
        if (sd->shot) {
                uint32_t miss[1024];
                uint32_t n = shot_missing(sd->shot, m->engine, miss, ELEMENTSOF(miss));
                char **v = g_new0(char *, n + 1);
                for (uint32_t i = 0; i < n; i++)
                        v[i] = g_strdup(engine_camera_name(m->engine, miss[i]));
                return v;
        }
        if (sd->manifest && sd->manifest->missing)
                return g_strdupv(sd->manifest->missing);
        return g_new0(char *, 1);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        ShotData *sd = userdata;
        sd->retry = sd_event_source_disable_unref(sd->retry);
        manager_schedule_flush(sd->manager);
        return 0;
}

static unsigned n_blocked(Manager *m) {
        unsigned n = 0;
        GHashTableIter it;
        void *v;
        g_hash_table_iter_init(&it, m->shots);
        while (g_hash_table_iter_next(&it, NULL, &v))
                if (((ShotData *) v)->failures > 0)
                        n++;
        return n;
}

static void publish_done(PublishJob *j, Manager *m) {
        ShotData *sd = shot_data_get(m, j->id);

        /* Staged copies this attempt did not use wait for the next one. */
        for (size_t i = 0; i < j->n_files; i++) {
                JobFile *f = &j->files[i];
                if (!f->staged || f->stage_used)
                        continue;
                if (sd && !f->stage_stale)
                        shot_data_return_staged(sd, f->rel, f->dst, &f->stage);
                else
                        manager_discard_staged(m, &f->stage);
        }
        if (!sd) {
                job_free(j);
                return;
        }
        sd->publishing = false;

        if (j->error < 0) {
                m->stats.publish_errors++;
                usec_t delay = MIN(USEC_PER_SEC << MIN(sd->failures, 6u), RETRY_MAX_USEC);
                if (sd->failures == 0 || sd->failures % 10 == 0)
                        log_fields(LOG_ERR, j->error, sd->id, NULL, NULL,
                                   "Cannot publish shot %s (%s: %s); nothing half-written is visible, retrying in %" PRIu64
                                   " s.",
                                   sd->id, j->error_path ?: "?", g_strerror(-j->error), delay / USEC_PER_SEC);
                sd->failures++;
                if (!m->publish_blocked)
                        bus_property_changed(m, "State");
                m->publish_blocked = true;
                if (!sd->retry)
                        (void) sd_event_add_time_relative(m->event, &sd->retry, CLOCK_MONOTONIC, delay, USEC_PER_SEC / 10,
                                                          on_retry, sd);
                manager_update_status(m);
                job_free(j);
                return;
        }

        if (sd->failures > 0)
                log_fields(LOG_INFO, 0, sd->id, NULL, NULL, "Shot %s published after %u failed attempt(s).", sd->id,
                           sd->failures);
        sd->failures = 0;
        if (m->publish_blocked && n_blocked(m) == 0) {
                m->publish_blocked = false;
                bus_property_changed(m, "State");
        }

        for (size_t i = 0; i < j->n_files; i++) {
                JobFile *f = &j->files[i];
                if (f->error < 0) {
                        log_fields(LOG_ERR, f->error, sd->id, f->camera, f->rel,
                                   f->error == -EEXIST ? "Not publishing %s: %s already exists with other content; "
                                                         "left alone." :
                                                         "Not publishing %s as %s: %s",
                                   f->src, f->dst, g_strerror(-f->error));
                        continue;
                }
                if (f->already)
                        continue;
                m->stats.files_published++;
                DoneFile *d = g_new0(DoneFile, 1);
                d->clean_path = g_strdup(f->dst);
                d->result = f->result;
                g_hash_table_replace(sd->done, g_strdup(f->rel), d);
                if (f->result.fell_back)
                        log_fields(LOG_NOTICE, 0, sd->id, f->camera, f->rel,
                                   "%s could not be linked here (Mode=%s): copied instead.", f->dst,
                                   publish_mode_to_string(j->mode));
        }

        manifest_free(sd->manifest);
        sd->manifest = g_steal_pointer(&j->manifest);
        fill_images(sd, j);
        sd->published_generation = j->generation;
        sd->dirty = true;
        log_fields(LOG_INFO, 0, sd->id, NULL, NULL, "Shot %s published: %zu file(s) in %s, %zu new.", sd->id,
                   sd->manifest->n_files, j->clean_root, j->n_published);

        bus_emit_shot_published(m, sd, sd->announced);
        sd->announced = true;
        job_free(j);
        shot_data_maybe_release(m, sd);
        manager_schedule_flush(m);
}

char *shot_file_clean_path(const Manager *m, uint32_t date, uint32_t number, const char *camera, const char *rel,
                           nsec_t dt, unsigned kind, const char *const *kind_ids) {
        const char *base = strrchr(rel, '/');
        base = base ? base + 1 : rel;
        char ext[32];
        file_extension_lower(base, ext);
        unsigned suffix = 0;
        if (kind_ids ? config_kind_ids_need_suffix(kind_ids, kind, ext) : kind > 0)
                suffix = kind + 1;
        return clean_file_path(m->config->clean_root, camera, date, number, dt, suffix, ext);
}

static PublishJob *job_new(Manager *m, ShotData *sd) {
        StateShot st;
        shot_to_state(m, sd, &st);

        PublishJob *j = g_new0(PublishJob, 1);
        memcpy(j->id, sd->id, sizeof j->id);
        j->generation = sd->generation;
        j->clean_root = g_strdup(m->config->clean_root);
        j->mode = m->config->mode;

        Manifest *mf = j->manifest = manifest_new();
        memcpy(mf->id, sd->id, sizeof mf->id);
        mf->date = st.date;
        mf->number = st.number;
        mf->status = st.status;
        mf->trigger_camera = g_strdup(st.trigger_camera ?: "");
        mf->trigger_time = st.trigger_time;
        mf->window_start = st.window_start;
        mf->window_end = st.window_end;
        mf->trigger_path = g_strdup("");
        GHashTableIter it;
        void *k, *v;
        g_hash_table_iter_init(&it, st.metadata);
        while (g_hash_table_iter_next(&it, &k, &v))
                g_hash_table_insert(mf->metadata, g_strdup(k), g_strdup(v));

        j->files = g_new0(JobFile, MAX(st.n_files, 1u));
        j->n_files = st.n_files;
        for (size_t i = 0; i < st.n_files; i++) {
                const StateFile *sf = &st.files[i];
                JobFile *f = &j->files[i];
                f->rel = g_strdup(sf->path);
                f->src = shot_raw_path(sd, sf->path);
                f->camera = g_strdup(sf->camera);
                f->kind = sf->kind;
                /* The kinds of the configuration the shot opened with (rule 17). */
                const StateKinds *kinds = state_shot_kinds(&st, sf->camera);
                size_t n_kinds = kinds ? g_strv_length(kinds->ids) : sf->kind + 1;
                f->image_key = n_kinds > 1 ? g_strdup_printf("%s/%u", sf->camera, sf->kind + 1) : g_strdup(sf->camera);
                f->mtime = sf->dt;
                f->clock_offset = sf->offset;
                f->late = sf->late;
                /* The trigger time is its mtime on the reference clock. */
                if (sf->trigger && st.trigger_camera && streq(sf->camera, st.trigger_camera) &&
                    sf->dt - sf->offset == st.trigger_time) {
                        g_free(mf->trigger_path);
                        mf->trigger_path = utf8_escape_invalid(f->src);
                }

                DoneFile *d = g_hash_table_lookup(sd->done, sf->path);
                if (d) {
                        /* Published before under this name: names never move. */
                        f->already = true;
                        f->dst = g_strdup(d->clean_path);
                        f->result = d->result;
                        continue;
                }
                f->dst = shot_file_clean_path(m, st.date, st.number, sf->camera, sf->path, sf->dt, sf->kind,
                                              kinds ? (const char *const *) kinds->ids : NULL);
                f->staged = shot_data_take_staged(sd, sf->path, f->dst, &f->stage);
        }

        size_t n_exp = st.expected ? g_strv_length(st.expected) : 0;
        j->expected = g_strdupv(st.expected);
        if (!j->expected)
                j->expected = g_new0(char *, 1);
        j->expected_kinds = g_new0(unsigned, n_exp + 1);
        for (size_t e = 0; e < n_exp; e++) {
                const StateKinds *kinds = state_shot_kinds(&st, st.expected[e]);
                uint32_t c;
                j->expected_kinds[e] = kinds                                                 ? g_strv_length(kinds->ids) :
                                       engine_find_camera(m->engine, st.expected[e], &c) >= 0 ? engine_camera_n_kinds(m->engine, c) :
                                                                                                1;
        }
        state_shot_clear(&st);
        return j;
}

static void batch_done(WorkItem *item, Manager *m) {
        PublishBatch *b = (PublishBatch *) item;
        for (guint k = 0; k < b->jobs->len; k++)
                publish_done(b->jobs->pdata[k], m);
        g_ptr_array_unref(b->jobs);
        g_free(b);
}

void manager_publish_pending(Manager *m) {
        PublishBatch *batch = NULL;
        GHashTableIter it;
        void *v;

        if (!m->disk)
                return;
        g_hash_table_iter_init(&it, m->shots);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                ShotData *sd = v;
                if (sd->publishing || sd->retry || sd->generation == sd->published_generation)
                        continue;
                /* Never publish under a number the state does not hold yet. */
                if (sd->dirty || sd->save_seq > m->saved_seq)
                        continue;
                if (sd->shot && sd->shot->status == SHOT_COLLECTING)
                        continue;
                /* Its files' copies are on their way: the rename is cheaper. */
                if (shot_data_staging(sd))
                        continue;
                if (!batch) {
                        batch = g_new0(PublishBatch, 1);
                        batch->item.done = batch_done;
                        batch->jobs = g_ptr_array_new();
                }
                g_ptr_array_add(batch->jobs, job_new(m, sd));
                sd->publishing = true;
        }
        if (batch)
                (void) worker_submit(m->disk, publish_work, batch);
}

bool manager_publish_busy(Manager *m) {
        GHashTableIter it;
        void *v;
        g_hash_table_iter_init(&it, m->shots);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                ShotData *sd = v;
                if (sd->publishing || (sd->generation != sd->published_generation && !sd->retry))
                        return true;
        }
        return false;
}

void manager_print_summary(Manager *m) {
        printf("%-14s %-9s %5s  %s\n", "SHOT", "STATUS", "FILES", "MISSING");
        unsigned complete = 0, timeout = 0;
        for (guint i = 0; m->once_closed && i < m->once_closed->len; i++) {
                const char *id = m->once_closed->pdata[i];
                ShotData *sd = shot_data_get(m, id);
                if (!sd || !sd->manifest) {
                        printf("%-14s %-9s %5s  %s\n", id, "unpublished", "-", "-");
                        continue;
                }
                const Manifest *mf = sd->manifest;
                g_autofree char *missing = mf->missing && mf->missing[0] ? g_strjoinv(", ", mf->missing) : g_strdup("-");
                printf("%-14s %-9s %5zu  %s\n", id, shot_status_to_string(mf->status), mf->n_files, missing);
                if (mf->status == SHOT_COMPLETE)
                        complete++;
                else
                        timeout++;
        }
        printf("\n%u shot(s): %u complete, %u timed out. Files: %" PRIu64 " seen, %" PRIu64 " grouped, %" PRIu64
               " orphan(s), %" PRIu64 " duplicate(s), %" PRIu64 " ignored, %" PRIu64 " published.\n",
               complete + timeout, complete, timeout, m->stats.files_seen, m->stats.files_assigned, m->stats.orphans,
               m->stats.duplicates, m->stats.ignored, m->stats.files_published);
        printf("Clean tree: %s\nManifests:  %s/shots/\n", m->config->clean_root, m->config->clean_root);
        fflush(stdout);
}
