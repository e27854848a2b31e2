/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* A shot's manifest in its own window (GetShot): the trigger, the window,
 * the missing cameras, the duplicate triggers left out, every file with its
 * offset from the trigger and its camera's clock offset, and the metadata. One window per shot; asking again brings it to the front.
 * Escape or Close closes it. */

#include "panel.h"

typedef struct DetailsCall {
        Panel *panel;
        char *id;
} DetailsCall;

static GtkWidget *text_label(const char *text, const char *css) {
        GtkWidget *l = gtk_label_new(text);
        gtk_label_set_xalign(GTK_LABEL(l), 0);
        gtk_label_set_yalign(GTK_LABEL(l), 0);
        if (css)
                gtk_widget_add_css_class(l, css);
        return l;
}

static void grid_row(GtkWidget *grid, int row, const char *caption, GtkWidget *value) {
        GtkWidget *c = text_label(caption, "column-head");
        gtk_grid_attach(GTK_GRID(grid), c, 0, row, 1, 1);
        gtk_grid_attach(GTK_GRID(grid), value, 1, row, 1, 1);
        /* "Window: 11:49:55.000 – 11:50:05.000", read as one. */
        if (GTK_IS_LABEL(value))
                panel_set_a11y_label(value, "%s: %s", caption, gtk_label_get_text(GTK_LABEL(value)));
}

static GtkWidget *cell(GtkSizeGroup *group, const char *text, const char *css) {
        GtkWidget *l = text_label(text, css);
        gtk_size_group_add_widget(group, l);
        return l;
}

