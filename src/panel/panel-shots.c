/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The shots: a card per shot in progress with a tile per expected camera and
 * a countdown to its timeout, and the recent shots of the day, newest first.
 *
 * A shot's card turns each tile from "waiting" to "present" (or "late") as
 * ImageAssigned arrives; when the shot closes its card stays, dashed, with
 * its status and the missing cameras, until the next shot opens, so the last
 * shot can be read from across the room. The countdown is TimeoutSec from
 * the moment ShotOpened was heard; for shots already open when the panel
 * (or the service) started, the bus does not say when they opened, so the
 * trigger's time stands in and the countdown is shown as approximate. */

#include "panel.h"

#include <math.h>

static const struct {
        const char *css, *icon, *word, *a11y;
} tile_looks[] = {
        [TILE_WAITING] = { "waiting", "shotsync-waiting-symbolic", "waiting", "waiting" },
        [TILE_PRESENT] = { "present", "shotsync-present-symbolic", "present", "present" },
        [TILE_LATE] = { "late", "shotsync-late-symbolic", "LATE", "late" },
        [TILE_MISSING] = { "missing", "shotsync-missing-symbolic", "MISSING", "missing" },
};

/* Shot ids are YYYYMMDD-NNN with at least three digits: by date, then number. */
int shots_compare_ids(const char *a, const char *b) {
        const char *da = strchr(a, '-'), *db = strchr(b, '-');
        if (!da || !db || da - a != db - b)
                return strcmp(a, b);
        int c = strncmp(a, b, da - a);
        if (c != 0)
                return c;
        guint64 na = g_ascii_strtoull(da + 1, NULL, 10), nb = g_ascii_strtoull(db + 1, NULL, 10);
        return (na > nb) - (na < nb);
}

static bool strv_has(const char *const *v, const char *s) {
        return v && g_strv_contains(v, s);
}

/* ---- tiles ---- */

static void tile_set(Tile *t, TileState state) {
        gtk_widget_remove_css_class(t->box, tile_looks[t->state].css);
        t->state = state;
        gtk_widget_add_css_class(t->box, tile_looks[state].css);
        gtk_image_set_from_icon_name(GTK_IMAGE(t->icon), tile_looks[state].icon);
        gtk_label_set_text(GTK_LABEL(t->state_label), tile_looks[state].word);
        panel_set_a11y_label(t->box, "Camera %s: %s", t->camera, tile_looks[state].a11y);
}

/* How long a tile says its camera's PC clock was set: a lab day. */
#define CLOCK_BADGE_USEC ((gint64) 12 * 3600 * G_USEC_PER_SEC)

static bool lookup_clock(GVariant *v, const char *camera, const char *type, GVariant **ret) {
        *ret = v ? g_variant_lookup_value(v, camera, G_VARIANT_TYPE(type)) : NULL;
        return *ret != NULL;
}

/* Rule 14 next to the tile: the offset its files are grouped with, and a
 * warning badge when its PC's clock was set today. */
static void tile_update_clock(Panel *p, Tile *t) {
        GVariant *clocks = p->proxy ? shotsync_shotsync1_get_camera_clocks(p->proxy) : NULL;
        GVariant *changes = p->proxy ? shotsync_shotsync1_get_camera_clock_changes(p->proxy) : NULL;
        const char *const *triggers = p->proxy ? shotsync_shotsync1_get_trigger_cameras(p->proxy) : NULL;
        g_autoptr(GVariant) clock = NULL, change = NULL;
        g_autofree char *text = NULL, *a11y = NULL;

        if (lookup_clock(clocks, t->camera, "(xxu)", &clock)) {
                gint64 offset, spread;
                guint32 samples;
                g_variant_get(clock, "(xxu)", &offset, &spread, &samples);
                if (triggers && triggers[0] && g_str_equal(triggers[0], t->camera)) {
                        text = g_strdup("reference clock");
                        a11y = g_strdup_printf("Clock of %s: the reference", t->camera);
                } else if (samples >= 3 || offset != 0) {
                        text = g_strdup_printf("clock %+.1f s", (double) offset / 1e6);
                        a11y = g_strdup_printf("Clock of %s: %+.3f s", t->camera, (double) offset / 1e6);
                } else {
                        text = g_strdup("clock: learning");
                        a11y = g_strdup_printf("Clock of %s: learning", t->camera);
                }
        }
        gtk_widget_set_visible(t->clock_label, text != NULL);
        if (text) {
                gtk_label_set_text(GTK_LABEL(t->clock_label), text);
                panel_set_a11y_label(t->clock_label, "%s", a11y);
        }

        bool recent = false;
        if (lookup_clock(changes, t->camera, "(xxt)", &change)) {
                gint64 offset, previous;
                guint64 when;
                g_variant_get(change, "(xxt)", &offset, &previous, &when);
                recent = g_get_real_time() - (gint64) when < CLOCK_BADGE_USEC;
                g_autofree char *at = panel_format_time(when, false);
                panel_set_a11y_label(t->clock_badge, "Clock of %s was set at %s: now %+.3f s, was %+.3f s", t->camera,
                                     at, (double) offset / 1e6, (double) previous / 1e6);
                gtk_widget_set_tooltip_text(t->clock_badge, "Its PC's clock was set: files are grouped with the new "
                                                            "offset");
        }
        gtk_widget_set_visible(t->clock_badge, recent);
}

