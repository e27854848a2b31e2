/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* shotsync-sim's parts without files or clocks: name templates, start
 * times, scenario validation, timeline generation and the expected outcome
 * computed with the grouping engine. */

#include <glib.h>
#include <math.h>

#include "sim.h"

/* 2025-12-11 11:50:00 Europe/Paris (TZ is set by meson). */
#define T0 ((nsec_t) 1765450200 * NSEC_PER_SEC)
#define SEC(x) ((nsec_t) ((x) * 1e9))

static SimScenario *load(const char *text) {
        g_autoptr(GError) e = NULL;
        SimScenario *s = sim_scenario_load_from_data("test.ini", text, strlen(text), &e);
        g_assert_no_error(e);
        g_assert_nonnull(s);
        return s;
}

static char *load_error(const char *text) {
        GError *e = NULL;
        SimScenario *s = sim_scenario_load_from_data("test.ini", text, strlen(text), &e);
        g_assert_null(s);
        g_assert_nonnull(e);
        char *msg = g_strdup(e->message);
        g_error_free(e);
        return msg;
}

static SimTimeline *timeline(const SimScenario *s, double speed, bool fire, usec_t timeout) {
        SimTimelineOptions o = {
                .start = T0,
                .speed = speed,
                .real_start = T0 + SEC(86400),
                .fire = fire,
                .timeout = timeout,
        };
        g_autoptr(GError) e = NULL;
        SimTimeline *t = sim_timeline_new(s, &o, &e);
        g_assert_no_error(e);
        g_assert_nonnull(t);
        return t;
}

/* ---- templates ---- */

static void test_template(void) {
        SimNameContext ctx = {
                .camera = "NearField",
                .kind = 2,
                .counter = 7,
                .shot = 12,
                .mtime = T0 + SEC(10.735459),
                .session = T0 - SEC(1637),
        };
        static const struct {
                const char *tmpl, *want;
        } cases[] = {
                { "E6_NF_ZOOM (24077350)_{mtime:%Y-%m-%d_%H-%M-%S-%f}.png",
                  "E6_NF_ZOOM (24077350)_2025-12-11_11-50-10-735459.png" },
                { "E6_Lanex1__22665529__{session:%Y%m%d_%H%M%S%L}_{counter:4}.tiff",
                  "E6_Lanex1__22665529__20251211_112243000_0007.tiff" },
                { "{counter} - {mtime:%Y-%m-%d-%H-%M-%S}.fer", "7 - 2025-12-11-11-50-10.fer" },
                { "{camera}_{shot:3}_{kind}", "NearField_012_2" },
                { "{{literal}} 100%", "{literal} 100%" },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GError) e = NULL;
                g_autofree char *s = sim_template_render(cases[i].tmpl, &ctx, &e);
                g_assert_no_error(e);
                g_assert_cmpstr(s, ==, cases[i].want);
        }

        static const char *const bad[] = { "{nope}", "{counter:x}", "{mtime}", "{camera:1}", "a}b", "{open" };
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autoptr(GError) e = NULL;
                g_assert_false(sim_template_check(bad[i], &e));
                g_assert_nonnull(e);
        }
}

static void test_start(void) {
        nsec_t t, now = T0;
        g_assert_cmpint(sim_parse_start("now", now, &t), ==, 0);
        g_assert_cmpint(t, ==, now);
        g_assert_cmpint(sim_parse_start("now-20m", now, &t), ==, 0);
        g_assert_cmpint(t, ==, now - SEC(1200));
        g_assert_cmpint(sim_parse_start("now+1h30m", now, &t), ==, 0);
        g_assert_cmpint(t, ==, now + SEC(5400));
        g_assert_cmpint(sim_parse_start("@1765450200.123456789", now, &t), ==, 0);
        g_assert_cmpint(t, ==, T0 + 123456789);
        g_assert_cmpint(sim_parse_start("2025-12-11 11:50:00", now, &t), ==, 0);
        g_assert_cmpint(t, ==, T0);
        g_assert_cmpint(sim_parse_start("2025-12-11T10:50:00Z", now, &t), ==, 0);
        g_assert_cmpint(t, ==, T0);
        g_assert_cmpint(sim_parse_start("tomorrow", now, &t), <, 0);
        g_assert_cmpint(sim_parse_start("now-", now, &t), <, 0);
        g_assert_cmpint(sim_parse_start("@12x", now, &t), <, 0);

        nsec_t d;
        g_assert_cmpint(sim_parse_duration("90", &d), ==, 0);
        g_assert_cmpint(d, ==, SEC(90));
        g_assert_cmpint(sim_parse_duration("2min30s", &d), ==, 0);
        g_assert_cmpint(d, ==, SEC(150));
        g_assert_cmpint(sim_parse_duration("1.5h", &d), ==, 0);
        g_assert_cmpint(d, ==, SEC(5400));
        g_assert_cmpint(sim_parse_duration("5x", &d), <, 0);
        g_assert_cmpint(sim_parse_duration("", &d), <, 0);
}

