/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The grouping engine against every rule of SPEC §2 and every case of the
 * user's document (seeds/shot-grouping.fr.md §2.1–2.6). Each test plays a
 * timeline and compares the engine's decisions, in order, with what the rule
 * says. Runs with TZ=Europe/Paris (set by meson). */

#include <glib.h>
#include <stdio.h>

#include "engine.h"

#define S ((nsec_t) NSEC_PER_SEC)
#define MS ((nsec_t) 1000000)
#define USEC(sec) ((usec_t) (sec) * USEC_PER_SEC)

typedef struct Fixture {
        Engine *e;
        GPtrArray *log; /* char*: one line per engine event */
        nsec_t t0;      /* 2025-12-11 11:50:00 local */
        usec_t now;
        bool log_expire;
} Fixture;

static const char *const event_names[_ENGINE_EVENT_MAX] = {
        [ENGINE_EVENT_SHOT_OPENED] = "open",
        [ENGINE_EVENT_FILE_ASSIGNED] = "assign",
        [ENGINE_EVENT_FILE_ORPHANED] = "orphan",
        [ENGINE_EVENT_FILE_DUPLICATE] = "duplicate",
        [ENGINE_EVENT_FILE_HELD] = "held",
        [ENGINE_EVENT_SHOT_CLOSED] = "close",
        [ENGINE_EVENT_SHOT_RETIRED] = "retire",
        [ENGINE_EVENT_FILE_EXPIRED] = "expire",
        [ENGINE_EVENT_FILE_DUPLICATE_TRIGGER] = "duplicate-trigger",
        [ENGINE_EVENT_CLOCK_UPDATED] = "clock",
        [ENGINE_EVENT_CLOCK_LEARNED] = "learned",
        [ENGINE_EVENT_CLOCK_CHANGED] = "changed",
};

static void on_event(const EngineEvent *ev, void *userdata) {
        Fixture *f = userdata;
        /* Estimates move with every residual: tests look at what is used. */
        if (ev->type == ENGINE_EVENT_CLOCK_UPDATED)
                return;
        GString *s = g_string_new(event_names[ev->type]);
        if (ev->type == ENGINE_EVENT_CLOCK_LEARNED || ev->type == ENGINE_EVENT_CLOCK_CHANGED) {
                g_string_append_printf(s, " %s %+.3f (was %+.3f)", engine_camera_name(f->e, ev->camera),
                                       (double) engine_camera_offset(f->e, ev->camera) / 1e9,
                                       (double) ev->previous / 1e9);
                g_ptr_array_add(f->log, g_string_free(s, false));
                return;
        }

        if (ev->shot)
                g_string_append_printf(s, " %s", ev->shot->id);
        if (ev->file)
                g_string_append_printf(s, " %s", ev->file->path);
        if (ev->type == ENGINE_EVENT_FILE_ASSIGNED && (ev->file->flags & ENGINE_FILE_LATE))
                g_string_append(s, " late");
        if (ev->type == ENGINE_EVENT_FILE_ORPHANED && ev->shot)
                g_string_append(s, " waits");
        if (ev->type == ENGINE_EVENT_SHOT_CLOSED) {
                uint32_t missing[64];
                uint32_t n = shot_missing(ev->shot, f->e, missing, G_N_ELEMENTS(missing));
                g_string_append_printf(s, " %s", shot_status_to_string(ev->shot->status));
                for (uint32_t i = 0; i < n; i++)
                        g_string_append_printf(s, " -%s", engine_camera_name(f->e, missing[i]));
        }
        g_ptr_array_add(f->log, g_string_free(s, false));
}

static nsec_t local_time(int y, int mo, int d, int h, int mi, double sec) {
        g_autoptr(GDateTime) dt = g_date_time_new_local(y, mo, d, h, mi, sec);
        g_assert_nonnull(dt);
        return (nsec_t) g_date_time_to_unix(dt) * S + (nsec_t) g_date_time_get_microsecond(dt) * 1000;
}

static EngineParams params(double window_s, double timeout_s) {
        return (EngineParams) {
                .window = (nsec_t) (window_s * S),
                .timeout = (usec_t) (timeout_s * USEC_PER_SEC),
                .late_grace = USEC(600),
                .keep_unassigned = USEC(3600),
        };
}

static void setup_with(Fixture *f, const EngineParams *p) {
        f->log = g_ptr_array_new_with_free_func(g_free);
        f->t0 = local_time(2025, 12, 11, 11, 50, 0);
        f->now = USEC(1000);
        g_assert_cmpint(engine_new(p, on_event, f, &f->e), ==, 0);
}

static void setup(Fixture *f, const void *data) {
        EngineParams p = params(10, 60);
        setup_with(f, &p);
}

static void teardown(Fixture *f, const void *data) {
        engine_free(f->e);
        g_ptr_array_unref(f->log);
}

static uint32_t cam(Fixture *f, const char *name, unsigned n_kinds, bool expected) {
        uint32_t c;
        g_assert_cmpint(engine_add_camera(f->e, name, NULL, n_kinds, expected, &c), ==, 0);
        return c;
}

/* Adds "Camera/name" seen now, at dt = t0 + offset. */
static EngineAddResult add_kind(Fixture *f, const char *path, unsigned kind, bool trigger, nsec_t offset) {
        char camera[64];
        const char *slash = strchr(path, '/');
        g_assert_nonnull(slash);
        g_snprintf(camera, sizeof camera, "%.*s", (int) (slash - path), path);
        uint32_t c;
        g_assert_cmpint(engine_find_camera(f->e, camera, &c), ==, 0);
        EngineFileInfo info = {
                .path = path, .camera = c, .kind = (uint16_t) kind, .trigger = trigger, .dt = f->t0 + offset,
        };
        EngineAddResult r;
        g_assert_cmpint(engine_add_file(f->e, &info, f->now, &r), ==, 0);
        return r;
}

static EngineAddResult add(Fixture *f, const char *path, bool trigger, nsec_t offset) {
        return add_kind(f, path, 0, trigger, offset);
}

static void advance(Fixture *f, double seconds) {
        f->now += (usec_t) (seconds * USEC_PER_SEC);
        engine_run(f->e, f->now);
}

/* Compares the events so far with the expected lines, then forgets them. */
static void expect_events(Fixture *f, const char *const *lines) {
        guint n = 0;
        while (lines[n])
                n++;
        for (guint i = 0; i < MAX(n, f->log->len); i++) {
                const char *want = i < n ? lines[i] : "(nothing)";
                const char *got = i < f->log->len ? f->log->pdata[i] : "(nothing)";
                if (!streq(want, got)) {
                        for (guint j = 0; j < f->log->len; j++)
                                g_printerr("  got[%u]: %s\n", j, (char *) f->log->pdata[j]);
                        g_assert_cmpstr(got, ==, want);
                }
        }
        g_ptr_array_set_size(f->log, 0);
}

#define EXPECT(f, ...) expect_events(f, (const char *const[]) { __VA_ARGS__ __VA_OPT__(,) NULL })

/* SPEC §2 rule 2: several kinds per camera; present once every kind is in. */
static void test_rule2_kinds(Fixture *f, const void *data) {
        cam(f, "Lanex", 1, true);
        cam(f, "FROG", 2, true);

        add(f, "Lanex/s1.tif", true, 0);
        add_kind(f, "FROG/a.tiff", 0, false, 1 * S);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 Lanex/s1.tif", "assign 20251211-001 FROG/a.tiff");
        /* A second .tiff is a duplicate of kind 1, not kind 2. */
        add_kind(f, "FROG/b.tiff", 0, false, 2 * S);
        EXPECT(f, "duplicate 20251211-001 FROG/b.tiff");
        add_kind(f, "FROG/a.fer", 1, false, 1 * S);
        /* Rule 15: the duplicate, said already, is decided for good as the shot closes. */
        EXPECT(f, "assign 20251211-001 FROG/a.fer", "close 20251211-001 complete", "expire 20251211-001 FROG/b.tiff");
}

/* Rule 3: the window is [dt - W/2, dt + W/2], inclusive, nanosecond exact. */
static void test_rule3_window_inclusive(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "A", 1, true);
        cam(f, "B", 1, true);

        add(f, "T/shot.tif", true, 0);
        add(f, "A/edge.tif", false, 5 * S);
        add(f, "B/outside.tif", false, -5 * S - 1);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/shot.tif", "assign 20251211-001 A/edge.tif",
               "orphan B/outside.tif");
        add(f, "B/edge.tif", false, -5 * S);
        EXPECT(f, "assign 20251211-001 B/edge.tif", "close 20251211-001 complete");
}

/* Rule 4: several trigger cameras, one interaction. */
static void test_rule4_triggers_join(Fixture *f, const void *data) {
        cam(f, "Lanex2", 1, true);
        cam(f, "Csi", 1, true);
        cam(f, "Lyso", 1, true);

        add(f, "Lanex2/shot1.tif", true, 0);
        add(f, "Csi/shot1.tif", true, 3 * S);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 Lanex2/shot1.tif", "assign 20251211-001 Csi/shot1.tif");
        /* A trigger outside every window opens its own shot. */
        add(f, "Lyso/shot9.tif", true, 60 * S);
        EXPECT(f, "open 20251211-002", "assign 20251211-002 Lyso/shot9.tif");
        /* The same camera triggering again inside a window it already
         * filled opens a new shot (rule 4 "lacks that camera's file"). */
        add(f, "Csi/shot2.tif", true, 4 * S);
        EXPECT(f, "open 20251211-003", "assign 20251211-003 Csi/shot2.tif");
        g_assert_cmpuint(engine_next_number(f->e, 20251211), ==, 4);
}

