/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "clocks.h"

/* Offsets beyond a day are a clock on the wrong date, not something to
 * learn; restored numbers beyond it are not ours. */

static void sort_small(nsec_t *v, uint32_t n) {
        for (uint32_t i = 1; i < n; i++) {
                nsec_t x = v[i];
                uint32_t j = i;
                for (; j > 0 && v[j - 1] > x; j--)
                        v[j] = v[j - 1];
                v[j] = x;
        }
}

/* The lower median: an element of v, so integers stay integers. */
static nsec_t median(const nsec_t *v, uint32_t n) {
        nsec_t tmp[MAX(ENGINE_CLOCK_RING, ENGINE_CLOCK_CONFIRM)];
        memcpy(tmp, v, n * sizeof(nsec_t));
        sort_small(tmp, n);
        return tmp[(n - 1) / 2];
}

/* The median absolute deviation of a few values: where a deviation starts. */
static nsec_t deviation_of(const nsec_t *v, uint32_t n) {
        if (n == 0)
                return 0;
        nsec_t m = median(v, n), dev[MAX(ENGINE_CLOCK_RING, ENGINE_CLOCK_CONFIRM)];
        for (uint32_t i = 0; i < n; i++)
                dev[i] = nsec_distance(v[i], m);
        return median(dev, n);
}

/* As a standard deviation (× 1.2533 for normal noise); unknown (0) before
 * a few samples. */
static void update_spread(EngineClock *c) {
        c->spread = c->samples >= ENGINE_CLOCK_SAMPLES_MIN ? c->deviation / 10000 * 12533 : 0;
}

void clock_reset(EngineClock *c, bool configured, nsec_t seed) {
        *c = (EngineClock) {
                .offset = configured ? seed : 0,
                .trusted = configured,
                .configured = configured,
                .seed = configured ? seed : 0,
        };
}

bool engine_clock_is_fresh(const EngineClock *c) {
        return c->observed == 0 && c->samples == 0 && c->n_recent == 0 && c->n_run == 0 &&
               c->n_hypotheses == 0 && c->changed_at == 0 && c->deviation == 0 &&
               c->offset == (c->configured ? c->seed : 0) && c->trusted == c->configured;
}

nsec_t clock_tolerance(const EngineClock *c) {
        return MAX(CLOCK_TOLERANCE_MIN, c->spread * CLOCK_TOLERANCE_SIGMAS);
}

/* The spread decides what is far; nine residuals are too few to know it
 * (the tolerance would shrink by chance and call noise a clock change), so
 * it follows the mean absolute deviation over about the last 32, each
 * clipped at the tolerance so that odd files do not inflate it. */
#define DEVIATION_MEMORY 32

static void deviation_add(EngineClock *c, nsec_t dev, uint32_t memory) {
        dev = MIN(dev, clock_tolerance(c));
        c->deviation += (dev - c->deviation) / (nsec_t) MAX(memory, 1u);
        update_spread(c);
}

static nsec_t recent_median(const EngineClock *c) {
        return c->sorted[(c->n_recent - 1) / 2];
}

/* The ring kept sorted beside it: a median per residual costs a shift of
 * at most nine values, not a sort. */
static void sorted_replace(EngineClock *c, bool evict, nsec_t old, nsec_t r) {
        uint32_t n = c->n_recent;
        if (evict) {
                uint32_t i = 0;
                while (i < n && c->sorted[i] != old)
                        i++;
                memmove(c->sorted + i, c->sorted + i + 1, (n - i - 1) * sizeof(nsec_t));
                n--;
        }
        uint32_t j = n;
        while (j > 0 && c->sorted[j - 1] > r) {
                c->sorted[j] = c->sorted[j - 1];
                j--;
        }
        c->sorted[j] = r;
}

void clock_sort_recent(EngineClock *c) {
        memcpy(c->sorted, c->recent, c->n_recent * sizeof(nsec_t));
        sort_small(c->sorted, c->n_recent);
}

/* Returns the median of the recent residuals, r included. The deviation is
 * r's from the median before it: measured against a median that includes
 * it, the first few would all look like no deviation at all. */
