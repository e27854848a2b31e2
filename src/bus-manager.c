/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/stat.h>

#include "bus-manager.h"
#include "camera.h"
#include "config-build.h"
#include "log.h"
#include "manager-internal.h"

#define METADATA_MAX_KEYS 256
#define METADATA_MAX_KEY 256
#define METADATA_MAX_VALUE 4096

static uint64_t usec_of(nsec_t t) {
        return t > 0 ? (uint64_t) (t / 1000) : 0;
}

char *bus_raw_path(Manager *m, const char *rel) {
        g_autofree char *abs = raw_path_of(m, rel);
        return utf8_escape_invalid(abs);
}

/* ---- properties ---- */

static int prop_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
}

static int prop_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                      sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", manager_state_string(userdata));
}

static int prop_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *v = "";
        if (streq(property, "RawRoot"))
                v = m->config->raw_root;
        else if (streq(property, "CleanRoot"))
                v = m->config->clean_root;
        else if (streq(property, "LastShot"))
                v = m->last_shot ?: "";
        g_autofree char *e = utf8_escape_invalid(v);
        return sd_bus_message_append(reply, "s", e);
}

static int prop_double(sd_bus *bus, const char *path, const char *interface, const char *property,
                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "d",
                                     streq(property, "FullWindowSec") ? m->config->full_window_sec :
                                                                        m->config->timeout_sec);
}

static int append_escaped_strv(sd_bus_message *reply, GPtrArray *names) {
        int r = sd_bus_message_open_container(reply, 'a', "s");
        if (r < 0)
                return r;
        for (guint i = 0; i < names->len; i++) {
                g_autofree char *e = utf8_escape_invalid(names->pdata[i]);
                r = sd_bus_message_append(reply, "s", e);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int prop_cameras(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        g_autoptr(GPtrArray) names = g_ptr_array_new();

        if (streq(property, "Cameras")) {
                for (uint32_t i = 0; i < engine_n_cameras(m->engine); i++)
                        if (engine_camera_expected(m->engine, i))
                                g_ptr_array_add(names, (char *) engine_camera_name(m->engine, i));
        } else {
                for (size_t i = 0; i < m->config->n_cameras; i++)
                        if (m->config->cameras[i].trigger)
                                g_ptr_array_add(names, m->config->cameras[i].name);
                if (m->config->n_cameras == 0)
                        for (char **t = m->config->trigger_cameras; t && *t; t++)
                                g_ptr_array_add(names, *t);
        }
        return append_escaped_strv(reply, names);
}

static int prop_open_shots(sd_bus *bus, const char *path, const char *interface, const char *property,
                           sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        uint32_t n;
        Shot *const *live = engine_live_shots(m->engine, &n);
        g_autoptr(GPtrArray) ids = g_ptr_array_new();
        for (uint32_t i = 0; i < n; i++)
                if (live[i]->status == SHOT_COLLECTING)
                        g_ptr_array_add(ids, live[i]->id);
        return append_escaped_strv(reply, ids);
}

static int prop_next_number(sd_bus *bus, const char *path, const char *interface, const char *property,
                            sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "u", engine_next_number(m->engine, manager_today()));
}

static int prop_rescans(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "u", (uint32_t) MIN(m->stats.rescans, UINT32_MAX));
}

/* ---- access ---- */

static bool user_in_group(uid_t uid, gid_t gid) {
        struct passwd *pw = getpwuid(uid);
        if (!pw)
                return false;
        int n = 64;
        for (int attempt = 0; attempt < 4; attempt++) {
                g_autofree gid_t *groups = g_new(gid_t, n);
                int k = n;
                if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &k) >= 0) {
                        for (int i = 0; i < k; i++)
                                if (groups[i] == gid)
                                        return true;
                        return false;
                }
                n = MAX(k, n * 2);
        }
        return false;
}

/* The policy file is the gate; this is the second lock on the same door,
 * for buses configured without it. The session bus is the user's own. */
