/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The grouping engine: pure decisions, no I/O, no clock of its own.
 *
 * Adapters feed it files (already classified into camera, kind and trigger),
 * Fire instants and the passing of monotonic time; it answers through one
 * event callback, synchronously, in the order things are decided. Every rule
 * of SPEC §2 lives here and nowhere else.
 *
 * Two clocks meet here: a file's dt is CLOCK_REALTIME nanoseconds (its mtime,
 * what groups files), while timeouts, the late grace and expiry run on the
 * caller's monotonic microseconds ("now"), which must never go backwards. */

#include <stdbool.h>
#include <glib.h>
#include <stdint.h>

#include "util.h"

typedef struct Engine Engine;
typedef struct EngineFile EngineFile;
typedef struct Shot Shot;
typedef struct EngineLayoutSet EngineLayoutSet;

/* Rule 14: each camera's clock against the reference's, learned from the
 * shots it appears in. Plain numbers, so that the owner can save and
 * restore them as they are (clocks.c explains the estimator). */
#define ENGINE_CLOCK_RING 9
#define ENGINE_CLOCK_CONFIRM 3
#define ENGINE_CLOCK_HYPOTHESES 4
/* Residuals needed before a learned offset is used. */
#define ENGINE_CLOCK_SAMPLES_MIN 3

typedef struct EngineClock {
        nsec_t offset;      /* o(c): the camera's clock minus the reference clock */
        nsec_t spread;      /* standard deviation of residuals (from deviation); 0 while unknown */
        nsec_t deviation;   /* mean absolute deviation of the latest ~32 residuals, odd ones clipped */
        uint32_t samples;   /* residuals behind the offset since it was last set */
        uint32_t observed;  /* residuals ever, a change notwithstanding (the spread is known from a ring's worth) */
        bool trusted;       /* the offset groups files: configured, learned or adopted */
        bool configured;    /* seeded by ClockOffsetSec= */
        nsec_t seed;        /* ClockOffsetSec=, 0 without */
        nsec_t recent[ENGINE_CLOCK_RING]; /* the latest residuals, a ring */
        uint32_t n_recent, next_recent;
        nsec_t sorted[ENGINE_CLOCK_RING]; /* the same, in order: derived, not saved (restore sorts them) */
        nsec_t run[ENGINE_CLOCK_CONFIRM]; /* consecutive residuals far from the offset */
        uint32_t n_run;
        /* Offsets that consecutive orphans agree on: each hypothesis keeps its
         * latest residuals (a ring of ENGINE_CLOCK_CONFIRM) and how many
         * orphans in a row matched it. */
        nsec_t hypotheses[ENGINE_CLOCK_HYPOTHESES][ENGINE_CLOCK_CONFIRM];
        uint32_t hypothesis_runs[ENGINE_CLOCK_HYPOTHESES];
        uint32_t n_hypotheses;
        nsec_t previous;    /* the offset before the last change */
        nsec_t changed_at;  /* reference time of the shot that made the last change; 0: never */
} EngineClock;

#define ENGINE_NO_CAMERA UINT32_MAX
#define SHOT_ID_MAX 24

typedef enum ShotStatus {
        SHOT_COLLECTING,
        SHOT_COMPLETE,
        SHOT_TIMEOUT,
        _SHOT_STATUS_MAX,
} ShotStatus;

enum {
        ENGINE_FILE_TRIGGER = 1 << 0, /* classified as a trigger when seen */
        ENGINE_FILE_LATE = 1 << 1,    /* joined its shot after the shot closed */
};

/* Read-only for everyone but engine.c. */
/* 128-bit digest: of a relative path, the key of files in memory (so a path
 * is hashed once); of a path and an mtime, a file's identity (rule 15), what
 * the engine remembers of files it has forgotten, so that rescans and
 * restarts never decide them twice. */
typedef struct EnginePathKey {
        uint64_t a, b;
} EnginePathKey;

struct EngineFile {
        EnginePathKey key;
        Shot *shot; /* NULL while unassigned */
        nsec_t dt;
        nsec_t offset; /* its camera's offset when it was decided: dt - offset is on the reference clock */
        usec_t seen_at;
        EngineFile *prev, *next; /* unassigned files, oldest first, for expiry */
        uint32_t pos;            /* index in its time bucket while unassigned */
        uint32_t camera;
        uint32_t slot; /* its (camera, kind) for good, whatever reloads change */
        uint16_t kind; /* 0-based position in its camera's Files=: in its shot's once assigned */
        uint8_t flags;
        char path[]; /* relative to the raw root, "Camera/sub/dir/name" */
};

