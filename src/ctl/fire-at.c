/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* shotsyncctl fire --at=: one instant, every shotsyncd named (SPEC §6).
 *
 * Every target is opened and asked for its properties at once, on one
 * sd-event loop; the instant is chosen when every one has answered (a
 * +DELAY counts from then, so that a slow connection — ssh to a far host —
 * does not eat it, and a host that is down is known before anything is
 * fired); then FireAt goes to every target that answered, again at once,
 * and one table is printed when every reply is in. Asynchronous calls on
 * one loop, not a thread per target: the calls all leave within a few
 * hundred µs, and it is the instant, not the call, that fires the
 * cameras. A target that fails says so in its row; the others fire. */

#include <stdio.h>
#include <systemd/sd-event.h>

#include "instant.h"
#include "shotsyncctl.h"

#define FIRE_AFTER_INSTANT_USEC (65 * USEC_PER_SEC) /* CaptureTimeoutSec and more: the daemon answers first */

typedef struct Host {
        const Target *target;
        char *where;
        sd_bus *bus;
        sd_bus_slot *slot;
        unsigned *pending;

        int status;  /* 0, or the exit status of its failure */
        char *error; /* why it failed, or NULL */
        bool clock_known, synchronized;
        uint64_t clock_error_usec;
        sd_bus_message *reply; /* FireAt's */
} Host;

static void host_done(Host *h) {
        h->slot = sd_bus_slot_unref(h->slot);
        (*h->pending)--;
}

static bool host_failed(Host *h, sd_bus_message *m, const char *action) {
        if (!sd_bus_message_is_method_error(m, NULL))
                return false;
        h->status = ctl_error_sentence(sd_bus_message_get_error(m), -sd_bus_message_get_errno(m), action, NULL,
                                       h->where, &h->error);
        return true;
}

static int read_clock(Host *h, sd_bus_message *m) {
        const char *name;
        int r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                if (streq(name, "ClockSynchronized")) {
                        int b;
                        r = sd_bus_message_read(m, "v", "b", &b);
                        h->synchronized = b;
                        h->clock_known = r >= 0;
                } else if (streq(name, "ClockErrorUsec"))
                        r = sd_bus_message_read(m, "v", "t", &h->clock_error_usec);
                else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        return r < 0 ? r : sd_bus_message_exit_container(m);
}

static int on_properties(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Host *h = userdata;
        host_done(h);
        if (host_failed(h, m, "read shotsyncd's properties"))
                return 0;
        int r = read_clock(h, m);
        if (r < 0) {
                h->status = CTL_EXIT_FAILURE;
                h->error = g_strdup_printf("Unexpected reply from shotsyncd to GetAll: %s.", g_strerror(-r));
        }
        return 0;
}

static int on_fired(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Host *h = userdata;
        host_done(h);
        if (!host_failed(h, m, "fire the cameras"))
                h->reply = sd_bus_message_ref(m);
        return 0;
}

static void hosts_free(Host *hosts, size_t n) {
        for (size_t i = 0; i < n; i++) {
                Host *h = &hosts[i];
                sd_bus_slot_unref(h->slot);
                sd_bus_message_unref(h->reply);
                sd_bus_flush_close_unref(h->bus);
                g_free(h->where);
                g_free(h->error);
        }
        g_free(hosts);
}

static int run_until_answered(sd_event *e, const unsigned *pending) {
        while (*pending > 0) {
                int r = sd_event_run(e, UINT64_MAX);
                if (r < 0)
                        return r;
        }
        return 0;
}

static char *format_offset(int64_t usec) {
        return g_strdup_printf("%+" PRIi64 " µs", usec);
}

/* One host's rows (and JSON), from its reply or its failure; returns how
 * many of its cameras failed. */
