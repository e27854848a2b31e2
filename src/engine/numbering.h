/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shot numbers per local date (SPEC §2 rule 5, §4 SetNextShotNumber): handed
 * out in order, never reused, renumbering never onto a used number. Used
 * numbers are kept as sorted [first, last] runs: numbers are nearly always
 * contiguous, so a date costs a few bytes however many shots it had. */

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"

typedef struct Numbering Numbering;

Numbering *numbering_new(void);
void numbering_free(Numbering *nb);

bool numbering_used(const Numbering *nb, uint32_t date, uint32_t number);
/* The number the next shot of date gets (stepping over used runs). */
uint32_t numbering_next(const Numbering *nb, uint32_t date);
int numbering_mark_used(Numbering *nb, uint32_t date, uint32_t number);
/* -EEXIST when number is used, -EINVAL for 0. */
int numbering_set_next(Numbering *nb, uint32_t date, uint32_t number);
/* Gives the next number of date and marks it used. */
int numbering_take(Numbering *nb, uint32_t date, uint32_t *ret);
/* A shot restored from saved state: its number is used, the counter past it. */
int numbering_restore(Numbering *nb, uint32_t date, uint32_t number);
void numbering_foreach(const Numbering *nb, EngineCounterFn fn, void *userdata);
/* Dates before date can no longer get a shot (history): their counters go. */
void numbering_forget_before(Numbering *nb, uint32_t date);
