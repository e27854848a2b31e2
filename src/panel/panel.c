/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The window: a header with the service state, the next shot number and the
 * last shot; the shots in progress and the recent shots on the left; the
 * controls on the right. Every value that changes is also given to
 * assistive technologies as the accessible label of its widget, so AT-SPI
 * reads "Service state: paused" rather than a bare "PAUSED". */

#include "panel.h"

#include <stdarg.h>

static const struct {
        const char *css, *icon, *text, *a11y;
} state_looks[] = {
        [SERVICE_CONNECTING] = { "connecting", "shotsync-waiting-symbolic", "CONNECTING", "connecting" },
        [SERVICE_NO_BUS] = { "stopped", "shotsync-stopped-symbolic", "NO BUS", "no bus connection" },
        [SERVICE_NOT_RUNNING] = { "stopped", "shotsync-stopped-symbolic", "NOT RUNNING", "not running" },
        [SERVICE_RUNNING] = { "running", "shotsync-running-symbolic", "RUNNING", "running" },
        [SERVICE_PAUSED] = { "paused", "shotsync-paused-symbolic", "PAUSED", "paused" },
        [SERVICE_DEGRADED] = { "degraded", "shotsync-degraded-symbolic", "DEGRADED", "degraded" },
};

static const char *const state_details[] = {
        [SERVICE_CONNECTING] = "Waiting for the bus",
        [SERVICE_NO_BUS] = "Cannot reach the message bus",
        [SERVICE_NOT_RUNNING] = "shotsyncd is not on the bus",
        [SERVICE_RUNNING] = "Shots open as triggers arrive",
        [SERVICE_PAUSED] = "No shot opens until Resume",
        [SERVICE_DEGRADED] = "Folders not fully watched or output not writable",
};

void panel_set_a11y_label(GtkWidget *w, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        g_autofree char *text = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        gtk_accessible_update_property(GTK_ACCESSIBLE(w), GTK_ACCESSIBLE_PROPERTY_LABEL, text, -1);
}

/* GTK 4.8 names a widget with both its label property and the labels
 * related to it (a mnemonic label adds itself), giving "Fire Fire": a
 * button named here keeps only the name given. */
void panel_name_widget(GtkWidget *w, const char *name) {
        gtk_accessible_reset_relation(GTK_ACCESSIBLE(w), GTK_ACCESSIBLE_RELATION_LABELLED_BY);
        gtk_accessible_update_property(GTK_ACCESSIBLE(w), GTK_ACCESSIBLE_PROPERTY_LABEL, name, -1);
}

GtkWidget *panel_icon(const char *name) {
        GtkWidget *img = gtk_image_new_from_icon_name(name);
        /* Decorative: the word next to it says the same. */
        gtk_accessible_update_state(GTK_ACCESSIBLE(img), GTK_ACCESSIBLE_STATE_HIDDEN, TRUE, -1);
        return img;
}

GtkWidget *panel_badge(const char *state, const char *icon, const char *text) {
        GtkWidget *badge = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
        gtk_widget_add_css_class(badge, "badge");
        gtk_widget_add_css_class(badge, state);
        gtk_box_append(GTK_BOX(badge), panel_icon(icon));
        gtk_box_append(GTK_BOX(badge), gtk_label_new(text));
        return badge;
}

