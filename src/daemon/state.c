/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <stdio.h>
#include <json-glib/json-glib.h>
#include <sys/stat.h>

#include "json-util.h"
#include "state.h"

/* 4: state.json is a base that a journal extends; 3: shots record their
 * RawRoot, late grace and kinds, one file each in shots/; 2: the first.
 * Older versions are read too (what they lack takes today's configuration).
 * Clock estimates ("clocks", "clock_reference"), a file's offset and a
 * shot's duplicate triggers are optional members: a state without them has
 * them learned again. */
#define STATE_VERSION 4
#define STATE_VERSION_MIN 2
#define STATE_FILE "state.json"
#define JOURNAL_FILE "journal"
#define FORGOTTEN_FILE "forgotten2.bin"
#define LEGACY_FORGOTTEN_FILE "forgotten.bin"
#define SHOTS_DIR "shots"

StateSnapshot *state_snapshot_new(void) {
        return g_new0(StateSnapshot, 1);
}


void state_shot_clear(StateShot *sh) {
        g_free(sh->trigger_camera);
        g_strfreev(sh->expected);
        g_free(sh->raw_root);
        for (size_t i = 0; i < sh->n_kinds; i++) {
                g_free(sh->kinds[i].camera);
                g_strfreev(sh->kinds[i].ids);
        }
        g_free(sh->kinds);
        for (size_t i = 0; i < sh->n_files; i++) {
                g_free(sh->files[i].path);
                g_free(sh->files[i].camera);
        }
        g_free(sh->files);
        if (sh->metadata)
                g_hash_table_unref(sh->metadata);
        g_strfreev(sh->duplicate_triggers);
        *sh = (StateShot) {};
}

GHashTable *state_metadata_copy(GHashTable *from) {
        GHashTable *to = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        if (from) {
                GHashTableIter it;
                void *k, *v;
                g_hash_table_iter_init(&it, from);
                while (g_hash_table_iter_next(&it, &k, &v))
                        g_hash_table_insert(to, g_strdup(k), g_strdup(v));
        }
        return to;
}

void state_shot_copy(const StateShot *from, StateShot *to) {
        *to = *from;
        to->trigger_camera = g_strdup(from->trigger_camera);
        to->expected = g_strdupv(from->expected);
        to->raw_root = g_strdup(from->raw_root);
        to->kinds = g_new(StateKinds, MAX(from->n_kinds, 1u));
        for (size_t i = 0; i < from->n_kinds; i++) {
                to->kinds[i].camera = g_strdup(from->kinds[i].camera);
                to->kinds[i].ids = g_strdupv(from->kinds[i].ids);
        }
        to->files = g_new(StateFile, MAX(from->n_files, 1u));
        for (size_t i = 0; i < from->n_files; i++) {
                to->files[i] = from->files[i];
                to->files[i].path = g_strdup(from->files[i].path);
                to->files[i].camera = g_strdup(from->files[i].camera);
        }
        to->metadata = state_metadata_copy(from->metadata);
        to->duplicate_triggers = g_strdupv(from->duplicate_triggers);
}

StateSnapshot *state_snapshot_free(StateSnapshot *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_shots; i++)
                state_shot_clear(&s->shots[i]);
        g_free(s->shots);
        for (size_t i = 0; i < s->n_counters; i++)
                g_free(s->counters[i].ranges);
        g_free(s->counters);
        state_clocks_clear(s);
        g_free(s->forget);
        g_free(s->last_shot);
        g_free(s->raw_root);
        if (s->removed)
                g_ptr_array_unref(s->removed);
        if (s->bad)
                g_ptr_array_unref(s->bad);
        g_free(s);
        return NULL;
}

StateShot *state_snapshot_add_shot(StateSnapshot *s) {
        s->shots = g_renew(StateShot, s->shots, s->n_shots + 1);
        StateShot *sh = &s->shots[s->n_shots++];
        *sh = (StateShot) {
                .late_grace = -1,
                .metadata = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
        };
        return sh;
}

const StateKinds *state_shot_kinds(const StateShot *sh, const char *camera) {
        for (size_t i = 0; i < sh->n_kinds; i++)
                if (streq(sh->kinds[i].camera, camera))
                        return &sh->kinds[i];
        return NULL;
}

StateKinds *state_shot_add_kinds(StateShot *sh, const char *camera) {
        sh->kinds = g_renew(StateKinds, sh->kinds, sh->n_kinds + 1);
        StateKinds *k = &sh->kinds[sh->n_kinds++];
        *k = (StateKinds) { .camera = g_strdup(camera) };
        return k;
}

StateFile *state_shot_add_file(StateShot *sh) {
        sh->files = g_renew(StateFile, sh->files, sh->n_files + 1);
        StateFile *f = &sh->files[sh->n_files++];
        *f = (StateFile) {};
        return f;
}

void state_snapshot_add_counter(StateSnapshot *s, uint32_t date, uint32_t next, const uint32_t *ranges,
                                uint32_t n_ranges) {
        s->counters = g_renew(StateCounter, s->counters, s->n_counters + 1);
        StateCounter *c = &s->counters[s->n_counters++];
        *c = (StateCounter) {
                .date = date,
                .next = next,
                .ranges = g_memdup2(ranges, (gsize) n_ranges * 2 * sizeof(uint32_t)),
                .n_ranges = n_ranges,
        };
}

