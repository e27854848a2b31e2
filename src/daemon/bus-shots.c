/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdio.h>

#include "bus-internal.h"
#include "log.h"

/* ---- manifests as a{sv} ---- */

static int append_entry_s(sd_bus_message *r, const char *k, const char *v) {
        return sd_bus_message_append(r, "{sv}", k, "s", v ?: "");
}

/* A raw path of the shot's own root (the one it opened under), as the bus
 * shows names: valid UTF-8. */
static char *shot_bus_path(const ShotData *sd, const char *rel) {
        g_autofree char *abs = shot_raw_path(sd, rel);
        return utf8_escape_invalid(abs);
}

char **bus_shot_duplicate_triggers(Manager *m, ShotData *sd) {
        char **paths = g_new0(char *, sd->duplicate_triggers->len + 1);
        for (guint i = 0; i < sd->duplicate_triggers->len; i++)
                paths[i] = shot_bus_path(sd, sd->duplicate_triggers->pdata[i]);
        return paths;
}

int bus_append_manifest(sd_bus_message *reply, const Manifest *mf, char **duplicate_triggers) {
        char date[9];
        int r;

        snprintf(date, sizeof date, "%08" PRIu32, mf->date);
        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        r = append_entry_s(reply, "id", mf->id);
        if (r >= 0)
                r = append_entry_s(reply, "date", date);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}", "number", "u", mf->number);
        if (r >= 0)
                r = append_entry_s(reply, "status", shot_status_to_string(mf->status));
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}", "trigger", "a{sv}", 3, "camera", "s", mf->trigger_camera ?: "",
                                          "path", "s", mf->trigger_path ?: "", "time", "t",
                                          usec_of(mf->trigger_time));
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}", "window", "a{sv}", 2, "start", "t",
                                          usec_of(mf->window_start), "end", "t", usec_of(mf->window_end));
        if (r < 0)
                return r;

        /* files: aa{sv} */
        nsec_t min = 0, max = 0;
        const char *first = "", *last = "";
        r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", "files");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', "aa{sv}");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < mf->n_files; i++) {
                const ManifestFile *f = &mf->files[i];
                if (i == 0 || f->mtime < min) {
                        min = f->mtime;
                        first = f->camera;
                }
                if (i == 0 || f->mtime > max) {
                        max = f->mtime;
                        last = f->camera;
                }
                r = sd_bus_message_open_container(reply, 'a', "{sv}");
                if (r >= 0)
                        r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}{sv}", "camera", "s", f->camera, "kind", "u",
                                                  f->kind, "raw_path", "s", f->raw_path, "mtime", "t", usec_of(f->mtime),
                                                  "offset_s", "d", (double) (f->mtime - mf->trigger_time) / 1e9);
                /* Manifests older than clock offsets have none. */
                if (r >= 0 && f->clock_offset_known)
                        r = sd_bus_message_append(reply, "{sv}", "clock_offset_s", "d", manifest_seconds(f->clock_offset));
                if (r >= 0)
                        r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}", "clean_path", "s", f->clean_path ?: "",
                                                  "size", "t", f->size, "sha256", "s", f->sha256, "late", "b", f->late);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;

        r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", "missing");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', "as");
        if (r >= 0)
                r = sd_bus_message_append_strv(reply, mf->missing ?: (char *[]) { NULL });
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}", "timing", "a{sv}", 4, "min_mtime", "t", usec_of(min),
                                          "max_mtime", "t", usec_of(max), "first_camera", "s", first, "last_camera",
                                          "s", last);
        if (r < 0)
                return r;

        /* Rule 4: what the manager holds of them (manifests do not). */
        r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", "duplicate_triggers");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', "as");
        if (r >= 0)
                r = sd_bus_message_append_strv(reply, duplicate_triggers ?: (char *[]) { NULL });
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;

        r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", "metadata");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', "a{ss}");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "{ss}");
        if (r >= 0 && mf->metadata) {
                g_autofree const char **keys = (const char **) g_hash_table_get_keys_as_array(mf->metadata, NULL);
                for (const char **k = keys; r >= 0 && *k; k++)
                        r = sd_bus_message_append(reply, "{ss}", *k, g_hash_table_lookup(mf->metadata, *k));
        }
        for (int i = 0; r >= 0 && i < 3; i++)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

