/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "bus-manager.h"
#include "config-build.h"
#include "log.h"
#include "manager.h"

static void help(void) {
        printf("Usage: shotsyncd [OPTIONS]\n\n"
               "Groups the images of each laser shot from cloud-synced camera folders,\n"
               "publishes them into a clean folder and announces them on D-Bus.\n\n"
               "  -c --config=PATH      Read PATH and PATH.d/*.conf only. Default:\n"
               "                        %s/shotsync/shotsync.conf if it exists, and the\n"
               "                        drop-ins shotsync.conf.d/*.conf of %s/shotsync,\n"
               "                        %s/shotsync and %s/shotsync\n"
               "  -s --state-dir=DIR    State directory (default $STATE_DIRECTORY, else\n"
               "                        %s/lib/shotsync)\n"
               "     --once             Group what is on disk now, publish, print a summary\n"
               "                        and exit (no bus needed); every file, however old,\n"
               "                        unless --since/--until limit it\n"
               "     --since=TIME       With --once: only files from TIME on\n"
               "     --until=TIME       With --once: only files up to TIME (TIME: YYYYMMDD,\n"
               "                        \"YYYY-MM-DD HH:MM[:SS]\" local time, or @EPOCH)\n"
               "     --user             Use the session bus instead of the system bus\n"
               "     --log-level=LEVEL  err, warning, notice, info (default) or debug\n"
               "  -h --help             Show this help\n"
               "     --version          Show the version\n\n"
               "See shotsyncd(8) and shotsync.conf(5).\n",
               SYSCONFDIR, VENDORDIR, RUNSTATEDIR, SYSCONFDIR, LOCALSTATEDIR);
}

static char *default_state_dir(void) {
        const char *e = getenv("STATE_DIRECTORY");
        if (!isempty(e)) {
                /* Several directories are ':'-separated; ours is the first. */
                const char *colon = strchr(e, ':');
                return colon ? g_strndup(e, (gsize) (colon - e)) : g_strdup(e);
        }
        return g_strdup(LOCALSTATEDIR "/lib/shotsync");
}

/* YYYYMMDD (the day's start, or its end for --until), "YYYY-MM-DD
 * HH:MM[:SS]" in local time, or @EPOCH[.frac]. */
static int parse_time_arg(const char *s, bool end_of_day, nsec_t *ret) {
        uint32_t d;
        if (s[0] == '@') {
                char *end;
                errno = 0;
                double v = g_ascii_strtod(s + 1, &end);
                if (errno != 0 || end == s + 1 || *end || v < 0 || v > 1e11)
                        return -EINVAL;
                *ret = (nsec_t) (v * 1e9);
                return 0;
        }
        if (parse_date(s, &d) >= 0) {
                g_autoptr(GDateTime) t = g_date_time_new_local((int) (d / 10000), (int) (d / 100 % 100), (int) (d % 100), 0,
                                                               0, 0);
                if (!t)
                        return -EINVAL;
                g_autoptr(GDateTime) e = end_of_day ? g_date_time_add_days(t, 1) : g_date_time_ref(t);
                *ret = (nsec_t) g_date_time_to_unix(e) * NSEC_PER_SEC - (end_of_day ? 1 : 0);
                return 0;
        }
        int y, mo, da, h, mi;
        double sec = 0;
        char tail;
        if (sscanf(s, "%4d-%2d-%2d %2d:%2d:%lf%c", &y, &mo, &da, &h, &mi, &sec, &tail) != 6 &&
            sscanf(s, "%4d-%2d-%2d %2d:%2d%c", &y, &mo, &da, &h, &mi, &tail) != 5)
                return -EINVAL;
        g_autoptr(GDateTime) t = g_date_time_new_local(y, mo, da, h, mi, sec);
        if (!t)
                return -EINVAL;
        *ret = (nsec_t) g_date_time_to_unix(t) * NSEC_PER_SEC + (nsec_t) g_date_time_get_microsecond(t) * 1000;
        return 0;
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        log_info("Received %s, finishing.", strsignal((int) si->ssi_signo));
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) manager_reload(userdata, NULL);
        return 0;
}