static int check_privileged(Manager *m, sd_bus_message *msg, sd_bus_error *error) {
        if (m->user_bus)
                return 0;

        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t uid;
        /* dbus-daemon tells the uid only; the groups come from /proc when
         * we may read it (AUGMENT), else from the group database. */
        int r = sd_bus_query_sender_creds(msg,
                                          SD_BUS_CREDS_EUID | SD_BUS_CREDS_PID | SD_BUS_CREDS_SUPPLEMENTARY_GIDS |
                                                  SD_BUS_CREDS_EGID | SD_BUS_CREDS_AUGMENT,
                                          &creds);
        if (r < 0 || sd_bus_creds_get_euid(creds, &uid) < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "Cannot tell who is calling.");
        if (uid == 0 || uid == geteuid())
                return 0;

        struct group *g = getgrnam("shotsync");
        if (g) {
                gid_t egid;
                const gid_t *gids;
                if (sd_bus_creds_get_egid(creds, &egid) >= 0 && egid == g->gr_gid)
                        return 0;
                int n = sd_bus_creds_get_supplementary_gids(creds, &gids);
                for (int i = 0; i < n; i++)
                        if (gids[i] == g->gr_gid)
                                return 0;
                if (n < 0 && user_in_group(uid, g->gr_gid))
                        return 0;
        }
        return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED,
                                "Only root and members of group shotsync may do this.");
}