/* ---- scenarios ---- */

static void test_scenario(void) {
        g_autoptr(SimScenario) s = load("[Scenario]\nShots=5\nFire=4;2\n"
                                        "[Sync]\nDelayMinSec=5\nDelayMaxSec=15\nBurstPeriodSec=5\n"
                                        "[Camera FROG]\nNames={counter}.tiff;{counter}.fer\nClockOffsetSec=4.2\n"
                                        "WriteLate=2:35;3\nNeverRate=0.5\n"
                                        "[Camera Lanex2]\nTrigger=true\nNames=x_{counter:4}.tiff\n");
        g_assert_cmpuint(s->n_shots, ==, 5);
        g_assert_cmpfloat(s->period, ==, 60);
        g_assert_cmpuint(s->n_fire_shots, ==, 2);
        g_assert_cmpuint(s->fire_shots[0], ==, 2); /* sorted */
        g_assert_true(sim_scenario_is_fire_shot(s, 4));
        g_assert_false(sim_scenario_is_fire_shot(s, 3));
        g_assert_cmpuint(s->n_cameras, ==, 2);

        const SimCamera *c = sim_scenario_camera(s, "FROG");
        g_assert_nonnull(c);
        g_assert_false(c->trigger);
        g_assert_cmpuint(c->n_kinds, ==, 2);
        g_assert_cmpfloat(c->clock_offset, ==, 4.2);
        g_assert_cmpstr(c->test_name, ==, "{camera}_align_{counter:4}.tiff");
        const SimFailureSpec *wl = &c->fail[SIM_FAIL_WRITE_LATE];
        g_assert_cmpuint(wl->n, ==, 2);
        g_assert_cmpfloat(wl->secs[0], ==, 35);
        g_assert_true(isnan(wl->secs[1]));
        g_assert_cmpfloat(wl->sec, ==, 40);
        g_assert_cmpfloat(c->fail[SIM_FAIL_NEVER].rate, ==, 0.5);
        g_assert_true(sim_scenario_camera(s, "Lanex2")->trigger);
}

