/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Grouping accuracy against shot spacing: how many files land in the shot
 * of their own laser shot, with clock offsets learned (rule 14) and not.
 * A simulated 12-camera campaign (shotsync-sim's timeline, the daemon's
 * engine through --expect's code): offsets spread over -10..+10 s, each
 * file ±0.5 s around its camera's offset, files reaching the central PC
 * 6–30 s after they are written in bursts every 20 s (the real campaign's
 * sync), W = 35 s, T = 65 s. Each run starts with 10 shots a minute apart,
 * as a campaign's first shots teach the offsets, then 100 shots SPACING
 * seconds apart; MinShotIntervalSec is 3/4 of the spacing (at most W/2),
 * the laser's shortest period as the lab would set it. Deterministic:
 * fixed seeds.
 *
 *   bench-accuracy [--seeds N] [--failures]    (default 3 seeds per cell)
 *
 * --failures adds the real campaign's failures at its rates: cameras that
 * miss shots, write 50-90 s late, sync 30 s late, make extra acquisitions.
 * Files of missed or late-written shots have no true shot to land in; the
 * figure is still over every shot's file the cameras wrote on time. */

#include <getopt.h>
#include <stdio.h>

#include "sim.h"

static const struct {
        const char *name;
        bool trigger;
        const char *names;    /* Names= */
        const char *failures; /* the real campaign's rates (data/scenarios/campaign.ini), for --failures */
} cameras[] = {
        { "Lanex5", true, "Lanex5_{counter:5}.tiff", "NeverRate=0.006\n" },
        { "Lanex2", true, "{counter:5}_Lanex2.tiff", "NeverRate=0.04\nWriteLateRate=0.02\nWriteLateSec=70\n" },
        { "LanexGamma", true, "E6_Lanexgamma_{counter:5}.tiff",
          "NeverRate=0.035\nWriteLateRate=0.015\nWriteLateSec=50\n" },
        { "Lyso", true, "E6_LYSO_{counter:5}.tiff", "NeverRate=0.019\n" },
        { "Csi", true, "E6_CsI_{counter:5}.tiff", "NeverRate=0.019\nSyncLateRate=0.03\nSyncLateSec=30\n" },
        { "Lanex1", false, "E6_Lanex1_{counter:5}.tiff", "NeverRate=0.003\n" },
        { "DarkShadow", false, "Shadowgraphy_{counter:5}.tiff", "NeverRate=0.01\n" },
        { "TopView", false, "E6_topview_{counter:5}.tiff", "NeverRate=0.003\nDuplicateRate=0.1\n" },
        { "specular", false, "E6_Specular_{counter:5}.tiff",
          "NeverRate=0.04\nWriteLateRate=0.018\nWriteLateSec=90\nDuplicateRate=0.45\nSyncLateRate=0.03\n"
          "SyncLateSec=30\n" },
        { "NearField", false, "E6_NF_{counter:5}.png", "NeverRate=0.003\nDuplicateRate=0.25\n" },
        { "FROG", false, "{counter} - frog.tiff;{counter} - frog.fer", "NeverRate=0.006\nDuplicateRate=0.18\n" },
        { "Tracker", false, "tree_Run{counter}_1.root", "NeverRate=0.42\n" },
};

static bool arg_failures = false;

#define FIRST_SHOTS 10
#define SPACED_SHOTS 100
#define FAR_OFFSET 29.0

typedef struct Cell {
        uint64_t files, right, shots, extra_shots, scenario_shots;
} Cell;

static char *scenario_text(double spacing, bool far, uint64_t seed) {
        g_autoptr(GString) s = g_string_new(NULL);
        g_string_append_printf(s,
                               "[Scenario]\nShots=%d\nPeriods=%d:60:10;%d:%g\nSeed=%" PRIu64
                               "\nJitterSec=0.5\nFileSize=1\n"
                               "[Sync]\nDelayMinSec=6\nDelayMaxSec=30\nBurstPeriodSec=20\n",
                               FIRST_SHOTS + SPACED_SHOTS, FIRST_SHOTS, SPACED_SHOTS, spacing, seed);
        size_t n = G_N_ELEMENTS(cameras);
        for (size_t i = 0; i < n; i++) {
                /* The first trigger camera is the reference, 0; the others
                 * -10 … +10 s from it, in an order unrelated to which
                 * cameras trigger. */
                double offset = i == 0 ? 0 : -10.0 + 2.0 * (double) (((i - 1) * 7) % (n - 1));
                g_string_append_printf(s, "[Camera %s]\nTrigger=%s\nNames=%s\nClockOffsetSec=%.3f\n%s", cameras[i].name,
                                       cameras[i].trigger ? "true" : "false", cameras[i].names, offset,
                                       arg_failures ? cameras[i].failures : "");
        }
        if (far)
                g_string_append_printf(s, "[Camera Far]\nNames=far_{counter:5}.tiff\nClockOffsetSec=%g\n", FAR_OFFSET);
        return g_string_free(TAKE_PTR(s), false);
}

static char *config_text(double spacing, bool learn, bool far) {
        g_autoptr(GString) s = g_string_new(NULL);
        double msi = MIN(35.0 / 2, 0.75 * spacing);
        g_string_append_printf(s,
                               "[Watch]\nRawRoot=/raw\nTriggerKeyword=\n[Output]\nCleanRoot=/clean\n"
                               "[Grouping]\nFullWindowSec=35\nTimeoutSec=65\nLateGraceSec=600\n"
                               "LearnClockOffsets=%s\nMinShotIntervalSec=%g\n",
                               learn ? "true" : "false", msi);
        for (size_t i = 0; i < G_N_ELEMENTS(cameras); i++) {
                g_string_append_printf(s, "[Camera %s]\nTrigger=%s\n", cameras[i].name,
                                       cameras[i].trigger ? "true" : "false");
                if (strchr(cameras[i].names, ';'))
                        g_string_append(s, "Files=*.tiff;*.fer\n");
                else if (strstr(cameras[i].names, ".png"))
                        g_string_append(s, "Files=*.png\n");
                else if (strstr(cameras[i].names, ".root"))
                        g_string_append(s, "Files=*.root\n");
                else
                        g_string_append(s, "Files=*.tiff\n");
        }
        if (far)
                g_string_append(s, "[Camera Far]\nFiles=*.tiff\n");
        return g_string_free(TAKE_PTR(s), false);
}

static void run(double spacing, bool learn, bool far, uint64_t seed, Cell *cell) {
        g_autoptr(GError) error = NULL;
        g_autofree char *stext = scenario_text(spacing, far, seed);
        g_autofree char *ctext = config_text(spacing, learn, far);

        g_autoptr(SimScenario) sc = sim_scenario_load_from_data("bench", stext, strlen(stext), &error);
        if (!sc)
                g_error("scenario: %s", error->message);
        _cleanup_config_ Config *c = NULL;
        g_autofree char *cerr = NULL;
        if (config_load_from_data("bench.conf", ctext, strlen(ctext), &c, &cerr) < 0)
                g_error("config: %s", cerr);

        SimTimelineOptions o = {
                .start = (nsec_t) 1765450200 * NSEC_PER_SEC,
                .speed = 1,
                .timeout = (usec_t) (c->timeout_sec * 1e6),
        };
        g_autoptr(SimTimeline) t = sim_timeline_new(sc, &o, &error);
        if (!t)
                g_error("timeline: %s", error->message);
        g_autoptr(SimExpect) x = sim_expect_compute(t, c, 0, 0, &error);
        if (!x)
                g_error("expect: %s", error->message);

        /* Each shot stands for the laser shot most of its files are of:
         * whatever file opened it, what matters is what it groups. */
        g_autoptr(GHashTable) shot_of = g_hash_table_new(g_str_hash, g_str_equal);
        g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);
        for (guint i = 0; i < x->shots->len; i++) {
                const SimExpectShot *s = x->shots->pdata[i];
                g_autoptr(GHashTable) votes = g_hash_table_new(NULL, NULL);
                uint32_t best = s->sim_shot, best_votes = 0;
                for (guint k = 0; k < s->files->len; k++) {
                        const SimFile *f = &t->files[g_array_index(s->files, size_t, k)];
                        uint32_t v = GPOINTER_TO_UINT(g_hash_table_lookup(votes, GUINT_TO_POINTER(f->shot))) + 1;
                        g_hash_table_insert(votes, GUINT_TO_POINTER(f->shot), GUINT_TO_POINTER(v));
                        if (v > best_votes || (v == best_votes && f->shot == s->sim_shot)) {
                                best = f->shot;
                                best_votes = v;
                        }
                }
                g_hash_table_insert(shot_of, s->id, GUINT_TO_POINTER(best));
                if (best == 0 || !g_hash_table_add(seen, GUINT_TO_POINTER(best)))
                        cell->extra_shots++;
        }
        cell->shots += x->shots->len;
        cell->scenario_shots += t->n_shots;
        for (size_t i = 0; i < t->n_files; i++) {
                const SimFile *f = &t->files[i];
                const SimExpectFile *xf = &x->files[i];
                /* A file written long after its shot has no true shot to
                 * land in: what becomes of it is another question. */
                if (f->role != SIM_FILE_SHOT || (f->failures & (1u << SIM_FAIL_WRITE_LATE)))
                        continue;
                cell->files++;
                if (xf->fate == SIM_FATE_ASSIGNED &&
                    GPOINTER_TO_UINT(g_hash_table_lookup(shot_of, xf->shot_id)) == f->shot)
                        cell->right++;
                else if (getenv("BENCH_ACCURACY_DEBUG")) {
                        g_autofree char *note = sim_file_note(t, f);
                        fprintf(stderr, "spacing %g learn %d far %d: %s (shot %" PRIu32 ", %s): %s %s\n", spacing, learn,
                                far, f->rel_path, f->shot, note, sim_fate_to_string(xf->fate), xf->shot_id ?: "");
                }
        }
}