/* The manifest of a shot still in memory, as it stands now. */
Manifest *bus_manifest_from_memory(Manager *m, ShotData *sd) {
        if (sd->manifest && sd->generation == sd->published_generation) {
                /* Metadata set since is newer than the last publish. */
                Manifest *mf = manifest_new();
                g_autofree char *text = manifest_to_data(sd->manifest, NULL);
                manifest_free(mf);
                if (manifest_from_data(text, strlen(text), &mf) < 0)
                        return NULL;
                g_hash_table_remove_all(mf->metadata);
                GHashTableIter it;
                void *k, *v;
                g_hash_table_iter_init(&it, sd->metadata);
                while (g_hash_table_iter_next(&it, &k, &v))
                        g_hash_table_insert(mf->metadata, g_strdup(k), g_strdup(v));
                return mf;
        }

        StateShot st;
        shot_to_state(m, sd, &st);
        Manifest *mf = manifest_new();
        memcpy(mf->id, sd->id, sizeof mf->id);
        mf->date = st.date;
        mf->number = st.number;
        mf->status = st.status;
        mf->trigger_camera = utf8_escape_invalid(st.trigger_camera ?: "");
        mf->trigger_path = g_strdup("");
        mf->trigger_time = st.trigger_time;
        mf->window_start = st.window_start;
        mf->window_end = st.window_end;
        for (size_t i = 0; i < st.n_files; i++) {
                const StateFile *f = &st.files[i];
                g_autofree char *raw = shot_bus_path(sd, f->path);
                g_autofree char *cam = utf8_escape_invalid(f->camera);
                DoneFile *d = g_hash_table_lookup(sd->done, f->path);
                g_autofree char *clean = d ? utf8_escape_invalid(d->clean_path) : g_strdup("");
                ManifestFile *mfile = manifest_add_file(mf, cam, f->kind + 1, raw, f->dt, clean, f->late);
                if (d) {
                        mfile->size = d->result.size;
                        memcpy(mfile->sha256, d->result.sha256, sizeof mfile->sha256);
                }
                mfile->clock_offset = f->offset;
                mfile->clock_offset_known = true;
                /* The trigger time is its mtime on the reference clock. */
                if (f->trigger && st.trigger_camera && streq(f->camera, st.trigger_camera) &&
                    f->dt - f->offset == st.trigger_time) {
                        g_free(mf->trigger_path);
                        mf->trigger_path = g_strdup(raw);
                }
        }
        mf->missing = shot_data_missing(m, sd);
        for (char **c = mf->missing; c && *c; c++) {
                char *e = utf8_escape_invalid(*c);
                g_free(*c);
                *c = e;
        }
        GHashTableIter it;
        void *k, *v;
        g_hash_table_iter_init(&it, sd->metadata);
        while (g_hash_table_iter_next(&it, &k, &v))
                g_hash_table_insert(mf->metadata, g_strdup(k), g_strdup(v));
        state_shot_clear(&st);
        return mf;
}

/* ---- disk reads and writes for shots no longer in memory ---- */



struct ShotJob {
        WorkItem item;
        ShotJobKind kind;
        sd_bus_message *call;
        char *clean_root;
        uint32_t date, number;
        GHashTable *values; /* SetShotMetadata */
        Manifest *manifest;
        GPtrArray *listed;  /* Manifest* for LIST */
        int error;
};

static void manifest_free_void(void *p) {
        manifest_free(p);
}

static void shot_job_free(ShotJob *j) {
        sd_bus_message_unref(j->call);
        g_free(j->clean_root);
        if (j->values)
                g_hash_table_unref(j->values);
        manifest_free(j->manifest);
        if (j->listed)
                g_ptr_array_unref(j->listed);
        g_free(j);
}

static int read_manifest(const char *path, Manifest **ret) {
        g_autofree char *data = NULL;
        gsize len;
        g_autoptr(GError) e = NULL;
        if (!g_file_get_contents(path, &data, &len, &e))
                return e->code == G_FILE_ERROR_NOENT ? -ENOENT : -EIO;
        return manifest_from_data(data, len, ret);
}

void bus_shot_job_work(void *data) {
        ShotJob *j = data;

        if (j->kind == SHOT_JOB_LIST) {
                char date[9];
                snprintf(date, sizeof date, "%08" PRIu32, j->date);
                g_autofree char *dir = g_build_filename(j->clean_root, "shots", date, NULL);
                g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
                j->listed = g_ptr_array_new_with_free_func(manifest_free_void);
                const char *name;
                while (d && (name = g_dir_read_name(d))) {
                        if (!g_str_has_prefix(name, "shot") || !g_str_has_suffix(name, ".json"))
                                continue;
                        g_autofree char *p = g_build_filename(dir, name, NULL);
                        Manifest *mf;
                        if (read_manifest(p, &mf) >= 0)
                                g_ptr_array_add(j->listed, mf);
                }
                return;
        }

        g_autofree char *path = manifest_path(j->clean_root, j->date, j->number);
        j->error = read_manifest(path, &j->manifest);
        if (j->error < 0 || j->kind != SHOT_JOB_SET_METADATA)
                return;

        GHashTableIter it;
        void *k, *v;
        g_hash_table_iter_init(&it, j->values);
        while (g_hash_table_iter_next(&it, &k, &v))
                g_hash_table_replace(j->manifest->metadata, g_strdup(k), g_strdup(v));
        size_t len;
        g_autofree char *text = manifest_to_data(j->manifest, &len);
        j->error = publish_replace(j->clean_root, path, text, len);
}

