/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Manifests (SPEC §3): the exact text of a known shot pins the key set, the
 * order and every format; the reader takes back what the writer wrote and
 * refuses everything else without crashing. Runs with TZ=Europe/Paris (set
 * by meson). */

#include <glib.h>
#include <math.h>
#include <stdio.h>

#include "manifest.h"

#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define MS ((nsec_t) 1000000)
#define US ((nsec_t) 1000)

static nsec_t local_time(int y, int mo, int d, int h, int mi, int s, nsec_t ns) {
        g_autoptr(GDateTime) dt = g_date_time_new_local(y, mo, d, h, mi, s);
        g_assert_nonnull(dt);
        return (nsec_t) g_date_time_to_unix(dt) * NSEC_PER_SEC + ns;
}

/* 2026-11-23 14:05:09.123456 CET. */
static nsec_t trigger_time(void) {
        return local_time(2026, 11, 23, 14, 5, 9, 123456 * US);
}

static void add(Manifest *m, const char *camera, unsigned kind, const char *name, nsec_t offset, bool late) {
        g_autofree char *raw = g_strdup_printf("/srv/raw/%s/20261123/%s", camera, name);
        g_autofree char *clean = g_strdup_printf("/srv/clean/%s/20261123/%s", camera, name);
        ManifestFile *f = manifest_add_file(m, camera, kind, raw, m->trigger_time + offset, clean, late);
        f->size = 1000 + m->n_files;
        /* FROG's PC runs 9 s ahead, Csi's 1.25 s behind. */
        f->clock_offset = streq(camera, "FROG") ? 9 * NSEC_PER_SEC : streq(camera, "Csi") ? -1250 * MS : 0;
        f->clock_offset_known = true;
        memcpy(f->sha256, SHA_ABC, sizeof f->sha256);
}

/* A shot with two trigger-less cameras, a camera of two kinds, a late file,
 * a missing camera and metadata: every part of the format. */
static Manifest *known_manifest(void) {
        Manifest *m = manifest_new();
        g_strlcpy(m->id, "20261123-004", sizeof m->id);
        m->date = 20261123;
        m->number = 4;
        m->status = SHOT_TIMEOUT;
        m->trigger_camera = g_strdup("Lanex2");
        m->trigger_path = g_strdup("/srv/raw/Lanex2/20261123/shot_2025_0001.tiff");
        m->trigger_time = trigger_time();
        m->window_start = m->trigger_time - 15 * NSEC_PER_SEC;
        m->window_end = m->trigger_time + 15 * NSEC_PER_SEC;

        add(m, "Lanex2", 1, "shot_2025_0001.tiff", 0, false);
        add(m, "FROG", 1, "frog_17.tiff", 1500 * MS, false);
        add(m, "FROG", 2, "frog_17.fer", -250 * MS, false);
        add(m, "Csi", 1, "csi 0042.png", 2 * NSEC_PER_SEC + 1 * US, true);

        m->missing = g_new0(char *, 2);
        m->missing[0] = g_strdup("NearField");
        g_hash_table_insert(m->metadata, g_strdup("laser_energy_J"), g_strdup("1.25"));
        g_hash_table_insert(m->metadata, g_strdup("gas"), g_strdup("He"));
        g_hash_table_insert(m->metadata, g_strdup("a b"), g_strdup("é \"quoted\""));
        g_hash_table_insert(m->metadata, g_strdup("Zeta"), g_strdup(""));
        return m;
}