void shots_update_clocks(Panel *p) {
        GHashTableIter it;
        gpointer v;
        g_hash_table_iter_init(&it, p->open_rows);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                ShotRow *r = v;
                for (guint i = 0; i < r->tiles->len; i++)
                        tile_update_clock(p, g_ptr_array_index(r->tiles, i));
        }
}

static Tile *tile_new(ShotRow *r, const char *camera) {
        Tile *t = g_new0(Tile, 1);
        t->camera = g_strdup(camera);
        t->box = g_object_new(GTK_TYPE_BOX, "orientation", GTK_ORIENTATION_HORIZONTAL, "spacing", 12,
                              "accessible-role", GTK_ACCESSIBLE_ROLE_GROUP, NULL);
        gtk_widget_add_css_class(t->box, "tile");
        t->icon = panel_icon(tile_looks[TILE_WAITING].icon);
        gtk_widget_set_valign(t->icon, GTK_ALIGN_CENTER);
        gtk_box_append(GTK_BOX(t->box), t->icon);
        GtkWidget *texts = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
        gtk_widget_set_valign(texts, GTK_ALIGN_CENTER);
        GtkWidget *name = gtk_label_new(camera);
        gtk_widget_add_css_class(name, "camera");
        gtk_label_set_xalign(GTK_LABEL(name), 0);
        gtk_label_set_ellipsize(GTK_LABEL(name), PANGO_ELLIPSIZE_END);
        gtk_label_set_max_width_chars(GTK_LABEL(name), 14);
        t->state_label = gtk_label_new("");
        gtk_widget_add_css_class(t->state_label, "tile-state");
        gtk_label_set_xalign(GTK_LABEL(t->state_label), 0);
        gtk_box_append(GTK_BOX(texts), name);
        gtk_box_append(GTK_BOX(texts), t->state_label);
        t->clock_label = gtk_label_new("");
        gtk_widget_add_css_class(t->clock_label, "tile-clock");
        gtk_label_set_xalign(GTK_LABEL(t->clock_label), 0);
        gtk_box_append(GTK_BOX(texts), t->clock_label);
        t->clock_badge = panel_badge("clock-set", "shotsync-late-symbolic", "CLOCK SET");
        gtk_widget_set_halign(t->clock_badge, GTK_ALIGN_START);
        gtk_box_append(GTK_BOX(texts), t->clock_badge);
        gtk_box_append(GTK_BOX(t->box), texts);
        t->state = TILE_WAITING;
        tile_set(t, TILE_WAITING);
        tile_update_clock(r->panel, t);

        gtk_flow_box_append(GTK_FLOW_BOX(r->tiles_box), t->box);
        /* Tiles show, they do nothing: keep them out of the Tab chain. */
        GtkWidget *child = gtk_widget_get_parent(t->box);
        gtk_widget_set_focusable(child, FALSE);
        g_ptr_array_add(r->tiles, t);
        return t;
}

static void tile_free(gpointer data) {
        Tile *t = data;
        g_free(t->camera);
        g_free(t);
}

