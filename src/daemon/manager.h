/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The owner of all state (systemd-timesyncd style): the event loop, the bus,
 * the configuration, the engine, the watcher, the workers, the cameras and
 * every shot's publishing. Data flows one way: watcher and scans feed
 * classified files to the engine; the engine's decisions come back as
 * events that the manager turns into logs, persisted state, publish jobs and
 * D-Bus signals. */

#include <glib.h>
#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "engine.h"
#include "fire-clock.h"
#include "manifest.h"
#include "notify.h"
#include "publish.h"
#include "scan.h"
#include "state.h"
#include "watcher.h"
#include "worker.h"

typedef struct Manager Manager;
typedef struct ShotData ShotData;
typedef struct CameraManager CameraManager;

typedef struct ManagerOptions {
        const char *config_path; /* NULL: the default */
        const char *state_dir;
        bool once;
        bool user_bus;
        nsec_t since, until; /* --once: the files to take (INT64_MIN, INT64_MAX: all) */
} ManagerOptions;

/* What the manager knows of one shot besides the engine's grouping: its
 * publishing, its metadata, and, once the engine retired it, a snapshot of
 * its content until that is published. */
struct ShotData {
        Manager *manager;
        char id[SHOT_ID_MAX];
        uint32_t date, number;
        Shot *shot;             /* the engine's, while it lives */
        char *raw_root;         /* the RawRoot its files are in */
        StateShot *retired;     /* what it was, when retired before being published */
        nsec_t opened, closed;  /* CLOCK_REALTIME */
        GHashTable *metadata;   /* char* → char* */

        uint64_t generation;    /* bumped on every change that must reach the clean tree */
        uint64_t published_generation;
        bool publishing;        /* a job is in the worker */
        bool announced;         /* ShotClosed was sent */
        bool dirty;             /* its state file must be written again */
        uint64_t save_seq;      /* the snapshot that recorded its last change */
        unsigned failures;
        sd_event_source *retry;
        GHashTable *done;       /* raw relative path → DoneFile: what is published already */
        GHashTable *staged;     /* raw relative path → Stage: copied ahead of publishing */
        GHashTable *images;     /* "camera" or "camera/kind" → clean path, as last published */
        Manifest *manifest;     /* as last published */
        GPtrArray *pending_calls; /* sd_bus_message* answered once the state recording their change is saved */
        GPtrArray *duplicate_triggers; /* char*: raw paths (relative) of its duplicate triggers (rule 4) */
};

typedef struct ManagerStats {
        uint64_t files_seen, files_assigned, files_late, orphans, duplicates, ignored, held, duplicate_triggers;
        uint64_t shots_opened, shots_complete, shots_timeout;
        uint64_t rescans, publish_errors, files_published;
        uint64_t state_commits;
} ManagerStats;

struct Manager {
        sd_event *event;
        sd_bus *bus;
        Notifier *notifier; /* NULL with --once */
        sd_event_source *sigterm, *sigint, *sighup;
        bool once, user_bus;
        nsec_t since, until;

        char *config_path;
        Config *config;
        char *state_dir;
        int state_lock_fd;

        Engine *engine;
        Watcher *watcher;
        Worker *saver;   /* state saves */
        Worker *disk;    /* publishing, after the save that records what it publishes */
        Worker *reader;  /* scans and manifest reads */
        Worker *stagers[2]; /* files copied into staging as they join their shots */
        unsigned next_stager;
        GPtrArray *stage_pending; /* StageItem*: joined this turn, staged at the flush */

        sd_event_source *deadline_timer;
        sd_event_source *rescan_timer;
        sd_event_source *housekeeping_timer;
        sd_event_source *flush_source;
        sd_event_source *settle_timer;
        GHashTable *settling; /* relative path → Settling*: found files not yet still */

        GHashTable *shots; /* id → ShotData*: live ones and those still publishing */

        /* Scans */
        bool scan_running, scan_again, scan_again_full;
        ScanMemory *scan_memory; /* the scan worker's: what the last scan listed */
        struct ScanJob *scan_job; /* a result being handed to the engine a slice at a time */
        sd_event_source *scan_slice;
        bool initial_scan_done;
        unsigned n_scans;

        /* State saving: the newest snapshot waits here for the disk worker. */
        GMutex save_lock;
        StateSnapshot *save_next; /* protected by save_lock */
        bool save_queued;         /* protected by save_lock */
        bool state_dirty;
        bool main_dirty;          /* counters or pause changed: state.json too */
        uint64_t save_seq;        /* snapshots handed out */
        uint64_t saved_seq;       /* the newest snapshot on disk */
        sd_event_source *save_retry;
        bool stopping;
        GArray *forget;           /* StateForgotten not yet handed to a snapshot */
        bool reset_forgotten;     /* RawRoot changed: the next snapshot drops forgotten2.bin first */
        bool want_base;           /* the next snapshot is a new base */
        uint64_t base_size, journal_size; /* on disk, as of the last commit */
        GPtrArray *removed;       /* ids of released shots whose state file goes */
        GHashTable *ignored_seen; /* EnginePathKey* (identity) of ignored files already reported */
        int last_save_error;

        /* Status */
        bool degraded_watch;
        unsigned n_degraded_logged;
        bool publish_blocked;
        char *status_text;
        ManagerStats stats;
        char *last_shot;
        GPtrArray *once_closed; /* --once: ids closed, for the summary */

        /* Bus */
        sd_bus_slot *bus_slot;
        sd_event_source *props_source;
        sd_event_source *day_timer; /* local midnight: NextShotNumber is today's */
        GPtrArray *props_changed; /* property names pending PropertiesChanged */
        bool fire_running;
        HostClock clock;             /* as last announced (ClockSynchronized, ClockErrorUsec) */
        sd_event_source *clock_timer;
        unsigned n_pending_calls; /* in every shot's pending_calls */
        CameraManager *cameras;

        /* Rule 14: saved clock estimates of cameras not known yet (camera
         * name → EngineClock*), put back when they appear. */
        GHashTable *saved_clocks;
};

int manager_new(const ManagerOptions *o, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        manager_free(*m);
}
#define _cleanup_manager_ _cleanup_(manager_freep)

/* Loads state, watches, scans. */
int manager_start(Manager *m);
/* --once: scan, group, close everything, publish, print the summary. */
int manager_run_once(Manager *m);
/* Finishes in-flight publishing and saves (SIGTERM). */
void manager_shutdown(Manager *m);

int manager_reload(Manager *m, char **ret_error);
int manager_set_paused(Manager *m, bool paused);
/* Opens a Fire shot at instant t; returns it. */
int manager_fire_shot(Manager *m, nsec_t t, Shot **ret);
int manager_set_next_number(Manager *m, uint32_t date, uint32_t number);
int manager_set_metadata(Manager *m, const char *id, GHashTable *values);

const char *manager_state_string(const Manager *m);
uint32_t manager_today(void);
void manager_update_status(Manager *m);
