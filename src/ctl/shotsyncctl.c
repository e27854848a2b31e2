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
BusKind arg_bus_kind = BUS_KIND_SYSTEM;
const char *arg_address = NULL;

/* ---- connection and errors ---- */

char *ctl_bus_description(void) {
        switch (arg_bus_kind) {
        case BUS_KIND_USER:
                return g_strdup("the session bus");
        case BUS_KIND_ADDRESS:
                return g_strdup_printf("the bus at %s", arg_address);
        default:
                return g_strdup("the system bus");
        }
}

int ctl_connect(sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        g_autofree char *where = ctl_bus_description();
        int r;

        switch (arg_bus_kind) {
        case BUS_KIND_USER:
                r = sd_bus_open_user(&bus);
                break;
        case BUS_KIND_ADDRESS:
                r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, arg_address);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, true);
                if (r >= 0)
                        r = sd_bus_start(bus);
                break;
        default:
                r = sd_bus_open_system(&bus);
        }
        if (r < 0) {
                errno = -r;
                if (r == -EACCES || r == -EPERM) {
                        fprintf(stderr, "Access denied to %s: %m.\n", where);
                        return CTL_EXIT_ACCESS_DENIED;
                }
                if (r == -EINVAL && arg_bus_kind == BUS_KIND_ADDRESS) {
                        fprintf(stderr, "Not a D-Bus address: '%s'.\n", arg_address);
                        return CTL_EXIT_USAGE;
                }
                fprintf(stderr, "Cannot connect to %s: %m. Is D-Bus running?\n", where);
                return CTL_EXIT_NOT_RUNNING;
        }
        (void) sd_bus_set_description(bus, "shotsyncctl");
        *ret = TAKE_PTR(bus);
        return 0;
}