static const char golden[] =
        "{\n"
        "  \"id\" : \"20261123-004\",\n"
        "  \"date\" : \"20261123\",\n"
        "  \"number\" : 4,\n"
        "  \"status\" : \"timeout\",\n"
        "  \"trigger\" : {\n"
        "    \"camera\" : \"Lanex2\",\n"
        "    \"path\" : \"/srv/raw/Lanex2/20261123/shot_2025_0001.tiff\",\n"
        "    \"time\" : \"2026-11-23T14:05:09.123456+01:00\"\n"
        "  },\n"
        "  \"window\" : {\n"
        "    \"start\" : \"2026-11-23T14:04:54.123456+01:00\",\n"
        "    \"end\" : \"2026-11-23T14:05:24.123456+01:00\"\n"
        "  },\n"
        "  \"files\" : [\n"
        "    {\n"
        "      \"camera\" : \"Lanex2\",\n"
        "      \"kind\" : 1,\n"
        "      \"raw_path\" : \"/srv/raw/Lanex2/20261123/shot_2025_0001.tiff\",\n"
        "      \"mtime\" : \"2026-11-23T14:05:09.123456+01:00\",\n"
        "      \"offset_s\" : 0.0,\n"
        "      \"clock_offset_s\" : 0.0,\n"
        "      \"clean_path\" : \"/srv/clean/Lanex2/20261123/shot_2025_0001.tiff\",\n"
        "      \"size\" : 1001,\n"
        "      \"sha256\" : \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\",\n"
        "      \"late\" : false\n"
        "    },\n"
        "    {\n"
        "      \"camera\" : \"FROG\",\n"
        "      \"kind\" : 1,\n"
        "      \"raw_path\" : \"/srv/raw/FROG/20261123/frog_17.tiff\",\n"
        "      \"mtime\" : \"2026-11-23T14:05:10.623456+01:00\",\n"
        "      \"offset_s\" : 1.5,\n"
        "      \"clock_offset_s\" : 9.0,\n"
        "      \"clean_path\" : \"/srv/clean/FROG/20261123/frog_17.tiff\",\n"
        "      \"size\" : 1002,\n"
        "      \"sha256\" : \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\",\n"
        "      \"late\" : false\n"
        "    },\n"
        "    {\n"
        "      \"camera\" : \"FROG\",\n"
        "      \"kind\" : 2,\n"
        "      \"raw_path\" : \"/srv/raw/FROG/20261123/frog_17.fer\",\n"
        "      \"mtime\" : \"2026-11-23T14:05:08.873456+01:00\",\n"
        "      \"offset_s\" : -0.25,\n"
        "      \"clock_offset_s\" : 9.0,\n"
        "      \"clean_path\" : \"/srv/clean/FROG/20261123/frog_17.fer\",\n"
        "      \"size\" : 1003,\n"
        "      \"sha256\" : \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\",\n"
        "      \"late\" : false\n"
        "    },\n"
        "    {\n"
        "      \"camera\" : \"Csi\",\n"
        "      \"kind\" : 1,\n"
        "      \"raw_path\" : \"/srv/raw/Csi/20261123/csi 0042.png\",\n"
        "      \"mtime\" : \"2026-11-23T14:05:11.123457+01:00\",\n"
        "      \"offset_s\" : 2.0000010000000001,\n"
        "      \"clock_offset_s\" : -1.25,\n"
        "      \"clean_path\" : \"/srv/clean/Csi/20261123/csi 0042.png\",\n"
        "      \"size\" : 1004,\n"
        "      \"sha256\" : \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\",\n"
        "      \"late\" : true\n"
        "    }\n"
        "  ],\n"
        "  \"missing\" : [\n"
        "    \"NearField\"\n"
        "  ],\n"
        "  \"timing\" : {\n"
        "    \"min_mtime\" : \"2026-11-23T14:05:08.873456+01:00\",\n"
        "    \"max_mtime\" : \"2026-11-23T14:05:11.123457+01:00\",\n"
        "    \"first_camera\" : \"FROG\",\n"
        "    \"last_camera\" : \"Csi\"\n"
        "  },\n"
        "  \"metadata\" : {\n"
        "    \"Zeta\" : \"\",\n"
        "    \"a b\" : \"é \\\"quoted\\\"\",\n"
        "    \"gas\" : \"He\",\n"
        "    \"laser_energy_J\" : \"1.25\"\n"
        "  }\n"
        "}\n";

static char *to_data(const Manifest *m) {
        size_t len;
        char *s = manifest_to_data(m, &len);
        g_assert_nonnull(s);
        g_assert_cmpuint(strlen(s), ==, len);
        return s;
}

static void assert_manifest_equal(const Manifest *a, const Manifest *b) {
        g_assert_cmpstr(a->id, ==, b->id);
        g_assert_cmpuint(a->date, ==, b->date);
        g_assert_cmpuint(a->number, ==, b->number);
        g_assert_cmpint(a->status, ==, b->status);
        g_assert_cmpstr(a->trigger_camera ?: "", ==, b->trigger_camera ?: "");
        g_assert_cmpstr(a->trigger_path ?: "", ==, b->trigger_path ?: "");
        g_assert_cmpint(a->trigger_time, ==, b->trigger_time);
        g_assert_cmpint(a->window_start, ==, b->window_start);
        g_assert_cmpint(a->window_end, ==, b->window_end);

        g_assert_cmpuint(a->n_files, ==, b->n_files);
        for (size_t i = 0; i < a->n_files; i++) {
                const ManifestFile *x = &a->files[i], *y = &b->files[i];
                g_assert_cmpstr(x->camera, ==, y->camera);
                g_assert_cmpuint(x->kind, ==, y->kind);
                g_assert_cmpstr(x->raw_path, ==, y->raw_path);
                g_assert_cmpint(x->mtime, ==, y->mtime);
                g_assert_cmpstr(x->clean_path, ==, y->clean_path);
                g_assert_cmpuint(x->size, ==, y->size);
                g_assert_cmpstr(x->sha256, ==, y->sha256);
                g_assert_cmpint(x->late, ==, y->late);
        }

        guint na = a->missing ? g_strv_length(a->missing) : 0, nb = b->missing ? g_strv_length(b->missing) : 0;
        g_assert_cmpuint(na, ==, nb);
        for (guint i = 0; i < na; i++)
                g_assert_cmpstr(a->missing[i], ==, b->missing[i]);

        g_assert_cmpuint(g_hash_table_size(a->metadata), ==, g_hash_table_size(b->metadata));
        GHashTableIter it;
        void *k, *v;
        g_hash_table_iter_init(&it, a->metadata);
        while (g_hash_table_iter_next(&it, &k, &v))
                g_assert_cmpstr(g_hash_table_lookup(b->metadata, k), ==, v);
}

static Manifest *round_trip(const Manifest *m) {
        g_autofree char *text = to_data(m);
        Manifest *back = NULL;
        g_assert_cmpint(manifest_from_data(text, strlen(text), &back), ==, 0);
        g_assert_nonnull(back);

        /* And the text is a fixed point. */
        g_autofree char *again = to_data(back);
        g_assert_cmpstr(text, ==, again);
        return back;
}

