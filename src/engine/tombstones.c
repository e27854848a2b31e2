/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <glib.h>

#include "tombstones.h"

/* A non-cryptographic 128-bit hash: paths come from the lab's own folders,
 * so only accidental collisions matter, and at 2^-128 per pair they do not.
 * Two 64-bit lanes with multiply-rotate rounds and a murmur-style finaliser. */
static inline uint64_t rotl(uint64_t x, int r) {
        return (x << r) | (x >> (64 - r));
}

static inline uint64_t fmix(uint64_t k) {
        k ^= k >> 33;
        k *= UINT64_C(0xff51afd7ed558ccd);
        k ^= k >> 33;
        k *= UINT64_C(0xc4ceb9fe1a85ec53);
        k ^= k >> 33;
        return k;
}

void tombstones_key(const void *data, size_t len, EnginePathKey *ret) {
        const uint64_t c1 = UINT64_C(0x87c37b91114253d5), c2 = UINT64_C(0x4cf5ad432745937f);
        const unsigned char *p = data;
        uint64_t h1 = UINT64_C(0x9e3779b97f4a7c15) ^ len, h2 = UINT64_C(0x6a09e667f3bcc909) ^ (len * c1);

        while (len >= 16) {
                uint64_t a, b;
                memcpy(&a, p, 8);
                memcpy(&b, p + 8, 8);
                h1 ^= rotl(a * c1, 31) * c2;
                h1 = rotl(h1, 27) + h2;
                h1 = h1 * 5 + 0x52dce729;
                h2 ^= rotl(b * c2, 33) * c1;
                h2 = rotl(h2, 31) + h1;
                h2 = h2 * 5 + 0x38495ab5;
                p += 16;
                len -= 16;
        }
        uint64_t a = 0, b = 0;
        if (len > 8) {
                memcpy(&a, p, 8);
                memcpy(&b, p + 8, len - 8);
        } else
                memcpy(&a, p, len);
        h1 ^= rotl(a * c1, 31) * c2;
        h2 ^= rotl(b * c2, 33) * c1;

        h1 += h2;
        h2 += h1;
        h1 = fmix(h1);
        h2 = fmix(h2);
        h1 += h2;
        h2 += h1;
        if (h1 == 0 && h2 == 0)
                h2 = 1;
        *ret = (EnginePathKey) { h1, h2 };
}

void tombstones_init(Tombstones *t) {
        *t = (Tombstones) {};
}

void tombstones_done(Tombstones *t) {
        g_free(t->slots);
        *t = (Tombstones) {};
}

static bool is_empty(const EnginePathKey *k) {
        return k->a == 0 && k->b == 0;
}

static void insert(EnginePathKey *slots, size_t mask, const EnginePathKey *k) {
        for (size_t i = k->a & mask;; i = (i + 1) & mask) {
                if (is_empty(&slots[i])) {
                        slots[i] = *k;
                        return;
                }
                if (slots[i].a == k->a && slots[i].b == k->b)
                        return;
        }
}

static void grow(Tombstones *t) {
        size_t cap = t->slots ? (t->mask + 1) * 2 : 1024;
        EnginePathKey *n = g_new0(EnginePathKey, cap);
        if (t->slots)
                for (size_t i = 0; i <= t->mask; i++)
                        if (!is_empty(&t->slots[i]))
                                insert(n, cap - 1, &t->slots[i]);
        g_free(t->slots);
        t->slots = n;
        t->mask = cap - 1;
}

void tombstones_add(Tombstones *t, const EnginePathKey *k) {
        if (tombstones_contains(t, k))
                return;
        /* Keep the load under 1/2: linear probing stays short. */
        if (!t->slots || (t->n + 1) * 2 > t->mask + 1)
                grow(t);
        insert(t->slots, t->mask, k);
        t->n++;
}

bool tombstones_contains(const Tombstones *t, const EnginePathKey *k) {
        if (!t->slots)
                return false;
        for (size_t i = k->a & t->mask;; i = (i + 1) & t->mask) {
                if (is_empty(&t->slots[i]))
                        return false;
                if (t->slots[i].a == k->a && t->slots[i].b == k->b)
                        return true;
        }
}
