/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* shotsyncctl fire --at=: the instants it accepts (TZ=Europe/Paris). */

#include <glib.h>

#include "instant.h"

/* 2025-12-11 11:50:00.250 local (10:50 UTC). */
#define NOW ((nsec_t) 1765450200 * NSEC_PER_SEC + 250000000)

static void check(const char *s, bool relative, nsec_t value) {
        Instant i = { .relative = !relative, .value = -1 };
        int r = instant_parse(s, NOW, &i);
        if (r < 0)
                g_error("'%s': %s", s, g_strerror(-r));
        g_assert_true(i.relative == relative);
        g_assert_cmpint(i.value, ==, value);
}

static void check_error(const char *s, int error) {
        Instant i;
        g_assert_cmpint(instant_parse(s, NOW, &i), ==, error);
}

static void test_delays(void) {
        check("+500ms", true, 500 * 1000000LL);
        check("+2s", true, 2 * NSEC_PER_SEC);
        check("+1.5s", true, 1500 * 1000000LL);
        check("+300ms", true, 300 * 1000000LL);
        check("+250000us", true, 250 * 1000000LL);
        check("+250µs", true, 250 * 1000LL);
        check("+0.0000000019s", true, 1);
        check("+1min", true, 60 * NSEC_PER_SEC);
        check("+0.25min", true, 15 * NSEC_PER_SEC);

        check_error("+500", -EINVAL); /* no unit: 500 what? */
        check_error("+", -EINVAL);
        check_error("+ms", -EINVAL);
        check_error("+.5s", -EINVAL);
        check_error("+1.s", -EINVAL);
        check_error("+1.5.5s", -EINVAL);
        check_error("+5 s", -EINVAL);
        check_error("+5h", -EINVAL);
        check_error("+-5s", -EINVAL);
        check_error("+99999999999999999999s", -ERANGE);
}

static void test_epoch(void) {
        check("@1765450200", false, (nsec_t) 1765450200 * NSEC_PER_SEC);
        check("@1765450200.5", false, (nsec_t) 1765450200 * NSEC_PER_SEC + 500000000);
        check("@1765450200.123456789", false, (nsec_t) 1765450200 * NSEC_PER_SEC + 123456789);
        check_error("@", -EINVAL);
        check_error("@12x", -EINVAL);
        check_error("@-5", -EINVAL);
}

static void test_clock_times(void) {
        nsec_t midnight_utc = (nsec_t) 1765411200 * NSEC_PER_SEC; /* 2025-12-11 00:00 UTC */
        /* Today, local time (UTC+1 in December). */
        check("11:50:01", false, midnight_utc + (10 * 3600 + 50 * 60 + 1) * NSEC_PER_SEC);
        check("11:50:01.3", false, midnight_utc + (10 * 3600 + 50 * 60 + 1) * NSEC_PER_SEC + 300000000);
        check("11:51", false, midnight_utc + (10 * 3600 + 51 * 60) * NSEC_PER_SEC);
        check("00:30:00", false, midnight_utc - 1800 * NSEC_PER_SEC);
        /* ISO 8601, local or with a zone. */
        check("2025-12-11T11:50:00.75", false, midnight_utc + (10 * 3600 + 50 * 60) * NSEC_PER_SEC + 750000000);
        check("2025-12-11 11:50:00", false, midnight_utc + (10 * 3600 + 50 * 60) * NSEC_PER_SEC);
        check("2025-12-11T10:50:00Z", false, midnight_utc + (10 * 3600 + 50 * 60) * NSEC_PER_SEC);
        check("2025-12-11T12:50:00+02:00", false, midnight_utc + (10 * 3600 + 50 * 60) * NSEC_PER_SEC);
        check("2025-12-11T12:50:00+0200", false, midnight_utc + (10 * 3600 + 50 * 60) * NSEC_PER_SEC);
        /* Summer time: the offset in force on that date. */
        check("2025-07-01T16:00:00", false, (nsec_t) 1751378400 * NSEC_PER_SEC);

        check_error("", -EINVAL);
        check_error("soon", -EINVAL);
        check_error("1:50", -EINVAL);
        check_error("11:5", -EINVAL);
        check_error("24:00", -ERANGE);
        check_error("11:60", -ERANGE);
        check_error("11:50:60", -ERANGE);
        check_error("11:50:00 ", -EINVAL);
        check_error("2025-13-11T11:50:00", -ERANGE);
        check_error("2025-12-11", -EINVAL);
        check_error("2025-12-11T11:50:00+2", -EINVAL);
        check_error("2025-12-11T11:50:00Q", -EINVAL);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/instant/delays", test_delays);
        g_test_add_func("/instant/epoch", test_epoch);
        g_test_add_func("/instant/clock-times", test_clock_times);
        return g_test_run();
}
