/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* shotsyncctl monitor: every signal of the interface, PropertiesChanged, and
 * the service coming and going, one line each as they happen. The matches
 * name no sender, so they outlive any one shotsyncd: a restarted service is
 * heard without re-subscribing. */

#include <signal.h>
#include <stdio.h>
#include <systemd/sd-event.h>

#include "shotsyncctl.h"

typedef struct Monitor {
        sd_event *event;
        JsonMode json; /* JSON_OFF or JSON_SHORT: one object per line */
} Monitor;

/* Argument names as in the interface (dbus/org.shotsync.Shotsync1.xml). */
static const struct {
        const char *name, *signature;
        const char *args[8];
} known_signals[] = {
        { "ShotOpened",
          "ssstttas",
          { "shot_id", "trigger_camera", "trigger_path", "trigger_usec", "window_start_usec", "window_end_usec",
            "expected_cameras" } },
        { "ImageAssigned", "ssstb", { "shot_id", "camera", "raw_path", "mtime_usec", "late" } },
        { "ShotClosed", "ssa{ss}as", { "shot_id", "status", "images", "missing_cameras" } },
        { "ShotUpdated", "ssa{ss}as", { "shot_id", "status", "images", "missing_cameras" } },
        { "ImageOrphaned", "sst", { "camera", "raw_path", "mtime_usec" } },
        { "ImageIgnored", "sss", { "camera", "raw_path", "reason" } },
        { "Fired", "sa(sssst)", { "shot_id", "results" } },
        { "CameraClockChanged", "sxx", { "camera", "offset_usec", "previous_offset_usec" } },
};

static const char *const fire_result_fields[] = { "camera", "port", "status", "message", "latency_usec" };

/* ---- defensive access to the arguments ---- */

static JsonNode *arg_node(JsonArray *a, guint i) {
        return a && i < json_array_get_length(a) ? json_array_get_element(a, i) : NULL;
}

static const char *arg_str(JsonArray *a, guint i) {
        JsonNode *n = arg_node(a, i);
        return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING ? json_node_get_string(n) :
                                                                                                "?";
}

static uint64_t arg_usec(JsonArray *a, guint i) {
        JsonNode *n = arg_node(a, i);
        return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64 ?
                       (uint64_t) MAX(json_node_get_int(n), 0) :
                       0;
}

static bool arg_bool(JsonArray *a, guint i) {
        JsonNode *n = arg_node(a, i);
        return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN &&
               json_node_get_boolean(n);
}

