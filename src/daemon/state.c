/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <sys/stat.h>

#include "json-util.h"
#include "state.h"

/* 3: shots record their RawRoot, late grace and kinds. Older versions are
 * read too (what they lack takes today's configuration). Clock estimates
 * ("clocks", "clock_reference"), a file's offset and a shot's duplicate
 * triggers are optional members of version 3: a state without them has
 * them learned again, and an older shotsyncd ignores them. */
#define STATE_VERSION 3
#define STATE_VERSION_MIN 2
#define STATE_FILE "state.json"
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

static char *main_to_data(const StateSnapshot *s, bool with_shots, size_t *ret_len);

char *state_to_data(const StateSnapshot *s, size_t *ret_len) {
        return main_to_data(s, true, ret_len);
}

static char *main_to_data(const StateSnapshot *s, bool with_shots, size_t *ret_len) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_add_int(b, "version", STATE_VERSION);
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

        json_builder_set_member_name(b, "shots");
        json_builder_begin_array(b);
        for (size_t i = 0; with_shots && i < s->n_shots; i++)
                build_shot(b, &s->shots[i]);
        json_builder_end_array(b);
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
        s->paused = get_bool(&r, "paused");
        if (json_object_has_member(r.o, "raw_root")) {
                s->raw_root = utf8_unescape(get_str(&r, "raw_root"));
                if (!s->raw_root)
                        return -EBADMSG;
        }
        JsonNode *ls = json_object_get_member(r.o, "last_shot");
        if (ls && JSON_NODE_HOLDS_VALUE(ls) && json_node_get_value_type(ls) == G_TYPE_STRING) {
                uint32_t d, n;
                if (shot_parse_id(json_node_get_string(ls), &d, &n) >= 0)
                        s->last_shot = g_strdup(json_node_get_string(ls));
        }

        JsonArray *counters = get_array(&r, "counters");
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

        if (state_clocks_from_json(r.o, s) < 0)
                return -EBADMSG;

        JsonArray *shots = get_array(&r, "shots");
        for (guint i = 0; shots && i < json_array_get_length(shots); i++)
                if (!parse_shot(json_array_get_element(shots, i), s))
                        return -EBADMSG;
        if (r.bad)
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

static int append_forgotten(const char *dir, const StateForgotten *keys, size_t n) {
        if (n == 0)
                return 0;
        g_autofree char *path = g_build_filename(dir, FORGOTTEN_FILE, NULL);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return negative_errno();

        /* A torn record from a crash would shift every later one: realign. */
        struct stat st;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (st.st_size % (off_t) sizeof(StateForgotten) != 0 &&
            ftruncate(fd, st.st_size - st.st_size % (off_t) sizeof(StateForgotten)) < 0)
                return negative_errno();

        const char *p = (const char *) keys;
        size_t left = n * sizeof(StateForgotten);
        while (left > 0) {
                ssize_t k = write(fd, p, left);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += k;
                left -= (size_t) k;
        }
        if (fdatasync(fd) < 0)
                return negative_errno();
        return 0;
}

static int shot_order_cmp(const void *a, const void *b) {
        const StateShot *x = *(const StateShot *const *) a, *y = *(const StateShot *const *) b;
        if (x->date != y->date)
                return x->date < y->date ? -1 : 1;
        return x->number < y->number ? -1 : x->number > y->number;
}

/* RawRoot changed: what was forgotten is of another tree. */
static int reset_forgotten(const char *dir) {
        g_autofree char *path = g_build_filename(dir, FORGOTTEN_FILE, NULL);
        g_autofree char *legacy = g_build_filename(dir, LEGACY_FORGOTTEN_FILE, NULL);
        if ((unlink(path) < 0 && errno != ENOENT) || (unlink(legacy) < 0 && errno != ENOENT))
                return negative_errno();
        return 0;
}

int state_save(const char *dir, const StateSnapshot *s) {
        int r = s->reset_forgotten ? reset_forgotten(dir) : 0;
        if (r < 0)
                return r;
        r = append_forgotten(dir, s->forget, s->n_forget);
        if (r < 0)
                return r;

        /* One file per shot, so a change costs what changed. Shots before
         * counters: a shot file names its number, which restore marks used.
         * In number order: a crash between two files must not leave a later
         * number on disk without an earlier one, which restore would then
         * skip for good (it moves the counter past every number it finds). */
        g_autofree char *shots = g_build_filename(dir, SHOTS_DIR, NULL);
        if (mkdir(shots, 0700) < 0 && errno != EEXIST)
                return negative_errno();
        g_autofree const StateShot **order = g_new(const StateShot *, MAX(s->n_shots, 1u));
        for (size_t i = 0; i < s->n_shots; i++)
                order[i] = &s->shots[i];
        qsort_safe(order, s->n_shots, sizeof *order, shot_order_cmp);
        for (size_t i = 0; i < s->n_shots; i++) {
                char id[SHOT_ID_MAX + 8];
                if (shot_format_id(order[i]->date, order[i]->number, id) < 0)
                        return -EINVAL;
                strcat(id, ".json");
                size_t len;
                g_autofree char *data = state_shot_to_data(order[i], &len);
                r = write_file_atomic(shots, id, data, len, 0600);
                if (r < 0)
                        return r;
        }
        if (s->removed && s->removed->len > 0) {
                _cleanup_close_ int dfd = open(shots, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0)
                        return negative_errno();
                for (guint i = 0; i < s->removed->len; i++) {
                        g_autofree char *name = g_strconcat(s->removed->pdata[i], ".json", NULL);
                        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
                                return negative_errno();
                }
                if (fsync(dfd) < 0)
                        return negative_errno();
        }

        if (!s->write_main)
                return 0;
        size_t len;
        g_autofree char *data = main_to_data(s, false, &len);
        return write_file_atomic(dir, STATE_FILE, data, len, 0600);
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
        } else {
                r = state_from_data(data, len, &s);
                if (r < 0)
                        return r;
        }

        g_autofree char *shots = g_build_filename(dir, SHOTS_DIR, NULL);
        g_autoptr(GDir) d = g_dir_open(shots, 0, NULL);
        const char *name;
        while (d && (name = g_dir_read_name(d))) {
                if (name[0] == '.' || !g_str_has_suffix(name, ".json"))
                        continue; /* a temporary file a crash left */
                g_autofree char *p = g_build_filename(shots, name, NULL);
                g_autofree char *text = NULL;
                if (!g_file_get_contents(p, &text, &len, NULL) || state_shot_from_data(text, len, s) < 0) {
                        if (!s->bad)
                                s->bad = g_ptr_array_new_with_free_func(g_free);
                        g_ptr_array_add(s->bad, g_steal_pointer(&p));
                }
        }
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
