/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The configuration (SPEC §5): defaults, every key, drop-ins, and every way
 * a file can be wrong, with the exact message a user would read. */

#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <sys/stat.h>

#include "config.h"

#define NAME "/etc/shotsync/shotsync.conf"
#define BASE "[Watch]\nRawRoot=/srv/raw\n[Output]\nCleanRoot=/srv/clean\n" /* lines 1-4 */

static Config *load_ok(const char *data) {
        g_autofree char *error = NULL;
        Config *c = NULL;

        int r = config_load_from_data(NAME, data, strlen(data), &c, &error);
        if (r < 0)
                g_test_message("unexpected error: %s", error);
        g_assert_cmpint(r, ==, 0);
        g_assert_null(error);
        g_assert_nonnull(c);
        return c;
}

static void assert_error_len(const char *data, size_t len, const char *expected) {
        g_autofree char *error = NULL;
        Config *c = NULL;

        int r = config_load_from_data(NAME, data, len, &c, &error);
        g_assert_cmpint(r, <, 0);
        g_assert_null(c);
        g_assert_nonnull(error);
        g_assert_true(g_utf8_validate(error, -1, NULL));
        g_assert_null(strchr(error, '\n'));
        g_assert_cmpstr(error, ==, expected);
}

static void assert_error(const char *data, const char *expected) {
        assert_error_len(data, strlen(data), expected);
}

static void assert_patterns(const FileKind *k, const char *const *expected) {
        g_assert_cmpstrv(k->patterns, expected);
}

static void test_defaults(void) {
        _cleanup_config_ Config *c = load_ok(BASE);

        g_assert_cmpstr(c->path, ==, NAME);
        g_assert_nonnull(c->dropins);
        g_assert_null(c->dropins[0]);
        g_assert_cmpstr(c->raw_root, ==, "/srv/raw");
        g_assert_cmpstr(c->trigger_keyword, ==, "shot");
        g_assert_cmpuint(c->n_kinds, ==, 1);
        assert_patterns(&c->kinds[0], (const char *const[]) { "*.tif", "*.tiff", NULL });
        g_assert_cmpstrv(c->ignore_keywords, ((const char *const[]) { "test", "align", NULL }));
        g_assert_cmpstrv(c->trigger_cameras, ((const char *const[]) { NULL }));
        g_assert_cmpfloat(c->rescan_interval_sec, ==, 60);
        g_assert_cmpfloat(c->full_window_sec, ==, 10);
        g_assert_cmpfloat(c->timeout_sec, ==, 60);
        g_assert_cmpfloat(c->late_grace_sec, ==, 600);
        g_assert_cmpfloat(c->orphan_keep_sec, ==, 86400);
        g_assert_true(c->learn_clock_offsets);
        g_assert_cmpfloat(c->min_shot_interval_sec, ==, 5);
        g_assert_null(config_reference_camera(c));
        g_assert_cmpstr(c->clean_root, ==, "/srv/clean");
        g_assert_cmpint(c->mode, ==, PUBLISH_COPY);
        g_assert_cmpuint(c->n_cameras, ==, 0);
        g_assert_cmpstrv(c->ports, ((const char *const[]) { NULL }));
        g_assert_false(c->ports_auto);
        g_assert_true(c->set_clock);
        g_assert_false(c->download);
        g_assert_cmpstr(c->download_root, ==, "/srv/raw");
        g_assert_cmpfloat(c->capture_timeout_sec, ==, 10);
}

static void test_every_key(void) {
        _cleanup_config_ Config *c = load_ok(
                "# a comment\n"
                "  [Watch]  \n"
                "RawRoot = //data//raw/./campaign/ \n"
                "TriggerKeyword=  Tir \n"
                "Files=*.tif|*.tiff ; *.fer\n"
                "IgnoreKeywords=\n"
                "TriggerCameras=Lanex2; Csi\n"
                "RescanIntervalSec=0\n"
                "\n"
                "[Grouping]\n"
                "FullWindowSec=30.5\n"
                "TimeoutSec=65\n"
                "LateGraceSec=0\n"
                "OrphanKeepSec=3600.25\n"
                "[Output]\n"
                "CleanRoot=/data/clean/\n"
                "Mode=reflink\n"
                "[Trigger]\n"
                "Ports=usb:001,004;usb:001,005;ptpip:192.168.1.10\n"
                "SetClock=OFF\n"
                "Download=Yes\n"
                "DownloadRoot=/data/downloads\n"
                "CaptureTimeoutSec=2.5\n");

        g_assert_cmpstr(c->raw_root, ==, "/data/raw/campaign");
        g_assert_cmpstr(c->trigger_keyword, ==, "Tir");
        g_assert_cmpuint(c->n_kinds, ==, 2);
        assert_patterns(&c->kinds[0], (const char *const[]) { "*.tif", "*.tiff", NULL });
        assert_patterns(&c->kinds[1], (const char *const[]) { "*.fer", NULL });
        g_assert_cmpstrv(c->ignore_keywords, ((const char *const[]) { NULL }));
        g_assert_cmpstrv(c->trigger_cameras, ((const char *const[]) { "Lanex2", "Csi", NULL }));
        g_assert_cmpfloat(c->rescan_interval_sec, ==, 0);
        g_assert_cmpfloat(c->full_window_sec, ==, 30.5);
        g_assert_cmpfloat(c->timeout_sec, ==, 65);
        g_assert_cmpfloat(c->late_grace_sec, ==, 0);
        g_assert_cmpfloat(c->orphan_keep_sec, ==, 3600.25);
        g_assert_cmpstr(c->clean_root, ==, "/data/clean");
        g_assert_cmpint(c->mode, ==, PUBLISH_REFLINK);
        g_assert_cmpstrv(c->ports,
                         ((const char *const[]) { "usb:001,004", "usb:001,005", "ptpip:192.168.1.10", NULL }));
        g_assert_false(c->ports_auto);
        g_assert_false(c->set_clock);
        g_assert_true(c->download);
        g_assert_cmpstr(c->download_root, ==, "/data/downloads");
        g_assert_cmpfloat(c->capture_timeout_sec, ==, 2.5);
}

static void test_camera_groups(void) {
        _cleanup_config_ Config *c = load_ok(
                BASE
                "[Watch]\n"
                "TriggerCameras=Lanex5\n"
                "IgnoreKeywords=test;align;dark\n"
                "[Camera Lanex2]\n"
                "Trigger=true\n"
                "TriggerKeyword=2025\n"
                "Files=*.tiff\n"
                "[Camera FROG]\n"
                "Files=*.tiff;*.fer\n"
                "[Camera Lanex5]\n"
                "[Camera Tracker]\n"
                "Expected=no\n"
                "TriggerKeyword=\n"
                "Files=*.root\n"
                "[Camera NF (zoom) 2]\n"
                "Files=*.png\n");

        g_assert_cmpuint(c->n_cameras, ==, 5);
        const CameraConfig *cam = &c->cameras[0];
        g_assert_cmpstr(cam->name, ==, "Lanex2");
        g_assert_true(cam->trigger);
        g_assert_true(cam->expected);
        g_assert_cmpstr(cam->trigger_keyword, ==, "2025");
        g_assert_cmpuint(cam->n_kinds, ==, 1);
        assert_patterns(&cam->kinds[0], (const char *const[]) { "*.tiff", NULL });

        cam = &c->cameras[1];
        g_assert_cmpstr(cam->name, ==, "FROG");
        g_assert_false(cam->trigger);
        g_assert_cmpstr(cam->trigger_keyword, ==, "shot");
        g_assert_cmpuint(cam->n_kinds, ==, 2);
        assert_patterns(&cam->kinds[1], (const char *const[]) { "*.fer", NULL });

        /* An empty group is a camera with the defaults; the short form
         * makes it a trigger. */
        cam = &c->cameras[2];
        g_assert_cmpstr(cam->name, ==, "Lanex5");
        g_assert_true(cam->trigger);
        g_assert_true(cam->expected);
        g_assert_cmpuint(cam->n_kinds, ==, 1);
        assert_patterns(&cam->kinds[0], (const char *const[]) { "*.tif", "*.tiff", NULL });

        cam = &c->cameras[3];
        g_assert_cmpstr(cam->name, ==, "Tracker");
        g_assert_false(cam->expected);
        g_assert_cmpstr(cam->trigger_keyword, ==, "");

        g_assert_cmpstr(c->cameras[4].name, ==, "NF (zoom) 2");
        g_assert_cmpstrv(c->ignore_keywords, ((const char *const[]) { "test", "align", "dark", NULL }));

        g_assert_true(config_camera(c, "FROG") == &c->cameras[1]);
        g_assert_true(config_camera(c, "NF (zoom) 2") == &c->cameras[4]);
        g_assert_null(config_camera(c, "Csi"));
        g_assert_null(config_camera(c, "frog"));
        g_assert_null(config_camera(c, ".FROG"));
        g_assert_null(config_camera(c, NULL));
}

