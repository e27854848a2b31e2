/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/stat.h>

#include "bus-internal.h"
#include "bus-manager.h"
#include "camera.h"
#include "config-build.h"
#include "log.h"
#include "manager-internal.h"

#define METADATA_MAX_KEYS 256
#define METADATA_MAX_KEY 256
#define METADATA_MAX_VALUE 4096

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

static int prop_clock(sd_bus *bus, const char *path, const char *interface, const char *property,
                      sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        if (streq(property, "ClockSynchronized"))
                return sd_bus_message_append(reply, "b", (int) m->clock.synchronized);
        return sd_bus_message_append(reply, "t", m->clock.error_usec);
}

/* ---- the host's clock, for FireAt ---- */

/* The kernel changes the state only when a synchronisation daemon steers
 * the clock (every few seconds to minutes) or gives up: a modest poll
 * follows it, on the loop. */
#define CLOCK_POLL_USEC (5 * USEC_PER_SEC)

static void clock_refresh(Manager *m) {
        HostClock c;
        int r = host_clock_read(&c);
        if (r < 0)
                log_debug_errno(r, "Cannot read the clock's state with adjtimex(): %m");
        if (c.synchronized != m->clock.synchronized)
                bus_property_changed(m, "ClockSynchronized");
        if (c.error_usec != m->clock.error_usec)
                bus_property_changed(m, "ClockErrorUsec");
        m->clock = c;
}

static int on_clock_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        clock_refresh(m);
        (void) sd_event_source_set_time_relative(s, CLOCK_POLL_USEC);
        return 0;
}

