/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What state.c, state-json.c and state-files.c share. */

/* 4: state.json is a base that a journal extends; 3: shots record their
 * RawRoot, late grace and kinds, one file each in shots/; 2: the first.
 * Older versions are read too (what they lack takes today's configuration).
 * Clock estimates ("clocks", "clock_reference"), a file's offset and a
 * shot's duplicate triggers are optional members: a state without them has
 * them learned again. */
#define STATE_VERSION 4
#define STATE_VERSION_MIN 2

#include <json-glib/json-glib.h>

#include "state.h"

/* A journal record's JSON: the commit's sequence number, the main members
 * when they changed, the shots that changed and went, forgotten files. */
char *state_record_to_json(const StateSnapshot *s, size_t *ret_len);
/* Applies a record over s; one older than s->seq (in the base already) is
 * passed over. */
int state_apply_record(StateSnapshot *s, JsonObject *o);
