/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Crash-safe persistence: snapshots round-trip, older unwritten snapshots
 * fold into newer ones, per-shot files come and go, and what a crash leaves
 * (a torn digest record, a damaged shot file) is survived. */

#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>

#include "state.h"

static StateShot *add_shot(StateSnapshot *s, uint32_t number, const char *cam) {
        StateShot *sh = state_snapshot_add_shot(s);
        sh->date = 20251211;
        sh->number = number;
        sh->status = SHOT_COLLECTING;
        sh->trigger_camera = cam ? g_strdup(cam) : NULL;
        sh->trigger_time = 1765450200000000000 + number;
        sh->window_start = sh->trigger_time - 5000000000;
        sh->window_end = sh->trigger_time + 5000000000;
        sh->live = true;
        sh->expected = g_strsplit("Trig,A", ",", 0);
        StateFile *f = state_shot_add_file(sh);
        f->path = g_strdup("Trig/20251211/sh\xffot \\ 1.tif");
        f->camera = g_strdup("Trig");
        f->trigger = true;
        f->dt = sh->trigger_time;
        g_hash_table_insert(sh->metadata, g_strdup("energy"), g_strdup("1.2 J"));
        return sh;
}

static void test_round_trip(void) {
        g_autoptr(StateSnapshot) s = state_snapshot_new();
        uint32_t ranges[] = { 1, 4, 9, 9 };
        s->paused = true;
        state_snapshot_add_counter(s, 20251211, 10, ranges, 2);
        add_shot(s, 3, "Trig");
        add_shot(s, 4, NULL); /* a Fire */

        size_t len;
        g_autofree char *data = state_to_data(s, &len);
        g_autoptr(StateSnapshot) t = NULL;
        g_assert_cmpint(state_from_data(data, len, &t), ==, 0);
        g_assert_true(t->paused);
        g_assert_cmpuint(t->n_counters, ==, 1);
        g_assert_cmpuint(t->counters[0].next, ==, 10);
        g_assert_cmpuint(t->counters[0].n_ranges, ==, 2);
        g_assert_cmpuint(t->counters[0].ranges[3], ==, 9);
        g_assert_cmpuint(t->n_shots, ==, 2);
        g_assert_cmpstr(t->shots[0].trigger_camera, ==, "Trig");
        g_assert_null(t->shots[1].trigger_camera);
        g_assert_cmpstr(t->shots[0].files[0].path, ==, "Trig/20251211/sh\xffot \\ 1.tif");
        g_assert_cmpint(t->shots[0].files[0].dt, ==, s->shots[0].trigger_time);
        g_assert_cmpstr(g_hash_table_lookup(t->shots[0].metadata, "energy"), ==, "1.2 J");
        g_assert_cmpstr(t->shots[1].expected[1], ==, "A");

        /* Anything else is refused, never half-read. */
        g_autoptr(StateSnapshot) bad = NULL;
        g_assert_cmpint(state_from_data("{}", 2, &bad), <, 0);
        g_assert_cmpint(state_from_data("[1,2]", 5, &bad), <, 0);
        g_assert_cmpint(state_from_data("{\"version\":2", 12, &bad), <, 0);
        for (size_t cut = 0; cut < len; cut += 7)
                g_assert_cmpint(state_from_data(data, cut, &bad), <, 0);
}

/* Rule 14 and rule 4 in the state: each camera's clock estimate exactly as
 * the engine keeps it, a file's offset, a shot's duplicate triggers; a
 * state without them (older) reads, and a clock that does not read is
 * dropped, never the state. */
