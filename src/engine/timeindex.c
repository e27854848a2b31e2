/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "timeindex.h"

typedef struct Bucket {
        int64_t key;
        uint32_t n, alloc;
        void **items;
} Bucket;

static guint bucket_hash(const void *p) {
        uint64_t k = (uint64_t) ((const Bucket *) p)->key;
        k ^= k >> 33;
        k *= UINT64_C(0xff51afd7ed558ccd);
        k ^= k >> 33;
        return (guint) k;
}

static gboolean bucket_equal(const void *a, const void *b) {
        return ((const Bucket *) a)->key == ((const Bucket *) b)->key;
}

static void bucket_free(void *p) {
        Bucket *b = p;
        g_free(b->items);
        g_free(b);
}

static int64_t bucket_key(const TimeIndex *ti, nsec_t t) {
        int64_t q = t / ti->width;
        if (t % ti->width < 0)
                q--; /* floor, also before 1970 */
        return q;
}

static uint32_t *pos_of(const TimeIndex *ti, void *item) {
        return (uint32_t *) ((char *) item + ti->pos_offset);
}

void time_index_init(TimeIndex *ti, nsec_t width, size_t pos_offset) {
        *ti = (TimeIndex) {
                .buckets = g_hash_table_new_full(bucket_hash, bucket_equal, bucket_free, NULL),
                .width = width > 0 ? width : 1,
                .pos_offset = pos_offset,
        };
}

void time_index_done(TimeIndex *ti) {
        if (ti->buckets)
                g_hash_table_unref(ti->buckets);
        ti->buckets = NULL;
        ti->n = 0;
}

static Bucket *lookup(const TimeIndex *ti, int64_t key) {
        Bucket k = { .key = key };
        return g_hash_table_lookup(ti->buckets, &k);
}

void time_index_add(TimeIndex *ti, void *item, nsec_t t) {
        int64_t key = bucket_key(ti, t);
        Bucket *b = lookup(ti, key);
        if (!b) {
                b = g_new0(Bucket, 1);
                b->key = key;
                g_hash_table_add(ti->buckets, b);
        }
        if (b->n == b->alloc) {
                b->alloc = b->alloc ? b->alloc * 2 : 4;
                b->items = g_renew(void *, b->items, b->alloc);
        }
        *pos_of(ti, item) = b->n;
        b->items[b->n++] = item;
        ti->n++;
}

void time_index_remove(TimeIndex *ti, void *item, nsec_t t) {
        Bucket *b = lookup(ti, bucket_key(ti, t));
        g_return_if_fail(b);
        uint32_t pos = *pos_of(ti, item);
        g_return_if_fail(pos < b->n && b->items[pos] == item);

        void *last = b->items[--b->n];
        if (last != item) {
                b->items[pos] = last;
                *pos_of(ti, last) = pos;
        }
        ti->n--;
        if (b->n == 0)
                g_hash_table_remove(ti->buckets, b);
        else if (b->alloc > 16 && b->n < b->alloc / 4) {
                b->alloc /= 2;
                b->items = g_renew(void *, b->items, b->alloc);
        }
}

void time_index_query(const TimeIndex *ti, nsec_t lo, nsec_t hi, TimeIndexVisit visit, void *userdata) {
        if (lo > hi || ti->n == 0)
                return;
        int64_t first = bucket_key(ti, lo), last = bucket_key(ti, hi);

        /* A huge span (a window far wider than the buckets, after a reload)
         * is cheaper to answer by walking the buckets that exist. */
        if ((uint64_t) (last - first) > g_hash_table_size(ti->buckets)) {
                GHashTableIter it;
                void *k;
                g_hash_table_iter_init(&it, ti->buckets);
                while (g_hash_table_iter_next(&it, &k, NULL)) {
                        Bucket *b = k;
                        if (b->key < first || b->key > last)
                                continue;
                        for (uint32_t i = 0; i < b->n; i++)
                                if (!visit(b->items[i], userdata))
                                        return;
                }
                return;
        }

        for (int64_t key = first;; key++) {
                Bucket *b = lookup(ti, key);
                /* visit() must not change the index; copy the count anyway so
                 * a misbehaving visitor cannot walk past the end. */
                for (uint32_t i = 0, n = b ? b->n : 0; i < n && b; i++)
                        if (!visit(b->items[i], userdata))
                                return;
                if (key == last)
                        break;
        }
}

void time_index_rebuild(TimeIndex *ti, nsec_t width, TimeIndexTime time_of) {
        g_autoptr(GPtrArray) all = g_ptr_array_sized_new((guint) ti->n);
        GHashTableIter it;
        void *k;

        g_hash_table_iter_init(&it, ti->buckets);
        while (g_hash_table_iter_next(&it, &k, NULL)) {
                Bucket *b = k;
                for (uint32_t i = 0; i < b->n; i++)
                        g_ptr_array_add(all, b->items[i]);
        }
        g_hash_table_remove_all(ti->buckets);
        ti->n = 0;
        ti->width = width > 0 ? width : 1;
        for (guint i = 0; i < all->len; i++)
                time_index_add(ti, all->pdata[i], time_of(all->pdata[i]));
}
