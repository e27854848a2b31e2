/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Any text as a configuration: an error with a message, or a configuration
 * that satisfies what config.h promises; never a crash. */

#include <glib.h>
#include <stdio.h>

#include "classify.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Config *c = NULL;
        g_autofree char *error = NULL;

        int r = config_load_from_data("fuzz.conf", (const char *) data, size, &c, &error);
        if (r < 0) {
                if (!error || !g_utf8_validate(error, -1, NULL) || strchr(error, '\n'))
                        abort(); /* one clear line, always */
                return 0;
        }
        if (!c->raw_root || c->raw_root[0] != '/' || !c->clean_root || c->clean_root[0] != '/' ||
            c->full_window_sec <= 0 || c->timeout_sec <= c->full_window_sec / 2 || c->n_kinds == 0)
                abort();
        for (size_t i = 0; i < c->n_cameras; i++) {
                const CameraConfig *cc = &c->cameras[i];
                if (cc->n_kinds == 0 || config_camera(c, cc->name) != cc)
                        abort();
                size_t kind;
                bool trigger;
                (void) classify_file(c, cc, "shot_0001.tiff", &kind, &trigger);
                for (size_t k = 0; k < cc->n_kinds; k++)
                        (void) config_kind_needs_suffix(cc, k, ".tiff");
        }
        config_free(c);
        return 0;
}
