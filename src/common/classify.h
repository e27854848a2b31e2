/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Which files count (SPEC §2 rules 1 and 3): pure string decisions on names,
 * no file system access. */

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

typedef enum FileVerdict {
        FILE_ELIGIBLE,
        FILE_IGNORED_HIDDEN,    /* leading '.' or '~' (includes "~$..." Office locks) */
        FILE_IGNORED_TEMPORARY, /* .tmp .part .partial .crdownload (case-insensitive) */
        FILE_IGNORED_KEYWORD,   /* contains an IgnoreKeywords word (case-insensitive) */
        FILE_IGNORED_NO_KIND,   /* matches none of the camera's Files= kinds */
        _FILE_VERDICT_MAX,
} FileVerdict;

/* A short word for logs and ImageIgnored's reason: "hidden", "temporary",
 * "keyword", "kind". */
const char *file_verdict_to_string(FileVerdict v);

/* True for names a sync client or editor uses while writing, or hides:
 * the hidden and temporary rules above. Used for directories too. */
bool name_is_hidden_or_temporary(const char *name);

/* Classifies a base name (no '/') for a camera. On FILE_ELIGIBLE sets
 * *ret_kind (0-based, the first kind whose pattern matches) and
 * *ret_trigger (camera has Trigger=true and the name contains its
 * TriggerKeyword case-insensitively, or the keyword is empty). */
FileVerdict classify_file(const Config *c, const CameraConfig *cam, const char *name, size_t *ret_kind,
                          bool *ret_trigger);

/* Lower-case extension of a name including the dot (".tiff"), "" when none.
 * buf must hold at least 32 bytes; longer extensions are returned as "". */
const char *file_extension_lower(const char *name, char buf[static 32]);
