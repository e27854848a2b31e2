/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* How fast the clean tree fills: publish_file() in each mode on files of a
 * camera's size, publish_replace() of a manifest, and file_sha256() alone
 * (every copy reads its bytes back once for the hash). Everything runs with
 * warm caches on the file system that holds DIR, fsync()s included.
 *
 *   bench-publish [DIR [FILE_MIB [FILES]]]     default: $TMPDIR or /var/tmp, 16, 32 */

#include <fcntl.h>
#include <ftw.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <time.h>

#include "manifest.h"
#include "publish.h"

static double now_sec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

static void report(const char *what, unsigned n, uint64_t bytes, double sec) {
        printf("%-28s %6u files %9.1f MiB %8.3f s %9.1f MiB/s %9.1f files/s\n", what, n,
               (double) bytes / (1 << 20), sec, (double) bytes / (1 << 20) / sec, n / sec);
}

int main(int argc, char **argv) {
        const char *base = argc > 1 ? argv[1] : g_getenv("TMPDIR") ?: "/var/tmp";
        unsigned mib = argc > 2 ? (unsigned) atoi(argv[2]) : 16;
        unsigned n = argc > 3 ? (unsigned) atoi(argv[3]) : 32;
        if (mib == 0 || n == 0) {
                fprintf(stderr, "usage: %s [DIR [FILE_MIB [FILES]]]\n", argv[0]);
                return 2;
        }
        size_t size = (size_t) mib << 20;

        g_autofree char *tmpl = g_build_filename(base, "bench-publish-XXXXXX", NULL);
        if (!g_mkdtemp(tmpl)) {
                fprintf(stderr, "%s: %s\n", tmpl, g_strerror(errno));
                return 1;
        }
        g_autofree char *raw = g_build_filename(tmpl, "raw", NULL);
        g_autofree char *clean = g_build_filename(tmpl, "clean", NULL);
        g_mkdir(raw, 0755);
        int r = publish_prepare(clean);
        if (r < 0) {
                fprintf(stderr, "publish_prepare: %s\n", g_strerror(-r));
                return 1;
        }

        /* Incompressible content, as camera images nearly are. */
        g_autofree unsigned char *buf = g_malloc(size);
        GRand *rand = g_rand_new_with_seed(1);
        for (size_t i = 0; i < size; i += 4)
                *(guint32 *) (buf + i) = g_rand_int(rand);
        g_rand_free(rand);

        char **srcs = g_new0(char *, n + 1);
        for (unsigned i = 0; i < n; i++) {
                srcs[i] = g_strdup_printf("%s/img%04u.tif", raw, i);
                if (!g_file_set_contents(srcs[i], (const char *) buf, (gssize) size, NULL)) {
                        fprintf(stderr, "cannot write %s\n", srcs[i]);
                        return 1;
                }
        }
        /* The raw files' own write-back is not the publisher's cost. */
        int dfd = open(raw, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || syncfs(dfd) < 0)
                return 1;
        close(dfd);
        printf("%s: %u files of %u MiB\n", tmpl, n, mib);

        static const char *const modes[] = { "copy", "hardlink", "reflink" };
        for (PublishMode m = 0; m < _PUBLISH_MODE_MAX; m++) {
                uint64_t bytes = 0;
                bool fell_back = false;
                double t0 = now_sec();
                for (unsigned i = 0; i < n; i++) {
                        g_autofree char *dst = g_strdup_printf("%s/%s/20261123/img%04u.tif", clean, modes[m], i);
                        PublishResult res;
                        r = publish_file(clean, m, srcs[i], dst, &res);
                        if (r < 0) {
                                fprintf(stderr, "publish_file(%s): %s\n", dst, g_strerror(-r));
                                return 1;
                        }
                        bytes += res.size;
                        fell_back = fell_back || res.fell_back;
                }
                g_autofree char *what = g_strdup_printf("publish_file %s%s", modes[m], fell_back ? " (copied)" : "");
                report(what, n, bytes, now_sec() - t0);
        }

        /* A republish after a crash: everything is there already. */
        double t0 = now_sec();
        for (unsigned i = 0; i < n; i++) {
                g_autofree char *dst = g_strdup_printf("%s/copy/20261123/img%04u.tif", clean, i);
                PublishResult res;
                if (publish_file(clean, PUBLISH_COPY, srcs[i], dst, &res) < 0 || !res.existed)
                        return 1;
        }
        report("publish_file copy, existing", n, (uint64_t) size * n, now_sec() - t0);

        t0 = now_sec();
        for (unsigned i = 0; i < n; i++) {
                int fd = open(srcs[i], O_RDONLY | O_CLOEXEC);
                char sha[65];
                uint64_t got;
                if (fd < 0 || file_sha256(fd, sha, &got) < 0)
                        return 1;
                close(fd);
        }
        report("file_sha256", n, (uint64_t) size * n, now_sec() - t0);

        /* Manifests: small, rewritten when late files or metadata arrive. */
        g_autoptr(Manifest) mf = manifest_new();
        g_strlcpy(mf->id, "20261123-001", sizeof mf->id);
        mf->date = 20261123;
        mf->number = 1;
        mf->status = SHOT_COMPLETE;
        for (unsigned i = 0; i < 14; i++)
                manifest_add_file(mf, "Camera", 1, srcs[i % n], 0, srcs[i % n], false);
        size_t len;
        g_autofree char *text = manifest_to_data(mf, &len);
        g_autofree char *mpath = manifest_path(clean, 20261123, 1);
        unsigned nm = 200;
        t0 = now_sec();
        for (unsigned i = 0; i < nm; i++)
                if (publish_replace(clean, mpath, text, len) < 0)
                        return 1;
        report("publish_replace manifest", nm, (uint64_t) len * nm, now_sec() - t0);

        g_strfreev(srcs);
        (void) nftw(tmpl, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        return 0;
}
