/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Reload (SPEC §2 rule 17): every key may change; what cannot while shots
 * are in memory is refused, naming the key; open shots keep what they
 * opened with, the engine and the watcher take the rest. */

#include <assert.h>

#include "bus-manager.h"
#include "camera.h"
#include "log.h"
#include "manager-internal.h"

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
                p = manager_engine_params(c);
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
        manager_register_cameras(m);
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
                (void) manager_check_folders(m);
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

