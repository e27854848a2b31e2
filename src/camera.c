/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Placeholder until the gphoto2 camera manager lands (issue "Fire"): with no
 * [Trigger] Ports= there are no cameras, which is what this says. */

#include <glib.h>

#include "camera.h"
#include "log.h"

int manager_cameras_start(Manager *m) {
        if ((m->config->ports && m->config->ports[0]) || m->config->ports_auto)
                log_warning("[Trigger] Ports= is set, but this build cannot drive gphoto2 cameras yet.");
        return 0;
}

void manager_cameras_stop(Manager *m) {
}

void manager_cameras_reload(Manager *m) {
}

void manager_cameras_free(Manager *m) {
}

CameraInfo **manager_cameras_list(Manager *m) {
        return g_new0(CameraInfo *, 1);
}

void camera_info_list_free(CameraInfo **l) {
        for (CameraInfo **i = l; i && *i; i++) {
                g_free((*i)->id);
                g_free((*i)->model);
                g_free((*i)->port);
                g_free((*i)->state);
                g_free(*i);
        }
        g_free(l);
}

unsigned manager_cameras_count(Manager *m) {
        return 0;
}

int manager_cameras_fire(Manager *m, FireDoneFn done, void *userdata) {
        return -ENODEV;
}

void fire_results_free(FireResult *r, size_t n) {
        for (size_t i = 0; i < n; i++) {
                g_free(r[i].camera);
                g_free(r[i].port);
                g_free(r[i].status);
                g_free(r[i].message);
        }
        g_free(r);
}