/* ---- to JSON ---- */

/* Names are always escaped here (backslashes too): reading them back with
 * utf8_unescape() gives the exact bytes, whatever they were. */
static void add_escaped(JsonBuilder *b, const char *key, const char *value) {
        g_autofree char *e = utf8_escape_invalid(value);
        json_add_string(b, key, e);
}

static int strptr_cmp(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void build_shot(JsonBuilder *b, const StateShot *sh) {
        json_builder_begin_object(b);
        json_add_int(b, "date", sh->date);
        json_add_int(b, "number", sh->number);
        json_add_string(b, "status", shot_status_to_string(sh->status));
        add_escaped(b, "trigger_camera", sh->trigger_camera ?: "");
        json_add_bool(b, "fire", !sh->trigger_camera);
        json_add_int(b, "trigger_time", sh->trigger_time);
        json_add_int(b, "window_start", sh->window_start);
        json_add_int(b, "window_end", sh->window_end);
        json_add_int(b, "opened", sh->opened);
        json_add_int(b, "closed", sh->closed);
        json_add_int(b, "deadline", sh->deadline);
        json_add_bool(b, "live", sh->live);
        json_add_bool(b, "needs_publish", sh->needs_publish);
        json_add_bool(b, "announced", sh->announced);

        json_builder_set_member_name(b, "expected");
        json_builder_begin_array(b);
        for (char **c = sh->expected; c && *c; c++)
                add_escaped(b, NULL, *c);
        json_builder_end_array(b);
        if (sh->raw_root)
                add_escaped(b, "raw_root", sh->raw_root);
        if (sh->late_grace >= 0)
                json_add_int(b, "late_grace", sh->late_grace);
        json_builder_set_member_name(b, "kinds");
        json_builder_begin_object(b);
        for (size_t i = 0; i < sh->n_kinds; i++) {
                g_autofree char *cam = utf8_escape_invalid(sh->kinds[i].camera);
                json_builder_set_member_name(b, cam);
                json_builder_begin_array(b);
                for (char **k = sh->kinds[i].ids; k && *k; k++)
                        add_escaped(b, NULL, *k);
                json_builder_end_array(b);
        }
        json_builder_end_object(b);

        json_builder_set_member_name(b, "files");
        json_builder_begin_array(b);
        for (size_t i = 0; i < sh->n_files; i++) {
                const StateFile *f = &sh->files[i];
                json_builder_begin_object(b);
                add_escaped(b, "path", f->path);
                add_escaped(b, "camera", f->camera);
                json_add_int(b, "kind", f->kind);
                json_add_bool(b, "trigger", f->trigger);
                json_add_bool(b, "late", f->late);
                json_add_int(b, "dt", f->dt);
                if (f->offset != 0)
                        json_add_int(b, "offset", f->offset);
                json_builder_end_object(b);
        }
        json_builder_end_array(b);

        if (sh->duplicate_triggers && sh->duplicate_triggers[0]) {
                json_builder_set_member_name(b, "duplicate_triggers");
                json_builder_begin_array(b);
                for (char **p = sh->duplicate_triggers; *p; p++)
                        add_escaped(b, NULL, *p);
                json_builder_end_array(b);
        }

        json_builder_set_member_name(b, "metadata");
        json_builder_begin_object(b);
        if (sh->metadata) {
                g_autofree const char **keys = (const char **) g_hash_table_get_keys_as_array(sh->metadata, NULL);
                guint n = g_strv_length((char **) keys);
                qsort_safe(keys, n, sizeof(char *), strptr_cmp);
                for (guint i = 0; i < n; i++)
                        json_add_string(b, keys[i], g_hash_table_lookup(sh->metadata, keys[i]));
        }
        json_builder_end_object(b);
        json_builder_end_object(b);
}

static char *node_to_data(JsonNode *root, size_t *ret_len) {
        g_autoptr(JsonGenerator) gen = json_generator_new();
        json_generator_set_root(gen, root);
        gsize len;
        char *data = json_generator_to_data(gen, &len);
        if (ret_len)
                *ret_len = len;
        return data;
}

char *state_shot_to_data(const StateShot *sh, size_t *ret_len) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        build_shot(b, sh);
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        return node_to_data(root, ret_len);
}

/* What the base and a journal record both carry when the counters, the
 * pause or the last shot changed. */
static void build_main(JsonBuilder *b, const StateSnapshot *s) {
        json_add_bool(b, "paused", s->paused);
        json_add_string(b, "last_shot", s->last_shot);
        if (s->raw_root)
                add_escaped(b, "raw_root", s->raw_root);

        json_builder_set_member_name(b, "counters");
        json_builder_begin_array(b);
        for (size_t i = 0; i < s->n_counters; i++) {
                const StateCounter *c = &s->counters[i];
                json_builder_begin_object(b);
                json_add_int(b, "date", c->date);
                json_add_int(b, "next", c->next);
                json_builder_set_member_name(b, "used");
                json_builder_begin_array(b);
                for (uint32_t j = 0; j < c->n_ranges * 2; j++)
                        json_add_int(b, NULL, c->ranges[j]);
                json_builder_end_array(b);
                json_builder_end_object(b);
        }
        json_builder_end_array(b);
        state_clocks_to_json(b, s);
}

