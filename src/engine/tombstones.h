/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What remains in memory of a file once no rule can use it any more: a
 * 128-bit digest of its relative path, 16 bytes in an open-addressing table,
 * so that rescans and restarts recognise it without keeping its record. */

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

typedef struct Tombstones {
        EnginePathKey *slots; /* {0,0} marks an empty slot */
        size_t n, mask;
} Tombstones;

void tombstones_init(Tombstones *t);
void tombstones_done(Tombstones *t);
void tombstones_add(Tombstones *t, const EnginePathKey *k);
bool tombstones_contains(const Tombstones *t, const EnginePathKey *k);
void tombstones_key(const void *data, size_t len, EnginePathKey *ret);
