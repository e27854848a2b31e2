/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Each camera's clock estimate in state.json (SPEC §2 rule 14):
 *   "clock_reference": the camera they are against (absent: the host),
 *   "clocks": {camera: {the estimator's numbers as they are}}
 * Optional members of version 3: a state without them, or with one that
 * does not read, has that learned again, and keeps the rest (its numbering
 * above all). */

#include "json-util.h"
#include "state.h"

void state_snapshot_add_clock(StateSnapshot *s, const char *camera, const EngineClock *clock) {
        /* Doubling (the array is full exactly when its length is a power of
         * two): one camera at a time, 10,000 of them copied a clock ~10^8
         * times and held the event loop for seconds. */
        if ((s->n_clocks & (s->n_clocks - 1)) == 0)
                s->clocks = g_renew(StateClock, s->clocks, MAX(s->n_clocks * 2, (size_t) 1));
        s->clocks[s->n_clocks++] = (StateClock) { .camera = g_strdup(camera), .clock = *clock };
}

void state_clocks_clear(StateSnapshot *s) {
        for (size_t i = 0; i < s->n_clocks; i++)
                g_free(s->clocks[i].camera);
        g_free(s->clocks);
        g_free(s->clock_reference);
        s->clocks = NULL;
        s->n_clocks = 0;
        s->clock_reference = NULL;
}

/* ---- to JSON ---- */

static void add_ints(JsonBuilder *b, const char *key, const nsec_t *v, uint32_t n) {
        json_builder_set_member_name(b, key);
        json_builder_begin_array(b);
        for (uint32_t i = 0; i < n; i++)
                json_add_int(b, NULL, v[i]);
        json_builder_end_array(b);
}

static void build_clock(JsonBuilder *b, const EngineClock *c) {
        json_builder_begin_object(b);
        json_add_int(b, "offset", c->offset);
        json_add_int(b, "spread", c->spread);
        json_add_int(b, "deviation", c->deviation);
        json_add_int(b, "samples", c->samples);
        json_add_int(b, "observed", c->observed);
        json_add_bool(b, "trusted", c->trusted);
        json_add_bool(b, "configured", c->configured);
        json_add_int(b, "seed", c->seed);
        add_ints(b, "recent", c->recent, c->n_recent);
        json_add_int(b, "next_recent", c->next_recent);
        add_ints(b, "run", c->run, c->n_run);
        json_builder_set_member_name(b, "hypotheses");
        json_builder_begin_array(b);
        for (uint32_t h = 0; h < c->n_hypotheses; h++) {
                json_builder_begin_object(b);
                json_add_int(b, "runs", c->hypothesis_runs[h]);
                add_ints(b, "residuals", c->hypotheses[h], MIN(c->hypothesis_runs[h], (uint32_t) ENGINE_CLOCK_CONFIRM));
                json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_add_int(b, "previous", c->previous);
        json_add_int(b, "changed_at", c->changed_at);
        json_builder_end_object(b);
}

void state_clocks_to_json(JsonBuilder *b, const StateSnapshot *s) {
        if (s->clock_reference) {
                g_autofree char *e = utf8_escape_invalid(s->clock_reference);
                json_add_string(b, "clock_reference", e);
        }
        if (s->n_clocks == 0)
                return;
        json_builder_set_member_name(b, "clocks");
        json_builder_begin_object(b);
        for (size_t i = 0; i < s->n_clocks; i++) {
                g_autofree char *cam = utf8_escape_invalid(s->clocks[i].camera);
                json_builder_set_member_name(b, cam);
                build_clock(b, &s->clocks[i].clock);
        }
        json_builder_end_object(b);
}

/* ---- from JSON ---- */

static bool get_i64(JsonObject *o, const char *key, int64_t *ret) {
        JsonNode *n = json_value_member(o, key, G_TYPE_INT64);
        if (!n)
                return false;
        *ret = json_node_get_int(n);
        return true;
}

static bool get_u32(JsonObject *o, const char *key, uint32_t *ret) {
        int64_t v;
        if (!get_i64(o, key, &v) || v < 0 || v > UINT32_MAX)
                return false;
        *ret = (uint32_t) v;
        return true;
}

static bool get_flag(JsonObject *o, const char *key, bool *ret) {
        JsonNode *n = json_value_member(o, key, G_TYPE_BOOLEAN);
        if (!n)
                return false;
        *ret = json_node_get_boolean(n);
        return true;
}

static bool get_ints(JsonObject *o, const char *key, nsec_t *v, uint32_t max, uint32_t *ret_n) {
        JsonArray *a = json_get_array(o, key);
        guint n = a ? json_array_get_length(a) : 0;
        if (!a || n > max)
                return false;
        for (guint i = 0; i < n; i++) {
                JsonNode *e = json_array_get_element(a, i);
                if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_INT64)
                        return false;
                v[i] = json_node_get_int(e);
        }
        *ret_n = n;
        return true;
}

/* What is read here is checked again by engine_restore_clock(). */
static bool parse_clock(JsonNode *node, EngineClock *c) {
        if (!node || JSON_NODE_TYPE(node) != JSON_NODE_OBJECT)
                return false;
        JsonObject *o = json_node_get_object(node);
        *c = (EngineClock) {};
        if (!get_i64(o, "offset", &c->offset) || !get_i64(o, "spread", &c->spread) ||
            !get_i64(o, "deviation", &c->deviation) || !get_u32(o, "samples", &c->samples) ||
            !get_u32(o, "observed", &c->observed) || !get_flag(o, "trusted", &c->trusted) ||
            !get_flag(o, "configured", &c->configured) || !get_i64(o, "seed", &c->seed) ||
            !get_u32(o, "next_recent", &c->next_recent) || !get_i64(o, "previous", &c->previous) ||
            !get_i64(o, "changed_at", &c->changed_at) ||
            !get_ints(o, "recent", c->recent, ENGINE_CLOCK_RING, &c->n_recent) ||
            !get_ints(o, "run", c->run, ENGINE_CLOCK_CONFIRM, &c->n_run))
                return false;
        JsonArray *hyp = json_get_array(o, "hypotheses");
        guint n = hyp ? json_array_get_length(hyp) : 0;
        if (!hyp || n > ENGINE_CLOCK_HYPOTHESES)
                return false;
        for (guint h = 0; h < n; h++) {
                JsonNode *e = json_array_get_element(hyp, h);
                if (JSON_NODE_TYPE(e) != JSON_NODE_OBJECT)
                        return false;
                JsonObject *ho = json_node_get_object(e);
                uint32_t got;
                if (!get_u32(ho, "runs", &c->hypothesis_runs[h]) ||
                    !get_ints(ho, "residuals", c->hypotheses[h], ENGINE_CLOCK_CONFIRM, &got) ||
                    got != MIN(c->hypothesis_runs[h], (uint32_t) ENGINE_CLOCK_CONFIRM))
                        return false;
        }
        c->n_hypotheses = n;
        return true;
}

int state_clocks_from_json(JsonObject *root, StateSnapshot *s) {
        if (json_object_has_member(root, "clock_reference")) {
                const char *v = json_get_string(root, "clock_reference", NULL);
                s->clock_reference = v ? utf8_unescape(v) : NULL;
                if (!s->clock_reference)
                        return -EBADMSG;
        }
        JsonObject *clocks = json_get_object(root, "clocks");
        if (!clocks)
                return 0;
        JsonObjectIter it;
        const char *cam;
        JsonNode *v;
        json_object_iter_init(&it, clocks);
        while (json_object_iter_next(&it, &cam, &v)) {
                g_autofree char *name = utf8_unescape(cam);
                EngineClock c;
                if (name && !isempty(name) && parse_clock(v, &c))
                        state_snapshot_add_clock(s, name, &c);
        }
        return 0;
}