static GtkWidget *files_list(GVariant *files, const char *const *missing, guint64 trigger) {
        GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 4);
        GtkSizeGroup *groups[6];
        for (size_t i = 0; i < G_N_ELEMENTS(groups); i++)
                groups[i] = gtk_size_group_new(GTK_SIZE_GROUP_HORIZONTAL);

        GtkWidget *head = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 18);
        gtk_widget_set_margin_start(head, 10);
        const char *heads[] = { "Camera", "Offset", "Clock", "Time", "Size", "Note" };
        for (size_t i = 0; i < G_N_ELEMENTS(heads); i++)
                gtk_box_append(GTK_BOX(head), cell(groups[i], heads[i], "column-head"));
        gtk_box_append(GTK_BOX(head), text_label("Published as", "column-head"));
        gtk_accessible_update_state(GTK_ACCESSIBLE(head), GTK_ACCESSIBLE_STATE_HIDDEN, TRUE, -1);
        gtk_box_append(GTK_BOX(box), head);

        GtkWidget *list = gtk_list_box_new();
        gtk_list_box_set_selection_mode(GTK_LIST_BOX(list), GTK_SELECTION_NONE);
        gtk_widget_add_css_class(list, "recent");
        gtk_accessible_update_property(GTK_ACCESSIBLE(list), GTK_ACCESSIBLE_PROPERTY_LABEL, "Files", -1);
        gsize n = files ? g_variant_n_children(files) : 0;
        for (gsize i = 0; i < n; i++) {
                g_autoptr(GVariant) f = g_variant_get_child_value(files, i);
                const char *camera = "?", *raw = "", *clean = "";
                guint32 kind = 1;
                guint64 mtime = 0, size = 0;
                double offset = 0, clock = 0;
                gboolean late = FALSE;
                /* Manifests older than clock offsets have none. */
                bool has_clock = g_variant_lookup(f, "clock_offset_s", "d", &clock);
                g_variant_lookup(f, "camera", "&s", &camera);
                g_variant_lookup(f, "kind", "u", &kind);
                g_variant_lookup(f, "raw_path", "&s", &raw);
                g_variant_lookup(f, "clean_path", "&s", &clean);
                g_variant_lookup(f, "mtime", "t", &mtime);
                g_variant_lookup(f, "size", "t", &size);
                g_variant_lookup(f, "late", "b", &late);
                if (!g_variant_lookup(f, "offset_s", "d", &offset) && trigger && mtime)
                        offset = ((double) mtime - (double) trigger) / G_USEC_PER_SEC;

                g_autofree char *cam = kind > 1 ? g_strdup_printf("%s (kind %u)", camera, kind) : g_strdup(camera);
                g_autofree char *off = g_strdup_printf("%+.3f s", offset);
                g_autofree char *clk = has_clock ? g_strdup_printf("%+.3f s", clock) : g_strdup("—");
                g_autofree char *when = panel_format_time(mtime, false);
                g_autofree char *sz = g_format_size(size);
                const char *where = *clean ? clean : "not yet published";

                GtkWidget *row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 18);
                gtk_box_append(GTK_BOX(row), cell(groups[0], cam, "recent-id"));
                gtk_box_append(GTK_BOX(row), cell(groups[1], off, "latency"));
                gtk_box_append(GTK_BOX(row), cell(groups[2], clk, "latency"));
                gtk_box_append(GTK_BOX(row), cell(groups[3], when, NULL));
                gtk_box_append(GTK_BOX(row), cell(groups[4], sz, NULL));
                GtkWidget *note = late ? panel_badge("late", "shotsync-late-symbolic", "LATE") :
                                         gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 4);
                if (late)
                        gtk_widget_add_css_class(note, "tile");
                gtk_size_group_add_widget(groups[5], note);
                gtk_box_append(GTK_BOX(row), note);
                GtkWidget *path = text_label(where, "mono");
                gtk_label_set_ellipsize(GTK_LABEL(path), PANGO_ELLIPSIZE_START);
                gtk_widget_set_hexpand(path, TRUE);
                g_autofree char *tip = g_strdup_printf("Raw: %s\nClean: %s", raw, where);
                gtk_widget_set_tooltip_text(path, tip);
                gtk_box_append(GTK_BOX(row), path);

                GtkWidget *lrow = gtk_list_box_row_new();
                gtk_list_box_row_set_activatable(GTK_LIST_BOX_ROW(lrow), FALSE);
                gtk_list_box_row_set_child(GTK_LIST_BOX_ROW(lrow), row);
                panel_set_a11y_label(lrow, "Camera %s: %s from the trigger, at %s, %s%s, clock offset %s, %s%s", cam, off,
                                     when, sz, late ? ", late" : "", clk, *clean ? "published as " : "", where);
                gtk_list_box_append(GTK_LIST_BOX(list), lrow);
        }
        /* The expected cameras without a file, in the same columns. */
        for (const char *const *c = missing; c && *c; c++) {
                GtkWidget *row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 18);
                gtk_box_append(GTK_BOX(row), cell(groups[0], *c, "recent-id"));
                for (size_t k = 1; k <= 4; k++)
                        gtk_box_append(GTK_BOX(row), cell(groups[k], "—", NULL));
                GtkWidget *note = panel_badge("missing", "shotsync-missing-symbolic", "MISSING");
                gtk_widget_add_css_class(note, "tile");
                gtk_size_group_add_widget(groups[5], note);
                gtk_box_append(GTK_BOX(row), note);
                GtkWidget *none = text_label("no file", "subtle");
                gtk_widget_set_valign(none, GTK_ALIGN_CENTER);
                gtk_box_append(GTK_BOX(row), none);
                GtkWidget *lrow = gtk_list_box_row_new();
                gtk_list_box_row_set_activatable(GTK_LIST_BOX_ROW(lrow), FALSE);
                gtk_list_box_row_set_child(GTK_LIST_BOX_ROW(lrow), row);
                panel_set_a11y_label(lrow, "Camera %s: missing, no file", *c);
                gtk_list_box_append(GTK_LIST_BOX(list), lrow);
        }
        if (n == 0 && !(missing && *missing))
                gtk_list_box_append(GTK_LIST_BOX(list), text_label("No file", "placeholder"));
        gtk_box_append(GTK_BOX(box), list);
        for (size_t i = 0; i < G_N_ELEMENTS(groups); i++)
                g_object_unref(groups[i]);
        return box;
}