struct Shot {
        char id[SHOT_ID_MAX]; /* "YYYYMMDD-NNN" */
        uint32_t date;        /* YYYYMMDD, local date of the trigger */
        uint32_t number;
        ShotStatus status;
        /* On the reference clock (rule 14): the trigger's mtime minus its
         * camera's offset, or the Fire instant. */
        nsec_t trigger_time;
        nsec_t window_start, window_end; /* inclusive */
        /* The shot's time on the reference clock as best known, what
         * residuals are measured from: the reference camera's file when it
         * holds one, else the trigger time when its trigger camera's offset
         * is trusted (or, with no reference camera, the Fire instant). */
        nsec_t anchor;
        bool anchored;
        EngineFile *anchor_file; /* the reference camera's file that gave the anchor, or NULL */
        uint32_t trigger_camera;         /* ENGINE_NO_CAMERA for a Fire */
        EngineFile *trigger_file;        /* NULL for a Fire */
        usec_t opened_at, closed_at;
        usec_t deadline; /* timeout while collecting, end of late grace once closed */
        usec_t late_grace; /* given when it opened */
        EngineLayoutSet *layouts; /* its cameras' kinds, as when it opened (rule 17) */

        EngineFile **files; /* in the order they joined */
        uint32_t n_files, n_files_alloc;

        uint32_t *expected; /* camera indices, sorted, fixed when the shot opens */
        uint32_t n_expected;
        uint32_t n_missing; /* expected cameras still lacking a kind */

        uint64_t *slots; /* bitmap of (camera, kind) slots taken */
        uint32_t n_slot_words;

        uint32_t pos;            /* index in its time bucket */
        Shot *prev, *next;       /* collecting or closed list, by deadline */
        uint32_t live_pos;       /* index in the engine's live list */

        void *userdata; /* the owner of the engine may hang its own data here */
};

typedef enum EngineEventType {
        ENGINE_EVENT_SHOT_OPENED,    /* shot */
        ENGINE_EVENT_FILE_ASSIGNED,  /* shot, file (ENGINE_FILE_LATE when late) */
        ENGINE_EVENT_FILE_ORPHANED,  /* file: fits no window */
        ENGINE_EVENT_FILE_DUPLICATE, /* file, shot: the nearest shot already holding its (camera, kind) */
        ENGINE_EVENT_FILE_HELD,      /* file: a trigger that would open a shot while paused */
        ENGINE_EVENT_SHOT_CLOSED,    /* shot: complete or timeout */
        ENGINE_EVENT_SHOT_RETIRED,   /* shot: late grace over, freed with its files right after */
        ENGINE_EVENT_FILE_EXPIRED,   /* file: decided for good without a shot (unassigned for too long, a
                                      * duplicate left in a shot's window when it closed, or a duplicate
                                      * trigger), freed right after */
        ENGINE_EVENT_FILE_DUPLICATE_TRIGGER, /* file, shot: a trigger within MinShotIntervalSec of a shot already
                                              * holding its (camera, kind) (rule 4); FILE_EXPIRED follows */
        ENGINE_EVENT_CLOCK_UPDATED,  /* camera: its estimate moved (spread, samples, offset by a little) */
        ENGINE_EVENT_CLOCK_LEARNED,  /* camera: a learned offset is used for the first time (previous: the seed) */
        ENGINE_EVENT_CLOCK_CHANGED,  /* camera, previous: its PC's clock was set; the offset was replaced */
        _ENGINE_EVENT_MAX,
} EngineEventType;

typedef struct EngineEvent {
        EngineEventType type;
        Shot *shot;
        EngineFile *file;
        uint32_t camera;  /* CLOCK_*: the camera; otherwise ENGINE_NO_CAMERA */
        nsec_t previous;  /* CLOCK_LEARNED, CLOCK_CHANGED: the offset used before */
} EngineEvent;

typedef void (*EngineEventFn)(const EngineEvent *ev, void *userdata);

typedef struct EngineParams {
        nsec_t window;           /* W: full window width */
        usec_t timeout;          /* T */
        usec_t late_grace;       /* how long a closed shot still takes late files */
        usec_t keep_unassigned;  /* how long orphans and duplicates wait for a trigger */
        bool learn_offsets;      /* rule 14: learn each camera's offset; false: the configured ones only */
        nsec_t min_shot_interval; /* rule 4: triggers closer than this to a shot holding their (camera, kind)
                                   * are duplicates; 0: none is */
        /* Local calendar date of an instant; NULL means local_date(). */
        int (*date_of)(nsec_t t, uint32_t *ret);
} EngineParams;