static void test_clocks(void) {
        g_autoptr(StateSnapshot) s = state_snapshot_new();
        EngineClock c = {
                .offset = 9100000000, .spread = 311000000, .deviation = 248000000, .samples = 12, .observed = 40,
                .trusted = true, .configured = true, .seed = 9000000000,
                .recent = { 9100000000, 9000000000, -3, 4 }, .n_recent = 4, .next_recent = 4,
                .run = { 29000000000 }, .n_run = 1,
                .hypotheses = { { 1, 2 }, { -5 } }, .hypothesis_runs = { 2, 1 }, .n_hypotheses = 2,
                .previous = 4000000000, .changed_at = 1765450200000000000,
        };
        state_snapshot_add_clock(s, "FROG", &c);
        state_snapshot_add_clock(s, "Lanex5", &(EngineClock) { .samples = 1, .recent = { 7 }, .n_recent = 1, .next_recent = 1 });
        s->clock_reference = g_strdup("Lanex5");
        StateShot *sh = add_shot(s, 3, "Trig");
        sh->files[0].offset = -1500000000;
        sh->duplicate_triggers = g_strsplit("Trig/20251211/frame 1.tif;Trig/20251211/fr\xfe" "ame 2.tif", ";", 0);

        size_t len;
        g_autofree char *data = state_to_data(s, &len);
        g_autoptr(StateSnapshot) t = NULL;
        g_assert_cmpint(state_from_data(data, len, &t), ==, 0);
        g_assert_cmpstr(t->clock_reference, ==, "Lanex5");
        g_assert_cmpuint(t->n_clocks, ==, 2);
        g_assert_cmpstr(t->clocks[0].camera, ==, "FROG");
        g_assert_cmpmem(&t->clocks[0].clock, sizeof(EngineClock), &c, sizeof(EngineClock));
        g_assert_cmpint(t->shots[0].files[0].offset, ==, -1500000000);
        g_assert_cmpstrv(t->shots[0].duplicate_triggers, sh->duplicate_triggers);

        /* Version 3 before clock offsets. */
        static const char older[] = "{\"version\":3,\"paused\":false,\"counters\":[],\"shots\":[]}";
        g_autoptr(StateSnapshot) o = NULL;
        g_assert_cmpint(state_from_data(older, strlen(older), &o), ==, 0);
        g_assert_cmpuint(o->n_clocks, ==, 0);
        g_assert_null(o->clock_reference);

        /* A damaged clock is learned again; the numbering survives. */
        static const char damaged[] = "{\"version\":3,\"paused\":false,\"counters\":[{\"date\":20251211,"
                                      "\"next\":5,\"used\":[1,4]}],\"clocks\":{\"FROG\":{\"offset\":\"nine\"},"
                                      "\"A\":[1]},\"shots\":[]}";
        g_autoptr(StateSnapshot) d = NULL;
        g_assert_cmpint(state_from_data(damaged, strlen(damaged), &d), ==, 0);
        g_assert_cmpuint(d->n_clocks, ==, 0);
        g_assert_cmpuint(d->counters[0].next, ==, 5);
}

static void test_absorb(void) {
        g_autoptr(StateSnapshot) older = state_snapshot_new();
        g_autoptr(StateSnapshot) newer = state_snapshot_new();
        older->seq = 3;
        older->write_main = true;
        add_shot(older, 1, "Trig");
        add_shot(older, 2, "Trig");
        state_snapshot_remove_shot(older, "20251211-007");
        older->forget = g_new0(StateForgotten, 1);
        older->forget[0] = (StateForgotten) { { 1, 2 }, 3 };
        older->n_forget = 1;

        newer->seq = 4;
        StateShot *n2 = add_shot(newer, 2, "Trig");
        n2->status = SHOT_COMPLETE;
        state_snapshot_remove_shot(newer, "20251211-001");

        state_snapshot_absorb(newer, older);
        g_assert_cmpuint(newer->seq, ==, 4);
        g_assert_true(newer->write_main);
        /* 1 removed by the newer, 2 as the newer says, 7 still to remove. */
        g_assert_cmpuint(newer->n_shots, ==, 1);
        g_assert_cmpint(newer->shots[0].status, ==, SHOT_COMPLETE);
        g_assert_cmpuint(newer->removed->len, ==, 2);
        g_assert_cmpuint(newer->n_forget, ==, 1);
}

static void count_key(const StateForgotten *k, void *userdata) {
        g_assert_cmpint(k->dt, ==, (int64_t) k->id.a * 1000);
        (*(unsigned *) userdata)++;
}

static void count_legacy(const EnginePathKey *k, void *userdata) {
        (*(unsigned *) userdata)++;
}