static void test_short_form(void) {
        _cleanup_config_ Config *c = load_ok(BASE "[Watch]\nTriggerCameras=Lanex2;Csi\nTriggerKeyword=Tir\n");

        g_assert_cmpuint(c->n_cameras, ==, 0);
        const CameraConfig *lanex2 = config_camera(c, "Lanex2");
        g_assert_nonnull(lanex2);
        g_assert_cmpstr(lanex2->name, ==, "Lanex2");
        g_assert_true(lanex2->trigger);
        g_assert_true(lanex2->expected);
        g_assert_cmpstr(lanex2->trigger_keyword, ==, "Tir");
        g_assert_cmpuint(lanex2->n_kinds, ==, 1);
        assert_patterns(&lanex2->kinds[0], (const char *const[]) { "*.tif", "*.tiff", NULL });

        /* Made once, then the same object. */
        g_assert_true(config_camera(c, "Lanex2") == lanex2);

        const CameraConfig *frog = config_camera(c, "FROG");
        g_assert_nonnull(frog);
        g_assert_false(frog->trigger);
        g_assert_true(frog->expected);
        g_assert_false(config_camera(c, "csi")->trigger);
        g_assert_true(config_camera(c, "Csi")->trigger);

        const char *const invalid[] = { "", ".", "..", ".sync", "~lock", "a/b", "Lanex2.part", "x.tmp", "y.crdownload" };
        for (size_t i = 0; i < G_N_ELEMENTS(invalid); i++)
                g_assert_null(config_camera(c, invalid[i]));
        g_assert_null(config_camera(c, NULL));
        g_assert_null(config_camera(NULL, "Lanex2"));
        /* Spaces, brackets and non-ASCII letters are folder names like any. */
        g_assert_nonnull(config_camera(c, "Caméra (2) [top]"));
}

static void test_booleans(void) {
        const char *const yes[] = { "true", "TRUE", "yes", "Yes", "on", "ON", "1" };
        const char *const no[] = { "false", "False", "no", "NO", "off", "Off", "0" };

        for (size_t i = 0; i < G_N_ELEMENTS(yes); i++) {
                g_autofree char *t = g_strdup_printf(BASE "[Trigger]\nDownload=%s\nSetClock=%s\n", yes[i], no[i]);
                _cleanup_config_ Config *c = load_ok(t);
                g_assert_true(c->download);
                g_assert_false(c->set_clock);
        }

        const char *const bad[] = { "maybe", "2", "tru", "y", "enabled" };
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autofree char *t = g_strdup_printf(BASE "[Trigger]\nSetClock=%s\n", bad[i]);
                g_autofree char *m =
                        g_strdup_printf(NAME ":6: [Trigger] SetClock=%s: not a boolean (use true or false)", bad[i]);
                assert_error(t, m);
        }
        assert_error(BASE "[Camera A]\nExpected=\n", NAME ":6: [Camera A] Expected=: not a boolean (use true or false)");
}

static void test_numbers(void) {
        static const struct {
                const char *value;
                double expected;
        } good[] = {
                { "10", 10 }, { "10.5", 10.5 }, { "0.25", 0.25 }, { ".5", 0.5 }, { "1e2", 100 }, { "+7", 7 },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
                g_autofree char *t = g_strdup_printf(BASE "[Grouping]\nFullWindowSec=%s\n", good[i].value);
                _cleanup_config_ Config *c = load_ok(t);
                g_assert_cmpfloat(c->full_window_sec, ==, good[i].expected);
        }

        static const struct {
                const char *value;
                const char *problem;
        } bad[] = {
                { "abc", "not a number" },
                { "nan", "not a number" },
                { "NaN", "not a number" },
                { "inf", "not a number" },
                { "infinity", "not a number" },
                { "0x10", "not a number" },
                { "10,5", "not a number" },
                { "10s", "not a number" },
                { "1.2.3", "not a number" },
                { ".", "not a number" },
                { "-", "not a number" },
                { "e5", "not a number" },
                { "", "not a number" },
                { "-5", "must be at least 0.001 s" },
                { "0", "must be at least 0.001 s" },
                { "-0", "must be at least 0.001 s" },
                /* Used to pass, and fail later without naming the key. */
                { "1e-10", "must be at least 0.001 s" },
                { "1e400", "too large (at most 315360000 seconds)" },
                { "400000000", "too large (at most 315360000 seconds)" },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autofree char *t = g_strdup_printf(BASE "[Grouping]\nFullWindowSec=%s\n", bad[i].value);
                g_autofree char *m =
                        g_strdup_printf(NAME ":6: [Grouping] FullWindowSec=%s: %s", bad[i].value, bad[i].problem);
                assert_error(t, m);
        }

        /* The example of config.h, to the letter. */
        assert_error(BASE "[Grouping]\nTimeoutSec=abc\n", NAME ":6: [Grouping] TimeoutSec=abc: not a number");
        assert_error(BASE "[Grouping]\nLateGraceSec=-1\n", NAME ":6: [Grouping] LateGraceSec=-1: must not be negative");
        assert_error(BASE "[Grouping]\nOrphanKeepSec=0\n", NAME ":6: [Grouping] OrphanKeepSec=0: must be at least 1 s");
        assert_error(BASE "[Watch]\nRescanIntervalSec=-0.5\n",
                     NAME ":6: [Watch] RescanIntervalSec=-0.5: must be 0 (off) or at least 1 s");
        /* A floor on every duration: this one made the daemon walk the tree without pause. */
        assert_error(BASE "[Watch]\nRescanIntervalSec=0.000001\n",
                     NAME ":6: [Watch] RescanIntervalSec=0.000001: must be 0 (off) or at least 1 s");
        assert_error(BASE "[Grouping]\nTimeoutSec=0.001\n",
                     NAME ":6: [Grouping] TimeoutSec=0.001: must be at least 0.01 s");
        assert_error(BASE "[Trigger]\nCaptureTimeoutSec=0\n",
                     NAME ":6: [Trigger] CaptureTimeoutSec=0: must be at least 0.1 s");

        /* A runaway value is cut in the message. */
        g_autofree char *huge = g_strnfill(5000, '9');
        g_autofree char *t = g_strdup_printf(BASE "[Grouping]\nTimeoutSec=%sx\n", huge);
        g_autofree char *cut = g_strnfill(60, '9');
        g_autofree char *m = g_strdup_printf(NAME ":6: [Grouping] TimeoutSec=%s…: not a number", cut);
        assert_error(t, m);
}

/* Rule 14 and rule 4: LearnClockOffsets=, MinShotIntervalSec= (W/2 by
 * default, following the window), ClockOffsetSec= (signed), and the
 * reference camera. */
