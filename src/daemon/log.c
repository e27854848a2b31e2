/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <glib.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
/* Our own file and line are of no use to anyone reading the journal. */
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>

#include "log.h"

/* Set once at start-up, before any thread exists. */
static int max_level = LOG_INFO;
static bool to_journal = false;

/* JOURNAL_STREAM is "dev:ino" of the stream stderr was connected to; only
 * when it still is do we talk to the journal directly. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void log_setup(void) {
        to_journal = stderr_is_journal();
}

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

int log_level_from_string(const char *s) {
        static const char *const names[] = { "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" };
        for (int i = 0; i < (int) ELEMENTSOF(names); i++)
                if (streq(s, names[i]))
                        return i;
        if (streq(s, "error"))
                return LOG_ERR;
        return -EINVAL;
}

int log_fields(int level, int error, const char *shot_id, const char *camera, const char *raw_path,
               const char *fmt, ...) {
        int saved = errno;
        if (error < 0)
                error = -error;
        if (level > max_level)
                return -error;

        /* %m means the error passed in, as in systemd. */
        errno = error;
        va_list ap;
        va_start(ap, fmt);
        g_autofree char *msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        if (!g_utf8_validate(msg, -1, NULL)) {
                /* A file name that is not UTF-8: shown escaped, as on D-Bus. */
                char *e = utf8_escape_invalid(msg);
                g_free(msg);
                msg = e;
        }
        g_autofree char *path = raw_path ? utf8_escape_invalid(raw_path) : NULL;

        if (to_journal) {
                g_autofree char *m = g_strconcat("MESSAGE=", msg, NULL);
                g_autofree char *p = g_strdup_printf("PRIORITY=%i", level);
                g_autofree char *s = shot_id ? g_strconcat("SHOT_ID=", shot_id, NULL) : NULL;
                g_autofree char *c = camera ? g_strconcat("CAMERA=", camera, NULL) : NULL;
                g_autofree char *r = path ? g_strconcat("RAW_PATH=", path, NULL) : NULL;
                g_autofree char *e = error ? g_strdup_printf("ERRNO=%i", error) : NULL;
                struct iovec iov[7];
                int n = 0;
#define ADD(x)                                                          \
        do {                                                            \
                if (x)                                                  \
                        iov[n++] = (struct iovec) { (x), strlen(x) };   \
        } while (0)
                ADD(m);
                ADD(p);
                ADD(s);
                ADD(c);
                ADD(r);
                ADD(e);
                char ident[] = "SYSLOG_IDENTIFIER=shotsyncd";
                iov[n++] = (struct iovec) { ident, strlen(ident) };
#undef ADD
                if (sd_journal_sendv(iov, n) >= 0)
                        goto done;
        }
        /* Mid-line \n in a message from a hostile file name would forge
         * log lines; keep one record per line. */
        for (char *q = msg; *q; q++)
                if (*q == '\n' || *q == '\r')
                        *q = ' ';
        fprintf(stderr, "%s\n", msg);
done:
        errno = saved;
        return -error;
}