static void test_files(void) {
        g_autofree char *dir = g_dir_make_tmp("shotsync-state-XXXXXX", NULL);
        g_assert_nonnull(dir);

        g_autoptr(StateSnapshot) s = state_snapshot_new();
        s->write_main = true;
        state_snapshot_add_counter(s, 20251211, 3, (uint32_t[]) { 1, 2 }, 1);
        add_shot(s, 1, "Trig");
        add_shot(s, 2, "Trig");
        s->forget = g_new0(StateForgotten, 3);
        s->n_forget = 3;
        for (int i = 0; i < 3; i++)
                s->forget[i] = (StateForgotten) { { (uint64_t) i + 1, 7 }, (i + 1) * 1000 };
        g_assert_cmpint(state_save(dir, s), ==, 0);

        /* The next save only touches what changed. */
        g_autoptr(StateSnapshot) s2 = state_snapshot_new();
        state_snapshot_remove_shot(s2, "20251211-001");
        g_assert_cmpint(state_save(dir, s2), ==, 0);

        /* A torn record (crash mid-append) and a damaged shot file. */
        g_autofree char *fb = g_build_filename(dir, "forgotten2.bin", NULL);
        FILE *f = fopen(fb, "ab");
        fwrite("abcde", 1, 5, f);
        fclose(f);
        g_autofree char *junk = g_build_filename(dir, "shots", "20251211-009.json", NULL);
        g_assert_true(g_file_set_contents(junk, "{\"date\":", -1, NULL));
        g_autofree char *tmp = g_build_filename(dir, "shots", ".#20251211-010.json.1234", NULL);
        g_assert_true(g_file_set_contents(tmp, "half", -1, NULL));

        g_autoptr(StateSnapshot) l = NULL;
        g_assert_cmpint(state_load(dir, &l), ==, 0);
        g_assert_cmpuint(l->n_counters, ==, 1);
        g_assert_cmpuint(l->n_shots, ==, 1);
        g_assert_cmpuint(l->shots[0].number, ==, 2);
        g_assert_nonnull(l->bad);
        g_assert_cmpuint(l->bad->len, ==, 1);
        g_assert_true(g_str_has_suffix(l->bad->pdata[0], "20251211-009.json"));

        unsigned n = 0;
        g_assert_cmpint(state_load_forgotten(dir, count_key, &n), ==, 0);
        g_assert_cmpuint(n, ==, 3);
        /* The next append realigns past the torn tail. */
        g_autoptr(StateSnapshot) s3 = state_snapshot_new();
        s3->forget = g_new0(StateForgotten, 1);
        s3->forget[0] = (StateForgotten) { { 9, 9 }, 9000 };
        s3->n_forget = 1;
        g_assert_cmpint(state_save(dir, s3), ==, 0);
        n = 0;
        g_assert_cmpint(state_load_forgotten(dir, count_key, &n), ==, 0);
        g_assert_cmpuint(n, ==, 4);

        /* Version 2's digests of paths alone: read, with when they were written. */
        g_autofree char *legacy = g_build_filename(dir, "forgotten.bin", NULL);
        EnginePathKey old[2] = { { 1, 2 }, { 3, 4 } };
        g_assert_true(g_file_set_contents(legacy, (const char *) old, sizeof old, NULL));
        n = 0;
        nsec_t written = 0;
        g_assert_cmpint(state_load_legacy_forgotten(dir, count_legacy, &n, &written), ==, 0);
        g_assert_cmpuint(n, ==, 2);
        g_assert_cmpint(written, >, 0);

        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
        g_assert_cmpint(system(cmd), ==, 0);
}

static void test_empty_dir(void) {
        g_autofree char *dir = g_dir_make_tmp("shotsync-state-XXXXXX", NULL);
        g_autoptr(StateSnapshot) l = NULL;
        g_assert_cmpint(state_load(dir, &l), ==, 0);
        g_assert_cmpuint(l->n_shots, ==, 0);
        unsigned n = 0;
        g_assert_cmpint(state_load_forgotten(dir, count_key, &n), ==, 0);
        g_assert_cmpuint(n, ==, 0);
        g_rmdir(dir);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/state/round-trip", test_round_trip);
        g_test_add_func("/state/absorb", test_absorb);
        g_test_add_func("/state/clocks", test_clocks);
        g_test_add_func("/state/files", test_files);
        g_test_add_func("/state/empty-dir", test_empty_dir);
        return g_test_run();
}