static void build_shots(JsonBuilder *b, const StateSnapshot *s) {
        json_builder_set_member_name(b, "shots");
        json_builder_begin_array(b);
        for (size_t i = 0; i < s->n_shots; i++)
                build_shot(b, &s->shots[i]);
        json_builder_end_array(b);
}

char *state_to_data(const StateSnapshot *s, size_t *ret_len) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        json_add_int(b, "version", STATE_VERSION);
        json_add_int(b, "seq", (int64_t) s->seq);
        build_main(b, s);
        build_shots(b, s);
        json_builder_end_object(b);
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        return node_to_data(root, ret_len);
}

/* ---- from JSON ---- */

typedef struct Reader {
        JsonObject *o;
        bool bad;
} Reader;

static JsonNode *member(Reader *r, const char *key, JsonNodeType type) {
        JsonNode *n = r->o ? json_object_get_member(r->o, key) : NULL;
        if (!n || JSON_NODE_TYPE(n) != type) {
                r->bad = true;
                return NULL;
        }
        return n;
}

static JsonNode *value(Reader *r, const char *key, GType type) {
        JsonNode *n = json_value_member(r->o, key, type);
        if (!n)
                r->bad = true;
        return n;
}

static int64_t get_int(Reader *r, const char *key) {
        JsonNode *n = value(r, key, G_TYPE_INT64);
        return n ? json_node_get_int(n) : 0;
}

static uint32_t get_u32(Reader *r, const char *key) {
        int64_t v = get_int(r, key);
        if (v < 0 || v > UINT32_MAX) {
                r->bad = true;
                return 0;
        }
        return (uint32_t) v;
}

static bool get_bool(Reader *r, const char *key) {
        JsonNode *n = value(r, key, G_TYPE_BOOLEAN);
        return n ? json_node_get_boolean(n) : false;
}

static const char *get_str(Reader *r, const char *key) {
        JsonNode *n = value(r, key, G_TYPE_STRING);
        return n ? json_node_get_string(n) : "";
}

static char *get_unescaped(Reader *r, const char *key) {
        char *s = utf8_unescape(get_str(r, key));
        if (!s) {
                r->bad = true;
                return g_strdup("");
        }
        return s;
}

static JsonArray *get_array(Reader *r, const char *key) {
        JsonNode *n = member(r, key, JSON_NODE_ARRAY);
        return n ? json_node_get_array(n) : NULL;
}