int main(int argc, char *argv[]) {
        enum { ARG_ONCE = 0x100, ARG_USER, ARG_VERSION, ARG_LOG_LEVEL, ARG_SINCE, ARG_UNTIL };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "state-dir", required_argument, NULL, 's' },
                { "once", no_argument, NULL, ARG_ONCE },
                { "since", required_argument, NULL, ARG_SINCE },
                { "until", required_argument, NULL, ARG_UNTIL },
                { "user", no_argument, NULL, ARG_USER },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        ManagerOptions o = { .since = INT64_MIN, .until = INT64_MAX };
        g_autofree char *state_dir = NULL;
        int c, r;

        log_setup();
        while ((c = getopt_long(argc, argv, "c:s:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        o.config_path = optarg;
                        break;
                case 's':
                        g_free(state_dir);
                        state_dir = g_strdup(optarg);
                        break;
                case ARG_ONCE:
                        o.once = true;
                        break;
                case ARG_SINCE:
                case ARG_UNTIL:
                        if (parse_time_arg(optarg, c == ARG_UNTIL, c == ARG_SINCE ? &o.since : &o.until) < 0) {
                                log_error("--%s=%s: not a date (YYYYMMDD), a local time (\"YYYY-MM-DD HH:MM[:SS]\") "
                                          "nor @EPOCH.",
                                          c == ARG_SINCE ? "since" : "until", optarg);
                                return 2;
                        }
                        break;
                case ARG_USER:
                        o.user_bus = true;
                        break;
                case ARG_LOG_LEVEL:
                        r = log_level_from_string(optarg);
                        if (r < 0) {
                                log_error("Unknown log level '%s'.", optarg);
                                return 2;
                        }
                        log_set_max_level(r);
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("shotsyncd %s\n", PACKAGE_VERSION);
                        return 0;
                default:
                        return 2;
                }
        if ((o.since != INT64_MIN || o.until != INT64_MAX) && !o.once) {
                log_error("--since and --until go with --once: the service groups what is newer than "
                          "[Watch] MaxAgeSec=.");
                return 2;
        }
        if (o.since > o.until) {
                log_error("--since is after --until.");
                return 2;
        }
        if (optind < argc) {
                log_error("Unexpected argument '%s'; see --help.", argv[optind]);
                return 2;
        }
        if (!state_dir)
                state_dir = default_state_dir();
        o.state_dir = state_dir;

        /* A camera or client that goes away must not kill us with SIGPIPE. */
        signal(SIGPIPE, SIG_IGN);

        _cleanup_manager_ Manager *m = NULL;
        r = manager_new(&o, &m);
        if (r < 0)
                return 1;

        if (o.once) {
                r = manager_run_once(m);
                return r < 0 ? 1 : 0;
        }

        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        if (sd_event_add_signal(m->event, &m->sigterm, SIGTERM, on_exit_signal, m) < 0 ||
            sd_event_add_signal(m->event, &m->sigint, SIGINT, on_exit_signal, m) < 0 ||
            sd_event_add_signal(m->event, &m->sighup, SIGHUP, on_sighup, m) < 0) {
                log_error("Cannot watch signals.");
                return 1;
        }

        r = bus_manager_connect(m);
        if (r < 0)
                return 1;
        r = manager_start(m);
        if (r < 0)
                return 1;

        notifier_send(m->notifier, "READY=1");
        manager_update_status(m);
        log_info("shotsyncd %s running: watching %s, publishing to %s.", PACKAGE_VERSION, m->config->raw_root,
                 m->config->clean_root);

        r = sd_event_loop(m->event);
        if (r < 0) {
                log_error_errno(r, "Event loop failed: %m");
                manager_shutdown(m);
                return 1;
        }
        manager_shutdown(m);
        log_info("Stopped.");
        return 0;
}
