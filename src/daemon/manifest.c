/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Shot manifests (SPEC §3). The key set and the formats are a contract with
 * the lab's scripts: the writer emits every key, always in the same order;
 * the reader checks every type and accepts keys it does not know, so that a
 * newer daemon's manifests still read. */

#include <glib.h>
#include <stdio.h>

#include "json-util.h"
#include "manifest.h"

/* Manifests are 4 levels deep; json-glib parses recursively, and a deeply
 * nested file would exhaust the stack before it could be refused. */
#define JSON_DEPTH_MAX 32

Manifest *manifest_new(void) {
        Manifest *m = g_new0(Manifest, 1);
        m->metadata = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        return m;
}

Manifest *manifest_free(Manifest *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_files; i++) {
                g_free(m->files[i].camera);
                g_free(m->files[i].raw_path);
                g_free(m->files[i].clean_path);
        }
        g_free(m->files);
        g_free(m->trigger_camera);
        g_free(m->trigger_path);
        g_strfreev(m->missing);
        if (m->metadata)
                g_hash_table_unref(m->metadata);
        g_free(m);
        return NULL;
}

ManifestFile *manifest_add_file(Manifest *m, const char *camera, unsigned kind, const char *raw_path, nsec_t mtime,
                                const char *clean_path, bool late) {
        m->files = g_renew(ManifestFile, m->files, m->n_files + 1);
        ManifestFile *f = &m->files[m->n_files++];
        *f = (ManifestFile) {
                .camera = g_strdup(camera ?: ""),
                .kind = kind,
                .raw_path = g_strdup(raw_path ?: ""),
                .mtime = mtime,
                .clean_path = g_strdup(clean_path ?: ""),
                .late = late,
        };
        return f;
}

/* The instant as the manifest prints it: format_iso8601() drops what is
 * below the microsecond, towards the past. */
static nsec_t floor_usec(nsec_t t) {
        nsec_t r = t % NSEC_PER_USEC;
        return r < 0 ? sat_sub(t - r, NSEC_PER_USEC) : t - r;
}

/* mtime - trigger in seconds, between the instants as printed: offset_s then
 * agrees with the two time strings to the last digit, and a manifest read
 * back and written again (metadata set after a restart) keeps its bytes. A
 * double holds every microsecond of ±285 years, and the division rounds
 * once. */
static double offset_seconds(nsec_t mtime, nsec_t trigger) {
        nsec_t d = sat_sub(floor_usec(mtime), floor_usec(trigger));
        return (double) (d / NSEC_PER_USEC) / (double) USEC_PER_SEC;
}

double manifest_seconds(nsec_t d) {
        return (double) (d / NSEC_PER_USEC) / (double) USEC_PER_SEC;
}

/* Callers store names escaped; a name that is still not UTF-8 (a camera
 * folder's raw name) is escaped by json_add_string(), so that the output is
 * always JSON. */

static void add_time(JsonBuilder *b, const char *key, nsec_t t) {
        char buf[ISO8601_MAX];
        json_add_string(b, key, format_iso8601(t, buf));
}