static int reply_error_errno(sd_bus_message *call, int error, const char *what) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        if (error == -ENOENT)
                sd_bus_error_setf(&e, BUS_ERROR_PREFIX "NoSuchShot", "No shot %s.", what);
        else
                sd_bus_error_setf(&e, SD_BUS_ERROR_FAILED, "Cannot read or write the manifest of %s: %s", what,
                                  g_strerror(-error));
        return sd_bus_reply_method_error(call, &e);
}

static int shot_summary_cmp(const void *a, const void *b) {
        const Manifest *x = *(Manifest *const *) a, *y = *(Manifest *const *) b;
        return x->number < y->number ? -1 : x->number > y->number;
}

static void shot_job_done(WorkItem *item, Manager *m) {
        ShotJob *j = (ShotJob *) item;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        char id[SHOT_ID_MAX];
        int r;

        (void) shot_format_id(j->date, j->number, id);
        switch (j->kind) {
        case SHOT_JOB_GET:
                if (j->error < 0) {
                        reply_error_errno(j->call, j->error, id);
                        break;
                }
                r = sd_bus_message_new_method_return(j->call, &reply);
                if (r >= 0)
                        r = bus_append_manifest(reply, j->manifest, NULL);
                if (r >= 0)
                        (void) sd_bus_send(NULL, reply, NULL);
                break;

        case SHOT_JOB_SET_METADATA:
                if (j->error < 0) {
                        reply_error_errno(j->call, j->error, id);
                        break;
                }
                log_fields(LOG_INFO, 0, id, NULL, NULL, "Metadata of shot %s updated in its manifest.", id);
                (void) sd_bus_reply_method_return(j->call, NULL);
                {
                        /* A shot long closed: announce from what the manifest says. */
                        g_autoptr(GHashTable) images = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
                        for (size_t i = 0; i < j->manifest->n_files; i++) {
                                const ManifestFile *f = &j->manifest->files[i];
                                const CameraConfig *cc = config_camera(m->config, f->camera);
                                bool several = cc ? cc->n_kinds > 1 : f->kind > 1;
                                g_hash_table_insert(images,
                                                    several ? g_strdup_printf("%s/%u", f->camera, f->kind) :
                                                              g_strdup(f->camera),
                                                    g_strdup(f->clean_path));
                        }
                        ShotData tmp = { .manager = m, .images = images };
                        memcpy(tmp.id, id, sizeof tmp.id);
                        tmp.manifest = j->manifest;
                        bus_emit_shot_published(m, &tmp, true);
                }
                break;

        case SHOT_JOB_LIST: {
                bool open_only = false;
                /* Memory is newer than disk for what it holds. */
                g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(manifest_free_void);
                GHashTableIter it;
                void *v;
                g_hash_table_iter_init(&it, m->shots);
                while (g_hash_table_iter_next(&it, NULL, &v)) {
                        ShotData *sd = v;
                        if (sd->date == j->date) {
                                Manifest *mf = bus_manifest_from_memory(m, sd);
                                if (mf)
                                        g_ptr_array_add(out, mf);
                        }
                }
                for (guint i = 0; j->listed && i < j->listed->len; i++) {
                        Manifest *mf = j->listed->pdata[i];
                        if (mf->date != j->date || shot_data_get(m, mf->id))
                                continue;
                        j->listed->pdata[i] = NULL;
                        g_ptr_array_add(out, mf);
                }
                (void) open_only;
                qsort_safe(out->pdata, out->len, sizeof(void *), shot_summary_cmp);

                r = sd_bus_message_new_method_return(j->call, &reply);
                if (r >= 0)
                        r = sd_bus_message_open_container(reply, 'a', "(ssuu)");
                for (guint i = 0; r >= 0 && i < out->len; i++) {
                        Manifest *mf = out->pdata[i];
                        r = sd_bus_message_append(reply, "(ssuu)", mf->id, shot_status_to_string(mf->status),
                                                  (uint32_t) mf->n_files,
                                                  mf->missing ? g_strv_length(mf->missing) : 0);
                }
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                if (r >= 0)
                        (void) sd_bus_send(NULL, reply, NULL);
                break;
        }
        }
        shot_job_free(j);
}

ShotJob *bus_shot_job_new(Manager *m, ShotJobKind kind, sd_bus_message *call, uint32_t date, uint32_t number) {
        ShotJob *j = g_new0(ShotJob, 1);
        j->item.done = shot_job_done;
        j->kind = kind;
        j->call = sd_bus_message_ref(call);
        j->clean_root = g_strdup(m->config->clean_root);
        j->date = date;
        j->number = number;
        return j;
}


void bus_shot_job_set_values(ShotJob *j, GHashTable *values) {
        j->values = values;
}