/* Rule 5: files seen before the trigger are absorbed, numbering per date. */
static void test_rule5_retroactive(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "A", 1, true);
        cam(f, "B", 1, true);

        add(f, "A/early.tif", false, -2 * S);
        add(f, "B/early.tif", false, 4 * S);
        EXPECT(f, "orphan A/early.tif", "orphan B/early.tif");
        g_assert_cmpuint(engine_n_unassigned(f->e), ==, 2);
        add(f, "T/shot.tif", true, 0);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/shot.tif", "assign 20251211-001 A/early.tif",
               "assign 20251211-001 B/early.tif", "close 20251211-001 complete");
        g_assert_cmpuint(engine_n_unassigned(f->e), ==, 0);
}

/* Rule 5: a trigger older than earlier shots still opens its shot, with the
 * next number: nothing is dropped for arriving late. */
static void test_rule5_late_trigger_opens(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "A", 1, false);

        add(f, "T/shot-b.tif", true, 120 * S);
        add(f, "A/x.tif", false, -1 * S);
        add(f, "T/shot-a.tif", true, 0);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/shot-b.tif", "close 20251211-001 complete",
               "orphan A/x.tif", "open 20251211-002", "assign 20251211-002 T/shot-a.tif",
               "assign 20251211-002 A/x.tif", "close 20251211-002 complete");
}

/* Rule 6: one file per (camera, kind) per shot; more are duplicates, left
 * alone and still available to a later window. */
static void test_rule6_duplicate(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "A", 1, true);
        cam(f, "B", 1, true);

        add(f, "T/shot1.tif", true, 0);
        add(f, "A/1.tif", false, 1 * S);
        add(f, "A/2.tif", false, 4 * S);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/shot1.tif", "assign 20251211-001 A/1.tif",
               "duplicate 20251211-001 A/2.tif");
        /* A second trigger whose window covers the duplicate takes it. */
        add(f, "B/shot2.tif", true, 20 * S);
        add(f, "T/shot2.tif", true, 8 * S);
        EXPECT(f, "open 20251211-002", "assign 20251211-002 B/shot2.tif", "open 20251211-003", "assign 20251211-003 T/shot2.tif", "assign 20251211-003 A/2.tif");
}

/* Rule 7: among overlapping windows a file goes to the nearest trigger, not
 * to the first shot found. */
static void test_rule7_nearest_shot(Fixture *f, const void *data) {
        EngineParams p = params(30, 60);
        g_assert_cmpint(engine_set_params(f->e, &p), ==, 0);
        cam(f, "T", 1, true);
        cam(f, "U", 1, true);
        cam(f, "A", 1, true);

        add(f, "T/s1.tif", true, 0);
        add(f, "U/s2.tif", true, 20 * S);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/s1.tif", "open 20251211-002",
               "assign 20251211-002 U/s2.tif");
        /* 12 s is in both windows, nearer to shot 2 (8 s) than shot 1 (12 s). */
        add(f, "A/x.tif", false, 12 * S);
        EXPECT(f, "assign 20251211-002 A/x.tif");
        /* 9 s: nearer shot 1, which lacks A. */
        add(f, "A/y.tif", false, 9 * S);
        EXPECT(f, "assign 20251211-001 A/y.tif");
}

/* Rule 7: of several files of one (camera, kind) already seen, a new shot
 * takes the one nearest its trigger; rule 15: the others are duplicates of
 * it, said when it closes and not left to wait as orphans. */
static void test_rule7_nearest_file(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "A", 1, true);

        add(f, "A/far.tif", false, -4 * S);
        add(f, "A/near.tif", false, 2 * S);
        add(f, "A/nearer.tif", false, -1 * S);
        EXPECT(f, "orphan A/far.tif", "orphan A/near.tif", "orphan A/nearer.tif");
        add(f, "T/shot.tif", true, 0);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/shot.tif", "assign 20251211-001 A/nearer.tif",
               "close 20251211-001 complete", "duplicate 20251211-001 A/far.tif", "expire 20251211-001 A/far.tif",
               "duplicate 20251211-001 A/near.tif", "expire 20251211-001 A/near.tif");
        g_assert_cmpuint(engine_n_unassigned(f->e), ==, 0);
        /* Decided for good: seen again (a rescan), they are known. */
        g_assert_cmpint(add(f, "A/far.tif", false, -4 * S), ==, ENGINE_ADD_KNOWN);
}

/* Rule 7: membership is by time alone, across midnight; the shot is
 * numbered on its trigger's date. */
static void test_rule7_midnight(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "A", 1, true);
        cam(f, "B", 1, true);

        f->t0 = local_time(2025, 12, 11, 23, 59, 58);
        add(f, "T/shot.tif", true, 0);
        add(f, "A/after-midnight.tif", false, 4 * S);
        f->t0 = local_time(2025, 12, 12, 0, 0, 1);
        add(f, "B/next-day.tif", true, 0);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/shot.tif", "assign 20251211-001 A/after-midnight.tif",
               "assign 20251211-001 B/next-day.tif", "close 20251211-001 complete");
        /* The next day starts at 001 again. */
        add(f, "T/shot2.tif", true, 60 * S);
        EXPECT(f, "open 20251212-001", "assign 20251212-001 T/shot2.tif");
}

/* Rule 8: an orphan is remembered and absorbed by a later trigger. */
static void test_rule8_orphan_absorbed(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "A", 1, true);

        add(f, "T/s1.tif", true, 0);
        add(f, "A/late.tif", false, 40 * S);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/s1.tif", "orphan A/late.tif");
        add(f, "T/s2.tif", true, 42 * S);
        EXPECT(f, "open 20251211-002", "assign 20251211-002 T/s2.tif", "assign 20251211-002 A/late.tif",
               "close 20251211-002 complete");
}

/* Rule 9: complete at once, or timeout naming the missing; a later shot may
 * close first; any number collect at once. */
static void test_rule9_close(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "A", 1, true);
        cam(f, "B", 1, true);

        add(f, "T/s1.tif", true, 0);
        add(f, "A/1.tif", false, 0);
        advance(f, 10);
        add(f, "T/s2.tif", true, 60 * S);
        add(f, "A/2.tif", false, 61 * S);
        add(f, "B/2.tif", false, 62 * S);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/s1.tif", "assign 20251211-001 A/1.tif",
               "open 20251211-002", "assign 20251211-002 T/s2.tif", "assign 20251211-002 A/2.tif",
               "assign 20251211-002 B/2.tif", "close 20251211-002 complete");
        g_assert_cmpuint(engine_next_deadline(f->e), ==, USEC(1000) + USEC(60));
        advance(f, 49.999);
        EXPECT(f);
        advance(f, 0.001);
        EXPECT(f, "close 20251211-001 timeout -B");
}

/* Rule 10: a late file joins its closed shot within the grace, keeping the
 * status, shrinking the missing list; after the grace the shot is gone. */
static void test_rule10_late(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "A", 1, true);
        cam(f, "B", 1, true);

        add(f, "T/s1.tif", true, 0);
        advance(f, 60);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/s1.tif", "close 20251211-001 timeout -A -B");
        add(f, "A/late.tif", false, 2 * S);
        EXPECT(f, "assign 20251211-001 A/late.tif late");
        Shot *s = engine_find_shot(f->e, "20251211-001");
        g_assert_nonnull(s);
        g_assert_cmpint(s->status, ==, SHOT_TIMEOUT);
        uint32_t missing[4];
        g_assert_cmpuint(shot_missing(s, f->e, missing, 4), ==, 1);
        advance(f, 600);
        EXPECT(f, "retire 20251211-001");
        add(f, "B/too-late.tif", false, 2 * S);
        EXPECT(f, "orphan B/too-late.tif");
}

/* Rule 10 for triggers: a trigger camera late for its shot joins it, it
 * does not open a second shot for the same interaction. */
static void test_rule10_late_trigger_joins(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "U", 1, true);

        add(f, "T/s1.tif", true, 0);
        advance(f, 60);
        add(f, "U/s1.tif", true, 1 * S);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/s1.tif", "close 20251211-001 timeout -U",
               "assign 20251211-001 U/s1.tif late");
}

/* Rule 11: a camera with Expected=false is grouped but never waited for. */
static void test_rule11_expected(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "Tracker", 1, false);

        add(f, "Tracker/tree.root", false, 1 * S);
        add(f, "T/shot.tif", true, 0);
        EXPECT(f, "orphan Tracker/tree.root", "open 20251211-001", "assign 20251211-001 T/shot.tif",
               "assign 20251211-001 Tracker/tree.root", "close 20251211-001 complete");
}