static int compare_str(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

JsonNode *manifest_to_json(const Manifest *m) {
        const char *status = m ? shot_status_to_string(m->status) : NULL;
        g_return_val_if_fail(status, NULL);

        g_autoptr(JsonBuilder) b = json_builder_new();
        char date[16];
        snprintf(date, sizeof date, "%08" PRIu32, m->date);

        json_builder_begin_object(b);
        json_add_string(b, "id", m->id);
        json_add_string(b, "date", date);
        json_add_int(b, "number", m->number);
        json_add_string(b, "status", status);

        json_builder_set_member_name(b, "trigger");
        json_builder_begin_object(b);
        json_add_string(b, "camera", m->trigger_camera);
        json_add_string(b, "path", m->trigger_path);
        add_time(b, "time", m->trigger_time);
        json_builder_end_object(b);

        json_builder_set_member_name(b, "window");
        json_builder_begin_object(b);
        add_time(b, "start", m->window_start);
        add_time(b, "end", m->window_end);
        json_builder_end_object(b);

        /* Ties go to the file listed first. */
        const ManifestFile *first = NULL, *last = NULL;
        json_builder_set_member_name(b, "files");
        json_builder_begin_array(b);
        for (size_t i = 0; i < m->n_files; i++) {
                const ManifestFile *f = &m->files[i];
                if (!first || f->mtime < first->mtime)
                        first = f;
                if (!last || f->mtime > last->mtime)
                        last = f;

                json_builder_begin_object(b);
                json_add_string(b, "camera", f->camera);
                json_add_int(b, "kind", f->kind);
                json_add_string(b, "raw_path", f->raw_path);
                add_time(b, "mtime", f->mtime);
                json_add_double(b, "offset_s", offset_seconds(f->mtime, m->trigger_time));
                if (f->clock_offset_known)
                        json_add_double(b, "clock_offset_s", manifest_seconds(f->clock_offset));
                json_add_string(b, "clean_path", f->clean_path);
                json_add_int(b, "size", (int64_t) MIN(f->size, (uint64_t) INT64_MAX));
                json_add_string(b, "sha256", strnlen(f->sha256, 64) == 64 ? f->sha256 : "");
                json_add_bool(b, "late", f->late);
                json_builder_end_object(b);
        }
        json_builder_end_array(b);

        json_builder_set_member_name(b, "missing");
        json_builder_begin_array(b);
        for (char **c = m->missing; c && *c; c++)
                json_add_string(b, NULL, *c);
        json_builder_end_array(b);

        json_builder_set_member_name(b, "timing");
        json_builder_begin_object(b);
        if (first) {
                add_time(b, "min_mtime", first->mtime);
                add_time(b, "max_mtime", last->mtime);
                json_add_string(b, "first_camera", first->camera);
                json_add_string(b, "last_camera", last->camera);
        } else {
                static const char *const keys[] = { "min_mtime", "max_mtime", "first_camera", "last_camera" };
                for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                        json_builder_set_member_name(b, keys[i]);
                        json_builder_add_null_value(b);
                }
        }
        json_builder_end_object(b);

        json_builder_set_member_name(b, "metadata");
        json_builder_begin_object(b);
        if (m->metadata) {
                guint n;
                g_autofree const char **keys =
                        (const char **) g_hash_table_get_keys_as_array(m->metadata, &n);
                qsort_safe(keys, n, sizeof *keys, compare_str);
                for (guint i = 0; i < n; i++) {
                        g_autofree char *key = g_utf8_validate(keys[i], -1, NULL) ? g_strdup(keys[i]) :
                                                                                     utf8_escape_invalid(keys[i]);
                        json_add_string(b, key, g_hash_table_lookup(m->metadata, keys[i]));
                }
        }
        json_builder_end_object(b);

        json_builder_end_object(b);
        return json_builder_get_root(b);
}

char *manifest_to_data(const Manifest *m, size_t *ret_len) {
        g_autoptr(JsonNode) root = manifest_to_json(m);
        if (!root)
                return NULL;

        g_autoptr(JsonGenerator) g = json_generator_new();
        json_generator_set_pretty(g, true);
        json_generator_set_indent(g, 2);
        json_generator_set_root(g, root);

        gsize len;
        g_autofree char *text = json_generator_to_data(g, &len);
        char *out = g_malloc(len + 2);
        memcpy(out, text, len);
        out[len] = '\n';
        out[len + 1] = 0;
        if (ret_len)
                *ret_len = len + 1;
        return out;
}

/* Reading: every helper returns -EBADMSG for a missing key or a wrong type. */

static bool node_is(JsonNode *n, GType type) {
        return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == type;
}

