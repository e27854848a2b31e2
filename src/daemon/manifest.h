/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A shot as its manifest describes it (SPEC §3 shots/<date>/shot<NNN>.json):
 * a plain record, JSON in and out through json-glib. Strings that came from
 * file names are stored escaped (utf8_escape_invalid()) because JSON, like
 * D-Bus, only carries valid UTF-8. */

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "util.h"

typedef struct ManifestFile {
        char *camera;
        unsigned kind;     /* 1-based position in the camera's Files= */
        char *raw_path;    /* absolute, escaped */
        nsec_t mtime;
        char *clean_path;  /* absolute, escaped */
        uint64_t size;
        char sha256[65];   /* lower-case hex */
        bool late;
        nsec_t clock_offset;      /* its camera's offset it was grouped with (rule 14) */
        bool clock_offset_known;  /* false in manifests older than clock offsets */
} ManifestFile;

typedef struct Manifest {
        char id[SHOT_ID_MAX];
        uint32_t date, number;
        ShotStatus status;
        char *trigger_camera; /* "" for a Fire */
        char *trigger_path;   /* "" for a Fire, absolute and escaped otherwise */
        nsec_t trigger_time;
        nsec_t window_start, window_end;
        ManifestFile *files;
        size_t n_files;
        char **missing;          /* camera names, NULL-terminated */
        GHashTable *metadata;    /* char* → char*, owned */
} Manifest;

Manifest *manifest_new(void);
Manifest *manifest_free(Manifest *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Manifest, manifest_free)

/* Appends a file (copies the strings). */
ManifestFile *manifest_add_file(Manifest *m, const char *camera, unsigned kind, const char *raw_path, nsec_t mtime,
                                const char *clean_path, bool late);

/* Builds the JSON object of SPEC §3: every key present, times as ISO 8601
 * local time with microseconds and UTC offset, offset_s = mtime - trigger
 * time in seconds, clock_offset_s the camera's clock offset in seconds
 * (absent only for a file read from a manifest that had none), timing{}
 * computed from the files, metadata keys sorted. */
JsonNode *manifest_to_json(const Manifest *m);
/* Pretty-printed, newline-terminated. */
char *manifest_to_data(const Manifest *m, size_t *ret_len);

/* Parses what manifest_to_json() wrote (and rejects anything else with
 * -EBADMSG): GetShot, ListShots and SetShotMetadata on closed shots read
 * manifests back. Times come back with microsecond precision. */
int manifest_from_json(JsonNode *node, Manifest **ret);
int manifest_from_data(const char *data, size_t len, Manifest **ret);

/* A duration in seconds as manifests print them: whole microseconds. */
double manifest_seconds(nsec_t d);

/* ISO 8601 in and out (local time, microseconds, offset). */
int parse_iso8601(const char *s, nsec_t *ret);