/* Seed §2.1: every camera writes quickly, one shot. */
static void test_seed_2_1_simple(Fixture *f, const void *data) {
        cam(f, "Lanex2", 1, true);
        cam(f, "Lanex1", 1, true);
        cam(f, "Csi", 1, true);

        add(f, "Lanex1/a.tif", false, 100 * MS);
        add(f, "Lanex2/shot.tif", true, 0);
        add(f, "Csi/c.tif", false, 1300 * MS);
        EXPECT(f, "orphan Lanex1/a.tif", "open 20251211-001", "assign 20251211-001 Lanex2/shot.tif",
               "assign 20251211-001 Lanex1/a.tif", "assign 20251211-001 Csi/c.tif", "close 20251211-001 complete");
}

/* Seed §2.2: a camera late but inside the window, before the timeout. */
static void test_seed_2_2_late_in_window(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "Slow", 1, true);

        add(f, "T/shot.tif", true, 0);
        advance(f, 45);
        add(f, "Slow/x.tif", false, 5 * S);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/shot.tif", "assign 20251211-001 Slow/x.tif",
               "close 20251211-001 complete");
}

/* Seed §2.3: a camera very late (mtime beyond the window): orphan, or taken
 * by a later window that covers it. */
static void test_seed_2_3_beyond_window(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "Slow", 1, true);

        add(f, "T/shot.tif", true, 0);
        add(f, "Slow/x.tif", false, 40 * S);
        advance(f, 60);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/shot.tif", "orphan Slow/x.tif",
               "close 20251211-001 timeout -Slow");
}

/* Seed §2.4: a camera that never writes: timeout names it. */
static void test_seed_2_4_never(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "A", 1, true);
        cam(f, "Dead", 1, true);

        add(f, "T/shot.tif", true, 0);
        add(f, "A/a.tif", false, 1 * S);
        advance(f, 61);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/shot.tif", "assign 20251211-001 A/a.tif",
               "close 20251211-001 timeout -Dead");
}

/* Seed §2.5: two shots a minute apart, windows apart. */
static void test_seed_2_5_two_shots(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "A", 1, true);

        add(f, "T/s1.tif", true, 0);
        add(f, "A/1.tif", false, 2 * S);
        add(f, "T/s2.tif", true, 61 * S);
        add(f, "A/2.tif", false, 60 * S);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/s1.tif", "assign 20251211-001 A/1.tif",
               "close 20251211-001 complete", "open 20251211-002", "assign 20251211-002 T/s2.tif",
               "assign 20251211-002 A/2.tif", "close 20251211-002 complete");
}

/* Seed §2.6: shot 2's files arrive before shot 1's late ones; both shots
 * collect at once and shot 2 closes first. */
static void test_seed_2_6_overlap(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "A", 1, true);
        cam(f, "B", 1, true);

        add(f, "T/s1.tif", true, 0);
        add(f, "A/1.tif", false, 1 * S);
        add(f, "T/s2.tif", true, 62 * S);
        add(f, "B/2.tif", false, 63 * S);
        add(f, "A/2.tif", false, 61 * S);
        add(f, "B/1.tif", false, 3 * S);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/s1.tif", "assign 20251211-001 A/1.tif",
               "open 20251211-002", "assign 20251211-002 T/s2.tif", "assign 20251211-002 B/2.tif",
               "assign 20251211-002 A/2.tif", "close 20251211-002 complete", "assign 20251211-001 B/1.tif",
               "close 20251211-001 complete");
}

/* Pause: triggers that would open a shot are held; joining still works;
 * a Fire opens its shot (an explicit request). */
static void test_pause(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "U", 1, true);

        add(f, "T/s1.tif", true, 0);
        engine_set_paused(f->e, true);
        add(f, "U/s1.tif", true, 1 * S);
        add(f, "T/align.tif", true, 100 * S);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/s1.tif", "assign 20251211-001 U/s1.tif",
               "close 20251211-001 complete", "held T/align.tif");
        Shot *s;
        g_assert_cmpint(engine_fire(f->e, f->t0 + 200 * S, f->now, &s), ==, 0);
        EXPECT(f, "open 20251211-002");
        engine_set_paused(f->e, false);
        add(f, "U/s3.tif", true, 300 * S);
        EXPECT(f, "open 20251211-003", "assign 20251211-003 U/s3.tif");
}

/* Fire: the shot's trigger time is the instant; it absorbs what is known. */
static void test_fire(Fixture *f, const void *data) {
        cam(f, "A", 1, true);
        cam(f, "B", 1, true);

        add(f, "A/pre.tif", false, -1 * S);
        Shot *s = NULL;
        g_assert_cmpint(engine_fire(f->e, f->t0, f->now, &s), ==, 0);
        g_assert_nonnull(s);
        g_assert_cmpuint(s->trigger_camera, ==, ENGINE_NO_CAMERA);
        g_assert_null(s->trigger_file);
        add(f, "B/post.tif", false, 2 * S);
        EXPECT(f, "orphan A/pre.tif", "open 20251211-001", "assign 20251211-001 A/pre.tif",
               "assign 20251211-001 B/post.tif", "close 20251211-001 complete");
}

/* SetNextShotNumber: renumber, never onto a used number, skip used ones. */
static void test_numbering(Fixture *f, const void *data) {
        cam(f, "T", 1, false);

        add(f, "T/1.tif", true, 0);
        add(f, "T/2.tif", true, 100 * S);
        add(f, "T/3.tif", true, 200 * S);
        g_assert_cmpint(engine_set_next_number(f->e, 20251211, 2), ==, -EEXIST);
        g_assert_cmpint(engine_set_next_number(f->e, 20251211, 0), ==, -EINVAL);
        g_assert_cmpint(engine_set_next_number(f->e, 20251211, 10), ==, 0);
        add(f, "T/4.tif", true, 300 * S);
        g_assert_cmpint(engine_set_next_number(f->e, 20251211, 10), ==, -EEXIST);
        g_assert_cmpint(engine_set_next_number(f->e, 20251211, 9), ==, 0);
        add(f, "T/5.tif", true, 400 * S);
        /* 10 is taken: the counter steps over it. */
        add(f, "T/6.tif", true, 500 * S);
        g_ptr_array_set_size(f->log, 0);
        static const char *const want[] = { "20251211-001", "20251211-002", "20251211-003", "20251211-009",
                                            "20251211-010", "20251211-011" };
        uint32_t n;
        Shot *const *live = engine_live_shots(f->e, &n);
        g_assert_cmpuint(n, ==, G_N_ELEMENTS(want));
        for (uint32_t i = 0; i < n; i++)
                g_assert_cmpstr(live[i]->id, ==, want[i]);
        g_assert_cmpuint(engine_next_number(f->e, 20251211), ==, 12);
        g_assert_true(engine_number_used(f->e, 20251211, 10));
        g_assert_false(engine_number_used(f->e, 20251211, 4));
        /* Going back is allowed onto a free number, and steps over used runs. */
        g_assert_cmpint(engine_set_next_number(f->e, 20251211, 4), ==, 0);
        g_assert_cmpuint(engine_next_number(f->e, 20251211), ==, 4);
        g_assert_cmpint(engine_mark_number_used(f->e, 20251211, 4), ==, 0);
        g_assert_cmpint(engine_mark_number_used(f->e, 20251211, 5), ==, 0);
        g_assert_cmpint(engine_mark_number_used(f->e, 20251211, 7), ==, 0);
        g_assert_cmpint(engine_mark_number_used(f->e, 20251211, 6), ==, 0);
        g_assert_cmpint(engine_mark_number_used(f->e, 20251211, 8), ==, 0);
        g_assert_cmpuint(engine_next_number(f->e, 20251211), ==, 12);
}

/* Memory: retired files and expired orphans leave only a digest behind, and
 * are never decided again. */
static void test_forget(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "A", 1, true);

        add(f, "T/s.tif", true, 0);
        add(f, "A/a.tif", false, 0);
        add(f, "A/orphan.tif", false, 100 * S);
        advance(f, 599);
        g_assert_cmpuint(engine_n_files(f->e), ==, 3);
        advance(f, 3001);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/s.tif", "assign 20251211-001 A/a.tif",
               "close 20251211-001 complete", "orphan A/orphan.tif", "retire 20251211-001", "expire A/orphan.tif");
        g_assert_cmpuint(engine_n_files(f->e), ==, 0);
        g_assert_cmpuint(engine_n_tombstones(f->e), ==, 3);
        g_assert_cmpint(add(f, "T/s.tif", true, 0), ==, ENGINE_ADD_KNOWN);
        g_assert_cmpint(add(f, "A/orphan.tif", false, 100 * S), ==, ENGINE_ADD_KNOWN);
        EXPECT(f);
        g_assert_cmpuint(engine_next_deadline(f->e), ==, USEC_INFINITY);
}

/* The same file seen twice is decided once; an unassigned file whose mtime
 * changed is decided again; a vanished unassigned file is dropped. */