static int get_object(JsonObject *o, const char *key, JsonObject **ret) {
        *ret = json_get_object(o, key);
        return *ret ? 0 : -EBADMSG;
}

static int get_array(JsonObject *o, const char *key, JsonArray **ret) {
        *ret = json_get_array(o, key);
        return *ret ? 0 : -EBADMSG;
}

static int get_string(JsonObject *o, const char *key, const char **ret) {
        JsonNode *n = json_value_member(o, key, G_TYPE_STRING);
        if (!n)
                return -EBADMSG;
        *ret = json_node_get_string(n);
        return 0;
}

/* A string or null: for values derived from the rest, checked but unused. */
static int check_string_or_null(JsonObject *o, const char *key) {
        JsonNode *n = json_object_get_member(o, key);
        return n && (JSON_NODE_HOLDS_NULL(n) || node_is(n, G_TYPE_STRING)) ? 0 : -EBADMSG;
}

static int get_int(JsonObject *o, const char *key, int64_t min, int64_t max, int64_t *ret) {
        JsonNode *n = json_value_member(o, key, G_TYPE_INT64);
        if (!n)
                return -EBADMSG;
        int64_t v = json_node_get_int(n);
        if (v < min || v > max)
                return -EBADMSG;
        *ret = v;
        return 0;
}

static int get_bool(JsonObject *o, const char *key, bool *ret) {
        JsonNode *n = json_value_member(o, key, G_TYPE_BOOLEAN);
        if (!n)
                return -EBADMSG;
        *ret = json_node_get_boolean(n);
        return 0;
}

static int get_time(JsonObject *o, const char *key, nsec_t *ret) {
        const char *s;
        if (get_string(o, key, &s) < 0 || parse_iso8601(s, ret) < 0)
                return -EBADMSG;
        return 0;
}

