/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* shotsyncctl: replies read as JSON, tables, times. */

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "shotsyncctl.h"

/* ---- any D-Bus value as JSON ---- */

static int read_basic_json(sd_bus_message *m, char type, JsonNode **ret) {
        union {
                uint8_t u8;
                int16_t i16;
                uint16_t u16;
                int32_t i32;
                uint32_t u32;
                int64_t i64;
                uint64_t u64;
                double d;
                int b;
                const char *s;
        } v;

        int r = sd_bus_message_read_basic(m, type, &v);
        if (r < 0)
                return r;
        if (r == 0)
                return -EBADMSG;

        JsonNode *n = json_node_new(JSON_NODE_VALUE);
        switch (type) {
        case SD_BUS_TYPE_BYTE:
                json_node_set_int(n, v.u8);
                break;
        case SD_BUS_TYPE_INT16:
                json_node_set_int(n, v.i16);
                break;
        case SD_BUS_TYPE_UINT16:
                json_node_set_int(n, v.u16);
                break;
        case SD_BUS_TYPE_INT32:
                json_node_set_int(n, v.i32);
                break;
        case SD_BUS_TYPE_UINT32:
                json_node_set_int(n, v.u32);
                break;
        case SD_BUS_TYPE_INT64:
                json_node_set_int(n, v.i64);
                break;
        case SD_BUS_TYPE_UINT64:
                json_node_set_int(n, v.u64 > INT64_MAX ? INT64_MAX : (int64_t) v.u64);
                break;
        case SD_BUS_TYPE_DOUBLE:
                json_node_set_double(n, v.d);
                break;
        case SD_BUS_TYPE_BOOLEAN:
                json_node_set_boolean(n, v.b);
                break;
        case SD_BUS_TYPE_STRING:
        case SD_BUS_TYPE_OBJECT_PATH:
        case SD_BUS_TYPE_SIGNATURE:
                json_node_set_string(n, v.s);
                break;
        case SD_BUS_TYPE_UNIX_FD:
                json_node_init_null(n);
                break;
        default:
                json_node_unref(n);
                return -EBADMSG;
        }
        *ret = n;
        return 0;
}

/* Reads the items of the container just entered, up to its end. */
static int read_items_json(sd_bus_message *m, JsonArray *out) {
        for (;;) {
                int r = sd_bus_message_at_end(m, false);
                if (r < 0)
                        return r;
                if (r > 0)
                        return 0;
                JsonNode *item;
                r = bus_message_read_json(m, &item);
                if (r < 0)
                        return r;
                json_array_add_element(out, item);
        }
}

static int read_dict_json(sd_bus_message *m, JsonObject *out) {
        char type;
        const char *contents;
        int r;

        for (;;) {
                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                if (r == 0)
                        return 0;
                if (type != SD_BUS_TYPE_DICT_ENTRY)
                        return -EBADMSG;
                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, contents);
                if (r <= 0)
                        return r < 0 ? r : -EBADMSG;

                g_autoptr(JsonNode) key = NULL, value = NULL;
                r = bus_message_read_json(m, &key);
                if (r >= 0)
                        r = bus_message_read_json(m, &value);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
                const char *k = json_node_get_value_type(key) == G_TYPE_STRING ? json_node_get_string(key) : NULL;
                if (!k)
                        return -EBADMSG;
                json_object_set_member(out, k, g_steal_pointer(&value));
        }
}

int bus_message_read_json(sd_bus_message *m, JsonNode **ret) {
        char type;
        const char *contents;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (r == 0)
                return -EBADMSG;

        switch (type) {
        case SD_BUS_TYPE_ARRAY: {
                bool dict = contents && contents[0] == SD_BUS_TYPE_DICT_ENTRY_BEGIN &&
                            (contents[1] == SD_BUS_TYPE_STRING || contents[1] == SD_BUS_TYPE_OBJECT_PATH);
                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, contents);
                if (r <= 0)
                        return r < 0 ? r : -EBADMSG;
                g_autoptr(JsonNode) n = NULL;
                if (dict) {
                        g_autoptr(JsonObject) o = json_object_new();
                        r = read_dict_json(m, o);
                        if (r < 0)
                                return r;
                        n = json_node_init_object(json_node_alloc(), o);
                } else {
                        g_autoptr(JsonArray) a = json_array_new();
                        r = read_items_json(m, a);
                        if (r < 0)
                                return r;
                        n = json_node_init_array(json_node_alloc(), a);
                }
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
                *ret = g_steal_pointer(&n);
                return 0;
        }

        case SD_BUS_TYPE_STRUCT:
        case SD_BUS_TYPE_DICT_ENTRY: {
                g_autoptr(JsonArray) a = json_array_new();
                r = sd_bus_message_enter_container(m, type, contents);
                if (r <= 0)
                        return r < 0 ? r : -EBADMSG;
                r = read_items_json(m, a);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
                *ret = json_node_init_array(json_node_alloc(), a);
                return 0;
        }

        case SD_BUS_TYPE_VARIANT: {
                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, contents);
                if (r <= 0)
                        return r < 0 ? r : -EBADMSG;
                g_autoptr(JsonNode) n = NULL;
                r = bus_message_read_json(m, &n);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
                *ret = g_steal_pointer(&n);
                return 0;
        }

        default:
                return read_basic_json(m, type, ret);
        }
}