static void test_golden(void) {
        g_autoptr(Manifest) m = known_manifest();
        g_autofree char *text = to_data(m);
        if (!streq(text, golden))
                fputs(text, stderr); /* not g_printerr(): no charset conversion */
        g_assert_cmpstr(text, ==, golden);
}

static void test_round_trip(void) {
        g_autoptr(Manifest) m = known_manifest();
        g_autoptr(Manifest) back = round_trip(m);
        assert_manifest_equal(m, back);

        /* Through the JsonNode too. */
        g_autoptr(JsonNode) node = manifest_to_json(m);
        g_autoptr(Manifest) back2 = NULL;
        g_assert_cmpint(manifest_from_json(node, &back2), ==, 0);
        assert_manifest_equal(m, back2);

        /* A Fire, still collecting, no file yet, no metadata. */
        g_autoptr(Manifest) fire = manifest_new();
        g_strlcpy(fire->id, "20261123-1000", sizeof fire->id);
        fire->date = 20261123;
        fire->number = 1000;
        fire->status = SHOT_COLLECTING;
        fire->trigger_camera = g_strdup("");
        fire->trigger_path = g_strdup("");
        fire->trigger_time = trigger_time();
        fire->window_start = fire->trigger_time - 5 * NSEC_PER_SEC;
        fire->window_end = fire->trigger_time + 5 * NSEC_PER_SEC;
        g_autoptr(Manifest) fire_back = round_trip(fire);
        assert_manifest_equal(fire, fire_back);
        g_assert_cmpint(fire_back->status, ==, SHOT_COLLECTING);
        g_assert_nonnull(fire_back->missing);
        g_assert_null(fire_back->missing[0]);

        /* Complete, and before 1970 and across midnight for the arithmetic. */
        fire->status = SHOT_COMPLETE;
        fire->trigger_time = -1500 * MS + 7 * US;
        fire->window_start = fire->trigger_time - 5 * NSEC_PER_SEC;
        fire->window_end = fire->trigger_time + 5 * NSEC_PER_SEC;
        fire->date = 19700101;
        fire->number = 1;
        g_strlcpy(fire->id, "19700101-001", sizeof fire->id);
        g_autoptr(Manifest) old_back = round_trip(fire);
        assert_manifest_equal(fire, old_back);
}

/* Times go out with microseconds: nanoseconds are dropped (towards the
 * past), never rounded into the next second. */
static void test_microseconds(void) {
        g_autoptr(Manifest) m = known_manifest();
        m->files[0].mtime = local_time(2026, 11, 23, 14, 5, 9, 999999999);
        g_autofree char *text = to_data(m);
        g_autoptr(Manifest) back = NULL;
        g_assert_cmpint(manifest_from_data(text, strlen(text), &back), ==, 0);
        g_assert_cmpint(back->files[0].mtime, ==, local_time(2026, 11, 23, 14, 5, 9, 999999000));
}

static JsonObject *file_object(JsonNode *root, guint i) {
        JsonArray *files = json_object_get_array_member(json_node_get_object(root), "files");
        return json_array_get_object_element(files, i);
}

static nsec_t floor_us(nsec_t t) {
        return t >= 0 ? t - t % US : -((-t + US - 1) / US) * US;
}

/* offset_s is the difference of the two instants as printed (microseconds),
 * exactly: it agrees with the strings and survives a rewrite. */
static void test_offset(void) {
        static const nsec_t offsets[] = {
                0, 1, -1, 999, 1000, -1000, -1001, 1500 * MS, -250 * MS, 2 * NSEC_PER_SEC + 1 * US,
                -7 * NSEC_PER_SEC - 123456789, 123456 * NSEC_PER_SEC + 789012345, 400LL * 86400 * NSEC_PER_SEC + 1 * US,
        };
        g_autoptr(Manifest) m = known_manifest();
        m->trigger_time += 321; /* not on a microsecond either */
        for (size_t i = 0; i < m->n_files; i++) {
                g_free(m->files[i].camera);
                g_free(m->files[i].raw_path);
                g_free(m->files[i].clean_path);
        }
        m->n_files = 0;
        for (size_t i = 0; i < G_N_ELEMENTS(offsets); i++)
                manifest_add_file(m, "Cam", 1, "/r", m->trigger_time + offsets[i], "/c", false);

        g_autoptr(JsonNode) root = manifest_to_json(m);
        for (size_t i = 0; i < G_N_ELEMENTS(offsets); i++) {
                JsonNode *n = json_object_get_member(file_object(root, (guint) i), "offset_s");
                g_assert_cmpint(json_node_get_value_type(n), ==, G_TYPE_DOUBLE);
                nsec_t us = (floor_us(m->trigger_time + offsets[i]) - floor_us(m->trigger_time)) / US;
                g_assert_true(json_node_get_double(n) == (double) us / 1e6);
        }
        g_assert_true(json_object_get_double_member(file_object(root, 1), "offset_s") == 0.0);
        g_assert_true(json_object_get_double_member(file_object(root, 2), "offset_s") == 0.0);
        g_assert_true(json_object_get_double_member(file_object(root, 6), "offset_s") == -1e-6);
        g_assert_true(json_object_get_double_member(file_object(root, 12), "offset_s") == 34560000.000001);

        /* The extremes saturate instead of wrapping. */
        g_autoptr(Manifest) ext = manifest_new();
        ext->trigger_time = m->trigger_time;
        manifest_add_file(ext, "Cam", 1, "/r", INT64_MAX, "/c", false);
        manifest_add_file(ext, "Cam", 1, "/r", INT64_MIN, "/c", false);
        g_autoptr(JsonNode) ext_root = manifest_to_json(ext);
        double big = json_object_get_double_member(file_object(ext_root, 0), "offset_s");
        g_assert_cmpfloat(fabs(big - ((double) INT64_MAX - (double) m->trigger_time) / 1e9), <, 1e-3);
        double small = json_object_get_double_member(file_object(ext_root, 1), "offset_s");
        g_assert_cmpfloat(small, <, -9.2e9);

        /* Printed with every digit a double has (json-glib's %.17g). */
        g_autofree char *text = to_data(m);
        g_assert_nonnull(strstr(text, "\"offset_s\" : 1.5,"));
        g_assert_nonnull(strstr(text, "\"offset_s\" : -0.25,"));
        g_assert_nonnull(strstr(text, "\"offset_s\" : 0.0,"));
        g_assert_nonnull(strstr(text, "\"offset_s\" : -7.1234570000000001,"));

        /* Written, read, written: the same bytes. */
        g_autoptr(Manifest) back = NULL;
        g_assert_cmpint(manifest_from_data(text, strlen(text), &back), ==, 0);
        g_autofree char *again = to_data(back);
        g_assert_cmpstr(text, ==, again);
}

