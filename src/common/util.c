/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <glib.h>
#include <stdio.h>
#include <fcntl.h>
#include <time.h>

#include "util.h"

usec_t now_monotonic(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

nsec_t now_realtime(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (nsec_t) ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static int split(nsec_t t, time_t *sec, long *nsec) {
        nsec_t s = t / NSEC_PER_SEC, ns = t % NSEC_PER_SEC;
        if (ns < 0) {
                ns += NSEC_PER_SEC;
                s--;
        }
        *sec = (time_t) s;
        *nsec = (long) ns;
        return 0;
}

static int local_tm(nsec_t t, struct tm *tm, long *nsec) {
        time_t sec;
        split(t, &sec, nsec);
        if (!localtime_r(&sec, tm))
                return -EINVAL;
        return 0;
}

int local_date(nsec_t t, uint32_t *ret) {
        struct tm tm;
        long ns;
        if (local_tm(t, &tm, &ns) < 0)
                return -EINVAL;
        if (tm.tm_year + 1900 < 1000 || tm.tm_year + 1900 > 9999)
                return -ERANGE;
        *ret = (uint32_t) ((tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday);
        return 0;
}

int next_local_day(nsec_t t, nsec_t *ret) {
        struct tm tm;
        long ns;
        if (local_tm(t, &tm, &ns) < 0)
                return -EINVAL;
        /* mktime() normalises the 32nd and, with tm_isdst = -1, finds the
         * offset in force then; a midnight skipped by a time change gives
         * the first instant of the new day instead. */
        struct tm next = { .tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = tm.tm_mday + 1, .tm_isdst = -1 };
        time_t s = mktime(&next);
        if (s == (time_t) -1)
                return -EINVAL;
        nsec_t r = (nsec_t) s * NSEC_PER_SEC;
        if (r <= t)
                return -EINVAL;
        *ret = r;
        return 0;
}

char *format_iso8601(nsec_t t, char buf[static ISO8601_MAX]) {
        struct tm tm;
        long ns;
        if (local_tm(t, &tm, &ns) < 0) {
                snprintf(buf, ISO8601_MAX, "invalid");
                return buf;
        }
        long off = tm.tm_gmtoff;
        char sign = off < 0 ? '-' : '+';
        if (off < 0)
                off = -off;
        /* Bounded fields keep the text within the buffer whatever the libc. */
        snprintf(buf, ISO8601_MAX, "%04u-%02u-%02uT%02u:%02u:%02u.%06u%c%02u:%02u",
                 (unsigned) (tm.tm_year + 1900) % 10000u, (unsigned) (tm.tm_mon + 1) % 100u, (unsigned) tm.tm_mday % 100u,
                 (unsigned) tm.tm_hour % 100u, (unsigned) tm.tm_min % 100u, (unsigned) tm.tm_sec % 100u,
                 (unsigned) (ns / 1000) % 1000000u, sign, (unsigned) (off / 3600) % 100u, (unsigned) (off % 3600) / 60u);
        return buf;
}

char *format_hhmmss(nsec_t t, char buf[static 7]) {
        struct tm tm;
        long ns;
        if (local_tm(t, &tm, &ns) < 0) {
                snprintf(buf, 7, "000000");
                return buf;
        }
        snprintf(buf, 7, "%02u%02u%02u", (unsigned) tm.tm_hour % 100u, (unsigned) tm.tm_min % 100u,
                 (unsigned) tm.tm_sec % 100u);
        return buf;
}

char *format_time_of_day(nsec_t t, char buf[static TIME_OF_DAY_MAX]) {
        struct tm tm;
        long ns;
        if (local_tm(t, &tm, &ns) < 0) {
                snprintf(buf, TIME_OF_DAY_MAX, "?");
                return buf;
        }
        snprintf(buf, TIME_OF_DAY_MAX, "%02u:%02u:%02u.%03u", (unsigned) tm.tm_hour % 100u, (unsigned) tm.tm_min % 100u,
                 (unsigned) tm.tm_sec % 100u, (unsigned) (ns / 1000000));
        return buf;
}

int parse_date(const char *s, uint32_t *ret) {
        if (!s || strlen(s) != 8)
                return -EINVAL;
        for (int i = 0; i < 8; i++)
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
        int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
        int m = (s[4] - '0') * 10 + (s[5] - '0');
        int d = (s[6] - '0') * 10 + (s[7] - '0');
        if (y < 1000 || !g_date_valid_dmy((GDateDay) d, (GDateMonth) m, (GDateYear) y))
                return -EINVAL;
        *ret = (uint32_t) (y * 10000 + m * 100 + d);
        return 0;
}

char *utf8_escape_invalid(const char *s) {
        GString *out = g_string_sized_new(strlen(s) + 8);
        const char *p = s;

        while (*p) {
                const char *end;
                if (*p == '\\') {
                        g_string_append(out, "\\\\");
                        p++;
                        continue;
                }
                /* Longest valid UTF-8 prefix up to the next backslash. */
                const char *bs = strchr(p, '\\');
                gssize len = bs ? bs - p : (gssize) strlen(p);
                if (g_utf8_validate(p, len, &end)) {
                        g_string_append_len(out, p, len);
                        p += len;
                        continue;
                }
                g_string_append_len(out, p, end - p);
                p = end;
                g_string_append_printf(out, "\\x%02x", (unsigned char) *p);
                p++;
        }
        return g_string_free(out, false);
}

char *xstrdup(const char *s) {
        char *r = strdup(s);
        if (!r)
                g_error("out of memory");
        return r;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

char *utf8_unescape(const char *s) {
        GString *out = g_string_sized_new(strlen(s));
        for (const char *p = s; *p; p++) {
                if (*p != '\\') {
                        g_string_append_c(out, *p);
                        continue;
                }
                if (p[1] == '\\') {
                        g_string_append_c(out, '\\');
                        p++;
                        continue;
                }
                int h, l;
                if (p[1] != 'x' || (h = hexval(p[2])) < 0 || (l = hexval(p[3])) < 0 || (h == 0 && l == 0)) {
                        g_string_free(out, true);
                        return NULL;
                }
                g_string_append_c(out, (char) (h << 4 | l));
                p += 3;
        }
        return g_string_free(out, false);
}

int write_file_atomic(const char *dir, const char *name, const void *data, size_t len, mode_t mode) {
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return negative_errno();

        g_autofree char *tmp = g_strdup_printf(".#%s.%08x", name, g_random_int());
        _cleanup_close_ int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd < 0)
                return negative_errno();

        int r = 0;
        const char *p = data;
        size_t left = len;
        while (left > 0) {
                ssize_t n = write(fd, p, left);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        break;
                }
                p += n;
                left -= (size_t) n;
        }
        if (r == 0 && fsync(fd) < 0)
                r = negative_errno();
        if (r == 0 && renameat(dfd, tmp, dfd, name) < 0)
                r = negative_errno();
        if (r < 0) {
                (void) unlinkat(dfd, tmp, 0);
                return r;
        }
        if (fsync(dfd) < 0)
                return negative_errno();
        return 0;
}