static void test_scenario_errors(void) {
        static const struct {
                const char *text, *want;
        } cases[] = {
                { "[Camera A]\nNames=x\n", "test.ini: [Scenario]: missing" },
                { "[Scenario]\n[Camera A]\nNames=x\n", "test.ini: [Scenario] Shots: required" },
                { "[Scenario]\nShots=2\n", "test.ini: [Camera NAME]: no camera" },
                { "[Scenario]\nShots=2\nColour=red\n[Camera A]\nNames=x\n", "test.ini: [Scenario] Colour: unknown key" },
                { "[Scenario]\nShots=2\n[Cam A]\n", "test.ini: [Cam A]: unknown group" },
                { "[Scenario]\nShots=2\nPeriodSec=soon\n[Camera A]\nNames=x\n",
                  "test.ini: [Scenario] PeriodSec: 'soon' is not a number" },
                { "[Scenario]\nShots=2\nSpeed=0\n[Camera A]\nNames=x\n", "test.ini: [Scenario] Speed: 0 is out of range" },
                { "[Scenario]\nShots=2\nStart=yesterday\n[Camera A]\nNames=x\n", "test.ini: [Scenario] Start: 'yesterday'" },
                { "[Scenario]\nShots=2\n[Camera A]\n", "test.ini: [Camera A] Names: required" },
                { "[Scenario]\nShots=2\n[Camera A]\nNames=a/b\n", "test.ini: [Camera A] Names: 'a/b': a file name" },
                { "[Scenario]\nShots=2\n[Camera A]\nNames=x\nNever=3\n",
                  "test.ini: [Camera A] Never: '3' is not a shot number between 1 and 2" },
                { "[Scenario]\nShots=2\n[Camera A]\nNames=x\nNever=1:5\n", "test.ini: [Camera A] Never: '1:5': only shot" },
                { "[Scenario]\nShots=2\n[Camera A]\nNames=x\nSyncLate=1:-5\n", "test.ini: [Camera A] SyncLate: '1:-5'" },
                { "[Scenario]\nShots=2\n[Camera A]\nNames=x\nNeverRate=2\n", "test.ini: [Camera A] NeverRate: 2 is out of range" },
                { "[Scenario]\nShots=2\n[Camera A]\nNames=x\nTrigger=maybe\n", "test.ini: [Camera A] Trigger: 'maybe' is not a boolean" },
                { "[Scenario]\nShots=2\n[Sync]\nDelayMinSec=10\nDelayMaxSec=5\n[Camera A]\nNames=x\n",
                  "test.ini: [Sync] DelayMaxSec: 5 is less than DelayMinSec=10" },
                { "[Scenario]\nShots=2\n[Camera .A]\nNames=x\n", "test.ini: [Camera .A]: '.A' is not a usable camera" },
                { "[Scenario]\nShots=2\nSubFolder=../x\n[Camera A]\nNames=x\n", "test.ini: [Scenario] SubFolder: '../x'" },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *msg = load_error(cases[i].text);
                if (!g_str_has_prefix(msg, cases[i].want))
                        g_error("case %zu: got \"%s\", want a message starting \"%s\"", i, msg, cases[i].want);
        }
}

/* ---- timelines ---- */

static const char scenario_basic[] = "[Scenario]\nShots=4\nPeriodSec=60\nSeed=7\nSubFolder={mtime:%Y%m%d}\nJitterSec=0.3\n"
                                     "[Sync]\nDelayMinSec=5\nDelayMaxSec=15\nBurstPeriodSec=5\n"
                                     "[Camera Trig]\nTrigger=true\nNames=shot_{counter:4}.tiff\n"
                                     "[Camera FROG]\nNames={counter} - {mtime:%H-%M-%S}.tiff;{counter} - "
                                     "{mtime:%H-%M-%S}.fer\nClockOffsetSec=4\n"
                                     "[Camera A]\nNames=a_{counter}.tiff\nNever=2\nWriteLate=3:40\nDuplicate=4:3\n"
                                     "Test=1\n";

static const SimFile *find(const SimTimeline *t, const char *camera, uint32_t shot, SimFileRole role, unsigned kind) {
        for (size_t i = 0; i < t->n_files; i++) {
                const SimFile *f = &t->files[i];
                if (streq(t->scenario->cameras[f->camera].name, camera) && f->shot == shot && f->role == role &&
                    f->kind == kind)
                        return f;
        }
        return NULL;
}