typedef struct EngineFileInfo {
        const char *path;
        uint32_t camera;
        uint16_t kind;
        bool trigger;
        nsec_t dt;
} EngineFileInfo;

typedef enum EngineAddResult {
        ENGINE_ADD_NEW,       /* first time seen (or a new mtime under a decided path): decided now */
        ENGINE_ADD_KNOWN,     /* already in memory (or forgotten after use): nothing to do */
        ENGINE_ADD_CHANGED,   /* an unassigned file whose mtime changed: decided again */
} EngineAddResult;

int engine_new(const EngineParams *params, EngineEventFn fn, void *userdata, Engine **ret);
Engine *engine_free(Engine *e);

/* -EINVAL when the engine cannot work with these. */
int engine_check_params(const EngineParams *params);
int engine_set_params(Engine *e, const EngineParams *params);
const EngineParams *engine_get_params(const Engine *e);

/* Cameras are never removed: a reload marks the ones gone as not expected.
 * kinds are the identities of the camera's n_kinds kinds in Files= order
 * (NULL: known by position only); a kind keeps its slot under whatever
 * position a reload gives it. Shots keep the kinds they opened with; new
 * files and new shots follow the update. */
int engine_add_camera(Engine *e, const char *name, const char *const *kinds, unsigned n_kinds, bool expected,
                      uint32_t *ret);
int engine_find_camera(const Engine *e, const char *name, uint32_t *ret);
/* kinds NULL and n_kinds 0: the kinds stay as they are. */
int engine_update_camera(Engine *e, uint32_t camera, const char *const *kinds, unsigned n_kinds, bool expected);
uint32_t engine_n_cameras(const Engine *e);
const char *engine_camera_name(const Engine *e, uint32_t camera);
unsigned engine_camera_n_kinds(const Engine *e, uint32_t camera);
bool engine_camera_expected(const Engine *e, uint32_t camera);

/* Rule 14. The reference camera's clock is the one shots are timed on (its
 * offset is its seed, 0 unless configured), named before it may be added;
 * NULL: the host's, the clock of Fire instants. Another name starts
 * learning again; returns 1 then. */
int engine_set_reference(Engine *e, const char *name);
const char *engine_get_reference(const Engine *e);
/* ClockOffsetSec=: a configured offset is used from the first shot (and
 * learned from when learning is on). Changing it starts learning again. */
int engine_set_camera_clock(Engine *e, uint32_t camera, bool configured, nsec_t seed);
const EngineClock *engine_camera_clock(const Engine *e, uint32_t camera);
/* Nothing observed since it was configured or reset: saving it would add
 * nothing to what the configuration gives at start. */
bool engine_clock_is_fresh(const EngineClock *c);
/* The offset that groups the camera's files now. */
nsec_t engine_camera_offset(const Engine *e, uint32_t camera);
/* Puts back a saved estimate: -ESTALE when it was learned from another
 * seed than the camera has now, -EINVAL when it is not one. */
int engine_restore_clock(Engine *e, uint32_t camera, const EngineClock *saved);

int engine_add_file(Engine *e, const EngineFileInfo *info, usec_t now, EngineAddResult *ret_result);
/* The raw file disappeared: an unassigned file is dropped (not remembered,
 * so it counts as new if it comes back); an assigned one stays. */
void engine_file_gone(Engine *e, const char *path);
EngineFile *engine_lookup_file(const Engine *e, const char *path);

/* Opens a shot for cameras fired at instant t (SPEC §4 Fire). Works while
 * paused: firing is an explicit request. */
int engine_fire(Engine *e, nsec_t t, usec_t now, Shot **ret);

void engine_set_paused(Engine *e, bool paused);
bool engine_is_paused(const Engine *e);

/* Closes collecting shots whose timeout passed, retires closed shots whose
 * grace ended and drops unassigned files kept too long. */
void engine_run(Engine *e, usec_t now);
/* When engine_run() has something to do next; USEC_INFINITY when nothing. */
usec_t engine_next_deadline(const Engine *e);
/* Closes every collecting shot now (complete if nothing is missing, timeout
 * otherwise): what --once does once the disk has been read. */
void engine_close_all(Engine *e, usec_t now);

/* Shots in memory: collecting ones and closed ones still in their grace, in
 * the order they opened. */
Shot *const *engine_live_shots(const Engine *e, uint32_t *ret_n);
Shot *engine_find_shot(const Engine *e, const char *id);
size_t engine_n_unassigned(const Engine *e);
/* Paths of the unassigned files first seen before `before`, oldest first (a
 * copy: the caller may change the engine while walking it). */