char *panel_format_time(guint64 usec, bool with_date) {
        if (usec == 0)
                return g_strdup("—");
        g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local((gint64) (usec / G_USEC_PER_SEC));
        if (!dt)
                return g_strdup("?");
        g_autofree char *s = g_date_time_format(dt, with_date ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S");
        return g_strdup_printf("%s.%03u", s, (unsigned) (usec % G_USEC_PER_SEC / 1000));
}

void panel_message(Panel *p, bool error, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        g_autofree char *text = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        gtk_label_set_text(GTK_LABEL(p->message_label), text);
        if (error)
                gtk_widget_add_css_class(p->message_label, "error");
        else
                gtk_widget_remove_css_class(p->message_label, "error");
        panel_set_a11y_label(p->message_label, "%s%s", error && *text ? "Error: " : "", text);
        gtk_widget_set_visible(p->message_label, *text != '\0');
}

/* ---- header ---- */

static void set_banner(Panel *p) {
        ServiceState s = p->state;
        for (size_t i = 0; i < G_N_ELEMENTS(state_looks); i++)
                gtk_widget_remove_css_class(p->banner, state_looks[i].css);
        gtk_widget_add_css_class(p->banner, state_looks[s].css);
        gtk_image_set_from_icon_name(GTK_IMAGE(p->banner_icon), state_looks[s].icon);
        gtk_label_set_text(GTK_LABEL(p->banner_label), state_looks[s].text);
        const char *detail = state_details[s];
        if (s == SERVICE_NO_BUS && p->bus_error)
                detail = p->bus_error;
        gtk_label_set_text(GTK_LABEL(p->banner_detail), detail);
        panel_set_a11y_label(p->banner, "Service state: %s", state_looks[s].a11y);
        gtk_accessible_update_property(GTK_ACCESSIBLE(p->banner), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, detail, -1);
}

void panel_update_header(Panel *p) {
        bool up = panel_service_up(p);

        guint next = up ? shotsync_shotsync1_get_next_shot_number(p->proxy) : 0;
        if (next > 0) {
                g_autofree char *t = g_strdup_printf("%03u", next);
                gtk_label_set_text(GTK_LABEL(p->next_value), t);
                panel_set_a11y_label(p->next_value, "Next shot number: %u", next);
        } else {
                gtk_label_set_text(GTK_LABEL(p->next_value), "—");
                panel_set_a11y_label(p->next_value, "Next shot number: unknown");
        }

        /* With the service away, the newest shot we know of stands in. */
        const char *last = up ? shotsync_shotsync1_get_last_shot(p->proxy) : NULL;
        if (!up) {
                GHashTableIter it;
                gpointer k;
                g_hash_table_iter_init(&it, p->recent_rows);
                while (g_hash_table_iter_next(&it, &k, NULL))
                        if (!last || shots_compare_ids(k, last) > 0)
                                last = k;
        }
        if (!last || !*last) {
                gtk_label_set_text(GTK_LABEL(p->last_value), "—");
                gtk_label_set_text(GTK_LABEL(p->last_status), up ? "No shot yet" : "");
                panel_set_a11y_label(p->last_value, "Last shot: %s", up ? "none" : "unknown");
                return;
        }
        gtk_label_set_text(GTK_LABEL(p->last_value), last);
        RecentRow *r = shots_recent_get(p, last);
        g_autofree char *status = NULL;
        if (!r)
                status = g_strdup("");
        else if (g_str_equal(r->status, "collecting"))
                status = g_strdup("collecting…");
        else if (r->n_missing == 0)
                status = g_strdup_printf("%s — all cameras", r->status);
        else if (r->missing && r->missing[0]) {
                g_autofree char *names = g_strjoinv(", ", r->missing);
                status = g_strdup_printf("%s — MISSING %s", r->status, names);
        } else
                status = g_strdup_printf("%s — MISSING %u camera%s", r->status, r->n_missing,
                                         r->n_missing == 1 ? "" : "s");
        gtk_label_set_text(GTK_LABEL(p->last_status), status);
        panel_set_a11y_label(p->last_value, "Last shot: %s%s%s", last, *status ? ", " : "", status);
}

void panel_set_state(Panel *p, ServiceState state) {
        p->state = state;
        set_banner(p);
        panel_update_header(p);
        shots_update_placeholder(p);
        controls_update(p);
}

static GtkWidget *caption_value(const char *caption, const char *value_class, GtkWidget **value,
                                GtkWidget **extra) {
        GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
        gtk_widget_set_valign(box, GTK_ALIGN_CENTER);
        GtkWidget *cap = gtk_label_new(caption);
        gtk_widget_add_css_class(cap, "caption");
        gtk_label_set_xalign(GTK_LABEL(cap), 0);
        gtk_box_append(GTK_BOX(box), cap);
        *value = gtk_label_new("—");
        gtk_widget_add_css_class(*value, value_class);
        gtk_label_set_xalign(GTK_LABEL(*value), 0);
        gtk_label_set_selectable(GTK_LABEL(*value), FALSE);
        gtk_box_append(GTK_BOX(box), *value);
        if (extra) {
                *extra = gtk_label_new("");
                gtk_widget_add_css_class(*extra, "status-line");
                gtk_label_set_xalign(GTK_LABEL(*extra), 0);
                gtk_label_set_ellipsize(GTK_LABEL(*extra), PANGO_ELLIPSIZE_END);
                gtk_label_set_max_width_chars(GTK_LABEL(*extra), 40);
                /* Read through the value's label, which says it all. */
                gtk_accessible_update_state(GTK_ACCESSIBLE(*extra), GTK_ACCESSIBLE_STATE_HIDDEN, TRUE, -1);
                gtk_box_append(GTK_BOX(box), *extra);
        }
        return box;
}

static GtkWidget *build_header(Panel *p) {
        GtkWidget *header = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 36);
        gtk_widget_add_css_class(header, "header");

        p->banner = g_object_new(GTK_TYPE_BOX, "orientation", GTK_ORIENTATION_HORIZONTAL, "spacing", 16,
                                 "accessible-role", GTK_ACCESSIBLE_ROLE_GROUP, NULL);
        gtk_widget_add_css_class(p->banner, "banner");
        p->banner_icon = panel_icon("shotsync-waiting-symbolic");
        gtk_widget_set_valign(p->banner_icon, GTK_ALIGN_CENTER);
        gtk_box_append(GTK_BOX(p->banner), p->banner_icon);
        GtkWidget *texts = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
        gtk_widget_set_valign(texts, GTK_ALIGN_CENTER);
        p->banner_label = gtk_label_new("");
        gtk_widget_add_css_class(p->banner_label, "state");
        gtk_label_set_xalign(GTK_LABEL(p->banner_label), 0);
        p->banner_detail = gtk_label_new("");
        gtk_widget_add_css_class(p->banner_detail, "state-detail");
        gtk_label_set_xalign(GTK_LABEL(p->banner_detail), 0);
        gtk_label_set_ellipsize(GTK_LABEL(p->banner_detail), PANGO_ELLIPSIZE_END);
        gtk_label_set_max_width_chars(GTK_LABEL(p->banner_detail), 36);
        gtk_box_append(GTK_BOX(texts), p->banner_label);
        gtk_box_append(GTK_BOX(texts), p->banner_detail);
        gtk_box_append(GTK_BOX(p->banner), texts);
        gtk_box_append(GTK_BOX(header), p->banner);

        gtk_box_append(GTK_BOX(header), caption_value("NEXT SHOT", "big-value", &p->next_value, NULL));
        gtk_box_append(GTK_BOX(header), caption_value("LAST SHOT", "medium-value", &p->last_value, &p->last_status));

        GtkWidget *spacer = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 0);
        gtk_widget_set_hexpand(spacer, TRUE);
        gtk_box_append(GTK_BOX(header), spacer);

        p->bus_label = gtk_label_new("");
        gtk_widget_add_css_class(p->bus_label, "subtle");
        gtk_widget_set_valign(p->bus_label, GTK_ALIGN_END);
        gtk_label_set_xalign(GTK_LABEL(p->bus_label), 1);
        gtk_box_append(GTK_BOX(header), p->bus_label);
        return header;
}

