/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Signals, sent the moment the engine decides (ShotClosed once the shot is
 * published), and PropertiesChanged merged per turn of the event loop. */

#include "bus-internal.h"
#include "log.h"


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

void bus_emit_camera_clock_changed(Manager *m, const char *camera, nsec_t offset, nsec_t previous) {
        if (!m->bus)
                return;
        g_autofree char *cam = utf8_escape_invalid(camera);
        int r = sd_bus_emit_signal(m->bus, BUS_PATH, BUS_INTERFACE, "CameraClockChanged", "sxx", cam,
                                   (int64_t) (offset / NSEC_PER_USEC), (int64_t) (previous / NSEC_PER_USEC));
        if (r < 0)
                log_debug_errno(r, "Cannot send CameraClockChanged: %m");
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

int bus_on_props_changed(sd_event_source *s, void *userdata) {
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