static bool parse_shot(JsonNode *node, StateSnapshot *s) {
        if (JSON_NODE_TYPE(node) != JSON_NODE_OBJECT)
                return false;
        Reader r = { json_node_get_object(node) };
        StateShot *sh = state_snapshot_add_shot(s);

        sh->date = get_u32(&r, "date");
        sh->number = get_u32(&r, "number");
        if (shot_status_from_string(get_str(&r, "status"), &sh->status) < 0)
                r.bad = true;
        bool fire = get_bool(&r, "fire");
        g_autofree char *tc = get_unescaped(&r, "trigger_camera");
        sh->trigger_camera = fire ? NULL : g_steal_pointer(&tc);
        sh->trigger_time = get_int(&r, "trigger_time");
        sh->window_start = get_int(&r, "window_start");
        sh->window_end = get_int(&r, "window_end");
        sh->opened = get_int(&r, "opened");
        sh->closed = get_int(&r, "closed");
        sh->deadline = get_int(&r, "deadline");
        sh->live = get_bool(&r, "live");
        sh->needs_publish = get_bool(&r, "needs_publish");
        sh->announced = get_bool(&r, "announced");

        JsonArray *exp = get_array(&r, "expected");
        guint n = exp ? json_array_get_length(exp) : 0;
        sh->expected = g_new0(char *, n + 1);
        for (guint i = 0; i < n; i++) {
                JsonNode *e = json_array_get_element(exp, i);
                const char *v = JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING ?
                                        json_node_get_string(e) :
                                        NULL;
                sh->expected[i] = v ? utf8_unescape(v) : NULL;
                if (!sh->expected[i]) {
                        sh->expected[i] = g_strdup("");
                        r.bad = true;
                }
        }

        /* Version 3. */
        if (json_object_has_member(r.o, "raw_root"))
                sh->raw_root = get_unescaped(&r, "raw_root");
        if (json_object_has_member(r.o, "late_grace")) {
                sh->late_grace = get_int(&r, "late_grace");
                if (sh->late_grace < 0)
                        r.bad = true;
        }
        JsonNode *kn = json_object_get_member(r.o, "kinds");
        if (kn && JSON_NODE_TYPE(kn) != JSON_NODE_OBJECT)
                r.bad = true;
        else if (kn) {
                JsonObjectIter it;
                const char *cam;
                JsonNode *v;
                json_object_iter_init(&it, json_node_get_object(kn));
                while (json_object_iter_next(&it, &cam, &v)) {
                        g_autofree char *name = utf8_unescape(cam);
                        JsonArray *a = JSON_NODE_TYPE(v) == JSON_NODE_ARRAY ? json_node_get_array(v) : NULL;
                        guint len = a ? json_array_get_length(a) : 0;
                        if (!name || len == 0) {
                                r.bad = true;
                                break;
                        }
                        StateKinds *k = state_shot_add_kinds(sh, name);
                        k->ids = g_new0(char *, len + 1);
                        for (guint i = 0; i < len; i++) {
                                JsonNode *e = json_array_get_element(a, i);
                                const char *id = JSON_NODE_HOLDS_VALUE(e) &&
                                                                 json_node_get_value_type(e) == G_TYPE_STRING ?
                                                         json_node_get_string(e) :
                                                         NULL;
                                k->ids[i] = id ? utf8_unescape(id) : NULL;
                                if (!k->ids[i]) {
                                        k->ids[i] = g_strdup("");
                                        r.bad = true;
                                }
                        }
                }
        }

        JsonArray *files = get_array(&r, "files");
        n = files ? json_array_get_length(files) : 0;
        for (guint i = 0; i < n; i++) {
                JsonNode *fn = json_array_get_element(files, i);
                if (JSON_NODE_TYPE(fn) != JSON_NODE_OBJECT) {
                        r.bad = true;
                        break;
                }
                Reader fr = { json_node_get_object(fn) };
                StateFile *f = state_shot_add_file(sh);
                f->path = get_unescaped(&fr, "path");
                f->camera = get_unescaped(&fr, "camera");
                f->kind = get_u32(&fr, "kind");
                f->trigger = get_bool(&fr, "trigger");
                f->late = get_bool(&fr, "late");
                f->dt = get_int(&fr, "dt");
                if (json_object_has_member(fr.o, "offset"))
                        f->offset = get_int(&fr, "offset");
                if (fr.bad || isempty(f->path))
                        r.bad = true;
        }

        JsonNode *dn = json_object_get_member(r.o, "duplicate_triggers");
        if (dn && JSON_NODE_TYPE(dn) != JSON_NODE_ARRAY)
                r.bad = true;
        else if (dn) {
                JsonArray *a = json_node_get_array(dn);
                guint len = json_array_get_length(a);
                sh->duplicate_triggers = g_new0(char *, len + 1);
                for (guint i = 0; i < len; i++) {
                        JsonNode *e = json_array_get_element(a, i);
                        const char *v = JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING ?
                                                json_node_get_string(e) :
                                                NULL;
                        sh->duplicate_triggers[i] = v ? utf8_unescape(v) : NULL;
                        if (!sh->duplicate_triggers[i]) {
                                sh->duplicate_triggers[i] = g_strdup("");
                                r.bad = true;
                        }
                }
        }

        JsonNode *md = member(&r, "metadata", JSON_NODE_OBJECT);
        if (md) {
                JsonObjectIter it;
                const char *k;
                JsonNode *v;
                json_object_iter_init(&it, json_node_get_object(md));
                while (json_object_iter_next(&it, &k, &v)) {
                        if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_STRING) {
                                r.bad = true;
                                break;
                        }
                        g_hash_table_insert(sh->metadata, g_strdup(k), g_strdup(json_node_get_string(v)));
                }
        }
        return !r.bad;
}

static int parse_main(Reader *r, StateSnapshot *s) {
        s->paused = get_bool(r, "paused");
        g_clear_pointer(&s->raw_root, g_free);
        if (json_object_has_member(r->o, "raw_root")) {
                s->raw_root = utf8_unescape(get_str(r, "raw_root"));
                if (!s->raw_root)
                        return -EBADMSG;
        }
        g_clear_pointer(&s->last_shot, g_free);
        JsonNode *ls = json_object_get_member(r->o, "last_shot");
        if (ls && JSON_NODE_HOLDS_VALUE(ls) && json_node_get_value_type(ls) == G_TYPE_STRING) {
                uint32_t d, n;
                if (shot_parse_id(json_node_get_string(ls), &d, &n) >= 0)
                        s->last_shot = g_strdup(json_node_get_string(ls));
        }

        for (size_t i = 0; i < s->n_counters; i++)
                g_free(s->counters[i].ranges);
        s->n_counters = 0;
        JsonArray *counters = get_array(r, "counters");
        for (guint i = 0; counters && i < json_array_get_length(counters); i++) {
                JsonNode *cn = json_array_get_element(counters, i);
                if (JSON_NODE_TYPE(cn) != JSON_NODE_OBJECT)
                        return -EBADMSG;
                Reader cr = { json_node_get_object(cn) };
                uint32_t date = get_u32(&cr, "date"), next = get_u32(&cr, "next");
                JsonArray *used = get_array(&cr, "used");
                guint n = used ? json_array_get_length(used) : 0;
                if (cr.bad || n % 2 != 0)
                        return -EBADMSG;
                g_autofree uint32_t *ranges = g_new(uint32_t, MAX(n, 1u));
                for (guint j = 0; j < n; j++) {
                        JsonNode *v = json_array_get_element(used, j);
                        if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_INT64)
                                return -EBADMSG;
                        int64_t x = json_node_get_int(v);
                        if (x <= 0 || x >= UINT32_MAX)
                                return -EBADMSG;
                        ranges[j] = (uint32_t) x;
                }
                state_snapshot_add_counter(s, date, next, ranges, n / 2);
        }
        state_clocks_clear(s);
        if (state_clocks_from_json(r->o, s) < 0)
                return -EBADMSG;
        return r->bad ? -EBADMSG : 0;
}

