/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What engine.c, engine-cameras.c and engine-restore.c share: the engine's
 * insides. Nothing outside the engine includes this. */

#include <glib.h>

#include "engine.h"
#include "numbering.h"
#include "timeindex.h"
#include "tombstones.h"

/* Internal flag: the file sits in the unassigned index and expiry list. */
#define ENGINE_FILE_INDEXED (1u << 7)

typedef struct EngineCamera {
        char *name;
        uint32_t first_slot;
        uint16_t n_kinds;
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
        Tombstones tombstones;
};

EngineCamera *eng_camera_get(const Engine *e, uint32_t c);
EngineFile *eng_file_new(const EngineFileInfo *info, const EnginePathKey *key, usec_t now);
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
