/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small json-glib helpers shared by the manifest, the state file, the
 * simulator and shotsyncctl: one member per call when building, and typed
 * lookups that never trust a document's shape when reading. */

#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

/* A member (key non-NULL) or an array element (key NULL). A NULL string is
 * written as ""; a string that is not UTF-8 is written escaped as by
 * utf8_escape_invalid(), so that the output is always valid JSON. */
void json_add_string(JsonBuilder *b, const char *key, const char *s);
void json_add_int(JsonBuilder *b, const char *key, int64_t v);
void json_add_bool(JsonBuilder *b, const char *key, bool v);
void json_add_double(JsonBuilder *b, const char *key, double v);

/* The member key of o when it holds a value of the given type (G_TYPE_STRING,
 * G_TYPE_INT64, G_TYPE_BOOLEAN, G_TYPE_DOUBLE); NULL when o is NULL, the
 * member is absent, or it holds anything else. */
JsonNode *json_value_member(JsonObject *o, const char *key, GType type);

/* Lookups with a fallback for when the member is absent or of another type. */
const char *json_get_string(JsonObject *o, const char *key, const char *fallback);
int64_t json_get_int(JsonObject *o, const char *key, int64_t fallback);
double json_get_double(JsonObject *o, const char *key, double fallback); /* integers too */
bool json_get_bool(JsonObject *o, const char *key, bool fallback);
JsonObject *json_get_object(JsonObject *o, const char *key);
JsonArray *json_get_array(JsonObject *o, const char *key);
/* Element i of a as an integer; 0 when a is NULL, too short or holds another type there. */
int64_t json_element_int(JsonArray *a, guint i);
