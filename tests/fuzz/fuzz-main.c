/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Without libFuzzer (gcc, or an ordinary build): replays every file of the
 * corpus folders given as arguments, so the corpus runs as a regression
 * test everywhere. */

#include <glib.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char *argv[]) {
        unsigned n = 0;
        for (int i = 1; i < argc; i++) {
                g_autoptr(GDir) d = g_dir_open(argv[i], 0, NULL);
                if (!d) {
                        fprintf(stderr, "cannot open %s\n", argv[i]);
                        return 1;
                }
                const char *name;
                while ((name = g_dir_read_name(d))) {
                        g_autofree char *p = g_build_filename(argv[i], name, NULL);
                        g_autofree char *data = NULL;
                        gsize len;
                        if (!g_file_get_contents(p, &data, &len, NULL))
                                continue;
                        LLVMFuzzerTestOneInput((const uint8_t *) data, len);
                        n++;
                }
        }
        printf("%u inputs replayed\n", n);
        return n > 0 ? 0 : 1;
}
