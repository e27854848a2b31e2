/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The controls: Fire (now, or after a delay: FireAt), Pause/Resume and the
 * next shot number, and the result of the last Fire per camera with its
 * latency (from our own call or from the Fired signal when someone else
 * fired), or for our own FireAt how far from the instant each command
 * left.
 *
 * Only root and members of group "shotsync" may call these (SPEC §4). The
 * panel does not guess who it is: it calls, and when the bus or the service
 * answers org.freedesktop.DBus.Error.AccessDenied it disables the controls
 * and says why, in their tooltip, their accessible description and a line
 * under them (an insensitive button cannot be focused, so a tooltip alone
 * would not reach keyboard users). The same policy covers every control, so
 * one refusal disables them all. */

#include "panel.h"

#define ACCESS_DENIED "org.freedesktop.DBus.Error.AccessDenied"

static const char denied_text[] =
        "Not allowed: only root and members of group “shotsync” may fire, pause, resume or renumber "
        "(the bus answered AccessDenied).";
static const char down_text[] = "The shotsync service is not running.";

/* FireAt's reply comes once every camera answered after the instant. */
#define FIRE_REPLY_MSEC 65000

static bool focus_inside(GtkWidget *w) {
        GtkRoot *root = gtk_widget_get_root(w);
        GtkWidget *f = root ? gtk_root_get_focus(root) : NULL;
        return f && (f == w || gtk_widget_is_ancestor(f, w));
}

static void set_reason(GtkWidget *w, const char *why, const char *what) {
        gtk_widget_set_tooltip_text(w, why ? why : what);
        gtk_accessible_update_property(GTK_ACCESSIBLE(w), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, why ? why : what,
                                       -1);
}

static void button_content(GtkWidget *button, const char *icon, const char *mnemonic) {
        GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 12);
        gtk_widget_set_halign(box, GTK_ALIGN_CENTER);
        gtk_box_append(GTK_BOX(box), panel_icon(icon));
        GtkWidget *label = gtk_label_new_with_mnemonic(mnemonic);
        gtk_label_set_mnemonic_widget(GTK_LABEL(label), button);
        gtk_box_append(GTK_BOX(box), label);
        gtk_button_set_child(GTK_BUTTON(button), box);
}

void controls_update(Panel *p) {
        bool up = panel_service_up(p);
        bool paused = p->state == SERVICE_PAUSED;
        const char *why = !up ? down_text : p->denied ? denied_text : NULL;

        gtk_widget_set_sensitive(p->fire_button, !why && !p->firing);
        set_reason(p->fire_button, why,
                   p->firing ? "Firing: waiting for every camera to answer" :
                               "Fire every configured camera at once (after the delay below, if any) and open "
                               "a shot for that instant");
        panel_name_widget(p->fire_button, p->firing ? "Firing" : "Fire");
        if (why && focus_inside(p->delay_spin))
                gtk_root_set_focus(gtk_widget_get_root(p->delay_spin), NULL);
        gtk_widget_set_sensitive(p->delay_spin, !why && !p->firing);
        set_reason(p->delay_spin, why,
                   "0: Fire fires at once. N: the cameras fire N ms after the click, at an instant chosen "
                   "then (FireAt); other hosts given the same instant fire with them");

        if (!gtk_button_get_child(GTK_BUTTON(p->pause_button)) ||
            GPOINTER_TO_INT(g_object_get_data(G_OBJECT(p->pause_button), "paused")) != paused) {
                button_content(p->pause_button, paused ? "shotsync-running-symbolic" : "shotsync-paused-symbolic",
                               paused ? "_Resume" : "_Pause");
                g_object_set_data(G_OBJECT(p->pause_button), "paused", GINT_TO_POINTER(paused));
        }
        panel_name_widget(p->pause_button, paused ? "Resume" : "Pause");
        gtk_widget_set_sensitive(p->pause_button, !why);
        set_reason(p->pause_button, why,
                   paused ? "Open shots again as triggers arrive" :
                            "Stop opening shots; files that arrive are remembered");

        /* Take the focus out first: GTK 4.8 warns when a focused entry goes insensitive. */
        if (why && focus_inside(p->number_spin))
                gtk_root_set_focus(gtk_widget_get_root(p->number_spin), NULL);
        gtk_widget_set_sensitive(p->number_spin, !why);
        gtk_widget_set_sensitive(p->number_button, !why);
        set_reason(p->number_spin, why, "The number today's next shot gets");
        set_reason(p->number_button, why, "Renumber today's shots from this number on (never onto an existing shot)");

        gtk_widget_set_visible(p->denied_label, p->denied);

        /* Follow NextShotNumber, but never under the user's fingers. */
        if (up && !p->number_edited && !focus_inside(p->number_spin)) {
                guint next = shotsync_shotsync1_get_next_shot_number(p->proxy);
                if (next > 0) {
                        p->number_syncing = true;
                        gtk_spin_button_set_value(GTK_SPIN_BUTTON(p->number_spin), next);
                        p->number_syncing = false;
                }
        }
}

