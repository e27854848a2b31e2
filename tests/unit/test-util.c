/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <glib.h>

#include "util.h"

static void test_escape(void) {
        static const char *const cases[][2] = {
                { "plain/ascii.tif", "plain/ascii.tif" },
                { "Écran été.png", "Écran été.png" },
                { "bad\xff\xfe.tif", "bad\\xff\\xfe.tif" },
                { "back\\slash", "back\\\\slash" },
                { "mix\\\xc3", "mix\\\\\\xc3" },
                { "", "" },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *e = utf8_escape_invalid(cases[i][0]);
                g_assert_cmpstr(e, ==, cases[i][1]);
                g_assert_true(g_utf8_validate(e, -1, NULL));
                g_autofree char *u = utf8_unescape(e);
                g_assert_cmpstr(u, ==, cases[i][0]);
        }
        /* Every byte value survives the round trip. */
        char all[256];
        for (int i = 1; i < 256; i++)
                all[i - 1] = (char) i;
        all[255] = 0;
        g_autofree char *e = utf8_escape_invalid(all);
        g_autofree char *u = utf8_unescape(e);
        g_assert_cmpstr(u, ==, all);
        g_assert_null(utf8_unescape("bad\\q"));
        g_assert_null(utf8_unescape("bad\\x0"));
        g_assert_null(utf8_unescape("nul\\x00"));
}

static void test_dates(void) {
        uint32_t d;
        g_assert_cmpint(parse_date("20251211", &d), ==, 0);
        g_assert_cmpuint(d, ==, 20251211);
        g_assert_cmpint(parse_date("20240229", &d), ==, 0);
        g_assert_cmpint(parse_date("20250229", &d), <, 0);
        g_assert_cmpint(parse_date("2025121", &d), <, 0);
        g_assert_cmpint(parse_date("2025-12-1", &d), <, 0);
        g_assert_cmpint(parse_date("../../et", &d), <, 0);

        /* TZ=Europe/Paris (meson): 2025-12-11 23:30 UTC is the 12th locally. */
        nsec_t t = (nsec_t) 1765495800 * NSEC_PER_SEC;
        g_assert_cmpint(local_date(t, &d), ==, 0);
        g_assert_cmpuint(d, ==, 20251212);
        char buf[ISO8601_MAX], hms[7];
        g_assert_cmpstr(format_iso8601(t + 123456789, buf), ==, "2025-12-12T00:30:00.123456+01:00");
        g_assert_cmpstr(format_hhmmss(t, hms), ==, "003000");
        char tod[TIME_OF_DAY_MAX];
        g_assert_cmpstr(format_time_of_day(t + 123456789, tod), ==, "00:30:00.123");
        g_assert_cmpstr(format_time_of_day(-1, tod), ==, "00:59:59.999");
        /* Summer time. */
        g_assert_cmpstr(format_iso8601((nsec_t) 1751371200 * NSEC_PER_SEC, buf), ==, "2025-07-01T14:00:00.000000+02:00");
        /* Before 1970. */
        g_assert_cmpstr(format_iso8601(-1, buf), ==, "1970-01-01T00:59:59.999999+01:00");
}

static void test_next_day(void) {
        /* TZ=Europe/Paris (meson). */
        nsec_t next;
        nsec_t t = (nsec_t) 1765495800 * NSEC_PER_SEC; /* 2025-12-12 00:30 local */
        g_assert_cmpint(next_local_day(t, &next), ==, 0);
        g_assert_cmpint(next, ==, (nsec_t) 1765580400 * NSEC_PER_SEC); /* 2025-12-13 00:00 +01:00 */
        /* One nanosecond before midnight, and midnight itself. */
        g_assert_cmpint(next_local_day(next - 1, &next), ==, 0);
        g_assert_cmpint(next, ==, (nsec_t) 1765580400 * NSEC_PER_SEC);
        g_assert_cmpint(next_local_day(next, &next), ==, 0);
        g_assert_cmpint(next, ==, (nsec_t) 1765666800 * NSEC_PER_SEC);
        /* Days of 23 and 25 hours around the time changes. */
        nsec_t spring = (nsec_t) 1774738800 * NSEC_PER_SEC; /* 2026-03-29 00:00 +01:00 */
        g_assert_cmpint(next_local_day(spring, &next), ==, 0);
        g_assert_cmpint(next - spring, ==, (nsec_t) 23 * 3600 * NSEC_PER_SEC);
        nsec_t autumn = (nsec_t) 1792879200 * NSEC_PER_SEC; /* 2026-10-25 00:00 +02:00 */
        g_assert_cmpint(next_local_day(autumn, &next), ==, 0);
        g_assert_cmpint(next - autumn, ==, (nsec_t) 25 * 3600 * NSEC_PER_SEC);
        /* Whatever the instant, the date changes there and not before. */
        for (nsec_t u = autumn - 40 * 3600 * NSEC_PER_SEC; u < autumn + 40 * 3600 * NSEC_PER_SEC;
             u += 3607 * NSEC_PER_SEC) {
                uint32_t d0, d1, d2;
                g_assert_cmpint(next_local_day(u, &next), ==, 0);
                g_assert_cmpint(local_date(u, &d0), ==, 0);
                g_assert_cmpint(local_date(next - 1, &d1), ==, 0);
                g_assert_cmpint(local_date(next, &d2), ==, 0);
                g_assert_cmpuint(d0, ==, d1);
                g_assert_cmpuint(d2, >, d1);
        }
}

static void test_saturation(void) {
        g_assert_cmpint(sat_add(INT64_MAX - 1, 5), ==, INT64_MAX);
        g_assert_cmpint(sat_sub(INT64_MIN + 1, 5), ==, INT64_MIN);
        g_assert_cmpuint(usec_add(USEC_INFINITY - 1, 5), ==, USEC_INFINITY);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/util/escape", test_escape);
        g_test_add_func("/util/dates", test_dates);
        g_test_add_func("/util/next-day", test_next_day);
        g_test_add_func("/util/saturation", test_saturation);
        return g_test_run();
}
