/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* shotsyncctl: shots, show, meta, next-shot. */

#include <stdio.h>

#include "shotsyncctl.h"

static int bad_shot_id(const char *id) {
        fprintf(stderr, "Not a shot id: '%s'. Shot ids are YYYYMMDD-NNN, e.g. 20251211-001.\n", id);
        return CTL_EXIT_USAGE;
}

static int bad_date(const char *s) {
        fprintf(stderr, "Not a date: '%s'. Use YYYYMMDD, \"today\" or \"yesterday\".\n", s);
        return CTL_EXIT_USAGE;
}

/* ---- shots ---- */

int verb_shots(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        _cleanup_(table_freep) Table *t = table_new("ID", "STATUS", "FILES", "MISSING", NULL);
        g_autoptr(JsonArray) out = json_array_new();
        g_autofree char *date = ctl_date_arg(argc > 1 ? argv[1] : NULL);
        const char *id, *status;
        uint32_t files, missing;

        if (!date)
                return bad_date(argv[1]);
        int r = ctl_connect(&bus);
        if (r > 0)
                return r;
        r = ctl_new_call(bus, "ListShots", &call);
        if (r >= 0)
                r = sd_bus_message_append(call, "sb", date, (int) arg_open_only);
        if (r < 0)
                return ctl_bad_reply("ListShots", r);
        r = ctl_call(bus, call, 0, "list shots", NULL, &reply);
        if (r > 0)
                return r;

        table_align_right(t, 2);
        table_align_right(t, 3);
        r = sd_bus_message_enter_container(reply, 'a', "(ssuu)");
        if (r < 0)
                return ctl_bad_reply("ListShots", r);
        while ((r = sd_bus_message_read(reply, "(ssuu)", &id, &status, &files, &missing)) > 0) {
                char f[16], m[16];
                snprintf(f, sizeof f, "%" PRIu32, files);
                snprintf(m, sizeof m, "%" PRIu32, missing);
                table_add_row(t, id, status, f, m);

                JsonObject *o = json_object_new();
                json_object_set_string_member(o, "id", id);
                json_object_set_string_member(o, "status", status);
                json_object_set_int_member(o, "files", files);
                json_object_set_int_member(o, "missing", missing);
                json_array_add_object_element(out, o);
        }
        if (r < 0)
                return ctl_bad_reply("ListShots", r);

        if (arg_json) {
                g_autoptr(JsonNode) n = json_node_init_array(json_node_alloc(), out);
                return json_print(n, arg_json) < 0 ? CTL_EXIT_FAILURE : 0;
        }
        size_t n = table_rows(t);
        if (n == 0) {
                if (arg_legend && isempty(date))
                        printf("No %sshot today.\n", arg_open_only ? "open " : "");
                else if (arg_legend)
                        printf("No %sshot on %s.\n", arg_open_only ? "open " : "", date);
                return 0;
        }
        table_print(t, stdout);
        if (arg_legend)
                printf("\n%zu %sshot%s listed.\n", n, arg_open_only ? "open " : "", n == 1 ? "" : "s");
        return 0;
}

/* ---- show ---- */

static int cmp_strings(const void *a, const void *b) {
        return g_strcmp0(a, b);
}

static void print_files(JsonArray *files, int64_t trigger_usec) {
        _cleanup_(table_freep) Table *t = table_new("CAMERA", "KIND", "OFFSET", "CLOCK", "LATE", "CLEAN_PATH", NULL);

        table_align_right(t, 1);
        table_align_right(t, 2);
        table_align_right(t, 3);
        for (guint i = 0; files && i < json_array_get_length(files); i++) {
                JsonNode *n = json_array_get_element(files, i);
                JsonObject *f = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
                char kind[24] = "", offset[32] = "", clock[32] = "";
                /* The offset of its camera's clock it was grouped with (rule 14). */
                if (f && json_object_has_member(f, "clock_offset_s"))
                        snprintf(clock, sizeof clock, "%+.3fs", json_get_double(f, "clock_offset_s", 0));
                int64_t k = json_get_int(f, "kind", -1);
                if (k >= 0)
                        snprintf(kind, sizeof kind, "%" PRIi64, k);
                if (f && json_object_has_member(f, "offset_s"))
                        snprintf(offset, sizeof offset, "%+.3fs", json_get_double(f, "offset_s", 0));
                else if (json_get_int(f, "mtime", 0) > 0 && trigger_usec > 0)
                        snprintf(offset, sizeof offset, "%+.3fs",
                                 (double) (json_get_int(f, "mtime", 0) - trigger_usec) / 1e6);
                table_add_row(t, json_get_string(f, "camera", ""), kind, offset, clock,
                              json_get_bool(f, "late", false) ? "yes" : "no", json_get_string(f, "clean_path", ""));
        }
        if (table_rows(t) > 0)
                table_print(t, stdout);
}