static void test_timing(void) {
        g_autoptr(Manifest) m = manifest_new();
        m->trigger_time = trigger_time();

        /* No file: nulls. */
        g_autoptr(JsonNode) empty = manifest_to_json(m);
        JsonObject *t = json_object_get_object_member(json_node_get_object(empty), "timing");
        g_assert_cmpuint(json_object_get_size(t), ==, 4);
        g_assert_true(json_object_get_null_member(t, "min_mtime"));
        g_assert_true(json_object_get_null_member(t, "max_mtime"));
        g_assert_true(json_object_get_null_member(t, "first_camera"));
        g_assert_true(json_object_get_null_member(t, "last_camera"));

        /* Ties go to the file listed first, at both ends. */
        nsec_t t0 = m->trigger_time;
        manifest_add_file(m, "B", 1, "/r", t0 + 2 * NSEC_PER_SEC, "/c", false);
        manifest_add_file(m, "A", 1, "/r", t0 - NSEC_PER_SEC, "/c", false);
        manifest_add_file(m, "C", 1, "/r", t0 + 3 * NSEC_PER_SEC, "/c", true);
        manifest_add_file(m, "D", 1, "/r", t0 - NSEC_PER_SEC, "/c", false);
        manifest_add_file(m, "E", 1, "/r", t0 + 3 * NSEC_PER_SEC, "/c", false);
        g_autoptr(JsonNode) root = manifest_to_json(m);
        t = json_object_get_object_member(json_node_get_object(root), "timing");
        g_assert_cmpstr(json_object_get_string_member(t, "first_camera"), ==, "A");
        g_assert_cmpstr(json_object_get_string_member(t, "last_camera"), ==, "C");
        g_assert_cmpstr(json_object_get_string_member(t, "min_mtime"), ==, "2026-11-23T14:05:08.123456+01:00");
        g_assert_cmpstr(json_object_get_string_member(t, "max_mtime"), ==, "2026-11-23T14:05:12.123456+01:00");
}

static void test_metadata_sorted(void) {
        static const char *const keys[] = { "z", "A", "a", "é", "B2", "b10", "_", "0" };
        static const char *const sorted[] = { "0", "A", "B2", "_", "a", "b10", "z", "é" };
        g_autoptr(Manifest) m = manifest_new();
        for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
                g_hash_table_insert(m->metadata, g_strdup(keys[i]), g_strdup_printf("v%zu", i));

        g_autoptr(JsonNode) root = manifest_to_json(m);
        JsonObject *md = json_object_get_object_member(json_node_get_object(root), "metadata");
        g_autoptr(GList) members = json_object_get_members(md);
        size_t i = 0;
        for (GList *l = members; l; l = l->next, i++)
                g_assert_cmpstr(l->data, ==, sorted[i]);
        g_assert_cmpuint(i, ==, G_N_ELEMENTS(sorted));

        /* In the text as well. */
        g_autofree char *text = to_data(m);
        const char *prev = text;
        for (i = 0; i < G_N_ELEMENTS(sorted); i++) {
                g_autofree char *quoted = g_strdup_printf("\"%s\" : \"v", sorted[i]);
                const char *at = strstr(text, quoted);
                g_assert_nonnull(at);
                g_assert_true(at > prev);
                prev = at;
        }
}

/* Whatever the strings hold, the output is JSON: strings already escaped
 * by the caller pass as they are, raw invalid bytes are escaped here. */