static int parse_date_arg(const char *s, uint32_t *ret, sd_bus_error *error) {
        if (isempty(s)) {
                *ret = manager_today();
                return 0;
        }
        if (parse_date(s, ret) < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Not a date (YYYYMMDD): '%s'.", s);
        return 0;
}

/* ---- manifests as a{sv} ---- */

static int append_entry_s(sd_bus_message *r, const char *k, const char *v) {
        return sd_bus_message_append(r, "{sv}", k, "s", v ?: "");
}

static int append_manifest(sd_bus_message *reply, const Manifest *mf) {
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
                r = sd_bus_message_append(reply, "a{sv}", 9, "camera", "s", f->camera, "kind", "u", f->kind,
                                          "raw_path", "s", f->raw_path, "mtime", "t", usec_of(f->mtime), "offset_s", "d",
                                          (double) (f->mtime - mf->trigger_time) / 1e9, "clean_path", "s",
                                          f->clean_path ?: "", "size", "t", f->size, "sha256", "s", f->sha256, "late",
                                          "b", f->late);
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
static Manifest *manifest_from_memory(Manager *m, ShotData *sd) {
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
                g_autofree char *raw = bus_raw_path(m, f->path);
                g_autofree char *cam = utf8_escape_invalid(f->camera);
                DoneFile *d = g_hash_table_lookup(sd->done, f->path);
                g_autofree char *clean = d ? utf8_escape_invalid(d->clean_path) : g_strdup("");
                ManifestFile *mfile = manifest_add_file(mf, cam, f->kind + 1, raw, f->dt, clean, f->late);
                if (d) {
                        mfile->size = d->result.size;
                        memcpy(mfile->sha256, d->result.sha256, sizeof mfile->sha256);
                }
                if (f->trigger && st.trigger_camera && streq(f->camera, st.trigger_camera) &&
                    f->dt == st.trigger_time) {
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

typedef enum ShotJobKind {
        SHOT_JOB_GET,
        SHOT_JOB_LIST,
        SHOT_JOB_SET_METADATA,
} ShotJobKind;

typedef struct ShotJob {
        WorkItem item;
        ShotJobKind kind;
        sd_bus_message *call;
        char *clean_root;
        uint32_t date, number;
        GHashTable *values; /* SetShotMetadata */
        Manifest *manifest;
        GPtrArray *listed;  /* Manifest* for LIST */
        int error;
} ShotJob;

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

static void shot_job_work(void *data) {
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
                        r = append_manifest(reply, j->manifest);
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
                                Manifest *mf = manifest_from_memory(m, sd);
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

static ShotJob *shot_job_new(Manager *m, ShotJobKind kind, sd_bus_message *call, uint32_t date, uint32_t number) {
        ShotJob *j = g_new0(ShotJob, 1);
        j->item.done = shot_job_done;
        j->kind = kind;
        j->call = sd_bus_message_ref(call);
        j->clean_root = g_strdup(m->config->clean_root);
        j->date = date;
        j->number = number;
        return j;
}

/* ---- methods ---- */

static int method_list_shots(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *date_s;
        int open_only;
        uint32_t date;

        int r = sd_bus_message_read(msg, "sb", &date_s, &open_only);
        if (r < 0)
                return r;
        r = parse_date_arg(date_s, &date, error);
        if (r < 0)
                return r;

        if (open_only) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                r = sd_bus_message_new_method_return(msg, &reply);
                if (r >= 0)
                        r = sd_bus_message_open_container(reply, 'a', "(ssuu)");
                uint32_t n;
                Shot *const *live = engine_live_shots(m->engine, &n);
                for (uint32_t i = 0; r >= 0 && i < n; i++) {
                        Shot *s = live[i];
                        if (s->date != date || s->status != SHOT_COLLECTING)
                                continue;
                        uint32_t miss[1024];
                        r = sd_bus_message_append(reply, "(ssuu)", s->id, shot_status_to_string(s->status), s->n_files,
                                                  shot_missing(s, m->engine, miss, ELEMENTSOF(miss)));
                }
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                if (r < 0)
                        return r;
                return sd_bus_send(NULL, reply, NULL);
        }

        (void) worker_submit(m->reader, shot_job_work, shot_job_new(m, SHOT_JOB_LIST, msg, date, 0));
        return 1;
}

static int parse_shot_arg(const char *id, uint32_t *date, uint32_t *number, sd_bus_error *error) {
        if (shot_parse_id(id, date, number) < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Not a shot id (YYYYMMDD-NNN): '%s'.", id);
        return 0;
}

static int method_get_shot(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *id;
        uint32_t date, number;

        int r = sd_bus_message_read(msg, "s", &id);
        if (r < 0)
                return r;
        r = parse_shot_arg(id, &date, &number, error);
        if (r < 0)
                return r;

        ShotData *sd = shot_data_get(m, id);
        if (sd) {
                g_autoptr(Manifest) mf = manifest_from_memory(m, sd);
                if (!mf)
                        return -ENOMEM;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                r = sd_bus_message_new_method_return(msg, &reply);
                if (r >= 0)
                        r = append_manifest(reply, mf);
                if (r < 0)
                        return r;
                return sd_bus_send(NULL, reply, NULL);
        }
        (void) worker_submit(m->reader, shot_job_work, shot_job_new(m, SHOT_JOB_GET, msg, date, number));
        return 1;
}

static int method_set_metadata(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *id, *k, *v;
        uint32_t date, number;

        int r = check_privileged(m, msg, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "s", &id);
        if (r < 0)
                return r;
        r = parse_shot_arg(id, &date, &number, error);
        if (r < 0)
                return r;

        g_autoptr(GHashTable) values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        r = sd_bus_message_enter_container(msg, 'a', "{ss}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(msg, "{ss}", &k, &v)) > 0) {
                if (isempty(k) || strlen(k) > METADATA_MAX_KEY || strlen(v) > METADATA_MAX_VALUE)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Metadata keys must be 1 to %d bytes and values at most %d bytes.",
                                                 METADATA_MAX_KEY, METADATA_MAX_VALUE);
                g_hash_table_replace(values, g_strdup(k), g_strdup(v));
                if (g_hash_table_size(values) > METADATA_MAX_KEYS)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "At most %d metadata keys per call.", METADATA_MAX_KEYS);
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;

        ShotData *sd = shot_data_get(m, id);
        if (sd) {
                if (g_hash_table_size(sd->metadata) + g_hash_table_size(values) > 4 * METADATA_MAX_KEYS)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED, "Too much metadata on shot %s.", id);
                GHashTableIter it;
                void *kk, *vv;
                g_hash_table_iter_init(&it, values);
                while (g_hash_table_iter_next(&it, &kk, &vv))
                        g_hash_table_replace(sd->metadata, g_strdup(kk), g_strdup(vv));
                sd->dirty = true;
                /* A closed shot's manifest is rewritten (then ShotUpdated); an
                 * open one gets it when it closes. */
                if (!sd->shot || sd->shot->status != SHOT_COLLECTING)
                        sd->generation++;
                log_fields(LOG_INFO, 0, id, NULL, NULL, "Metadata set on shot %s (%u key(s)).", id,
                           g_hash_table_size(values));
                manager_schedule_flush(m);
                /* Answered once the state that records it is on disk: an
                 * acknowledged value survives a crash. */
                g_ptr_array_add(sd->pending_calls, sd_bus_message_ref(msg));
                m->n_pending_calls++;
                return 1;
        }

        ShotJob *j = shot_job_new(m, SHOT_JOB_SET_METADATA, msg, date, number);
        j->values = g_steal_pointer(&values);
        (void) worker_submit(m->disk, shot_job_work, j);
        return 1;
}

static int method_set_next(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *date_s;
        uint32_t number, date;

        int r = check_privileged(m, msg, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "su", &date_s, &number);
        if (r < 0)
                return r;
        r = parse_date_arg(date_s, &date, error);
        if (r < 0)
                return r;
        if (number == 0 || number >= 1000000000)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Shot numbers go from 1 to 999999999.");

        /* Also a shot published by an earlier life of this tree. */
        g_autofree char *p = manifest_path(m->config->clean_root, date, number);
        struct stat st;
        if (lstat(p, &st) >= 0)
                (void) engine_mark_number_used(m->engine, date, number);

        r = manager_set_next_number(m, date, number);
        if (r == -EEXIST)
                return sd_bus_error_setf(error, BUS_ERROR_PREFIX "ShotExists", "Shot %08" PRIu32 "-%03" PRIu32 " exists.",
                                         date, number);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_pause(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r = check_privileged(m, msg, error);
        if (r < 0)
                return r;
        (void) manager_set_paused(m, streq(sd_bus_message_get_member(msg), "Pause"));
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        g_autofree char *why = NULL;
        int r = check_privileged(m, msg, error);
        if (r < 0)
                return r;
        r = manager_reload(m, &why);
        if (r < 0)
                return sd_bus_error_setf(error, BUS_ERROR_PREFIX "InvalidConfig", "%s",
                                         why ?: "The configuration cannot be loaded.");
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_list_cameras(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        CameraInfo **list = manager_cameras_list(m);

        int r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ssss)");
        for (CameraInfo **c = list; r >= 0 && c && *c; c++) {
                g_autofree char *id = utf8_escape_invalid((*c)->id), *model = utf8_escape_invalid((*c)->model),
                                *port = utf8_escape_invalid((*c)->port), *state = utf8_escape_invalid((*c)->state);
                r = sd_bus_message_append(reply, "(ssss)", id, model, port, state);
        }
        camera_info_list_free(list);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int append_results(sd_bus_message *msg, const FireResult *res, size_t n) {
        int r = sd_bus_message_open_container(msg, 'a', "(sssst)");
        for (size_t i = 0; r >= 0 && i < n; i++) {
                g_autofree char *cam = utf8_escape_invalid(res[i].camera), *port = utf8_escape_invalid(res[i].port),
                                *text = utf8_escape_invalid(res[i].message ?: "");
                r = sd_bus_message_append(msg, "(sssst)", cam, port, res[i].status, text, res[i].latency_usec);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(msg);
        return r;
}

static void fire_done(Manager *m, const char *shot_id, FireResult *res, size_t n, void *userdata) {
        sd_bus_message *call = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;

        m->fire_running = false;
        int r = sd_bus_message_new_method_return(call, &reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", shot_id ?: "");
        if (r >= 0)
                r = append_results(reply, res, n);
        if (r >= 0)
                (void) sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(call);

        if (m->bus) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
                r = sd_bus_message_new_signal(m->bus, &sig, BUS_PATH, BUS_INTERFACE, "Fired");
                if (r >= 0)
                        r = sd_bus_message_append(sig, "s", shot_id ?: "");
                if (r >= 0)
                        r = append_results(sig, res, n);
                if (r >= 0)
                        (void) sd_bus_send(m->bus, sig, NULL);
        }
}

static int method_fire(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        int r = check_privileged(m, msg, error);
        if (r < 0)
                return r;
        if (m->fire_running)
                return sd_bus_error_set(error, BUS_ERROR_PREFIX "Busy", "A Fire is running.");
        if (manager_cameras_count(m) == 0)
                return sd_bus_error_set(error, BUS_ERROR_PREFIX "NoCameras",
                                        "No gphoto2 camera is configured or connected ([Trigger] Ports=).");

        sd_bus_message_ref(msg);
        r = manager_cameras_fire(m, fire_done, msg);
        if (r < 0) {
                sd_bus_message_unref(msg);
                if (r == -EBUSY)
                        return sd_bus_error_set(error, BUS_ERROR_PREFIX "Busy", "A Fire is running.");
                if (r == -ENODEV)
                        return sd_bus_error_set(error, BUS_ERROR_PREFIX "NoCameras", "No gphoto2 camera is ready.");
                return r;
        }
        m->fire_running = true;
        return 1;
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", prop_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", prop_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("RawRoot", "s", prop_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CleanRoot", "s", prop_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("FullWindowSec", "d", prop_double, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("TimeoutSec", "d", prop_double, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Cameras", "as", prop_cameras, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("TriggerCameras", "as", prop_cameras, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("OpenShots", "as", prop_open_shots, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastShot", "s", prop_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("NextShotNumber", "u", prop_next_number, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Rescans", "u", prop_rescans, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),

        SD_BUS_METHOD_WITH_NAMES("Fire", "", , "sa(sssst)", SD_BUS_PARAM(shot_id) SD_BUS_PARAM(results), method_fire,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("ListCameras", "", , "a(ssss)", SD_BUS_PARAM(cameras), method_list_cameras,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("ListShots", "sb", SD_BUS_PARAM(date) SD_BUS_PARAM(open_only), "a(ssuu)",
                                 SD_BUS_PARAM(shots), method_list_shots, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("GetShot", "s", SD_BUS_PARAM(shot_id), "a{sv}", SD_BUS_PARAM(shot), method_get_shot,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("SetShotMetadata", "sa{ss}", SD_BUS_PARAM(shot_id) SD_BUS_PARAM(values), "", ,
                                 method_set_metadata, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("SetNextShotNumber", "su", SD_BUS_PARAM(date) SD_BUS_PARAM(number), "", ,
                                 method_set_next, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Pause", "", "", method_pause, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Resume", "", "", method_pause, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Reload", "", "", method_reload, SD_BUS_VTABLE_UNPRIVILEGED),

        SD_BUS_SIGNAL_WITH_NAMES("ShotOpened", "ssstttas",
                                 SD_BUS_PARAM(shot_id) SD_BUS_PARAM(trigger_camera) SD_BUS_PARAM(trigger_path)
                                         SD_BUS_PARAM(trigger_usec) SD_BUS_PARAM(window_start_usec)
                                                 SD_BUS_PARAM(window_end_usec) SD_BUS_PARAM(expected_cameras),
                                 0),
        SD_BUS_SIGNAL_WITH_NAMES("ImageAssigned", "ssstb",
                                 SD_BUS_PARAM(shot_id) SD_BUS_PARAM(camera) SD_BUS_PARAM(raw_path)
                                         SD_BUS_PARAM(mtime_usec) SD_BUS_PARAM(late),
                                 0),
        SD_BUS_SIGNAL_WITH_NAMES("ShotClosed", "ssa{ss}as",
                                 SD_BUS_PARAM(shot_id) SD_BUS_PARAM(status) SD_BUS_PARAM(images)
                                         SD_BUS_PARAM(missing_cameras),
                                 0),
        SD_BUS_SIGNAL_WITH_NAMES("ShotUpdated", "ssa{ss}as",
                                 SD_BUS_PARAM(shot_id) SD_BUS_PARAM(status) SD_BUS_PARAM(images)
                                         SD_BUS_PARAM(missing_cameras),
                                 0),
        SD_BUS_SIGNAL_WITH_NAMES("ImageOrphaned", "sst",
                                 SD_BUS_PARAM(camera) SD_BUS_PARAM(raw_path) SD_BUS_PARAM(mtime_usec), 0),
        SD_BUS_SIGNAL_WITH_NAMES("ImageIgnored", "sss",
                                 SD_BUS_PARAM(camera) SD_BUS_PARAM(raw_path) SD_BUS_PARAM(reason), 0),
        SD_BUS_SIGNAL_WITH_NAMES("Fired", "sa(sssst)", SD_BUS_PARAM(shot_id) SD_BUS_PARAM(results), 0),
        SD_BUS_VTABLE_END,
};

/* ---- signals ---- */

void bus_emit_shot_opened(Manager *m, const Shot *s) {
        if (!m->bus)
                return;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
        g_autofree char *cam = utf8_escape_invalid(
                s->trigger_camera == ENGINE_NO_CAMERA ? "" : engine_camera_name(m->engine, s->trigger_camera));
        g_autofree char *path = s->trigger_file ? bus_raw_path(m, s->trigger_file->path) : g_strdup("");

        int r = sd_bus_message_new_signal(m->bus, &sig, BUS_PATH, BUS_INTERFACE, "ShotOpened");
        if (r >= 0)
                r = sd_bus_message_append(sig, "sssttt", s->id, cam, path, usec_of(s->trigger_time),
                                          usec_of(s->window_start), usec_of(s->window_end));
        if (r >= 0)
                r = sd_bus_message_open_container(sig, 'a', "s");
        for (uint32_t i = 0; r >= 0 && i < s->n_expected; i++) {
                g_autofree char *e = utf8_escape_invalid(engine_camera_name(m->engine, s->expected[i]));
                r = sd_bus_message_append(sig, "s", e);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(sig);
        if (r >= 0)
                r = sd_bus_send(m->bus, sig, NULL);
        if (r < 0)
                log_debug_errno(r, "Cannot send ShotOpened: %m");
}

void bus_emit_image_assigned(Manager *m, const Shot *s, const EngineFile *f) {
        if (!m->bus)
                return;
        g_autofree char *cam = utf8_escape_invalid(engine_camera_name(m->engine, f->camera));
        g_autofree char *path = bus_raw_path(m, f->path);
        int r = sd_bus_emit_signal(m->bus, BUS_PATH, BUS_INTERFACE, "ImageAssigned", "ssstb", s->id, cam, path,
                                   usec_of(f->dt), (int) !!(f->flags & ENGINE_FILE_LATE));
        if (r < 0)
                log_debug_errno(r, "Cannot send ImageAssigned: %m");
}

void bus_emit_image_orphaned(Manager *m, const EngineFile *f) {
        if (!m->bus)
                return;
        g_autofree char *cam = utf8_escape_invalid(engine_camera_name(m->engine, f->camera));
        g_autofree char *path = bus_raw_path(m, f->path);
        int r = sd_bus_emit_signal(m->bus, BUS_PATH, BUS_INTERFACE, "ImageOrphaned", "sst", cam, path, usec_of(f->dt));
        if (r < 0)
                log_debug_errno(r, "Cannot send ImageOrphaned: %m");
}

void bus_emit_image_ignored(Manager *m, const char *camera, const char *rel_path, const char *reason) {
        if (!m->bus)
                return;
        g_autofree char *cam = utf8_escape_invalid(camera);
        g_autofree char *path = bus_raw_path(m, rel_path);
        int r = sd_bus_emit_signal(m->bus, BUS_PATH, BUS_INTERFACE, "ImageIgnored", "sss", cam, path, reason);
        if (r < 0)
                log_debug_errno(r, "Cannot send ImageIgnored: %m");
}

void bus_emit_shot_published(Manager *m, ShotData *sd, bool update) {
        if (!m->bus)
                return;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
        const Manifest *mf = sd->manifest;

        int r = sd_bus_message_new_signal(m->bus, &sig, BUS_PATH, BUS_INTERFACE, update ? "ShotUpdated" : "ShotClosed");
        if (r >= 0)
                r = sd_bus_message_append(sig, "ss", sd->id, mf ? shot_status_to_string(mf->status) : "timeout");
        if (r >= 0)
                r = sd_bus_message_open_container(sig, 'a', "{ss}");
        if (r >= 0 && sd->images) {
                g_autofree const char **keys = (const char **) g_hash_table_get_keys_as_array(sd->images, NULL);
                for (const char **k = keys; r >= 0 && *k; k++) {
                        g_autofree char *ek = utf8_escape_invalid(*k);
                        r = sd_bus_message_append(sig, "{ss}", ek, g_hash_table_lookup(sd->images, *k));
                }
        }
        if (r >= 0)
                r = sd_bus_message_close_container(sig);
        if (r >= 0)
                r = sd_bus_message_append_strv(sig, mf && mf->missing ? mf->missing : (char *[]) { NULL });
        if (r >= 0)
                r = sd_bus_send(m->bus, sig, NULL);
        if (r < 0)
                log_debug_errno(r, "Cannot send %s: %m", update ? "ShotUpdated" : "ShotClosed");
}

static int on_props(sd_event_source *s, void *userdata) {
        Manager *m = userdata;

        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        if (!m->bus || m->props_changed->len == 0)
                return 0;
        g_ptr_array_add(m->props_changed, NULL);
        int r = sd_bus_emit_properties_changed_strv(m->bus, BUS_PATH, BUS_INTERFACE, (char **) m->props_changed->pdata);
        if (r < 0)
                log_debug_errno(r, "Cannot send PropertiesChanged: %m");
        g_ptr_array_set_size(m->props_changed, 0);
        return 0;
}

void bus_property_changed(Manager *m, const char *property) {
        if (!m->bus || !m->props_source)
                return;
        for (guint i = 0; i < m->props_changed->len; i++)
                if (streq(m->props_changed->pdata[i], property))
                        return;
        /* Names are the vtable's static strings or literals. */
        g_ptr_array_add(m->props_changed, (char *) property);
        (void) sd_event_source_set_enabled(m->props_source, SD_EVENT_ONESHOT);
}

int bus_manager_connect(Manager *m) {
        int r;

        r = m->user_bus ? sd_bus_open_user(&m->bus) : sd_bus_open_system(&m->bus);
        if (r < 0)
                return log_error_errno(r, "Cannot connect to the %s bus: %m", m->user_bus ? "session" : "system");
        (void) sd_bus_set_description(m->bus, "shotsyncd");

        r = sd_bus_add_object_vtable(m->bus, &m->bus_slot, BUS_PATH, BUS_INTERFACE, manager_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Cannot register the D-Bus object: %m");

        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Cannot attach the bus to the event loop: %m");

        r = sd_event_add_defer(m->event, &m->props_source, on_props, m);
        if (r < 0)
                return log_error_errno(r, "Cannot create a deferred source: %m");
        (void) sd_event_source_set_enabled(m->props_source, SD_EVENT_OFF);
        (void) sd_event_source_set_priority(m->props_source, SD_EVENT_PRIORITY_IDLE);

        r = sd_bus_request_name(m->bus, BUS_NAME, 0);
        if (r == -EEXIST)
                return log_error_errno(r, "The bus name %s is already owned: is another shotsyncd running?", BUS_NAME);
        if (r == -EACCES || r == -EPERM)
                return log_error_errno(r,
                                       "Not allowed to own %s on the %s bus: is the D-Bus policy "
                                       "(org.shotsync.Shotsync1.conf) installed, and is this user allowed by it?",
                                       BUS_NAME, m->user_bus ? "session" : "system");
        if (r < 0)
                return log_error_errno(r, "Cannot own the bus name %s: %m", BUS_NAME);
        return 0;
}

void bus_manager_disconnect(Manager *m) {
        m->props_source = sd_event_source_disable_unref(m->props_source);
        m->bus_slot = sd_bus_slot_unref(m->bus_slot);
        if (m->bus) {
                (void) sd_bus_flush(m->bus);
                m->bus = sd_bus_flush_close_unref(m->bus);
        }
}