static void print_shot(JsonObject *s) {
        const int w = 12;
        JsonObject *trigger = json_get_object(s, "trigger"), *window = json_get_object(s, "window"),
                   *timing = json_get_object(s, "timing"), *metadata = json_get_object(s, "metadata");
        JsonArray *files = json_get_array(s, "files");
        g_autofree char *missing = json_join_strings(json_get_array(s, "missing"), ", ");
        int64_t trigger_usec = json_get_int(trigger, "time", 0);
        const char *camera = json_get_string(trigger, "camera", ""), *path = json_get_string(trigger, "path", "");
        char a[CTL_TIME_MAX], b[CTL_TIME_MAX];

        print_field(w, "Shot", "%s", json_get_string(s, "id", "-"));
        print_field(w, "Status", "%s", json_get_string(s, "status", "-"));
        if (trigger && isempty(camera))
                print_field(w, "Trigger", "Fire (cameras fired through D-Bus)");
        else
                print_field(w, "Trigger", "%s", isempty(camera) ? "-" : camera);
        if (!isempty(path))
                print_field(w, "Trigger file", "%s", path);
        print_field(w, "Trigger time", "%s", format_time_full((uint64_t) MAX(trigger_usec, 0), a));
        print_field(w, "Window", "%s – %s", format_time_full((uint64_t) MAX(json_get_int(window, "start", 0), 0), a),
                    format_time_full((uint64_t) MAX(json_get_int(window, "end", 0), 0), b));
        print_field(w, "Files", "%u", files ? json_array_get_length(files) : 0);

        if (files && json_array_get_length(files) > 0) {
                putchar('\n');
                print_files(files, trigger_usec);
                putchar('\n');
        }

        print_field(w, "Missing", "%s", missing);

        /* Rule 4: triggers of a camera in free run, left out of the shot. */
        JsonArray *dups = json_get_array(s, "duplicate_triggers");
        guint n_dups = dups ? json_array_get_length(dups) : 0;
        if (n_dups == 0)
                print_field(w, "Dup triggers", "-");
        for (guint i = 0; i < n_dups; i++) {
                const char *p = json_array_get_string_element(dups, i);
                if (i == 0)
                        print_field(w, "Dup triggers", "%u: %s", n_dups, p ?: "?");
                else
                        print_field(w, "", "%s", p ?: "?");
        }

        int64_t min = json_get_int(timing, "min_mtime", 0), max = json_get_int(timing, "max_mtime", 0);
        if (min > 0 && max > 0 && trigger_usec > 0)
                print_field(w, "Timing", "first %s at %s (%+.3f s), last %s at %s (%+.3f s), spread %.3f s",
                            json_get_string(timing, "first_camera", "-"), ctl_time_of_day((uint64_t) min, a),
                            (double) (min - trigger_usec) / 1e6, json_get_string(timing, "last_camera", "-"),
                            ctl_time_of_day((uint64_t) max, b), (double) (max - trigger_usec) / 1e6,
                            (double) (max - min) / 1e6);
        else
                print_field(w, "Timing", "-");

        g_autoptr(GList) keys = metadata ? json_object_get_members(metadata) : NULL;
        keys = g_list_sort(keys, (GCompareFunc) cmp_strings);
        if (!keys)
                print_field(w, "Metadata", "-");
        for (GList *k = keys; k; k = k->next)
                print_field(w, k == keys ? "Metadata" : "", "%s=%s", (const char *) k->data,
                            json_get_string(metadata, k->data, "?"));
}