/* Adds (or replaces: a journal says a shot's latest) every shot of arr. */
static int parse_shots(JsonArray *arr, StateSnapshot *s) {
        for (guint i = 0; arr && i < json_array_get_length(arr); i++) {
                if (!parse_shot(json_array_get_element(arr, i), s))
                        return -EBADMSG;
                StateShot *added = &s->shots[s->n_shots - 1];
                for (size_t j = 0; j + 1 < s->n_shots; j++)
                        if (s->shots[j].date == added->date && s->shots[j].number == added->number) {
                                state_shot_clear(&s->shots[j]);
                                s->shots[j] = *added;
                                s->n_shots--;
                                break;
                        }
        }
        return 0;
}

int state_from_data(const char *data, size_t len, StateSnapshot **ret) {
        g_autoptr(JsonParser) p = json_parser_new();
        if (len > G_MAXSSIZE || !json_parser_load_from_data(p, data, (gssize) len, NULL))
                return -EBADMSG;

        JsonNode *root = json_parser_get_root(p);
        if (!root || JSON_NODE_TYPE(root) != JSON_NODE_OBJECT)
                return -EBADMSG;
        Reader r = { json_node_get_object(root) };
        int64_t version = get_int(&r, "version");
        if (version < STATE_VERSION_MIN || version > STATE_VERSION)
                return -EPROTO;

        g_autoptr(StateSnapshot) s = state_snapshot_new();
        s->version = (unsigned) version;
        if (json_object_has_member(r.o, "seq")) {
                int64_t seq = get_int(&r, "seq");
                if (seq < 0)
                        return -EBADMSG;
                s->seq = (uint64_t) seq;
        }
        int k = parse_main(&r, s);
        if (k < 0)
                return k;
        k = parse_shots(get_array(&r, "shots"), s);
        if (k < 0 || r.bad)
                return -EBADMSG;

        *ret = g_steal_pointer(&s);
        return 0;
}

int state_shot_from_data(const char *data, size_t len, StateSnapshot *s) {
        g_autoptr(JsonParser) p = json_parser_new();
        if (len > G_MAXSSIZE || !json_parser_load_from_data(p, data, (gssize) len, NULL))
                return -EBADMSG;
        JsonNode *root = json_parser_get_root(p);
        if (!root || !parse_shot(root, s)) {
                if (root && JSON_NODE_TYPE(root) == JSON_NODE_OBJECT) {
                        /* parse_shot() added a half-read record: drop it. */
                        state_shot_clear(&s->shots[--s->n_shots]);
                }
                return -EBADMSG;
        }
        return 0;
}

void state_snapshot_absorb(StateSnapshot *newer, StateSnapshot *older) {
        newer->seq = MAX(newer->seq, older->seq);
        if (newer->full) {
                /* It holds everything already; only a reset must not be lost. */
                return;
        }
        newer->full = older->full;
        newer->drop_legacy = newer->drop_legacy || older->drop_legacy;
        newer->write_main = newer->write_main || older->write_main;
        if (!newer->last_shot)
                newer->last_shot = g_steal_pointer(&older->last_shot);
        if (!newer->raw_root)
                newer->raw_root = g_steal_pointer(&older->raw_root);
        if (newer->n_clocks == 0 && older->n_clocks > 0) {
                newer->clocks = g_steal_pointer(&older->clocks);
                newer->n_clocks = older->n_clocks;
                older->n_clocks = 0;
                g_free(newer->clock_reference);
                newer->clock_reference = g_steal_pointer(&older->clock_reference);
        }
        if (newer->reset_forgotten)
                older->n_forget = 0; /* forgotten in the old root, before the reset */
        else if (older->reset_forgotten)
                newer->reset_forgotten = true;
        /* Shots the newer one does not mention keep the older version. */
        for (size_t i = 0; i < older->n_shots; i++) {
                StateShot *o = &older->shots[i];
                bool mentioned = false;
                for (size_t j = 0; j < newer->n_shots && !mentioned; j++)
                        mentioned = newer->shots[j].date == o->date && newer->shots[j].number == o->number;
                char id[SHOT_ID_MAX];
                (void) shot_format_id(o->date, o->number, id);
                for (guint j = 0; newer->removed && j < newer->removed->len && !mentioned; j++)
                        mentioned = streq(newer->removed->pdata[j], id);
                if (mentioned)
                        continue;
                newer->shots = g_renew(StateShot, newer->shots, newer->n_shots + 1);
                newer->shots[newer->n_shots++] = *o;
                *o = (StateShot) {};
        }
        for (guint i = 0; older->removed && i < older->removed->len; i++) {
                const char *id = older->removed->pdata[i];
                bool readded = false;
                for (size_t j = 0; j < newer->n_shots && !readded; j++) {
                        char nid[SHOT_ID_MAX];
                        (void) shot_format_id(newer->shots[j].date, newer->shots[j].number, nid);
                        readded = streq(nid, id);
                }
                if (!readded)
                        state_snapshot_remove_shot(newer, id);
        }
        if (older->n_forget > 0) {
                StateForgotten *merged = g_new(StateForgotten, older->n_forget + newer->n_forget);
                memcpy(merged, older->forget, older->n_forget * sizeof(StateForgotten));
                if (newer->n_forget > 0)
                        memcpy(merged + older->n_forget, newer->forget, newer->n_forget * sizeof(StateForgotten));
                g_free(newer->forget);
                newer->forget = merged;
                newer->n_forget += older->n_forget;
        }
}

