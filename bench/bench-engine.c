/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Replays a synthetic campaign through the grouping engine and prints its
 * figures: events per second, peak RSS, and the heap cost of one indexed
 * file. Inputs are generated before the clock starts. The engine runs with
 * the daemon's defaults: offsets learned, duplicate triggers within W/2.
 *
 *   bench-engine [N_SHOTS [N_CAMERAS]]     (default 10000 shots x 100 cameras) */

#include <glib.h>
#include <malloc.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

#include "engine.h"

#define S ((nsec_t) NSEC_PER_SEC)

typedef struct Event {
        usec_t arrival;
        EngineFileInfo info;
} Event;

static uint64_t counts[_ENGINE_EVENT_MAX];

static void on_event(const EngineEvent *ev, void *userdata) {
        counts[ev->type]++;
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static long peak_rss_kib(void) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return ru.ru_maxrss;
}

static size_t heap_in_use(void) {
        struct mallinfo2 mi = mallinfo2();
        return mi.uordblks + mi.hblkhd;
}

static int event_cmp(const void *a, const void *b) {
        const Event *x = a, *y = b;
        return x->arrival < y->arrival ? -1 : x->arrival > y->arrival;
}

/* The daemon's defaults: offsets learned, duplicate triggers within W/2. */
static EngineParams params(void) {
        return (EngineParams) {
                .window = 30 * S,
                .timeout = 65 * USEC_PER_SEC,
                .late_grace = 600 * USEC_PER_SEC,
                .keep_unassigned = 3600 * USEC_PER_SEC,
                .learn_offsets = true,
                .min_shot_interval = 15 * S,
        };
}

static void replay(unsigned n_shots, unsigned n_cameras) {
        size_t n = (size_t) n_shots * n_cameras;
        Event *ev = g_new(Event, n);
        GRand *rand = g_rand_new_with_seed(42);
        nsec_t t0 = (nsec_t) 1765450200 * S; /* 2025-12-11 11:50 */
        char buf[128];

        /* One shot a minute; each camera writes within +-3 s of the shot
         * (clocks disagree) and reaches us 5 to 60 s later, in bursts. */
        for (unsigned s = 0; s < n_shots; s++)
                for (unsigned c = 0; c < n_cameras; c++) {
                        Event *e = &ev[(size_t) s * n_cameras + c];
                        nsec_t dt = t0 + (nsec_t) s * 60 * S + (nsec_t) g_rand_int_range(rand, -3000, 3000) * 1000000;
                        usec_t delay = (usec_t) g_rand_int_range(rand, 5000, 60000) * 1000;
                        snprintf(buf, sizeof buf, "cam%03u/20251211/E6_cam%03u__%08u_%06u.tiff", c, c, s, c);
                        e->info = (EngineFileInfo) {
                                .path = g_strdup(buf),
                                .camera = c,
                                .trigger = c < 5, /* five trigger cameras */
                                .dt = dt,
                        };
                        e->arrival = (usec_t) ((dt - t0) / 1000) + delay + USEC_PER_SEC;
                }
        qsort(ev, n, sizeof *ev, event_cmp);

        Engine *e;
        EngineParams p = params();
        if (engine_new(&p, on_event, NULL, &e) < 0)
                g_error("engine_new");
        if (engine_set_reference(e, "cam000") < 0)
                g_error("reference");
        for (unsigned c = 0; c < n_cameras; c++) {
                snprintf(buf, sizeof buf, "cam%03u", c);
                if (engine_add_camera(e, buf, NULL, 1, true, NULL) < 0)
                        g_error("add camera");
        }

        size_t peak_files = 0;
        double start = now_s();
        for (size_t i = 0; i < n; i++) {
                engine_run(e, ev[i].arrival);
                if (engine_add_file(e, &ev[i].info, ev[i].arrival, NULL) < 0)
                        g_error("add file");
                if ((i & 1023) == 0)
                        peak_files = MAX(peak_files, engine_n_files(e));
        }
        engine_run(e, USEC_INFINITY - 1);
        double wall = now_s() - start;

        printf("engine replay: %zu files, %u shots, %u cameras (5 trigger), W=30 s, T=65 s\n", n, n_shots, n_cameras);
        printf("  wall time          %.3f s\n", wall);
        printf("  events/s           %.0f\n", (double) n / wall);
        printf("  shots opened       %" PRIu64 "\n", counts[ENGINE_EVENT_SHOT_OPENED]);
        printf("  files assigned     %" PRIu64 " (%" PRIu64 " late)\n", counts[ENGINE_EVENT_FILE_ASSIGNED],
               (uint64_t) 0);
        printf("  orphans/duplicates %" PRIu64 "/%" PRIu64 " (%" PRIu64 " duplicate triggers)\n",
               counts[ENGINE_EVENT_FILE_ORPHANED], counts[ENGINE_EVENT_FILE_DUPLICATE],
               counts[ENGINE_EVENT_FILE_DUPLICATE_TRIGGER]);
        printf("  clock updates      %" PRIu64 " (%" PRIu64 " learned, %" PRIu64 " changed)\n",
               counts[ENGINE_EVENT_CLOCK_UPDATED], counts[ENGINE_EVENT_CLOCK_LEARNED],
               counts[ENGINE_EVENT_CLOCK_CHANGED]);
        printf("  files in memory    peak %zu, at the end %zu (%zu digests)\n", peak_files, engine_n_files(e),
               engine_n_tombstones(e));
        printf("  peak RSS           %.1f MiB (inputs included)\n", (double) peak_rss_kib() / 1024);

        engine_free(e);
        for (size_t i = 0; i < n; i++)
                g_free((char *) ev[i].info.path);
        g_free(ev);
        g_rand_free(rand);
}

