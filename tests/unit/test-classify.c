/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Which files count (SPEC §2 rules 1 and 3), on the names the campaign
 * really produced (CAMPAIGN.md) and on the names sync clients, editors and
 * other operating systems make up. */

#include <glib.h>

#include "classify.h"

/* The campaign's cameras, as a lab would configure them. */
static const char campaign[] = "[Watch]\n"
                               "RawRoot=/srv/raw\n"
                               "IgnoreKeywords=test;align\n"
                               "[Output]\n"
                               "CleanRoot=/srv/clean\n"
                               "[Camera Lanex1]\n"
                               "[Camera Lanex2]\nTrigger=true\nTriggerKeyword=2025\nFiles=*.tiff\n"
                               "[Camera Lanex5]\nTrigger=true\n"
                               "[Camera Csi]\nTrigger=true\nTriggerKeyword=\n"
                               "[Camera DarkShadow]\nFiles=*.tiff|*.png\n"
                               "[Camera NearField]\nFiles=*.png\n"
                               "[Camera FROG]\nFiles=*.tiff;*.fer\n"
                               "[Camera Tracker]\nExpected=false\nFiles=*.root\n"
                               "[Camera Écran]\nTrigger=true\nTriggerKeyword=Écran\nFiles=*.TIFF\n"
                               "[Camera Any]\nTrigger=true\nFiles=*.tiff;*\n";

static Config *load(void) {
        g_autofree char *error = NULL;
        Config *c = NULL;
        int r = config_load_from_data("campaign", campaign, strlen(campaign), &c, &error);
        if (r < 0)
                g_test_message("%s", error);
        g_assert_cmpint(r, ==, 0);
        return c;
}

typedef struct Case {
        const char *camera;
        const char *name;
        FileVerdict verdict;
        size_t kind;
        bool trigger;
} Case;

static void check(Config *c, const Case *cases, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const Case *t = &cases[i];
                const CameraConfig *cam = config_camera(c, t->camera);
                size_t kind = 99;
                bool trigger = !t->trigger;

                g_assert_nonnull(cam);
                g_autofree char *shown = g_strescape(t->name, NULL);
                g_test_message("%s / %s", t->camera, shown);
                FileVerdict v = classify_file(c, cam, t->name, &kind, &trigger);
                g_assert_cmpstr(file_verdict_to_string(v), ==, file_verdict_to_string(t->verdict));
                if (v == FILE_ELIGIBLE) {
                        g_assert_cmpuint(kind, ==, t->kind);
                        g_assert_cmpint(trigger, ==, t->trigger);
                } else {
                        /* Untouched unless eligible. */
                        g_assert_cmpuint(kind, ==, 99);
                        g_assert_cmpint(trigger, ==, !t->trigger);
                }
        }
}

static void test_campaign_names(void) {
        _cleanup_config_ Config *c = load();
        const Case cases[] = {
                { "Lanex1", "E6_Lanex1__22665529__20251211_112243274_0000.tiff", FILE_ELIGIBLE, 0, false },
                { "Lanex2", "115010_20251211_0001.tiff", FILE_ELIGIBLE, 0, true },
                { "Lanex5", "Lanex5_115010_20251211_shot0001.tiff", FILE_ELIGIBLE, 0, true },
                { "Lanex5", "Lanex5_115010_20251211_0001.tiff", FILE_ELIGIBLE, 0, false },
                { "Csi", "E6_CsI__24077437__20251211_114102830_0000.tiff", FILE_ELIGIBLE, 0, true },
                { "DarkShadow", "Shadowgraphy_115011_20251211_0001.tiff", FILE_ELIGIBLE, 0, false },
                { "DarkShadow", "Shadowgraphy_115011_20251211_0001.PNG", FILE_ELIGIBLE, 0, false },
                { "NearField", "E6_NF_ZOOM (24077350)_2025-12-11_11-50-10-735459.png", FILE_ELIGIBLE, 0, false },
                { "FROG", "1 - 2025-12-11-11-50-17.tiff", FILE_ELIGIBLE, 0, false },
                { "FROG", "1 - 2025-12-11-11-50-17.fer", FILE_ELIGIBLE, 1, false },
                { "FROG", "1 - 2025-12-11-11-50-17.png", FILE_IGNORED_NO_KIND, 0, false },
                { "Tracker", "tree_12_11_2025_11_46_58_Run1093_1.root", FILE_ELIGIBLE, 0, false },
                { "Tracker", "tree_12_11_2025_11_46_58_Run1093_1.root.part", FILE_IGNORED_TEMPORARY, 0, false },
                { "Lanex1", "E6_Lanex1__22665529__20251211_112243274_0000.tif", FILE_ELIGIBLE, 0, false },
                { "Lanex2", "115010_20251211_0001.tif", FILE_IGNORED_NO_KIND, 0, false },
        };
        check(c, cases, G_N_ELEMENTS(cases));
}