static void test_timeline(void) {
        g_autoptr(SimScenario) s = load(scenario_basic);
        g_autoptr(SimTimeline) t = timeline(s, 1, false, 0);

        /* 4 shots × (Trig 1 + FROG 2 + A 1) − A's missed shot + A's duplicate + A's test image. */
        g_assert_cmpuint(t->n_files, ==, 4 * 4 - 1 + 1 + 1);
        for (uint32_t i = 0; i < 4; i++)
                g_assert_cmpint(t->shots[i].time, ==, T0 + SEC(60 * i));
        g_assert_null(find(t, "A", 2, SIM_FILE_SHOT, 0));

        for (size_t i = 0; i < t->n_files; i++) {
                const SimFile *f = &t->files[i];
                /* In delivery order, each 5–15 s after it was written, on a burst. */
                if (i > 0)
                        g_assert_cmpuint(f->deliver_at, >=, t->files[i - 1].deliver_at);
                const SimCamera *c = &s->cameras[f->camera];
                nsec_t written = f->mtime - SEC(c->clock_offset);
                double delay = (double) ((nsec_t) f->deliver_at * 1000 - (written - T0)) / 1e9;
                if (f->role != SIM_FILE_TEST) {
                        g_assert_cmpfloat(delay, >=, 5 - 0.001);
                        g_assert_cmpfloat(delay, <=, 15 + 0.001);
                }
                g_assert_true(g_str_has_prefix(f->rel_path, c->name));
                g_assert_nonnull(strstr(f->rel_path, "/20251211/"));
        }

        /* Write late: 40 s after the shot, beyond the window. */
        const SimFile *late = find(t, "A", 3, SIM_FILE_SHOT, 0);
        g_assert_nonnull(late);
        g_assert_cmpint(late->mtime - t->shots[2].time, >=, SEC(40 - 0.3));
        g_assert_true(late->failures & (1u << SIM_FAIL_WRITE_LATE));
        /* The duplicate: 3 s after the real one. */
        const SimFile *d0 = find(t, "A", 4, SIM_FILE_SHOT, 0), *d1 = find(t, "A", 4, SIM_FILE_DUPLICATE, 0);
        g_assert_nonnull(d1);
        g_assert_cmpint(d1->mtime - d0->mtime, ==, SEC(3));
        /* The test image: 20 s before its shot, and its own counter. */
        const SimFile *test = find(t, "A", 1, SIM_FILE_TEST, 0);
        g_assert_nonnull(test);
        g_assert_cmpstr(test->rel_path, ==, "A/20251211/A_align_0001.tiff");
        g_assert_cmpstr(find(t, "A", 1, SIM_FILE_SHOT, 0)->rel_path, ==, "A/20251211/a_2.tiff");
        /* Two kinds of one acquisition share its counter. */
        const SimFile *tiff = find(t, "FROG", 2, SIM_FILE_SHOT, 0), *fer = find(t, "FROG", 2, SIM_FILE_SHOT, 1);
        g_assert_cmpuint(tiff->counter, ==, 2);
        g_assert_cmpuint(fer->counter, ==, 2);
        g_assert_true(g_str_has_suffix(fer->rel_path, ".fer"));
        g_assert_cmpint(fer->mtime - tiff->mtime, ==, SEC(0.01));

        /* The same seed gives the same timeline; another seed another. */
        g_autoptr(SimTimeline) again = timeline(s, 1, false, 0);
        for (size_t i = 0; i < t->n_files; i++) {
                g_assert_cmpstr(t->files[i].rel_path, ==, again->files[i].rel_path);
                g_assert_cmpint(t->files[i].mtime, ==, again->files[i].mtime);
                g_assert_cmpuint(t->files[i].deliver_at, ==, again->files[i].deliver_at);
        }
        s->seed = 8;
        g_autoptr(SimTimeline) other = timeline(s, 1, false, 0);
        bool differs = false;
        for (size_t i = 0; i < t->n_files; i++)
                differs = differs || t->files[i].mtime != other->files[i].mtime;
        g_assert_true(differs);
}

static void test_speed(void) {
        g_autoptr(SimScenario) s = load(scenario_basic);
        g_autoptr(SimTimeline) slow = timeline(s, 1, false, 0);
        g_autoptr(SimTimeline) fast = timeline(s, 10, false, 0);

        /* mtimes keep the campaign's spacing; deliveries come 10 times sooner. */
        g_assert_cmpuint(slow->n_files, ==, fast->n_files);
        for (size_t i = 0; i < slow->n_files; i++) {
                g_assert_cmpint(slow->files[i].mtime, ==, fast->files[i].mtime);
                g_assert_true(llabs((long long) slow->files[i].deliver_at - (long long) fast->files[i].deliver_at * 10) <= 10);
        }
        g_assert_cmpuint(fast->shots[3].at, ==, 18 * USEC_PER_SEC);
}