static Tile *row_tile(ShotRow *r, const char *camera) {
        for (guint i = 0; i < r->tiles->len; i++) {
                Tile *t = g_ptr_array_index(r->tiles, i);
                if (g_str_equal(t->camera, camera))
                        return t;
        }
        return NULL;
}

/* ---- shot cards ---- */

static guint row_count(ShotRow *r, TileState state) {
        guint n = 0;
        for (guint i = 0; i < r->tiles->len; i++)
                if (((Tile *) g_ptr_array_index(r->tiles, i))->state == state)
                        n++;
        return n;
}

static char *row_missing_names(ShotRow *r) {
        GString *s = g_string_new(NULL);
        for (guint i = 0; i < r->tiles->len; i++) {
                Tile *t = g_ptr_array_index(r->tiles, i);
                if (t->state == TILE_MISSING)
                        g_string_append_printf(s, "%s%s", s->len ? ", " : "", t->camera);
        }
        return g_string_free(s, FALSE);
}

static void row_update_text(ShotRow *r, gint64 now) {
        guint present = row_count(r, TILE_PRESENT) + row_count(r, TILE_LATE);
        if (r->closed) {
                g_autofree char *missing = row_missing_names(r);
                bool complete = g_str_equal(r->status, "complete");
                GtkWidget *icon = gtk_widget_get_first_child(r->closed_badge);
                GtkWidget *label = gtk_widget_get_next_sibling(icon);
                g_autofree char *badge = NULL;
                if (*missing)
                        badge = g_strdup_printf("%s — MISSING %s", complete ? "COMPLETE" : "TIMEOUT", missing);
                else
                        badge = g_strdup(complete ? "COMPLETE" : "TIMEOUT — all files in, some late");
                gtk_label_set_text(GTK_LABEL(label), badge);
                gtk_image_set_from_icon_name(GTK_IMAGE(icon),
                                             *missing ? "shotsync-missing-symbolic" : "shotsync-present-symbolic");
                gtk_widget_remove_css_class(r->closed_badge, "ok");
                gtk_widget_remove_css_class(r->closed_badge, "timeout");
                gtk_widget_add_css_class(r->closed_badge, *missing || !complete ? "timeout" : "ok");
                gtk_widget_set_visible(r->closed_badge, TRUE);
                gtk_widget_set_visible(r->countdown, FALSE);
                gtk_widget_set_visible(r->bar, FALSE);
                panel_set_a11y_label(r->card, "Shot %s: closed, %s, %u of %u cameras present%s%s", r->id, r->status,
                                     present, r->tiles->len, *missing ? ", missing " : "", missing);
                return;
        }
        double left = r->timeout_sec - (double) (now - r->opened_mono) / G_USEC_PER_SEC;
        int secs = left > 0 ? (int) ceil(left) : 0;
        g_autofree char *text = secs > 0 ? g_strdup_printf("closes in %s%d s", r->estimated ? "~" : "", secs) :
                                           g_strdup("closing…");
        gtk_label_set_text(GTK_LABEL(r->countdown), text);
        gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(r->bar),
                                      r->timeout_sec > 0 ? CLAMP(left / r->timeout_sec, 0.0, 1.0) : 0.0);
        panel_set_a11y_label(r->card, "Shot %s: collecting, %u of %u cameras present, %s", r->id, present,
                             r->tiles->len, text);
        panel_set_a11y_label(r->countdown, "Time left before timeout: %s", text);
}

static gboolean on_tick(gpointer userdata) {
        Panel *p = userdata;
        gint64 now = g_get_monotonic_time();
        bool any = false;
        GHashTableIter it;
        gpointer v;
        g_hash_table_iter_init(&it, p->open_rows);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                ShotRow *r = v;
                if (r->closed)
                        continue;
                row_update_text(r, now);
                any = true;
        }
        if (!any) {
                p->tick_id = 0;
                return G_SOURCE_REMOVE;
        }
        return G_SOURCE_CONTINUE;
}

static void ensure_tick(Panel *p) {
        if (!p->tick_id)
                p->tick_id = g_timeout_add(250, on_tick, p);
}

