/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* shotsyncctl: the command-line client of shotsyncd (SPEC §6). This file
 * holds the command line, the connection, the translation of D-Bus errors
 * into sentences and exit statuses, and the verbs about the service itself;
 * shotsyncctl-shot.c the verbs about shots, shotsyncctl-monitor.c the
 * monitor. */

#include <getopt.h>
#include <locale.h>
#include <stdio.h>

#include "config-build.h"
#include "shotsyncctl.h"

#define FIRE_TIMEOUT_USEC (60 * USEC_PER_SEC)

JsonMode arg_json = JSON_OFF;
bool arg_legend = true;
bool arg_open_only = false;
GArray *arg_targets = NULL;
const char *arg_at = NULL;

/* ---- targets, connection and errors ---- */

const Target *ctl_target(void) {
        static const Target system_bus = { .kind = TARGET_SYSTEM };
        return arg_targets && arg_targets->len > 0 ? &g_array_index(arg_targets, Target, 0) : &system_bus;
}

const char *ctl_target_name(const Target *t) {
        switch (t->kind) {
        case TARGET_SYSTEM:
                return "localhost";
        case TARGET_USER:
                return "user bus";
        default:
                return t->arg;
        }
}

char *ctl_target_description(const Target *t) {
        switch (t->kind) {
        case TARGET_USER:
                return g_strdup("the session bus");
        case TARGET_ADDRESS:
                return g_strdup_printf("the bus at %s", t->arg);
        case TARGET_HOST:
                return g_strdup_printf("the system bus of host %s", t->arg);
        case TARGET_MACHINE:
                return g_strdup_printf("the system bus of machine %s", t->arg);
        default:
                return g_strdup("the system bus");
        }
}

char *ctl_bus_description(void) {
        return ctl_target_description(ctl_target());
}

int ctl_open(const Target *t, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        switch (t->kind) {
        case TARGET_USER:
                r = sd_bus_open_user(&bus);
                break;
        case TARGET_ADDRESS:
                r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, t->arg);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, true);
                if (r >= 0)
                        r = sd_bus_start(bus);
                break;
        case TARGET_HOST:
                /* ssh to the host, systemd-stdio-bridge there: as systemctl -H. */
                r = sd_bus_open_system_remote(&bus, t->arg);
                break;
        case TARGET_MACHINE:
                r = sd_bus_open_system_machine(&bus, t->arg);
                break;
        default:
                r = sd_bus_open_system(&bus);
        }
        if (r < 0)
                return r;
        (void) sd_bus_set_description(bus, "shotsyncctl");
        *ret = TAKE_PTR(bus);
        return 0;
}

int ctl_open_failed(const Target *t, int r, char **ret_sentence) {
        g_autofree char *where = ctl_target_description(t);
        const char *e = g_strerror(-r);

        if (r == -EACCES || r == -EPERM) {
                *ret_sentence = g_strdup_printf("Access denied to %s: %s.", where, e);
                return CTL_EXIT_ACCESS_DENIED;
        }
        if (r == -EINVAL && t->kind == TARGET_ADDRESS) {
                *ret_sentence = g_strdup_printf("Not a D-Bus address: '%s'.", t->arg);
                return CTL_EXIT_USAGE;
        }
        if (r == -EINVAL && t->kind == TARGET_HOST) {
                *ret_sentence = g_strdup_printf("Not a host: '%s' (-H takes [USER@]HOST[:PORT][/MACHINE]).", t->arg);
                return CTL_EXIT_USAGE;
        }
        if (r == -EINVAL && t->kind == TARGET_MACHINE) {
                *ret_sentence = g_strdup_printf("Not a machine name: '%s' (-M takes [USER@]NAME).", t->arg);
                return CTL_EXIT_USAGE;
        }
        if (t->kind == TARGET_MACHINE && (r == -ENXIO || r == -ENOENT || r == -EHOSTDOWN || r == -ESRCH)) {
                *ret_sentence = g_strdup_printf("No running machine '%s' (machinectl list shows them): %s.", t->arg, e);
                return CTL_EXIT_NOT_RUNNING;
        }
        *ret_sentence = g_strdup_printf("Cannot connect to %s: %s.%s", where, e,
                                        t->kind == TARGET_HOST ? "" : " Is D-Bus running?");
        return CTL_EXIT_NOT_RUNNING;
}