static void test_fire_and_after_close(void) {
        g_autoptr(SimScenario) s = load("[Scenario]\nShots=3\nFire=2\n"
                                        "[Camera Trig]\nTrigger=true\nNames=t_{counter}_{mtime:%H%M%S}.tiff\n"
                                        "[Camera B]\nNames=b_{counter}.tiff\nAfterClose=3:5\n");
        g_autoptr(GError) e = NULL;
        SimTimelineOptions o = { .start = T0, .speed = 10, .real_start = T0 + SEC(86400) };
        SimTimeline *none = sim_timeline_new(s, &o, &e);
        g_assert_null(none);
        g_assert_nonnull(strstr(e->message, "[Camera B] AfterClose: needs shotsyncd's TimeoutSec"));

        g_autoptr(SimTimeline) t = timeline(s, 10, true, 16 * USEC_PER_SEC);
        const SimShotPlan *p = &t->shots[1];
        g_assert_true(p->fired);
        g_assert_cmpint(p->fire_time, ==, T0 + SEC(86400) + (nsec_t) p->at * 1000);

        /* The fired shot's files follow the fire instant, whenever it comes. */
        const SimFile *f = find(t, "Trig", 2, SIM_FILE_SHOT, 0);
        g_assert_true(f->fire_relative);
        g_assert_cmpuint(f->deliver_at, >=, p->at);
        nsec_t real = p->fire_time + SEC(0.25);
        g_assert_cmpint(sim_timeline_fire_happened(t, 2, real, NULL), ==, 0);
        f = find(t, "Trig", 2, SIM_FILE_SHOT, 0);
        g_assert_cmpint(sim_file_mtime(t, f, real) - real, ==, f->mtime);
        g_assert_cmpint(llabs(f->mtime), <=, SEC(0.2));
        g_autofree char *hhmmss = NULL;
        {
                g_autoptr(GDateTime) d = g_date_time_new_from_unix_local((sim_file_mtime(t, f, real)) / NSEC_PER_SEC);
                hhmmss = g_date_time_format(d, "%H%M%S.tiff");
        }
        g_assert_true(g_str_has_suffix(f->rel_path, hhmmss));
        g_assert_cmpint(sim_timeline_fire_happened(t, 1, real, NULL), <, 0);

        /* AfterClose: TimeoutSec after the first trigger file arrived, plus 5 s of campaign time. */
        const SimFile *trig3 = find(t, "Trig", 3, SIM_FILE_SHOT, 0), *b3 = find(t, "B", 3, SIM_FILE_SHOT, 0);
        g_assert_cmpuint(b3->deliver_at, ==, trig3->deliver_at + 16 * USEC_PER_SEC + USEC_PER_SEC / 2);
}

static void test_collision(void) {
        g_autoptr(SimScenario) s = load("[Scenario]\nShots=2\n[Camera A]\nNames=same.tiff\n");
        g_autoptr(GError) e = NULL;
        SimTimelineOptions o = { .start = T0, .speed = 1 };
        g_assert_null(sim_timeline_new(s, &o, &e));
        g_assert_nonnull(strstr(e->message, "test.ini: [Camera A] Names: two files would both be A/same.tiff"));
}

/* ---- expected outcome ---- */

static const char config_basic[] = "[Watch]\nRawRoot=/nonexistent/raw\nIgnoreKeywords=test;align\n"
                                   "[Grouping]\nFullWindowSec=30\nTimeoutSec=20\n"
                                   "[Output]\nCleanRoot=/nonexistent/clean\n"
                                   "[Camera Trig]\nTrigger=true\nTriggerKeyword=shot\nFiles=*.tiff\n"
                                   "[Camera FROG]\nFiles=*.tiff;*.fer\n"
                                   "[Camera A]\nFiles=*.tiff\n";

static const SimExpectShot *shot_of(const SimExpect *x, uint32_t sim_shot) {
        for (guint i = 0; i < x->shots->len; i++) {
                const SimExpectShot *s = x->shots->pdata[i];
                if (s->sim_shot == sim_shot)
                        return s;
        }
        return NULL;
}

