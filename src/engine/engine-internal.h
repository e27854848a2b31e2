/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What engine.c, engine-cameras.c and engine-restore.c share: the engine's
 * insides. Nothing outside the engine includes this. */

#include <glib.h>

#include "clocks.h"
#include "engine.h"
#include "numbering.h"
#include "timeindex.h"
#include "tombstones.h"

/* Internal flags: the file sits in the unassigned index and expiry list;
 * a newer version of its path replaced it in the table of files (rule 15);
 * it was reported as a duplicate already. */
#define ENGINE_FILE_INDEXED (1u << 7)
#define ENGINE_FILE_SUPERSEDED (1u << 6)
#define ENGINE_FILE_REPORTED (1u << 5)
/* Its residual fed its camera's clock already (once per file); as an
 * orphan, it was weighed as evidence of its camera's clock. */
#define ENGINE_FILE_SAMPLED (1u << 4)
#define ENGINE_FILE_EVALUATED (1u << 3)

/* A camera's kinds as slots, in Files= order, with the ids they had then
 * (owned by the camera, which outlives its layouts): immutable, shared. */
typedef struct EngineLayout {
        uint32_t ref;
        uint16_t n_kinds;
        const char **ids;
        uint32_t slots[];
} EngineLayout;

/* Every camera's layout at one configuration, indexed by camera. */
struct EngineLayoutSet {
        uint32_t ref;
        uint32_t n;
        EngineLayout *v[];
};

typedef struct EngineCamera {
        char *name;
        EngineLayout *layout;       /* its kinds now */
        EngineLayout *first_layout; /* its kinds when it appeared */
        GPtrArray *kind_ids;        /* char*: every kind identity it ever had */
        GArray *kind_slots;         /* uint32_t: the slot of each */
        bool expected;
        EngineClock clock;          /* rule 14 */
        nsec_t offset;              /* the offset in use now (clock.c and the parameters decide) */
        bool redecide;              /* its waiting files must be decided again (its offset moved a lot) */
} EngineCamera;

typedef struct ShotList {
        Shot *head, *tail;
} ShotList;

struct Engine {
        EngineParams params;
        EngineEventFn fn;
        void *userdata;
        bool paused;

        GPtrArray *cameras; /* EngineCamera*, index = camera id */
        GHashTable *camera_by_name;
        uint32_t n_slots;
        EngineLayoutSet *current; /* shared by shots opened since the last change; NULL: make anew */

        GHashTable *files;      /* set of &EngineFile.key, every file in memory */
        TimeIndex unassigned;   /* EngineFile by raw dt: offsets move, raw times do not */
        nsec_t offset_lo, offset_hi; /* every offset in use lies between: how much wider queries on raw
                                      * times must look (only widened between recomputations) */
        EngineFile *oldest, *newest; /* unassigned files by seen_at */
        size_t n_unassigned;

        TimeIndex shot_index; /* live shots by trigger time */
        nsec_t max_half;      /* widest half window among live shots */
        GPtrArray *live;      /* Shot*, unordered; sorted lazily for callers */
        bool live_sorted;
        ShotList collecting, closed;

        char *reference_name;   /* the camera whose clock shots are timed on; NULL: the host's */
        uint32_t reference;     /* its index once added, else ENGINE_NO_CAMERA */
        uint32_t n_redecide;    /* cameras with redecide set */

        Numbering *numbering;
        GHashTable *forgotten;        /* day of the mtime → Tombstones*: identities, pruned a day at a time */
        Tombstones legacy_tombstones; /* paths, for files older than legacy_cutoff */
        nsec_t legacy_cutoff;
};

/* Where a file's nearest shots are (rule 7). */
typedef struct ShotPick {
        Shot *best; /* nearest whose window holds the file and which lacks its (camera, kind) */
        nsec_t best_dist;
        Shot *nearest_containing; /* nearest whose window holds it, even when its slot is taken */
        nsec_t nearest_dist;
} ShotPick;

void eng_emit(Engine *e, EngineEventType type, Shot *s, EngineFile *f);
static inline bool eng_in_window(const Shot *s, nsec_t t) {
        return t >= s->window_start && t <= s->window_end;
}
/* Unassigned files in [lo, hi] of corrected time (and some around it). */
void eng_query_unassigned(const Engine *e, nsec_t lo, nsec_t hi, TimeIndexVisit visit, void *userdata);
void eng_unassigned_remove(Engine *e, EngineFile *f);
/* Frees f; remember: its identity is kept, it is never decided again. */
void eng_file_drop(Engine *e, EngineFile *f, bool remember);
/* f's time on the reference clock, with its camera's offset now. */
nsec_t eng_file_time(const Engine *e, const EngineFile *f);
/* Assigns f where eng_pick_shot() and eng_sure() allow, completing the shot
 * when it can; false when f stays where it is. */