static GtkWidget *section_title(const char *text) {
        GtkWidget *l = gtk_label_new(text);
        gtk_widget_add_css_class(l, "section-title");
        gtk_label_set_xalign(GTK_LABEL(l), 0);
        return l;
}

static void on_recent_activated(GtkListBox *box, GtkListBoxRow *row, gpointer userdata) {
        Panel *p = userdata;
        const char *id = g_object_get_data(G_OBJECT(row), "shot-id");
        if (id)
                details_show(p, id);
}

static GtkWidget *build_shots(Panel *p) {
        GtkWidget *left = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12);
        gtk_widget_set_hexpand(left, TRUE);

        GtkWidget *open_title = section_title("Shots in progress");
        gtk_box_append(GTK_BOX(left), open_title);
        p->open_box = g_object_new(GTK_TYPE_BOX, "orientation", GTK_ORIENTATION_VERTICAL, "spacing", 12,
                                   "accessible-role", GTK_ACCESSIBLE_ROLE_GROUP, NULL);
        gtk_accessible_update_property(GTK_ACCESSIBLE(p->open_box), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                       "Shots in progress", -1);
        p->open_placeholder = gtk_label_new("No shot in progress");
        gtk_widget_add_css_class(p->open_placeholder, "placeholder");
        gtk_label_set_xalign(GTK_LABEL(p->open_placeholder), 0);
        gtk_box_append(GTK_BOX(p->open_box), p->open_placeholder);
        gtk_box_append(GTK_BOX(left), p->open_box);

        GtkWidget *recent_title = gtk_label_new_with_mnemonic("Recent shots of the _day");
        gtk_widget_add_css_class(recent_title, "section-title");
        gtk_label_set_xalign(GTK_LABEL(recent_title), 0);
        gtk_widget_set_margin_top(recent_title, 8);
        gtk_box_append(GTK_BOX(left), recent_title);

        p->recent_list = gtk_list_box_new();
        gtk_widget_add_css_class(p->recent_list, "recent");
        gtk_list_box_set_selection_mode(GTK_LIST_BOX(p->recent_list), GTK_SELECTION_NONE);
        gtk_list_box_set_activate_on_single_click(GTK_LIST_BOX(p->recent_list), TRUE);
        gtk_label_set_mnemonic_widget(GTK_LABEL(recent_title), p->recent_list);
        p->recent_placeholder = gtk_label_new("No shot today yet");
        gtk_widget_add_css_class(p->recent_placeholder, "placeholder");
        gtk_list_box_set_placeholder(GTK_LIST_BOX(p->recent_list), p->recent_placeholder);
        g_signal_connect(p->recent_list, "row-activated", G_CALLBACK(on_recent_activated), p);

        GtkWidget *scroller = gtk_scrolled_window_new();
        gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scroller), GTK_POLICY_NEVER, GTK_POLICY_AUTOMATIC);
        gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scroller), p->recent_list);
        gtk_widget_set_vexpand(scroller, TRUE);
        gtk_box_append(GTK_BOX(left), scroller);
        return left;
}

