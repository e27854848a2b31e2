/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The state's JSON: shots, the main members (counters, pause, clocks), a
 * base and a journal record. Pure: no file is touched here. */

#include <json-glib/json-glib.h>
#include <stdio.h>

#include "json-util.h"
#include "state-internal.h"

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

/* A shot's tree at a time, not the whole base's: a base of hundreds of
 * shots in their grace would otherwise cost the daemon tens of MiB of
 * transient nodes, kept as its high mark. */
char *state_to_data(const StateSnapshot *s, size_t *ret_len) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        json_add_int(b, "version", STATE_VERSION);
        json_add_int(b, "seq", (int64_t) s->seq);
        build_main(b, s);
        json_builder_end_object(b);
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        size_t len;
        g_autofree char *head = node_to_data(root, &len);

        GString *out = g_string_new_len(head, (gssize) len - 1); /* its '}' comes last */
        g_string_append(out, ",\"shots\":[");
        for (size_t i = 0; i < s->n_shots; i++) {
                g_autofree char *shot = state_shot_to_data(&s->shots[i], &len);
                if (i > 0)
                        g_string_append_c(out, ',');
                g_string_append_len(out, shot, (gssize) len);
        }
        g_string_append(out, "]}");
        *ret_len = out->len;
        return g_string_free(out, false);
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

char *state_record_to_json(const StateSnapshot *s, size_t *ret_len) {
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
        return node_to_data(root, ret_len);
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

int state_apply_record(StateSnapshot *s, JsonObject *o) {
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