/* Rule 14: camera → (offset µs, spread µs, samples), every camera known. */
static int prop_camera_clocks(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r = sd_bus_message_open_container(reply, 'a', "{s(xxu)}");
        for (uint32_t i = 0; r >= 0 && i < engine_n_cameras(m->engine); i++) {
                const EngineClock *c = engine_camera_clock(m->engine, i);
                g_autofree char *name = utf8_escape_invalid(engine_camera_name(m->engine, i));
                r = sd_bus_message_append(reply, "{s(xxu)}", name,
                                          (int64_t) (engine_camera_offset(m->engine, i) / NSEC_PER_USEC),
                                          (int64_t) (c->spread / NSEC_PER_USEC), c->samples);
        }
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

/* Cameras whose clock was set: camera → (offset µs, previous offset µs,
 * when µs: the trigger time of the shot that showed it). */
static int prop_camera_clock_changes(sd_bus *bus, const char *path, const char *interface, const char *property,
                                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r = sd_bus_message_open_container(reply, 'a', "{s(xxt)}");
        for (uint32_t i = 0; r >= 0 && i < engine_n_cameras(m->engine); i++) {
                const EngineClock *c = engine_camera_clock(m->engine, i);
                if (c->changed_at == 0)
                        continue;
                g_autofree char *name = utf8_escape_invalid(engine_camera_name(m->engine, i));
                r = sd_bus_message_append(reply, "{s(xxt)}", name, (int64_t) (c->offset / NSEC_PER_USEC),
                                          (int64_t) (c->previous / NSEC_PER_USEC), usec_of(c->changed_at));
        }
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
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

        (void) worker_submit(m->reader, bus_shot_job_work, bus_shot_job_new(m, SHOT_JOB_LIST, msg, date, 0));
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
                g_autoptr(Manifest) mf = bus_manifest_from_memory(m, sd);
                if (!mf)
                        return -ENOMEM;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                g_auto(GStrv) duplicates = bus_shot_duplicate_triggers(m, sd);
                r = sd_bus_message_new_method_return(msg, &reply);
                if (r >= 0)
                        r = bus_append_manifest(reply, mf, duplicates);
                if (r < 0)
                        return r;
                return sd_bus_send(NULL, reply, NULL);
        }
        (void) worker_submit(m->reader, bus_shot_job_work, bus_shot_job_new(m, SHOT_JOB_GET, msg, date, number));
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

        ShotJob *j = bus_shot_job_new(m, SHOT_JOB_SET_METADATA, msg, date, number);
        bus_shot_job_set_values(j, g_steal_pointer(&values));
        (void) worker_submit(m->disk, bus_shot_job_work, j);
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
        if (r == -EBUSY)
                return sd_bus_error_setf(error, BUS_ERROR_PREFIX "ShotsOpen", "%s", why);
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

/* The last field: the capture latency (Fire, and the Fired signal), or the
 * instant the command left (FireAt's reply). */
static int append_results(sd_bus_message *msg, const FireResult *res, size_t n, bool departure) {
        int r = sd_bus_message_open_container(msg, 'a', "(sssst)");
        for (size_t i = 0; r >= 0 && i < n; i++) {
                g_autofree char *cam = utf8_escape_invalid(res[i].camera), *port = utf8_escape_invalid(res[i].port),
                                *text = utf8_escape_invalid(res[i].message ?: "");
                r = sd_bus_message_append(msg, "(sssst)", cam, port, res[i].status, text,
                                          departure ? res[i].departure_usec : res[i].latency_usec);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(msg);
        return r;
}

static void fire_done(Manager *m, const char *shot_id, FireResult *res, size_t n, void *userdata) {
        sd_bus_message *call = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        bool at = streq_ptr(sd_bus_message_get_member(call), "FireAt");

        m->fire_running = false;
        int r = sd_bus_message_new_method_return(call, &reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", shot_id ?: "");
        if (r >= 0)
                r = append_results(reply, res, n, at);
        if (r >= 0)
                (void) sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(call);

        if (m->bus) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
                r = sd_bus_message_new_signal(m->bus, &sig, BUS_PATH, BUS_INTERFACE, "Fired");
                if (r >= 0)
                        r = sd_bus_message_append(sig, "s", shot_id ?: "");
                /* Fired keeps Fire's meaning for every listener: latency. */
                if (r >= 0)
                        r = append_results(sig, res, n, false);
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

static int method_fire_at(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        uint64_t t_usec;

        int r = check_privileged(m, msg, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "t", &t_usec);
        if (r < 0)
                return r;
        nsec_t t = t_usec > (uint64_t) (INT64_MAX / NSEC_PER_USEC) ? INT64_MAX : (nsec_t) t_usec * NSEC_PER_USEC;
        g_autofree char *why = NULL;
        switch (fire_at_check(t, now_realtime(), &why)) {
        case FIRE_AT_TOO_LATE:
                return sd_bus_error_set(error, BUS_ERROR_PREFIX "TooLate", why);
        case FIRE_AT_TOO_FAR:
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, why);
        case FIRE_AT_OK:
                break;
        }
        if (m->fire_running)
                return sd_bus_error_set(error, BUS_ERROR_PREFIX "Busy", "A Fire is running.");
        if (manager_cameras_count(m) == 0)
                return sd_bus_error_set(error, BUS_ERROR_PREFIX "NoCameras",
                                        "No gphoto2 camera is configured or connected ([Trigger] Ports=).");

        /* An unsynchronised clock does not stop it: a lone host has nobody
         * to disagree with, and with others the note says why they may. */
        clock_refresh(m);
        g_autofree char *note = host_clock_note(&m->clock);
        if (note)
                log_warning("FireAt: %s. The cameras fire when this host's clock reads the instant, which other "
                            "hosts may not agree on.",
                            note);

        sd_bus_message_ref(msg);
        r = manager_cameras_fire_at(m, t, note, fire_done, msg);
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
        SD_BUS_PROPERTY("ClockSynchronized", "b", prop_clock, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ClockErrorUsec", "t", prop_clock, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CameraClocks", "a{s(xxu)}", prop_camera_clocks, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CameraClockChanges", "a{s(xxt)}", prop_camera_clock_changes, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),

        SD_BUS_METHOD_WITH_NAMES("Fire", "", , "sa(sssst)", SD_BUS_PARAM(shot_id) SD_BUS_PARAM(results), method_fire,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("FireAt", "t", SD_BUS_PARAM(realtime_usec), "sa(sssst)",
                                 SD_BUS_PARAM(shot_id) SD_BUS_PARAM(results), method_fire_at,
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
        SD_BUS_SIGNAL_WITH_NAMES("CameraClockChanged", "sxx",
                                 SD_BUS_PARAM(camera) SD_BUS_PARAM(offset_usec) SD_BUS_PARAM(previous_offset_usec), 0),
        SD_BUS_VTABLE_END,
};

/* NextShotNumber is the number of today's next shot, so it changes at local
 * midnight without anything else happening: say so, or a panel left open
 * overnight shows yesterday's number. */
static int arm_day_timer(Manager *m);

static int on_new_day(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        bus_property_changed(m, "NextShotNumber");
        (void) arm_day_timer(m);
        return 0;
}

static int arm_day_timer(Manager *m) {
        nsec_t next;
        int r = next_local_day(now_realtime(), &next);
        if (r < 0)
                return log_debug_errno(r, "Cannot compute the next local midnight: %m");
        uint64_t usec = (uint64_t) (next / 1000) + 1;
        if (m->day_timer) {
                r = sd_event_source_set_time(m->day_timer, usec);
                if (r >= 0)
                        r = sd_event_source_set_enabled(m->day_timer, SD_EVENT_ONESHOT);
        } else {
                r = sd_event_add_time(m->event, &m->day_timer, CLOCK_REALTIME, usec, USEC_PER_SEC, on_new_day, m);
                if (r >= 0)
                        (void) sd_event_source_set_description(m->day_timer, "new-day");
        }
        if (r < 0)
                log_warning_errno(r, "Cannot schedule the change of NextShotNumber at midnight: %m");
        return r;
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
        /* sd-bus would close the connection as the loop exits, before the
         * shutdown answers a running Fire or FireAt and announces the
         * shots it publishes; bus_manager_disconnect() flushes and closes. */
        r = sd_bus_set_close_on_exit(m->bus, false);
        if (r < 0)
                return log_error_errno(r, "Cannot keep the bus open through the shutdown: %m");

        r = sd_event_add_defer(m->event, &m->props_source, bus_on_props_changed, m);
        if (r < 0)
                return log_error_errno(r, "Cannot create a deferred source: %m");
        (void) sd_event_source_set_enabled(m->props_source, SD_EVENT_OFF);
        (void) sd_event_source_set_priority(m->props_source, SD_EVENT_PRIORITY_IDLE);
        (void) arm_day_timer(m);

        (void) host_clock_read(&m->clock);
        r = sd_event_add_time_relative(m->event, &m->clock_timer, CLOCK_MONOTONIC, CLOCK_POLL_USEC, USEC_PER_SEC,
                                       on_clock_timer, m);
        if (r < 0)
                return log_error_errno(r, "Cannot create the clock timer: %m");
        (void) sd_event_source_set_enabled(m->clock_timer, SD_EVENT_ON);
        (void) sd_event_source_set_description(m->clock_timer, "clock-state");

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
        m->day_timer = sd_event_source_disable_unref(m->day_timer);
        m->clock_timer = sd_event_source_disable_unref(m->clock_timer);
        m->bus_slot = sd_bus_slot_unref(m->bus_slot);
        if (m->bus) {
                (void) sd_bus_flush(m->bus);
                m->bus = sd_bus_flush_close_unref(m->bus);
        }
}