bool eng_try_join(Engine *e, EngineFile *f, usec_t now);
int eng_shot_kind_of(const Engine *e, const Shot *s, const EngineFile *f);

/* window.c */
void eng_pick_shot(Engine *e, const EngineFile *f, ShotPick *ret);
/* Whether s is surely f's shot: f within its camera's reach of s's time,
 * or nearer to it than any other shot can be. */
bool eng_sure(const Engine *e, const EngineFile *f, const Shot *s);
/* eng_sure(), or within MinShotIntervalSec for a trigger. */
bool eng_trigger_joins(const Engine *e, const EngineFile *f, const Shot *s);
/* f joins s, grouped with offset (its camera's when it was found fit). */
void eng_join_shot(Engine *e, Shot *s, EngineFile *f, nsec_t offset);
/* Rule 5: what a new shot takes of the files already seen. */
void eng_absorb(Engine *e, Shot *s);
/* Files that waited for s, their nearest shot, as it closes or retires. */
void eng_settle(Engine *e, Shot *s);
/* Rule 15: what a closing shot leaves in its window of what it holds. */
void eng_drop_leftovers(Engine *e, Shot *s);
/* Rule 4: the shot a trigger is a duplicate of, or NULL. */
Shot *eng_duplicate_trigger_of(Engine *e, const EngineFile *f);

/* learn.c */
/* Rule 14: f just joined s; feeds its camera's clock when s is anchored. */
void eng_observe(Engine *e, Shot *s, EngineFile *f);
/* s anchored at open, when its trigger camera's offset can be trusted. */
void eng_anchor_at_open(Engine *e, Shot *s);
/* s closed: the orphans nearest to it say where their cameras' clocks are. */
void eng_learn_from_orphans(Engine *e, Shot *s);
/* Files of cameras whose offset moved a lot are decided again. */
void eng_flush_redecide(Engine *e, usec_t now);
bool eng_camera_gated(const Engine *e, uint32_t camera);
nsec_t eng_camera_reach(const Engine *e, uint32_t camera);

EngineCamera *eng_camera_get(const Engine *e, uint32_t c);
EngineLayout *eng_layout_ref(EngineLayout *l);
void eng_layout_unref(EngineLayout *l);
int eng_layout_kind_of(const EngineLayout *l, uint32_t slot);
EngineLayout *eng_layout_for(Engine *e, EngineCamera *c, const char *const *kinds, unsigned n_kinds);
EngineLayoutSet *eng_layout_set_ref(EngineLayoutSet *set);
void eng_layout_set_unref(EngineLayoutSet *set);
EngineLayoutSet *eng_current_layouts(Engine *e);
const EngineLayout *eng_shot_layout(const Engine *e, const Shot *s, uint32_t camera);
EngineFile *eng_file_new(const EngineFileInfo *info, const EnginePathKey *key, uint32_t slot, usec_t now);
EngineFile *eng_lookup_key(const Engine *e, const EnginePathKey *k);
Shot *eng_shot_alloc(Engine *e, uint32_t date, uint32_t number, nsec_t t, nsec_t ws, nsec_t we);
bool eng_shot_expects(const Shot *s, uint32_t camera);
bool eng_slot_of(const Engine *e, uint32_t camera, unsigned kind, uint32_t *ret);
bool eng_slot_test(const Shot *s, uint32_t slot);
void eng_assign(Engine *e, Shot *s, EngineFile *f, bool emit_event);
void eng_camera_free(void *p);
void eng_list_insert(ShotList *l, Shot *s);
void eng_live_add(Engine *e, Shot *s);
void eng_maybe_complete(Engine *e, Shot *s, usec_t now);
void eng_shot_index_add(Engine *e, Shot *s);
void eng_slot_set(Shot *s, uint32_t slot);
/* Makes c's offset in use follow its clock and the parameters. */
void eng_camera_refresh_offset(Engine *e, EngineCamera *c);
void eng_recompute_offset_bounds(Engine *e);