int ctl_call_failed(const sd_bus_error *error, int r, const char *action, const char *shot_id) {
        const char *msg = error && !isempty(error->message) ? error->message : NULL;
        g_autofree char *where = ctl_bus_description();

        errno = r < 0 ? -r : EIO;
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
            sd_bus_error_has_name(error, SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
                fprintf(stderr, "shotsyncd is not running (no owner for %s on %s).\n", BUS_NAME,
                        where);
                return CTL_EXIT_NOT_RUNNING;
        }
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_ACCESS_DENIED) ||
            (!sd_bus_error_is_set(error) && (r == -EACCES || r == -EPERM))) {
                if (action)
                        fprintf(stderr, "Access denied: only root and members of group shotsync may %s.\n", action);
                else
                        fprintf(stderr, "Access denied: %s\n", msg ?: strerror(errno));
                return CTL_EXIT_ACCESS_DENIED;
        }
        if (sd_bus_error_has_name(error, BUS_ERROR_PREFIX "NoSuchShot")) {
                if (shot_id)
                        fprintf(stderr, "No shot %s.\n", shot_id);
                else
                        fprintf(stderr, "%s\n", msg ?: "No such shot.");
                return CTL_EXIT_NO_SUCH_SHOT;
        }
        if (sd_bus_error_has_name(error, BUS_ERROR_PREFIX "ShotExists")) {
                fprintf(stderr, "%s Shot numbers are never reused: choose a number above the last shot of that day.\n",
                        msg ?: "That shot exists.");
                return CTL_EXIT_SHOT_EXISTS;
        }
        if (sd_bus_error_has_name(error, BUS_ERROR_PREFIX "NoCameras")) {
                fprintf(stderr,
                        "No camera to fire: no gphoto2 camera is configured or ready "
                        "(see [Trigger] Ports= in shotsync.conf and 'shotsyncctl cameras').\n");
                return CTL_EXIT_NO_CAMERAS;
        }
        if (sd_bus_error_has_name(error, BUS_ERROR_PREFIX "Busy")) {
                fprintf(stderr, "A Fire is already running; try again when it has finished.\n");
                return CTL_EXIT_BUSY;
        }
        if (sd_bus_error_has_name(error, BUS_ERROR_PREFIX "InvalidConfig")) {
                fprintf(stderr, "The configuration was refused; shotsyncd keeps running with the previous one.\n%s\n",
                        msg ?: "");
                return CTL_EXIT_INVALID_CONFIG;
        }
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_INVALID_ARGS)) {
                fprintf(stderr, "Invalid argument: %s\n", msg ?: "refused by shotsyncd.");
                return CTL_EXIT_USAGE;
        }
        if (r == -ETIMEDOUT || sd_bus_error_has_name(error, SD_BUS_ERROR_NO_REPLY) ||
            sd_bus_error_has_name(error, SD_BUS_ERROR_TIMEOUT)) {
                fprintf(stderr, "shotsyncd did not answer in time; it may be stuck (see journalctl -u shotsync).\n");
                return CTL_EXIT_FAILURE;
        }
        if (r == -ECONNRESET || r == -ENOTCONN || sd_bus_error_has_name(error, SD_BUS_ERROR_DISCONNECTED)) {
                fprintf(stderr, "Lost the connection to %s.\n", where);
                return CTL_EXIT_NOT_RUNNING;
        }
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_UNKNOWN_METHOD) ||
            sd_bus_error_has_name(error, SD_BUS_ERROR_UNKNOWN_OBJECT) ||
            sd_bus_error_has_name(error, SD_BUS_ERROR_UNKNOWN_INTERFACE) ||
            sd_bus_error_has_name(error, SD_BUS_ERROR_UNKNOWN_PROPERTY)) {
                fprintf(stderr, "The running shotsyncd does not offer this (%s); is it another version than %s?\n",
                        msg ?: error->name, PACKAGE_VERSION);
                return CTL_EXIT_FAILURE;
        }
        fprintf(stderr, "Failed to %s: %s\n", action ?: "talk to shotsyncd", msg ?: strerror(errno));
        return CTL_EXIT_FAILURE;
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
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        g_autoptr(JsonNode) props = NULL;

        int r = ctl_connect(&bus);
        if (r > 0)
                return r;
        r = sd_bus_message_new_method_call(bus, &call, BUS_NAME, BUS_PATH, "org.freedesktop.DBus.Properties",
                                           "GetAll");
        if (r >= 0)
                r = sd_bus_message_append(call, "s", BUS_INTERFACE);
        if (r < 0)
                return ctl_bad_reply("GetAll", r);
        r = ctl_call(bus, call, 0, "read the status of shotsyncd", NULL, &reply);
        if (r > 0)
                return r;
        r = bus_message_read_json(reply, &props);
        if (r < 0 || !JSON_NODE_HOLDS_OBJECT(props))
                return ctl_bad_reply("GetAll", r);

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
               "  fire                     Fire every gphoto2 camera at once and open a shot\n"
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
               "     running\n"
               "  4  access denied (only root and group shotsync may fire, pause, resume,\n"
               "     reload, set metadata or renumber)\n",
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
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "system", no_argument, NULL, ARG_SYSTEM },
                { "user", no_argument, NULL, ARG_USER },
                { "address", required_argument, NULL, ARG_ADDRESS },
                { "json", optional_argument, NULL, ARG_JSON },
                { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
                { "open", no_argument, NULL, ARG_OPEN },
                {},
        };
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return -1;
                case ARG_VERSION:
                        printf("shotsyncctl %s\n", PACKAGE_VERSION);
                        return -1;
                case ARG_SYSTEM:
                        arg_bus_kind = BUS_KIND_SYSTEM;
                        break;
                case ARG_USER:
                        arg_bus_kind = BUS_KIND_USER;
                        break;
                case ARG_ADDRESS:
                        if (isempty(optarg)) {
                                fprintf(stderr, "--address needs a D-Bus address.\n");
                                return CTL_EXIT_USAGE;
                        }
                        arg_bus_kind = BUS_KIND_ADDRESS;
                        arg_address = optarg;
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