static void test_expect(void) {
        g_autoptr(SimScenario) s = load(scenario_basic);
        g_autoptr(SimTimeline) t = timeline(s, 1, false, 0);
        Config *c = NULL;
        g_autofree char *msg = NULL;
        g_assert_cmpint(config_load_from_data("test.conf", config_basic, strlen(config_basic), &c, &msg), ==, 0);

        g_autoptr(GError) e = NULL;
        g_autoptr(SimExpect) x = sim_expect_compute(t, c, 0, 0, &e);
        g_assert_no_error(e);
        g_assert_cmpuint(x->shots->len, ==, 4);

        const SimExpectShot *s1 = shot_of(x, 1), *s2 = shot_of(x, 2), *s3 = shot_of(x, 3), *s4 = shot_of(x, 4);
        g_assert_cmpstr(s1->id, ==, "20251211-001");
        g_assert_cmpstr(s1->status, ==, "complete");
        g_assert_cmpstr(s1->trigger_camera, ==, "Trig");
        g_assert_cmpuint(s1->files->len, ==, 4);
        g_assert_cmpstr(s2->status, ==, "timeout");
        g_assert_cmpstrv(s2->missing, ((const char *const[]) { "A", NULL }));
        g_assert_cmpstr(s3->status, ==, "timeout");
        g_assert_cmpstrv(s3->missing, ((const char *const[]) { "A", NULL }));
        g_assert_cmpstr(s4->status, ==, "complete");

        for (size_t i = 0; i < t->n_files; i++) {
                const SimFile *f = &t->files[i];
                const SimExpectFile *xf = &x->files[i];
                if (f->role == SIM_FILE_TEST) {
                        g_assert_cmpint(xf->fate, ==, SIM_FATE_IGNORED);
                        g_assert_cmpstr(xf->reason, ==, "ignore keyword");
                } else if (f->role == SIM_FILE_DUPLICATE) {
                        g_assert_cmpint(xf->fate, ==, SIM_FATE_DUPLICATE);
                        g_assert_cmpstr(xf->shot_id, ==, s4->id);
                } else if (f->failures & (1u << SIM_FAIL_WRITE_LATE))
                        g_assert_cmpint(xf->fate, ==, SIM_FATE_ORPHAN);
                else {
                        g_assert_cmpint(xf->fate, ==, SIM_FATE_ASSIGNED);
                        g_assert_false(xf->late);
                        g_assert_cmpuint(xf->kind, ==, f->kind + 1u);
                }
        }

        g_autofree char *json = sim_expect_to_json(x, t);
        g_assert_nonnull(strstr(json, "\"start_arg\" : \"@1765450200.000000000\""));
        g_assert_nonnull(strstr(json, "\"fate\" : \"orphan\""));
        config_free(c);
}

static void test_expect_late(void) {
        g_autoptr(SimScenario) s = load("[Scenario]\nShots=2\n"
                                        "[Camera Trig]\nTrigger=true\nNames=shot_{counter}.tiff\n"
                                        "[Camera A]\nNames=a_{counter}.tiff\nAfterClose=1:5\n"
                                        "[Camera FROG]\nNames={counter}.tiff;{counter}.fer\nNever=1\n");
        g_autoptr(SimTimeline) t = timeline(s, 1, false, 20 * USEC_PER_SEC);
        Config *c = NULL;
        g_autofree char *msg = NULL;
        g_assert_cmpint(config_load_from_data("test.conf", config_basic, strlen(config_basic), &c, &msg), ==, 0);
        g_autoptr(SimExpect) x = sim_expect_compute(t, c, 0, 0, NULL);
        const SimExpectShot *s1 = shot_of(x, 1);
        g_assert_cmpstr(s1->status, ==, "timeout");
        g_assert_cmpstrv(s1->missing_at_close, ((const char *const[]) { "FROG", "A", NULL }));
        g_assert_cmpstrv(s1->missing, ((const char *const[]) { "FROG", NULL }));
        g_assert_cmpuint(s1->n_late, ==, 1);
        const SimFile *a1 = find(t, "A", 1, SIM_FILE_SHOT, 0);
        g_assert_true(x->files[a1 - t->files].late);

        /* The digest does not change if shotsyncd sees files a little later. */
        g_autofree char *d0 = sim_expect_digest(x, t);
        g_autoptr(SimExpect) y = sim_expect_compute(t, c, 300 * 1000, 1, NULL);
        g_autofree char *d1 = sim_expect_digest(y, t);
        g_assert_cmpstr(d0, ==, d1);
        config_free(c);
}

/* Periods= phases, a PC's clock set mid-campaign (ClockJump=) and a trigger
 * camera in free run (FreeRun=). */