static void test_clock_keys(void) {
        _cleanup_config_ Config *c = load_ok(BASE "[Grouping]\nFullWindowSec=35\nLearnClockOffsets=no\n"
                                                  "[Camera Lanex1]\n"
                                                  "[Camera Lanex5]\nTrigger=true\nClockOffsetSec=-0.5\n"
                                                  "[Camera Csi]\nTrigger=true\n"
                                                  "[Camera FROG]\nClockOffsetSec=29\n");
        g_assert_false(c->learn_clock_offsets);
        g_assert_cmpfloat(c->min_shot_interval_sec, ==, 17.5);
        g_assert_cmpstr(config_reference_camera(c), ==, "Lanex5");
        g_assert_false(config_camera(c, "Lanex1")->clock_offset_set);
        g_assert_true(config_camera(c, "Lanex5")->clock_offset_set);
        g_assert_cmpfloat(config_camera(c, "Lanex5")->clock_offset_sec, ==, -0.5);
        g_assert_cmpfloat(config_camera(c, "FROG")->clock_offset_sec, ==, 29);

        _cleanup_config_ Config *d = load_ok(BASE "[Grouping]\nMinShotIntervalSec=0\n");
        g_assert_cmpfloat(d->min_shot_interval_sec, ==, 0);
        _cleanup_config_ Config *e = load_ok(BASE "[Grouping]\nMinShotIntervalSec=3\nFullWindowSec=35\n");
        g_assert_cmpfloat(e->min_shot_interval_sec, ==, 3);
        /* Without groups, the first of TriggerCameras=. */
        _cleanup_config_ Config *f = load_ok(BASE "[Watch]\nTriggerCameras=Lyso;Csi\n");
        g_assert_cmpstr(config_reference_camera(f), ==, "Lyso");

        assert_error(BASE "[Grouping]\nMinShotIntervalSec=-1\n",
                     NAME ":6: [Grouping] MinShotIntervalSec=-1: must not be negative");
        assert_error(BASE "[Grouping]\nMinShotIntervalSec=soon\n",
                     NAME ":6: [Grouping] MinShotIntervalSec=soon: not a number");
        assert_error(BASE "[Grouping]\nLearnClockOffsets=sometimes\n",
                     NAME ":6: [Grouping] LearnClockOffsets=sometimes: not a boolean (use true or false)");
        assert_error(BASE "[Camera A]\nClockOffsetSec=9s\n", NAME ":6: [Camera A] ClockOffsetSec=9s: not a number");
        assert_error(BASE "[Camera A]\nClockOffsetSec=-90000\n",
                     NAME ":6: [Camera A] ClockOffsetSec=-90000: too large (at most 86400 seconds either way)");
        assert_error(BASE "[Watch]\nClockOffsetSec=1\n", NAME ":6: [Watch] ClockOffsetSec: unknown key");
}

static void test_timeout_vs_window(void) {
        _cleanup_config_ Config *c = load_ok(BASE "[Grouping]\nFullWindowSec=30\nTimeoutSec=15.001\n");
        g_assert_cmpfloat(c->timeout_sec, ==, 15.001);

        assert_error(BASE "[Grouping]\nFullWindowSec=30\nTimeoutSec=15\n",
                     NAME ":7: [Grouping] TimeoutSec=15: must exceed FullWindowSec/2 (15)");
        assert_error(BASE "[Grouping]\nFullWindowSec=200\n",
                     NAME ":6: [Grouping] FullWindowSec=200: TimeoutSec (60) must exceed FullWindowSec/2 (100)");
}

static void test_paths(void) {
        assert_error("[Watch]\nRawRoot=srv/raw\n[Output]\nCleanRoot=/srv/clean\n",
                     NAME ":2: [Watch] RawRoot=srv/raw: must be an absolute path");
        assert_error("[Watch]\nRawRoot=~/raw\n[Output]\nCleanRoot=/srv/clean\n",
                     NAME ":2: [Watch] RawRoot=~/raw: must be an absolute path");
        assert_error("[Watch]\nRawRoot=/srv/raw\n[Output]\nCleanRoot=/srv/raw/../clean\n",
                     NAME ":4: [Output] CleanRoot=/srv/raw/../clean: the path must not contain '..'");
        assert_error("[Watch]\nRawRoot=/srv/raw\n[Output]\nCleanRoot=//srv//raw/\n",
                     NAME ":4: [Output] CleanRoot=//srv//raw/: must differ from RawRoot (/srv/raw)");
        assert_error("[Watch]\nRawRoot=/srv/raw\n[Output]\nCleanRoot=/srv/raw/clean\n",
                     NAME ":4: [Output] CleanRoot=/srv/raw/clean: must not be inside RawRoot (/srv/raw)");
        assert_error("[Watch]\nRawRoot=/srv/raw\n[Output]\nCleanRoot=/srv\n",
                     NAME ":4: [Output] CleanRoot=/srv: must not contain RawRoot (/srv/raw)");
        assert_error("[Watch]\nRawRoot=/\n[Output]\nCleanRoot=/srv\n",
                     NAME ":4: [Output] CleanRoot=/srv: must not be inside RawRoot (/)");
        assert_error(BASE "[Trigger]\nDownloadRoot=/srv/clean/dl\n",
                     NAME ":6: [Trigger] DownloadRoot=/srv/clean/dl: must not be CleanRoot or inside it (/srv/clean)");
        assert_error(BASE "[Trigger]\nDownloadRoot=relative\n",
                     NAME ":6: [Trigger] DownloadRoot=relative: must be an absolute path");

        /* Siblings sharing a prefix are not nested. */
        _cleanup_config_ Config *c = load_ok("[Watch]\nRawRoot=/srv/raw\n[Output]\nCleanRoot=/srv/raw2\n");
        g_assert_cmpstr(c->clean_root, ==, "/srv/raw2");
        _cleanup_config_ Config *d = load_ok(BASE "[Trigger]\nDownloadRoot=/srv/raw/usb\n");
        g_assert_cmpstr(d->download_root, ==, "/srv/raw/usb");
}

/* SPEC §5: no key is required; the roots have defaults, and a message
 * about them names the key that was written, not the default. */
static void test_default_roots(void) {
        static const char *const nothing[] = { "", "# only a comment\n", "[Watch]\n[Output]\n" };
        for (size_t i = 0; i < G_N_ELEMENTS(nothing); i++) {
                _cleanup_config_ Config *c = load_ok(nothing[i]);
                g_assert_cmpstr(c->raw_root, ==, "/srv/shotsync/raw");
                g_assert_cmpstr(c->clean_root, ==, "/srv/shotsync/clean");
                g_assert_cmpstr(c->download_root, ==, "/srv/shotsync/raw");
                g_assert_cmpuint(c->n_cameras, ==, 0);
        }
        _cleanup_config_ Config *r = load_ok("[Watch]\nRawRoot=/data/raw\n");
        g_assert_cmpstr(r->clean_root, ==, "/srv/shotsync/clean");
        _cleanup_config_ Config *c = load_ok("[Output]\nCleanRoot=/data/clean\n");
        g_assert_cmpstr(c->raw_root, ==, "/srv/shotsync/raw");

        /* Written empty is not unset. */
        assert_error("[Watch]\nRawRoot=\n[Output]\nCleanRoot=/srv/clean\n",
                     NAME ":2: [Watch] RawRoot=: a path is required");
        assert_error("[Output]\nCleanRoot=\n", NAME ":2: [Output] CleanRoot=: a path is required");

        /* One root written, the other the default: the written one is blamed. */
        assert_error("[Watch]\nRawRoot=/srv/shotsync/clean\n",
                     NAME ":2: [Watch] RawRoot=/srv/shotsync/clean: must differ from CleanRoot (default "
                          "/srv/shotsync/clean)");
        assert_error("[Watch]\nRawRoot=/srv/shotsync\n",
                     NAME ":2: [Watch] RawRoot=/srv/shotsync: must not contain CleanRoot (default "
                          "/srv/shotsync/clean)");
        assert_error("[Watch]\nRawRoot=/srv/shotsync/clean/raw\n",
                     NAME ":2: [Watch] RawRoot=/srv/shotsync/clean/raw: must not be inside CleanRoot (default "
                          "/srv/shotsync/clean)");
        assert_error("[Output]\nCleanRoot=/srv/shotsync/raw/clean\n",
                     NAME ":2: [Output] CleanRoot=/srv/shotsync/raw/clean: must not be inside RawRoot "
                          "(/srv/shotsync/raw)");
        assert_error("[Output]\nCleanRoot=/srv\n",
                     NAME ":2: [Output] CleanRoot=/srv: must not contain RawRoot (/srv/shotsync/raw)");
}