void shots_update_placeholder(Panel *p) {
        gtk_widget_set_visible(p->open_placeholder, g_hash_table_size(p->open_rows) == 0);
        if (p->state == SERVICE_RUNNING || p->state == SERVICE_PAUSED || p->state == SERVICE_DEGRADED)
                gtk_label_set_text(GTK_LABEL(p->open_placeholder), "No shot in progress");
        else
                gtk_label_set_text(GTK_LABEL(p->open_placeholder), "No live shots: the service is not running");
}

static void row_free(ShotRow *r) {
        g_ptr_array_unref(r->tiles);
        g_free(r->id);
        g_free(r->status);
        g_free(r);
}

static void row_remove(Panel *p, ShotRow *r) {
        g_hash_table_remove(p->open_rows, r->id);
        gtk_box_remove(GTK_BOX(p->open_box), r->card);
        row_free(r);
}

static void remove_closed_rows(Panel *p) {
        GHashTableIter it;
        gpointer v;
        GPtrArray *gone = g_ptr_array_new();
        g_hash_table_iter_init(&it, p->open_rows);
        while (g_hash_table_iter_next(&it, NULL, &v))
                if (((ShotRow *) v)->closed)
                        g_ptr_array_add(gone, v);
        for (guint i = 0; i < gone->len; i++)
                row_remove(p, g_ptr_array_index(gone, i));
        g_ptr_array_free(gone, TRUE);
}

/* Cards in shot order, the oldest (closing first) on top. */
static void place_card(Panel *p, ShotRow *r) {
        GtkWidget *after = p->open_placeholder;
        GHashTableIter it;
        gpointer v;
        const char *best = NULL;
        g_hash_table_iter_init(&it, p->open_rows);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                ShotRow *o = v;
                if (o == r || shots_compare_ids(o->id, r->id) > 0)
                        continue;
                if (!best || shots_compare_ids(o->id, best) > 0) {
                        best = o->id;
                        after = o->card;
                }
        }
        gtk_box_insert_child_after(GTK_BOX(p->open_box), r->card, after);
}

static ShotRow *row_new(Panel *p, const char *id) {
        ShotRow *r = g_new0(ShotRow, 1);
        r->panel = p;
        r->id = g_strdup(id);
        r->status = g_strdup("collecting");
        r->tiles = g_ptr_array_new_with_free_func(tile_free);

        r->card = g_object_new(GTK_TYPE_BOX, "orientation", GTK_ORIENTATION_VERTICAL, "spacing", 10,
                               "accessible-role", GTK_ACCESSIBLE_ROLE_GROUP, NULL);
        gtk_widget_add_css_class(r->card, "shot-card");
        GtkWidget *top = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 18);
        r->title = gtk_label_new(id);
        gtk_widget_add_css_class(r->title, "shot-id");
        gtk_box_append(GTK_BOX(top), r->title);
        GtkWidget *spacer = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 0);
        gtk_widget_set_hexpand(spacer, TRUE);
        gtk_box_append(GTK_BOX(top), spacer);
        r->closed_badge = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 10);
        gtk_widget_add_css_class(r->closed_badge, "closed-status");
        gtk_box_append(GTK_BOX(r->closed_badge), panel_icon("shotsync-missing-symbolic"));
        gtk_box_append(GTK_BOX(r->closed_badge), gtk_label_new(""));
        gtk_widget_set_visible(r->closed_badge, FALSE);
        gtk_box_append(GTK_BOX(top), r->closed_badge);
        r->countdown = gtk_label_new("");
        gtk_widget_add_css_class(r->countdown, "countdown");
        gtk_box_append(GTK_BOX(top), r->countdown);
        gtk_box_append(GTK_BOX(r->card), top);

        r->bar = gtk_progress_bar_new();
        gtk_accessible_update_property(GTK_ACCESSIBLE(r->bar), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                       "Time left before timeout", -1);
        gtk_box_append(GTK_BOX(r->card), r->bar);

        r->tiles_box = gtk_flow_box_new();
        gtk_flow_box_set_selection_mode(GTK_FLOW_BOX(r->tiles_box), GTK_SELECTION_NONE);
        /* A grid of equal tiles, wrapping when the cameras do not fit a line. */
        gtk_flow_box_set_homogeneous(GTK_FLOW_BOX(r->tiles_box), TRUE);
        gtk_flow_box_set_max_children_per_line(GTK_FLOW_BOX(r->tiles_box), 12);
        gtk_flow_box_set_column_spacing(GTK_FLOW_BOX(r->tiles_box), 12);
        gtk_flow_box_set_row_spacing(GTK_FLOW_BOX(r->tiles_box), 12);
        gtk_widget_set_focusable(r->tiles_box, FALSE);
        gtk_accessible_update_property(GTK_ACCESSIBLE(r->tiles_box), GTK_ACCESSIBLE_PROPERTY_LABEL, "Cameras", -1);
        gtk_box_append(GTK_BOX(r->card), r->tiles_box);

        g_hash_table_insert(p->open_rows, r->id, r);
        place_card(p, r);
        return r;
}