/* The heap cost of one file held in the index (unassigned: the largest
 * record), measured by the allocator itself. */
static void index_cost(size_t n) {
        Engine *e;
        EngineParams p = params();
        p.keep_unassigned = USEC_INFINITY - 1;
        if (engine_new(&p, NULL, NULL, &e) < 0 || engine_add_camera(e, "Lanex1", NULL, 1, true, NULL) < 0)
                g_error("engine_new");

        nsec_t t0 = (nsec_t) 1765450200 * S;
        char buf[128];
        size_t before = heap_in_use();
        for (size_t i = 0; i < n; i++) {
                /* Names as long as the campaign's real ones (~50 bytes). */
                snprintf(buf, sizeof buf, "Lanex1/20251211/E6_Lanex1__22665529__20251211_%09zu.tiff", i);
                EngineFileInfo info = { .path = buf, .camera = 0, .dt = t0 + (nsec_t) i * 7 * 1000000 };
                if (engine_add_file(e, &info, 1, NULL) < 0)
                        g_error("add");
        }
        size_t after = heap_in_use();
        printf("index cost: %zu unassigned files of %zu-byte paths: %.0f bytes per indexed file (heap, path included)\n",
               n, strlen(buf), (double) (after - before) / (double) n);

        size_t t_before = heap_in_use();
        engine_free(e);
        Engine *e2;
        if (engine_new(&p, NULL, NULL, &e2) < 0)
                g_error("engine_new");
        t_before = heap_in_use();
        for (size_t i = 0; i < n; i++) {
                EnginePathKey k = { i + 1, i * 31 + 7 };
                /* Two days of files, as the history horizon keeps. */
                engine_add_tombstone(e2, &k, (nsec_t) (i % 2) * 86400 * NSEC_PER_SEC);
        }
        printf("forgotten files: %.0f bytes per digest\n", (double) (heap_in_use() - t_before) / (double) n);
        engine_free(e2);
}

int main(int argc, char *argv[]) {
        unsigned shots = argc > 1 ? (unsigned) atoi(argv[1]) : 10000;
        unsigned cameras = argc > 2 ? (unsigned) atoi(argv[2]) : 100;
        if (shots == 0 || cameras == 0 || cameras > 1000) {
                fprintf(stderr, "usage: bench-engine [N_SHOTS [N_CAMERAS]]\n");
                return 2;
        }
        replay(shots, cameras);
        index_cost(1000000);
        return 0;
}
