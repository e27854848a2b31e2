/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Crash-safe persistence in the state directory, a base and a journal:
 *   state.json      the base: counters, pause, every shot still open, in
 *                   its grace or not yet published, and the last commit it
 *                   includes; replaced whole (temporary file, fsync, rename,
 *                   fsync dir) now and then, when the journal has grown
 *   forgotten2.bin  with the base: identities of files no rule can use any
 *                   more (digest of path and mtime, and the mtime)
 *   journal         one line per commit since the base, appended with one
 *                   fdatasync(): the shots that changed, those that went,
 *                   the files forgotten meanwhile, the counters when they
 *                   changed; a torn last line is dropped
 *   shots/<id>.json, forgotten.bin   what versions 2 and 3 kept (a file a
 *                   shot, digests of paths alone): read, then replaced by
 *                   the first base
 * state.json and the journal's main records also hold each camera's clock
 * estimate ("clocks", rule 14).
 * A snapshot is plain data: the manager builds one in the event loop and a
 * worker thread writes it, so the loop never waits for the disk. */

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "util.h"

typedef struct StateFile {
        char *path;   /* relative to RawRoot, raw bytes */
        char *camera;
        unsigned kind; /* 0-based */
        bool trigger, late;
        nsec_t dt;
        nsec_t offset; /* its camera's clock offset it was grouped with (rule 14); 0 in older states */
} StateFile;

/* The kinds a shot holds a camera to (rule 17), by identity. */
typedef struct StateKinds {
        char *camera;
        char **ids; /* NULL-terminated */
} StateKinds;

typedef struct StateShot {
        uint32_t date, number;
        ShotStatus status;
        char *trigger_camera; /* NULL for a Fire */
        nsec_t trigger_time, window_start, window_end;
        nsec_t opened, closed, deadline; /* CLOCK_REALTIME: survive reboots */
        bool live;            /* still in the engine (collecting or in its grace) */
        bool needs_publish;   /* something changed since the last complete publish */
        bool announced;       /* ShotClosed was sent */
        char **expected;      /* NULL-terminated camera names */
        char *raw_root;       /* where its files are; NULL in states older than version 3 */
        int64_t late_grace;   /* µs, given when it opened; -1 when not recorded (older states) */
        StateKinds *kinds;
        size_t n_kinds;
        StateFile *files;
        size_t n_files;
        GHashTable *metadata; /* char* → char* */
        char **duplicate_triggers; /* rule 4: their raw paths (relative), NULL-terminated; NULL: none */
} StateShot;

/* A file decided for good: its identity (path and mtime, rule 15) and its
 * mtime. */
typedef struct StateForgotten {
        EnginePathKey id;
        int64_t dt;
} StateForgotten;

typedef struct StateCounter {
        uint32_t date, next;
        uint32_t *ranges; /* pairs */
        uint32_t n_ranges;
} StateCounter;

/* One camera's clock estimate (rule 14), as the engine keeps it. */
typedef struct StateClock {
        char *camera;
        EngineClock clock;
} StateClock;

typedef struct StateSnapshot {
        uint64_t seq;      /* the owner's count: what this snapshot brings up to */
        bool full;         /* everything, not only what changed: written as a new base */
        bool drop_legacy;  /* with a base: forgotten.bin (version 2's) goes */
        bool write_main;   /* counters or pause changed */
        bool paused;
        char *last_shot;   /* the shot opened last, or NULL */
        char *raw_root;    /* the RawRoot the forgotten files are of; NULL before version 3 */
        bool reset_forgotten; /* RawRoot changed: forget what was forgotten, before appending */
        StateCounter *counters;
        size_t n_counters;
        char *clock_reference;  /* the camera the clocks are against; NULL: the host's clock */
        StateClock *clocks;     /* NULL with n_clocks 0 in states older than clock offsets */
        size_t n_clocks;
        StateShot *shots;
        size_t n_shots;
        StateForgotten *forget; /* to append to forgotten2.bin before state.json is replaced */
        size_t n_forget;
        GPtrArray *removed;    /* ids of shots that went */
        /* Load: */
        unsigned version;       /* of state.json */
        GPtrArray *bad;         /* shot files of version 3 that could not be read */
        bool forgotten_reset;   /* the journal reset what forgotten2.bin holds (RawRoot changed) */
        uint64_t journal_size;  /* bytes of good records */
        uint64_t journal_torn;  /* bytes of a torn tail, cut off */
        unsigned n_journal_records;
} StateSnapshot;

typedef struct StateSaveInfo {
        bool base;              /* a new base was written */
        uint64_t base_size;     /* its bytes (state.json and forgotten2.bin) */
        uint64_t journal_size;  /* the journal's bytes after a commit */
} StateSaveInfo;

StateSnapshot *state_snapshot_new(void);
StateSnapshot *state_snapshot_free(StateSnapshot *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(StateSnapshot, state_snapshot_free)
StateShot *state_snapshot_add_shot(StateSnapshot *s);
void state_shot_clear(StateShot *sh);
void state_shot_copy(const StateShot *from, StateShot *to);
GHashTable *state_metadata_copy(GHashTable *from);
StateFile *state_shot_add_file(StateShot *sh);
StateKinds *state_shot_add_kinds(StateShot *sh, const char *camera);
/* NULL when the shot does not record camera's kinds (older states). */
const StateKinds *state_shot_kinds(const StateShot *sh, const char *camera);
void state_snapshot_add_counter(StateSnapshot *s, uint32_t date, uint32_t next, const uint32_t *ranges,
                                uint32_t n_ranges);
/* state-clocks.c: rule 14's members of state.json. */
void state_snapshot_add_clock(StateSnapshot *s, const char *camera, const EngineClock *clock);
void state_clocks_clear(StateSnapshot *s);
void state_clocks_to_json(JsonBuilder *b, const StateSnapshot *s);
/* A clock that does not read is left out; -EBADMSG for a bad reference. */
int state_clocks_from_json(JsonObject *root, StateSnapshot *s);

/* A snapshot carries the shots that changed; an older one not yet written
 * is folded into a newer one (its shots, removals and digests). */
void state_snapshot_absorb(StateSnapshot *newer, StateSnapshot *older);
void state_snapshot_remove_shot(StateSnapshot *s, const char *id);

char *state_shot_to_data(const StateShot *sh, size_t *ret_len);
int state_shot_from_data(const char *data, size_t len, StateSnapshot *s);

/* JSON text of a base: the snapshot, shots included (without the digests). */
char *state_to_data(const StateSnapshot *s, size_t *ret_len);
int state_from_data(const char *data, size_t len, StateSnapshot **ret);

/* Blocking, for the worker (save) and for start-up (load). Save commits a
 * snapshot: a journal record, or a new base when s->full. Load reads the
 * base and replays the journal over it (its forgotten files in ->forget);
 * an empty snapshot when there is no state yet. */
int state_save(const char *dir, const StateSnapshot *s, StateSaveInfo *ret);
int state_load(const char *dir, StateSnapshot **ret);
/* Calls fn for every record of forgotten2.bin; drops a torn tail. */
int state_load_forgotten(const char *dir, void (*fn)(const StateForgotten *f, void *userdata), void *userdata);
/* Calls fn for every path digest of the older forgotten.bin, and gives the
 * time it was last written (files changed since are not what it knew):
 * 0 when there is none. */
int state_load_legacy_forgotten(const char *dir, void (*fn)(const EnginePathKey *k, void *userdata), void *userdata,
                                nsec_t *ret_written);
