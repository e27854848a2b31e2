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
        uint64_t latency_usec;
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
void fire_results_free(FireResult *r, size_t n);