static void test_rescan_idempotent(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "A", 1, true);

        add(f, "A/x.tif", false, 50 * S);
        g_assert_cmpint(add(f, "A/x.tif", false, 50 * S), ==, ENGINE_ADD_KNOWN);
        g_assert_cmpint(add(f, "A/x.tif", false, 1 * S), ==, ENGINE_ADD_CHANGED);
        add(f, "T/s.tif", true, 0);
        g_assert_cmpint(add(f, "T/s.tif", true, 0), ==, ENGINE_ADD_KNOWN);
        EXPECT(f, "orphan A/x.tif", "orphan A/x.tif", "open 20251211-001", "assign 20251211-001 T/s.tif",
               "assign 20251211-001 A/x.tif", "close 20251211-001 complete");
        add(f, "A/gone.tif", false, 500 * S);
        engine_file_gone(f->e, "A/gone.tif");
        g_assert_null(engine_lookup_file(f->e, "A/gone.tif"));
        g_assert_cmpint(add(f, "A/gone.tif", false, 500 * S), ==, ENGINE_ADD_NEW);
}

/* Restart: restored shots continue, complete, and keep their numbers. */
static void test_restore(Fixture *f, const void *data) {
        uint32_t t = cam(f, "T", 1, true);
        uint32_t a = cam(f, "A", 1, true);
        uint32_t expected[] = { t, a };

        EngineShotRestore r = {
                .date = 20251211, .number = 7, .status = SHOT_COLLECTING,
                .trigger_time = f->t0, .window_start = f->t0 - 5 * S, .window_end = f->t0 + 5 * S,
                .trigger_camera = t, .opened_at = f->now, .deadline = f->now + USEC(60),
                .expected = expected, .n_expected = 2,
        };
        Shot *s;
        g_assert_cmpint(engine_restore_shot(f->e, &r, &s), ==, 0);
        EngineFileInfo info = { .path = "T/s7.tif", .camera = t, .trigger = true, .dt = f->t0 };
        g_assert_cmpint(engine_restore_file(f->e, s, &info, false, 0, f->now), ==, 0);
        g_assert_true(s->trigger_file == engine_lookup_file(f->e, "T/s7.tif"));
        g_assert_cmpint(engine_restore_shot(f->e, &r, NULL), ==, -EEXIST);
        engine_restore_done(f->e, f->now);
        EXPECT(f);
        g_assert_cmpuint(engine_next_number(f->e, 20251211), ==, 8);

        g_assert_cmpint(add(f, "T/s7.tif", true, 0), ==, ENGINE_ADD_KNOWN);
        add(f, "A/a.tif", false, 1 * S);
        EXPECT(f, "assign 20251211-007 A/a.tif", "close 20251211-007 complete");
}

/* A reload that widens the window re-buckets what is unassigned; open shots
 * keep their own window. */
static void test_reload_window(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "A", 1, true);
        cam(f, "B", 1, true);

        add(f, "T/s1.tif", true, 0);
        add(f, "A/far.tif", false, 200 * S + 14 * S);
        EngineParams p = params(30, 60);
        g_assert_cmpint(engine_set_params(f->e, &p), ==, 0);
        add(f, "B/b.tif", false, 12 * S);
        add(f, "T/s2.tif", true, 200 * S);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/s1.tif", "orphan A/far.tif", "orphan B/b.tif",
               "open 20251211-002", "assign 20251211-002 T/s2.tif", "assign 20251211-002 A/far.tif");
}

/* --once: everything still collecting closes now. */
static void test_close_all(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "A", 1, true);

        add(f, "T/s1.tif", true, 0);
        add(f, "T/s2.tif", true, 100 * S);
        add(f, "A/2.tif", false, 100 * S);
        engine_close_all(f->e, f->now);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/s1.tif", "open 20251211-002",
               "assign 20251211-002 T/s2.tif", "assign 20251211-002 A/2.tif", "close 20251211-002 complete",
               "close 20251211-001 timeout -A");
}


static uint32_t cam_kinds(Fixture *f, const char *name, const char *const *kinds, unsigned n, bool expected) {
        uint32_t c;
        g_assert_cmpint(engine_add_camera(f->e, name, kinds, n, expected, &c), ==, 0);
        return c;
}

/* Rule 17, the defect of issue 13: shot 1 complete and in its grace with
 * B's .tif; a reload gives B a second kind (.fer). A second .tif in the
 * window is a duplicate (not published into shot 1), a .fer does not join
 * a shot that opened without that kind (it used to abort on
 * assert(n_missing > 0)), and the next shot waits for both. */
static void test_rule17_kind_added(Fixture *f, const void *data) {
        static const char *const tif[] = { "*.tif" }, *const tif_fer[] = { "*.tif", "*.fer" };
        cam(f, "A", 1, true);
        uint32_t b = cam_kinds(f, "B", tif, 1, true);

        add(f, "A/shot1.tif", true, 0);
        add(f, "B/b1.tif", false, 1 * S);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 A/shot1.tif", "assign 20251211-001 B/b1.tif",
               "close 20251211-001 complete");
        g_assert_cmpint(engine_update_camera(f->e, b, tif_fer, 2, true), ==, 0);
        Shot *s1 = engine_find_shot(f->e, "20251211-001");
        g_assert_cmpuint(shot_camera_n_kinds(s1, f->e, b), ==, 1);
        g_assert_true(shot_camera_present(s1, f->e, b));

        add_kind(f, "B/b2.tif", 0, false, 2 * S);
        add_kind(f, "B/b1.fer", 1, false, 1 * S);
        EXPECT(f, "duplicate 20251211-001 B/b2.tif", "orphan B/b1.fer");
        g_assert_cmpuint(s1->n_files, ==, 2);

        add(f, "A/shot2.tif", true, 100 * S);
        add_kind(f, "B/b3.tif", 0, false, 101 * S);
        EXPECT(f, "open 20251211-002", "assign 20251211-002 A/shot2.tif", "assign 20251211-002 B/b3.tif");
        add_kind(f, "B/b3.fer", 1, false, 101 * S);
        EXPECT(f, "assign 20251211-002 B/b3.fer", "close 20251211-002 complete");
        Shot *s2 = engine_find_shot(f->e, "20251211-002");
        g_assert_cmpuint(shot_camera_n_kinds(s2, f->e, b), ==, 2);
        g_assert_cmpstr(shot_camera_kind_id(s2, f->e, b, 1), ==, "*.fer");
}

/* Rule 17: kinds removed and reordered under a collecting shot. The shot
 * keeps what it opened with (and the position each kind had then); files
 * are placed by kind, whatever position the new configuration gives it. */
static void test_rule17_kinds_reordered_removed(Fixture *f, const void *data) {
        static const char *const before[] = { "*.tiff", "*.fer" }, *const swapped[] = { "*.fer", "*.tiff" },
                                 *const fer_only[] = { "*.fer" };
        cam(f, "T", 1, true);
        uint32_t frog = cam_kinds(f, "FROG", before, 2, true);

        add(f, "T/s1.tif", true, 0);
        add_kind(f, "FROG/a.tiff", 0, false, 1 * S);
        g_assert_cmpint(engine_update_camera(f->e, frog, swapped, 2, true), ==, 0);
        /* .fer is kind 1 (0-based 0) now; in shot 1 it stays its second kind. */
        add_kind(f, "FROG/a.fer", 0, false, 1 * S);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/s1.tif", "assign 20251211-001 FROG/a.tiff",
               "assign 20251211-001 FROG/a.fer", "close 20251211-001 complete");
        EngineFile *fer = engine_lookup_file(f->e, "FROG/a.fer");
        g_assert_cmpuint(fer->kind, ==, 1);

        g_assert_cmpint(engine_update_camera(f->e, frog, fer_only, 1, true), ==, 0);
        add(f, "T/s2.tif", true, 100 * S);
        add_kind(f, "FROG/b.fer", 0, false, 101 * S);
        EXPECT(f, "open 20251211-002", "assign 20251211-002 T/s2.tif", "assign 20251211-002 FROG/b.fer",
               "close 20251211-002 complete");
        g_assert_cmpuint(engine_lookup_file(f->e, "FROG/b.fer")->kind, ==, 0);
}

/* Rule 17: a camera added by a reload is not waited for by a shot already
 * collecting; one removed (no longer expected) is still waited for by it,
 * and not by the next. A wider window, a longer timeout and grace apply to
 * new shots only. */
static void test_rule17_cameras_and_params(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        uint32_t a = cam(f, "A", 1, true);

        add(f, "T/s1.tif", true, 0);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/s1.tif");
        cam(f, "C", 1, true);
        g_assert_cmpint(engine_update_camera(f->e, a, NULL, 0, false), ==, 0);
        EngineParams p = params(40, 120);
        p.late_grace = USEC(5);
        g_assert_cmpint(engine_set_params(f->e, &p), ==, 0);

        add(f, "A/a1.tif", false, 1 * S);
        EXPECT(f, "assign 20251211-001 A/a1.tif", "close 20251211-001 complete");
        Shot *s1 = engine_find_shot(f->e, "20251211-001");
        g_assert_cmpint(s1->window_end - s1->trigger_time, ==, 5 * S);
        g_assert_cmpuint(s1->late_grace, ==, USEC(600));

        add(f, "T/s2.tif", true, 1000 * S);
        add(f, "C/c2.tif", false, 1019 * S);
        EXPECT(f, "open 20251211-002", "assign 20251211-002 T/s2.tif", "assign 20251211-002 C/c2.tif",
               "close 20251211-002 complete");
        Shot *s2 = engine_find_shot(f->e, "20251211-002");
        g_assert_cmpuint(s2->late_grace, ==, USEC(5));
        /* Shot 2 is retired 5 s after closing; shot 1 keeps its 600 s. */
        advance(f, 6);
        EXPECT(f, "retire 20251211-002");
        g_assert_nonnull(engine_find_shot(f->e, "20251211-001"));
}