void state_snapshot_remove_shot(StateSnapshot *s, const char *id) {
        if (!s->removed)
                s->removed = g_ptr_array_new_with_free_func(g_free);
        for (guint i = 0; i < s->removed->len; i++)
                if (streq(s->removed->pdata[i], id))
                        return;
        g_ptr_array_add(s->removed, g_strdup(id));
}

/* ---- files ---- */

static int write_all(int fd, const void *data, size_t len) {
        const char *p = data;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

/* A journal line is "<16 hex digits> <JSON>\n": the digits are the start of
 * the JSON's SHA-256, so a torn or half-written tail (a crash mid-append) is
 * told from a record and dropped, never half-applied. */
static char *line_checksum(const char *json, size_t len) {
        g_autofree char *full = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *) json, len);
        return g_strndup(full, 16);
}

static char *record_to_line(const StateSnapshot *s, size_t *ret_len) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        json_add_int(b, "seq", (int64_t) s->seq);
        if (s->write_main) {
                json_builder_set_member_name(b, "main");
                json_builder_begin_object(b);
                build_main(b, s);
                json_builder_end_object(b);
        }
        if (s->n_shots > 0)
                build_shots(b, s);
        if (s->removed && s->removed->len > 0) {
                json_builder_set_member_name(b, "removed");
                json_builder_begin_array(b);
                for (guint i = 0; i < s->removed->len; i++)
                        json_add_string(b, NULL, s->removed->pdata[i]);
                json_builder_end_array(b);
        }
        if (s->reset_forgotten)
                json_add_bool(b, "reset_forgotten", true);
        if (s->n_forget > 0) {
                /* 16 + 16 + 16 hex digits: the identity's two halves and the mtime. */
                json_builder_set_member_name(b, "forget");
                json_builder_begin_array(b);
                for (size_t i = 0; i < s->n_forget; i++) {
                        char hex[49];
                        snprintf(hex, sizeof hex, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, s->forget[i].id.a,
                                 s->forget[i].id.b, (uint64_t) s->forget[i].dt);
                        json_add_string(b, NULL, hex);
                }
                json_builder_end_array(b);
        }
        json_builder_end_object(b);

        g_autoptr(JsonNode) root = json_builder_get_root(b);
        size_t len;
        g_autofree char *json = node_to_data(root, &len);
        g_autofree char *sum = line_checksum(json, len);
        char *line = g_strdup_printf("%s %s\n", sum, json);
        *ret_len = strlen(line);
        return line;
}

static int fsync_dir(const char *dir) {
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0)
                return negative_errno();
        return 0;
}

/* One commit: one record appended, one fdatasync(). */
static int append_record(const char *dir, const StateSnapshot *s, uint64_t *ret_size) {
        g_autofree char *path = g_build_filename(dir, JOURNAL_FILE, NULL);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        bool created = false;
        if (fd < 0 && errno == ENOENT) {
                fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
                created = true;
        }
        if (fd < 0)
                return negative_errno();

        size_t len;
        g_autofree char *line = record_to_line(s, &len);
        int r = write_all(fd, line, len);
        if (r < 0)
                return r;
        if (fdatasync(fd) < 0)
                return negative_errno();
        /* A new journal's name must outlive a crash too. */
        if (created) {
                r = fsync_dir(dir);
                if (r < 0)
                        return r;
        }
        struct stat st;
        if (ret_size && fstat(fd, &st) >= 0)
                *ret_size = (uint64_t) st.st_size;
        return 0;
}

static int write_forgotten(const char *dir, const StateForgotten *f, size_t n) {
        return write_file_atomic(dir, FORGOTTEN_FILE, f, n * sizeof(StateForgotten), 0600);
}

/* A base replaces everything: the forgotten files first (a crash before
 * state.json replays the journal over them, which only adds what they
 * hold already), then state.json naming the last commit it includes, then
 * the journal is emptied (a crash before that replays nothing older than
 * the base). What versions before 4 kept elsewhere goes. */
