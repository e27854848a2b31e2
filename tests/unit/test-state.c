/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Crash-safe persistence: snapshots round-trip, older unwritten snapshots
 * fold into newer ones, commits are journal lines replayed over a base, and
 * what a crash leaves (a torn record, a damaged shot file of version 3) is
 * survived. */

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

/* Clocks travel with the main file: a newer snapshot that writes it says
 * what the clocks are, even none (all learned again after the reference
 * changed); one that does not keeps the older one's. */
static void test_absorb_clocks(void) {
        EngineClock learned = { .offset = 9000000000, .samples = 9, .observed = 9, .trusted = true };
        g_autoptr(StateSnapshot) older = state_snapshot_new();
        older->write_main = true;
        older->clock_reference = g_strdup("Trig");
        state_snapshot_add_clock(older, "FROG", &learned);
        g_autoptr(StateSnapshot) newer = state_snapshot_new();
        newer->write_main = true;
        newer->clock_reference = g_strdup("Lanex5");
        state_snapshot_absorb(newer, older);
        g_assert_cmpuint(newer->n_clocks, ==, 0);
        g_assert_cmpstr(newer->clock_reference, ==, "Lanex5");

        g_autoptr(StateSnapshot) older2 = state_snapshot_new();
        older2->write_main = true;
        older2->clock_reference = g_strdup("Trig");
        /* Many cameras (a folder each, no [Camera] group): grown by doubling. */
        for (unsigned i = 0; i < 10000; i++) {
                g_autofree char *name = g_strdup_printf("Cam%05u", i);
                learned.offset = i;
                state_snapshot_add_clock(older2, name, &learned);
        }
        g_autoptr(StateSnapshot) newer2 = state_snapshot_new();
        state_snapshot_absorb(newer2, older2);
        g_assert_true(newer2->write_main);
        g_assert_cmpuint(newer2->n_clocks, ==, 10000);
        g_assert_cmpstr(newer2->clocks[9999].camera, ==, "Cam09999");
        g_assert_cmpint(newer2->clocks[4242].clock.offset, ==, 4242);
        g_assert_cmpstr(newer2->clock_reference, ==, "Trig");
        /* More after the move still grows the array it came with. */
        state_snapshot_add_clock(newer2, "Extra", &learned);
        g_assert_cmpstr(newer2->clocks[10000].camera, ==, "Extra");
}

static void count_key(const StateForgotten *k, void *userdata) {
        g_assert_cmpint(k->dt, ==, (int64_t) k->id.a * 1000);
        (*(unsigned *) userdata)++;
}

static void count_legacy(const EnginePathKey *k, void *userdata) {
        (*(unsigned *) userdata)++;
}

static unsigned count_lines(const char *path) {
        g_autofree char *text = NULL;
        if (!g_file_get_contents(path, &text, NULL, NULL))
                return 0;
        unsigned n = 0;
        for (const char *p = text; *p; p++)
                n += *p == '\n';
        return n;
}

/* A commit is one journal line; a load replays the lines over the base; a
 * base folds everything and empties the journal. */