static void test_groups_and_keys(void) {
        assert_error(BASE "[Foo]\n", NAME ":5: [Foo]: unknown group");
        assert_error(BASE "[watch]\nRawRoot=/x\n", NAME ":5: [watch]: unknown group");
        assert_error(BASE "[ Watch ]\n", NAME ":5: [ Watch ]: unknown group");
        assert_error(BASE "[Cameras FROG]\n", NAME ":5: [Cameras FROG]: unknown group");
        assert_error(BASE "[Watch]\nRawroot=/x\n", NAME ":6: [Watch] Rawroot: unknown key");
        assert_error(BASE "[Grouping]\nWindow=10\n", NAME ":6: [Grouping] Window: unknown key");
        assert_error(BASE "[Output]\nRawRoot=/x\n", NAME ":6: [Output] RawRoot: unknown key");
        assert_error(BASE "[Watch]\nTriggerKeyword[fr]=tir\n", NAME ":6: [Watch] TriggerKeyword[fr]: unknown key");
        assert_error(BASE "[Camera FROG]\nMode=copy\n", NAME ":6: [Camera FROG] Mode: unknown key");
        assert_error(BASE "[Camera FROG]\nFiles[de]=*.png\n", NAME ":6: [Camera FROG] Files[de]: unknown key");

        /* The same key twice in one file: which one was meant? */
        assert_error(BASE "[Grouping]\nTimeoutSec=20\nTimeoutSec=30\n",
                     NAME ":7: [Grouping] TimeoutSec= is set twice in this file (first on line 6)");
        assert_error(BASE "[Watch]\nRawRoot=/srv/other\n",
                     NAME ":6: [Watch] RawRoot= is set twice in this file (first on line 2)");
        assert_error(BASE "[Camera A]\nFiles=*.png\n[Camera B]\n[Camera A]\nFiles=*.jpg\n",
                     NAME ":9: [Camera A] Files= is set twice in this file (first on line 6)");

        /* A group repeated without repeating keys merges. */
        _cleanup_config_ Config *c = load_ok(BASE "[Camera A]\nFiles=*.png\n[Camera B]\n[Camera A]\nExpected=false\n");
        g_assert_cmpuint(c->n_cameras, ==, 2);
        g_assert_cmpstr(c->cameras[0].name, ==, "A");
        g_assert_false(c->cameras[0].expected);
        assert_patterns(&c->cameras[0].kinds[0], (const char *const[]) { "*.png", NULL });
}

static void test_camera_names(void) {
        assert_error(BASE "[Camera]\n", NAME ":5: [Camera]: the camera name is empty");
        assert_error(BASE "[Camera ]\n", NAME ":5: [Camera ]: the camera name is empty");
        assert_error(BASE "[Camera .]\n", NAME ":5: [Camera .]: the camera name must be a folder name, not '.' or '..'");
        assert_error(BASE "[Camera ..]\n",
                     NAME ":5: [Camera ..]: the camera name must be a folder name, not '.' or '..'");
        assert_error(BASE "[Camera a/b]\n",
                     NAME ":5: [Camera a/b]: the camera name must be a single folder name, without '/'");
        assert_error(BASE "[Camera .hidden]\n",
                     NAME ":5: [Camera .hidden]: the camera name is a hidden or temporary name (leading '.' or '~', "
                          "or a temporary suffix), which shotsync never watches");
        assert_error(BASE "[Camera ~Lanex]\n",
                     NAME ":5: [Camera ~Lanex]: the camera name is a hidden or temporary name (leading '.' or '~', "
                          "or a temporary suffix), which shotsync never watches");
        assert_error(BASE "[Camera Lanex.part]\n",
                     NAME ":5: [Camera Lanex.part]: the camera name is a hidden or temporary name (leading '.' or "
                          "'~', or a temporary suffix), which shotsync never watches");
        assert_error(BASE "[Camera  Lanex]\n", NAME ":5: [Camera  Lanex]: the camera name starts or ends with a space");
        assert_error(BASE "[Camera \xff]\n", NAME ":5: [Camera \\xff]: the camera name is not valid UTF-8");
}

static void test_trigger_cameras(void) {
        assert_error(BASE "[Watch]\nTriggerCameras=Lanex2;Csi\n[Camera Lanex2]\n",
                     NAME ":6: [Watch] TriggerCameras=Lanex2;Csi: names Csi, which has no [Camera Csi] group");
        assert_error(BASE "[Watch]\nTriggerCameras=Lanex2;Lanex2\n",
                     NAME ":6: [Watch] TriggerCameras=Lanex2;Lanex2: names Lanex2 twice");
        assert_error(BASE "[Watch]\nTriggerCameras=Lanex2;;Csi\n",
                     NAME ":6: [Watch] TriggerCameras=Lanex2;;Csi: empty entry (two ';' in a row, or a ';' at the end)");
        assert_error(BASE "[Watch]\nTriggerCameras=.x\n",
                     NAME ":6: [Watch] TriggerCameras=.x: .x: the camera name is a hidden or temporary name "
                          "(leading '.' or '~', or a temporary suffix), which shotsync never watches");
        assert_error(BASE "[Watch]\nTriggerCameras=Lanex2\n[Camera Lanex2]\nTrigger=false\n",
                     NAME ":8: [Camera Lanex2] Trigger=false: contradicts [Watch] TriggerCameras=, which names Lanex2");

        _cleanup_config_ Config *c = load_ok(BASE "[Watch]\nTriggerCameras=Lanex2\n[Camera Lanex2]\nTrigger=true\n");
        g_assert_true(c->cameras[0].trigger);
}

static void test_lists_and_kinds(void) {
        assert_error(BASE "[Watch]\nFiles=*.tiff;;*.fer\n",
                     NAME ":6: [Watch] Files=*.tiff;;*.fer: kind 2 is empty (two ';' in a row, or a ';' at the end)");
        assert_error(BASE "[Watch]\nFiles=*.tiff;\n",
                     NAME ":6: [Watch] Files=*.tiff;: kind 2 is empty (two ';' in a row, or a ';' at the end)");
        assert_error(BASE "[Watch]\nFiles=*.tif||*.tiff\n",
                     NAME ":6: [Watch] Files=*.tif||*.tiff: kind 1 has an empty alternative");
        assert_error(BASE "[Camera FROG]\nFiles=*.tiff;*.fer| \n",
                     NAME ":6: [Camera FROG] Files=*.tiff;*.fer|: kind 2 has an empty alternative");
        assert_error(BASE "[Watch]\nFiles=\n", NAME ":6: [Watch] Files=: at least one file kind is required");
        assert_error(BASE "[Watch]\nFiles=*.tiff;*.TIFF\n", NAME ":6: [Watch] Files=*.tiff;*.TIFF: pattern *.TIFF appears twice");
        assert_error(BASE "[Watch]\nFiles=*.tif|*.tiff;*.tiff\n",
                     NAME ":6: [Watch] Files=*.tif|*.tiff;*.tiff: pattern *.tiff appears twice");
        assert_error(BASE "[Watch]\nFiles=20251211/*.tiff\n",
                     NAME ":6: [Watch] Files=20251211/*.tiff: pattern 20251211/*.tiff contains '/', but patterns "
                          "match file names");
        assert_error(BASE "[Watch]\nIgnoreKeywords=test;;align\n",
                     NAME ":6: [Watch] IgnoreKeywords=test;;align: empty entry (two ';' in a row, or a ';' at the end)");
        assert_error(BASE "[Watch]\nIgnoreKeywords=test;\n",
                     NAME ":6: [Watch] IgnoreKeywords=test;: empty entry (two ';' in a row, or a ';' at the end)");
        assert_error(BASE "[Output]\nMode=move\n", NAME ":6: [Output] Mode=move: must be copy, hardlink or reflink");
        assert_error(BASE "[Output]\nMode=Copy\n", NAME ":6: [Output] Mode=Copy: must be copy, hardlink or reflink");
        assert_error(BASE "[Trigger]\nPorts=auto;usb:001,004\n",
                     NAME ":6: [Trigger] Ports=auto;usb:001,004: \"auto\" must stand alone");
        assert_error(BASE "[Trigger]\nPorts=usb:001,004;auto\n",
                     NAME ":6: [Trigger] Ports=usb:001,004;auto: \"auto\" must stand alone");
        assert_error(BASE "[Trigger]\nPorts=usb:1;usb:1\n", NAME ":6: [Trigger] Ports=usb:1;usb:1: names port usb:1 twice");

        _cleanup_config_ Config *c = load_ok(BASE "[Trigger]\nPorts=auto\n[Output]\nMode=hardlink\n");
        g_assert_true(c->ports_auto);
        g_assert_cmpstrv(c->ports, ((const char *const[]) { NULL }));
        g_assert_cmpint(c->mode, ==, PUBLISH_HARDLINK);

        _cleanup_config_ Config *d = load_ok(BASE "[Watch]\nIgnoreKeywords= Test ; ALIGN;dark frame\nFiles=*\n");
        g_assert_cmpstrv(d->ignore_keywords, ((const char *const[]) { "Test", "ALIGN", "dark frame", NULL }));
        g_assert_cmpuint(d->n_kinds, ==, 1);
        assert_patterns(&d->kinds[0], (const char *const[]) { "*", NULL });
}