static int write_base(const char *dir, const StateSnapshot *s, uint64_t *ret_size) {
        int r = write_forgotten(dir, s->forget, s->n_forget);
        if (r < 0)
                return r;
        size_t len;
        g_autofree char *data = state_to_data(s, &len);
        r = write_file_atomic(dir, STATE_FILE, data, len, 0600);
        if (r < 0)
                return r;
        if (ret_size)
                *ret_size = len + s->n_forget * sizeof(StateForgotten);

        g_autofree char *journal = g_build_filename(dir, JOURNAL_FILE, NULL);
        _cleanup_close_ int fd = open(journal, O_WRONLY | O_CLOEXEC);
        if (fd < 0 && errno != ENOENT)
                return negative_errno();
        if (fd >= 0 && (ftruncate(fd, 0) < 0 || fsync(fd) < 0))
                return negative_errno();

        g_autofree char *shots = g_build_filename(dir, SHOTS_DIR, NULL);
        g_autoptr(GDir) d = g_dir_open(shots, 0, NULL);
        const char *name;
        while (d && (name = g_dir_read_name(d))) {
                if (g_str_has_suffix(name, ".corrupt"))
                        continue; /* kept for whoever wants to look */
                g_autofree char *p = g_build_filename(shots, name, NULL);
                if (unlink(p) < 0 && errno != ENOENT)
                        return negative_errno();
        }
        if (d && rmdir(shots) < 0 && errno != ENOENT && errno != ENOTEMPTY)
                return negative_errno();
        if (s->drop_legacy) {
                g_autofree char *legacy = g_build_filename(dir, LEGACY_FORGOTTEN_FILE, NULL);
                if (unlink(legacy) < 0 && errno != ENOENT)
                        return negative_errno();
        }
        return fsync_dir(dir);
}

int state_save(const char *dir, const StateSnapshot *s, StateSaveInfo *ret) {
        StateSaveInfo info = { .base = s->full };
        int r = s->full ? write_base(dir, s, &info.base_size) : append_record(dir, s, &info.journal_size);
        if (r >= 0 && ret)
                *ret = info;
        return r;
}

static int parse_forget(JsonArray *a, StateSnapshot *s) {
        guint n = a ? json_array_get_length(a) : 0;
        if (n == 0)
                return 0;
        s->forget = g_renew(StateForgotten, s->forget, s->n_forget + n);
        for (guint i = 0; i < n; i++) {
                JsonNode *e = json_array_get_element(a, i);
                const char *hex = JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING ?
                                          json_node_get_string(e) :
                                          NULL;
                if (!hex || strlen(hex) != 48 || strspn(hex, "0123456789abcdef") != 48)
                        return -EBADMSG;
                char part[17] = {};
                StateForgotten *f = &s->forget[s->n_forget++];
                memcpy(part, hex, 16);
                f->id.a = g_ascii_strtoull(part, NULL, 16);
                memcpy(part, hex + 16, 16);
                f->id.b = g_ascii_strtoull(part, NULL, 16);
                memcpy(part, hex + 32, 16);
                f->dt = (int64_t) g_ascii_strtoull(part, NULL, 16);
        }
        return 0;
}

static int apply_record(StateSnapshot *s, JsonObject *o) {
        Reader r = { o };
        int64_t seq = get_int(&r, "seq");
        if (r.bad || seq < 0)
                return -EBADMSG;
        if ((uint64_t) seq <= s->seq)
                return 0; /* in the base already */
        s->seq = (uint64_t) seq;

        JsonNode *main = json_object_get_member(o, "main");
        if (main) {
                if (JSON_NODE_TYPE(main) != JSON_NODE_OBJECT)
                        return -EBADMSG;
                Reader mr = { json_node_get_object(main) };
                int k = parse_main(&mr, s);
                if (k < 0)
                        return k;
        }
        JsonNode *shots = json_object_get_member(o, "shots");
        if (shots) {
                if (JSON_NODE_TYPE(shots) != JSON_NODE_ARRAY || parse_shots(json_node_get_array(shots), s) < 0)
                        return -EBADMSG;
        }
        JsonNode *removed = json_object_get_member(o, "removed");
        if (removed) {
                if (JSON_NODE_TYPE(removed) != JSON_NODE_ARRAY)
                        return -EBADMSG;
                JsonArray *a = json_node_get_array(removed);
                for (guint i = 0; i < json_array_get_length(a); i++) {
                        JsonNode *e = json_array_get_element(a, i);
                        uint32_t d, n;
                        if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING ||
                            shot_parse_id(json_node_get_string(e), &d, &n) < 0)
                                return -EBADMSG;
                        for (size_t j = 0; j < s->n_shots; j++)
                                if (s->shots[j].date == d && s->shots[j].number == n) {
                                        state_shot_clear(&s->shots[j]);
                                        s->shots[j] = s->shots[--s->n_shots];
                                        break;
                                }
                }
        }
        if (json_object_has_member(o, "reset_forgotten") && get_bool(&r, "reset_forgotten")) {
                s->n_forget = 0;
                s->forgotten_reset = true;
        }
        JsonNode *forget = json_object_get_member(o, "forget");
        if (forget && (JSON_NODE_TYPE(forget) != JSON_NODE_ARRAY || parse_forget(json_node_get_array(forget), s) < 0))
                return -EBADMSG;
        return 0;
}