char *json_join_strings(JsonArray *a, const char *sep) {
        GString *s = g_string_new(NULL);
        for (guint i = 0; a && i < json_array_get_length(a); i++) {
                JsonNode *n = json_array_get_element(a, i);
                if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
                        continue;
                if (s->len > 0)
                        g_string_append(s, sep);
                g_string_append(s, json_node_get_string(n));
        }
        if (s->len == 0)
                g_string_append(s, "-");
        return g_string_free(s, false);
}

int json_print(JsonNode *node, JsonMode mode) {
        g_autoptr(JsonGenerator) g = json_generator_new();
        json_generator_set_pretty(g, mode == JSON_PRETTY);
        json_generator_set_indent(g, 2);
        json_generator_set_root(g, node);
        g_autofree char *text = json_generator_to_data(g, NULL);
        if (fputs(text, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) == EOF)
                return negative_errno();
        return 0;
}

/* ---- times ---- */

char *format_time_full(uint64_t usec, char buf[static CTL_TIME_MAX]) {
        if (usec == 0 || usec > (uint64_t) INT64_MAX / 1000) {
                snprintf(buf, CTL_TIME_MAX, "-");
                return buf;
        }
        char iso[ISO8601_MAX];
        if (!format_iso8601((nsec_t) usec * 1000, iso))
                snprintf(buf, CTL_TIME_MAX, "@%" PRIu64 "µs", usec);
        else
                snprintf(buf, CTL_TIME_MAX, "%s", iso);
        return buf;
}

char *ctl_time_of_day(uint64_t usec, char buf[static CTL_TIME_MAX]) {
        if (usec == 0 || usec > (uint64_t) INT64_MAX / NSEC_PER_USEC) {
                snprintf(buf, CTL_TIME_MAX, "-");
                return buf;
        }
        return format_time_of_day((nsec_t) usec * NSEC_PER_USEC, buf);
}

void print_field(int width, const char *key, const char *fmt, ...) {
        va_list ap;
        if (isempty(key))
                printf("%*s  ", width, ""); /* a continuation line */
        else
                printf("%*s: ", width, key);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
}

/* ---- tables ---- */

struct Table {
        unsigned n_columns;
        GPtrArray *cells; /* row-major, the header first */
        bool *right;
};

Table *table_new(const char *first_header, ...) {
        Table *t = g_new0(Table, 1);
        va_list ap;

        t->cells = g_ptr_array_new_with_free_func(g_free);
        va_start(ap, first_header);
        for (const char *h = first_header; h; h = va_arg(ap, const char *)) {
                g_ptr_array_add(t->cells, g_strdup(h));
                t->n_columns++;
        }
        va_end(ap);
        t->right = g_new0(bool, MAX(t->n_columns, 1u));
        return t;
}

void table_align_right(Table *t, unsigned column) {
        if (column < t->n_columns)
                t->right[column] = true;
}

void table_add_row(Table *t, ...) {
        va_list ap;
        va_start(ap, t);
        for (unsigned i = 0; i < t->n_columns; i++) {
                const char *c = va_arg(ap, const char *);
                g_ptr_array_add(t->cells, g_strdup(isempty(c) ? "-" : c));
        }
        va_end(ap);
}

size_t table_rows(const Table *t) {
        return t->n_columns ? t->cells->len / t->n_columns - 1 : 0;
}

/* Columns are as wide as their widest cell, counted in characters where the
 * cell is valid UTF-8 (strings from the bus always are). */
static size_t cell_width(const char *s) {
        return g_utf8_validate(s, -1, NULL) ? (size_t) g_utf8_strlen(s, -1) : strlen(s);
}

void table_print(Table *t, FILE *f) {
        g_autofree size_t *width = g_new0(size_t, MAX(t->n_columns, 1u));
        bool header = arg_legend;

        for (guint i = header ? 0 : t->n_columns; i < t->cells->len; i++)
                width[i % t->n_columns] = MAX(width[i % t->n_columns], cell_width(t->cells->pdata[i]));

        for (guint i = header ? 0 : t->n_columns; i < t->cells->len; i++) {
                unsigned col = i % t->n_columns;
                const char *s = t->cells->pdata[i];
                size_t pad = width[col] - cell_width(s);
                bool last = col == t->n_columns - 1;

                if (col > 0)
                        fputs("  ", f);
                if (t->right[col])
                        fprintf(f, "%*s", (int) pad, "");
                fputs(s, f);
                if (!t->right[col] && !last)
                        fprintf(f, "%*s", (int) pad, "");
                if (last)
                        fputc('\n', f);
        }
}

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        g_ptr_array_unref(t->cells);
        g_free(t->right);
        g_free(t);
        return NULL;
}
