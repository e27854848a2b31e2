/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Instants as people type them for `shotsyncctl fire --at=` (SPEC §6). */

#include <stdbool.h>

#include "util.h"

typedef struct Instant {
        bool relative; /* value is a delay from "now", to be added when the instant is chosen */
        nsec_t value;  /* the delay, or CLOCK_REALTIME ns since the epoch */
} Instant;

/* Accepts
 *   +N[.F]UNIT            a delay: UNIT is us (or µs), ms, s or min
 *   @SECONDS[.F]          seconds since the Unix epoch
 *   HH:MM[:SS[.F]]        local time today (the local date of `now`)
 *   YYYY-MM-DD[T| ]HH:MM[:SS[.F]][Z|±HH[:MM]]
 *                         ISO 8601, local time unless a zone is given
 * with fractions to the nanosecond. -EINVAL for anything else, -ERANGE for
 * a field out of range or an instant beyond what nsec_t holds. */
int instant_parse(const char *s, nsec_t now, Instant *ret);
