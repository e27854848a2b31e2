/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* shotsyncctl clocks: each camera's clock offset as shotsyncd learned it
 * (SPEC §2 rule 14), from the CameraClocks and CameraClockChanges
 * properties. */

#include <stdio.h>

#include "shotsyncctl.h"

static char *seconds(int64_t usec) {
        return g_strdup_printf("%+.3f s", (double) usec / 1e6);
}

int verb_clocks(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(table_freep) Table *t = table_new("CAMERA", "OFFSET", "SPREAD", "SAMPLES", "LAST CHANGE", NULL);
        g_autoptr(JsonNode) props = NULL;
        g_autoptr(JsonArray) out = json_array_new();

        int r = ctl_connect(&bus);
        if (r > 0)
                return r;
        r = ctl_get_properties(bus, "read the clocks of shotsyncd", &props);
        if (r > 0)
                return r;
        JsonObject *p = json_node_get_object(props);
        JsonObject *clocks = json_get_object(p, "CameraClocks"), *changes = json_get_object(p, "CameraClockChanges");
        if (!clocks) {
                fprintf(stderr, "The running shotsyncd does not learn clock offsets (no CameraClocks property).\n");
                return CTL_EXIT_FAILURE;
        }
        JsonArray *triggers = json_get_array(p, "TriggerCameras");
        const char *reference = triggers && json_array_get_length(triggers) > 0 ?
                                        json_array_get_string_element(triggers, 0) :
                                        NULL;

        table_align_right(t, 1);
        table_align_right(t, 2);
        table_align_right(t, 3);
        g_autoptr(GList) names = json_object_get_members(clocks);
        for (GList *l = names; l; l = l->next) {
                const char *camera = l->data;
                JsonArray *c = json_get_array(clocks, camera), *ch = json_get_array(changes, camera);
                int64_t offset = json_element_int(c, 0), spread = json_element_int(c, 1), samples = json_element_int(c, 2);
                g_autofree char *o = seconds(offset);
                g_autofree char *sp = g_strdup_printf("%.3f s", (double) spread / 1e6);
                g_autofree char *n = g_strdup_printf("%" PRIi64, samples);
                g_autofree char *change = NULL;
                char when[CTL_TIME_MAX];
                if (ch) {
                        g_autofree char *was = seconds(json_element_int(ch, 1));
                        change = g_strdup_printf("%s, was %s", format_time_full((uint64_t) MAX(json_element_int(ch, 2), 0), when),
                                                 was);
                }
                table_add_row(t, camera, o, spread > 0 ? sp : "", n, change);

                JsonObject *j = json_object_new();
                json_object_set_string_member(j, "camera", camera);
                json_object_set_int_member(j, "offset_usec", offset);
                json_object_set_int_member(j, "spread_usec", spread);
                json_object_set_int_member(j, "samples", samples);
                json_object_set_boolean_member(j, "reference", streq_ptr(camera, reference));
                if (ch) {
                        JsonObject *k = json_object_new();
                        json_object_set_int_member(k, "usec", json_element_int(ch, 2));
                        json_object_set_int_member(k, "previous_offset_usec", json_element_int(ch, 1));
                        json_object_set_object_member(j, "last_change", k);
                } else
                        json_object_set_null_member(j, "last_change");
                json_array_add_object_element(out, j);
        }

        if (arg_json) {
                g_autoptr(JsonNode) node = json_node_init_array(json_node_alloc(), out);
                return json_print(node, arg_json) < 0 ? CTL_EXIT_FAILURE : 0;
        }
        if (table_rows(t) == 0) {
                if (arg_legend)
                        printf("No camera known yet.\n");
                return 0;
        }
        table_print(t, stdout);
        if (arg_legend) {
                if (reference)
                        printf("\nOffsets are against %s's clock (the first trigger camera): a file's mtime minus its "
                               "camera's offset is compared with shot times.\n",
                               reference);
                else
                        printf("\nOffsets are against this computer's clock (no trigger camera: shots are fired).\n");
                printf("An offset is used once it rests on %d samples, or from the start when configured "
                       "(ClockOffsetSec=).\n",
                       3);
        }
        return 0;
}