static void test_syntax(void) {
        g_autofree char *error = NULL;
        Config *c = NULL;

        assert_error("RawRoot=/srv/raw\n", NAME ": Key file does not start with a group");

        const char *bad = BASE "[Watch\n";
        g_assert_cmpint(config_load_from_data(NAME, bad, strlen(bad), &c, &error), <, 0);
        g_assert_true(g_str_has_prefix(error, NAME ": "));
        g_assert_nonnull(strstr(error, "[Watch"));
        g_clear_pointer(&error, g_free);

        bad = BASE "just words\n";
        g_assert_cmpint(config_load_from_data(NAME, bad, strlen(bad), &c, &error), <, 0);
        g_assert_true(g_str_has_prefix(error, NAME ": "));
        g_assert_nonnull(strstr(error, "just words"));
        g_clear_pointer(&error, g_free);

        /* GKeyFile's own complaint about a value, with our place in front. */
        bad = BASE "[Watch]\nTriggerKeyword=a\\\n";
        g_assert_cmpint(config_load_from_data(NAME, bad, strlen(bad), &c, &error), <, 0);
        g_assert_true(g_str_has_prefix(error, NAME ":6: [Watch] TriggerKeyword: "));
        g_clear_pointer(&error, g_free);

        assert_error(BASE "[Watch]\nTriggerKeyword=\xff\xfe\n",
                     NAME ":6: [Watch] TriggerKeyword: the value is not valid UTF-8");
        assert_error(BASE "[Watch]\nRawRoot\xff=/x\n", NAME ":6: [Watch] RawRoot\\xff: unknown key");
        static const char nul[] = BASE "[Watch]\nTrigger\0Keyword=x\n";
        assert_error_len(nul, sizeof nul - 1, NAME ":6: the file contains a NUL byte");

        /* Whatever bytes a file name holds, the message is UTF-8. */
        bad = "[Watch]\nRawRoot=raw\n";
        g_assert_cmpint(config_load_from_data("/etc/caf\xe9.conf", bad, strlen(bad), &c, &error), <, 0);
        g_assert_cmpstr(error, ==, "/etc/caf\\xe9.conf:2: [Watch] RawRoot=raw: must be an absolute path");
        g_clear_pointer(&error, g_free);

        /* Windows line ends and escapes are GKeyFile's, not our problem. */
        _cleanup_config_ Config *d = load_ok("[Watch]\r\nRawRoot=/srv/raw\r\nTriggerKeyword=tir\\tA\r\n"
                                             "[Output]\r\nCleanRoot=/srv/clean\r\n");
        g_assert_cmpstr(d->trigger_keyword, ==, "tir\tA");
        g_assert_cmpstr(d->raw_root, ==, "/srv/raw");
}

static void test_garbage(void) {
        g_autoptr(GRand) rand = g_rand_new_with_seed(20251211);

        for (int i = 0; i < 500; i++) {
                size_t len = (size_t) g_rand_int_range(rand, 0, 2048);
                g_autofree char *data = g_malloc(len + 1);
                for (size_t j = 0; j < len; j++)
                        data[j] = (char) g_rand_int_range(rand, 0, 256);
                data[len] = 0;

                g_autofree char *error = NULL;
                Config *c = NULL;
                int r = config_load_from_data(NAME, data, len, &c, &error);
                if (r < 0) {
                        g_assert_null(c);
                        g_assert_nonnull(error);
                        g_assert_true(g_utf8_validate(error, -1, NULL));
                        g_assert_cmpuint(strlen(error), <, 1024);
                } else
                        config_free(c);
        }

        /* A valid file with bytes flipped: most variants get far into the
         * checks before failing. */
        const char *valid = "[Watch]\nRawRoot=/srv/raw\nFiles=*.tiff;*.fer\nTriggerCameras=A\n[Grouping]\n"
                            "FullWindowSec=30\nTimeoutSec=65\n[Output]\nCleanRoot=/srv/clean\n[Camera A]\n"
                            "Trigger=yes\n[Trigger]\nPorts=auto\n";
        size_t vlen = strlen(valid);
        for (int i = 0; i < 2000; i++) {
                g_autofree char *data = g_strdup(valid);
                for (int k = g_rand_int_range(rand, 1, 4); k > 0; k--)
                        data[g_rand_int_range(rand, 0, (gint32) vlen)] = (char) g_rand_int_range(rand, 0, 256);

                g_autofree char *error = NULL;
                Config *c = NULL;
                int r = config_load_from_data(NAME, data, vlen, &c, &error);
                if (r < 0)
                        g_assert_true(error && g_utf8_validate(error, -1, NULL));
                else {
                        (void) config_camera(c, "A");
                        config_free(c);
                }
        }

        /* One huge line: refused with a short message. */
        size_t big = 4 * 1024 * 1024;
        g_autofree char *huge = g_malloc(big + 1);
        memset(huge, 'x', big);
        memcpy(huge, "[Watch]\n", 8);
        huge[big] = 0;
        g_autofree char *error = NULL;
        Config *c = NULL;
        g_assert_cmpint(config_load_from_data(NAME, huge, big, &c, &error), <, 0);
        g_assert_cmpuint(strlen(error), <, 1024);
        g_clear_pointer(&error, g_free);

        /* A huge but valid value is fine. */
        g_autofree char *path = g_strnfill(100000, 'p');
        path[0] = '/';
        g_autofree char *t = g_strdup_printf("[Watch]\nRawRoot=%s\n[Output]\nCleanRoot=/srv/clean\n", path);
        _cleanup_config_ Config *d = load_ok(t);
        g_assert_cmpuint(strlen(d->raw_root), ==, 100000);

        /* NUL bytes only. */
        char zeros[64] = { 0 };
        assert_error_len(zeros, sizeof zeros, NAME ":1: the file contains a NUL byte");
        g_assert_cmpint(config_load_from_data(NULL, NULL, 0, &c, &error), ==, 0);
        g_assert_null(error);
        g_assert_cmpstr(c->path, ==, "(data)");
        g_assert_cmpstr(c->raw_root, ==, "/srv/shotsync/raw");
        config_free(c);
}

/* ---- files and drop-ins ---- */

static void write_file(const char *dir, const char *name, const char *text) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        g_autoptr(GError) error = NULL;
        g_assert_true(g_file_set_contents(p, text, -1, &error));
}

static void rm_rf(const char *path) {
        GStatBuf st;
        if (g_lstat(path, &st) < 0)
                return;
        if (S_ISDIR(st.st_mode)) {
                g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
                const char *n;
                while (d && (n = g_dir_read_name(d))) {
                        g_autofree char *p = g_build_filename(path, n, NULL);
                        rm_rf(p);
                }
                g_assert_cmpint(g_rmdir(path), ==, 0);
        } else
                g_assert_cmpint(g_unlink(path), ==, 0);
}

typedef struct Tmp {
        char *dir;
        char *main;
        char *dropins;
} Tmp;

static void tmp_setup(Tmp *t, const void *data) {
        g_autoptr(GError) error = NULL;
        t->dir = g_dir_make_tmp("shotsync-config-XXXXXX", &error);
        g_assert_no_error(error);
        t->main = g_build_filename(t->dir, "shotsync.conf", NULL);
        t->dropins = g_build_filename(t->dir, "shotsync.conf.d", NULL);
}

static void tmp_teardown(Tmp *t, const void *data) {
        rm_rf(t->dir);
        g_free(t->dir);
        g_free(t->main);
        g_free(t->dropins);
}