/* Rule 17: a kind whose patterns a reload widens (or narrows) is the same
 * kind: the open shot still takes it. One split in two keeps its slot for
 * the first and makes a new kind of the second. */
static void test_rule17_kind_widened(Fixture *f, const void *data) {
        static const char *const tif[] = { "*.tif" }, *const wide[] = { "*.tif|*.tiff" },
                                 *const split[] = { "*.tiff", "*.tif" };
        cam(f, "T", 1, true);
        uint32_t b = cam_kinds(f, "B", tif, 1, true);

        add(f, "T/s1.tif", true, 0);
        g_assert_cmpint(engine_update_camera(f->e, b, wide, 1, true), ==, 0);
        add(f, "B/b1.tiff", false, 1 * S);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/s1.tif", "assign 20251211-001 B/b1.tiff",
               "close 20251211-001 complete");
        Shot *s1 = engine_find_shot(f->e, "20251211-001");
        g_assert_cmpstr(shot_camera_kind_id(s1, f->e, b, 0), ==, "*.tif");

        g_assert_cmpint(engine_update_camera(f->e, b, split, 2, true), ==, 0);
        add(f, "T/s2.tif", true, 100 * S);
        add_kind(f, "B/b2.tiff", 0, false, 101 * S);
        add_kind(f, "B/b2.tif", 1, false, 101 * S);
        EXPECT(f, "open 20251211-002", "assign 20251211-002 T/s2.tif", "assign 20251211-002 B/b2.tiff",
               "assign 20251211-002 B/b2.tif", "close 20251211-002 complete");
}

/* Rule 15: a file is its path and its mtime. A new mtime under a path that
 * a shot took is a new file: decided on its own (here a duplicate of that
 * shot, then a trigger of a new shot), never ignored; the first stays in
 * its shot. Once the shot retired, the old identity is known and the new
 * one is new. */
static void test_rule15_identity(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "A", 1, true);

        add(f, "T/shot_0001.tif", true, 0);
        add(f, "A/a.tif", false, 1 * S);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/shot_0001.tif", "assign 20251211-001 A/a.tif",
               "close 20251211-001 complete");
        /* The sync client replaced it two seconds later: within the window. */
        g_assert_cmpint(add(f, "A/a.tif", false, 2 * S), ==, ENGINE_ADD_NEW);
        EXPECT(f, "duplicate 20251211-001 A/a.tif");
        /* The camera's counter restarted: the same name, two minutes later. */
        g_assert_cmpint(add(f, "T/shot_0001.tif", true, 120 * S), ==, ENGINE_ADD_NEW);
        EXPECT(f, "open 20251211-002", "assign 20251211-002 T/shot_0001.tif");
        Shot *s1 = engine_find_shot(f->e, "20251211-001");
        g_assert_cmpint(s1->files[0]->dt, ==, f->t0);
        g_assert_cmpint(engine_lookup_file(f->e, "T/shot_0001.tif")->dt, ==, f->t0 + 120 * S);
        /* Seen again (a rescan): known. */
        g_assert_cmpint(add(f, "T/shot_0001.tif", true, 120 * S), ==, ENGINE_ADD_KNOWN);

        advance(f, 700);
        g_assert_cmpint(add(f, "T/shot_0001.tif", true, 0), ==, ENGINE_ADD_KNOWN);
        g_assert_cmpint(add(f, "T/shot_0001.tif", true, 120 * S), ==, ENGINE_ADD_KNOWN);
        g_assert_cmpint(add(f, "T/shot_0001.tif", true, 240 * S), ==, ENGINE_ADD_NEW);
}

/* Files forgotten by a version that knew paths alone stand for files
 * older than when it wrote them; a newer mtime under such a path is new. */
static void test_rule15_legacy_tombstones(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        EnginePathKey k;
        engine_path_key("T/old.tif", &k);
        engine_add_legacy_tombstone(f->e, &k);
        engine_set_legacy_cutoff(f->e, f->t0 + 60 * S);
        g_assert_cmpint(add(f, "T/old.tif", true, 0), ==, ENGINE_ADD_KNOWN);
        EXPECT(f);
        g_assert_cmpint(add(f, "T/old.tif", true, 61 * S), ==, ENGINE_ADD_NEW);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/old.tif", "close 20251211-001 complete");
}

/* A shot restored after a restart keeps the kinds it opened with, even
 * when the configuration changed while the service was stopped. */
static void test_restore_kinds(Fixture *f, const void *data) {
        static const char *const tif[] = { "*.tif" }, *const fer_tif[] = { "*.fer", "*.tif" };
        uint32_t t = cam(f, "T", 1, true);
        uint32_t b = cam_kinds(f, "B", fer_tif, 2, true); /* today's configuration */
        uint32_t expected[] = { t, b };
        EngineCameraKinds kinds[] = { { b, tif, 1 } };

        EngineShotRestore r = {
                .date = 20251211, .number = 3, .status = SHOT_COLLECTING,
                .trigger_time = f->t0, .window_start = f->t0 - 5 * S, .window_end = f->t0 + 5 * S,
                .trigger_camera = t, .opened_at = f->now, .deadline = f->now + USEC(60), .late_grace = USEC(600),
                .expected = expected, .n_expected = 2, .kinds = kinds, .n_kinds = 1,
        };
        Shot *s;
        g_assert_cmpint(engine_restore_shot(f->e, &r, &s), ==, 0);
        EngineFileInfo info = { .path = "T/s3.tif", .camera = t, .trigger = true, .dt = f->t0 };
        g_assert_cmpint(engine_restore_file(f->e, s, &info, false, 0, f->now), ==, 0);
        engine_restore_done(f->e, f->now);
        g_assert_cmpuint(shot_camera_n_kinds(s, f->e, b), ==, 1);
        /* B's .tif is kind 2 today, kind 1 of this shot: it completes it. */
        add_kind(f, "B/b.tif", 1, false, 1 * S);
        EXPECT(f, "assign 20251211-003 B/b.tif", "close 20251211-003 complete");
        g_assert_cmpuint(engine_lookup_file(f->e, "B/b.tif")->kind, ==, 0);
}


/* ---- rule 4: duplicate triggers ---- */

static EngineParams params_msi(double window_s, double timeout_s, double msi_s) {
        EngineParams p = params(window_s, timeout_s);
        p.min_shot_interval = (nsec_t) (msi_s * S);
        return p;
}

/* Rule 4: a trigger camera in free run (Csi wrote 14 frames in 12 s) opens
 * one shot; the frames within MinShotIntervalSec of it are duplicate
 * triggers, decided for good and never a shot; one beyond opens its shot. */
static void test_rule4_duplicate_trigger(Fixture *f, const void *data) {
        EngineParams p = params_msi(30, 60, 15);
        g_assert_cmpint(engine_set_params(f->e, &p), ==, 0);
        cam(f, "Csi", 1, true);
        cam(f, "A", 1, true);

        add(f, "Csi/f01.tif", true, 0);
        add(f, "Csi/f02.tif", true, 900 * MS);
        add(f, "Csi/f03.tif", true, 1800 * MS);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 Csi/f01.tif",
               "duplicate-trigger 20251211-001 Csi/f02.tif", "expire 20251211-001 Csi/f02.tif",
               "duplicate-trigger 20251211-001 Csi/f03.tif", "expire 20251211-001 Csi/f03.tif");
        /* Decided for good: a rescan knows them. */
        g_assert_cmpint(add(f, "Csi/f02.tif", true, 900 * MS), ==, ENGINE_ADD_KNOWN);
        add(f, "A/a.tif", false, 1 * S);
        EXPECT(f, "assign 20251211-001 A/a.tif", "close 20251211-001 complete");
        /* In its late grace the shot still makes frames duplicates. */
        add(f, "Csi/f04.tif", true, 15 * S);
        EXPECT(f, "duplicate-trigger 20251211-001 Csi/f04.tif", "expire 20251211-001 Csi/f04.tif");
        /* Farther than MinShotIntervalSec: a new laser shot. */
        add(f, "Csi/next.tif", true, 15 * S + 1);
        EXPECT(f, "open 20251211-002", "assign 20251211-002 Csi/next.tif");
        g_assert_cmpuint(engine_next_number(f->e, 20251211), ==, 3);
}

/* Rule 4: MinShotIntervalSec=0 makes no trigger a duplicate; a trigger of
 * another camera in the window still joins, paused or not. */
static void test_rule4_duplicate_trigger_off(Fixture *f, const void *data) {
        cam(f, "T", 1, true);
        cam(f, "U", 1, true);

        add(f, "T/a.tif", true, 0);
        add(f, "T/b.tif", true, 1 * S);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 T/a.tif", "open 20251211-002", "assign 20251211-002 T/b.tif");
        EngineParams p = params_msi(10, 60, 5);
        g_assert_cmpint(engine_set_params(f->e, &p), ==, 0);
        engine_set_paused(f->e, true);
        /* A duplicate even while paused: it is never a shot. */
        add(f, "T/c.tif", true, 2 * S);
        EXPECT(f, "duplicate-trigger 20251211-002 T/c.tif", "expire 20251211-002 T/c.tif");
}