/* Handles a failed call; returns false when the reply belongs to a window
 * that is gone (cancelled) and nothing may be touched. */
static bool call_failed(Panel *p, const char *what, const GError *error) {
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                return false;
        g_autofree char *name = panel_remote_error(error);
        if (name && g_str_equal(name, ACCESS_DENIED)) {
                p->denied = true;
                panel_message(p, true, "%s: not allowed (AccessDenied).", what);
        } else {
                g_autoptr(GError) copy = g_error_copy(error);
                g_dbus_error_strip_remote_error(copy);
                const char *short_name = name && g_str_has_prefix(name, SHOTSYNC_ERROR_PREFIX) ?
                                                 name + strlen(SHOTSYNC_ERROR_PREFIX) :
                                                 name;
                panel_message(p, true, "%s failed: %s%s%s%s", what, copy->message, short_name ? " (" : "",
                              short_name ?: "", short_name ? ")" : "");
        }
        controls_update(p);
        return true;
}

/* ---- Fire ---- */

static void on_fire_done(GObject *src, GAsyncResult *res, gpointer userdata) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = g_dbus_proxy_call_finish(G_DBUS_PROXY(src), res, &error);
        if (!reply && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                return;
        Panel *p = userdata;
        bool at = p->fire_at_usec > 0;
        p->firing = false;
        if (!reply) {
                call_failed(p, at ? "Fire after a delay" : "Fire", error);
                return;
        }
        const char *shot_id;
        g_autoptr(GVariant) results = NULL;
        g_variant_get(reply, "(&s@a(sssst))", &shot_id, &results);
        g_free(p->fire_at_shot);
        p->fire_at_shot = at && *shot_id ? g_strdup(shot_id) : NULL;
        controls_fired(p, shot_id, results, p->fire_at_usec);
        panel_message(p, false, "%s", *shot_id ? "Fired." : "Fired, but no shot could be opened.");
        controls_update(p);
}

static void on_fire(GtkButton *button, gpointer userdata) {
        Panel *p = userdata;
        if (!panel_service_up(p) || p->denied || p->firing)
                return;
        gtk_spin_button_update(GTK_SPIN_BUTTON(p->delay_spin));
        guint delay_ms = (guint) gtk_spin_button_get_value_as_int(GTK_SPIN_BUTTON(p->delay_spin));
        p->firing = true;
        if (delay_ms == 0) {
                p->fire_at_usec = 0;
                panel_message(p, false, "Firing…");
                g_dbus_proxy_call(G_DBUS_PROXY(p->proxy), "Fire", NULL, G_DBUS_CALL_FLAGS_NONE, -1, p->cancel,
                                  on_fire_done, p);
        } else {
                /* The instant is chosen now, at the click. */
                p->fire_at_usec = (guint64) g_get_real_time() + (guint64) delay_ms * 1000;
                g_autofree char *when = panel_format_time(p->fire_at_usec, false);
                panel_message(p, false, "Firing at %s…", when);
                g_dbus_proxy_call(G_DBUS_PROXY(p->proxy), "FireAt", g_variant_new("(t)", p->fire_at_usec),
                                  G_DBUS_CALL_FLAGS_NONE, FIRE_REPLY_MSEC + (int) delay_ms, p->cancel, on_fire_done,
                                  p);
        }
        controls_update(p);
}