static void test_strings(void) {
        g_autoptr(Manifest) m = known_manifest();
        g_free(m->files[0].camera);
        m->files[0].camera = g_strdup("Cam\xff");
        g_free(m->files[0].raw_path);
        m->files[0].raw_path = utf8_escape_invalid("/srv/raw/Cam\xff/shot\n\"1\".tif");
        g_free(m->missing[0]);
        m->missing[0] = g_strdup("Near\xfe");

        g_autofree char *text = to_data(m);
        g_assert_true(g_utf8_validate(text, -1, NULL));
        g_autoptr(Manifest) back = NULL;
        g_assert_cmpint(manifest_from_data(text, strlen(text), &back), ==, 0);
        g_assert_cmpstr(back->files[0].camera, ==, "Cam\\xff");
        g_assert_cmpstr(back->files[0].raw_path, ==, m->files[0].raw_path);
        g_autofree char *raw = utf8_unescape(back->files[0].raw_path);
        g_assert_cmpstr(raw, ==, "/srv/raw/Cam\xff/shot\n\"1\".tif");
        g_assert_cmpstr(back->missing[0], ==, "Near\\xfe");
}

static void test_add_file(void) {
        g_autoptr(Manifest) m = manifest_new();
        char camera[] = "Cam";
        ManifestFile *f = manifest_add_file(m, camera, 2, "/raw", 42, "/clean", true);
        camera[0] = 'X';
        g_assert_cmpstr(f->camera, ==, "Cam");
        g_assert_cmpuint(f->kind, ==, 2);
        g_assert_cmpint(f->mtime, ==, 42);
        g_assert_true(f->late);
        g_assert_cmpuint(f->size, ==, 0);
        g_assert_cmpstr(f->sha256, ==, "");
        g_assert_cmpuint(m->n_files, ==, 1);
        for (unsigned i = 0; i < 100; i++)
                manifest_add_file(m, "C", 1, "/r", i, "/c", false);
        g_assert_cmpuint(m->n_files, ==, 101);
        g_assert_cmpint(m->files[100].mtime, ==, 99);
        g_assert_null(manifest_free(NULL));
}

static int parse_text(const char *text) {
        g_autoptr(Manifest) m = NULL;
        int r = manifest_from_data(text, strlen(text), &m);
        g_assert_true(r == 0 || r == -EBADMSG);
        g_assert_true((r == 0) == (m != NULL));
        return r;
}

static JsonNode *golden_node(void) {
        g_autoptr(Manifest) m = known_manifest();
        return manifest_to_json(m);
}

static int parse_node(JsonNode *node) {
        g_autoptr(Manifest) m = NULL;
        int r = manifest_from_json(node, &m);
        g_assert_true(r == 0 || r == -EBADMSG);
        return r;
}

static void test_reject_text(void) {
        static const char *const bad[] = {
                "", " ", "null", "true", "1", "\"s\"", "[]", "{}", "{", "{\"id\":}", "[1,]", "\xff",
                "{\"id\": \"20261123-004\"}",
        };
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
                g_assert_cmpint(parse_text(bad[i]), ==, -EBADMSG);

        /* Deep enough to overflow a recursive parser's stack. */
        size_t n = 1000000;
        g_autofree char *deep = g_malloc(n + 1);
        memset(deep, '[', n);
        deep[n] = 0;
        g_assert_cmpint(parse_text(deep), ==, -EBADMSG);
        memset(deep, '{', n);
        g_assert_cmpint(parse_text(deep), ==, -EBADMSG);

        g_assert_cmpint(manifest_from_json(NULL, &(Manifest *) { NULL }), ==, -EBADMSG);
        g_assert_cmpint(manifest_from_data(NULL, 0, &(Manifest *) { NULL }), ==, -EBADMSG);

        /* Bytes past len are not looked at. */
        g_autoptr(Manifest) m = known_manifest();
        g_autofree char *good = to_data(m);
        g_autofree char *padded = g_strconcat(good, "garbage", NULL);
        g_autoptr(Manifest) back = NULL;
        g_assert_cmpint(manifest_from_data(padded, strlen(good), &back), ==, 0);
        g_autoptr(Manifest) back2 = NULL;
        g_assert_cmpint(manifest_from_data(padded, strlen(padded), &back2), ==, -EBADMSG);
}

/* Every member of the known manifest, one at a time: removed, and replaced
 * by a value of each other JSON type. */