void shots_opened(Panel *p, const char *id, const char *const *expected, gint64 opened_mono, bool estimated,
                  double timeout_sec) {
        ShotRow *r = g_hash_table_lookup(p->open_rows, id);
        if (r)
                return;
        remove_closed_rows(p);
        r = row_new(p, id);
        r->opened_mono = opened_mono;
        r->estimated = estimated;
        r->timeout_sec = timeout_sec;
        for (const char *const *c = expected; c && *c; c++)
                if (!row_tile(r, *c))
                        tile_new(r, *c);
        row_update_text(r, g_get_monotonic_time());
        shots_update_placeholder(p);
        ensure_tick(p);

        RecentRow *rr = shots_recent_get(p, id);
        if (!rr)
                shots_recent_set(p, id, "collecting", 0, r->tiles->len, NULL);
}

/* Returns whether the camera was still awaited. */
static bool row_image(ShotRow *r, const char *camera, bool late) {
        bool was_waiting = false;
        Tile *t = row_tile(r, camera);
        if (!t)
                t = tile_new(r, camera); /* not expected: shown all the same */
        else
                was_waiting = t->state == TILE_WAITING;
        if (late)
                tile_set(t, TILE_LATE);
        else if (t->state == TILE_WAITING)
                tile_set(t, TILE_PRESENT);
        row_update_text(r, g_get_monotonic_time());
        return was_waiting;
}

void shots_image(Panel *p, const char *id, const char *camera, bool late) {
        ShotRow *r = g_hash_table_lookup(p->open_rows, id);
        bool was_waiting = r && row_image(r, camera, late);
        RecentRow *rr = shots_recent_get(p, id);
        if (rr && !late && g_str_equal(rr->status, "collecting"))
                shots_recent_set(p, id, rr->status, rr->files + 1,
                                 was_waiting && rr->n_missing > 0 ? rr->n_missing - 1 : rr->n_missing, NULL);
}

void shots_closed(Panel *p, const char *id, const char *status, const char *const *missing, bool is_update) {
        ShotRow *r = g_hash_table_lookup(p->open_rows, id);
        if (!r)
                return;
        r->closed = true;
        g_free(r->status);
        r->status = g_strdup(status);
        for (const char *const *c = missing; c && *c; c++)
                if (!row_tile(r, *c))
                        tile_new(r, *c);
        for (guint i = 0; i < r->tiles->len; i++) {
                Tile *t = g_ptr_array_index(r->tiles, i);
                if (strv_has(missing, t->camera))
                        tile_set(t, TILE_MISSING);
                else if (t->state == TILE_MISSING || (is_update && t->state == TILE_WAITING))
                        tile_set(t, TILE_LATE);
                else if (t->state == TILE_WAITING)
                        tile_set(t, TILE_PRESENT);
        }
        row_update_text(r, g_get_monotonic_time());
}

void shots_clear_open(Panel *p) {
        GHashTableIter it;
        gpointer v;
        GPtrArray *all = g_ptr_array_new();
        g_hash_table_iter_init(&it, p->open_rows);
        while (g_hash_table_iter_next(&it, NULL, &v))
                g_ptr_array_add(all, v);
        for (guint i = 0; i < all->len; i++)
                row_remove(p, g_ptr_array_index(all, i));
        g_ptr_array_free(all, TRUE);
        shots_update_placeholder(p);
}