void controls_fired(Panel *p, const char *shot_id, GVariant *results, guint64 at_usec) {
        /* Our own FireAt's Fired signal: its reply, with the offsets, is shown. */
        if (at_usec == 0 && p->fire_at_shot && g_str_equal(shot_id, p->fire_at_shot))
                return;

        GtkWidget *child;
        while ((child = gtk_widget_get_first_child(p->fire_box)))
                gtk_box_remove(GTK_BOX(p->fire_box), child);

        gsize n = g_variant_n_children(results), ok = 0;
        for (gsize i = 0; i < n; i++) {
                const char *camera, *port, *status, *message;
                guint64 last;
                g_variant_get_child(results, i, "(&s&s&s&st)", &camera, &port, &status, &message, &last);
                bool good = g_str_equal(status, "ok");
                ok += good;

                GtkWidget *row = g_object_new(GTK_TYPE_BOX, "orientation", GTK_ORIENTATION_HORIZONTAL, "spacing", 10,
                                              "accessible-role", GTK_ACCESSIBLE_ROLE_GROUP, NULL);
                gtk_widget_add_css_class(row, "fire-result");
                GtkWidget *badge = panel_badge(good ? "ok" : "timeout",
                                               good ? "shotsync-present-symbolic" : "shotsync-missing-symbolic",
                                               good ? "OK" : "ERROR");
                gtk_widget_set_valign(badge, GTK_ALIGN_START);
                gtk_box_append(GTK_BOX(row), badge);

                GtkWidget *texts = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
                g_autofree char *head = NULL;
                g_autofree char *lat = NULL;
                if (at_usec > 0 && last > 0) /* FireAt: when the command left */
                        lat = g_strdup_printf("%+" G_GINT64_FORMAT " µs", (gint64) (last - at_usec));
                else if (last > 0)
                        lat = g_strdup_printf(last < 100000 ? "%.1f ms" : "%.0f ms", last / 1000.0);
                head = g_strdup_printf("%s  %s", camera, lat ?: "");
                GtkWidget *l = gtk_label_new(head);
                gtk_widget_add_css_class(l, "latency");
                gtk_label_set_xalign(GTK_LABEL(l), 0);
                gtk_box_append(GTK_BOX(texts), l);
                g_autofree char *sub = g_strdup_printf("%s%s%s", port, *message ? " — " : "", message);
                GtkWidget *s = gtk_label_new(sub);
                gtk_widget_add_css_class(s, "subtle");
                gtk_label_set_xalign(GTK_LABEL(s), 0);
                gtk_label_set_max_width_chars(GTK_LABEL(s), 36);
                if (good) {
                        /* Where the image went: one line, the file name kept. */
                        gtk_label_set_ellipsize(GTK_LABEL(s), PANGO_ELLIPSIZE_START);
                        gtk_widget_set_tooltip_text(s, sub);
                } else
                        gtk_label_set_wrap(GTK_LABEL(s), TRUE); /* why it failed: all of it */
                gtk_box_append(GTK_BOX(texts), s);
                gtk_box_append(GTK_BOX(row), texts);

                panel_set_a11y_label(row, "Camera %s: %s%s%s%s%s", camera, good ? "ok" : "error",
                                     !lat              ? "" :
                                     at_usec > 0       ? ", left the instant " :
                                                         ", latency ",
                                     lat ?: "", *message ? ", " : "", message);
                gtk_box_append(GTK_BOX(p->fire_box), row);
        }

        g_autofree char *title = NULL, *when = at_usec > 0 ? panel_format_time(at_usec, false) : NULL;
        if (n == 0)
                title = g_strdup_printf("Fire: no camera answered");
        else if (*shot_id)
                title = g_strdup_printf("Shot %s: %zu of %zu ok%s%s", shot_id, ok, n, when ? ", fired at " : "",
                                        when ?: "");
        else
                title = g_strdup_printf("No shot opened: %zu of %zu ok", ok, n);
        gtk_label_set_text(GTK_LABEL(p->fire_title), title);
        panel_set_a11y_label(p->fire_title, "Last Fire: %s", title);
}

/* ---- Pause / Resume ---- */

static void on_pause_resume_done(GObject *src, GAsyncResult *res, gpointer userdata, bool resume) {
        g_autoptr(GError) error = NULL;
        bool ok = resume ? shotsync_shotsync1_call_resume_finish(SHOTSYNC_SHOTSYNC1(src), res, &error) :
                           shotsync_shotsync1_call_pause_finish(SHOTSYNC_SHOTSYNC1(src), res, &error);
        if (!ok) {
                call_failed(userdata, resume ? "Resume" : "Pause", error);
                return;
        }
        panel_message(userdata, false, "%s", resume ? "Resumed." : "Paused: no shot opens until Resume.");
}

static void on_pause_finished(GObject *src, GAsyncResult *res, gpointer userdata) {
        on_pause_resume_done(src, res, userdata, false);
}