int main(int argc, char *argv[]) {
        static const double spacings[] = { 60, 20, 10, 8, 4 };
        static const struct option options[] = {
                { "seeds", required_argument, NULL, 's' },
                { "failures", no_argument, NULL, 'f' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        unsigned n_seeds = 3;
        int ch;

        while ((ch = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (ch) {
                case 's':
                        n_seeds = (unsigned) atoi(optarg);
                        if (n_seeds == 0 || n_seeds > 1000) {
                                fprintf(stderr, "--seeds: 1 to 1000\n");
                                return 2;
                        }
                        break;
                case 'f':
                        arg_failures = true;
                        break;
                case 'h':
                        printf("bench-accuracy [--seeds N] [--failures]: files in their true shot against shot "
                               "spacing;\n--failures adds the real campaign's missed shots, late writes, late "
                               "syncs and extra acquisitions\n");
                        return 0;
                default:
                        return 2;
                }

        printf("Grouping accuracy: the files in the shot of their own laser shot, and the shots opened\n"
               "beyond the laser's (%u seeds x %d shots per cell: %d a minute apart, then %d at the\n"
               "spacing). 12 cameras -10..+10 s from the reference camera, jitter +-0.5 s, W = 35 s,\n"
               "MinShotIntervalSec = 3/4 of the spacing, sync delays 6-30 s in bursts every 20 s%s.\n\n",
               n_seeds, FIRST_SHOTS + SPACED_SHOTS, FIRST_SHOTS, SPACED_SHOTS,
               arg_failures ? ";\nwith the campaign's failures (missed shots, late writes and syncs, extra acquisitions)" :
                              "");
        printf("%-8s  %-22s  %-22s  %-22s  %-22s\n", "", "learning on", "learning off", "on, +1 cam at +29 s",
               "off, +1 cam at +29 s");
        printf("%-8s  %-22s  %-22s  %-22s  %-22s\n", "spacing", "files     extra shots", "files     extra shots",
               "files     extra shots", "files     extra shots");
        for (size_t i = 0; i < G_N_ELEMENTS(spacings); i++) {
                printf("%5g s ", spacings[i]);
                for (int far = 0; far <= 1; far++)
                        for (int learn = 1; learn >= 0; learn--) {
                                Cell cell = {};
                                for (unsigned k = 0; k < n_seeds; k++)
                                        run(spacings[i], learn, far, 20251212 + k, &cell);
                                printf("  %6.2f %%  %5" PRIu64 "       ", 100.0 * (double) cell.right / (double) cell.files,
                                       cell.extra_shots);
                        }
                putchar('\n');
                fflush(stdout);
        }
        return 0;
}