/* A shot that was open when we started watching, from GetShot. */
void shots_fill_open(Panel *p, GVariant *m) {
        const char *id = NULL, *status = NULL;
        if (!g_variant_lookup(m, "id", "&s", &id) || !g_variant_lookup(m, "status", "&s", &status))
                return;
        if (!g_str_equal(status, "collecting") || g_hash_table_contains(p->open_rows, id))
                return;

        guint64 trigger = 0;
        g_autoptr(GVariant) trig = g_variant_lookup_value(m, "trigger", G_VARIANT_TYPE_VARDICT);
        if (trig)
                g_variant_lookup(trig, "time", "t", &trigger);
        g_autoptr(GVariant) files = g_variant_lookup_value(m, "files", G_VARIANT_TYPE("aa{sv}"));
        g_autofree const char **missing = NULL;
        g_variant_lookup(m, "missing", "^a&s", &missing);

        /* The expected cameras in the service's order, then any other. */
        g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
        for (gsize i = 0; files && i < g_variant_n_children(files); i++) {
                g_autoptr(GVariant) f = g_variant_get_child_value(files, i);
                char *cam = NULL;
                if (g_variant_lookup(f, "camera", "s", &cam) &&
                    !g_ptr_array_find_with_equal_func(seen, cam, g_str_equal, NULL))
                        g_ptr_array_add(seen, cam);
                else
                        g_free(cam);
        }
        for (const char **c = missing; c && *c; c++)
                if (!g_ptr_array_find_with_equal_func(seen, *c, g_str_equal, NULL))
                        g_ptr_array_add(seen, g_strdup(*c));
        g_autoptr(GPtrArray) expected = g_ptr_array_new(); /* borrowed from seen */
        const char *const *order = shotsync_shotsync1_get_cameras(p->proxy);
        for (const char *const *c = order; c && *c; c++) {
                guint i;
                if (g_ptr_array_find_with_equal_func(seen, *c, g_str_equal, &i))
                        g_ptr_array_add(expected, seen->pdata[i]);
        }
        for (guint i = 0; i < seen->len; i++)
                if (!g_ptr_array_find_with_equal_func(expected, seen->pdata[i], g_str_equal, NULL))
                        g_ptr_array_add(expected, seen->pdata[i]);
        g_ptr_array_add(expected, NULL);

        double timeout = shotsync_shotsync1_get_timeout_sec(p->proxy);
        gint64 elapsed = trigger ? g_get_real_time() - (gint64) trigger : 0;
        elapsed = CLAMP(elapsed, 0, (gint64) (timeout * G_USEC_PER_SEC));
        shots_opened(p, id, (const char *const *) expected->pdata, g_get_monotonic_time() - elapsed, true, timeout);

        ShotRow *r = g_hash_table_lookup(p->open_rows, id);
        gsize n = files ? g_variant_n_children(files) : 0;
        for (gsize i = 0; r && i < n; i++) {
                g_autoptr(GVariant) f = g_variant_get_child_value(files, i);
                g_autofree char *cam = NULL;
                gboolean late = FALSE;
                g_variant_lookup(f, "late", "b", &late);
                if (g_variant_lookup(f, "camera", "s", &cam))
                        row_image(r, cam, late);
        }
        /* The manifest is newer than the list this shot was found in. */
        shots_recent_set(p, id, status, (guint) n, missing ? g_strv_length((char **) missing) : 0, NULL);
}

/* ---- recent shots ---- */

RecentRow *shots_recent_get(Panel *p, const char *id) {
        return g_hash_table_lookup(p->recent_rows, id);
}

static void recent_free(RecentRow *rr) {
        g_free(rr->id);
        g_free(rr->status);
        g_strfreev(rr->missing);
        g_free(rr);
}