static void on_resume_finished(GObject *src, GAsyncResult *res, gpointer userdata) {
        on_pause_resume_done(src, res, userdata, true);
}

static void on_pause(GtkButton *button, gpointer userdata) {
        Panel *p = userdata;
        if (!panel_service_up(p) || p->denied)
                return;
        if (p->state == SERVICE_PAUSED)
                shotsync_shotsync1_call_resume(p->proxy, p->cancel, on_resume_finished, p);
        else
                shotsync_shotsync1_call_pause(p->proxy, p->cancel, on_pause_finished, p);
}

/* ---- next shot number ---- */

static void on_number_done(GObject *src, GAsyncResult *res, gpointer userdata) {
        g_autoptr(GError) error = NULL;
        if (!shotsync_shotsync1_call_set_next_shot_number_finish(SHOTSYNC_SHOTSYNC1(src), res, &error)) {
                call_failed(userdata, "Set next shot number", error);
                return;
        }
        Panel *p = userdata;
        p->number_edited = false;
        panel_message(p, false, "The next shot of today will be number %u.",
                      (guint) gtk_spin_button_get_value_as_int(GTK_SPIN_BUTTON(p->number_spin)));
        controls_update(p);
}

static void on_set_number(GtkWidget *w, gpointer userdata) {
        Panel *p = userdata;
        if (!panel_service_up(p) || p->denied)
                return;
        gtk_spin_button_update(GTK_SPIN_BUTTON(p->number_spin));
        guint n = (guint) gtk_spin_button_get_value_as_int(GTK_SPIN_BUTTON(p->number_spin));
        shotsync_shotsync1_call_set_next_shot_number(p->proxy, "", n, p->cancel, on_number_done, p);
}

static void on_number_changed(GtkSpinButton *spin, gpointer userdata) {
        Panel *p = userdata;
        if (!p->number_syncing)
                p->number_edited = true;
}

/* ---- layout ---- */

static GtkWidget *title(const char *text) {
        GtkWidget *l = gtk_label_new(text);
        gtk_widget_add_css_class(l, "section-title");
        gtk_label_set_xalign(GTK_LABEL(l), 0);
        return l;
}