static void test_phases_jumps_free_run(void) {
        g_autoptr(SimScenario) s = load("[Scenario]\nShots=6\nPeriodSec=30\nPeriods=2:60;3:4\nJitterSec=0\n"
                                        "[Camera Trig]\nTrigger=true\nNames=shot_{counter:4}.tiff\n"
                                        "FreeRun=2:5\nFreeRunPeriodSec=0.5\n"
                                        "[Camera FROG]\nNames=f_{counter}.tiff\nClockOffsetSec=9\nClockJump=4:20;6:-5\n");
        g_autoptr(SimTimeline) t = timeline(s, 1, false, 0);
        static const double at[] = { 0, 60, 64, 68, 72, 102 };
        for (uint32_t i = 0; i < 6; i++)
                g_assert_cmpint(t->shots[i].time, ==, T0 + SEC(at[i]));

        static const double frog[] = { 9, 9, 9, 29, 29, 24 };
        for (uint32_t i = 0; i < 6; i++)
                g_assert_cmpint(find(t, "FROG", i + 1, SIM_FILE_SHOT, 0)->mtime, ==, T0 + SEC(at[i] + frog[i]));
        g_autofree char *note = sim_file_note(t, find(t, "FROG", 4, SIM_FILE_SHOT, 0));
        g_assert_cmpstr(note, ==, "clock set +20 s");

        unsigned frames = 0;
        for (size_t i = 0; i < t->n_files; i++) {
                const SimFile *f = &t->files[i];
                if (f->role != SIM_FILE_FRAME)
                        continue;
                g_assert_cmpuint(f->shot, ==, 2);
                g_assert_cmpint(f->mtime, ==, T0 + SEC(60 + 0.5 * ++frames));
        }
        g_assert_cmpuint(frames, ==, 4);

        static const struct {
                const char *text, *want;
        } bad[] = {
                { "[Scenario]\nShots=3\nPeriods=3:60;1:4\n[Camera A]\nNames=x{counter}\n",
                  "test.ini: [Scenario] Periods: the phases hold 4 shots, more than Shots=3" },
                { "[Scenario]\nShots=3\nPeriods=2:soon\n[Camera A]\nNames=x{counter}\n",
                  "test.ini: [Scenario] Periods: '2:soon': give SHOTS:SECONDS" },
                { "[Scenario]\nShots=3\n[Camera A]\nNames=x{counter}\nClockJump=2\n",
                  "test.ini: [Camera A] ClockJump: shot 2: give the jump as SHOT:SECONDS" },
                { "[Scenario]\nShots=3\n[Camera A]\nNames=x{counter}\nFreeRun=2:2.5\n",
                  "test.ini: [Camera A] FreeRun: shot 2: give SHOT:FRAMES" },
                { "[Scenario]\nShots=3\n[Camera A]\nNames=x{counter}\nFreeRun=2:10\nNever=2\n",
                  "test.ini: [Camera A] FreeRun: shot 2 is also in Never=" },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autofree char *msg = load_error(bad[i].text);
                if (!g_str_has_prefix(msg, bad[i].want))
                        g_error("case %zu: got \"%s\", want a message starting \"%s\"", i, msg, bad[i].want);
        }
}

/* --expect predicts with the daemon's learning: ten shots a minute apart
 * teach FROG's +9 s and the +29 s camera (beyond W/2, learned from its
 * orphans); then shots 4 s apart keep every file in its shot. A trigger
 * camera in free run makes one shot, its frames duplicate triggers. */