static nsec_t recent_add(EngineClock *c, nsec_t r) {
        bool before = c->n_recent > 0, full = c->n_recent == ENGINE_CLOCK_RING;
        nsec_t predicted = before ? recent_median(c) : 0;
        sorted_replace(c, full, full ? c->recent[c->next_recent] : 0, r);
        c->recent[c->next_recent] = r;
        c->next_recent = (c->next_recent + 1) % ENGINE_CLOCK_RING;
        c->n_recent = MIN(c->n_recent + 1, (uint32_t) ENGINE_CLOCK_RING);
        if (c->samples < UINT32_MAX)
                c->samples++;
        if (c->observed < UINT32_MAX)
                c->observed++;
        if (before)
                deviation_add(c, nsec_distance(r, predicted), MIN(c->samples - 1, (uint32_t) DEVIATION_MEMORY));
        return recent_median(c);
}

/* Starts again from values that agree with each other: what a clock that
 * was set looks like from now on. */
static ClockOutcome replace(EngineClock *c, const nsec_t *v, uint32_t n, nsec_t at) {
        nsec_t before = c->offset;
        bool was_trusted = c->trusted;

        c->offset = median(v, n);
        memcpy(c->recent, v, n * sizeof(nsec_t));
        c->n_recent = n;
        c->next_recent = n % ENGINE_CLOCK_RING;
        clock_sort_recent(c);
        /* Setting a clock does not change its noise: what was known of it
         * stays. */
        if (c->samples < ENGINE_CLOCK_SAMPLES_MIN)
                c->deviation = deviation_of(v, n);
        c->samples = n;
        update_spread(c);
        c->trusted = true;
        c->n_run = c->n_hypotheses = 0;
        if (!was_trusted)
                return CLOCK_LEARNED;
        c->previous = before;
        c->changed_at = at;
        return CLOCK_CHANGED;
}

/* Appends r to a run of consecutive values that agree with each other, or
 * starts a new run with it; returns the run's length. */
static uint32_t run_add(nsec_t *run, uint32_t *n, nsec_t r, nsec_t tolerance) {
        if (*n > 0 && nsec_distance(r, median(run, *n)) > tolerance)
                *n = 0;
        run[(*n)++] = r;
        return *n;
}

ClockOutcome clock_add_sample(EngineClock *c, nsec_t residual, nsec_t at) {
        nsec_t tolerance = clock_tolerance(c);

        /* Far from a trusted offset: an odd file, or the first of a clock
         * that was set. Only a confirmed run tells which, and only once the
         * spread is known from a ring of residuals: until then the median
         * alone resists odd files. */
        if (c->trusted && c->observed >= ENGINE_CLOCK_RING && nsec_distance(residual, c->offset) > tolerance) {
                /* Counted at the tolerance in the spread, slowly: a camera
                 * noisier than its spread says sees it grow, not its clock
                 * change; a clock that was set barely moves it. */
                if (c->samples >= ENGINE_CLOCK_SAMPLES_MIN)
                        deviation_add(c, tolerance, DEVIATION_MEMORY);
                if (run_add(c->run, &c->n_run, residual, tolerance) < ENGINE_CLOCK_CONFIRM)
                        return CLOCK_UPDATED;
                return replace(c, c->run, c->n_run, at);
        }

        /* A file where its offset says: the orphans that looked steady
         * were not this camera's clock moving. */
        c->n_run = c->n_hypotheses = 0;
        nsec_t before = c->offset, m = recent_add(c, residual);
        if (c->n_recent < ENGINE_CLOCK_SAMPLES_MIN)
                return CLOCK_UPDATED;
        c->offset = m;
        /* First learned, or first replacing ClockOffsetSec=. */
        if (!c->trusted || (c->configured && c->n_recent == ENGINE_CLOCK_SAMPLES_MIN && c->samples == c->n_recent)) {
                c->trusted = true;
                c->previous = before;
                return CLOCK_LEARNED;
        }
        return CLOCK_UPDATED;
}

ClockOutcome clock_add_spread(EngineClock *c, nsec_t residual) {
        (void) recent_add(c, residual);
        return CLOCK_UPDATED;
}

static nsec_t hypothesis_value(const EngineClock *c, uint32_t h) {
        return median(c->hypotheses[h], MIN(c->hypothesis_runs[h], (uint32_t) ENGINE_CLOCK_CONFIRM));
}