static void mutate_object(JsonNode *root, JsonObject *o, const char *where, unsigned *n_checked) {
        g_autoptr(GList) members = json_object_get_members(o);
        for (GList *l = members; l; l = l->next) {
                /* Owned by the object until the member is removed. */
                g_autofree char *key = g_strdup(l->data);
                JsonNode *orig = json_node_copy(json_object_get_member(o, key));
                g_autofree char *name = g_strdup_printf("%s.%s", where, key);
                bool derived_string = g_str_has_prefix(name, ".timing.");
                bool number = streq(key, "offset_s") || streq(key, "clock_offset_s");
                /* Metadata keys are the user's: any may be absent; manifests
                 * older than clock offsets have no clock_offset_s. */
                bool optional = streq(where, ".metadata") || streq(key, "clock_offset_s");

                json_object_remove_member(o, key);
                if (!optional && parse_node(root) != -EBADMSG)
                        g_error("accepted without %s", name);

                JsonNode *values[] = {
                        json_node_init_null(json_node_alloc()),
                        json_node_init_boolean(json_node_alloc(), true),
                        json_node_init_int(json_node_alloc(), 1),
                        json_node_init_double(json_node_alloc(), 1.5),
                        json_node_init_string(json_node_alloc(), "20261123"),
                        json_node_new(JSON_NODE_ARRAY),
                        json_node_new(JSON_NODE_OBJECT),
                };
                json_node_take_array(values[5], json_array_new());
                json_node_take_object(values[6], json_object_new());
                for (size_t i = 0; i < G_N_ELEMENTS(values); i++) {
                        JsonNode *v = values[i];
                        bool same = JSON_NODE_TYPE(v) == JSON_NODE_TYPE(orig) &&
                                    (JSON_NODE_TYPE(v) != JSON_NODE_VALUE ||
                                     json_node_get_value_type(v) == json_node_get_value_type(orig));
                        bool fits = same || (derived_string && (JSON_NODE_HOLDS_NULL(v) ||
                                                                json_node_get_value_type(v) == G_TYPE_STRING)) ||
                                    (number && JSON_NODE_HOLDS_VALUE(v) &&
                                     json_node_get_value_type(v) == G_TYPE_INT64);
                        json_object_set_member(o, key, v);
                        if (!fits && parse_node(root) != -EBADMSG)
                                g_error("accepted %s of the wrong type (%s)", name,
                                        JSON_NODE_HOLDS_VALUE(v) ? g_type_name(json_node_get_value_type(v)) :
                                                                   json_node_type_name(v));
                        (*n_checked)++;
                }
                json_object_set_member(o, key, orig);
                g_assert_cmpint(parse_node(root), ==, 0);

                if (JSON_NODE_HOLDS_OBJECT(orig))
                        mutate_object(root, json_node_get_object(orig), name, n_checked);
                else if (JSON_NODE_HOLDS_ARRAY(orig)) {
                        JsonArray *a = json_node_get_array(orig);
                        for (guint i = 0; i < json_array_get_length(a); i++) {
                                JsonNode *e = json_array_get_element(a, i);
                                if (JSON_NODE_HOLDS_OBJECT(e))
                                        mutate_object(root, json_node_get_object(e), name, n_checked);
                        }
                }
        }
}

static void test_reject_types(void) {
        g_autoptr(JsonNode) root = golden_node();
        unsigned n = 0;
        g_assert_cmpint(parse_node(root), ==, 0);
        mutate_object(root, json_node_get_object(root), "", &n);
        g_assert_cmpuint(n, >, 200);

        /* Array elements of the wrong type. */
        JsonObject *o = json_node_get_object(root);
        json_array_add_int_element(json_object_get_array_member(o, "missing"), 1);
        g_assert_cmpint(parse_node(root), ==, -EBADMSG);
        json_array_remove_element(json_object_get_array_member(o, "missing"), 1);
        json_array_add_string_element(json_object_get_array_member(o, "files"), "x");
        g_assert_cmpint(parse_node(root), ==, -EBADMSG);
        json_array_remove_element(json_object_get_array_member(o, "files"), 4);
        g_assert_cmpint(parse_node(root), ==, 0);
}

typedef struct Case {
        const char *object; /* NULL: the root; "trigger", "window", "file" (the first file) */
        const char *key;
        const char *json; /* the new value */
        int want;
} Case;