static void fill_details(GtkWindow *w, GVariant *m) {
        const char *id = "?", *status = "?";
        g_variant_lookup(m, "id", "&s", &id);
        g_variant_lookup(m, "status", "&s", &status);
        bool complete = g_str_equal(status, "complete"), collecting = g_str_equal(status, "collecting");

        GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12);
        gtk_widget_set_margin_start(box, 22);
        gtk_widget_set_margin_end(box, 22);
        gtk_widget_set_margin_top(box, 18);
        gtk_widget_set_margin_bottom(box, 18);

        GtkWidget *top = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 18);
        g_autofree char *t = g_strdup_printf("Shot %s", id);
        gtk_box_append(GTK_BOX(top), text_label(t, "details-title"));
        g_autofree char *word = g_ascii_strup(status, -1);
        GtkWidget *badge = panel_badge(collecting ? "pending" : complete ? "ok" : "timeout",
                                       collecting ? "shotsync-waiting-symbolic" :
                                       complete   ? "shotsync-present-symbolic" :
                                                    "shotsync-missing-symbolic",
                                       word);
        gtk_widget_set_valign(badge, GTK_ALIGN_CENTER);
        panel_set_a11y_label(gtk_widget_get_last_child(badge), "Status: %s", status);
        gtk_box_append(GTK_BOX(top), badge);
        gtk_box_append(GTK_BOX(box), top);

        GtkWidget *grid = gtk_grid_new();
        gtk_grid_set_column_spacing(GTK_GRID(grid), 18);
        gtk_grid_set_row_spacing(GTK_GRID(grid), 6);
        int row = 0;

        guint64 trigger = 0;
        const char *tcam = "", *tpath = "";
        g_autoptr(GVariant) trig = g_variant_lookup_value(m, "trigger", G_VARIANT_TYPE_VARDICT);
        if (trig) {
                g_variant_lookup(trig, "time", "t", &trigger);
                g_variant_lookup(trig, "camera", "&s", &tcam);
                g_variant_lookup(trig, "path", "&s", &tpath);
        }
        g_autofree char *ttime = panel_format_time(trigger, true);
        g_autofree char *ttext = *tcam ? g_strdup_printf("%s at %s\n%s", tcam, ttime, tpath) :
                                         g_strdup_printf("Fire at %s", ttime);
        GtkWidget *tl = text_label(ttext, NULL);
        gtk_label_set_wrap(GTK_LABEL(tl), TRUE);
        gtk_label_set_wrap_mode(GTK_LABEL(tl), PANGO_WRAP_CHAR);
        gtk_label_set_selectable(GTK_LABEL(tl), TRUE);
        grid_row(grid, row++, "Trigger", tl);

        guint64 ws = 0, we = 0;
        g_autoptr(GVariant) window = g_variant_lookup_value(m, "window", G_VARIANT_TYPE_VARDICT);
        if (window) {
                g_variant_lookup(window, "start", "t", &ws);
                g_variant_lookup(window, "end", "t", &we);
        }
        g_autofree char *s1 = panel_format_time(ws, false), *s2 = panel_format_time(we, false);
        g_autofree char *wtext = g_strdup_printf("%s – %s", s1, s2);
        grid_row(grid, row++, "Window", text_label(wtext, NULL));

        g_autofree const char **missing = NULL;
        g_variant_lookup(m, "missing", "^a&s", &missing);
        GtkWidget *mbox = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
        if (missing && missing[0]) {
                g_autofree char *names = g_strjoinv(", ", (char **) missing);
                gtk_widget_add_css_class(mbox, "missing-text");
                gtk_box_append(GTK_BOX(mbox), panel_icon("shotsync-missing-symbolic"));
                GtkWidget *ml = gtk_label_new(names);
                panel_set_a11y_label(ml, "Missing: %s", names);
                gtk_box_append(GTK_BOX(mbox), ml);
        } else {
                GtkWidget *ml = gtk_label_new(collecting ? "none so far" : "none");
                panel_set_a11y_label(ml, "Missing: %s", collecting ? "none so far" : "none");
                gtk_box_append(GTK_BOX(mbox), ml);
        }
        grid_row(grid, row++, "Missing", mbox);

        /* Rule 4: triggers of a camera in free run, never shots of their own. */
        g_autofree const char **dups = NULL;
        g_variant_lookup(m, "duplicate_triggers", "^a&s", &dups);
        guint n_dups = dups ? g_strv_length((char **) dups) : 0;
        g_autofree char *dtext = NULL;
        if (n_dups > 0) {
                g_autofree char *paths = g_strjoinv("\n", (char **) dups);
                dtext = g_strdup_printf("%u ignored, closer than MinShotIntervalSec to this shot:\n%s", n_dups, paths);
        }
        GtkWidget *dl = text_label(dtext ?: "none", n_dups ? NULL : "subtle");
        gtk_label_set_wrap(GTK_LABEL(dl), TRUE);
        gtk_label_set_wrap_mode(GTK_LABEL(dl), PANGO_WRAP_CHAR);
        gtk_label_set_selectable(GTK_LABEL(dl), TRUE);
        grid_row(grid, row++, "Duplicate triggers", dl);

        g_autoptr(GVariant) timing = g_variant_lookup_value(m, "timing", G_VARIANT_TYPE_VARDICT);
        if (timing) {
                guint64 tmin = 0, tmax = 0;
                const char *first = "", *last = "";
                g_variant_lookup(timing, "min_mtime", "t", &tmin);
                g_variant_lookup(timing, "max_mtime", "t", &tmax);
                g_variant_lookup(timing, "first_camera", "&s", &first);
                g_variant_lookup(timing, "last_camera", "&s", &last);
                double apart = tmax >= tmin ? (double) (tmax - tmin) / G_USEC_PER_SEC : 0;
                g_autofree char *spread = *first ? g_strdup_printf("first %s, last %s: %.3f s apart", first, last,
                                                                   apart) :
                                                   g_strdup("—");
                grid_row(grid, row++, "Spread", text_label(spread, NULL));
        }
        gtk_box_append(GTK_BOX(box), grid);

        g_autoptr(GVariant) files = g_variant_lookup_value(m, "files", G_VARIANT_TYPE("aa{sv}"));
        GtkWidget *ft = text_label("Files (offsets from the trigger; clock: its camera's clock offset)", "section-title");
        gtk_widget_set_margin_top(ft, 8);
        gtk_box_append(GTK_BOX(box), ft);
        gtk_box_append(GTK_BOX(box), files_list(files, (const char *const *) missing, trigger));

        GtkWidget *mt = text_label("Metadata", "section-title");
        gtk_widget_set_margin_top(mt, 8);
        gtk_box_append(GTK_BOX(box), mt);
        GtkWidget *meta = gtk_grid_new();
        gtk_grid_set_column_spacing(GTK_GRID(meta), 18);
        gtk_grid_set_row_spacing(GTK_GRID(meta), 4);
        g_autoptr(GVariant) md = g_variant_lookup_value(m, "metadata", G_VARIANT_TYPE("a{ss}"));
        int mrow = 0;
        if (md) {
                GVariantIter it;
                const char *k, *v;
                g_variant_iter_init(&it, md);
                while (g_variant_iter_next(&it, "{&s&s}", &k, &v)) {
                        GtkWidget *vl = text_label(v, NULL);
                        gtk_label_set_selectable(GTK_LABEL(vl), TRUE);
                        gtk_label_set_wrap(GTK_LABEL(vl), TRUE);
                        grid_row(meta, mrow++, k, vl);
                }
        }
        if (mrow == 0)
                gtk_grid_attach(GTK_GRID(meta), text_label("No metadata", "subtle"), 0, 0, 1, 1);
        gtk_box_append(GTK_BOX(box), meta);

        /* Everything scrolls but the Close button. */
        GtkWidget *outer = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
        GtkWidget *scroller = gtk_scrolled_window_new();
        gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scroller), GTK_POLICY_NEVER, GTK_POLICY_AUTOMATIC);
        gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scroller), box);
        gtk_widget_set_vexpand(scroller, TRUE);
        gtk_box_append(GTK_BOX(outer), scroller);

        GtkWidget *close = gtk_button_new_with_mnemonic("_Close");
        panel_name_widget(close, "Close");
        gtk_widget_add_css_class(close, "big");
        gtk_widget_set_halign(close, GTK_ALIGN_END);
        gtk_widget_set_margin_end(close, 22);
        gtk_widget_set_margin_top(close, 10);
        gtk_widget_set_margin_bottom(close, 16);
        gtk_actionable_set_action_name(GTK_ACTIONABLE(close), "window.close");
        gtk_box_append(GTK_BOX(outer), close);

        gtk_window_set_child(w, outer);
        gtk_window_set_default_widget(w, close);
        gtk_widget_grab_focus(close);
}

