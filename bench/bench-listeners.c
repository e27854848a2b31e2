/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* N passive D-Bus clients of shotsyncd in one process: N connections, each
 * subscribed to every signal of the interface and its PropertiesChanged,
 * like N desktop widgets, but without N processes competing for the CPU.
 * bench-latency.py runs it to separate what many subscribers cost the
 * daemon and the bus from what N processes cost a 2-core machine.
 * Prints "ready N" on stdout once every match is in place, runs until
 * SIGTERM, then prints how many signals the connections received.
 *
 *   bench-listeners ADDRESS [N]      (default 50)
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#define BUS_MATCH "type='signal',path='/org/shotsync/Shotsync1'"

static unsigned long long n_received;

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        n_received++;
        return 0;
}

static int on_term(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

int main(int argc, char **argv) {
        if (argc < 2 || argc > 3) {
                fprintf(stderr, "usage: %s ADDRESS [N]\n", argv[0]);
                return 2;
        }
        int n = argc == 3 ? atoi(argv[2]) : 50;
        if (n <= 0 || n > 1000) {
                fprintf(stderr, "N must be 1..1000\n");
                return 2;
        }

        sd_event *event = NULL;
        sd_bus **buses = calloc((size_t) n, sizeof(sd_bus *));
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        r = buses ? sd_event_default(&event) : -ENOMEM;
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGTERM, on_term, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, on_term, NULL);
        for (int i = 0; r >= 0 && i < n; i++) {
                r = sd_bus_new(&buses[i]);
                if (r >= 0)
                        r = sd_bus_set_address(buses[i], argv[1]);
                if (r >= 0)
                        r = sd_bus_set_bus_client(buses[i], 1);
                if (r >= 0)
                        r = sd_bus_start(buses[i]);
                /* Synchronous: "ready" must mean every match is installed. */
                if (r >= 0)
                        r = sd_bus_add_match(buses[i], NULL, BUS_MATCH, on_signal, NULL);
                if (r >= 0)
                        r = sd_bus_attach_event(buses[i], event, SD_EVENT_PRIORITY_NORMAL);
        }
        if (r < 0) {
                fprintf(stderr, "bench-listeners: %s\n", strerror(-r));
                return 1;
        }
        printf("ready %d\n", n);
        fflush(stdout);

        r = sd_event_loop(event);
        printf("received %llu signals on %d connections\n", n_received, n);
        for (int i = 0; i < n; i++)
                sd_bus_flush_close_unref(buses[i]);
        free(buses);
        sd_event_unref(event);
        return r < 0 ? 1 : 0;
}