/* ---- rule 14: clock offsets ---- */

static EngineParams params_learning(double window_s, double timeout_s, double msi_s) {
        EngineParams p = params_msi(window_s, timeout_s, msi_s);
        p.learn_offsets = true;
        return p;
}

static void setup_learning(Fixture *f, const void *data) {
        EngineParams p = params_learning(30, 60, 15);
        setup_with(f, &p);
        g_assert_cmpint(engine_set_reference(f->e, "Ref"), ==, 1);
}

static double offset_of(Fixture *f, const char *camera) {
        uint32_t c;
        g_assert_cmpint(engine_find_camera(f->e, camera, &c), ==, 0);
        return (double) engine_camera_offset(f->e, c) / 1e9;
}

static const EngineClock *clock_of(Fixture *f, const char *camera) {
        uint32_t c;
        g_assert_cmpint(engine_find_camera(f->e, camera, &c), ==, 0);
        return engine_camera_clock(f->e, c);
}

/* One shot every minute: Ref triggers at k minutes, FROG writes off by
 * frog seconds. */
static void play_shot(Fixture *f, unsigned k, double frog) {
        char ref[32], frg[32];
        g_snprintf(ref, sizeof ref, "Ref/s%02u.tif", k);
        g_snprintf(frg, sizeof frg, "FROG/f%02u.tif", k);
        add(f, ref, true, (nsec_t) k * 60 * S);
        add(f, frg, false, (nsec_t) k * 60 * S + (nsec_t) (frog * S));
}

/* Learning: FROG's PC runs 9 s ahead (the campaign's). Its first files land
 * in their shots through the window; after three the offset is used, and
 * a file 9 s off is then where its shot's trigger is. */
static void test_clock_learning(Fixture *f, const void *data) {
        cam(f, "Ref", 1, true);
        cam(f, "FROG", 1, true);
        /* Nothing to save yet: the configuration says all there is. */
        g_assert_true(engine_clock_is_fresh(clock_of(f, "FROG")));

        play_shot(f, 0, 9.1);
        g_assert_false(engine_clock_is_fresh(clock_of(f, "FROG")));
        play_shot(f, 1, 8.8);
        EXPECT(f, "open 20251211-001", "assign 20251211-001 Ref/s00.tif", "assign 20251211-001 FROG/f00.tif",
               "close 20251211-001 complete", "open 20251211-002", "assign 20251211-002 Ref/s01.tif",
               "assign 20251211-002 FROG/f01.tif", "close 20251211-002 complete");
        g_assert_cmpfloat(offset_of(f, "FROG"), ==, 0);
        g_assert_cmpuint(clock_of(f, "FROG")->samples, ==, 2);
        play_shot(f, 2, 9.3);
        EXPECT(f, "open 20251211-003", "assign 20251211-003 Ref/s02.tif", "assign 20251211-003 FROG/f02.tif",
               "learned FROG +9.100 (was +0.000)", "close 20251211-003 complete");
        g_assert_true(clock_of(f, "FROG")->trusted);
        /* Grouped with what it learned: the file's offset says so. */
        play_shot(f, 3, 9.0);
        EngineFile *frog = engine_lookup_file(f->e, "FROG/f03.tif");
        g_assert_cmpint(frog->offset, ==, 9100 * MS);
        g_assert_cmpint(frog->dt - frog->offset - frog->shot->trigger_time, ==, -100 * MS);
        g_assert_cmpuint(clock_of(f, "FROG")->samples, ==, 4);
        g_assert_cmpint(clock_of(f, "FROG")->spread, >, 0);
        g_assert_cmpint(clock_of(f, "FROG")->spread, <, 500 * MS);
        /* The reference never moves: it is what others are measured on. */
        g_assert_cmpfloat(offset_of(f, "Ref"), ==, 0);
}

/* Not used before a few samples; a configured offset (ClockOffsetSec=) is
 * used from the first shot and learned from; LearnClockOffsets=false keeps
 * it as configured. */
static void test_clock_configured_and_frozen(Fixture *f, const void *data) {
        cam(f, "Ref", 1, true);
        uint32_t frog = cam(f, "FROG", 1, true);
        g_assert_cmpint(engine_set_camera_clock(f->e, frog, true, 9 * S), ==, 1);
        g_assert_cmpint(engine_set_camera_clock(f->e, frog, true, 9 * S), ==, 0);
        g_assert_cmpfloat(offset_of(f, "FROG"), ==, 9);
        g_assert_true(engine_clock_is_fresh(clock_of(f, "FROG")));

        play_shot(f, 0, 9.4);
        play_shot(f, 1, 9.6);
        play_shot(f, 2, 9.5);
        EngineFile *first = engine_lookup_file(f->e, "FROG/f00.tif");
        g_assert_cmpint(first->offset, ==, 9 * S);
        g_assert_cmpfloat(offset_of(f, "FROG"), ==, 9.5);
        g_ptr_array_set_size(f->log, 0);

        EngineParams p = params_learning(30, 60, 15);
        p.learn_offsets = false;
        g_assert_cmpint(engine_set_params(f->e, &p), ==, 0);
        g_assert_cmpfloat(offset_of(f, "FROG"), ==, 9);
        play_shot(f, 3, 12.0);
        play_shot(f, 4, 12.0);
        play_shot(f, 5, 12.0);
        play_shot(f, 6, 12.0);
        g_assert_cmpfloat(offset_of(f, "FROG"), ==, 9);
        g_assert_cmpuint(clock_of(f, "FROG")->samples, ==, 3);
        for (guint i = 0; i < f->log->len; i++)
                g_assert_false(g_str_has_prefix(f->log->pdata[i], "changed"));
}

/* An odd file (a camera that wrote 10 s late) does not move the estimate,
 * and a learned camera's file beyond its reach (and farther than half of
 * MinShotIntervalSec, where no other shot could be nearer) waits until its
 * shot closes (a nearer shot could come), then joins it as rule 6 says. */
static void test_clock_outlier(Fixture *f, const void *data) {
        cam(f, "Ref", 1, true);
        cam(f, "FROG", 1, true);
        cam(f, "A", 1, false);

        for (unsigned k = 0; k < 9; k++)
                play_shot(f, k, 8.9 + 0.1 * (k % 3));
        g_assert_cmpfloat(offset_of(f, "FROG"), ==, 9.0);
        g_ptr_array_set_size(f->log, 0);

        add(f, "Ref/s09.tif", true, 540 * S);
        add(f, "FROG/late.tif", false, 540 * S + 19 * S);
        EXPECT(f, "open 20251211-010", "assign 20251211-010 Ref/s09.tif", "orphan 20251211-010 FROG/late.tif waits");
        advance(f, 60);
        EXPECT(f, "assign 20251211-010 FROG/late.tif", "close 20251211-010 complete");
        g_assert_cmpfloat(offset_of(f, "FROG"), ==, 9.0);

        play_shot(f, 10, 9.1);
        play_shot(f, 11, 8.9);
        EXPECT(f, "open 20251211-011", "assign 20251211-011 Ref/s10.tif", "assign 20251211-011 FROG/f10.tif",
               "close 20251211-011 complete", "open 20251211-012", "assign 20251211-012 Ref/s11.tif",
               "assign 20251211-012 FROG/f11.tif", "close 20251211-012 complete");
        g_assert_cmpfloat(offset_of(f, "FROG"), ==, 9.0);
}

/* A file of a learned camera, far from its offset, arriving after its shot
 * closed: every shot near it has been seen by then, it joins at once as a
 * late file (rule 10) rather than wait for the end of the late grace (the
 * reliability suite's crash loop waited in vain). */
static void test_clock_late_beyond_reach(Fixture *f, const void *data) {
        cam(f, "Ref", 1, true);
        cam(f, "FROG", 1, true);

        for (unsigned k = 0; k < 9; k++)
                play_shot(f, k, 9.0);
        g_ptr_array_set_size(f->log, 0);
        add(f, "Ref/s09.tif", true, 540 * S);
        advance(f, 60);
        add(f, "FROG/late.tif", false, 540 * S + 19 * S);
        EXPECT(f, "open 20251211-010", "assign 20251211-010 Ref/s09.tif", "close 20251211-010 timeout -FROG",
               "assign 20251211-010 FROG/late.tif late");
}

/* A camera whose files scatter ±1.9 s in a ±2 s window: the median of its
 * residuals (+0.9 s here) is noise, not a clock. Used, it would push files
 * at the window's edge out of it (the reliability suite's crash loop lost
 * files so); its offset stays its seed. */
static void test_clock_noise_is_no_offset(Fixture *f, const void *data) {
        EngineParams p = params_learning(4, 60, 2);
        g_assert_cmpint(engine_set_params(f->e, &p), ==, 0);
        cam(f, "Ref", 1, true);
        cam(f, "FROG", 1, true);
        static const double scatter[] = { 1.8, -1.5, 0.9, 1.7, -0.3, 1.2, 1.6, -1.8, 0.7 };

        for (unsigned k = 0; k < G_N_ELEMENTS(scatter); k++)
                play_shot(f, k, scatter[k]);
        g_assert_cmpint(clock_of(f, "FROG")->offset, ==, 900 * MS);
        g_assert_cmpfloat(offset_of(f, "FROG"), ==, 0);
        g_ptr_array_set_size(f->log, 0);
        play_shot(f, 9, -1.9);
        EXPECT(f, "open 20251211-010", "assign 20251211-010 Ref/s09.tif", "assign 20251211-010 FROG/f09.tif",
               "close 20251211-010 complete");
}