static void show_error(GtkWindow *w, const char *id, const GError *error) {
        g_autoptr(GError) copy = g_error_copy(error);
        g_dbus_error_strip_remote_error(copy);
        g_autofree char *text = g_strdup_printf("Cannot read shot %s: %s", id, copy->message);
        GtkWidget *l = text_label(text, "placeholder");
        gtk_label_set_wrap(GTK_LABEL(l), TRUE);
        gtk_window_set_child(w, l);
}

static void on_details(GObject *src, GAsyncResult *res, gpointer userdata) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) shot = NULL;
        DetailsCall *call = userdata;
        Panel *p = call->panel;
        g_autofree char *id = call->id;
        g_free(call);
        bool ok = shotsync_shotsync1_call_get_shot_finish(SHOTSYNC_SHOTSYNC1(src), &shot, res, &error);
        if (!ok && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                return;
        GtkWindow *w = g_hash_table_lookup(p->details, id);
        if (!w)
                return; /* closed before the answer came */
        if (ok)
                fill_details(w, shot);
        else
                show_error(w, id, error);
}

static void on_details_destroy(GtkWidget *w, gpointer userdata) {
        Panel *p = userdata;
        const char *id = g_object_get_data(G_OBJECT(w), "shot-id");
        if (id && g_hash_table_lookup(p->details, id) == w)
                g_hash_table_remove(p->details, id);
}