int ctl_connect(sd_bus **ret) {
        const Target *t = ctl_target();
        int r = ctl_open(t, ret);
        if (r < 0) {
                g_autofree char *sentence = NULL;
                int status = ctl_open_failed(t, r, &sentence);
                fprintf(stderr, "%s\n", sentence);
                return status;
        }
        return 0;
}

int ctl_error_sentence(const sd_bus_error *error, int r, const char *action, const char *shot_id, const char *where,
                       char **ret_sentence) {
        const char *msg = error && !isempty(error->message) ? error->message : NULL;
        const char *e = g_strerror(r < 0 ? -r : EIO);
        char **out = ret_sentence;

        if (sd_bus_error_has_name(error, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
            sd_bus_error_has_name(error, SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
                *out = g_strdup_printf("shotsyncd is not running (no owner for %s on %s).", BUS_NAME, where);
                return CTL_EXIT_NOT_RUNNING;
        }
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_ACCESS_DENIED) ||
            (!sd_bus_error_is_set(error) && (r == -EACCES || r == -EPERM))) {
                if (action)
                        *out = g_strdup_printf("Access denied: only root and members of group shotsync may %s.", action);
                else
                        *out = g_strdup_printf("Access denied: %s", msg ?: e);
                return CTL_EXIT_ACCESS_DENIED;
        }
        if (sd_bus_error_has_name(error, BUS_ERROR_PREFIX "NoSuchShot")) {
                *out = shot_id ? g_strdup_printf("No shot %s.", shot_id) : g_strdup(msg ?: "No such shot.");
                return CTL_EXIT_NO_SUCH_SHOT;
        }
        if (sd_bus_error_has_name(error, BUS_ERROR_PREFIX "ShotExists")) {
                *out = g_strdup_printf("%s Shot numbers are never reused: choose a number above the last shot of "
                                       "that day.",
                                       msg ?: "That shot exists.");
                return CTL_EXIT_SHOT_EXISTS;
        }
        if (sd_bus_error_has_name(error, BUS_ERROR_PREFIX "NoCameras")) {
                *out = g_strdup("No camera to fire: no gphoto2 camera is configured or ready "
                                "(see [Trigger] Ports= in shotsync.conf and 'shotsyncctl cameras').");
                return CTL_EXIT_NO_CAMERAS;
        }
        if (sd_bus_error_has_name(error, BUS_ERROR_PREFIX "Busy")) {
                *out = g_strdup("A Fire is already running; try again when it has finished.");
                return CTL_EXIT_BUSY;
        }
        if (sd_bus_error_has_name(error, BUS_ERROR_PREFIX "TooLate")) {
                *out = g_strdup_printf("Too late: %s", msg ?: "the instant has passed.");
                return CTL_EXIT_TOO_LATE;
        }
        if (sd_bus_error_has_name(error, BUS_ERROR_PREFIX "InvalidConfig")) {
                *out = g_strdup_printf("The configuration was refused; shotsyncd keeps running with the previous "
                                       "one.\n%s",
                                       msg ?: "");
                return CTL_EXIT_INVALID_CONFIG;
        }
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_INVALID_ARGS)) {
                *out = g_strdup_printf("Invalid argument: %s", msg ?: "refused by shotsyncd.");
                return CTL_EXIT_USAGE;
        }
        if (r == -ETIMEDOUT || sd_bus_error_has_name(error, SD_BUS_ERROR_NO_REPLY) ||
            sd_bus_error_has_name(error, SD_BUS_ERROR_TIMEOUT)) {
                *out = g_strdup("shotsyncd did not answer in time; it may be stuck (see journalctl -u shotsync).");
                return CTL_EXIT_FAILURE;
        }
        if (r == -ECONNRESET || r == -ENOTCONN || sd_bus_error_has_name(error, SD_BUS_ERROR_DISCONNECTED)) {
                *out = g_strdup_printf("Lost the connection to %s%s%s.", where, msg ? ": " : "", msg ?: "");
                return CTL_EXIT_NOT_RUNNING;
        }
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_UNKNOWN_METHOD) ||
            sd_bus_error_has_name(error, SD_BUS_ERROR_UNKNOWN_OBJECT) ||
            sd_bus_error_has_name(error, SD_BUS_ERROR_UNKNOWN_INTERFACE) ||
            sd_bus_error_has_name(error, SD_BUS_ERROR_UNKNOWN_PROPERTY)) {
                *out = g_strdup_printf("The running shotsyncd does not offer this (%s); is it another version than %s?",
                                       msg ?: error->name, PACKAGE_VERSION);
                return CTL_EXIT_FAILURE;
        }
        *out = g_strdup_printf("Failed to %s: %s", action ?: "talk to shotsyncd", msg ?: e);
        return CTL_EXIT_FAILURE;
}