int verb_show(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        g_autoptr(JsonNode) shot = NULL;
        const char *id = argv[1];

        if (!ctl_shot_id_valid(id))
                return bad_shot_id(id);
        int r = ctl_connect(&bus);
        if (r > 0)
                return r;
        r = ctl_new_call(bus, "GetShot", &call);
        if (r >= 0)
                r = sd_bus_message_append(call, "s", id);
        if (r < 0)
                return ctl_bad_reply("GetShot", r);
        r = ctl_call(bus, call, 0, "read the shot", id, &reply);
        if (r > 0)
                return r;
        r = bus_message_read_json(reply, &shot);
        if (r < 0 || !JSON_NODE_HOLDS_OBJECT(shot))
                return ctl_bad_reply("GetShot", r);

        if (arg_json)
                return json_print(shot, arg_json) < 0 ? CTL_EXIT_FAILURE : 0;
        print_shot(json_node_get_object(shot));
        return 0;
}

/* ---- meta ---- */

int verb_meta(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        const char *id = argv[1];

        if (!ctl_shot_id_valid(id))
                return bad_shot_id(id);
        for (int i = 2; i < argc; i++) {
                const char *eq = strchr(argv[i], '=');
                if (!eq) {
                        fprintf(stderr, "Invalid metadata '%s': expected KEY=VALUE.\n", argv[i]);
                        return CTL_EXIT_USAGE;
                }
                if (eq == argv[i]) {
                        fprintf(stderr, "Invalid metadata '%s': the key is empty.\n", argv[i]);
                        return CTL_EXIT_USAGE;
                }
                if (!g_utf8_validate(argv[i], -1, NULL)) {
                        fprintf(stderr, "Invalid metadata: keys and values must be UTF-8 text.\n");
                        return CTL_EXIT_USAGE;
                }
        }

        int r = ctl_connect(&bus);
        if (r > 0)
                return r;
        r = ctl_new_call(bus, "SetShotMetadata", &call);
        if (r >= 0)
                r = sd_bus_message_append(call, "s", id);
        if (r >= 0)
                r = sd_bus_message_open_container(call, 'a', "{ss}");
        for (int i = 2; r >= 0 && i < argc; i++) {
                const char *eq = strchr(argv[i], '=');
                g_autofree char *key = g_strndup(argv[i], (gsize) (eq - argv[i]));
                r = sd_bus_message_append(call, "{ss}", key, eq + 1);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(call);
        if (r < 0)
                return ctl_bad_reply("SetShotMetadata", r);
        return ctl_call(bus, call, 0, "set shot metadata", id, &reply);
}

/* ---- next-shot ---- */

static int parse_number(const char *s, uint32_t *ret) {
        uint64_t n = 0;

        if (isempty(s) || strlen(s) > 9)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                n = n * 10 + (uint64_t) (*p - '0');
        }
        if (n == 0)
                return -ERANGE;
        *ret = (uint32_t) n;
        return 0;
}

int verb_next_shot(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        const char *number_s = argv[argc - 1];
        g_autofree char *date = ctl_date_arg(argc > 2 ? argv[1] : NULL);
        uint32_t number;

        if (!date)
                return bad_date(argv[1]);
        if (parse_number(number_s, &number) < 0) {
                fprintf(stderr, "Not a shot number: '%s'. Shot numbers go from 1 to 999999999.\n", number_s);
                return CTL_EXIT_USAGE;
        }

        int r = ctl_connect(&bus);
        if (r > 0)
                return r;
        r = ctl_new_call(bus, "SetNextShotNumber", &call);
        if (r >= 0)
                r = sd_bus_message_append(call, "su", date, number);
        if (r < 0)
                return ctl_bad_reply("SetNextShotNumber", r);
        return ctl_call(bus, call, 0, "set the next shot number", NULL, &reply);
}