static void test_rule1_hidden_temporary(void) {
        _cleanup_config_ Config *c = load();
        const Case cases[] = {
                { "Lanex1", ".E6_Lanex1_0000.tiff", FILE_IGNORED_HIDDEN, 0, false },
                { "Lanex1", ".~lock.x.tiff#", FILE_IGNORED_HIDDEN, 0, false },
                { "Lanex1", "~E6_Lanex1_0000.tiff", FILE_IGNORED_HIDDEN, 0, false },
                { "Lanex1", "~$report.tiff", FILE_IGNORED_HIDDEN, 0, false },
                { "Lanex1", ".syncthing.E6_0000.tiff.tmp", FILE_IGNORED_HIDDEN, 0, false },
                { "Lanex1", "E6_0000.tiff.tmp", FILE_IGNORED_TEMPORARY, 0, false },
                { "Lanex1", "E6_0000.tiff.TMP", FILE_IGNORED_TEMPORARY, 0, false },
                { "Lanex1", "E6_0000.tiff.part", FILE_IGNORED_TEMPORARY, 0, false },
                { "Lanex1", "E6_0000.tiff.Partial", FILE_IGNORED_TEMPORARY, 0, false },
                { "Lanex1", "E6_0000.tiff.crdownload", FILE_IGNORED_TEMPORARY, 0, false },
                { "Lanex1", "E6_0000.tmp.tiff", FILE_ELIGIBLE, 0, false },
                { "Lanex1", "E6 partial 0000.tiff", FILE_ELIGIBLE, 0, false },
                { "Lanex1", "", FILE_IGNORED_HIDDEN, 0, false },
                { "Any", "E6_0000.part", FILE_IGNORED_TEMPORARY, 0, false },
        };
        check(c, cases, G_N_ELEMENTS(cases));

        const char *const hidden[] = { "", ".", "..", ".sync", "~x", "~$x.docx", "x.tmp", "x.PART", "x.partial",
                                       "x.crdownload" };
        for (size_t i = 0; i < G_N_ELEMENTS(hidden); i++)
                g_assert_true(name_is_hidden_or_temporary(hidden[i]));
        const char *const plain[] = { "Lanex2", "20251211", "a.tiff", "a~", "a.", "tmp", "x.tmpl", "x.parts" };
        for (size_t i = 0; i < G_N_ELEMENTS(plain); i++)
                g_assert_false(name_is_hidden_or_temporary(plain[i]));
        g_assert_true(name_is_hidden_or_temporary(NULL));
}

static void test_rule1_keywords(void) {
        _cleanup_config_ Config *c = load();
        const Case cases[] = {
                { "Lanex5", "Lanex5_test_shot0001.tiff", FILE_IGNORED_KEYWORD, 0, false },
                { "Lanex5", "TEST_shot0001.tiff", FILE_IGNORED_KEYWORD, 0, false },
                { "Lanex5", "Align-shot0001.tiff", FILE_IGNORED_KEYWORD, 0, false },
                { "Lanex5", "beam_ALIGNMENT.tiff", FILE_IGNORED_KEYWORD, 0, false },
                /* A substring, as the spec says: "latest" contains "test". */
                { "Lanex5", "latest_shot.tiff", FILE_IGNORED_KEYWORD, 0, false },
                /* Keywords are checked before kinds: the reason is the keyword. */
                { "FROG", "test.png", FILE_IGNORED_KEYWORD, 0, false },
                { "Lanex5", "tes_t_shot.tiff", FILE_ELIGIBLE, 0, true },
        };
        check(c, cases, G_N_ELEMENTS(cases));

        /* IgnoreKeywords= may be empty: nothing is ignored for a word. */
        const char *none = "[Watch]\nRawRoot=/r\nIgnoreKeywords=\n[Output]\nCleanRoot=/c\n";
        g_autofree char *error = NULL;
        _cleanup_config_ Config *d = NULL;
        g_assert_cmpint(config_load_from_data("none", none, strlen(none), &d, &error), ==, 0);
        size_t kind;
        bool trigger;
        g_assert_cmpint(classify_file(d, config_camera(d, "Lanex1"), "test.tif", &kind, &trigger), ==, FILE_ELIGIBLE);
}