/* A PC's clock set forward (by 5 s, inside the window), then back: files
 * still land in their shots (nearer than half MinShotIntervalSec, no other
 * shot can be theirs), three in a row far from the offset and agreeing
 * replace it, announced each time. */
static void test_clock_set_forward_and_back(Fixture *f, const void *data) {
        cam(f, "Ref", 1, true);
        cam(f, "FROG", 1, true);

        for (unsigned k = 0; k < 9; k++)
                play_shot(f, k, 9.0 + 0.1 * (k % 2));
        g_assert_cmpfloat(offset_of(f, "FROG"), ==, 9.0);
        g_ptr_array_set_size(f->log, 0);

        for (unsigned k = 9; k < 12; k++) {
                play_shot(f, k, 14.0 + 0.1 * (k % 2));
                advance(f, 61);
        }
        EXPECT(f, "open 20251211-010", "assign 20251211-010 Ref/s09.tif", "assign 20251211-010 FROG/f09.tif",
               "close 20251211-010 complete", "open 20251211-011", "assign 20251211-011 Ref/s10.tif",
               "assign 20251211-011 FROG/f10.tif", "close 20251211-011 complete", "open 20251211-012",
               "assign 20251211-012 Ref/s11.tif", "assign 20251211-012 FROG/f11.tif",
               "changed FROG +14.100 (was +9.000)", "close 20251211-012 complete");
        const EngineClock *clock = clock_of(f, "FROG");
        g_assert_cmpint(clock->previous, ==, 9 * S);
        g_assert_cmpint(clock->changed_at, ==, f->t0 + 11 * 60 * S);
        play_shot(f, 12, 14.0);
        EXPECT(f, "open 20251211-013", "assign 20251211-013 Ref/s12.tif", "assign 20251211-013 FROG/f12.tif",
               "close 20251211-013 complete");

        for (unsigned k = 13; k < 16; k++) {
                play_shot(f, k, 9.0);
                advance(f, 61);
        }
        g_assert_cmpfloat(offset_of(f, "FROG"), ==, 9.0);
        guint changes = 0;
        for (guint i = 0; i < f->log->len; i++)
                if (g_str_has_prefix(f->log->pdata[i], "changed")) {
                        g_assert_cmpstr(f->log->pdata[i], ==, "changed FROG +9.000 (was +14.000)");
                        changes++;
                }
        g_assert_cmpuint(changes, ==, 1);
        for (unsigned k = 0; k < 16; k++) {
                char frg[32];
                g_snprintf(frg, sizeof frg, "FROG/f%02u.tif", k);
                g_assert_cmpuint(engine_lookup_file(f->e, frg)->shot->number, ==, k + 1);
        }
}

/* A camera whose PC is 29 s ahead (farther than W/2) never lands in a
 * window: its files are orphans. Their steady distance to their nearest
 * trigger over three unevenly spaced shots is its offset: adopted, and
 * its orphans join their shots (late, in their grace). */
static void test_clock_learned_from_orphans(Fixture *f, const void *data) {
        cam(f, "Ref", 1, true);
        cam(f, "Far", 1, false);
        static const double at[] = { 0, 70, 135, 210, 270 };

        for (unsigned k = 0; k < G_N_ELEMENTS(at); k++) {
                char ref[32], far[32];
                g_snprintf(ref, sizeof ref, "Ref/s%u.tif", k);
                g_snprintf(far, sizeof far, "Far/f%u.tif", k);
                add(f, ref, true, (nsec_t) (at[k] * S));
                add(f, far, false, (nsec_t) ((at[k] + 29 + 0.1 * (k % 3)) * S));
        }
        /* Each orphan is weighed when a shot after it closes: the third
         * makes the offset. */
        EXPECT(f, "open 20251211-001", "assign 20251211-001 Ref/s0.tif", "close 20251211-001 complete",
               "orphan Far/f0.tif", "open 20251211-002", "assign 20251211-002 Ref/s1.tif",
               "close 20251211-002 complete", "orphan Far/f1.tif", "open 20251211-003", "assign 20251211-003 Ref/s2.tif",
               "close 20251211-003 complete", "orphan Far/f2.tif", "open 20251211-004", "assign 20251211-004 Ref/s3.tif",
               "close 20251211-004 complete", "learned Far +29.100 (was +0.000)",
               "assign 20251211-001 Far/f0.tif late", "assign 20251211-002 Far/f1.tif late",
               "assign 20251211-003 Far/f2.tif late", "assign 20251211-004 Far/f3.tif late",
               "open 20251211-005", "assign 20251211-005 Ref/s4.tif", "close 20251211-005 complete",
               "assign 20251211-005 Far/f4.tif late");
        /* Then like any other camera: in its shot when it arrives. */
        add(f, "Far/f5.tif", false, 359 * S);
        add(f, "Ref/s5.tif", true, 330 * S);
        EXPECT(f, "orphan Far/f5.tif", "open 20251211-006", "assign 20251211-006 Ref/s5.tif",
               "assign 20251211-006 Far/f5.tif", "close 20251211-006 complete");
}

/* Shots evenly spaced make every neighbouring shot's trigger as good an
 * explanation of an orphan as its own: nothing is adopted. */
static void test_clock_orphans_ambiguous(Fixture *f, const void *data) {
        cam(f, "Ref", 1, true);
        cam(f, "Far", 1, false);

        for (unsigned k = 0; k < 8; k++) {
                char ref[32], far[32];
                g_snprintf(ref, sizeof ref, "Ref/s%u.tif", k);
                g_snprintf(far, sizeof far, "Far/f%u.tif", k);
                add(f, ref, true, (nsec_t) k * 40 * S);
                add(f, far, false, (nsec_t) k * 40 * S + 20 * S);
        }
        advance(f, 61);
        advance(f, 61);
        g_assert_cmpfloat(offset_of(f, "Far"), ==, 0);
        g_assert_false(clock_of(f, "Far")->trusted);
}

/* The reference is the first trigger camera: its offset stays 0 (its seed).
 * A shot opened by another trigger camera whose offset is learned is timed
 * on the reference clock (its mtime minus its offset), and the reference's
 * own trigger joins it rather than opening another shot. */
static void test_clock_reference(Fixture *f, const void *data) {
        cam(f, "Ref", 1, true);
        cam(f, "Csi", 1, true);

        for (unsigned k = 0; k < 3; k++) {
                char ref[32], csi[32];
                g_snprintf(ref, sizeof ref, "Ref/s%u.tif", k);
                g_snprintf(csi, sizeof csi, "Csi/s%u.tif", k);
                add(f, ref, true, (nsec_t) k * 60 * S);
                add(f, csi, true, (nsec_t) k * 60 * S - 6 * S);
        }
        g_assert_cmpfloat(offset_of(f, "Csi"), ==, -6);
        g_ptr_array_set_size(f->log, 0);

        add(f, "Csi/s3.tif", true, 180 * S - 6 * S);
        Shot *s = engine_find_shot(f->e, "20251211-004");
        g_assert_nonnull(s);
        g_assert_cmpint(s->trigger_time, ==, f->t0 + 180 * S);
        add(f, "Ref/s3.tif", true, 180 * S + 200 * MS);
        EXPECT(f, "open 20251211-004", "assign 20251211-004 Csi/s3.tif", "assign 20251211-004 Ref/s3.tif",
               "close 20251211-004 complete");
        g_assert_cmpfloat(offset_of(f, "Ref"), ==, 0);
        /* The reference times the shot now; Csi's residual is against it. */
        g_assert_true(s->anchor_file == engine_lookup_file(f->e, "Ref/s3.tif"));
        g_assert_cmpint(s->anchor, ==, f->t0 + 180 * S + 200 * MS);
        /* Another reference: offsets against the old one mean nothing. */
        g_assert_cmpint(engine_set_reference(f->e, "Csi"), ==, 1);
        g_assert_cmpfloat(offset_of(f, "Csi"), ==, 0);
        g_assert_false(clock_of(f, "Ref")->trusted);
}

/* A Fire-opened shot has no trigger camera: its time is the Fire instant,
 * the host's clock. With a reference camera it teaches nothing (the host's
 * clock is not the reference's); without one, the host's clock is the
 * reference and Fire shots teach offsets. */