static void test_dropins(Tmp *t, const void *data) {
        g_autofree char *error = NULL;
        _cleanup_config_ Config *c = NULL;

        write_file(t->dir, "shotsync.conf",
                   "[Watch]\nRawRoot=/srv/raw\nTriggerKeyword=shot\n[Grouping]\nFullWindowSec=10\n"
                   "[Output]\nCleanRoot=/srv/clean\n[Camera FROG]\nFiles=*.tiff;*.fer\n");
        g_assert_cmpint(g_mkdir(t->dropins, 0755), ==, 0);
        /* strcmp order: "10-…" before "2-…". */
        write_file(t->dropins, "2-late.conf", "[Grouping]\nFullWindowSec=35\n");
        write_file(t->dropins, "10-window.conf",
                   "[Grouping]\nFullWindowSec=30\nTimeoutSec=65\n[Camera FROG]\nExpected=false\n"
                   "[Camera Lanex2]\nTrigger=true\n");
        /* Not drop-ins: hidden, other suffixes, folders, dangling links. */
        write_file(t->dropins, ".hidden.conf", "garbage");
        write_file(t->dropins, "notes.txt", "garbage");
        write_file(t->dropins, "2-late.conf~", "garbage");
        g_autofree char *sub = g_build_filename(t->dropins, "sub.conf", NULL);
        g_assert_cmpint(g_mkdir(sub, 0755), ==, 0);
        g_autofree char *link = g_build_filename(t->dropins, "dangling.conf", NULL);
        g_assert_cmpint(symlink("/nonexistent/shotsync", link), ==, 0);

        g_assert_cmpint(config_load(t->main, &c, &error), ==, 0);
        g_assert_null(error);
        g_assert_cmpstr(c->path, ==, t->main);
        g_autofree char *d1 = g_build_filename(t->dropins, "10-window.conf", NULL);
        g_autofree char *d2 = g_build_filename(t->dropins, "2-late.conf", NULL);
        g_assert_cmpstrv(c->dropins, ((const char *const[]) { d1, d2, NULL }));
        g_assert_cmpfloat(c->full_window_sec, ==, 35);
        g_assert_cmpfloat(c->timeout_sec, ==, 65);
        g_assert_cmpstr(c->trigger_keyword, ==, "shot");
        g_assert_cmpuint(c->n_cameras, ==, 2);
        g_assert_cmpstr(c->cameras[0].name, ==, "FROG");
        g_assert_cmpuint(c->cameras[0].n_kinds, ==, 2);
        g_assert_false(c->cameras[0].expected);
        g_assert_cmpstr(c->cameras[1].name, ==, "Lanex2");
        g_assert_true(c->cameras[1].trigger);
        g_clear_pointer(&c, config_free);

        /* A problem in a drop-in names the drop-in and its line. */
        write_file(t->dropins, "3-bad.conf", "[Grouping]\n\nLateGraceSec=soon\n");
        g_assert_cmpint(config_load(t->main, &c, &error), ==, -EINVAL);
        g_autofree char *expected = g_strdup_printf("%s/3-bad.conf:3: [Grouping] LateGraceSec=soon: not a number",
                                                    t->dropins);
        g_assert_cmpstr(error, ==, expected);
        g_clear_pointer(&error, g_free);

        /* A key set in two files is an override, not a duplicate; a
         * relation broken by a later file points at the key it checks. */
        write_file(t->dropins, "3-bad.conf", "[Grouping]\nFullWindowSec=200\n");
        g_assert_cmpint(config_load(t->main, &c, &error), ==, -EINVAL);
        g_free(expected);
        expected = g_strdup_printf("%s/10-window.conf:3: [Grouping] TimeoutSec=65: must exceed FullWindowSec/2 (100)",
                                   t->dropins);
        g_assert_cmpstr(error, ==, expected);
        g_clear_pointer(&error, g_free);

        /* A folder behind a link is skipped like a folder. */
        g_autofree char *bad = g_build_filename(t->dropins, "3-bad.conf", NULL);
        g_assert_cmpint(g_unlink(bad), ==, 0);
        g_assert_cmpint(symlink(t->dropins, bad), ==, 0);
        g_assert_cmpint(config_load(t->main, &c, &error), ==, 0);
        g_clear_pointer(&c, config_free);

        /* An unreadable drop-in is an error naming it (a link loop: the
         * tests may run as root, to whom every mode is readable). */
        g_assert_cmpint(g_unlink(bad), ==, 0);
        g_assert_cmpint(symlink("3-bad.conf", bad), ==, 0);
        g_assert_cmpint(config_load(t->main, &c, &error), ==, -ELOOP);
        g_free(expected);
        expected = g_strdup_printf("%s: cannot read: %s", bad, g_strerror(ELOOP));
        g_assert_cmpstr(error, ==, expected);
}

static void test_missing(Tmp *t, const void *data) {
        g_autofree char *error = NULL;
        _cleanup_config_ Config *c = NULL;
        g_autofree char *expected = NULL;

        /* Nothing at all: the file is what is missing. */
        g_assert_cmpint(config_load(t->main, &c, &error), ==, -ENOENT);
        expected = g_strdup_printf("%s: cannot read: No such file or directory", t->main);
        g_assert_cmpstr(error, ==, expected);
        g_clear_pointer(&error, g_free);

        /* No main file, but drop-ins: fine, on the defaults for the rest. */
        g_assert_cmpint(g_mkdir(t->dropins, 0755), ==, 0);
        write_file(t->dropins, "a.conf", "[Watch]\nRawRoot=/srv/raw\n");
        g_assert_cmpint(config_load(t->main, &c, &error), ==, 0);
        g_assert_cmpstr(c->path, ==, t->main);
        g_assert_cmpuint(g_strv_length(c->dropins), ==, 1);
        g_assert_cmpstr(c->raw_root, ==, "/srv/raw");
        g_assert_cmpstr(c->clean_root, ==, "/srv/shotsync/clean");
        g_clear_pointer(&c, config_free);

        /* An empty drop-in folder is nothing to read. */
        g_autofree char *a = g_build_filename(t->dropins, "a.conf", NULL);
        g_assert_cmpint(g_unlink(a), ==, 0);
        g_assert_cmpint(config_load(t->main, &c, &error), ==, -ENOENT);
        g_clear_pointer(&error, g_free);
        g_assert_cmpint(g_rmdir(t->dropins), ==, 0);

        /* A main file that cannot be read. */
        g_assert_cmpint(g_mkdir(t->main, 0755), ==, 0);
        g_assert_cmpint(config_load(t->main, &c, &error), ==, -EISDIR);
        g_free(expected);
        expected = g_strdup_printf("%s: cannot read: Is a directory", t->main);
        g_assert_cmpstr(error, ==, expected);
        g_clear_pointer(&error, g_free);
        g_assert_cmpint(g_rmdir(t->main), ==, 0);

        /* A drop-in folder that is not one. */
        rm_rf(t->dropins);
        write_file(t->dir, "shotsync.conf", BASE);
        write_file(t->dir, "shotsync.conf.d", "");
        g_assert_cmpint(config_load(t->main, &c, &error), ==, -ENOTDIR);
        g_free(expected);
        expected = g_strdup_printf("%s: cannot read the drop-in folder: Not a directory", t->dropins);
        g_assert_cmpstr(error, ==, expected);
        g_clear_pointer(&error, g_free);
        g_assert_cmpint(g_unlink(t->dropins), ==, 0);

        /* No drop-in folder: fine. */
        g_assert_cmpint(config_load(t->main, &c, &error), ==, 0);
        g_assert_cmpstrv(c->dropins, ((const char *const[]) { NULL }));
        g_clear_pointer(&c, config_free);

        /* Something too big to be a configuration. */
        FILE *f = fopen(t->main, "w");
        g_assert_nonnull(f);
        g_autofree char *block = g_strnfill(1 << 20, '#');
        for (int i = 0; i < 5; i++)
                g_assert_cmpuint(fwrite(block, 1, 1 << 20, f), ==, 1 << 20);
        g_assert_cmpint(fclose(f), ==, 0);
        g_assert_cmpint(config_load(t->main, &c, &error), ==, -EFBIG);
        g_free(expected);
        expected = g_strdup_printf("%s: cannot read: %s", t->main, g_strerror(EFBIG));
        g_assert_cmpstr(error, ==, expected);
}

