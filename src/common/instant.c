/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <ctype.h>
#include <time.h>

#include "instant.h"

/* Digits, then optionally '.' and more digits, as ns of `unit` ns. */
static int parse_decimal(const char **p, nsec_t unit, nsec_t *ret) {
        const char *s = *p;
        nsec_t whole = 0, frac = 0;

        if (!isdigit((unsigned char) *s))
                return -EINVAL;
        for (; isdigit((unsigned char) *s); s++) {
                whole = whole * 10 + (*s - '0');
                if (whole > INT64_MAX / unit - 1) /* room for the fraction too */
                        return -ERANGE;
        }
        if (*s == '.') {
                s++;
                if (!isdigit((unsigned char) *s))
                        return -EINVAL;
                /* Beyond the nanosecond, digits are read and dropped. */
                nsec_t scale = unit;
                for (; isdigit((unsigned char) *s); s++) {
                        scale /= 10;
                        frac += (*s - '0') * scale;
                }
        }
        *p = s;
        *ret = whole * unit + frac;
        return 0;
}

static int parse_fixed(const char **p, unsigned digits, int max, int *ret) {
        int v = 0;
        for (unsigned i = 0; i < digits; i++) {
                if (!isdigit((unsigned char) (*p)[i]))
                        return -EINVAL;
                v = v * 10 + ((*p)[i] - '0');
        }
        if (v > max)
                return -ERANGE;
        *p += digits;
        *ret = v;
        return 0;
}

static int parse_delay(const char *s, Instant *ret) {
        static const struct {
                const char *name;
                nsec_t ns;
        } units[] = {
                { "us", 1000 }, { "µs", 1000 }, { "ms", 1000000 }, { "s", NSEC_PER_SEC }, { "min", 60 * NSEC_PER_SEC },
        };
        const char *p = s;
        size_t digits = strspn(p, "0123456789.");

        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                if (!streq(p + digits, units[i].name))
                        continue;
                nsec_t v;
                int r = parse_decimal(&p, units[i].ns, &v);
                if (r < 0)
                        return r;
                if (p != s + digits)
                        return -EINVAL;
                *ret = (Instant) { .relative = true, .value = v };
                return 0;
        }
        return -EINVAL;
}

/* "Z", "+HH", "+HHMM" or "+HH:MM": seconds east of UTC. */
static int parse_zone(const char *p, long *ret) {
        int h = 0, m = 0, r;
        if (streq(p, "Z")) {
                *ret = 0;
                return 0;
        }
        if (*p != '+' && *p != '-')
                return -EINVAL;
        int sign = *p++ == '-' ? -1 : 1;
        r = parse_fixed(&p, 2, 23, &h);
        if (r < 0)
                return r;
        if (*p == ':')
                p++;
        if (*p) {
                r = parse_fixed(&p, 2, 59, &m);
                if (r < 0)
                        return r;
        }
        if (*p)
                return -EINVAL;
        *ret = sign * (h * 3600L + m * 60L);
        return 0;
}

static int parse_clock_time(const char *s, nsec_t now, Instant *ret) {
        const char *p = s;
        struct tm tm = { .tm_isdst = -1 };
        int r;

        /* The date: given, or the local date of now. */
        if (strlen(p) >= 10 && p[4] == '-' && p[7] == '-') {
                int y, mo, d;
                if ((r = parse_fixed(&p, 4, 9999, &y)) < 0 || *p++ != '-' || (r = parse_fixed(&p, 2, 12, &mo)) < 0 ||
                    *p++ != '-' || (r = parse_fixed(&p, 2, 31, &d)) < 0)
                        return r < 0 ? r : -EINVAL;
                if (mo == 0 || d == 0)
                        return -ERANGE;
                if (*p != 'T' && *p != ' ')
                        return -EINVAL;
                p++;
                tm.tm_year = y - 1900;
                tm.tm_mon = mo - 1;
                tm.tm_mday = d;
        } else {
                time_t sec = (time_t) (now / NSEC_PER_SEC);
                struct tm today;
                if (!localtime_r(&sec, &today))
                        return -EINVAL;
                tm.tm_year = today.tm_year;
                tm.tm_mon = today.tm_mon;
                tm.tm_mday = today.tm_mday;
        }

        nsec_t frac = 0;
        if ((r = parse_fixed(&p, 2, 23, &tm.tm_hour)) < 0 || *p++ != ':' || (r = parse_fixed(&p, 2, 59, &tm.tm_min)) < 0)
                return r < 0 ? r : -EINVAL;
        if (*p == ':') {
                p++;
                nsec_t sec;
                r = parse_decimal(&p, NSEC_PER_SEC, &sec);
                if (r < 0)
                        return r;
                if (sec >= 60 * NSEC_PER_SEC)
                        return -ERANGE;
                tm.tm_sec = (int) (sec / NSEC_PER_SEC);
                frac = sec % NSEC_PER_SEC;
        }

        time_t t;
        if (*p) {
                long off;
                r = parse_zone(p, &off);
                if (r < 0)
                        return r;
                t = timegm(&tm);
                if (t == (time_t) -1)
                        return -ERANGE;
                t -= off;
        } else {
                /* mktime() finds the offset in force at that local time. */
                t = mktime(&tm);
                if (t == (time_t) -1)
                        return -ERANGE;
        }
        if (t < 0 || (int64_t) t > INT64_MAX / NSEC_PER_SEC - 1)
                return -ERANGE;
        *ret = (Instant) { .relative = false, .value = (nsec_t) t * NSEC_PER_SEC + frac };
        return 0;
}

int instant_parse(const char *s, nsec_t now, Instant *ret) {
        if (isempty(s))
                return -EINVAL;
        if (s[0] == '+')
                return parse_delay(s + 1, ret);
        if (s[0] == '@') {
                const char *p = s + 1;
                nsec_t v;
                int r = parse_decimal(&p, NSEC_PER_SEC, &v);
                if (r < 0)
                        return r;
                if (*p)
                        return -EINVAL;
                *ret = (Instant) { .relative = false, .value = v };
                return 0;
        }
        return parse_clock_time(s, now, ret);
}