int ctl_call_failed(const sd_bus_error *error, int r, const char *action, const char *shot_id) {
        g_autofree char *where = ctl_bus_description(), *sentence = NULL;
        int status = ctl_error_sentence(error, r, action, shot_id, where, &sentence);
        fprintf(stderr, "%s\n", sentence);
        return status;
}

int ctl_new_call(sd_bus *bus, const char *member, sd_bus_message **ret) {
        return sd_bus_message_new_method_call(bus, ret, BUS_NAME, BUS_PATH, BUS_INTERFACE, member);
}

int ctl_call(sd_bus *bus, sd_bus_message *call, uint64_t timeout, const char *action, const char *shot_id,
             sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        int r = sd_bus_call(bus, call, timeout, &error, ret_reply);
        if (r < 0)
                return ctl_call_failed(&error, r, action, shot_id);
        return 0;
}

int ctl_get_properties(sd_bus *bus, const char *action, JsonNode **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        g_autoptr(JsonNode) props = NULL;

        int r = sd_bus_message_new_method_call(bus, &call, BUS_NAME, BUS_PATH, "org.freedesktop.DBus.Properties",
                                               "GetAll");
        if (r >= 0)
                r = sd_bus_message_append(call, "s", BUS_INTERFACE);
        if (r < 0)
                return ctl_bad_reply("GetAll", r);
        r = ctl_call(bus, call, 0, action, NULL, &reply);
        if (r > 0)
                return r;
        r = bus_message_read_json(reply, &props);
        if (r < 0 || !JSON_NODE_HOLDS_OBJECT(props))
                return ctl_bad_reply("GetAll", r);
        *ret = g_steal_pointer(&props);
        return 0;
}

int ctl_bad_reply(const char *what, int error) {
        errno = error < 0 ? -error : EBADMSG;
        fprintf(stderr, "Unexpected reply from shotsyncd to %s: %m.\n", what);
        return CTL_EXIT_FAILURE;
}

/* ---- arguments ---- */

bool ctl_shot_id_valid(const char *id) {
        uint32_t date;
        char d[9];

        if (!id || strlen(id) < 12 || strlen(id) > 18 || id[8] != '-')
                return false;
        memcpy(d, id, 8);
        d[8] = 0;
        if (parse_date(d, &date) < 0)
                return false;
        for (const char *p = id + 9; *p; p++)
                if (*p < '0' || *p > '9')
                        return false;
        return true;
}

char *ctl_date_arg(const char *s) {
        uint32_t date;

        if (isempty(s) || streq(s, "today"))
                return g_strdup("");
        if (streq(s, "yesterday")) {
                nsec_t t = sat_sub(now_realtime(), 24 * 3600 * NSEC_PER_SEC);
                if (local_date(t, &date) < 0)
                        return NULL;
                return g_strdup_printf("%08" PRIu32, date);
        }
        if (parse_date(s, &date) < 0)
                return NULL;
        return g_strdup(s);
}

/* ---- status ---- */

