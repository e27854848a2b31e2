/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* shotsync-fakecam: little-endian buffer helpers, see wire.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fputs("shotsync-fakecam: out of memory\n", stderr);
		abort();
	}
	return p;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = xmalloc(n);

	memcpy(p, s, n);
	return p;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_reserve(struct buf *b, size_t extra)
{
	size_t need = b->len + extra;
	size_t cap;
	uint8_t *p;

	if (need < b->len) /* overflow */
		abort();
	if (need <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (!p) {
		fputs("shotsync-fakecam: out of memory\n", stderr);
		abort();
	}
	b->data = p;
	b->cap = cap;
}

void buf_put(struct buf *b, const void *p, size_t n)
{
	if (!n)
		return;
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void buf_u8(struct buf *b, uint8_t v)
{
	buf_put(b, &v, 1);
}

void buf_u16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	buf_put(b, x, sizeof(x));
}

void buf_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 24) };

	buf_put(b, x, sizeof(x));
}

void buf_u64(struct buf *b, uint64_t v)
{
	buf_u32(b, (uint32_t)v);
	buf_u32(b, (uint32_t)(v >> 32));
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

/* Decode one UTF-8 sequence; returns the code point (U+FFFD on error, BMP
 * only) and advances *s. */
static uint16_t utf8_next(const unsigned char **s)
{
	const unsigned char *p = *s;
	uint32_t cp;
	int more, i;

	if (p[0] < 0x80) {
		*s = p + 1;
		return p[0];
	} else if ((p[0] & 0xE0) == 0xC0) {
		cp = p[0] & 0x1F;
		more = 1;
	} else if ((p[0] & 0xF0) == 0xE0) {
		cp = p[0] & 0x0F;
		more = 2;
	} else {
		*s = p + 1;
		return 0xFFFD;
	}
	for (i = 1; i <= more; i++) {
		if ((p[i] & 0xC0) != 0x80) {
			*s = p + i;
			return 0xFFFD;
		}
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	*s = p + more + 1;
	return (uint16_t)cp;
}

void buf_ptp_string(struct buf *b, const char *utf8)
{
	const unsigned char *s = (const unsigned char *)utf8;
	uint16_t units[254];
	size_t n = 0, i;

	while (*s && n < sizeof(units) / sizeof(units[0]))
		units[n++] = utf8_next(&s);
	if (n == 0) {
		buf_u8(b, 0);
		return;
	}
	buf_u8(b, (uint8_t)(n + 1));
	for (i = 0; i < n; i++)
		buf_u16(b, units[i]);
	buf_u16(b, 0);
}

void buf_u16_array(struct buf *b, const uint16_t *v, size_t n)
{
	size_t i;

	buf_u32(b, (uint32_t)n);
	for (i = 0; i < n; i++)
		buf_u16(b, v[i]);
}

void buf_u32_array(struct buf *b, const uint32_t *v, size_t n)
{
	size_t i;

	buf_u32(b, (uint32_t)n);
	for (i = 0; i < n; i++)
		buf_u32(b, v[i]);
}

size_t pkt_begin(struct buf *b, uint32_t type)
{
	size_t start = b->len;

	buf_u32(b, 0);
	buf_u32(b, type);
	return start;
}

void pkt_end(struct buf *b, size_t start)
{
	uint32_t len = (uint32_t)(b->len - start);
	uint8_t *p = b->data + start;

	p[0] = (uint8_t)len;
	p[1] = (uint8_t)(len >> 8);
	p[2] = (uint8_t)(len >> 16);
	p[3] = (uint8_t)(len >> 24);
}

uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | ((uint64_t)le32(p + 4) << 32);
}

static const uint8_t *rd_take(struct rd *r, size_t n)
{
	const uint8_t *p;

	if (r->err || r->len - r->off < n) {
		r->err = true;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

uint8_t rd_u8(struct rd *r)
{
	const uint8_t *p = rd_take(r, 1);

	return p ? p[0] : 0;
}

uint16_t rd_u16(struct rd *r)
{
	const uint8_t *p = rd_take(r, 2);

	return p ? le16(p) : 0;
}

uint32_t rd_u32(struct rd *r)
{
	const uint8_t *p = rd_take(r, 4);

	return p ? le32(p) : 0;
}

uint64_t rd_u64(struct rd *r)
{
	const uint8_t *p = rd_take(r, 8);

	return p ? le64(p) : 0;
}

/* Append code unit u as UTF-8 to out[*o] (bounded by outsz, keeps a NUL). */
static void utf8_put(char *out, size_t outsz, size_t *o, uint16_t u)
{
	char tmp[3];
	size_t n, i;

	if (u < 0x80) {
		tmp[0] = (char)u;
		n = 1;
	} else if (u < 0x800) {
		tmp[0] = (char)(0xC0 | (u >> 6));
		tmp[1] = (char)(0x80 | (u & 0x3F));
		n = 2;
	} else {
		tmp[0] = (char)(0xE0 | (u >> 12));
		tmp[1] = (char)(0x80 | ((u >> 6) & 0x3F));
		tmp[2] = (char)(0x80 | (u & 0x3F));
		n = 3;
	}
	if (*o + n >= outsz)
		return;
	for (i = 0; i < n; i++)
		out[(*o)++] = tmp[i];
	out[*o] = 0;
}

void rd_ptp_string(struct rd *r, char *out, size_t outsz)
{
	uint8_t n = rd_u8(r);
	size_t o = 0, i;
	uint16_t u;

	if (outsz)
		out[0] = 0;
	for (i = 0; i < n && !r->err; i++) {
		u = rd_u16(r);
		if (u == 0) /* terminator (normally the last unit) */
			continue;
		if (outsz)
			utf8_put(out, outsz, &o, u);
	}
}

bool rd_ucs2z(struct rd *r, char *out, size_t outsz)
{
	size_t o = 0;
	uint16_t u;

	if (outsz)
		out[0] = 0;
	for (;;) {
		u = rd_u16(r);
		if (r->err)
			return false;
		if (u == 0)
			return true;
		if (outsz)
			utf8_put(out, outsz, &o, u);
	}
}
