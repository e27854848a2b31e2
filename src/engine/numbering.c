/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <glib.h>
#include <stdio.h>

#include "numbering.h"
#include "util.h"

typedef struct Counter {
        uint32_t next;
        GArray *ranges; /* uint32_t pairs [first, last], sorted */
} Counter;

struct Numbering {
        GHashTable *counters; /* date → Counter* */
};

static Counter *counter_get(Numbering *n, uint32_t date, bool create) {
        Counter *c = g_hash_table_lookup(n->counters, GUINT_TO_POINTER(date));
        if (c || !create)
                return c;
        c = g_new0(Counter, 1);
        c->next = 1;
        c->ranges = g_array_new(false, false, sizeof(uint32_t));
        g_hash_table_insert(n->counters, GUINT_TO_POINTER(date), c);
        return c;
}

static void counter_free(void *p) {
        Counter *c = p;
        if (!c)
                return;
        g_array_unref(c->ranges);
        g_free(c);
}

/* Index of the run containing n, or -(insertion point)-1. */
static long counter_find(const Counter *c, uint32_t n) {
        const uint32_t *r = (const uint32_t *) c->ranges->data;
        long lo = 0, hi = (long) c->ranges->len / 2;
        while (lo < hi) {
                long mid = lo + (hi - lo) / 2;
                if (n < r[2 * mid])
                        hi = mid;
                else if (n > r[2 * mid + 1])
                        lo = mid + 1;
                else
                        return mid;
        }
        return -lo - 1;
}

bool numbering_used(const Numbering *nb, uint32_t date, uint32_t number) {
        Counter *c = g_hash_table_lookup(nb->counters, GUINT_TO_POINTER(date));
        return c && counter_find(c, number) >= 0;
}

uint32_t numbering_next(const Numbering *nb, uint32_t date) {
        Counter *c = g_hash_table_lookup(nb->counters, GUINT_TO_POINTER(date));
        if (!c)
                return 1;
        uint32_t n = c->next;
        long i = counter_find(c, n);
        if (i >= 0)
                n = g_array_index(c->ranges, uint32_t, 2 * i + 1) + 1;
        return n;
}

int numbering_mark_used(Numbering *nb, uint32_t date, uint32_t number) {
        if (number == 0 || number == UINT32_MAX)
                return -EINVAL;
        Counter *c = counter_get(nb, date, true);
        long i = counter_find(c, number);
        if (i >= 0)
                return 0;
        long at = -i - 1;
        uint32_t *r = (uint32_t *) c->ranges->data;
        long n_runs = (long) c->ranges->len / 2;
        bool join_prev = at > 0 && r[2 * (at - 1) + 1] + 1 == number;
        bool join_next = at < n_runs && r[2 * at] == number + 1;
        if (join_prev && join_next) {
                r[2 * (at - 1) + 1] = r[2 * at + 1];
                g_array_remove_range(c->ranges, (guint) (2 * at), 2);
        } else if (join_prev)
                r[2 * (at - 1) + 1] = number;
        else if (join_next)
                r[2 * at] = number;
        else {
                uint32_t pair[2] = { number, number };
                g_array_insert_vals(c->ranges, (guint) (2 * at), pair, 2);
        }
        return 0;
}

int numbering_set_next(Numbering *nb, uint32_t date, uint32_t number) {
        if (number == 0 || number == UINT32_MAX)
                return -EINVAL;
        if (numbering_used(nb, date, number))
                return -EEXIST;
        counter_get(nb, date, true)->next = number;
        return 0;
}

int numbering_take(Numbering *nb, uint32_t date, uint32_t *ret) {
        uint32_t number = numbering_next(nb, date);
        if (number == UINT32_MAX)
                return -ERANGE;
        int r = numbering_mark_used(nb, date, number);
        if (r < 0)
                return r;
        counter_get(nb, date, true)->next = number + 1;
        *ret = number;
        return 0;
}

int numbering_restore(Numbering *nb, uint32_t date, uint32_t number) {
        int r = numbering_mark_used(nb, date, number);
        if (r < 0)
                return r;
        Counter *c = counter_get(nb, date, true);
        if (c->next <= number)
                c->next = number + 1;
        return 0;
}

static int date_cmp(const void *a, const void *b) {
        uint32_t x = GPOINTER_TO_UINT(*(void *const *) a), y = GPOINTER_TO_UINT(*(void *const *) b);
        return x < y ? -1 : x > y;
}

void numbering_foreach(const Numbering *nb, EngineCounterFn fn, void *userdata) {
        guint n;
        g_autofree void **dates = g_hash_table_get_keys_as_array(nb->counters, &n);
        qsort_safe(dates, n, sizeof(void *), date_cmp);
        for (guint i = 0; i < n; i++) {
                Counter *c = g_hash_table_lookup(nb->counters, dates[i]);
                fn(GPOINTER_TO_UINT(dates[i]), c->next, (const uint32_t *) c->ranges->data, c->ranges->len / 2,
                   userdata);
        }
}

void numbering_forget_before(Numbering *nb, uint32_t date) {
        GHashTableIter it;
        void *k;
        g_hash_table_iter_init(&it, nb->counters);
        while (g_hash_table_iter_next(&it, &k, NULL))
                if (GPOINTER_TO_UINT(k) < date)
                        g_hash_table_iter_remove(&it);
}

int shot_format_id(uint32_t date, uint32_t number, char buf[static SHOT_ID_MAX]) {
        int n = snprintf(buf, SHOT_ID_MAX, "%08" PRIu32 "-%03" PRIu32, date, number);
        return n > 0 && n < SHOT_ID_MAX ? 0 : -EINVAL;
}

int shot_parse_id(const char *id, uint32_t *ret_date, uint32_t *ret_number) {
        char date[9];
        uint32_t d;

        if (!id || strlen(id) < 12 || id[8] != '-')
                return -EINVAL;
        memcpy(date, id, 8);
        date[8] = 0;
        if (parse_date(date, &d) < 0)
                return -EINVAL;

        const char *p = id + 9;
        uint64_t n = 0;
        size_t len = strlen(p);
        if (len < 3 || len > 9)
                return -EINVAL;
        for (; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                n = n * 10 + (uint64_t) (*p - '0');
        }
        if (n == 0)
                return -EINVAL;
        /* Only the canonical spelling: "001" but not "0001" for 1. */
        if (len > 3 && id[9] == '0')
                return -EINVAL;
        *ret_date = d;
        *ret_number = (uint32_t) n;
        return 0;
}

Numbering *numbering_new(void) {
        Numbering *nb = g_new0(Numbering, 1);
        nb->counters = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, counter_free);
        return nb;
}

void numbering_free(Numbering *nb) {
        if (!nb)
                return;
        g_hash_table_unref(nb->counters);
        g_free(nb);
}