static void recent_update(RecentRow *rr) {
        bool collecting = g_str_equal(rr->status, "collecting");
        bool complete = g_str_equal(rr->status, "complete");
        gtk_widget_remove_css_class(rr->badge, "ok");
        gtk_widget_remove_css_class(rr->badge, "timeout");
        gtk_widget_remove_css_class(rr->badge, "pending");
        gtk_widget_add_css_class(rr->badge, collecting ? "pending" : complete ? "ok" : "timeout");
        gtk_image_set_from_icon_name(GTK_IMAGE(rr->badge_icon), collecting ? "shotsync-waiting-symbolic" :
                                                                complete   ? "shotsync-present-symbolic" :
                                                                             "shotsync-missing-symbolic");
        gtk_label_set_text(GTK_LABEL(rr->badge_label), collecting ? "COLLECTING" : complete ? "COMPLETE" : "TIMEOUT");
        g_autofree char *files = g_strdup_printf("%u file%s", rr->files, rr->files == 1 ? "" : "s");
        gtk_label_set_text(GTK_LABEL(rr->files_label), files);

        g_autofree char *missing = NULL;
        if (!collecting && rr->n_missing > 0) {
                if (rr->missing && rr->missing[0]) {
                        g_autofree char *names = g_strjoinv(", ", rr->missing);
                        missing = g_strdup_printf("MISSING: %s", names);
                } else
                        missing = g_strdup_printf("MISSING %u camera%s", rr->n_missing, rr->n_missing == 1 ? "" : "s");
        }
        gtk_label_set_text(GTK_LABEL(rr->missing_label), missing ?: "");
        gtk_widget_set_visible(rr->missing_box, missing != NULL);

        if (collecting)
                panel_set_a11y_label(rr->row, "Shot %s: collecting, %s", rr->id, files);
        else
                panel_set_a11y_label(rr->row, "Shot %s: %s, %s, %s", rr->id, rr->status, files,
                                     missing ?: "no camera missing");
}

typedef struct MissingCall {
        Panel *panel;
        char *id;
} MissingCall;

static void on_get_missing(GObject *src, GAsyncResult *res, gpointer userdata) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) shot = NULL;
        MissingCall *call = userdata;
        Panel *p = call->panel;
        g_autofree char *id = call->id;
        g_free(call);
        bool ok = shotsync_shotsync1_call_get_shot_finish(SHOTSYNC_SHOTSYNC1(src), &shot, res, &error);
        /* The Panel outlives every call (panel-bus.c); its rows may not. */
        RecentRow *rr = shots_recent_get(p, id);
        if (rr)
                rr->fetching = false;
        if (!ok || !rr)
                return; /* cancelled, or the service went away: the next fill asks again */
        g_autofree const char **missing = NULL;
        if (g_variant_lookup(shot, "missing", "^a&s", &missing)) {
                g_strfreev(rr->missing);
                rr->missing = g_strdupv((char **) missing);
                rr->n_missing = g_strv_length(rr->missing);
                recent_update(rr);
                panel_update_header(p);
        }
}

static int recent_sort(GtkListBoxRow *a, GtkListBoxRow *b, gpointer userdata) {
        return -shots_compare_ids(g_object_get_data(G_OBJECT(a), "shot-id"),
                                  g_object_get_data(G_OBJECT(b), "shot-id"));
}