static bool is_sha256(const char *s) {
        if (!*s)
                return true; /* not known */
        for (size_t i = 0; i < 64; i++)
                if (!g_ascii_isdigit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
                        return false;
        return s[64] == 0;
}

static int file_from_json(JsonNode *node, Manifest *m) {
        if (!node || JSON_NODE_TYPE(node) != JSON_NODE_OBJECT)
                return -EBADMSG;
        JsonObject *o = json_node_get_object(node);

        const char *camera, *raw_path, *clean_path, *sha256;
        int64_t kind, size;
        nsec_t mtime;
        bool late;
        if (get_string(o, "camera", &camera) < 0 || get_int(o, "kind", 1, (int64_t) UINT16_MAX + 1, &kind) < 0 ||
            get_string(o, "raw_path", &raw_path) < 0 || get_time(o, "mtime", &mtime) < 0 ||
            get_string(o, "clean_path", &clean_path) < 0 || get_int(o, "size", 0, INT64_MAX, &size) < 0 ||
            get_string(o, "sha256", &sha256) < 0 || !is_sha256(sha256) || get_bool(o, "late", &late) < 0)
                return -EBADMSG;
        /* Derived from mtime and the trigger: only its type is checked. */
        JsonNode *off = json_object_get_member(o, "offset_s");
        if (!node_is(off, G_TYPE_DOUBLE) && !node_is(off, G_TYPE_INT64))
                return -EBADMSG;
        /* Manifests written before clock offsets were learned have none. */
        JsonNode *clock = json_object_get_member(o, "clock_offset_s");
        if (clock && !node_is(clock, G_TYPE_DOUBLE) && !node_is(clock, G_TYPE_INT64))
                return -EBADMSG;

        ManifestFile *f = manifest_add_file(m, camera, (unsigned) kind, raw_path, mtime, clean_path, late);
        if (clock) {
                double s = json_node_get_double(clock);
                if (!(s >= -86400 && s <= 86400))
                        return -EBADMSG;
                /* Microseconds, as written: read back and written again, the bytes stay. */
                f->clock_offset = (nsec_t) (s * 1e6 + (s < 0 ? -0.5 : 0.5)) * NSEC_PER_USEC;
                f->clock_offset_known = true;
        }
        f->size = (uint64_t) size;
        g_strlcpy(f->sha256, sha256, sizeof f->sha256);
        return 0;
}

int manifest_from_json(JsonNode *node, Manifest **ret) {
        if (!node || JSON_NODE_TYPE(node) != JSON_NODE_OBJECT || !ret)
                return -EBADMSG;
        JsonObject *o = json_node_get_object(node);
        g_autoptr(Manifest) m = manifest_new();

        const char *id, *date, *status, *camera, *path;
        int64_t number;
        if (get_string(o, "id", &id) < 0 || get_string(o, "date", &date) < 0 || parse_date(date, &m->date) < 0 ||
            get_int(o, "number", 1, UINT32_MAX, &number) < 0 || get_string(o, "status", &status) < 0 ||
            shot_status_from_string(status, &m->status) < 0)
                return -EBADMSG;
        m->number = (uint32_t) number;
        /* The id is derived too, but it is what everyone looks shots up by:
         * a manifest whose id disagrees with its date and number is not one
         * of ours. */
        if (shot_format_id(m->date, m->number, m->id) < 0 || !streq(id, m->id))
                return -EBADMSG;

        JsonObject *trigger, *window, *timing, *metadata;
        if (get_object(o, "trigger", &trigger) < 0 || get_string(trigger, "camera", &camera) < 0 ||
            get_string(trigger, "path", &path) < 0 || get_time(trigger, "time", &m->trigger_time) < 0)
                return -EBADMSG;
        m->trigger_camera = g_strdup(camera);
        m->trigger_path = g_strdup(path);

        if (get_object(o, "window", &window) < 0 || get_time(window, "start", &m->window_start) < 0 ||
            get_time(window, "end", &m->window_end) < 0)
                return -EBADMSG;

        JsonArray *files, *missing;
        if (get_array(o, "files", &files) < 0)
                return -EBADMSG;
        for (guint i = 0, n = json_array_get_length(files); i < n; i++)
                if (file_from_json(json_array_get_element(files, i), m) < 0)
                        return -EBADMSG;

        if (get_array(o, "missing", &missing) < 0)
                return -EBADMSG;
        guint n_missing = json_array_get_length(missing);
        m->missing = g_new0(char *, n_missing + 1);
        for (guint i = 0; i < n_missing; i++) {
                JsonNode *c = json_array_get_element(missing, i);
                if (!node_is(c, G_TYPE_STRING))
                        return -EBADMSG;
                m->missing[i] = g_strdup(json_node_get_string(c));
        }

        /* Derived from the files: only the types are checked. */
        if (get_object(o, "timing", &timing) < 0 || check_string_or_null(timing, "min_mtime") < 0 ||
            check_string_or_null(timing, "max_mtime") < 0 || check_string_or_null(timing, "first_camera") < 0 ||
            check_string_or_null(timing, "last_camera") < 0)
                return -EBADMSG;

        if (get_object(o, "metadata", &metadata) < 0)
                return -EBADMSG;
        JsonObjectIter it;
        const char *key;
        JsonNode *value;
        json_object_iter_init(&it, metadata);
        while (json_object_iter_next(&it, &key, &value)) {
                if (!node_is(value, G_TYPE_STRING))
                        return -EBADMSG;
                g_hash_table_replace(m->metadata, g_strdup(key), g_strdup(json_node_get_string(value)));
        }

        *ret = g_steal_pointer(&m);
        return 0;
}

static bool nesting_ok(const char *data, size_t len) {
        unsigned depth = 0;
        bool in_string = false;

        for (size_t i = 0; i < len; i++) {
                char c = data[i];
                if (in_string) {
                        if (c == '\\')
                                i++;
                        else if (c == '"')
                                in_string = false;
                } else if (c == '"')
                        in_string = true;
                else if (c == '[' || c == '{') {
                        if (++depth > JSON_DEPTH_MAX)
                                return false;
                } else if ((c == ']' || c == '}') && depth > 0)
                        depth--;
        }
        return true;
}

int manifest_from_data(const char *data, size_t len, Manifest **ret) {
        if (!data || len > G_MAXSSIZE || !nesting_ok(data, len))
                return -EBADMSG;

        g_autoptr(JsonParser) p = json_parser_new();
        if (!json_parser_load_from_data(p, data, (gssize) len, NULL))
                return -EBADMSG;
        return manifest_from_json(json_parser_get_root(p), ret);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned) (y - era * 400);
        unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t) doe - 719468;
}