static void print_status(JsonObject *p) {
        const int w = 16;
        g_autofree char *cameras = json_join_strings(json_get_array(p, "Cameras"), ", ");
        g_autofree char *triggers = json_join_strings(json_get_array(p, "TriggerCameras"), ", ");
        g_autofree char *open = json_join_strings(json_get_array(p, "OpenShots"), ", ");
        double window = json_get_double(p, "FullWindowSec", -1), timeout = json_get_double(p, "TimeoutSec", -1);
        const char *last = json_get_string(p, "LastShot", "");
        int64_t next = json_get_int(p, "NextShotNumber", -1), rescans = json_get_int(p, "Rescans", -1);

        print_field(w, "Version", "%s", json_get_string(p, "Version", "-"));
        print_field(w, "State", "%s", json_get_string(p, "State", "-"));
        print_field(w, "Raw root", "%s", json_get_string(p, "RawRoot", "-"));
        print_field(w, "Clean root", "%s", json_get_string(p, "CleanRoot", "-"));
        if (window >= 0)
                print_field(w, "Window", "%g s (trigger ± %g s)", window, window / 2);
        if (timeout >= 0)
                print_field(w, "Timeout", "%g s", timeout);
        print_field(w, "Cameras", "%s", cameras);
        print_field(w, "Trigger cameras", "%s", triggers);
        print_field(w, "Open shots", "%s", open);
        print_field(w, "Last shot", "%s", isempty(last) ? "-" : last);
        if (next >= 0)
                print_field(w, "Next shot number", "%03" PRIi64 " (today)", next);
        if (rescans >= 0)
                print_field(w, "Rescans", "%" PRIi64, rescans);
}

int verb_status(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        g_autoptr(JsonNode) props = NULL;

        int r = ctl_connect(&bus);
        if (r > 0)
                return r;
        r = ctl_get_properties(bus, "read the status of shotsyncd", &props);
        if (r > 0)
                return r;

        if (arg_json)
                return json_print(props, arg_json) < 0 ? CTL_EXIT_FAILURE : 0;
        print_status(json_node_get_object(props));
        return 0;
}

/* ---- cameras ---- */

int verb_cameras(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        _cleanup_(table_freep) Table *t = table_new("ID", "MODEL", "PORT", "STATE", NULL);
        g_autoptr(JsonArray) out = json_array_new();
        const char *id, *model, *port, *state;

        int r = ctl_connect(&bus);
        if (r > 0)
                return r;
        r = ctl_new_call(bus, "ListCameras", &call);
        if (r < 0)
                return ctl_bad_reply("ListCameras", r);
        r = ctl_call(bus, call, 0, "list the cameras", NULL, &reply);
        if (r > 0)
                return r;

        r = sd_bus_message_enter_container(reply, 'a', "(ssss)");
        if (r < 0)
                return ctl_bad_reply("ListCameras", r);
        while ((r = sd_bus_message_read(reply, "(ssss)", &id, &model, &port, &state)) > 0) {
                table_add_row(t, id, model, port, state);
                JsonObject *o = json_object_new();
                json_object_set_string_member(o, "id", id);
                json_object_set_string_member(o, "model", model);
                json_object_set_string_member(o, "port", port);
                json_object_set_string_member(o, "state", state);
                json_array_add_object_element(out, o);
        }
        if (r < 0)
                return ctl_bad_reply("ListCameras", r);

        if (arg_json) {
                g_autoptr(JsonNode) n = json_node_init_array(json_node_alloc(), out);
                return json_print(n, arg_json) < 0 ? CTL_EXIT_FAILURE : 0;
        }
        if (table_rows(t) == 0) {
                if (arg_legend)
                        printf("No gphoto2 camera is configured or connected.\n");
                return 0;
        }
        table_print(t, stdout);
        if (arg_legend)
                printf("\n%zu camera%s listed.\n", table_rows(t), table_rows(t) == 1 ? "" : "s");
        return 0;
}

/* ---- fire ---- */

