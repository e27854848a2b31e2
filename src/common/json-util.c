/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "json-util.h"
#include "util.h"

void json_add_string(JsonBuilder *b, const char *key, const char *s) {
        if (key)
                json_builder_set_member_name(b, key);
        if (!s)
                s = "";
        if (g_utf8_validate(s, -1, NULL)) {
                json_builder_add_string_value(b, s);
                return;
        }
        g_autofree char *e = utf8_escape_invalid(s);
        json_builder_add_string_value(b, e);
}

void json_add_int(JsonBuilder *b, const char *key, int64_t v) {
        if (key)
                json_builder_set_member_name(b, key);
        json_builder_add_int_value(b, v);
}

void json_add_bool(JsonBuilder *b, const char *key, bool v) {
        if (key)
                json_builder_set_member_name(b, key);
        json_builder_add_boolean_value(b, v);
}

void json_add_double(JsonBuilder *b, const char *key, double v) {
        if (key)
                json_builder_set_member_name(b, key);
        json_builder_add_double_value(b, v);
}

JsonNode *json_value_member(JsonObject *o, const char *key, GType type) {
        JsonNode *n = o ? json_object_get_member(o, key) : NULL;
        return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == type ? n : NULL;
}

const char *json_get_string(JsonObject *o, const char *key, const char *fallback) {
        JsonNode *n = json_value_member(o, key, G_TYPE_STRING);
        return n ? json_node_get_string(n) : fallback;
}

int64_t json_get_int(JsonObject *o, const char *key, int64_t fallback) {
        JsonNode *n = json_value_member(o, key, G_TYPE_INT64);
        return n ? json_node_get_int(n) : fallback;
}

double json_get_double(JsonObject *o, const char *key, double fallback) {
        JsonNode *n = json_value_member(o, key, G_TYPE_DOUBLE);
        if (n)
                return json_node_get_double(n);
        n = json_value_member(o, key, G_TYPE_INT64);
        return n ? (double) json_node_get_int(n) : fallback;
}

bool json_get_bool(JsonObject *o, const char *key, bool fallback) {
        JsonNode *n = json_value_member(o, key, G_TYPE_BOOLEAN);
        return n ? json_node_get_boolean(n) : fallback;
}

JsonObject *json_get_object(JsonObject *o, const char *key) {
        JsonNode *n = o ? json_object_get_member(o, key) : NULL;
        return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

JsonArray *json_get_array(JsonObject *o, const char *key) {
        JsonNode *n = o ? json_object_get_member(o, key) : NULL;
        return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

int64_t json_element_int(JsonArray *a, guint i) {
        JsonNode *n = a && i < json_array_get_length(a) ? json_array_get_element(a, i) : NULL;
        return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64 ? json_node_get_int(n) : 0;
}