static void test_files(void) {
        g_autofree char *dir = g_dir_make_tmp("shotsync-state-XXXXXX", NULL);
        g_assert_nonnull(dir);
        g_autofree char *journal = g_build_filename(dir, "journal", NULL);

        g_autoptr(StateSnapshot) s = state_snapshot_new();
        s->seq = 1;
        s->write_main = true;
        state_snapshot_add_counter(s, 20251211, 3, (uint32_t[]) { 1, 2 }, 1);
        add_shot(s, 1, "Trig");
        add_shot(s, 2, "Trig");
        s->forget = g_new0(StateForgotten, 3);
        s->n_forget = 3;
        for (int i = 0; i < 3; i++)
                s->forget[i] = (StateForgotten) { { (uint64_t) i + 1, 7 }, (i + 1) * 1000 };
        StateSaveInfo info;
        g_assert_cmpint(state_save(dir, s, &info), ==, 0);
        g_assert_false(info.base);
        g_assert_cmpuint(info.journal_size, >, 0);

        /* The next commit says only what changed. */
        g_autoptr(StateSnapshot) s2 = state_snapshot_new();
        s2->seq = 2;
        state_snapshot_remove_shot(s2, "20251211-001");
        StateShot *changed = add_shot(s2, 2, "Trig");
        changed->status = SHOT_COMPLETE;
        g_assert_cmpint(state_save(dir, s2, NULL), ==, 0);
        g_assert_cmpuint(count_lines(journal), ==, 2);

        /* A torn record (crash mid-append) is cut off, not half-applied. */
        FILE *f = fopen(journal, "ab");
        fwrite("0123456789abcdef {\"seq\":3,\"shots\":[", 1, 35, f);
        fclose(f);

        g_autoptr(StateSnapshot) l = NULL;
        g_assert_cmpint(state_load(dir, &l), ==, 0);
        g_assert_cmpuint(l->seq, ==, 2);
        g_assert_cmpuint(l->n_counters, ==, 1);
        g_assert_cmpuint(l->n_shots, ==, 1);
        g_assert_cmpuint(l->shots[0].number, ==, 2);
        g_assert_cmpint(l->shots[0].status, ==, SHOT_COMPLETE);
        g_assert_cmpuint(l->n_forget, ==, 3);
        g_assert_cmpint(l->forget[2].dt, ==, 3000);
        g_assert_cmpuint(l->journal_torn, ==, 35);
        g_assert_cmpuint(l->n_journal_records, ==, 2);
        g_assert_cmpuint(count_lines(journal), ==, 2);

        /* A checksum that does not match is a torn record too. */
        f = fopen(journal, "ab");
        fwrite("0123456789abcdef {\"seq\":3}\n", 1, 28, f);
        fclose(f);
        g_autoptr(StateSnapshot) l2 = NULL;
        g_assert_cmpint(state_load(dir, &l2), ==, 0);
        g_assert_cmpuint(l2->seq, ==, 2);
        g_assert_cmpuint(l2->journal_torn, ==, 28);

        /* A base: everything in state.json and forgotten2.bin, the journal emptied. */
        g_autoptr(StateSnapshot) b = state_snapshot_new();
        b->seq = 3;
        b->full = true;
        b->write_main = true;
        state_snapshot_add_counter(b, 20251211, 3, (uint32_t[]) { 1, 2 }, 1);
        add_shot(b, 2, "Trig");
        b->forget = g_new0(StateForgotten, 1);
        b->forget[0] = (StateForgotten) { { 9, 9 }, 9000 };
        b->n_forget = 1;
        g_assert_cmpint(state_save(dir, b, &info), ==, 0);
        g_assert_true(info.base);
        g_assert_cmpuint(count_lines(journal), ==, 0);
        unsigned n = 0;
        g_assert_cmpint(state_load_forgotten(dir, count_key, &n), ==, 0);
        g_assert_cmpuint(n, ==, 1);

        /* A commit older than the base (a crash before the journal was
         * emptied) is not replayed over it. */
        g_autoptr(StateSnapshot) old = state_snapshot_new();
        old->seq = 3;
        state_snapshot_remove_shot(old, "20251211-002");
        g_assert_cmpint(state_save(dir, old, NULL), ==, 0);
        g_autoptr(StateSnapshot) l3 = NULL;
        g_assert_cmpint(state_load(dir, &l3), ==, 0);
        g_assert_cmpuint(l3->n_shots, ==, 1);
        g_assert_cmpuint(l3->version, ==, 4);

        /* RawRoot changed: what forgotten2.bin holds no longer counts. */
        g_autoptr(StateSnapshot) reset = state_snapshot_new();
        reset->seq = 4;
        reset->reset_forgotten = true;
        g_assert_cmpint(state_save(dir, reset, NULL), ==, 0);
        g_autoptr(StateSnapshot) l4 = NULL;
        g_assert_cmpint(state_load(dir, &l4), ==, 0);
        g_assert_true(l4->forgotten_reset);

        /* Version 2's digests of paths alone: read, with when they were written. */
        g_autofree char *legacy = g_build_filename(dir, "forgotten.bin", NULL);
        EnginePathKey keys[2] = { { 1, 2 }, { 3, 4 } };
        g_assert_true(g_file_set_contents(legacy, (const char *) keys, sizeof keys, NULL));
        n = 0;
        nsec_t written = 0;
        g_assert_cmpint(state_load_legacy_forgotten(dir, count_legacy, &n, &written), ==, 0);
        g_assert_cmpuint(n, ==, 2);
        g_assert_cmpint(written, >, 0);

        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
        g_assert_cmpint(system(cmd), ==, 0);
}