static JsonArray *arg_array(JsonArray *a, guint i) {
        JsonNode *n = arg_node(a, i);
        return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

static JsonObject *arg_object(JsonArray *a, guint i) {
        JsonNode *n = arg_node(a, i);
        return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/* A value inside PropertiesChanged or an unknown signal, briefly. */
static char *format_value(JsonNode *n) {
        if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
                return g_strdup(json_node_get_string(n));
        if (JSON_NODE_HOLDS_ARRAY(n)) {
                JsonArray *a = json_node_get_array(n);
                bool strings = true;
                for (guint i = 0; i < json_array_get_length(a); i++) {
                        JsonNode *e = json_array_get_element(a, i);
                        strings = strings && JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING;
                }
                if (strings)
                        return json_join_strings(a, ",");
        }
        g_autoptr(JsonGenerator) g = json_generator_new();
        json_generator_set_root(g, n);
        return json_generator_to_data(g, NULL);
}

/* ---- one line per signal ---- */

static bool signal_known(const char *member, const char *signature) {
        for (size_t i = 0; i < ELEMENTSOF(known_signals); i++)
                if (streq(member, known_signals[i].name))
                        return streq_ptr(signature, known_signals[i].signature);
        return false;
}

static void format_line(GString *s, const char *member, bool known, JsonArray *a) {
        char t1[CTL_TIME_MAX], t2[CTL_TIME_MAX];

        g_string_append(s, member);
        if (!known)
                for (guint i = 0; a && i < json_array_get_length(a); i++) {
                        g_autofree char *v = format_value(json_array_get_element(a, i));
                        g_string_append_printf(s, " %s", v);
                }
        else if (streq(member, "ShotOpened")) {
                g_autofree char *expected = json_join_strings(arg_array(a, 6), ",");
                const char *camera = arg_str(a, 1), *path = arg_str(a, 2);
                g_string_append_printf(s, " %s trigger=%s", arg_str(a, 0), isempty(camera) ? "Fire" : camera);
                if (!isempty(path))
                        g_string_append_printf(s, " path=%s", path);
                g_string_append_printf(s, " window=%s–%s expected=%s", ctl_time_of_day(arg_usec(a, 4), t1),
                                       ctl_time_of_day(arg_usec(a, 5), t2), expected);
        } else if (streq(member, "ImageAssigned"))
                g_string_append_printf(s, " %s %s %s late=%s mtime=%s", arg_str(a, 0), arg_str(a, 1), arg_str(a, 2),
                                       arg_bool(a, 4) ? "yes" : "no", ctl_time_of_day(arg_usec(a, 3), t1));
        else if (streq(member, "ShotClosed") || streq(member, "ShotUpdated")) {
                g_autofree char *missing = json_join_strings(arg_array(a, 3), ",");
                JsonObject *images = arg_object(a, 2);
                g_string_append_printf(s, " %s %s missing=%s images=%u", arg_str(a, 0), arg_str(a, 1), missing,
                                       images ? json_object_get_size(images) : 0);
        } else if (streq(member, "ImageOrphaned"))
                g_string_append_printf(s, " %s %s mtime=%s", arg_str(a, 0), arg_str(a, 1),
                                       ctl_time_of_day(arg_usec(a, 2), t1));
        else if (streq(member, "ImageIgnored"))
                g_string_append_printf(s, " %s %s reason=%s", arg_str(a, 0), arg_str(a, 1), arg_str(a, 2));
        else if (streq(member, "CameraClockChanged"))
                g_string_append_printf(s, " %s offset=%+.3fs was=%+.3fs", arg_str(a, 0), (double) json_element_int(a, 1) / 1e6,
                                       (double) json_element_int(a, 2) / 1e6);
        else if (streq(member, "Fired")) {
                JsonArray *results = arg_array(a, 1);
                g_string_append_printf(s, " %s results=", isempty(arg_str(a, 0)) ? "-" : arg_str(a, 0));
                guint n = results ? json_array_get_length(results) : 0;
                for (guint i = 0; i < n; i++) {
                        JsonArray *r = arg_array(results, i);
                        g_string_append_printf(s, "%s%s:%s", i > 0 ? "," : "", arg_str(r, 0), arg_str(r, 2));
                }
                if (n == 0)
                        g_string_append(s, "-");
        }
}

/* Fired's results as objects rather than bare structs. */
static JsonNode *fire_results_json(JsonArray *results) {
        g_autoptr(JsonArray) out = json_array_new();
        for (guint i = 0; results && i < json_array_get_length(results); i++) {
                JsonArray *r = arg_array(results, i);
                JsonObject *o = json_object_new();
                for (guint k = 0; k < ELEMENTSOF(fire_result_fields); k++) {
                        JsonNode *v = arg_node(r, k);
                        json_object_set_member(o, fire_result_fields[k], v ? json_node_copy(v) : json_node_new(JSON_NODE_NULL));
                }
                json_array_add_object_element(out, o);
        }
        return json_node_init_array(json_node_alloc(), out);
}

static JsonNode *signal_json(const char *member, bool known, JsonArray *a) {
        g_autoptr(JsonObject) o = json_object_new();

        json_object_set_string_member(o, "signal", member);
        for (size_t i = 0; known && i < ELEMENTSOF(known_signals); i++) {
                if (!streq(member, known_signals[i].name))
                        continue;
                for (guint k = 0; k < json_array_get_length(a) && known_signals[i].args[k]; k++) {
                        JsonNode *v = json_array_get_element(a, k);
                        if (streq(member, "Fired") && k == 1)
                                json_object_set_member(o, known_signals[i].args[k], fire_results_json(arg_array(a, 1)));
                        else
                                json_object_set_member(o, known_signals[i].args[k], json_node_copy(v));
                }
                return json_node_init_object(json_node_alloc(), o);
        }
        json_object_set_array_member(o, "args", json_array_ref(a));
        return json_node_init_object(json_node_alloc(), o);
}

static int emit(Monitor *mon, JsonNode *json, const char *line) {
        if (mon->json) {
                if (json_print(json, JSON_SHORT) < 0)
                        return sd_event_exit(mon->event, CTL_EXIT_FAILURE);
                return 0;
        }
        if (puts(line) == EOF || fflush(stdout) == EOF)
                return sd_event_exit(mon->event, CTL_EXIT_FAILURE);
        return 0;
}

static int read_args(sd_bus_message *m, JsonArray *out) {
        for (;;) {
                int r = sd_bus_message_at_end(m, true);
                if (r < 0)
                        return r;
                if (r > 0)
                        return 0;
                JsonNode *n;
                r = bus_message_read_json(m, &n);
                if (r < 0)
                        return r;
                json_array_add_element(out, n);
        }
}

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Monitor *mon = userdata;
        const char *member = sd_bus_message_get_member(m);
        g_autoptr(JsonArray) args = json_array_new();

        if (!member)
                return 0;
        int r = read_args(m, args);
        if (r < 0) {
                errno = -r;
                fprintf(stderr, "Cannot read signal %s: %m.\n", member);
                return 0;
        }
        bool known = signal_known(member, sd_bus_message_get_signature(m, true));
        g_autoptr(JsonNode) json = signal_json(member, known, args);
        g_autoptr(GString) line = g_string_new(NULL);
        format_line(line, member, known, args);
        return emit(mon, json, line->str);
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Monitor *mon = userdata;
        g_autoptr(JsonArray) args = json_array_new();

        int r = read_args(m, args);
        if (r < 0 || !streq(arg_str(args, 0), BUS_INTERFACE))
                return 0;
        JsonObject *changed = arg_object(args, 1);
        JsonArray *invalidated = arg_array(args, 2);

        g_autoptr(JsonObject) o = json_object_new();
        json_object_set_string_member(o, "signal", "PropertiesChanged");
        json_object_set_string_member(o, "interface", BUS_INTERFACE);
        json_object_set_object_member(o, "changed", changed ? json_object_ref(changed) : json_object_new());
        json_object_set_array_member(o, "invalidated", invalidated ? json_array_ref(invalidated) : json_array_new());
        g_autoptr(JsonNode) json = json_node_init_object(json_node_alloc(), o);

        g_autoptr(GString) line = g_string_new("PropertiesChanged");
        g_autoptr(GList) names = changed ? json_object_get_members(changed) : NULL;
        for (GList *l = names; l; l = l->next) {
                g_autofree char *v = format_value(json_object_get_member(changed, l->data));
                g_string_append_printf(line, " %s=%s", (const char *) l->data, v);
        }
        for (guint i = 0; invalidated && i < json_array_get_length(invalidated); i++)
                g_string_append_printf(line, " %s=<invalidated>", arg_str(invalidated, i));
        return emit(mon, json, line->str);
}

static int emit_service(Monitor *mon, const char *what, const char *owner) {
        g_autoptr(JsonObject) o = json_object_new();
        json_object_set_string_member(o, "signal", what);
        json_object_set_string_member(o, "owner", owner);
        g_autoptr(JsonNode) json = json_node_init_object(json_node_alloc(), o);
        g_autofree char *line = g_strdup_printf("%s owner=%s", what, owner);
        return emit(mon, json, line);
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Monitor *mon = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) <= 0 || !streq(name, BUS_NAME))
                return 0;
        int r = 0;
        if (!isempty(old_owner))
                r = emit_service(mon, "ServiceStopped", old_owner);
        if (r >= 0 && !isempty(new_owner))
                r = emit_service(mon, "ServiceStarted", new_owner);
        return r;
}

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Monitor *mon = userdata;
        g_autofree char *where = ctl_bus_description();
        fprintf(stderr, "Disconnected from %s.\n", where);
        return sd_event_exit(mon->event, CTL_EXIT_NOT_RUNNING);
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int add_matches(sd_bus *bus, Monitor *mon) {
        int r;

        r = sd_bus_match_signal(bus, NULL, NULL, BUS_PATH, BUS_INTERFACE, NULL, on_signal, mon);
        if (r >= 0)
                r = sd_bus_add_match(bus, NULL,
                                     "type='signal',path='" BUS_PATH "',interface='org.freedesktop.DBus.Properties',"
                                     "member='PropertiesChanged',arg0='" BUS_INTERFACE "'",
                                     on_properties_changed, mon);
        if (r >= 0)
                r = sd_bus_add_match(bus, NULL,
                                     "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                     "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" BUS_NAME "'",
                                     on_name_owner_changed, mon);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                        "org.freedesktop.DBus.Local", "Disconnected", on_disconnected, mon);
        return r;
}