static void test_expect_learning(void) {
        g_autoptr(SimScenario) s = load("[Scenario]\nShots=30\nPeriods=10:60:10;20:4\nSeed=3\nJitterSec=0.4\n"
                                        "[Sync]\nDelayMinSec=6\nDelayMaxSec=30\nBurstPeriodSec=20\n"
                                        "[Camera Trig]\nTrigger=true\nNames=shot_{counter:4}.tiff\n"
                                        "FreeRun=3:6\nFreeRunPeriodSec=0.5\n"
                                        "[Camera FROG]\nNames=f_{counter}.tiff;f_{counter}.fer\nClockOffsetSec=9\n"
                                        "[Camera Far]\nNames=far_{counter}.tiff\nClockOffsetSec=29\n"
                                        "[Camera A]\nNames=a_{counter}.tiff\nClockOffsetSec=-6\n");
        static const char conf[] = "[Watch]\nRawRoot=/raw\nTriggerKeyword=\n[Output]\nCleanRoot=/clean\n"
                                   "[Grouping]\nFullWindowSec=35\nTimeoutSec=65\nMinShotIntervalSec=3\n"
                                   "[Camera Trig]\nTrigger=true\n[Camera FROG]\nFiles=*.tiff;*.fer\n"
                                   "[Camera Far]\n[Camera A]\n";
        g_autoptr(SimTimeline) t = timeline(s, 1, false, 65 * USEC_PER_SEC);
        Config *c = NULL;
        g_autofree char *msg = NULL;
        g_assert_cmpint(config_load_from_data("test.conf", conf, strlen(conf), &c, &msg), ==, 0);
        g_autoptr(SimExpect) x = sim_expect_compute(t, c, 0, 0, NULL);

        g_assert_cmpuint(x->shots->len, ==, 30);
        unsigned frames = 0;
        for (size_t i = 0; i < t->n_files; i++) {
                const SimFile *f = &t->files[i];
                const SimExpectFile *xf = &x->files[i];
                if (f->role == SIM_FILE_FRAME) {
                        g_assert_cmpint(xf->fate, ==, SIM_FATE_DUPLICATE_TRIGGER);
                        g_assert_cmpstr(xf->shot_id, ==, shot_of(x, 3)->id);
                        frames++;
                        continue;
                }
                g_assert_cmpint(xf->fate, ==, SIM_FATE_ASSIGNED);
                g_assert_cmpstr(xf->shot_id, ==, shot_of(x, f->shot)->id);
        }
        g_assert_cmpuint(frames, ==, 5);
        g_autofree char *json = sim_expect_to_json(x, t);
        g_assert_nonnull(strstr(json, "\"fate\" : \"duplicate-trigger\""));
        g_assert_nonnull(strstr(json, "\"role\" : \"frame\""));

        /* Learning off: the +29 s camera never lands in its shot. */
        static const char off[] = "[Watch]\nRawRoot=/raw\nTriggerKeyword=\n[Output]\nCleanRoot=/clean\n"
                                  "[Grouping]\nFullWindowSec=35\nTimeoutSec=65\nMinShotIntervalSec=3\n"
                                  "LearnClockOffsets=false\n"
                                  "[Camera Trig]\nTrigger=true\n[Camera FROG]\nFiles=*.tiff;*.fer\n"
                                  "[Camera Far]\n[Camera A]\n";
        Config *c_off = NULL;
        g_assert_cmpint(config_load_from_data("off.conf", off, strlen(off), &c_off, &msg), ==, 0);
        g_autoptr(SimExpect) y = sim_expect_compute(t, c_off, 0, 0, NULL);
        unsigned wrong = 0;
        for (size_t i = 0; i < t->n_files; i++) {
                const SimExpectShot *own = shot_of(y, t->files[i].shot);
                if (t->files[i].role == SIM_FILE_SHOT &&
                    (y->files[i].fate != SIM_FATE_ASSIGNED || !own || !streq(y->files[i].shot_id, own->id)))
                        wrong++;
        }
        g_assert_cmpuint(wrong, >=, 30);
        config_free(c);
        config_free(c_off);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/sim/phases-jumps-free-run", test_phases_jumps_free_run);
        g_test_add_func("/sim/expect-learning", test_expect_learning);
        g_test_add_func("/sim/template", test_template);
        g_test_add_func("/sim/start", test_start);
        g_test_add_func("/sim/scenario", test_scenario);
        g_test_add_func("/sim/scenario-errors", test_scenario_errors);
        g_test_add_func("/sim/timeline", test_timeline);
        g_test_add_func("/sim/speed", test_speed);
        g_test_add_func("/sim/fire-and-after-close", test_fire_and_after_close);
        g_test_add_func("/sim/collision", test_collision);
        g_test_add_func("/sim/expect", test_expect);
        g_test_add_func("/sim/expect-late", test_expect_late);
        return g_test_run();
}
