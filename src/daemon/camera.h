/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* gphoto2 cameras fired together (SPEC §4 Fire): one worker thread per
 * camera, results handed back to the event loop. */

#include "manager.h"

typedef struct CameraInfo {
        char *id;    /* serial number, or the port when the camera has none */
        char *model;
        char *port;
        char *state; /* "ready", "busy", "error: ...", "connecting" */
} CameraInfo;

typedef struct FireResult {
        char *camera;
        char *port;
        char *status;  /* "ok" or "error" */
        char *message;
        uint64_t latency_usec;   /* from the release (Fire) or the command's departure (FireAt) to the answer */
        uint64_t departure_usec; /* CLOCK_REALTIME µs the capture command left; 0: it did not */
} FireResult;

int manager_cameras_start(Manager *m);
void manager_cameras_stop(Manager *m);
void manager_cameras_reload(Manager *m);
void manager_cameras_free(Manager *m);

/* Snapshot of the cameras for ListCameras; NULL-terminated array of
 * CameraInfo*, free with camera_info_list_free(). */
CameraInfo **manager_cameras_list(Manager *m);
void camera_info_list_free(CameraInfo **l);
unsigned manager_cameras_count(Manager *m);
/* Whether id is the id of one of the gphoto2 cameras (its folder under
 * DownloadRoot). */
bool manager_cameras_has_id(Manager *m, const char *id);

typedef void (*FireDoneFn)(Manager *m, const char *shot_id, FireResult *results, size_t n, void *userdata);
/* Fires every camera at once; done is called from the event loop when all
 * answered or timed out. -ENODEV: no camera; -EBUSY: a Fire is running. */
int manager_cameras_fire(Manager *m, FireDoneFn done, void *userdata);
/* Fires every camera at the CLOCK_REALTIME instant t (ns), checked by the
 * caller with fire_at_check(); returns at once, opens the shot at t, and
 * calls done as Fire does. note (may be NULL) is added to every result's
 * message. Same errors as manager_cameras_fire(). */
int manager_cameras_fire_at(Manager *m, nsec_t t, const char *note, FireDoneFn done, void *userdata);
void fire_results_free(FireResult *r, size_t n);