GtkWidget *controls_new(Panel *p) {
        GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 14);
        gtk_widget_add_css_class(box, "controls");
        gtk_widget_set_size_request(box, 400, -1);
        gtk_widget_set_hexpand(box, FALSE);

        gtk_box_append(GTK_BOX(box), title("Controls"));

        p->fire_button = gtk_button_new();
        gtk_widget_add_css_class(p->fire_button, "fire");
        button_content(p->fire_button, "shotsync-fire-symbolic", "_Fire");
        GtkWidget *fire_box = gtk_button_get_child(GTK_BUTTON(p->fire_button));
        g_object_ref(fire_box);
        gtk_button_set_child(GTK_BUTTON(p->fire_button), NULL);
        GtkWidget *fire_v = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
        gtk_box_append(GTK_BOX(fire_v), fire_box);
        g_object_unref(fire_box);
        GtkWidget *fire_sub = gtk_label_new("every camera at once");
        gtk_widget_add_css_class(fire_sub, "fire-sub");
        gtk_box_append(GTK_BOX(fire_v), fire_sub);
        gtk_button_set_child(GTK_BUTTON(p->fire_button), fire_v);
        g_signal_connect(p->fire_button, "clicked", G_CALLBACK(on_fire), p);
        gtk_box_append(GTK_BOX(box), p->fire_button);

        /* Fire after a delay: FireAt at the click + N ms (SPEC §4). */
        GtkWidget *drow = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 10);
        GtkWidget *dlabel = gtk_label_new_with_mnemonic("Fire _after");
        gtk_box_append(GTK_BOX(drow), dlabel);
        p->delay_spin = gtk_spin_button_new_with_range(0, 60000, 100);
        gtk_spin_button_set_digits(GTK_SPIN_BUTTON(p->delay_spin), 0);
        gtk_spin_button_set_numeric(GTK_SPIN_BUTTON(p->delay_spin), TRUE);
        gtk_widget_set_hexpand(p->delay_spin, TRUE);
        gtk_label_set_mnemonic_widget(GTK_LABEL(dlabel), p->delay_spin);
        gtk_box_append(GTK_BOX(drow), p->delay_spin);
        gtk_box_append(GTK_BOX(drow), gtk_label_new("ms"));
        gtk_box_append(GTK_BOX(box), drow);

        p->pause_button = gtk_button_new();
        gtk_widget_add_css_class(p->pause_button, "big");
        g_signal_connect(p->pause_button, "clicked", G_CALLBACK(on_pause), p);
        gtk_box_append(GTK_BOX(box), p->pause_button);

        p->number_label = gtk_label_new_with_mnemonic("_Next shot number");
        gtk_label_set_xalign(GTK_LABEL(p->number_label), 0);
        gtk_widget_set_margin_top(p->number_label, 6);
        gtk_box_append(GTK_BOX(box), p->number_label);
        GtkWidget *nrow = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 10);
        p->number_spin = gtk_spin_button_new_with_range(1, 999999999, 1);
        gtk_spin_button_set_digits(GTK_SPIN_BUTTON(p->number_spin), 0);
        gtk_spin_button_set_numeric(GTK_SPIN_BUTTON(p->number_spin), TRUE);
        gtk_widget_set_hexpand(p->number_spin, TRUE);
        gtk_label_set_mnemonic_widget(GTK_LABEL(p->number_label), p->number_spin);
        g_signal_connect(p->number_spin, "value-changed", G_CALLBACK(on_number_changed), p);
        /* Enter in the field sets it too (GtkSpinButton has no "activate" before GTK 4.14). */
        GtkEditable *text = gtk_editable_get_delegate(GTK_EDITABLE(p->number_spin));
        if (text && g_signal_lookup("activate", G_OBJECT_TYPE(text)))
                g_signal_connect(text, "activate", G_CALLBACK(on_set_number), p);
        gtk_box_append(GTK_BOX(nrow), p->number_spin);
        p->number_button = gtk_button_new_with_mnemonic("_Set");
        gtk_widget_add_css_class(p->number_button, "big");
        panel_name_widget(p->number_button, "Set next shot number");
        g_signal_connect(p->number_button, "clicked", G_CALLBACK(on_set_number), p);
        gtk_box_append(GTK_BOX(nrow), p->number_button);
        gtk_box_append(GTK_BOX(box), nrow);

        p->denied_label = gtk_label_new(denied_text);
        gtk_widget_add_css_class(p->denied_label, "denied-note");
        gtk_label_set_wrap(GTK_LABEL(p->denied_label), TRUE);
        gtk_label_set_xalign(GTK_LABEL(p->denied_label), 0);
        gtk_label_set_max_width_chars(GTK_LABEL(p->denied_label), 34);
        gtk_widget_set_visible(p->denied_label, FALSE);
        gtk_box_append(GTK_BOX(box), p->denied_label);

        p->message_label = gtk_label_new("");
        gtk_widget_add_css_class(p->message_label, "message");
        gtk_label_set_wrap(GTK_LABEL(p->message_label), TRUE);
        gtk_label_set_xalign(GTK_LABEL(p->message_label), 0);
        gtk_label_set_max_width_chars(GTK_LABEL(p->message_label), 34);
        gtk_widget_set_visible(p->message_label, FALSE);
        gtk_box_append(GTK_BOX(box), p->message_label);

        GtkWidget *ft = title("Last Fire");
        gtk_widget_set_margin_top(ft, 10);
        gtk_box_append(GTK_BOX(box), ft);
        p->fire_title = gtk_label_new("No Fire yet");
        gtk_label_set_xalign(GTK_LABEL(p->fire_title), 0);
        gtk_label_set_wrap(GTK_LABEL(p->fire_title), TRUE);
        gtk_widget_add_css_class(p->fire_title, "status-line");
        gtk_box_append(GTK_BOX(box), p->fire_title);
        p->fire_box = g_object_new(GTK_TYPE_BOX, "orientation", GTK_ORIENTATION_VERTICAL, "spacing", 8,
                                   "accessible-role", GTK_ACCESSIBLE_ROLE_GROUP, NULL);
        gtk_accessible_update_property(GTK_ACCESSIBLE(p->fire_box), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                       "Fire results per camera", -1);
        GtkWidget *scroller = gtk_scrolled_window_new();
        gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scroller), GTK_POLICY_NEVER, GTK_POLICY_AUTOMATIC);
        gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scroller), p->fire_box);
        gtk_widget_set_vexpand(scroller, TRUE);
        gtk_box_append(GTK_BOX(box), scroller);
        return box;
}