int verb_fire(int argc, char **argv) {
        if (arg_at)
                return verb_fire_at(argc, argv);

        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        _cleanup_(table_freep) Table *t = table_new("CAMERA", "PORT", "STATUS", "LATENCY", "MESSAGE", NULL);
        g_autoptr(JsonArray) results = json_array_new();
        const char *shot_id, *camera, *port, *status, *message;
        uint64_t latency;
        unsigned failed = 0;

        int r = ctl_connect(&bus);
        if (r > 0)
                return r;
        r = ctl_new_call(bus, "Fire", &call);
        if (r < 0)
                return ctl_bad_reply("Fire", r);
        r = ctl_call(bus, call, FIRE_TIMEOUT_USEC, "fire the cameras", NULL, &reply);
        if (r > 0)
                return r;

        r = sd_bus_message_read(reply, "s", &shot_id);
        if (r >= 0)
                r = sd_bus_message_enter_container(reply, 'a', "(sssst)");
        if (r < 0)
                return ctl_bad_reply("Fire", r);
        while ((r = sd_bus_message_read(reply, "(sssst)", &camera, &port, &status, &message, &latency)) > 0) {
                char lat[32] = "";
                if (latency > 0)
                        snprintf(lat, sizeof lat, "%.1f ms", (double) latency / 1000.0);
                table_add_row(t, camera, port, status, lat, message);
                if (!streq(status, "ok"))
                        failed++;

                JsonObject *o = json_object_new();
                json_object_set_string_member(o, "camera", camera);
                json_object_set_string_member(o, "port", port);
                json_object_set_string_member(o, "status", status);
                json_object_set_string_member(o, "message", message);
                json_object_set_int_member(o, "latency_usec", latency > INT64_MAX ? INT64_MAX : (int64_t) latency);
                json_array_add_object_element(results, o);
        }
        if (r < 0)
                return ctl_bad_reply("Fire", r);

        if (arg_json) {
                g_autoptr(JsonObject) o = json_object_new();
                json_object_set_string_member(o, "shot_id", shot_id);
                json_object_set_array_member(o, "results", json_array_ref(results));
                g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), o);
                if (json_print(n, arg_json) < 0)
                        return CTL_EXIT_FAILURE;
        } else {
                if (isempty(shot_id))
                        printf("No shot was opened.\n");
                else
                        printf("Shot %s opened.\n", shot_id);
                if (arg_legend)
                        putchar('\n');
                table_print(t, stdout);
        }
        if (failed > 0) {
                fprintf(stderr, "%u of %zu camera%s failed to capture.\n", failed, table_rows(t),
                        table_rows(t) == 1 ? "" : "s");
                return CTL_EXIT_FAILURE;
        }
        return 0;
}

/* ---- pause, resume, reload ---- */

int verb_simple(int argc, char **argv) {
        static const struct {
                const char *verb, *method, *action;
        } table[] = {
                { "pause", "Pause", "pause shotsync" },
                { "resume", "Resume", "resume shotsync" },
                { "reload", "Reload", "reload shotsync" },
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                if (!streq(argv[0], table[i].verb))
                        continue;
                int r = ctl_connect(&bus);
                if (r > 0)
                        return r;
                r = ctl_new_call(bus, table[i].method, &call);
                if (r < 0)
                        return ctl_bad_reply(table[i].method, r);
                return ctl_call(bus, call, 0, table[i].action, NULL, &reply);
        }
        return CTL_EXIT_USAGE;
}

/* ---- command line ---- */

