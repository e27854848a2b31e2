/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shotsync-fakecam: a tiny baseline JPEG writer.
 *
 * The images are greyscale and made of flat 8x8 blocks, so every block only
 * has a DC coefficient; that keeps the encoder a few dozen lines while the
 * output is a real, decodable JFIF file.
 */
#pragma once

#include <stdint.h>

#include "wire.h"

/* Append a width x height JPEG (both rounded up to multiples of 8, at most
 * 2040) to out. The picture shows a diagonal gradient, a top row of blocks
 * with the bits of `number` and a second row with the bits of `seed`, so
 * that images from different cameras and captures differ. `comment` (may be
 * NULL) goes into a COM segment. */
void jpeg_make(struct buf *out, unsigned width, unsigned height, uint32_t seed,
	       uint32_t number, const char *comment);
