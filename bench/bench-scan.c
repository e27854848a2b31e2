/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* How fast scan_tree() walks a campaign-sized raw tree: 100 camera folders
 * × 10 date folders × 100 files (100,000 files) by default. Creates the tree
 * in a new temporary folder (under DIR when given, else $TMPDIR or /tmp —
 * a tmpfs there makes a "cold" figure meaningless), optionally drops the
 * page cache first (root only), scans it cold then warm, prints files/s,
 * wall time and peak RSS, and removes the tree.
 *
 *   bench-scan [--drop-caches] [--cameras N] [--dates N] [--files N] [--keep] [DIR]
 */

#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "scan.h"

static nsec_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (nsec_t) ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static long peak_rss_kib(void) {
        struct rusage ru;
        return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

static int make_tree(const char *root, unsigned n_cameras, unsigned n_dates, unsigned n_files) {
        /* Deterministic but scattered mtimes: the sort does real work. */
        GRand *rand = g_rand_new_with_seed(42);
        const time_t t0 = 1765540000;
        int r = 0;

        for (unsigned c = 0; c < n_cameras && r == 0; c++) {
                g_autofree char *cam = g_strdup_printf("%s/Camera%03u", root, c);
                if (mkdir(cam, 0755) < 0) {
                        r = -errno;
                        break;
                }
                for (unsigned d = 0; d < n_dates && r == 0; d++) {
                        g_autofree char *date = g_strdup_printf("%s/202512%02u", cam, d + 1);
                        if (mkdir(date, 0755) < 0) {
                                r = -errno;
                                break;
                        }
                        int dfd = open(date, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (dfd < 0) {
                                r = -errno;
                                break;
                        }
                        for (unsigned i = 0; i < n_files; i++) {
                                char name[64];
                                snprintf(name, sizeof name, "Camera%03u_shot%05u.tiff", c, i);
                                int fd = openat(dfd, name, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
                                if (fd < 0) {
                                        r = -errno;
                                        break;
                                }
                                const struct timespec ts[2] = {
                                        { t0 + g_rand_int_range(rand, 0, 86400 * 30), g_rand_int_range(rand, 0, 1000000000) },
                                        { t0 + g_rand_int_range(rand, 0, 86400 * 30), g_rand_int_range(rand, 0, 1000000000) },
                                };
                                if (write(fd, "x", 1) != 1 || futimens(fd, ts) < 0)
                                        r = -errno;
                                close(fd);
                                if (r < 0)
                                        break;
                        }
                        close(dfd);
                }
        }
        g_rand_free(rand);
        return r;
}

static void rm_rf(const char *path) {
        struct stat st;
        if (lstat(path, &st) < 0)
                return;
        if (S_ISDIR(st.st_mode)) {
                GDir *d = g_dir_open(path, 0, NULL);
                if (d) {
                        const char *name;
                        while ((name = g_dir_read_name(d))) {
                                g_autofree char *child = g_build_filename(path, name, NULL);
                                rm_rf(child);
                        }
                        g_dir_close(d);
                }
        }
        if (remove(path) < 0)
                fprintf(stderr, "Cannot remove %s: %m\n", path);
}

static bool drop_caches(void) {
        sync();
        FILE *f = fopen("/proc/sys/vm/drop_caches", "we");
        if (!f)
                return false;
        bool ok = fputs("3\n", f) >= 0;
        return fclose(f) == 0 && ok;
}

static int run(const char *root, const char *label, size_t expected) {
        ScanResult *r = NULL;
        nsec_t start = now_ns();
        int k = scan_tree(root, 16, &r);
        nsec_t wall = now_ns() - start;
        if (k < 0) {
                fprintf(stderr, "scan_tree: %s\n", g_strerror(-k));
                return k;
        }
        double s = (double) wall / NSEC_PER_SEC;
        printf("%-5s %zu files in %zu folders: %.3f s wall, %.0f files/s, peak RSS %ld KiB%s\n", label,
               r->n_entries, r->n_dirs, s, (double) r->n_entries / s, peak_rss_kib(),
               r->n_entries == expected && r->n_errors == 0 ? "" : "  (UNEXPECTED COUNT OR ERRORS)");
        k = r->n_entries == expected && r->n_errors == 0 ? 0 : -EIO;
        scan_result_free(r);
        return k;
}

int main(int argc, char *argv[]) {
        gboolean drop = false, keep = false;
        int n_cameras = 100, n_dates = 10, n_files = 100;
        const GOptionEntry options[] = {
                { "drop-caches", 0, 0, G_OPTION_ARG_NONE, &drop, "Drop the page cache before the cold scan (root)", NULL },
                { "cameras", 0, 0, G_OPTION_ARG_INT, &n_cameras, "Camera folders (100)", "N" },
                { "dates", 0, 0, G_OPTION_ARG_INT, &n_dates, "Date folders per camera (10)", "N" },
                { "files", 0, 0, G_OPTION_ARG_INT, &n_files, "Files per date folder (100)", "N" },
                { "keep", 0, 0, G_OPTION_ARG_NONE, &keep, "Leave the tree in place", NULL },
                {},
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("[DIR] — time scan_tree() on a generated raw tree");
        g_option_context_add_main_entries(ctx, options, NULL);
        g_autoptr(GError) error = NULL;
        if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc > 2 || n_cameras <= 0 || n_dates <= 0 ||
            n_files < 0) {
                fprintf(stderr, "%s\n", error ? error->message : "bad arguments");
                return 2;
        }

        g_autofree char *tmpl = g_build_filename(argc == 2 ? argv[1] : g_get_tmp_dir(), "bench-scan-XXXXXX", NULL);
        if (!g_mkdtemp(tmpl)) {
                fprintf(stderr, "Cannot create %s: %m\n", tmpl);
                return 1;
        }
        g_autofree char *root = g_build_filename(tmpl, "raw", NULL);
        if (mkdir(root, 0755) < 0) {
                fprintf(stderr, "Cannot create %s: %m\n", root);
                rm_rf(tmpl);
                return 1;
        }

        size_t expected = (size_t) n_cameras * (size_t) n_dates * (size_t) n_files;
        printf("tree  %s: %d cameras × %d dates × %d files = %zu files\n", root, n_cameras, n_dates, n_files,
               expected);
        nsec_t start = now_ns();
        int r = make_tree(root, (unsigned) n_cameras, (unsigned) n_dates, (unsigned) n_files);
        if (r < 0) {
                fprintf(stderr, "Cannot create the tree: %s\n", g_strerror(-r));
                rm_rf(tmpl);
                return 1;
        }
        printf("made  in %.3f s, peak RSS %ld KiB\n", (double) (now_ns() - start) / NSEC_PER_SEC, peak_rss_kib());

        const char *label = "warm";
        if (drop) {
                if (drop_caches())
                        label = "cold";
                else
                        fprintf(stderr, "Cannot drop caches (needs root and a writable /proc/sys/vm): %m\n");
        }
        r = run(root, label, expected);
        if (r == 0)
                r = run(root, "warm", expected);

        if (keep)
                printf("kept  %s\n", tmpl);
        else
                rm_rf(tmpl);
        return r < 0 ? 1 : 0;
}