static void help(void) {
        printf("%1$s [OPTIONS...] COMMAND [ARGS...]\n"
               "\n"
               "Query and control shotsyncd, the service that groups laser-shot camera\n"
               "images into shots.\n"
               "\n"
               "Commands:\n"
               "  status                   Show the service's state and settings (default)\n"
               "  shots [DATE] [--open]    List the shots of a day: DATE is YYYYMMDD,\n"
               "                           \"today\" (the default) or \"yesterday\"\n"
               "  show SHOT_ID             Show a shot: files, missing cameras, timing, metadata\n"
               "  cameras                  List the gphoto2 cameras\n"
               "  fire [--at=TIME]         Fire every gphoto2 camera at once and open a shot;\n"
               "                           with --at, at that instant on every shotsyncd named\n"
               "  meta SHOT_ID KEY=VALUE...\n"
               "                           Record metadata in a shot's manifest\n"
               "  next-shot [DATE] N       Number the next shot of DATE (default today) N\n"
               "  pause                    Remember files but open no shot until resumed\n"
               "  resume                   Open shots again\n"
               "  reload                   Re-read the configuration, keeping open shots\n"
               "  monitor                  Print the service's signals as they happen, one\n"
               "                           line each, until interrupted; a note on stderr\n"
               "                           tells when it listens\n"
               "  clocks                   Show each camera's clock offset: offset, spread,\n"
               "                           samples, last change\n"
               "\n"
               "Options:\n"
               "  -h --help                Show this help\n"
               "     --version             Show the version\n"
               "     --system              Talk to shotsyncd on the system bus (default)\n"
               "     --user                Talk to shotsyncd on the session bus\n"
               "     --address=ADDRESS     Talk to shotsyncd on the bus at ADDRESS\n"
               "  -H --host=[USER@]HOST[:PORT][/MACHINE]\n"
               "                           Talk to shotsyncd on a remote host's system bus (ssh)\n"
               "  -M --machine=[USER@]NAME Talk to shotsyncd on a local container's system bus\n"
               "                           These five may be given several times and mixed for\n"
               "                           'fire --at='; every other command talks to one\n"
               "     --at=TIME             With 'fire': fire at that CLOCK_REALTIME instant,\n"
               "                           chosen once for every shotsyncd named: +DELAY\n"
               "                           (+500ms, +2s, +1.5s; units us, ms, s, min) counted\n"
               "                           from when every one answered, @EPOCH[.FRACTION],\n"
               "                           HH:MM[:SS[.FRACTION]] (local time today) or\n"
               "                           YYYY-MM-DDTHH:MM[:SS[.FRACTION]][Z|+HH:MM]; at most\n"
               "                           60 s ahead, at least 20 ms\n"
               "     --json[=short|pretty] Print JSON on stdout: one line (short, the default)\n"
               "                           or indented (pretty)\n"
               "     --no-legend           Print tables without header and footer\n"
               "     --open                With 'shots': only the shots still collecting\n"
               "\n"
               "JSON output:\n"
               "  status   {\"Version\": ..., \"State\": ...}: every D-Bus property by name\n"
               "  shots    [{\"id\", \"status\", \"files\", \"missing\"}] (counts)\n"
               "  show     the shot as GetShot returns it, with the manifest's keys\n"
               "  cameras  [{\"id\", \"model\", \"port\", \"state\"}]\n"
               "  clocks   [{\"camera\", \"offset_usec\", \"spread_usec\", \"samples\",\n"
               "           \"reference\", \"last_change\": {\"usec\", \"previous_offset_usec\"} or null}]\n"
               "  fire     {\"shot_id\", \"results\": [{\"camera\", \"port\", \"status\",\n"
               "           \"message\", \"latency_usec\"}]}\n"
               "  fire --at {\"at_usec\", \"hosts\": [{\"host\", \"status\", \"shot_id\", \"message\",\n"
               "           \"clock_synchronized\", \"clock_error_usec\"}], \"results\": [{\"host\",\n"
               "           \"shot_id\", \"camera\", \"port\", \"status\", \"message\",\n"
               "           \"departure_usec\", \"offset_usec\"}]}\n"
               "  monitor  one object per line, {\"signal\": NAME, ARGUMENT: VALUE...} with the\n"
               "           argument names of the D-Bus interface; PropertiesChanged gives\n"
               "           {\"signal\", \"changed\": {...}, \"invalidated\": [...]}, and the\n"
               "           service appearing or going gives ServiceStarted/ServiceStopped\n"
               "           with \"owner\"\n"
               "  Times are integers in microseconds since the Unix epoch, as on the bus\n"
               "  (*_usec, and time, start, end, mtime, min_mtime, max_mtime in show);\n"
               "  offset_s is in seconds. Human output shows local times instead.\n"
               "  Strings are printed as shotsyncd sent them: in raw names, a byte that is\n"
               "  not UTF-8 appears as \\xNN and a backslash as \\\\.\n"
               "\n"
               "Exit status:\n"
               "  0  success                        5  no such shot\n"
               "  1  other failure (fire: a camera  6  that shot number is already used\n"
               "     failed to capture)             7  no camera to fire\n"
               "  2  invalid arguments              8  a Fire is already running\n"
               "  3  shotsyncd or the bus is not    9  reload refused the configuration\n"
               "     running                       10  fire --at: the instant has passed\n"
               "  4  access denied (only root and      or is too close\n"
               "     group shotsync may fire,\n"
               "     pause, resume, reload, set\n"
               "     metadata or renumber)\n"
               "  fire --at on several shotsyncd: the status of their failures when they\n"
               "  agree, else 1.\n",
               program_invocation_short_name);
}