static RecentRow *recent_new(Panel *p, const char *id) {
        RecentRow *rr = g_new0(RecentRow, 1);
        rr->panel = p;
        rr->id = g_strdup(id);
        rr->status = g_strdup("collecting");

        rr->row = gtk_list_box_row_new();
        gtk_list_box_row_set_activatable(GTK_LIST_BOX_ROW(rr->row), TRUE);
        g_object_set_data_full(G_OBJECT(rr->row), "shot-id", g_strdup(id), g_free);

        GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 18);
        rr->id_label = gtk_label_new(id);
        gtk_widget_add_css_class(rr->id_label, "recent-id");
        gtk_label_set_xalign(GTK_LABEL(rr->id_label), 0);
        gtk_label_set_width_chars(GTK_LABEL(rr->id_label), 13);
        gtk_box_append(GTK_BOX(box), rr->id_label);

        rr->badge = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
        gtk_widget_add_css_class(rr->badge, "badge");
        gtk_widget_set_size_request(rr->badge, 180, -1);
        gtk_widget_set_valign(rr->badge, GTK_ALIGN_CENTER);
        rr->badge_icon = panel_icon("shotsync-waiting-symbolic");
        rr->badge_label = gtk_label_new("");
        gtk_box_append(GTK_BOX(rr->badge), rr->badge_icon);
        gtk_box_append(GTK_BOX(rr->badge), rr->badge_label);
        gtk_box_append(GTK_BOX(box), rr->badge);

        rr->missing_box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
        gtk_widget_add_css_class(rr->missing_box, "missing-text");
        gtk_box_append(GTK_BOX(rr->missing_box), panel_icon("shotsync-missing-symbolic"));
        rr->missing_label = gtk_label_new("");
        gtk_label_set_ellipsize(GTK_LABEL(rr->missing_label), PANGO_ELLIPSIZE_END);
        gtk_box_append(GTK_BOX(rr->missing_box), rr->missing_label);
        gtk_box_append(GTK_BOX(box), rr->missing_box);
        GtkWidget *spacer = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 0);
        gtk_widget_set_hexpand(spacer, TRUE);
        gtk_box_append(GTK_BOX(box), spacer);

        rr->files_label = gtk_label_new("");
        gtk_label_set_width_chars(GTK_LABEL(rr->files_label), 8);
        gtk_label_set_xalign(GTK_LABEL(rr->files_label), 0);
        gtk_box_append(GTK_BOX(box), rr->files_label);

        GtkWidget *more = gtk_label_new("details ›");
        gtk_widget_add_css_class(more, "subtle");
        gtk_accessible_update_state(GTK_ACCESSIBLE(more), GTK_ACCESSIBLE_STATE_HIDDEN, TRUE, -1);
        gtk_box_append(GTK_BOX(box), more);

        gtk_list_box_row_set_child(GTK_LIST_BOX_ROW(rr->row), box);
        gtk_list_box_append(GTK_LIST_BOX(p->recent_list), rr->row);
        g_hash_table_insert(p->recent_rows, rr->id, rr);

        /* Keep the newest RECENT_MAX. */
        if (g_hash_table_size(p->recent_rows) > RECENT_MAX) {
                GtkListBoxRow *last = NULL;
                for (int i = 0; gtk_list_box_get_row_at_index(GTK_LIST_BOX(p->recent_list), i); i++)
                        last = gtk_list_box_get_row_at_index(GTK_LIST_BOX(p->recent_list), i);
                RecentRow *old = last ? shots_recent_get(p, g_object_get_data(G_OBJECT(last), "shot-id")) : NULL;
                if (old && old != rr) {
                        g_hash_table_remove(p->recent_rows, old->id);
                        gtk_list_box_remove(GTK_LIST_BOX(p->recent_list), old->row);
                        recent_free(old);
                }
        }
        return rr;
}

void shots_recent_set(Panel *p, const char *id, const char *status, guint files, guint n_missing,
                      const char *const *missing) {
        RecentRow *rr = shots_recent_get(p, id);
        if (!rr)
                rr = recent_new(p, id);
        if (!g_str_equal(rr->status, status)) {
                g_free(rr->status);
                rr->status = g_strdup(status);
        }
        rr->files = files;
        if (missing) {
                g_strfreev(rr->missing);
                rr->missing = g_strdupv((char **) missing);
                n_missing = g_strv_length(rr->missing);
        } else if (rr->missing && g_strv_length(rr->missing) != n_missing)
                g_clear_pointer(&rr->missing, g_strfreev);
        rr->n_missing = n_missing;
        recent_update(rr);
        gtk_list_box_invalidate_sort(GTK_LIST_BOX(p->recent_list));

        /* ListShots gives only how many are missing: ask for their names. */
        if (!rr->missing && rr->n_missing > 0 && !g_str_equal(status, "collecting") && !rr->fetching &&
            p->proxy && p->fill_cancel) {
                MissingCall *call = g_new(MissingCall, 1);
                *call = (MissingCall) { .panel = p, .id = g_strdup(id) };
                rr->fetching = true;
                shotsync_shotsync1_call_get_shot(p->proxy, id, p->fill_cancel, on_get_missing, call);
        }
}

void shots_init(Panel *p) {
        gtk_list_box_set_sort_func(GTK_LIST_BOX(p->recent_list), recent_sort, p, NULL);
        shots_update_placeholder(p);
}

void shots_free(Panel *p) {
        if (p->tick_id) {
                g_source_remove(p->tick_id);
                p->tick_id = 0;
        }
        GHashTableIter it;
        gpointer v;
        g_hash_table_iter_init(&it, p->open_rows);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                g_hash_table_iter_remove(&it);
                row_free(v);
        }
        g_hash_table_iter_init(&it, p->recent_rows);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                g_hash_table_iter_remove(&it);
                recent_free(v);
        }
}
