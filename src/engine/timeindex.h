/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Items indexed by a nanosecond instant in fixed-width buckets. With the
 * bucket width equal to the shot window, a window query visits at most two
 * or three buckets however many items are indexed: O(1) per insert, remove
 * and query, plus the items visited. Each item stores its position in its
 * bucket (a uint32_t at pos_offset) so that removal needs no search. */

#include <glib.h>
#include <stdbool.h>

#include "util.h"

typedef struct TimeIndex {
        GHashTable *buckets; /* set of Bucket*, keyed by their number */
        nsec_t width;
        size_t pos_offset;
        size_t n;
} TimeIndex;

/* Returns false to stop the walk. */
typedef bool (*TimeIndexVisit)(void *item, void *userdata);
typedef nsec_t (*TimeIndexTime)(void *item);

void time_index_init(TimeIndex *ti, nsec_t width, size_t pos_offset);
void time_index_done(TimeIndex *ti);
void time_index_add(TimeIndex *ti, void *item, nsec_t t);
void time_index_remove(TimeIndex *ti, void *item, nsec_t t);
/* Visits every item whose bucket overlaps [lo, hi]; callers filter exact bounds. */
void time_index_query(const TimeIndex *ti, nsec_t lo, nsec_t hi, TimeIndexVisit visit, void *userdata);
void time_index_rebuild(TimeIndex *ti, nsec_t width, TimeIndexTime time_of);
