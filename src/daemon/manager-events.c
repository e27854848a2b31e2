/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The engine's decisions as they come: logged, announced on the bus,
 * recorded for the state, staged for publishing. */

#include "bus-manager.h"
#include "log.h"
#include "manager-internal.h"


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

void manager_on_engine_event(const EngineEvent *ev, void *userdata) {
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