static void test_rule2_kinds(void) {
        _cleanup_config_ Config *c = load();
        const Case cases[] = {
                { "FROG", "shot.TIFF", FILE_ELIGIBLE, 0, false },
                { "FROG", "shot.Fer", FILE_ELIGIBLE, 1, false },
                { "FROG", "shot.tiff.fer", FILE_ELIGIBLE, 1, false },
                { "FROG", "shot.fer.tiff", FILE_ELIGIBLE, 0, false },
                { "FROG", "shot.ferx", FILE_IGNORED_NO_KIND, 0, false },
                { "FROG", "shot", FILE_IGNORED_NO_KIND, 0, false },
                /* The first kind that matches wins. */
                { "Any", "a_shot.tiff", FILE_ELIGIBLE, 0, true },
                { "Any", "a_shot.fer", FILE_ELIGIBLE, 1, true },
                { "Any", "no extension", FILE_ELIGIBLE, 1, false },
        };
        check(c, cases, G_N_ELEMENTS(cases));
}

static void test_rule3_trigger(void) {
        _cleanup_config_ Config *c = load();
        const Case cases[] = {
                { "Lanex5", "x_shot_1.tiff", FILE_ELIGIBLE, 0, true },
                { "Lanex5", "x_SHOT_1.tiff", FILE_ELIGIBLE, 0, true },
                { "Lanex5", "x_Shot_1.tiff", FILE_ELIGIBLE, 0, true },
                { "Lanex5", "x_sh_ot_1.tiff", FILE_ELIGIBLE, 0, false },
                /* Not a trigger camera: the word means nothing. */
                { "Lanex1", "x_shot_1.tiff", FILE_ELIGIBLE, 0, false },
                { "FROG", "shot.fer", FILE_ELIGIBLE, 1, false },
                /* Empty keyword: every eligible file triggers. */
                { "Csi", "anything.tiff", FILE_ELIGIBLE, 0, true },
                { "Csi", "anything.png", FILE_IGNORED_NO_KIND, 0, false },
                { "Lanex2", "115010_20251211_0001.tiff", FILE_ELIGIBLE, 0, true },
                { "Lanex2", "115010_20241211_0001.tiff", FILE_ELIGIBLE, 0, false },
        };
        check(c, cases, G_N_ELEMENTS(cases));
}

static void test_utf8(void) {
        _cleanup_config_ Config *c = load();
        const Case cases[] = {
                { "Écran", "écran_01.tiff", FILE_ELIGIBLE, 0, true },
                { "Écran", "ÉCRAN_01.TIFF", FILE_ELIGIBLE, 0, true },
                { "Écran", "mon écran.tiff", FILE_ELIGIBLE, 0, true },
                /* macOS spells é as e + combining acute. */
                { "Écran", "E\xcc\x81" "cran_02.tiff", FILE_ELIGIBLE, 0, true },
                { "Écran", "ecran_03.tiff", FILE_ELIGIBLE, 0, false },
                { "Écran", "Ｅcran.tiff", FILE_ELIGIBLE, 0, false },
                { "Lanex5", "SCHUSS_shot_ÄÖÜ.tiff", FILE_ELIGIBLE, 0, true },
                { "Lanex5", "Тест_shot.tiff", FILE_ELIGIBLE, 0, true },
                { "Lanex5", "日本語 shot.tiff", FILE_ELIGIBLE, 0, true },
        };
        check(c, cases, G_N_ELEMENTS(cases));

        /* Non-ASCII ignore keywords and patterns fold too. */
        const char *text = "[Watch]\nRawRoot=/r\nIgnoreKeywords=Prüfung;ΣΟΦΙΑ\nFiles=*.bild\nTriggerCameras=K\n"
                           "TriggerKeyword=Straße\n[Output]\nCleanRoot=/c\n";
        g_autofree char *error = NULL;
        _cleanup_config_ Config *d = NULL;
        g_assert_cmpint(config_load_from_data("utf8", text, strlen(text), &d, &error), ==, 0);
        const Case more[] = {
                { "K", "PRÜFUNG_1.bild", FILE_IGNORED_KEYWORD, 0, false },
                { "K", "prüfung_1.BILD", FILE_IGNORED_KEYWORD, 0, false },
                { "K", "σοφια.bild", FILE_IGNORED_KEYWORD, 0, false },
                { "K", "STRASSE_1.BILD", FILE_ELIGIBLE, 0, true },
                { "K", "straße_1.bild", FILE_ELIGIBLE, 0, true },
                { "K", "strase_1.bild", FILE_ELIGIBLE, 0, false },
        };
        check(d, more, G_N_ELEMENTS(more));
}