/* Tells the user, on stderr, whether shotsyncd is there now. Printed once
 * every subscription is in place, so a script may wait for this line. */
static void announce(sd_bus *bus) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        g_autofree char *where = ctl_bus_description();
        const char *owner = NULL;

        int r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                   "GetNameOwner", &error, &reply, "s", BUS_NAME);
        if (r >= 0 && sd_bus_message_read(reply, "s", &owner) <= 0)
                owner = NULL;
        if (owner)
                fprintf(stderr, "Monitoring shotsyncd on %s (running as %s). Press Ctrl+C to stop.\n", where, owner);
        else
                fprintf(stderr, "Monitoring shotsyncd on %s (not running now; waiting for it). Press Ctrl+C to stop.\n",
                        where);
        fflush(stderr);
}

int verb_monitor(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        Monitor mon = { .json = arg_json ? JSON_SHORT : JSON_OFF };
        sigset_t mask;
        int r;

        r = ctl_connect(&bus);
        if (r > 0)
                return r;

        r = sd_event_default(&event);
        if (r < 0)
                goto fail;
        mon.event = event;

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                r = negative_errno();
                goto fail;
        }
        r = sd_event_add_signal(event, NULL, SIGINT, on_exit_signal, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGTERM, on_exit_signal, NULL);
        if (r >= 0)
                r = add_matches(bus, &mon);
        if (r >= 0)
                r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                goto fail;

        announce(bus);
        r = sd_event_loop(event);
        (void) sd_bus_detach_event(bus);
        if (r < 0)
                goto fail;
        return r;

fail:
        errno = -r;
        fprintf(stderr, "Cannot monitor shotsyncd: %m.\n");
        return r == -EACCES || r == -EPERM ? CTL_EXIT_ACCESS_DENIED : CTL_EXIT_FAILURE;
}