static void load_style(void) {
        static bool loaded;
        if (loaded)
                return;
        loaded = true;
        GtkCssProvider *css = gtk_css_provider_new();
        gtk_css_provider_load_from_resource(css, "/org/shotsync/panel/panel.css");
        gtk_style_context_add_provider_for_display(gdk_display_get_default(), GTK_STYLE_PROVIDER(css),
                                                   GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
        g_object_unref(css);
        gtk_icon_theme_add_resource_path(gtk_icon_theme_get_for_display(gdk_display_get_default()),
                                         "/org/shotsync/panel/icons");
}

/* The widgets are going: nothing from the bus may reach them any more. */
static void on_window_destroy(GtkWidget *w, gpointer userdata) {
        Panel *p = userdata;
        panel_bus_stop(p);
        if (p->tick_id) {
                g_source_remove(p->tick_id);
                p->tick_id = 0;
        }
}

static void on_quit(GSimpleAction *action, GVariant *param, gpointer userdata) {
        Panel *p = userdata;
        gtk_window_destroy(GTK_WINDOW(p->window));
}

Panel *panel_new(GtkApplication *app, const PanelOptions *opts) {
        Panel *p = g_new0(Panel, 1);
        p->app = g_object_ref(app);
        p->opts.bus_type = opts->bus_type;
        p->opts.address = g_strdup(opts->address);
        p->opts.host = g_strdup(opts->host);
        p->opts.host_argv = g_strdupv(opts->host_argv);
        p->bus_name = p->opts.host                              ? g_strdup_printf("system bus of %s", p->opts.host) :
                      p->opts.address                           ? g_strdup("private bus") :
                      p->opts.bus_type == G_BUS_TYPE_SESSION ? g_strdup("session bus") :
                                                                 g_strdup("system bus");
        p->state = SERVICE_CONNECTING;
        p->open_rows = g_hash_table_new(g_str_hash, g_str_equal);
        p->recent_rows = g_hash_table_new(g_str_hash, g_str_equal);
        p->details = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

        load_style();
        gtk_window_set_default_icon_name("shotsync-panel");

        p->window = gtk_application_window_new(app);
        gtk_window_set_title(GTK_WINDOW(p->window), "Shotsync panel");
        gtk_window_set_default_size(GTK_WINDOW(p->window), 1360, 900);
        gtk_widget_add_css_class(p->window, "shotsync-panel");
        g_signal_connect(p->window, "destroy", G_CALLBACK(on_window_destroy), p);

        GSimpleAction *quit = g_simple_action_new("quit", NULL);
        g_signal_connect(quit, "activate", G_CALLBACK(on_quit), p);
        g_action_map_add_action(G_ACTION_MAP(app), G_ACTION(quit));
        g_object_unref(quit);
        gtk_application_set_accels_for_action(app, "app.quit", (const char *[]) { "<Control>q", NULL });

        GtkWidget *outer = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
        gtk_box_append(GTK_BOX(outer), build_header(p));
        GtkWidget *body = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 20);
        gtk_widget_add_css_class(body, "panel-body");
        gtk_widget_set_vexpand(body, TRUE);
        gtk_box_append(GTK_BOX(body), build_shots(p));
        gtk_box_append(GTK_BOX(body), controls_new(p));
        gtk_box_append(GTK_BOX(outer), body);
        gtk_window_set_child(GTK_WINDOW(p->window), outer);

        gtk_label_set_text(GTK_LABEL(p->bus_label), p->bus_name);

        shots_init(p);
        panel_set_state(p, SERVICE_CONNECTING);
        panel_bus_start(p);
        gtk_window_present(GTK_WINDOW(p->window));
        return p;
}

Panel *panel_free(Panel *p) {
        if (!p)
                return NULL;
        panel_bus_stop(p);
        shots_free(p);
        g_hash_table_unref(p->open_rows);
        g_hash_table_unref(p->recent_rows);
        g_hash_table_unref(p->details);
        g_free(p->bus_error);
        g_free(p->fire_at_shot);
        g_free((char *) p->opts.address);
        g_free((char *) p->opts.host);
        g_strfreev(p->opts.host_argv);
        g_free(p->bus_name);
        g_object_unref(p->app);
        g_free(p);
        return NULL;
}
