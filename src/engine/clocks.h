/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One camera's clock offset estimator (SPEC §2 rule 14): plain numbers,
 * O(1) memory, no I/O, deterministic. The engine feeds it residuals (a
 * file's mtime minus its shot's time on the reference clock) and the steady
 * distances of orphans to their nearest trigger; it answers what changed.
 *
 * The estimate is the median of the last ENGINE_CLOCK_RING residuals: up to
 * four odd files among nine (a camera that wrote late, an extra acquisition)
 * do not move it. Its spread is a standard deviation: the mean absolute
 * deviation of about the last 32 residuals, odd ones clipped, × 1.2533
 * (normal noise). A residual farther from the estimate than the camera's
 * tolerance starts a run; ENGINE_CLOCK_CONFIRM consecutive
 * residuals that agree with each other replace the estimate at once (the
 * PC's clock was set). */

#include "engine.h"

/* Never below this: mtimes of whole seconds (the campaign's PCs) put ±1 s
 * of noise on every residual even when the spread comes out as 0. */
#define CLOCK_TOLERANCE_MIN ((nsec_t) 1500 * 1000 * 1000)
/* Tolerance in standard deviations of the camera's spread. */
#define CLOCK_TOLERANCE_SIGMAS 4

typedef enum ClockOutcome {
        CLOCK_NONE,     /* nothing that matters changed */
        CLOCK_UPDATED,  /* spread or samples moved, or the offset by a little */
        CLOCK_LEARNED,  /* first offset in use (enough samples, or adopted from orphans) */
        CLOCK_CHANGED,  /* a trusted offset replaced by a different one */
} ClockOutcome;

/* No clock is a day off: anything beyond, read from a saved state, is not
 * an estimate. */
#define CLOCK_VALUE_MAX ((nsec_t) 86400 * NSEC_PER_SEC)

void clock_reset(EngineClock *c, bool configured, nsec_t seed);
/* The distance within which a residual agrees with the estimate. */
nsec_t clock_tolerance(const EngineClock *c);
/* A residual of a file assigned to a shot with a known time. at: that
 * time, recorded as when a change happened. */
ClockOutcome clock_add_sample(EngineClock *c, nsec_t residual, nsec_t at);
/* A residual of the reference camera: its spread only, never its offset. */
ClockOutcome clock_add_spread(EngineClock *c, nsec_t residual);
/* An orphan's residuals against the shots it may belong to, nearest first
 * (at most ENGINE_CLOCK_HYPOTHESES): the offset that ENGINE_CLOCK_CONFIRM
 * orphans in a row agree on, and no other does, is adopted. */
ClockOutcome clock_add_orphan(EngineClock *c, const nsec_t *residuals, uint32_t n, nsec_t at);
/* The offset that groups the camera's files: the estimate where it differs
 * from the seed by more than its noise says (three standard errors of the
 * median), the seed (ClockOffsetSec=, or 0) otherwise. */
nsec_t clock_offset_in_use(const EngineClock *c);
/* Rebuilds EngineClock.sorted from the ring (after a restore). */
void clock_sort_recent(EngineClock *c);
/* -EINVAL when the numbers cannot come from clock_add_*(). */
int clock_check(const EngineClock *c);
