/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What engine.c, engine-cameras.c and engine-restore.c share: the engine's
 * insides. Nothing outside the engine includes this. */

#include <glib.h>

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
        TimeIndex unassigned;   /* EngineFile by dt */
        EngineFile *oldest, *newest; /* unassigned files by seen_at */
        size_t n_unassigned;

        TimeIndex shot_index; /* live shots by trigger time */
        nsec_t max_half;      /* widest half window among live shots */
        GPtrArray *live;      /* Shot*, unordered; sorted lazily for callers */
        bool live_sorted;
        ShotList collecting, closed;

        Numbering *numbering;
        GHashTable *forgotten;        /* day of the mtime → Tombstones*: identities, pruned a day at a time */
        Tombstones legacy_tombstones; /* paths, for files older than legacy_cutoff */
        nsec_t legacy_cutoff;
};

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