static void test_invalid_utf8(void) {
        _cleanup_config_ Config *c = load();
        const Case cases[] = {
                { "Lanex5", "\xff\xfe_shot.tiff", FILE_ELIGIBLE, 0, true },
                { "Lanex5", "Caf\xe9_SHOT.TIFF", FILE_ELIGIBLE, 0, true },
                { "Lanex5", "\xc3_shot.tiff", FILE_ELIGIBLE, 0, true },
                { "Lanex5", "\xc3\x28shot\xa0.tiff", FILE_ELIGIBLE, 0, true },
                { "Lanex5", "\xf0\x9f\x98_TEST.tiff", FILE_IGNORED_KEYWORD, 0, false },
                { "Lanex5", "\xe9\xe9\xe9", FILE_IGNORED_NO_KIND, 0, false },
                { "Lanex5", "\xff.tiff\xff", FILE_IGNORED_NO_KIND, 0, false },
                { "Lanex5", "x\xff.tmp", FILE_IGNORED_TEMPORARY, 0, false },
                { "Écran", "\xc9" "cran.tiff", FILE_ELIGIBLE, 0, false },
                { "Écran", "\xff" "ÉCRAN.tiff", FILE_ELIGIBLE, 0, true },
        };
        check(c, cases, G_N_ELEMENTS(cases));
}

static void test_odd_names(void) {
        _cleanup_config_ Config *c = load();
        const Case cases[] = {
                { "Lanex5", "shot 0001 (copy).tiff", FILE_ELIGIBLE, 0, true },
                { "Lanex5", "shot [1].tiff", FILE_ELIGIBLE, 0, true },
                { "Lanex5", "shot*?[].tiff", FILE_ELIGIBLE, 0, true },
                { "Lanex5", "line\nbreak shot.tiff", FILE_ELIGIBLE, 0, true },
                { "Lanex5", "tab\tshot\r.tiff", FILE_ELIGIBLE, 0, true },
                { "Lanex5", "shot.tiff\n", FILE_IGNORED_NO_KIND, 0, false },
                { "Lanex5", " shot.tiff", FILE_ELIGIBLE, 0, true },
                { "Lanex5", "back\\slash shot.tiff", FILE_ELIGIBLE, 0, true },
                { "Lanex5", ".tiff", FILE_IGNORED_HIDDEN, 0, false },
                /* A path: only its base name counts. */
                { "Lanex5", "20251211/.hidden/shot.tiff", FILE_ELIGIBLE, 0, true },
                { "Lanex5", "20251211/.shot.tiff", FILE_IGNORED_HIDDEN, 0, false },
        };
        check(c, cases, G_N_ELEMENTS(cases));

        g_autofree char *longname = g_strnfill(100000, 'a');
        memcpy(longname + 100000 - 9, "_shot.tif", 9);
        size_t kind;
        bool trigger;
        g_assert_cmpint(classify_file(c, config_camera(c, "Lanex5"), longname, &kind, &trigger), ==, FILE_ELIGIBLE);
        g_assert_true(trigger);

        /* Optional outputs and a missing camera. */
        g_assert_cmpint(classify_file(c, config_camera(c, "Lanex5"), "shot.tiff", NULL, NULL), ==, FILE_ELIGIBLE);
        g_assert_cmpint(classify_file(c, NULL, "shot.tif", &kind, &trigger), ==, FILE_ELIGIBLE);
        g_assert_false(trigger);
        g_assert_cmpint(classify_file(c, NULL, NULL, &kind, &trigger), ==, FILE_IGNORED_HIDDEN);
}

