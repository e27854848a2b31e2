/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The D-Bus face of the manager (SPEC §4): the vtable, the signals, and
 * PropertiesChanged merged through one deferred event source. Every emit
 * function does nothing when there is no bus (--once). */

#include "manager.h"

#define BUS_NAME "org.shotsync.Shotsync1"
#define BUS_PATH "/org/shotsync/Shotsync1"
#define BUS_INTERFACE "org.shotsync.Shotsync1"
#define BUS_ERROR_PREFIX "org.shotsync.Shotsync1.Error."

int bus_manager_connect(Manager *m);
void bus_manager_disconnect(Manager *m);

void bus_emit_shot_opened(Manager *m, const Shot *s);
void bus_emit_image_assigned(Manager *m, const Shot *s, const EngineFile *f);
void bus_emit_image_orphaned(Manager *m, const EngineFile *f);
void bus_emit_image_ignored(Manager *m, const char *camera, const char *rel_path, const char *reason);
/* ShotClosed the first time, ShotUpdated afterwards. */
void bus_emit_shot_published(Manager *m, ShotData *sd, bool update);
void bus_emit_camera_clock_changed(Manager *m, const char *camera, nsec_t offset, nsec_t previous);
/* A property changed: queued, merged, sent once per loop iteration. */
void bus_property_changed(Manager *m, const char *property);

/* The absolute raw path of a relative one, escaped for D-Bus. */
char *bus_raw_path(Manager *m, const char *rel);