/* Replays the journal over the base; cuts a torn tail off the file so that
 * the next commit follows the last good one. */
static int replay_journal(const char *dir, StateSnapshot *s) {
        g_autofree char *path = g_build_filename(dir, JOURNAL_FILE, NULL);
        g_autofree char *data = NULL;
        gsize len;
        g_autoptr(GError) error = NULL;
        if (!g_file_get_contents(path, &data, &len, &error)) {
                if (g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return 0;
                return error->code == G_FILE_ERROR_ACCES ? -EACCES : -EIO;
        }

        size_t good = 0;
        while (good < len) {
                const char *line = data + good;
                const char *nl = memchr(line, '\n', len - good);
                if (!nl || nl - line < 18 || line[16] != ' ')
                        break;
                const char *json = line + 17;
                size_t jlen = (size_t) (nl - json);
                g_autofree char *sum = line_checksum(json, jlen);
                if (memcmp(sum, line, 16) != 0)
                        break;
                g_autoptr(JsonParser) p = json_parser_new();
                if (!json_parser_load_from_data(p, json, (gssize) jlen, NULL))
                        break;
                JsonNode *root = json_parser_get_root(p);
                if (!root || JSON_NODE_TYPE(root) != JSON_NODE_OBJECT)
                        break;
                int k = apply_record(s, json_node_get_object(root));
                if (k < 0)
                        return k; /* a record that checks out but makes no sense: not a torn tail */
                good = (size_t) (nl - data) + 1;
                s->n_journal_records++;
        }
        if (good < len) {
                s->journal_torn = len - good;
                if (truncate(path, (off_t) good) < 0)
                        return negative_errno();
        }
        s->journal_size = good;
        return 0;
}

int state_load(const char *dir, StateSnapshot **ret) {
        g_autofree char *path = g_build_filename(dir, STATE_FILE, NULL);
        g_autofree char *data = NULL;
        gsize len;
        g_autoptr(GError) error = NULL;
        g_autoptr(StateSnapshot) s = NULL;
        int r;

        if (!g_file_get_contents(path, &data, &len, &error)) {
                if (!g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return error->code == G_FILE_ERROR_ACCES ? -EACCES : -EIO;
                s = state_snapshot_new();
                s->version = STATE_VERSION;
        } else {
                r = state_from_data(data, len, &s);
                if (r < 0)
                        return r;
        }

        /* Before version 4 each shot had a file of its own. */
        g_autofree char *shots = g_build_filename(dir, SHOTS_DIR, NULL);
        g_autoptr(GDir) d = g_dir_open(shots, 0, NULL);
        const char *name;
        while (d && (name = g_dir_read_name(d))) {
                if (name[0] == '.' || !g_str_has_suffix(name, ".json"))
                        continue; /* a temporary file a crash left */
                g_autofree char *p = g_build_filename(shots, name, NULL);
                g_autofree char *text = NULL;
                s->version = MIN(s->version, 3u);
                if (!g_file_get_contents(p, &text, &len, NULL) || state_shot_from_data(text, len, s) < 0) {
                        if (!s->bad)
                                s->bad = g_ptr_array_new_with_free_func(g_free);
                        g_ptr_array_add(s->bad, g_steal_pointer(&p));
                }
        }

        r = replay_journal(dir, s);
        if (r < 0)
                return r;
        *ret = g_steal_pointer(&s);
        return 0;
}

/* Calls fn for each whole record of size rsize in name; a torn tail is dropped. */
static int read_records(const char *dir, const char *name, size_t rsize, void (*fn)(const void *rec, void *userdata),
                        void *userdata, nsec_t *ret_written) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (ret_written) {
                struct stat st;
                if (fstat(fd, &st) < 0)
                        return negative_errno();
                *ret_written = (nsec_t) st.st_mtim.tv_sec * NSEC_PER_SEC + st.st_mtim.tv_nsec;
        }

        g_autofree char *buf = g_malloc(rsize * 4096);
        size_t carry = 0;
        for (;;) {
                ssize_t n = read(fd, buf + carry, rsize * 4096 - carry);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                size_t have = carry + (size_t) n;
                size_t whole = have / rsize;
                for (size_t i = 0; i < whole; i++)
                        fn(buf + i * rsize, userdata);
                carry = have % rsize;
                if (n == 0)
                        break; /* a torn tail (carry > 0) is dropped */
                if (carry)
                        memmove(buf, buf + whole * rsize, carry);
        }
        return 0;
}

int state_load_forgotten(const char *dir, void (*fn)(const StateForgotten *f, void *userdata), void *userdata) {
        return read_records(dir, FORGOTTEN_FILE, sizeof(StateForgotten), (void (*)(const void *, void *)) fn, userdata,
                            NULL);
}

int state_load_legacy_forgotten(const char *dir, void (*fn)(const EnginePathKey *k, void *userdata), void *userdata,
                                nsec_t *ret_written) {
        *ret_written = 0;
        return read_records(dir, LEGACY_FORGOTTEN_FILE, sizeof(EnginePathKey), (void (*)(const void *, void *)) fn,
                            userdata, ret_written);
}