typedef struct Verb {
        const char *name;
        unsigned min_args, max_args; /* after the verb */
        int (*run)(int argc, char **argv);
} Verb;

static const Verb verbs[] = {
        { "status", 0, 0, verb_status },      { "shots", 0, 1, verb_shots },
        { "show", 1, 1, verb_show },          { "cameras", 0, 0, verb_cameras },
        { "fire", 0, 0, verb_fire },          { "meta", 2, UINT_MAX, verb_meta },
        { "next-shot", 1, 2, verb_next_shot }, { "pause", 0, 0, verb_simple },
        { "resume", 0, 0, verb_simple },      { "reload", 0, 0, verb_simple },
        { "monitor", 0, 0, verb_monitor },    { "clocks", 0, 0, verb_clocks },
};

/* Every -H, -M, --address, --user and --system names one more shotsyncd;
 * naming one twice is a mistake (it would be fired twice). */
static int add_target(const Target *t) {
        static const char *const option[] = {
                [TARGET_SYSTEM] = "--system", [TARGET_USER] = "--user", [TARGET_ADDRESS] = "--address",
                [TARGET_HOST] = "-H/--host", [TARGET_MACHINE] = "-M/--machine",
        };
        if (t->kind != TARGET_SYSTEM && t->kind != TARGET_USER && isempty(t->arg)) {
                fprintf(stderr, "%s needs a value.\n", option[t->kind]);
                return CTL_EXIT_USAGE;
        }
        if (!arg_targets)
                arg_targets = g_array_new(false, false, sizeof(Target));
        for (guint i = 0; i < arg_targets->len; i++) {
                const Target *o = &g_array_index(arg_targets, Target, i);
                if (o->kind == t->kind && streq_ptr(o->arg, t->arg)) {
                        fprintf(stderr, "%s%s%s is given twice.\n", option[t->kind], t->arg ? " " : "", t->arg ?: "");
                        return CTL_EXIT_USAGE;
                }
        }
        g_array_append_val(arg_targets, *t);
        return 0;
}

/* Returns 0 to go on, a negative value to exit 0 (help, version), or an exit
 * status > 0. */