static unsigned host_rows(Host *h, uint64_t at_usec, Table *t, JsonArray *hosts, JsonArray *results) {
        const char *name = ctl_target_name(h->target);
        const char *shot_id = "";
        unsigned failed = 0;
        int r = 0;

        if (!h->error && h->reply) {
                const char *camera, *port, *status, *message;
                uint64_t departure;

                r = sd_bus_message_read(h->reply, "s", &shot_id);
                if (r >= 0)
                        r = sd_bus_message_enter_container(h->reply, 'a', "(sssst)");
                while (r >= 0 &&
                       (r = sd_bus_message_read(h->reply, "(sssst)", &camera, &port, &status, &message, &departure)) > 0) {
                        int64_t offset = (int64_t) departure - (int64_t) at_usec;
                        g_autofree char *off = departure > 0 ? format_offset(offset) : NULL;
                        table_add_row(t, name, shot_id, camera, status, off, message);
                        failed += !streq(status, "ok");

                        JsonObject *o = json_object_new();
                        json_object_set_string_member(o, "host", name);
                        json_object_set_string_member(o, "shot_id", shot_id);
                        json_object_set_string_member(o, "camera", camera);
                        json_object_set_string_member(o, "port", port);
                        json_object_set_string_member(o, "status", status);
                        json_object_set_string_member(o, "message", message);
                        json_object_set_int_member(o, "departure_usec", departure > INT64_MAX ? 0 : (int64_t) departure);
                        if (departure > 0)
                                json_object_set_int_member(o, "offset_usec", offset);
                        else
                                json_object_set_null_member(o, "offset_usec");
                        json_array_add_object_element(results, o);
                }
                if (r < 0) {
                        h->status = CTL_EXIT_FAILURE;
                        h->error = g_strdup_printf("Unexpected reply from shotsyncd to FireAt: %s.", g_strerror(-r));
                }
        }
        if (h->error) {
                /* The host's own row: what the user typed, and why. */
                table_add_row(t, name, NULL, NULL, "error", NULL, h->error);
                shot_id = "";
        }

        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "host", name);
        json_object_set_string_member(o, "status", h->error ? "error" : "ok");
        json_object_set_string_member(o, "shot_id", shot_id);
        json_object_set_string_member(o, "message", h->error ?: "");
        if (h->clock_known) {
                json_object_set_boolean_member(o, "clock_synchronized", h->synchronized);
                json_object_set_int_member(o, "clock_error_usec",
                                           h->clock_error_usec > INT64_MAX ? INT64_MAX : (int64_t) h->clock_error_usec);
        } else {
                json_object_set_null_member(o, "clock_synchronized");
                json_object_set_null_member(o, "clock_error_usec");
        }
        json_array_add_object_element(hosts, o);
        return failed;
}

