/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* shotsync-fakecam: tiny baseline JPEG writer, see jpeg.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "jpeg.h"

#include <string.h>

/*
 * Huffman tables, in the JPEG DHT layout (16 code-length counts, then the
 * symbols). With canonical code assignment:
 *  - DC: the twelve size categories 0..11 all get 4-bit codes, so the code
 *    of category c is simply c written on 4 bits.
 *  - AC: a single symbol, 0x00 (end of block), with the 1-bit code "0".
 */
static const uint8_t dc_counts[16] = { 0, 0, 0, 12 };
static const uint8_t dc_symbols[12] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
static const uint8_t ac_counts[16] = { 1 };
static const uint8_t ac_symbols[1] = { 0x00 };

/* Quantiser used for every coefficient. For a flat block of (level-shifted)
 * value s the forward DCT gives DC = 8*s, so with a quantiser of 8 the coded
 * DC value is exactly s. */
#define QUANT 8

struct bitw {
	struct buf *out;
	uint32_t acc;
	int nbits;
};

static void bits_put(struct bitw *w, uint32_t value, int count)
{
	uint8_t byte;

	while (count > 0) {
		count--;
		w->acc = (w->acc << 1) | ((value >> count) & 1u);
		if (++w->nbits == 8) {
			byte = (uint8_t)w->acc;
			buf_u8(w->out, byte);
			if (byte == 0xFF) /* byte stuffing */
				buf_u8(w->out, 0x00);
			w->acc = 0;
			w->nbits = 0;
		}
	}
}

static void bits_flush(struct bitw *w)
{
	/* pad the last byte with 1 bits */
	while (w->nbits)
		bits_put(w, 1, 1);
}

static void marker(struct buf *out, uint8_t m, size_t payload_len)
{
	buf_u8(out, 0xFF);
	buf_u8(out, m);
	if (payload_len != (size_t)-1) {
		/* segment length is big-endian and includes itself */
		buf_u8(out, (uint8_t)((payload_len + 2) >> 8));
		buf_u8(out, (uint8_t)(payload_len + 2));
	}
}

static void put_be16(struct buf *out, unsigned v)
{
	buf_u8(out, (uint8_t)(v >> 8));
	buf_u8(out, (uint8_t)v);
}

static int block_level(unsigned bx, unsigned by, unsigned bw, unsigned bh,
		       uint32_t seed, uint32_t number)
{
	unsigned nb = bw < 32 ? bw : 32; /* bits shown per row, MSB left */

	if (by == 0 && bx < nb)
		return (number >> (nb - 1 - bx)) & 1u ? 235 : 20;
	if (by == 1 && bx < nb)
		return (seed >> (nb - 1 - bx)) & 1u ? 200 : 55;
	/* diagonal gradient */
	return 30 + (int)((bx + by) * 190 / (bw + bh));
}

void jpeg_make(struct buf *out, unsigned width, unsigned height, uint32_t seed,
	       uint32_t number, const char *comment)
{
	unsigned bw, bh, bx, by, mag;
	struct bitw w = { .out = out };
	int prev = 0, s, diff, cat;
	size_t clen;
	int i;

	if (width == 0)
		width = 8;
	if (height == 0)
		height = 8;
	if (width > 2040)
		width = 2040;
	if (height > 2040)
		height = 2040;
	bw = (width + 7) / 8;
	bh = (height + 7) / 8;
	width = bw * 8;
	height = bh * 8;

	marker(out, 0xD8, (size_t)-1); /* SOI */

	marker(out, 0xE0, 14); /* APP0 JFIF */
	buf_put(out, "JFIF", 5);
	buf_u8(out, 1); /* version 1.01 */
	buf_u8(out, 1);
	buf_u8(out, 0); /* no units, aspect ratio only */
	put_be16(out, 1);
	put_be16(out, 1);
	buf_u8(out, 0); /* no thumbnail */
	buf_u8(out, 0);

	if (comment && *comment) {
		clen = strlen(comment);
		if (clen > 60000)
			clen = 60000;
		marker(out, 0xFE, clen); /* COM */
		buf_put(out, comment, clen);
	}

	marker(out, 0xDB, 65); /* DQT: table 0, 8-bit */
	buf_u8(out, 0x00);
	for (i = 0; i < 64; i++)
		buf_u8(out, QUANT);

	marker(out, 0xC0, 9); /* SOF0 baseline, 1 component */
	buf_u8(out, 8);
	put_be16(out, height);
	put_be16(out, width);
	buf_u8(out, 1);
	buf_u8(out, 1);    /* component id */
	buf_u8(out, 0x11); /* no subsampling */
	buf_u8(out, 0);    /* quantisation table 0 */

	marker(out, 0xC4, 1 + 16 + sizeof(dc_symbols)); /* DHT DC 0 */
	buf_u8(out, 0x00);
	buf_put(out, dc_counts, sizeof(dc_counts));
	buf_put(out, dc_symbols, sizeof(dc_symbols));

	marker(out, 0xC4, 1 + 16 + sizeof(ac_symbols)); /* DHT AC 0 */
	buf_u8(out, 0x10);
	buf_put(out, ac_counts, sizeof(ac_counts));
	buf_put(out, ac_symbols, sizeof(ac_symbols));

	marker(out, 0xDA, 6); /* SOS */
	buf_u8(out, 1);
	buf_u8(out, 1);    /* component 1 */
	buf_u8(out, 0x00); /* DC table 0, AC table 0 */
	buf_u8(out, 0);    /* spectral selection 0..63 */
	buf_u8(out, 63);
	buf_u8(out, 0);

	for (by = 0; by < bh; by++) {
		for (bx = 0; bx < bw; bx++) {
			s = block_level(bx, by, bw, bh, seed, number) - 128;
			diff = s - prev;
			prev = s;
			mag = (unsigned)(diff < 0 ? -diff : diff);
			for (cat = 0; mag >> cat; cat++)
				;
			bits_put(&w, (uint32_t)cat, 4); /* DC category code */
			if (cat) {
				/* negative values are sent as diff - 1 on cat bits */
				bits_put(&w, (uint32_t)(diff < 0 ? diff + (1 << cat) - 1 : diff),
					 cat);
			}
			bits_put(&w, 0, 1); /* AC: end of block */
		}
	}
	bits_flush(&w);

	marker(out, 0xD9, (size_t)-1); /* EOI */
}