static void test_reject_values(void) {
        static const Case cases[] = {
                { NULL, "number", "0", -EBADMSG },
                { NULL, "number", "4294967296", -EBADMSG },
                { NULL, "number", "-4", -EBADMSG },
                { NULL, "number", "99999999999999999999999", -EBADMSG },
                { NULL, "number", "4.0", -EBADMSG },
                { NULL, "number", "5", -EBADMSG }, /* the id says 004 */
                { NULL, "id", "\"20261123-4\"", -EBADMSG },
                { NULL, "id", "\"20261123-005\"", -EBADMSG },
                { NULL, "date", "\"20261131\"", -EBADMSG },
                { NULL, "date", "\"2026112\"", -EBADMSG },
                { NULL, "date", "20261123", -EBADMSG },
                { NULL, "status", "\"done\"", -EBADMSG },
                { NULL, "status", "\"Complete\"", -EBADMSG },
                { NULL, "status", "\"collecting\"", 0 },
                { "trigger", "time", "\"2026-11-23T14:05:09.123456\"", -EBADMSG },
                { "trigger", "time", "\"yesterday\"", -EBADMSG },
                { "window", "end", "\"2026-11-23T25:05:09.123456+01:00\"", -EBADMSG },
                { "file", "kind", "0", -EBADMSG },
                { "file", "kind", "65537", -EBADMSG },
                { "file", "kind", "65536", 0 },
                { "file", "size", "-1", -EBADMSG },
                { "file", "size", "1e300", -EBADMSG },
                { "file", "size", "9223372036854775807", 0 },
                { "file", "sha256", "\"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\"", -EBADMSG },
                { "file", "sha256", "\"ba7816bf\"", -EBADMSG },
                { "file", "sha256", "\"" SHA_ABC "ff\"", -EBADMSG },
                { "file", "sha256", "\"\"", 0 },
                { "file", "late", "0", -EBADMSG },
                { "file", "offset_s", "\"1.5\"", -EBADMSG },
                { "file", "offset_s", "-3", 0 },
                { "file", "mtime", "\"2026-11-23T14:05:09.123456Z\"", 0 },
                { NULL, "metadata", "{\"k\": 1}", -EBADMSG },
                { NULL, "metadata", "{\"k\": null}", -EBADMSG },
                { NULL, "metadata", "{\"k\": \"v\", \"k2\": \"\"}", 0 },
                { NULL, "missing", "[\"a\", null]", -EBADMSG },
                { NULL, "missing", "[]", 0 },
                { NULL, "files", "[]", 0 },
                { NULL, "timing", "{}", -EBADMSG },
                /* Forward compatibility: keys a later version may add. */
                { NULL, "shotsync_version", "\"2.0\"", 0 },
                { "file", "exposure_us", "1200", 0 },
                { "trigger", "source", "{\"kind\": \"fire\"}", 0 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                const Case *c = &cases[i];
                g_autoptr(JsonNode) root = golden_node();
                JsonObject *o = json_node_get_object(root);
                if (c->object && streq(c->object, "file"))
                        o = file_object(root, 0);
                else if (c->object)
                        o = json_object_get_object_member(o, c->object);

                g_autoptr(JsonParser) p = json_parser_new();
                g_assert_true(json_parser_load_from_data(p, c->json, -1, NULL));
                json_object_set_member(o, c->key, json_node_copy(json_parser_get_root(p)));
                int r = parse_node(root);
                if (r != c->want)
                        g_error("case %zu: %s.%s = %s: got %d, want %d", i, c->object ?: "", c->key, c->json, r,
                                c->want);
        }
}

/* A few hundred random edits of a valid manifest's text: each parses or is
 * refused, never crashes, and what parses writes out and reads back. */
static void test_fuzz(void) {
        g_autoptr(Manifest) m = known_manifest();
        g_autofree char *good = to_data(m);
        size_t len = strlen(good);
        static const char tokens[] = "{}[]\",:0123456789.-+eE \\tfnu";
        unsigned accepted = 0, n = g_test_slow() ? 20000 : 500;

        for (unsigned i = 0; i < n; i++) {
                GString *s = g_string_new_len(good, (gssize) len);
                unsigned edits = (unsigned) g_test_rand_int_range(1, 4);
                for (unsigned e = 0; e < edits && s->len > 0; e++) {
                        gsize at = (gsize) g_test_rand_int_range(0, (gint32) s->len);
                        gsize span = (gsize) g_test_rand_int_range(1, 40); /* not inside MIN(): evaluated twice */
                        span = MIN(span, s->len - at);
                        switch (g_test_rand_int_range(0, 5)) {
                        case 0: /* a structural character */
                                s->str[at] = tokens[g_test_rand_int_range(0, sizeof tokens - 1)];
                                break;
                        case 1: /* any byte */
                                s->str[at] = (char) g_test_rand_int_range(1, 256);
                                break;
                        case 2: /* a span removed */
                                g_string_erase(s, (gssize) at, (gssize) span);
                                break;
                        case 3: { /* a span repeated */
                                g_autofree char *copy = g_strndup(s->str + at, span);
                                g_string_insert(s, (gssize) at, copy);
                                break;
                        }
                        default: /* a digit run made huge */
                                g_string_insert(s, (gssize) at, "99999999999999999999");
                                break;
                        }
                }

                g_autoptr(Manifest) back = NULL;
                int r = manifest_from_data(s->str, s->len, &back);
                g_assert_true(r == 0 || r == -EBADMSG);
                if (r == 0) {
                        /* An edit may add digits to a fraction: the text
                         * written back is the fixed point, not the edit
                         * itself. */
                        accepted++;
                        g_autofree char *text = to_data(back);
                        g_autoptr(Manifest) again = NULL;
                        g_assert_cmpint(manifest_from_data(text, strlen(text), &again), ==, 0);
                        g_autofree char *text2 = to_data(again);
                        g_assert_cmpstr(text, ==, text2);
                }
                g_string_free(s, true);
        }
        g_test_message("%u of %u mutations still parsed", accepted, n);
}

static void check_iso(const char *s, nsec_t want) {
        nsec_t t;
        int r = parse_iso8601(s, &t);
        if (r < 0)
                g_error("parse_iso8601(\"%s\") = %d", s, r);
        g_assert_cmpint(t, ==, want);
}

static void test_iso8601(void) {
        nsec_t t = trigger_time();
        check_iso("2026-11-23T14:05:09.123456+01:00", t);
        check_iso("2026-11-23T13:05:09.123456Z", t);
        check_iso("2026-11-23T08:35:09.123456-04:30", t);
        check_iso("2026-11-23T14:05:09.1234567+01:00", t + 700);
        check_iso("2026-11-23T14:05:09.123456789+01:00", t + 789);
        check_iso("2026-11-23T14:05:09.1+01:00", t - 23456 * US);
        check_iso("2026-11-23T14:05:09+01:00", t - 123456 * US);
        check_iso("1970-01-01T00:00:00.000000Z", 0);
        check_iso("1969-12-31T23:59:59.500000Z", -500 * MS);
        check_iso("2024-02-29T12:00:00Z", (nsec_t) 1709208000 * NSEC_PER_SEC);
        check_iso("2262-04-11T23:47:16.854775807Z", INT64_MAX);
        check_iso("1677-09-21T00:12:43.145224192Z", INT64_MIN);

        /* The repeated hour of the autumn change: the offset tells which. */
        nsec_t a, b;
        g_assert_cmpint(parse_iso8601("2026-10-25T02:30:00.000000+02:00", &a), ==, 0);
        g_assert_cmpint(parse_iso8601("2026-10-25T02:30:00.000000+01:00", &b), ==, 0);
        g_assert_cmpint(b - a, ==, 3600 * NSEC_PER_SEC);

        static const char *const bad[] = {
                "",
                "2026-11-23T14:05:09.123456",
                "2026-11-23 14:05:09.123456+01:00",
                "2026-11-23t14:05:09.123456+01:00",
                "2026-11-23T14:05:09.123456z",
                "2026-11-23T14:05:09.+01:00",
                "2026-11-23T14:05:09.1234567890+01:00",
                "2026-11-23T14:05:09.123456+01",
                "2026-11-23T14:05:09.123456+0100",
                "2026-11-23T14:05:09.123456+01:00 ",
                "2026-11-23T14:05:09.123456+01:00x",
                " 2026-11-23T14:05:09.123456+01:00",
                "2026-02-29T00:00:00Z",
                "2026-04-31T00:00:00Z",
                "2026-13-01T00:00:00Z",
                "2026-00-01T00:00:00Z",
                "2026-11-00T00:00:00Z",
                "2026-11-23T24:00:00Z",
                "2026-11-23T23:60:00Z",
                "2026-11-23T23:59:60Z",
                "2026-11-23T14:05:09+24:00",
                "2026-11-23T14:05:09+01:60",
                "0000-01-01T00:00:00Z",
                "+2026-11-23T14:05:09Z",
                "26-11-23T14:05:09Z",
                "2026-1-23T14:05:09Z",
                "2026-11-23T14:05:09.-12345Z",
                "invalid",
        };
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                nsec_t x = 42;
                if (parse_iso8601(bad[i], &x) >= 0)
                        g_error("parse_iso8601(\"%s\") accepted", bad[i]);
                g_assert_cmpint(x, ==, 42);
        }
        nsec_t x;
        g_assert_cmpint(parse_iso8601("2262-04-11T23:47:16.854775808Z", &x), ==, -ERANGE);
        g_assert_cmpint(parse_iso8601("9999-12-31T23:59:59Z", &x), ==, -ERANGE);
        g_assert_cmpint(parse_iso8601("1000-01-01T00:00:00Z", &x), ==, -ERANGE);
        g_assert_cmpint(parse_iso8601(NULL, &x), ==, -EINVAL);
}