int verb_fire_at(int argc, char **argv) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        Instant instant;
        unsigned pending = 0;
        int r;

        r = instant_parse(arg_at, now_realtime(), &instant);
        if (r < 0) {
                fprintf(stderr,
                        "Not an instant: '%s'. Use +DELAY (+500ms, +2s, +1.5s), @EPOCH[.FRACTION], "
                        "HH:MM[:SS[.FRACTION]] or YYYY-MM-DDTHH:MM[:SS[.FRACTION]][Z|+HH:MM].\n",
                        arg_at);
                return CTL_EXIT_USAGE;
        }
        r = sd_event_new(&e);
        if (r < 0) {
                fprintf(stderr, "Cannot create an event loop: %s.\n", g_strerror(-r));
                return CTL_EXIT_FAILURE;
        }

        size_t n = arg_targets && arg_targets->len > 0 ? arg_targets->len : 1;
        Host *hosts = g_new0(Host, n);
        for (size_t i = 0; i < n; i++) {
                Host *h = &hosts[i];
                h->target = arg_targets && arg_targets->len > 0 ? &g_array_index(arg_targets, Target, i) : ctl_target();
                h->where = ctl_target_description(h->target);
                h->pending = &pending;
                r = ctl_open(h->target, &h->bus);
                if (r >= 0)
                        r = sd_bus_attach_event(h->bus, e, SD_EVENT_PRIORITY_NORMAL);
                if (r >= 0)
                        r = sd_bus_call_method_async(h->bus, &h->slot, BUS_NAME, BUS_PATH, "org.freedesktop.DBus.Properties",
                                                     "GetAll", on_properties, h, "s", BUS_INTERFACE);
                if (r < 0) {
                        h->status = ctl_open_failed(h->target, r, &h->error);
                        continue;
                }
                pending++;
        }
        r = run_until_answered(e, &pending);

        /* The instant, once for all. */
        nsec_t at = instant.relative ? now_realtime() + instant.value : instant.value;
        uint64_t at_usec = (uint64_t) MAX(at, 0) / NSEC_PER_USEC;
        nsec_t ahead = at - now_realtime();
        uint64_t timeout = (ahead > 0 ? (uint64_t) (ahead / NSEC_PER_USEC) : 0) + FIRE_AFTER_INSTANT_USEC;

        for (size_t i = 0; r >= 0 && i < n; i++) {
                Host *h = &hosts[i];
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
                if (h->error)
                        continue;
                int k = ctl_new_call(h->bus, "FireAt", &call);
                if (k >= 0)
                        k = sd_bus_message_append(call, "t", at_usec);
                if (k >= 0)
                        k = sd_bus_call_async(h->bus, &h->slot, call, on_fired, h, timeout);
                if (k < 0) {
                        h->status = CTL_EXIT_FAILURE;
                        h->error = g_strdup_printf("Cannot call FireAt on %s: %s.", h->where, g_strerror(-k));
                        continue;
                }
                pending++;
        }
        if (r >= 0)
                r = run_until_answered(e, &pending);
        if (r < 0) {
                fprintf(stderr, "Event loop failed: %s.\n", g_strerror(-r));
                hosts_free(hosts, n);
                return CTL_EXIT_FAILURE;
        }

        _cleanup_(table_freep) Table *t = table_new("HOST", "SHOT", "CAMERA", "STATUS", "OFFSET", "MESSAGE", NULL);
        table_align_right(t, 4);
        g_autoptr(JsonArray) jhosts = json_array_new();
        g_autoptr(JsonArray) jresults = json_array_new();
        unsigned failed = 0, cameras = 0;
        int status = 0;
        bool mixed = false;
        for (size_t i = 0; i < n; i++) {
                size_t before = table_rows(t);
                unsigned host_failed = host_rows(&hosts[i], at_usec, t, jhosts, jresults);
                failed += host_failed;
                if (!hosts[i].error)
                        cameras += (unsigned) (table_rows(t) - before);
                int s = hosts[i].status;
                if (s == 0 && host_failed > 0)
                        s = CTL_EXIT_FAILURE;
                if (s != 0) {
                        mixed = mixed || (status != 0 && status != s);
                        status = s;
                }
        }

        if (arg_json) {
                g_autoptr(JsonObject) o = json_object_new();
                json_object_set_int_member(o, "at_usec", (int64_t) at_usec);
                json_object_set_array_member(o, "hosts", json_array_ref(jhosts));
                json_object_set_array_member(o, "results", json_array_ref(jresults));
                g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), o);
                if (json_print(node, arg_json) < 0)
                        status = CTL_EXIT_FAILURE;
        } else {
                char when[ISO8601_MAX];
                printf("Instant %s.\n", format_iso8601(at, when));
                if (arg_legend)
                        putchar('\n');
                table_print(t, stdout);
        }

        for (size_t i = 0; i < n; i++)
                if (hosts[i].error)
                        fprintf(stderr, "%s: %s\n", ctl_target_name(hosts[i].target), hosts[i].error);
        if (failed > 0)
                fprintf(stderr, "%u of %u camera%s failed to capture.\n", failed, cameras, cameras == 1 ? "" : "s");
        hosts_free(hosts, n);
        return mixed ? CTL_EXIT_FAILURE : status;
}