static int parse_argv(int argc, char **argv) {
        enum {
                ARG_VERSION = 0x100,
                ARG_SYSTEM,
                ARG_USER,
                ARG_ADDRESS,
                ARG_JSON,
                ARG_NO_LEGEND,
                ARG_OPEN,
                ARG_AT,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "system", no_argument, NULL, ARG_SYSTEM },
                { "user", no_argument, NULL, ARG_USER },
                { "address", required_argument, NULL, ARG_ADDRESS },
                { "host", required_argument, NULL, 'H' },
                { "machine", required_argument, NULL, 'M' },
                { "at", required_argument, NULL, ARG_AT },
                { "json", optional_argument, NULL, ARG_JSON },
                { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
                { "open", no_argument, NULL, ARG_OPEN },
                {},
        };
        int c, r;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "hH:M:", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return -1;
                case ARG_VERSION:
                        printf("shotsyncctl %s\n", PACKAGE_VERSION);
                        return -1;
                case ARG_SYSTEM:
                case ARG_USER:
                case ARG_ADDRESS:
                case 'H':
                case 'M': {
                        Target t = { .kind = c == ARG_SYSTEM ? TARGET_SYSTEM :
                                             c == ARG_USER   ? TARGET_USER :
                                             c == 'H'        ? TARGET_HOST :
                                             c == 'M'        ? TARGET_MACHINE :
                                                               TARGET_ADDRESS,
                                     .arg = c == ARG_SYSTEM || c == ARG_USER ? NULL : optarg };
                        r = add_target(&t);
                        if (r > 0)
                                return r;
                        break;
                }
                case ARG_AT:
                        if (isempty(optarg)) {
                                fprintf(stderr, "--at needs an instant: +DELAY, @EPOCH, HH:MM:SS or an ISO 8601 time.\n");
                                return CTL_EXIT_USAGE;
                        }
                        arg_at = optarg;
                        break;
                case ARG_JSON:
                        if (!optarg || streq(optarg, "short"))
                                arg_json = JSON_SHORT;
                        else if (streq(optarg, "pretty"))
                                arg_json = JSON_PRETTY;
                        else if (streq(optarg, "off"))
                                arg_json = JSON_OFF;
                        else {
                                fprintf(stderr, "Unknown --json mode '%s': use short or pretty.\n", optarg);
                                return CTL_EXIT_USAGE;
                        }
                        break;
                case ARG_NO_LEGEND:
                        arg_legend = false;
                        break;
                case ARG_OPEN:
                        arg_open_only = true;
                        break;
                case '?':
                        if (optopt)
                                fprintf(stderr, "Unknown option -%c. See '%s --help'.\n", optopt,
                                        program_invocation_short_name);
                        else
                                fprintf(stderr, "Unknown option or missing value: %s. See '%s --help'.\n",
                                        argv[optind - 1], program_invocation_short_name);
                        return CTL_EXIT_USAGE;
                default:
                        return CTL_EXIT_USAGE;
                }
        }
        return 0;
}

int main(int argc, char **argv) {
        (void) setlocale(LC_ALL, "");
        tzset();

        int r = parse_argv(argc, argv);
        if (r > 0)
                return r;
        if (r < 0) /* --help, --version */
                return fflush(stdout) == 0 && !ferror(stdout) ? 0 : CTL_EXIT_FAILURE;

        const char *name = optind < argc ? argv[optind] : "status";
        unsigned n_args = optind < argc ? (unsigned) (argc - optind - 1) : 0;
        char *status_argv[] = { (char *) "status", NULL };
        char **verb_argv = optind < argc ? argv + optind : status_argv;

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                const Verb *v = &verbs[i];
                if (!streq(name, v->name))
                        continue;
                if (n_args < v->min_args) {
                        fprintf(stderr, "Too few arguments for '%s'. See '%s --help'.\n", name,
                                program_invocation_short_name);
                        return CTL_EXIT_USAGE;
                }
                if (n_args > v->max_args) {
                        fprintf(stderr, "Too many arguments for '%s'. See '%s --help'.\n", name,
                                program_invocation_short_name);
                        return CTL_EXIT_USAGE;
                }
                if (arg_open_only && v->run != verb_shots) {
                        fprintf(stderr, "--open goes with 'shots' only.\n");
                        return CTL_EXIT_USAGE;
                }
                if (arg_at && v->run != verb_fire) {
                        fprintf(stderr, "--at goes with 'fire' only.\n");
                        return CTL_EXIT_USAGE;
                }
                if (arg_targets && arg_targets->len > 1 && !(v->run == verb_fire && arg_at)) {
                        fprintf(stderr,
                                "'%s' talks to one shotsyncd, but %u were named (-H, -M, --address, --user, "
                                "--system); only 'fire --at=' fires several at once.\n",
                                name, arg_targets->len);
                        return CTL_EXIT_USAGE;
                }
                r = v->run((int) n_args + 1, verb_argv);
                /* Output that could not be written is a failure too. */
                if (fflush(stdout) != 0 || ferror(stdout)) {
                        if (r == 0)
                                fprintf(stderr, "Cannot write the output: %m.\n");
                        return r ?: CTL_EXIT_FAILURE;
                }
                return r;
        }
        fprintf(stderr, "Unknown command '%s'. See '%s --help'.\n", name, program_invocation_short_name);
        return CTL_EXIT_USAGE;
}