static void test_fuzz(void) {
        _cleanup_config_ Config *c = load();
        g_autoptr(GRand) rand = g_rand_new_with_seed(42);
        const char *const cameras[] = { "Lanex5", "FROG", "Écran", "Any", "Csi" };

        for (int i = 0; i < 20000; i++) {
                char name[64];
                size_t len = (size_t) g_rand_int_range(rand, 0, (gint32) sizeof name);
                for (size_t j = 0; j < len; j++)
                        name[j] = (char) g_rand_int_range(rand, 1, 256);
                name[len] = 0;

                size_t kind = 0;
                bool trigger;
                const CameraConfig *cam = config_camera(c, cameras[i % G_N_ELEMENTS(cameras)]);
                FileVerdict v = classify_file(c, cam, name, &kind, &trigger);
                g_assert_nonnull(file_verdict_to_string(v));
                if (v == FILE_ELIGIBLE)
                        g_assert_cmpuint(kind, <, cam->n_kinds);
                char ext[32];
                g_assert_cmpuint(strlen(file_extension_lower(name, ext)), <, 32);
                (void) name_is_hidden_or_temporary(name);
        }
}

static void test_extension(void) {
        static const struct {
                const char *name, *ext;
        } cases[] = {
                { "a.tiff", ".tiff" },
                { "a.TIFF", ".tiff" },
                { ".TIFF", ".tiff" },
                { "E6_NF_ZOOM (24077350)_2025-12-11_11-50-10-735459.png", ".png" },
                { "1 - 2025-12-11-11-50-17.FER", ".fer" },
                { "archive.tar.GZ", ".gz" },
                { "noext", "" },
                { "name.", "" },
                { "", "" },
                { "dir.d/file", "" },
                { "dir/file.Root", ".root" },
                { "img.ÉCR", ".écr" },
                { "img.\xff\x41", ".\xff" "a" },
                { "x.012345678901234567890123456789", ".012345678901234567890123456789" },
                { "x.0123456789012345678901234567890", "" },
                { "x.ÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉ", ".ééééééééééééééé" },
                { "x.ÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉ", "" },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                char buf[32];
                g_assert_cmpstr(file_extension_lower(cases[i].name, buf), ==, cases[i].ext);
        }
        char buf[32];
        g_assert_cmpstr(file_extension_lower(NULL, buf), ==, "");
}

static void test_verdict_strings(void) {
        g_assert_cmpstr(file_verdict_to_string(FILE_ELIGIBLE), ==, "eligible");
        g_assert_cmpstr(file_verdict_to_string(FILE_IGNORED_HIDDEN), ==, "hidden");
        g_assert_cmpstr(file_verdict_to_string(FILE_IGNORED_TEMPORARY), ==, "temporary");
        g_assert_cmpstr(file_verdict_to_string(FILE_IGNORED_KEYWORD), ==, "keyword");
        g_assert_cmpstr(file_verdict_to_string(FILE_IGNORED_NO_KIND), ==, "kind");
        g_assert_null(file_verdict_to_string(_FILE_VERDICT_MAX));
        g_assert_null(file_verdict_to_string((FileVerdict) -1));
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/classify/campaign-names", test_campaign_names);
        g_test_add_func("/classify/rule1-hidden-temporary", test_rule1_hidden_temporary);
        g_test_add_func("/classify/rule1-keywords", test_rule1_keywords);
        g_test_add_func("/classify/rule2-kinds", test_rule2_kinds);
        g_test_add_func("/classify/rule3-trigger", test_rule3_trigger);
        g_test_add_func("/classify/utf8", test_utf8);
        g_test_add_func("/classify/invalid-utf8", test_invalid_utf8);
        g_test_add_func("/classify/odd-names", test_odd_names);
        g_test_add_func("/classify/fuzz", test_fuzz);
        g_test_add_func("/classify/extension", test_extension);
        g_test_add_func("/classify/verdict-strings", test_verdict_strings);
        return g_test_run();
}