void details_show(Panel *p, const char *id) {
        GtkWindow *w = g_hash_table_lookup(p->details, id);
        if (w) {
                gtk_window_present(w);
                return;
        }
        w = GTK_WINDOW(gtk_window_new());
        g_autofree char *title = g_strdup_printf("Shot %s — details", id);
        gtk_window_set_title(w, title);
        gtk_window_set_transient_for(w, GTK_WINDOW(p->window));
        gtk_window_set_destroy_with_parent(w, TRUE);
        gtk_window_set_default_size(w, 1150, 640);
        gtk_widget_add_css_class(GTK_WIDGET(w), "shotsync-panel");
        gtk_widget_add_css_class(GTK_WIDGET(w), "details");
        gtk_window_set_titlebar(w, gtk_header_bar_new());
        g_object_set_data_full(G_OBJECT(w), "shot-id", g_strdup(id), g_free);

        GtkEventController *keys = gtk_shortcut_controller_new();
        gtk_shortcut_controller_add_shortcut(GTK_SHORTCUT_CONTROLLER(keys),
                                             gtk_shortcut_new(gtk_keyval_trigger_new(GDK_KEY_Escape, 0),
                                                              gtk_named_action_new("window.close")));
        gtk_widget_add_controller(GTK_WIDGET(w), keys);

        gtk_window_set_child(w, text_label("Reading the manifest…", "placeholder"));
        g_hash_table_insert(p->details, g_strdup(id), w);
        g_signal_connect(w, "destroy", G_CALLBACK(on_details_destroy), p);

        if (p->proxy) {
                DetailsCall *call = g_new(DetailsCall, 1);
                *call = (DetailsCall) { .panel = p, .id = g_strdup(id) };
                shotsync_shotsync1_call_get_shot(p->proxy, id, p->cancel, on_details, call);
        } else
                gtk_window_set_child(w, text_label("The service is not running: no details to read.", "placeholder"));
        gtk_window_present(w);
}
