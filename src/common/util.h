/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small helpers shared by every part of shotsync: cleanup attributes in the
 * systemd style, time types, and errno-returning wrappers. */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

typedef int64_t nsec_t;  /* CLOCK_REALTIME nanoseconds: file mtimes, trigger times */
typedef uint64_t usec_t; /* CLOCK_MONOTONIC microseconds: timeouts, grace periods */

#define USEC_INFINITY ((usec_t) UINT64_MAX)
#define NSEC_PER_SEC ((nsec_t) 1000000000LL)
#define USEC_PER_SEC ((usec_t) 1000000ULL)
#define NSEC_PER_USEC ((nsec_t) 1000LL)

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

static inline void freep(void *p) {
        free(*(void **) p);
}

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* Hands a pointer over to the caller, leaving NULL behind so that the
 * cleanup attribute on the source does nothing. */
#define TAKE_PTR(p)                              \
        ({                                       \
                __typeof__(p) _p_ = (p);         \
                (p) = NULL;                      \
                _p_;                             \
        })
#define TAKE_FD(fd)                              \
        ({                                       \
                int _fd_ = (fd);                 \
                (fd) = -1;                       \
                _fd_;                            \
        })

static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

static inline bool isempty(const char *s) {
        return !s || !*s;
}

usec_t now_monotonic(void);
nsec_t now_realtime(void);

/* Local calendar date of a realtime instant as YYYYMMDD, -EINVAL when the
 * instant cannot be represented. */
int local_date(nsec_t t, uint32_t *ret);

/* The first realtime instant after t whose local date differs from t's: the
 * next local midnight, or what stands for it where a time change skips it.
 * -EINVAL when not representable. */
int next_local_day(nsec_t t, nsec_t *ret);

#define ISO8601_MAX 64

/* ISO 8601 local time with microseconds and UTC offset,
 * e.g. "2026-11-23T14:05:09.123456+01:00". */
char *format_iso8601(nsec_t t, char buf[static ISO8601_MAX]);

/* "HHMMSS" of a realtime instant in local time; buf needs 7 bytes. */
char *format_hhmmss(nsec_t t, char buf[static 7]);

#define TIME_OF_DAY_MAX 16

/* Local time of day with milliseconds, "HH:MM:SS.mmm" ("?" when t cannot be
 * represented): for people reading logs and tables. */
char *format_time_of_day(nsec_t t, char buf[static TIME_OF_DAY_MAX]);

/* Parses "YYYYMMDD" strictly (a real calendar date). */
int parse_date(const char *s, uint32_t *ret);

/* Makes a string safe for D-Bus and logs, reversibly: every byte that is not
 * part of valid UTF-8 becomes "\xNN" and a backslash becomes "\\". Names
 * synced from Windows never hold a backslash, so in practice only invalid
 * bytes change. Returns a newly allocated string. */
char *utf8_escape_invalid(const char *s);

/* strdup() that aborts on OOM: the daemon cannot do anything useful without
 * memory, and GLib has the same policy. */
char *xstrdup(const char *s);

static inline nsec_t sat_add(nsec_t a, nsec_t b) {
        nsec_t r;
        if (__builtin_add_overflow(a, b, &r))
                return b > 0 ? INT64_MAX : INT64_MIN;
        return r;
}

static inline nsec_t sat_sub(nsec_t a, nsec_t b) {
        nsec_t r;
        if (__builtin_sub_overflow(a, b, &r))
                return b < 0 ? INT64_MAX : INT64_MIN;
        return r;
}

/* |a - b|, saturated. */
static inline nsec_t nsec_distance(nsec_t a, nsec_t b) {
        return a > b ? sat_sub(a, b) : sat_sub(b, a);
}

static inline usec_t usec_add(usec_t a, usec_t b) {
        usec_t r;
        if (__builtin_add_overflow(a, b, &r))
                return USEC_INFINITY;
        return r;
}

/* The inverse of utf8_escape_invalid(); NULL when s is not in that form. */
char *utf8_unescape(const char *s);

/* Writes data to dir/name atomically and durably: a temporary file in dir,
 * fsync, rename over name, fsync of dir. */
int write_file_atomic(const char *dir, const char *name, const void *data, size_t len, mode_t mode);

/* qsort() that accepts an empty (possibly NULL) array. */
static inline void qsort_safe(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *)) {
        if (n > 1)
                qsort(base, n, size, cmp);
}

/* True when path is dir or below it ("/home/x" is below "/home", "/homes" is not). */
static inline bool path_startswith_dir(const char *path, const char *dir) {
        size_t n = strlen(dir);
        return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == 0);
}