/* What format_iso8601() writes in Europe/Paris comes back to the
 * microsecond, through both 2026 changes and the hours around them. */
static void test_iso8601_dst(void) {
        static const struct {
                nsec_t utc; /* the change */
                const char *before, *after;
        } changes[] = {
                { (nsec_t) 1774746000 * NSEC_PER_SEC, "2026-03-29T01:59:59.999999+01:00",
                  "2026-03-29T03:00:00.000000+02:00" },
                { (nsec_t) 1792890000 * NSEC_PER_SEC, "2026-10-25T02:59:59.999999+02:00",
                  "2026-10-25T02:00:00.000000+01:00" },
        };
        unsigned n = 0;

        for (size_t c = 0; c < G_N_ELEMENTS(changes); c++) {
                char buf[ISO8601_MAX];
                g_assert_cmpstr(format_iso8601(changes[c].utc - US, buf), ==, changes[c].before);
                g_assert_cmpstr(format_iso8601(changes[c].utc, buf), ==, changes[c].after);

                for (nsec_t t = changes[c].utc - 3 * 3600 * NSEC_PER_SEC; t <= changes[c].utc + 3 * 3600 * NSEC_PER_SEC;
                     t += 7 * 60 * NSEC_PER_SEC + 13 * NSEC_PER_SEC + 17 * US + 5, n++) {
                        nsec_t back;
                        format_iso8601(t, buf);
                        g_assert_cmpint(parse_iso8601(buf, &back), ==, 0);
                        g_assert_cmpint(back, ==, t - t % US);
                }
                for (nsec_t d = -2 * NSEC_PER_SEC; d <= 2 * NSEC_PER_SEC; d += 250 * MS + 1 * US, n++) {
                        nsec_t back;
                        format_iso8601(changes[c].utc + d, buf);
                        g_assert_cmpint(parse_iso8601(buf, &back), ==, 0);
                        g_assert_cmpint(back, ==, changes[c].utc + d);
                }
        }
        g_assert_cmpuint(n, >, 100);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/manifest/golden", test_golden);
        g_test_add_func("/manifest/round-trip", test_round_trip);
        g_test_add_func("/manifest/microseconds", test_microseconds);
        g_test_add_func("/manifest/offset", test_offset);
        g_test_add_func("/manifest/timing", test_timing);
        g_test_add_func("/manifest/metadata-sorted", test_metadata_sorted);
        g_test_add_func("/manifest/strings", test_strings);
        g_test_add_func("/manifest/add-file", test_add_file);
        g_test_add_func("/manifest/reject-text", test_reject_text);
        g_test_add_func("/manifest/reject-types", test_reject_types);
        g_test_add_func("/manifest/reject-values", test_reject_values);
        g_test_add_func("/manifest/fuzz", test_fuzz);
        g_test_add_func("/manifest/iso8601", test_iso8601);
        g_test_add_func("/manifest/iso8601-dst", test_iso8601_dst);

        return g_test_run();
}