/* Without --config (SPEC §5): the main file may be missing, and drop-ins
 * come from three folders merged by name as systemd merges them: /etc over
 * /run over /usr/lib, a symlink to /dev/null masking, the names read in
 * lexical order whatever their folder. The folders are given here; the
 * daemon's are the same three under /etc, /run and /usr/lib. */
typedef struct Search {
        Tmp tmp;
        char *etc, *run, *lib;
        const char *dirs[4];
} Search;

static void search_setup(Search *s, const void *data) {
        tmp_setup(&s->tmp, data);
        s->etc = g_build_filename(s->tmp.dir, "etc.d", NULL);
        s->run = g_build_filename(s->tmp.dir, "run.d", NULL);
        s->lib = g_build_filename(s->tmp.dir, "lib.d", NULL);
        s->dirs[0] = s->etc;
        s->dirs[1] = s->run;
        s->dirs[2] = s->lib;
        s->dirs[3] = NULL;
}

static void search_teardown(Search *s, const void *data) {
        tmp_teardown(&s->tmp, data);
        g_free(s->etc);
        g_free(s->run);
        g_free(s->lib);
}

static Config *search_load(Search *s) {
        g_autofree char *error = NULL;
        Config *c = NULL;
        int r = config_load_files(s->tmp.main, true, s->dirs, &c, &error);
        if (r < 0)
                g_test_message("unexpected error: %s", error);
        g_assert_cmpint(r, ==, 0);
        g_assert_nonnull(c);
        return c;
}

static void test_search_nothing(Search *s, const void *data) {
        /* No file and no folder at all: the defaults, as a fresh install runs. */
        _cleanup_config_ Config *c = search_load(s);
        g_assert_cmpstr(c->path, ==, s->tmp.main);
        g_assert_cmpstrv(c->dropins, ((const char *const[]) { NULL }));
        g_assert_cmpstr(c->raw_root, ==, "/srv/shotsync/raw");
        g_assert_cmpstr(c->clean_root, ==, "/srv/shotsync/clean");
        g_assert_cmpfloat(c->full_window_sec, ==, 10);
        g_assert_cmpuint(c->n_cameras, ==, 0);

        /* Empty folders change nothing. */
        for (int i = 0; i < 3; i++)
                g_assert_cmpint(g_mkdir(s->dirs[i], 0755), ==, 0);
        _cleanup_config_ Config *d = search_load(s);
        g_assert_cmpstrv(d->dropins, ((const char *const[]) { NULL }));
        g_assert_cmpstr(d->raw_root, ==, "/srv/shotsync/raw");
}

static void test_search_merge(Search *s, const void *data) {
        for (int i = 0; i < 3; i++)
                g_assert_cmpint(g_mkdir(s->dirs[i], 0755), ==, 0);

        write_file(s->tmp.dir, "shotsync.conf", "[Grouping]\nFullWindowSec=12\nOrphanKeepSec=100\n");
        /* The vendor's files. */
        write_file(s->lib, "10-vendor.conf", "[Grouping]\nFullWindowSec=20\n[Watch]\nTriggerKeyword=tir\n");
        write_file(s->lib, "50-lab.conf", "[Grouping]\nTimeoutSec=70\nLateGraceSec=5\n");
        write_file(s->lib, "60-camera.conf", "[Camera Lanex]\nTrigger=true\n");
        write_file(s->lib, "70-unmasked.conf", "[Grouping]\nFullWindowSec=40\n");
        /* A runtime file replaces the vendor's of the same name, as a whole:
         * LateGraceSec=5 of the vendor's 50-lab.conf is gone with it. */
        write_file(s->run, "50-lab.conf", "[Grouping]\nTimeoutSec=80\n");
        /* The admin's: a new name sorting between the others, a mask, and
         * a file that takes back a name. */
        write_file(s->etc, "20-site.conf", "[Grouping]\nFullWindowSec=30\n");
        write_file(s->etc, "05-early.conf", "[Grouping]\nTimeoutSec=90\n[Output]\nCleanRoot=/data/clean\n");
        g_autofree char *mask = g_build_filename(s->etc, "60-camera.conf", NULL);
        g_assert_cmpint(symlink("/dev/null", mask), ==, 0);
        /* A mask in a lower folder does not hide a file above it. */
        g_autofree char *low_mask = g_build_filename(s->lib, "80-admin.conf", NULL);
        g_assert_cmpint(symlink("/dev/null", low_mask), ==, 0);
        write_file(s->etc, "80-admin.conf", "[Watch]\nIgnoreKeywords=junk\n");
        /* Neither a file nor a mask: neither read nor overriding. */
        g_autofree char *dangling = g_build_filename(s->etc, "10-vendor.conf", NULL);
        g_assert_cmpint(symlink("/nonexistent/shotsync", dangling), ==, 0);
        g_autofree char *folder = g_build_filename(s->run, "70-unmasked.conf", NULL);
        g_assert_cmpint(g_mkdir(folder, 0755), ==, 0);

        _cleanup_config_ Config *c = search_load(s);
        g_autofree char *f1 = g_build_filename(s->etc, "05-early.conf", NULL);
        g_autofree char *f2 = g_build_filename(s->lib, "10-vendor.conf", NULL);
        g_autofree char *f3 = g_build_filename(s->etc, "20-site.conf", NULL);
        g_autofree char *f4 = g_build_filename(s->run, "50-lab.conf", NULL);
        g_autofree char *f5 = g_build_filename(s->lib, "70-unmasked.conf", NULL);
        g_autofree char *f6 = g_build_filename(s->etc, "80-admin.conf", NULL);
        g_assert_cmpstrv(c->dropins, ((const char *const[]) { f1, f2, f3, f4, f5, f6, NULL }));
        g_assert_cmpfloat(c->full_window_sec, ==, 40);  /* 70-unmasked.conf comes last */
        g_assert_cmpfloat(c->timeout_sec, ==, 80);      /* run's 50-lab.conf after etc's 05-early.conf */
        g_assert_cmpfloat(c->late_grace_sec, ==, 600);  /* lib's 50-lab.conf was replaced */
        g_assert_cmpfloat(c->orphan_keep_sec, ==, 100); /* the main file, read first */
        g_assert_cmpstr(c->trigger_keyword, ==, "tir");
        g_assert_cmpstrv(c->ignore_keywords, ((const char *const[]) { "junk", NULL }));
        g_assert_cmpstr(c->clean_root, ==, "/data/clean");
        g_assert_cmpstr(c->raw_root, ==, "/srv/shotsync/raw");
        g_assert_cmpuint(c->n_cameras, ==, 0); /* 60-camera.conf is masked */
        g_clear_pointer(&c, config_free);

        /* A problem names the file that was read, in its folder. */
        write_file(s->run, "50-lab.conf", "[Grouping]\nTimeoutSec=soon\n");
        g_autofree char *error = NULL;
        g_assert_cmpint(config_load_files(s->tmp.main, true, s->dirs, &c, &error), ==, -EINVAL);
        g_autofree char *expected = g_strdup_printf("%s:2: [Grouping] TimeoutSec=soon: not a number", f4);
        g_assert_cmpstr(error, ==, expected);
        g_clear_pointer(&error, g_free);

        /* ... and an overridden file is not even read. */
        write_file(s->lib, "50-lab.conf", "[Grouping]\nTimeoutSec=soon\n");
        write_file(s->run, "50-lab.conf", "[Grouping]\nTimeoutSec=80\n");
        c = search_load(s);
        g_assert_cmpfloat(c->timeout_sec, ==, 80);
        g_clear_pointer(&c, config_free);

        /* The main file is optional here, but read when it is there. */
        g_assert_cmpint(g_unlink(s->tmp.main), ==, 0);
        c = search_load(s);
        g_assert_cmpfloat(c->orphan_keep_sec, ==, 86400);
        g_clear_pointer(&c, config_free);

        /* A drop-in folder that is not one is an error naming it. */
        rm_rf(s->run);
        write_file(s->tmp.dir, "run.d", "");
        g_assert_cmpint(config_load_files(s->tmp.main, true, s->dirs, &c, &error), ==, -ENOTDIR);
        g_free(expected);
        expected = g_strdup_printf("%s: cannot read the drop-in folder: Not a directory", s->run);
        g_assert_cmpstr(error, ==, expected);
}

