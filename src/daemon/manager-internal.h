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

/* A file of a shot being (busy) or staged ahead of publishing. */
typedef struct Stage {
        bool busy;
        int error;
        char *dst;
        StagedFile sf;
} Stage;
#define STAGERS ((unsigned) ELEMENTSOF(((Manager *) NULL)->stagers))

/* manager-stage.c */
void stage_free(void *p);
void stage_item_free(void *p);
void manager_stage_file(Manager *m, ShotData *sd, const char *rel, const char *dst);
void manager_discard_staged(Manager *m, StagedFile *sf);
/* Hands what joined this turn of the loop to the staging threads. */
void manager_stage_submit(Manager *m);
/* Whether a file of sd is still being staged: its publishing waits. */
bool shot_data_staging(const ShotData *sd);
/* Hands over the staged copy of rel, if it is ready and meant for dst. */
bool shot_data_take_staged(ShotData *sd, const char *rel, const char *dst, StagedFile *ret);
void shot_data_return_staged(ShotData *sd, const char *rel, const char *dst, StagedFile *sf);

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
/* full: every recent file is handed over (start, reload, lost events);
 * otherwise only what changed since the last scan. */
void manager_request_scan(Manager *m, bool full);
int manager_on_scan_slice(sd_event_source *s, void *userdata);
void scan_job_abandon(struct ScanJob *j);
void manager_file_seen(Manager *m, const char *rel, nsec_t mtime);
/* Files older are history (SPEC §2 rule 16): now − MaxAgeSec for the
 * service, --since for --once. */
nsec_t manager_horizon(const Manager *m);
/* Says once per file (identity) that it is ignored, and why. */
void manager_report_ignored(Manager *m, const char *camera, const char *rel, nsec_t mtime, const char *reason,
                            const char *why);
/* Whether the configuration makes rel a file to group (no I/O, no report). */
bool manager_file_eligible(Manager *m, const char *rel, nsec_t mtime);
int manager_ensure_camera(Manager *m, const char *name, uint32_t *ret);
/* The configuration of a camera folder (config_camera(), or
 * config_download_camera() for a gphoto2 camera that downloads there). */
const CameraConfig *manager_camera_config(Manager *m, const char *folder);

/* manager.c */
int manager_check_folders(Manager *m);
EngineParams manager_engine_params(const Config *c);
void manager_register_cameras(Manager *m);
/* manager-events.c */
void manager_on_engine_event(const EngineEvent *ev, void *userdata);
/* manager-state.c */
int manager_restore_state(Manager *m);

/* manager-files.c */
void manager_on_watch(Watcher *w, WatchEventType type, const char *path, void *userdata);
int manager_on_settle(sd_event_source *s, uint64_t usec, void *userdata);
int manager_on_rescan_timer(sd_event_source *s, uint64_t usec, void *userdata);

/* manager-state.c */
void shot_to_state(Manager *m, ShotData *sd, StateShot *out);
int restore_shot(Manager *m, const StateShot *sh, usec_t mono, nsec_t real);
void manager_save_state(Manager *m);
/* The next save writes a new base (state.json) and empties the journal. */
void manager_want_base(Manager *m);
/* manager.c: drops what the history horizon left behind. */
void manager_housekeeping(Manager *m);

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
/* Where a file of a shot is published (SPEC §3), from the kinds its shot
 * knows its camera by (kind_ids: NULL when not known, n_kinds of them). */
char *shot_file_clean_path(const Manager *m, uint32_t date, uint32_t number, const char *camera, const char *rel,
                           nsec_t dt, unsigned kind, const char *const *kind_ids);
/* The images map of ShotClosed/ShotUpdated. */
GHashTable *shot_images(ShotData *sd);
/* Missing cameras of a shot as published (or as the engine sees it while live). */
char **shot_data_missing(Manager *m, ShotData *sd);
