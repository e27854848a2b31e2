/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared between the manager's files (manager.c: decisions and life cycle,
 * manager-state.c: persistence, manager-publish.c: the clean tree). */

#include "manager.h"

/* A job for a worker; done() runs back in the event loop. */
typedef struct WorkItem WorkItem;
struct WorkItem {
        void (*done)(WorkItem *item, Manager *m);
};

/* A file of a shot already in the clean tree. */
typedef struct DoneFile {
        char *clean_path;
        PublishResult result;
} DoneFile;
void done_file_free(void *p);

char *raw_path_of(Manager *m, const char *rel);
/* A file of a shot, in the root that shot came from. */
char *shot_raw_path(const ShotData *sd, const char *rel);
guint path_key_hash(const void *p);
gboolean path_key_equal(const void *a, const void *b);

ShotData *shot_data_get(Manager *m, const char *id);
ShotData *shot_data_new(Manager *m, uint32_t date, uint32_t number, const char *raw_root);
void shot_data_maybe_release(Manager *m, ShotData *sd);

void manager_schedule_flush(Manager *m);
void manager_request_scan(Manager *m);
void manager_file_seen(Manager *m, const char *rel, nsec_t mtime);
/* Whether the configuration makes rel a file to group (no I/O, no report). */
bool manager_file_eligible(Manager *m, const char *rel, nsec_t mtime);
int manager_ensure_camera(Manager *m, const char *name, uint32_t *ret);
/* The configuration of a camera folder (config_camera(), or
 * config_download_camera() for a gphoto2 camera that downloads there). */
const CameraConfig *manager_camera_config(Manager *m, const char *folder);

/* manager-files.c */
void manager_on_watch(Watcher *w, WatchEventType type, const char *path, void *userdata);
int manager_on_settle(sd_event_source *s, uint64_t usec, void *userdata);
int manager_on_rescan_timer(sd_event_source *s, uint64_t usec, void *userdata);

/* manager-state.c */
void shot_to_state(Manager *m, ShotData *sd, StateShot *out);
int restore_shot(Manager *m, const StateShot *sh, usec_t mono, nsec_t real);
void manager_save_state(Manager *m);

/* manager-clocks.c */
/* The reference camera and every known camera's ClockOffsetSec=, from the
 * configuration (start and reload). */
void manager_clocks_configure(Manager *m);
/* A camera just added to the engine: its ClockOffsetSec=, its saved clock. */
void manager_camera_added(Manager *m, uint32_t camera, const CameraConfig *cc);
void manager_on_clock_event(Manager *m, const EngineEvent *ev);
void manager_on_duplicate_trigger(Manager *m, const EngineEvent *ev, ShotData *sd);
void manager_clocks_save(Manager *m, StateSnapshot *s);
void manager_clocks_load(Manager *m, StateSnapshot *st);

/* manager-publish.c */
void manager_publish_pending(Manager *m);
bool manager_publish_busy(Manager *m);
void manager_print_summary(Manager *m);
/* The images map of ShotClosed/ShotUpdated. */
GHashTable *shot_images(ShotData *sd);
/* Missing cameras of a shot as published (or as the engine sees it while live). */
char **shot_data_missing(Manager *m, ShotData *sd);
