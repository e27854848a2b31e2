/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Rule 14 and rule 4 in the daemon: the reference camera and each camera's
 * ClockOffsetSec= handed to the engine, the engine's clock estimates turned
 * into the journal, CameraClocks and CameraClockChanged, saved in
 * state.json and put back at start; duplicate triggers said and kept with
 * their shot. The estimating itself is the engine's (src/engine/clocks.c). */

#include "bus-manager.h"
#include "engine-config.h"
#include "log.h"
#include "manager-internal.h"

static double seconds(nsec_t t) {
        double s = (double) t / 1e9;
        return s == 0 ? 0 : s; /* no "-0.000" */
}

void manager_clocks_configure(Manager *m) {
        const char *reference = config_reference_camera(m->config);
        const char *before = engine_get_reference(m->engine);

        /* LearnClockOffsets= may have changed what is in use. */
        bus_property_changed(m, "CameraClocks");
        if (!streq_ptr(before, reference)) {
                g_autofree char *was = g_strdup(before);
                if (engine_set_reference(m->engine, reference) > 0 && was)
                        log_notice("The reference clock is now camera %s's (the first trigger camera), not %s's: "
                                   "clock offsets are learned again.",
                                   reference ?: "none: the host", was);
                m->main_dirty = true;
        }
        for (uint32_t i = 0; i < engine_n_cameras(m->engine); i++)
                if (engine_configure_camera_clock(m->engine, i,
                                                  manager_camera_config(m, engine_camera_name(m->engine, i))) > 0)
                        m->main_dirty = true;
}

static void restore_clock(Manager *m, uint32_t camera, const EngineClock *saved) {
        const char *name = engine_camera_name(m->engine, camera);
        int r = engine_restore_clock(m->engine, camera, saved);
        if (r == -ESTALE)
                log_fields(LOG_NOTICE, 0, NULL, name, NULL,
                           "Camera %s: ClockOffsetSec= changed since its clock offset was learned: learning it again.",
                           name);
        else if (r < 0)
                log_fields(LOG_WARNING, r, NULL, name, NULL,
                           "Camera %s: the saved clock offset cannot be used (%m): learning it again.", name);
}

void manager_camera_added(Manager *m, uint32_t camera, const CameraConfig *cc) {
        const char *name = engine_camera_name(m->engine, camera);
        (void) engine_configure_camera_clock(m->engine, camera, cc);
        const EngineClock *saved = m->saved_clocks ? g_hash_table_lookup(m->saved_clocks, name) : NULL;
        if (saved) {
                restore_clock(m, camera, saved);
                g_hash_table_remove(m->saved_clocks, name);
        }
        bus_property_changed(m, "CameraClocks");
}

void manager_clocks_load(Manager *m, StateSnapshot *st) {
        if (st->n_clocks == 0)
                return;
        /* Offsets against another camera's clock mean nothing against this one's. */
        if (!streq_ptr(st->clock_reference, engine_get_reference(m->engine))) {
                log_notice("The clock offsets were learned against %s%s's clock, not %s%s's: learning them again.",
                           st->clock_reference ? "camera " : "", st->clock_reference ?: "the host",
                           engine_get_reference(m->engine) ? "camera " : "", engine_get_reference(m->engine) ?: "the host");
                m->main_dirty = true;
                return;
        }
        if (!m->saved_clocks)
                m->saved_clocks = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        for (size_t i = 0; i < st->n_clocks; i++) {
                uint32_t camera;
                if (engine_find_camera(m->engine, st->clocks[i].camera, &camera) >= 0)
                        restore_clock(m, camera, &st->clocks[i].clock);
                else
                        /* Not seen yet (cameras without a [Camera] group appear with their folder). */
                        g_hash_table_replace(m->saved_clocks, g_strdup(st->clocks[i].camera),
                                             g_memdup2(&st->clocks[i].clock, sizeof(EngineClock)));
        }
}

void manager_clocks_save(Manager *m, StateSnapshot *s) {
        g_free(s->clock_reference);
        s->clock_reference = g_strdup(engine_get_reference(m->engine));
        for (uint32_t i = 0; i < engine_n_cameras(m->engine); i++) {
                const EngineClock *c = engine_camera_clock(m->engine, i);
                if (!engine_clock_is_fresh(c))
                        state_snapshot_add_clock(s, engine_camera_name(m->engine, i), c);
        }
        /* Saved estimates of cameras that did not come back keep waiting. */
        if (m->saved_clocks) {
                GHashTableIter it;
                void *k, *v;
                g_hash_table_iter_init(&it, m->saved_clocks);
                while (g_hash_table_iter_next(&it, &k, &v))
                        state_snapshot_add_clock(s, k, v);
        }
}

void manager_on_clock_event(Manager *m, const EngineEvent *ev) {
        const char *camera = engine_camera_name(m->engine, ev->camera);
        const EngineClock *c = engine_camera_clock(m->engine, ev->camera);
        const char *reference = engine_get_reference(m->engine);
        nsec_t offset = engine_camera_offset(m->engine, ev->camera);

        switch (ev->type) {
        case ENGINE_EVENT_CLOCK_LEARNED:
                log_fields(LOG_INFO, 0, NULL, camera, NULL,
                           "Camera %s: clock offset %+.3f s (spread %.3f s, %" PRIu32
                           " samples) against %s%s's clock, was %+.3f s; its files are grouped with it.",
                           camera, seconds(offset), seconds(c->spread), c->samples, reference ? "camera " : "the host",
                           reference ?: "", seconds(ev->previous));
                break;
        case ENGINE_EVENT_CLOCK_CHANGED:
                log_fields(LOG_WARNING, 0, NULL, camera, NULL,
                           "Camera %s: its PC's clock was set: its files now lie %+.3f s from their shots, not %+.3f s; "
                           "grouping follows the new offset.",
                           camera, seconds(offset), seconds(ev->previous));
                bus_emit_camera_clock_changed(m, camera, offset, ev->previous);
                bus_property_changed(m, "CameraClockChanges");
                break;
        default:
                break;
        }
        m->main_dirty = true;
        bus_property_changed(m, "CameraClocks");
}

void manager_on_duplicate_trigger(Manager *m, const EngineEvent *ev, ShotData *sd) {
        const Shot *s = ev->shot;
        const EngineFile *f = ev->file;
        const char *camera = engine_camera_name(m->engine, f->camera);
        g_autofree char *raw = raw_path_of(m, f->path);
        nsec_t offset = engine_camera_offset(m->engine, f->camera);

        log_fields(LOG_NOTICE, 0, s->id, camera, raw,
                   "Ignoring duplicate trigger from %s for shot %s (%+.3f s from its trigger, closer than "
                   "MinShotIntervalSec=%g s): %s.",
                   camera, s->id, seconds(f->dt - offset - s->trigger_time), m->config->min_shot_interval_sec, raw);
        m->stats.duplicate_triggers++;
        bus_emit_image_ignored(m, camera, f->path, "duplicate-trigger");
        if (sd) {
                g_ptr_array_add(sd->duplicate_triggers, g_strdup(f->path));
                sd->dirty = true;
        }
}