GPtrArray *engine_unassigned_paths(const Engine *e, usec_t before);
size_t engine_n_files(const Engine *e);

/* Numbering: per local date, never reused. */
uint32_t engine_next_number(const Engine *e, uint32_t date);
bool engine_number_used(const Engine *e, uint32_t date, uint32_t number);
int engine_set_next_number(Engine *e, uint32_t date, uint32_t number); /* -EEXIST when used */
int engine_mark_number_used(Engine *e, uint32_t date, uint32_t number);
typedef void (*EngineCounterFn)(uint32_t date, uint32_t next, const uint32_t *ranges, uint32_t n_ranges, void *userdata);
/* ranges holds n_ranges pairs [first, last] of used numbers, sorted. */
void engine_foreach_counter(const Engine *e, EngineCounterFn fn, void *userdata);

/* Forgotten files: their identity digests. */
void engine_path_key(const char *path, EnginePathKey *ret);
void engine_identity_key(const char *path, nsec_t dt, EnginePathKey *ret);
/* key: engine_identity_key() of a file of mtime dt. Kept by day of dt, so
 * that what the history horizon left behind goes a day at a time. */
int engine_add_tombstone(Engine *e, const EnginePathKey *key, nsec_t dt);
/* What older versions remembered: path digests, which stand for files whose
 * mtime is before the cutoff (a file changed after it is new). */
int engine_add_legacy_tombstone(Engine *e, const EnginePathKey *path_key);
void engine_set_legacy_cutoff(Engine *e, nsec_t cutoff);
bool engine_has_legacy_tombstones(const Engine *e);
/* Another raw root: nothing forgotten of the old one applies. */
void engine_clear_tombstones(Engine *e);
bool engine_has_tombstone(const Engine *e, const EnginePathKey *key, nsec_t dt);
size_t engine_n_tombstones(const Engine *e);
/* Every identity remembered, with the start of its mtime's day (UTC). */
typedef void (*EngineTombstoneFn)(const EnginePathKey *key, nsec_t day_start, void *userdata);
void engine_foreach_tombstone(const Engine *e, EngineTombstoneFn fn, void *userdata);
/* SPEC §2 rule 16: files older than horizon are history, never grouped:
 * what is remembered of them (forgotten identities of older days, the path
 * digests of older versions once their cutoff is older, the counters of
 * dates before the horizon's) is dropped. Returns how many identities went. */
size_t engine_forget_before(Engine *e, nsec_t horizon);

/* Restoring state saved by the owner after a restart. */
typedef struct EngineCameraKinds {
        uint32_t camera;
        const char *const *ids;
        unsigned n;
} EngineCameraKinds;
typedef struct EngineShotRestore {
        uint32_t date, number;
        ShotStatus status;
        nsec_t trigger_time, window_start, window_end;
        uint32_t trigger_camera; /* ENGINE_NO_CAMERA for a Fire */
        usec_t opened_at, closed_at, deadline, late_grace;
        const uint32_t *expected;
        uint32_t n_expected;
        /* The kinds it opened with, for the cameras whose kinds are known
         * (others take their kinds now). */
        const EngineCameraKinds *kinds;
        uint32_t n_kinds;
} EngineShotRestore;
int engine_restore_shot(Engine *e, const EngineShotRestore *r, Shot **ret);
/* offset: what the file was grouped with (EngineFile.offset). */
int engine_restore_file(Engine *e, Shot *s, const EngineFileInfo *info, bool late, nsec_t offset, usec_t seen_at);
/* Closes restored collecting shots that are already complete. */
void engine_restore_done(Engine *e, usec_t now);

/* Helpers for adapters. */
const char *shot_status_to_string(ShotStatus s);
int shot_status_from_string(const char *s, ShotStatus *ret);
/* A camera's kinds as the shot knows them (rule 17): how many, the identity
 * of one, and whether the shot holds it. */
unsigned shot_camera_n_kinds(const Shot *s, const Engine *e, uint32_t camera);
const char *shot_camera_kind_id(const Shot *s, const Engine *e, uint32_t camera, unsigned kind);
bool shot_has_kind(const Shot *s, const Engine *e, uint32_t camera, unsigned kind);
bool shot_camera_present(const Shot *s, const Engine *e, uint32_t camera);
/* Expected cameras still missing, in camera order; returns how many were written. */
uint32_t shot_missing(const Shot *s, const Engine *e, uint32_t *ret, uint32_t n_max);
int shot_format_id(uint32_t date, uint32_t number, char buf[static SHOT_ID_MAX]);
int shot_parse_id(const char *id, uint32_t *ret_date, uint32_t *ret_number);
