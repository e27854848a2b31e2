/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The clock side of FireAt (SPEC §4): whether this host's clock is kept
 * synchronised, as the kernel's NTP state tells (adjtimex(2), read only),
 * and whether an instant can still be armed. Nothing but adjtimex here, so
 * that the rules are unit-tested. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/timex.h>

#include "util.h"

#define USEC_PER_MSEC ((usec_t) 1000ULL)

/* The farthest ahead an instant may lie: long enough for a person to call
 * several hosts by hand, short enough that a typo does not hold every
 * camera armed for an hour. */
#define FIRE_AT_MAX_AHEAD_USEC (60 * USEC_PER_SEC)

/* The coordinator releases the camera threads this long before the
 * instant, so that each one's capture command is written into its corked
 * socket in time; the instant itself is the uncork. Measured on a loaded
 * 2-CPU VM with 3 daemons of 4 cameras each (bench/bench-fire-at.py): the
 * 4 commands of a daemon are queued ~0.6 ms after the release. The
 * kernel's 200 ms cork ceiling is far. */
#define FIRE_AT_RELEASE_LEAD_USEC (10 * USEC_PER_MSEC)

/* The least lead a FireAt must give: the release lead plus the time to arm
 * the threads and bring them to the barrier. */
#define FIRE_AT_MIN_LEAD_USEC (FIRE_AT_RELEASE_LEAD_USEC + 10 * USEC_PER_MSEC)

typedef struct HostClock {
        bool synchronized;
        uint64_t error_usec; /* the kernel's estimated error of the clock, timex.esterror */
} HostClock;

/* From adjtimex()'s return value (the clock state, TIME_OK … TIME_ERROR)
 * and what it filled in. Unsynchronised: TIME_ERROR, or STA_UNSYNC set. */
HostClock host_clock_from_timex(int state, const struct timex *tx);

/* Reads the clock's state; negative errno when adjtimex() fails (then
 * *ret says "not synchronised"). */
int host_clock_read(HostClock *ret);

/* "clock not synchronised (estimated error 16000 ms)", newly allocated, or
 * NULL when the clock is synchronised. */
char *host_clock_note(const HostClock *c);

typedef enum FireAtVerdict {
        FIRE_AT_OK,
        FIRE_AT_TOO_LATE, /* passed, or too close to arm the cameras */
        FIRE_AT_TOO_FAR,  /* beyond FIRE_AT_MAX_AHEAD_USEC */
} FireAtVerdict;

/* Whether a FireAt for the CLOCK_REALTIME instant t (ns) can be armed at
 * `now`; when not, *ret_why (newly allocated) says by how much. */
FireAtVerdict fire_at_check(nsec_t t, nsec_t now, char **ret_why);
