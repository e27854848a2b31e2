/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* FireAt's clock rules: the host clock's state from adjtimex(2), and which
 * instants can be armed. */

#include <glib.h>

#include "fire-clock.h"

static void test_state(void) {
        /* What chronyd leaves: synchronised, its estimate. */
        struct timex tx = { .status = STA_PLL, .esterror = 230, .maxerror = 1500 };
        HostClock c = host_clock_from_timex(TIME_OK, &tx);
        g_assert_true(c.synchronized);
        g_assert_cmpuint(c.error_usec, ==, 230);
        g_assert_null(host_clock_note(&c));

        /* A leap second pending is still synchronised. */
        c = host_clock_from_timex(TIME_INS, &tx);
        g_assert_true(c.synchronized);

        /* Nothing steers the clock: what the kernel starts with. */
        tx = (struct timex) { .status = STA_UNSYNC, .esterror = 16000000, .maxerror = 16000000 };
        c = host_clock_from_timex(TIME_ERROR, &tx);
        g_assert_false(c.synchronized);
        g_assert_cmpuint(c.error_usec, ==, 16000000);
        g_autofree char *note = host_clock_note(&c);
        g_assert_cmpstr(note, ==, "clock not synchronised (estimated error 16000 ms)");

        /* Either sign of it is enough. */
        tx.status = 0;
        g_assert_false(host_clock_from_timex(TIME_ERROR, &tx).synchronized);
        tx.status = STA_UNSYNC;
        g_assert_false(host_clock_from_timex(TIME_OK, &tx).synchronized);

        /* The kernel never reports a negative error; if it did, 0. */
        tx = (struct timex) { .esterror = -5 };
        g_assert_cmpuint(host_clock_from_timex(TIME_OK, &tx).error_usec, ==, 0);

        /* And the real call works here, whatever the state. */
        HostClock now;
        g_assert_cmpint(host_clock_read(&now), ==, 0);
}

static void check(nsec_t ahead_ns, FireAtVerdict expect, const char *why) {
        nsec_t now = (nsec_t) 1765450200 * NSEC_PER_SEC;
        g_autofree char *text = NULL;
        g_assert_cmpint(fire_at_check(now + ahead_ns, now, &text), ==, expect);
        g_assert_cmpstr(text, ==, why);
}

static void test_check(void) {
        const nsec_t ms = 1000000;
        check(300 * ms, FIRE_AT_OK, NULL);
        check(20 * ms, FIRE_AT_OK, NULL);
        check(60000 * ms, FIRE_AT_OK, NULL);
        check(-1500 * ms, FIRE_AT_TOO_LATE, "The instant has passed: it was 1500.0 ms ago.");
        check(0, FIRE_AT_TOO_LATE, "The instant has passed: it was 0.0 ms ago.");
        check(5 * ms, FIRE_AT_TOO_LATE,
              "The instant is 5.0 ms away; arming the cameras needs 20 ms: 15.0 ms too late.");
        check(20 * ms - 1, FIRE_AT_TOO_LATE,
              "The instant is 20.0 ms away; arming the cameras needs 20 ms: 0.0 ms too late.");
        check(60000 * ms + 1, FIRE_AT_TOO_FAR, "The instant is 60.0 s ahead; FireAt accepts at most 60 s.");
        check(61000 * ms, FIRE_AT_TOO_FAR, "The instant is 61.0 s ahead; FireAt accepts at most 60 s.");
        check(INT64_MAX / 2, FIRE_AT_TOO_FAR, "The instant is 4611686018.4 s ahead; FireAt accepts at most 60 s.");
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/fire-clock/state", test_state);
        g_test_add_func("/fire-clock/check", test_check);
        return g_test_run();
}