ClockOutcome clock_add_orphan(EngineClock *c, const nsec_t *residuals, uint32_t n, nsec_t at) {
        nsec_t tolerance = clock_tolerance(c);
        bool used[ENGINE_CLOCK_HYPOTHESES] = {};
        uint32_t kept = 0;

        n = MIN(n, (uint32_t) ENGINE_CLOCK_HYPOTHESES);
        /* A hypothesis lives on while each orphan has a residual that
         * matches it; the aliases of a wrong one (another shot's trigger)
         * drift away as soon as shots are not evenly spaced. */
        for (uint32_t h = 0; h < c->n_hypotheses; h++) {
                nsec_t v = hypothesis_value(c, h);
                int best = -1;
                for (uint32_t i = 0; i < n; i++)
                        if (!used[i] && nsec_distance(residuals[i], v) <= tolerance &&
                            (best < 0 || nsec_distance(residuals[i], v) < nsec_distance(residuals[best], v)))
                                best = (int) i;
                if (best < 0)
                        continue;
                used[best] = true;
                uint32_t runs = c->hypothesis_runs[h];
                if (kept != h)
                        memcpy(c->hypotheses[kept], c->hypotheses[h], sizeof c->hypotheses[h]);
                c->hypotheses[kept][runs % ENGINE_CLOCK_CONFIRM] = residuals[best];
                c->hypothesis_runs[kept] = runs == UINT32_MAX ? runs : runs + 1;
                kept++;
        }
        for (uint32_t i = 0; i < n && kept < ENGINE_CLOCK_HYPOTHESES; i++)
                if (!used[i]) {
                        c->hypotheses[kept][0] = residuals[i];
                        c->hypothesis_runs[kept++] = 1;
                }
        c->n_hypotheses = kept;

        /* Only one may have held long enough: two that did are aliases of
         * each other (shots evenly spaced), and either could be the clock. */
        int confirmed = -1;
        for (uint32_t h = 0; h < c->n_hypotheses; h++)
                if (c->hypothesis_runs[h] >= ENGINE_CLOCK_CONFIRM) {
                        if (confirmed >= 0)
                                return CLOCK_NONE;
                        confirmed = (int) h;
                }
        if (confirmed < 0)
                return CLOCK_NONE;
        nsec_t v[ENGINE_CLOCK_CONFIRM], before = c->offset;
        memcpy(v, c->hypotheses[confirmed], sizeof v);
        ClockOutcome o = replace(c, v, ENGINE_CLOCK_CONFIRM, at);
        if (o == CLOCK_LEARNED)
                c->previous = before;
        return o;
}

/* 3 × 1.2533 / √n, × 10⁴: three standard errors of the median of n
 * residuals, in standard deviations. */
static const int64_t standard_errors[ENGINE_CLOCK_RING + 1] = {
        0, 37599, 26587, 21708, 18800, 16815, 15350, 14211, 13293, 12533,
};

nsec_t clock_offset_in_use(const EngineClock *c) {
        if (!c->trusted)
                return c->seed;
        /* A camera whose files scatter widely around an offset near its seed
         * would only add the estimate's own noise: files at the window's
         * edge would fall out of it. */
        nsec_t noise = c->spread / 10000 * standard_errors[MIN(c->n_recent, (uint32_t) ENGINE_CLOCK_RING)];
        return nsec_distance(c->offset, c->seed) > noise ? c->offset : c->seed;
}

static bool value_ok(nsec_t v) {
        return v >= -CLOCK_VALUE_MAX && v <= CLOCK_VALUE_MAX;
}

int clock_check(const EngineClock *c) {
        if (!c || c->n_recent > ENGINE_CLOCK_RING || c->next_recent >= ENGINE_CLOCK_RING ||
            c->n_run >= ENGINE_CLOCK_CONFIRM || c->n_hypotheses > ENGINE_CLOCK_HYPOTHESES || c->spread < 0 ||
            c->spread > CLOCK_VALUE_MAX || c->deviation < 0 || c->deviation > CLOCK_VALUE_MAX || !value_ok(c->offset) || !value_ok(c->seed) || !value_ok(c->previous) ||
            (!c->configured && c->seed != 0))
                return -EINVAL;
        for (uint32_t i = 0; i < c->n_recent; i++)
                if (!value_ok(c->recent[i]))
                        return -EINVAL;
        for (uint32_t i = 0; i < c->n_run; i++)
                if (!value_ok(c->run[i]))
                        return -EINVAL;
        for (uint32_t h = 0; h < c->n_hypotheses; h++) {
                if (c->hypothesis_runs[h] == 0)
                        return -EINVAL;
                for (uint32_t i = 0; i < MIN(c->hypothesis_runs[h], (uint32_t) ENGINE_CLOCK_CONFIRM); i++)
                        if (!value_ok(c->hypotheses[h][i]))
                                return -EINVAL;
        }
        return 0;
}