static void test_example(void) {
        g_autofree char *path = g_test_build_filename(G_TEST_DIST, "..", "..", "data", "shotsync.conf", NULL);
        if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
                /* Without G_TEST_SRCDIR, try the source tree this file was
                 * compiled from (meson compiles with paths relative to the
                 * build root, which is where meson test runs). */
                g_autofree char *dir = g_path_get_dirname(__FILE__);
                g_free(path);
                path = g_build_filename(dir, "..", "..", "data", "shotsync.conf", NULL);
        }
        if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
                g_test_skip("data/shotsync.conf not found: set G_TEST_SRCDIR to the source tests/unit folder");
                return;
        }

        g_autofree char *error = NULL;
        _cleanup_config_ Config *c = NULL;
        int r = config_load(path, &c, &error);
        if (r < 0)
                g_test_message("%s", error);
        g_assert_cmpint(r, ==, 0);
        g_assert_cmpstr(c->raw_root, ==, "/srv/shotsync/raw");
        g_assert_cmpstr(c->clean_root, ==, "/srv/shotsync/clean");
        g_assert_cmpuint(c->n_cameras, ==, 0);
        g_assert_cmpstrv(c->ports, ((const char *const[]) { NULL }));
        g_assert_false(c->ports_auto);
        g_assert_cmpstr(c->download_root, ==, "/srv/shotsync/raw");

        /* The commented camera examples load too, once uncommented. */
        g_autofree char *text = NULL;
        gsize len;
        g_assert_true(g_file_get_contents(path, &text, &len, NULL));
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
        g_autoptr(GString) out = g_string_new(NULL);
        for (char **l = lines; *l; l++) {
                const char *s = *l;
                if (s[0] == '#' && (s[1] == '[' || (g_ascii_isupper(s[1]) && strchr(s, '='))))
                        s++;
                g_string_append(out, s);
                g_string_append_c(out, '\n');
        }
        Config *d = NULL;
        r = config_load_from_data("example", out->str, out->len, &d, &error);
        if (r < 0)
                g_test_message("%s", error);
        g_assert_cmpint(r, ==, 0);
        g_assert_cmpuint(d->n_cameras, ==, 4);
        const CameraConfig *frog = config_camera(d, "FROG");
        g_assert_nonnull(frog);
        g_assert_cmpuint(frog->n_kinds, ==, 2);
        g_assert_true(frog->clock_offset_set);
        g_assert_cmpfloat(frog->clock_offset_sec, ==, 9);
        g_assert_cmpfloat(d->min_shot_interval_sec, ==, 5);
        g_assert_true(config_camera(d, "Lanex2")->trigger);
        g_assert_false(config_camera(d, "Tracker")->expected);
        config_free(d);
}

/* ---- queries ---- */

static void test_kind_needs_suffix(void) {
        _cleanup_config_ Config *c = load_ok(BASE
                                             "[Camera FROG]\nFiles=*.tiff;*.fer\n"
                                             "[Camera Any]\nFiles=*;*.png\n"
                                             "[Camera Tif]\nFiles=*.tif;*.TIFF\n"
                                             "[Camera Png]\nFiles=IMG_*.png;*.PNG;*.jpg\n"
                                             "[Camera Glob]\nFiles=*.ti?;*.tiff;*.ti[f.]f;*.x\n"
                                             "[Camera NoExt]\nFiles=README;*.txt|LICENSE\n");
        const CameraConfig *frog = config_camera(c, "FROG");
        g_assert_false(config_kind_needs_suffix(frog, 0, ".tiff"));
        g_assert_false(config_kind_needs_suffix(frog, 1, ".fer"));
        g_assert_false(config_kind_needs_suffix(frog, 2, ".fer"));

        const CameraConfig *any = config_camera(c, "Any");
        g_assert_false(config_kind_needs_suffix(any, 0, ".png"));
        g_assert_true(config_kind_needs_suffix(any, 1, ".png"));

        const CameraConfig *tif = config_camera(c, "Tif");
        g_assert_false(config_kind_needs_suffix(tif, 1, ".tiff"));

        const CameraConfig *png = config_camera(c, "Png");
        g_assert_true(config_kind_needs_suffix(png, 1, ".png"));
        g_assert_false(config_kind_needs_suffix(png, 2, ".jpg"));

        /* A wildcard after the last dot, or a dot inside brackets, may
         * produce any extension. */
        const CameraConfig *glob = config_camera(c, "Glob");
        g_assert_true(config_kind_needs_suffix(glob, 1, ".tiff"));
        g_assert_true(config_kind_needs_suffix(glob, 2, ".tiff"));
        g_assert_true(config_kind_needs_suffix(glob, 3, ".x"));

        const CameraConfig *noext = config_camera(c, "NoExt");
        g_assert_true(config_kind_needs_suffix(noext, 1, ""));
        g_assert_false(config_kind_needs_suffix(noext, 1, ".txt"));

        /* "*.tif|*.tiff;*.tiff" is refused by config_load() (the second kind
         * could never be filled), but the rule itself still holds. */
        char *k0[] = { (char *) "*.tif", (char *) "*.tiff", NULL }, *k1[] = { (char *) "*.tiff", NULL };
        FileKind kinds[] = { { k0 }, { k1 } };
        CameraConfig cam = { .name = (char *) "X", .kinds = kinds, .n_kinds = 2 };
        g_assert_false(config_kind_needs_suffix(&cam, 0, ".tiff"));
        g_assert_true(config_kind_needs_suffix(&cam, 1, ".tiff"));
        g_assert_false(config_kind_needs_suffix(&cam, 1, ".fer"));
        g_assert_false(config_kind_needs_suffix(NULL, 1, ".tiff"));
}

static void test_publish_mode(void) {
        PublishMode m;

        for (PublishMode i = 0; i < _PUBLISH_MODE_MAX; i++) {
                g_assert_cmpint(publish_mode_from_string(publish_mode_to_string(i), &m), ==, 0);
                g_assert_cmpint(m, ==, i);
        }
        g_assert_cmpstr(publish_mode_to_string(PUBLISH_HARDLINK), ==, "hardlink");
        g_assert_null(publish_mode_to_string(_PUBLISH_MODE_MAX));
        g_assert_null(publish_mode_to_string((PublishMode) -1));
        g_assert_cmpint(publish_mode_from_string("symlink", &m), ==, -EINVAL);
        g_assert_cmpint(publish_mode_from_string(NULL, &m), ==, -EINVAL);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/config/defaults", test_defaults);
        g_test_add_func("/config/every-key", test_every_key);
        g_test_add_func("/config/camera-groups", test_camera_groups);
        g_test_add_func("/config/short-form", test_short_form);
        g_test_add_func("/config/booleans", test_booleans);
        g_test_add_func("/config/numbers", test_numbers);
        g_test_add_func("/config/timeout-vs-window", test_timeout_vs_window);
        g_test_add_func("/config/clock-keys", test_clock_keys);
        g_test_add_func("/config/paths", test_paths);
        g_test_add_func("/config/default-roots", test_default_roots);
        g_test_add_func("/config/groups-and-keys", test_groups_and_keys);
        g_test_add_func("/config/camera-names", test_camera_names);
        g_test_add_func("/config/trigger-cameras", test_trigger_cameras);
        g_test_add_func("/config/lists-and-kinds", test_lists_and_kinds);
        g_test_add_func("/config/syntax", test_syntax);
        g_test_add_func("/config/garbage", test_garbage);
        g_test_add("/config/dropins", Tmp, NULL, tmp_setup, test_dropins, tmp_teardown);
        g_test_add("/config/missing", Tmp, NULL, tmp_setup, test_missing, tmp_teardown);
        g_test_add("/config/search/nothing", Search, NULL, search_setup, test_search_nothing, search_teardown);
        g_test_add("/config/search/merge", Search, NULL, search_setup, test_search_merge, search_teardown);
        g_test_add_func("/config/example", test_example);
        g_test_add_func("/config/kind-needs-suffix", test_kind_needs_suffix);
        g_test_add_func("/config/publish-mode", test_publish_mode);
        return g_test_run();
}