static void test_clock_fire(Fixture *f, const void *data) {
        cam(f, "Ref", 1, false);
        cam(f, "USB", 1, true);

        for (unsigned k = 0; k < 4; k++) {
                char usb[32];
                g_snprintf(usb, sizeof usb, "USB/c%u.jpg", k);
                Shot *s;
                g_assert_cmpint(engine_fire(f->e, f->t0 + (nsec_t) k * 60 * S, f->now, &s), ==, 0);
                g_assert_false(s->anchored);
                add(f, usb, false, (nsec_t) k * 60 * S + 2 * S);
        }
        g_assert_cmpuint(clock_of(f, "USB")->samples, ==, 0);

        g_assert_cmpint(engine_set_reference(f->e, NULL), ==, 1);
        for (unsigned k = 4; k < 7; k++) {
                char usb[32];
                g_snprintf(usb, sizeof usb, "USB/c%u.jpg", k);
                Shot *s;
                g_assert_cmpint(engine_fire(f->e, f->t0 + (nsec_t) k * 60 * S, f->now, &s), ==, 0);
                g_assert_true(s->anchored);
                add(f, usb, false, (nsec_t) k * 60 * S + 2 * S);
        }
        g_assert_cmpfloat(offset_of(f, "USB"), ==, 2);
}

/* Shots 4 s apart once offsets are learned: a file arriving before its own
 * shot opened is not given to the previous shot (4 s away, beyond its
 * camera's reach): it waits and joins its shot when that opens. A trigger
 * in the same case opens its own shot (the previous shot is farther than
 * MinShotIntervalSec), and the late trigger of the previous shot joins it. */
static void test_clock_dense_shots(Fixture *f, const void *data) {
        EngineParams p = params_learning(30, 60, 3);
        g_assert_cmpint(engine_set_params(f->e, &p), ==, 0);
        cam(f, "Ref", 1, true);
        cam(f, "FROG", 1, true);
        cam(f, "Csi", 1, true);

        for (unsigned k = 0; k < 3; k++) {
                char ref[32], frg[32], csi[32];
                g_snprintf(ref, sizeof ref, "Ref/s%u.tif", k);
                g_snprintf(frg, sizeof frg, "FROG/f%u.tif", k);
                g_snprintf(csi, sizeof csi, "Csi/s%u.tif", k);
                add(f, ref, true, (nsec_t) k * 60 * S);
                add(f, frg, false, (nsec_t) k * 60 * S + 9 * S);
                add(f, csi, true, (nsec_t) k * 60 * S - 1 * S);
        }
        g_ptr_array_set_size(f->log, 0);

        nsec_t t = 200 * S;
        add(f, "Ref/s3.tif", true, t);
        add(f, "FROG/f4.tif", false, t + 4 * S + 9 * S);
        add(f, "Csi/s4.tif", true, t + 4 * S - 1 * S);
        add(f, "Csi/s3.tif", true, t - 1 * S);
        add(f, "FROG/f3.tif", false, t + 9 * S);
        add(f, "Ref/s4.tif", true, t + 4 * S);
        EXPECT(f, "open 20251211-004", "assign 20251211-004 Ref/s3.tif", "orphan 20251211-004 FROG/f4.tif waits",
               "open 20251211-005", "assign 20251211-005 Csi/s4.tif", "assign 20251211-005 FROG/f4.tif",
               "assign 20251211-004 Csi/s3.tif", "assign 20251211-004 FROG/f3.tif", "close 20251211-004 complete",
               "assign 20251211-005 Ref/s4.tif", "close 20251211-005 complete");
}

/* After a restart the saved estimate is used from the first shot; one
 * learned from another ClockOffsetSec= than the camera has now is not. */
static void test_clock_restore(Fixture *f, const void *data) {
        cam(f, "Ref", 1, true);
        cam(f, "FROG", 1, true);
        for (unsigned k = 0; k < 4; k++)
                play_shot(f, k, 9.0);
        EngineClock saved = *clock_of(f, "FROG");
        g_assert_true(saved.trusted);

        Fixture g = {};
        setup_learning(&g, NULL);
        cam(&g, "Ref", 1, true);
        uint32_t frog = cam(&g, "FROG", 1, true);
        EngineClock bad = saved;
        bad.n_recent = ENGINE_CLOCK_RING + 1;
        g_assert_cmpint(engine_restore_clock(g.e, frog, &bad), ==, -EINVAL);
        g_assert_cmpint(engine_restore_clock(g.e, frog, &saved), ==, 0);
        g_assert_cmpfloat(offset_of(&g, "FROG"), ==, 9.0);
        play_shot(&g, 0, 9.2);
        g_assert_cmpint(engine_lookup_file(g.e, "FROG/f00.tif")->offset, ==, 9 * S);
        g_assert_cmpuint(clock_of(&g, "FROG")->samples, ==, 5);
        teardown(&g, NULL);

        Fixture h = {};
        setup_learning(&h, NULL);
        cam(&h, "Ref", 1, true);
        frog = cam(&h, "FROG", 1, true);
        g_assert_cmpint(engine_set_camera_clock(h.e, frog, true, 8 * S), ==, 1);
        g_assert_cmpint(engine_restore_clock(h.e, frog, &saved), ==, -ESTALE);
        g_assert_cmpfloat(offset_of(&h, "FROG"), ==, 8.0);
        teardown(&h, NULL);
}

static void test_shot_id(void) {
        char buf[SHOT_ID_MAX];
        uint32_t d, n;

        g_assert_cmpint(shot_format_id(20261123, 4, buf), ==, 0);
        g_assert_cmpstr(buf, ==, "20261123-004");
        g_assert_cmpint(shot_parse_id("20261123-004", &d, &n), ==, 0);
        g_assert_cmpuint(d, ==, 20261123);
        g_assert_cmpuint(n, ==, 4);
        g_assert_cmpint(shot_parse_id("20261123-1234", &d, &n), ==, 0);
        g_assert_cmpuint(n, ==, 1234);
        g_assert_cmpint(shot_parse_id("../../etc", &d, &n), <, 0);
        g_assert_cmpint(shot_parse_id("20261123-04", &d, &n), <, 0);
        g_assert_cmpint(shot_parse_id("20261123-0004", &d, &n), <, 0);
        g_assert_cmpint(shot_parse_id("20261123-000", &d, &n), <, 0);
        g_assert_cmpint(shot_parse_id("20261323-001", &d, &n), <, 0);
        g_assert_cmpint(shot_parse_id("20261123-001/", &d, &n), <, 0);
        g_assert_cmpint(shot_parse_id("", &d, &n), <, 0);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

#define T(name, fn) g_test_add("/engine/" name, Fixture, NULL, setup, fn, teardown)
        T("rule2-kinds", test_rule2_kinds);
        T("rule3-window-inclusive", test_rule3_window_inclusive);
        T("rule4-triggers-join", test_rule4_triggers_join);
        T("rule5-retroactive", test_rule5_retroactive);
        T("rule5-late-trigger-opens", test_rule5_late_trigger_opens);
        T("rule6-duplicate", test_rule6_duplicate);
        T("rule7-nearest-shot", test_rule7_nearest_shot);
        T("rule7-nearest-file", test_rule7_nearest_file);
        T("rule7-midnight", test_rule7_midnight);
        T("rule8-orphan-absorbed", test_rule8_orphan_absorbed);
        T("rule9-close", test_rule9_close);
        T("rule10-late", test_rule10_late);
        T("rule10-late-trigger-joins", test_rule10_late_trigger_joins);
        T("rule11-expected", test_rule11_expected);
        T("seed-2.1-simple", test_seed_2_1_simple);
        T("seed-2.2-late-in-window", test_seed_2_2_late_in_window);
        T("seed-2.3-beyond-window", test_seed_2_3_beyond_window);
        T("seed-2.4-never", test_seed_2_4_never);
        T("seed-2.5-two-shots", test_seed_2_5_two_shots);
        T("seed-2.6-overlap", test_seed_2_6_overlap);
        T("pause", test_pause);
        T("fire", test_fire);
        T("numbering", test_numbering);
        T("forget", test_forget);
        T("rescan-idempotent", test_rescan_idempotent);
        T("restore", test_restore);
        T("reload-window", test_reload_window);
        T("close-all", test_close_all);
        T("rule15-identity", test_rule15_identity);
        T("rule15-legacy-tombstones", test_rule15_legacy_tombstones);
        T("rule17-kind-added", test_rule17_kind_added);
        T("rule17-kinds-reordered-removed", test_rule17_kinds_reordered_removed);
        T("rule17-cameras-and-params", test_rule17_cameras_and_params);
        T("rule17-kind-widened", test_rule17_kind_widened);
        T("restore-kinds", test_restore_kinds);
        T("rule4-duplicate-trigger", test_rule4_duplicate_trigger);
        T("rule4-duplicate-trigger-off", test_rule4_duplicate_trigger_off);
#undef T
#define T(name, fn) g_test_add("/engine/" name, Fixture, NULL, setup_learning, fn, teardown)
        T("clock-learning", test_clock_learning);
        T("clock-configured-and-frozen", test_clock_configured_and_frozen);
        T("clock-outlier", test_clock_outlier);
        T("clock-late-beyond-reach", test_clock_late_beyond_reach);
        T("clock-noise-is-no-offset", test_clock_noise_is_no_offset);
        T("clock-set-forward-and-back", test_clock_set_forward_and_back);
        T("clock-learned-from-orphans", test_clock_learned_from_orphans);
        T("clock-orphans-ambiguous", test_clock_orphans_ambiguous);
        T("clock-reference", test_clock_reference);
        T("clock-fire", test_clock_fire);
        T("clock-dense-shots", test_clock_dense_shots);
        T("clock-restore", test_clock_restore);
#undef T
        g_test_add_func("/engine/shot-id", test_shot_id);
        return g_test_run();
}