/* n decimal digits at *p, advancing it; -1 when they are not all there. */
static int digits(const char **p, unsigned n) {
        int v = 0;
        for (unsigned i = 0; i < n; i++, (*p)++) {
                if (!g_ascii_isdigit(**p))
                        return -1;
                v = v * 10 + (**p - '0');
        }
        return v;
}

static bool expect(const char **p, char c) {
        if (**p != c)
                return false;
        (*p)++;
        return true;
}

/* The offset in the text decides the instant, so the time zone of whoever
 * reads does not matter and the repeated hour of a DST change is
 * unambiguous. Fractions of 1 to 9 digits are taken exactly. */
int parse_iso8601(const char *s, nsec_t *ret) {
        if (!s || !ret)
                return -EINVAL;

        const char *p = s;
        int y = digits(&p, 4);
        if (y < 1 || !expect(&p, '-'))
                return -EINVAL;
        int mo = digits(&p, 2);
        if (mo < 1 || mo > 12 || !expect(&p, '-'))
                return -EINVAL;
        int d = digits(&p, 2);
        if (d < 1 || d > g_date_get_days_in_month((GDateMonth) mo, (GDateYear) y) || !expect(&p, 'T'))
                return -EINVAL;
        int h = digits(&p, 2);
        if (h < 0 || h > 23 || !expect(&p, ':'))
                return -EINVAL;
        int mi = digits(&p, 2);
        if (mi < 0 || mi > 59 || !expect(&p, ':'))
                return -EINVAL;
        int sec = digits(&p, 2);
        if (sec < 0 || sec > 59)
                return -EINVAL;

        nsec_t frac = 0;
        if (expect(&p, '.')) {
                unsigned n = 0;
                for (; g_ascii_isdigit(*p); p++, n++) {
                        if (n >= 9)
                                return -EINVAL;
                        frac = frac * 10 + (*p - '0');
                }
                if (n == 0)
                        return -EINVAL;
                for (; n < 9; n++)
                        frac *= 10;
        }

        int64_t offset = 0;
        if (!expect(&p, 'Z')) {
                int sign = *p == '+' ? 1 : *p == '-' ? -1 : 0;
                if (sign == 0)
                        return -EINVAL;
                p++;
                int oh = digits(&p, 2);
                if (oh < 0 || oh > 23 || !expect(&p, ':'))
                        return -EINVAL;
                int om = digits(&p, 2);
                if (om < 0 || om > 59)
                        return -EINVAL;
                offset = sign * (oh * 3600 + om * 60);
        }
        if (*p)
                return -EINVAL;

        int64_t secs = days_from_civil(y, (unsigned) mo, (unsigned) d) * 86400 + h * 3600 + mi * 60 + sec - offset;
        /* Borrow a second so that the product stays in range down to INT64_MIN. */
        if (secs < 0 && frac > 0) {
                secs++;
                frac -= NSEC_PER_SEC;
        }
        nsec_t t;
        if (__builtin_mul_overflow(secs, NSEC_PER_SEC, &t) || __builtin_add_overflow(t, frac, &t))
                return -ERANGE;
        *ret = t;
        return 0;
}