/* What version 3 left (state.json without seq, a file a shot, a damaged
 * one) is read; the first base replaces the shot files and keeps the
 * damaged one aside. */
static void test_upgrade_from_v3(void) {
        g_autofree char *dir = g_dir_make_tmp("shotsync-state-XXXXXX", NULL);
        g_autofree char *shots = g_build_filename(dir, "shots", NULL);
        g_assert_cmpint(g_mkdir(shots, 0700), ==, 0);
        g_autofree char *main = g_build_filename(dir, "state.json", NULL);
        g_assert_true(g_file_set_contents(
                main,
                "{\"version\":3,\"paused\":false,\"last_shot\":\"20251211-002\",\"counters\":[{\"date\":20251211,"
                "\"next\":3,\"used\":[1,2]}],\"shots\":[]}",
                -1, NULL));
        g_autoptr(StateSnapshot) one = state_snapshot_new();
        add_shot(one, 2, "Trig");
        size_t len;
        g_autofree char *text = state_shot_to_data(&one->shots[0], &len);
        g_autofree char *f2 = g_build_filename(shots, "20251211-002.json", NULL);
        g_assert_true(g_file_set_contents(f2, text, (gssize) len, NULL));
        g_autofree char *f9 = g_build_filename(shots, "20251211-009.json", NULL);
        g_assert_true(g_file_set_contents(f9, "{\"date\":", -1, NULL));

        g_autoptr(StateSnapshot) l = NULL;
        g_assert_cmpint(state_load(dir, &l), ==, 0);
        g_assert_cmpuint(l->version, ==, 3);
        g_assert_cmpuint(l->seq, ==, 0);
        g_assert_cmpuint(l->n_shots, ==, 1);
        g_assert_cmpstr(l->last_shot, ==, "20251211-002");
        g_assert_nonnull(l->bad);
        g_assert_cmpuint(l->bad->len, ==, 1);
        g_autofree char *aside = g_strconcat(f9, ".corrupt", NULL);
        g_assert_cmpint(g_rename(f9, aside), ==, 0);

        l->full = true;
        l->write_main = true;
        l->seq = 1;
        g_assert_cmpint(state_save(dir, l, NULL), ==, 0);
        g_assert_false(g_file_test(f2, G_FILE_TEST_EXISTS));
        g_assert_true(g_file_test(aside, G_FILE_TEST_EXISTS));
        g_autoptr(StateSnapshot) again = NULL;
        g_assert_cmpint(state_load(dir, &again), ==, 0);
        g_assert_cmpuint(again->version, ==, 4);
        g_assert_cmpuint(again->n_shots, ==, 1);
        g_assert_cmpuint(again->shots[0].number, ==, 2);

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
        g_test_add_func("/state/absorb-clocks", test_absorb_clocks);
        g_test_add_func("/state/clocks", test_clocks);
        g_test_add_func("/state/files", test_files);
        g_test_add_func("/state/upgrade-from-v3", test_upgrade_from_v3);
        g_test_add_func("/state/empty-dir", test_empty_dir);
        return g_test_run();
}
