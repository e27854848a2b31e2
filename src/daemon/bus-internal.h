/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What bus-manager.c, bus-signals.c and bus-shots.c share: shots as D-Bus
 * dictionaries, the reads and writes of manifests of shots no longer in
 * memory, and PropertiesChanged. */

#include "bus-manager.h"
#include "manager-internal.h"

static inline uint64_t usec_of(nsec_t t) {
        return t > 0 ? (uint64_t) (t / 1000) : 0;
}

/* Sends the PropertiesChanged merged during one turn of the loop. */
int bus_on_props_changed(sd_event_source *s, void *userdata);
typedef enum ShotJobKind {
        SHOT_JOB_GET,
        SHOT_JOB_LIST,
        SHOT_JOB_SET_METADATA,
} ShotJobKind;

typedef struct ShotJob ShotJob;

/* duplicate_triggers: raw paths (escaped) of the shot's duplicate triggers
 * as the manager holds them (rule 4; not in manifests), or NULL. */
int bus_append_manifest(sd_bus_message *reply, const Manifest *mf, char **duplicate_triggers);
/* A shot's duplicate triggers as absolute, escaped raw paths, newly
 * allocated (g_strfreev()). */
char **bus_shot_duplicate_triggers(Manager *m, ShotData *sd);
/* The manifest of a shot still in memory, as it stands now. */
Manifest *bus_manifest_from_memory(Manager *m, ShotData *sd);
ShotJob *bus_shot_job_new(Manager *m, ShotJobKind kind, sd_bus_message *call, uint32_t date, uint32_t number);
void bus_shot_job_set_values(ShotJob *j, GHashTable *values);
void bus_shot_job_work(void *data);
