/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The panel's side of the bus: one connection (system, session, a given
 * address, or another host's system bus through ssh), one proxy generated from dbus/org.shotsync.Shotsync1.xml, and
 * the service coming and going under it. The proxy follows the name's owner
 * (NameOwnerChanged): when shotsyncd appears, its properties are loaded
 * before we hear of it, and the view is filled from ListShots and GetShot;
 * when it goes away, the shots in progress go with it and the controls are
 * disabled. Signals and the fill may overlap: every update is keyed by shot
 * id and applying one twice changes nothing.
 *
 * Replies carry the Panel as user data; they are all made with a cancellable
 * that panel_bus_stop() (the window closing) or a vanishing service cancels,
 * and a cancelled reply returns at once: it belongs to a service instance or
 * a window that is gone. The Panel itself is freed only once the main loop
 * has stopped, so no callback outlives it. */

#include <signal.h>

#include "panel.h"

#define RECONNECT_SEC 2
#define CALL_TIMEOUT_MSEC 65000 /* Fire waits for every camera (SPEC §4); FireAt adds its delay */

static void connect_bus(Panel *p);

char *panel_remote_error(const GError *error) {
        return error ? g_dbus_error_get_remote_error(error) : NULL;
}

bool panel_service_up(const Panel *p) {
        return p->proxy && (p->state == SERVICE_RUNNING || p->state == SERVICE_PAUSED || p->state == SERVICE_DEGRADED);
}

static ServiceState state_from_property(Panel *p) {
        const char *s = shotsync_shotsync1_get_state(p->proxy);
        if (s && g_str_equal(s, "paused"))
                return SERVICE_PAUSED;
        if (s && g_str_equal(s, "degraded"))
                return SERVICE_DEGRADED;
        return SERVICE_RUNNING;
}

static bool cancelled(const GError *error) {
        return g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* ---- filling the view when the service appears ---- */

static void on_get_open(GObject *src, GAsyncResult *res, gpointer userdata) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) shot = NULL;
        if (!shotsync_shotsync1_call_get_shot_finish(SHOTSYNC_SHOTSYNC1(src), &shot, res, &error)) {
                if (cancelled(error))
                        return;
                /* It closed between the list and this call: its ShotClosed says so. */
                g_debug("GetShot: %s", error->message);
                return;
        }
        shots_fill_open(userdata, shot);
}

static void on_list_open(GObject *src, GAsyncResult *res, gpointer userdata) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) shots = NULL;
        if (!shotsync_shotsync1_call_list_shots_finish(SHOTSYNC_SHOTSYNC1(src), &shots, res, &error)) {
                if (cancelled(error))
                        return;
                panel_message(userdata, true, "Cannot list the open shots: %s", error->message);
                return;
        }
        Panel *p = userdata;
        GVariantIter iter;
        const char *id, *status;
        guint32 files, missing;
        g_variant_iter_init(&iter, shots);
        while (g_variant_iter_next(&iter, "(&s&suu)", &id, &status, &files, &missing))
                if (!g_hash_table_contains(p->open_rows, id))
                        shotsync_shotsync1_call_get_shot(p->proxy, id, p->fill_cancel, on_get_open, p);
}

static void on_list_all(GObject *src, GAsyncResult *res, gpointer userdata) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) shots = NULL;
        if (!shotsync_shotsync1_call_list_shots_finish(SHOTSYNC_SHOTSYNC1(src), &shots, res, &error)) {
                if (cancelled(error))
                        return;
                panel_message(userdata, true, "Cannot list today's shots: %s", error->message);
                return;
        }
        Panel *p = userdata;
        gsize n = g_variant_n_children(shots);
        for (gsize i = n > RECENT_MAX ? n - RECENT_MAX : 0; i < n; i++) {
                const char *id, *status;
                guint32 files, missing;
                g_variant_get_child(shots, i, "(&s&suu)", &id, &status, &files, &missing);
                shots_recent_set(p, id, status, files, missing, NULL);
        }
        panel_update_header(p);
}

static void fill(Panel *p) {
        shotsync_shotsync1_call_list_shots(p->proxy, "", TRUE, p->fill_cancel, on_list_open, p);
        shotsync_shotsync1_call_list_shots(p->proxy, "", FALSE, p->fill_cancel, on_list_all, p);
}

/* ---- the service coming and going ---- */

static void reset_fill(Panel *p) {
        if (p->fill_cancel) {
                g_cancellable_cancel(p->fill_cancel);
                g_clear_object(&p->fill_cancel);
        }
}

static void on_name_owner(GObject *obj, GParamSpec *pspec, gpointer userdata) {
        Panel *p = userdata;
        g_autofree char *owner = g_dbus_proxy_get_name_owner(G_DBUS_PROXY(p->proxy));
        reset_fill(p);
        shots_clear_open(p);
        panel_message(p, false, "%s", ""); /* about the instance that went */
        if (!owner) {
                panel_set_state(p, SERVICE_NOT_RUNNING);
                return;
        }
        p->fill_cancel = g_cancellable_new();
        panel_set_state(p, state_from_property(p));
        g_autofree char *version = shotsync_shotsync1_dup_version(p->proxy);
        g_autofree char *where = g_strdup_printf("shotsyncd %s · %s", version ?: "?", p->bus_name);
        gtk_label_set_text(GTK_LABEL(p->bus_label), where);
        fill(p);
}

static void on_properties_changed(GDBusProxy *proxy, GVariant *changed, GStrv invalidated, gpointer userdata) {
        Panel *p = userdata;
        /* With no owner the proxy only drops its cache; on_name_owner follows. */
        g_autofree char *owner = g_dbus_proxy_get_name_owner(proxy);
        if (!owner)
                return;
        panel_set_state(p, state_from_property(p));
        static const char *const clock_props[] = { "CameraClocks", "CameraClockChanges", "TriggerCameras" };
        for (size_t i = 0; i < G_N_ELEMENTS(clock_props); i++) {
                g_autoptr(GVariant) v = g_variant_lookup_value(changed, clock_props[i], NULL);
                if (v) {
                        shots_update_clocks(p);
                        break;
                }
        }
}

/* ---- signals ---- */

static void on_shot_opened(ShotsyncShotsync1 *o, const char *id, const char *trigger_camera, const char *trigger_path,
                           guint64 trigger_usec, guint64 window_start, guint64 window_end,
                           const char *const *expected, gpointer userdata) {
        Panel *p = userdata;
        shots_opened(p, id, expected, g_get_monotonic_time(), false, shotsync_shotsync1_get_timeout_sec(o));
        panel_update_header(p);
}

static void on_image_assigned(ShotsyncShotsync1 *o, const char *id, const char *camera, const char *raw_path,
                              guint64 mtime_usec, gboolean late, gpointer userdata) {
        shots_image(userdata, id, camera, late);
}

static void on_shot_closed(ShotsyncShotsync1 *o, const char *id, const char *status, GVariant *images,
                           const char *const *missing, gpointer userdata) {
        Panel *p = userdata;
        shots_closed(p, id, status, missing, false);
        shots_recent_set(p, id, status, (guint) g_variant_n_children(images), g_strv_length((char **) missing),
                         missing);
        panel_update_header(p);
}

static void on_shot_updated(ShotsyncShotsync1 *o, const char *id, const char *status, GVariant *images,
                            const char *const *missing, gpointer userdata) {
        Panel *p = userdata;
        shots_closed(p, id, status, missing, true);
        shots_recent_set(p, id, status, (guint) g_variant_n_children(images), g_strv_length((char **) missing),
                         missing);
        panel_update_header(p);
}

static void on_fired(ShotsyncShotsync1 *o, const char *shot_id, GVariant *results, gpointer userdata) {
        controls_fired(userdata, shot_id, results, 0);
}

static void on_camera_clock_changed(ShotsyncShotsync1 *o, const char *camera, gint64 offset, gint64 previous,
                                    gpointer userdata) {
        Panel *p = userdata;
        panel_message(p, false, "The clock of camera %s was set: its files now lie %+.1f s from their shots (was %+.1f s).",
                      camera, (double) offset / 1e6, (double) previous / 1e6);
        shots_update_clocks(p);
}

/* ---- connection ---- */

static void drop_connection(Panel *p) {
        reset_fill(p);
        if (p->proxy) {
                g_signal_handlers_disconnect_by_data(p->proxy, p);
                g_clear_object(&p->proxy);
        }
        if (p->conn) {
                g_signal_handlers_disconnect_by_data(p->conn, p);
                g_clear_object(&p->conn);
        }
        /* Its stdin closing would end it too, but only once the last
         * reference to the connection is gone: say it now. */
        if (p->ssh) {
                g_subprocess_send_signal(p->ssh, SIGTERM);
                g_clear_object(&p->ssh);
        }
}

static gboolean on_reconnect(gpointer userdata) {
        Panel *p = userdata;
        p->reconnect_id = 0;
        connect_bus(p);
        return G_SOURCE_REMOVE;
}

static void no_bus(Panel *p, const char *why) {
        drop_connection(p);
        shots_clear_open(p);
        g_free(p->bus_error);
        p->bus_error = g_strdup(why);
        panel_set_state(p, SERVICE_NO_BUS);
        /* The bus itself went away (a private bus, or dbus-daemon restarting):
         * try again in a while, as a client of a system service should. */
        if (!p->reconnect_id)
                p->reconnect_id = g_timeout_add_seconds(RECONNECT_SEC, on_reconnect, p);
}

static void on_closed(GDBusConnection *conn, gboolean remote_peer_vanished, GError *error, gpointer userdata) {
        no_bus(userdata, "The bus connection was closed");
}

static void on_proxy(GObject *src, GAsyncResult *res, gpointer userdata) {
        g_autoptr(GError) error = NULL;
        ShotsyncShotsync1 *proxy = shotsync_shotsync1_proxy_new_finish(res, &error);
        if (!proxy) {
                if (cancelled(error))
                        return;
                no_bus(userdata, error->message);
                return;
        }
        Panel *p = userdata;
        p->proxy = proxy;
        g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(proxy), CALL_TIMEOUT_MSEC);
        g_signal_connect(proxy, "notify::g-name-owner", G_CALLBACK(on_name_owner), p);
        g_signal_connect(proxy, "g-properties-changed", G_CALLBACK(on_properties_changed), p);
        g_signal_connect(proxy, "shot-opened", G_CALLBACK(on_shot_opened), p);
        g_signal_connect(proxy, "image-assigned", G_CALLBACK(on_image_assigned), p);
        g_signal_connect(proxy, "shot-closed", G_CALLBACK(on_shot_closed), p);
        g_signal_connect(proxy, "shot-updated", G_CALLBACK(on_shot_updated), p);
        g_signal_connect(proxy, "fired", G_CALLBACK(on_fired), p);
        g_signal_connect(proxy, "camera-clock-changed", G_CALLBACK(on_camera_clock_changed), p);
        on_name_owner(G_OBJECT(proxy), NULL, p);
}

static void on_connected(GObject *src, GAsyncResult *res, gpointer userdata) {
        g_autoptr(GError) error = NULL;
        Panel *p = userdata; /* alive until the main loop ends, even when cancelled */
        GDBusConnection *conn = p->opts.host    ? g_dbus_connection_new_finish(res, &error) :
                                p->opts.address ? g_dbus_connection_new_for_address_finish(res, &error) :
                                                  g_bus_get_finish(res, &error);
        if (!conn) {
                if (cancelled(error))
                        return;
                no_bus(p, error->message);
                return;
        }
        p->conn = conn;
        g_dbus_connection_set_exit_on_close(conn, FALSE);
        g_signal_connect(conn, "closed", G_CALLBACK(on_closed), p);
        if (g_dbus_connection_is_closed(conn)) {
                no_bus(p, "The bus connection was closed");
                return;
        }
        shotsync_shotsync1_proxy_new(conn, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START, SHOTSYNC_BUS_NAME, SHOTSYNC_BUS_PATH,
                                     p->cancel, on_proxy, p);
}

/* --host, as sd-bus does for systemd's -H: ssh runs systemd-stdio-bridge on
 * the other host, which relays its system bus over ssh's stdin and stdout;
 * GDBus authenticates and says Hello through it as on a socket. */
static void connect_host(Panel *p) {
        g_autoptr(GError) error = NULL;
        p->ssh = g_subprocess_newv((const char *const *) p->opts.host_argv,
                                   G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
        if (!p->ssh) {
                no_bus(p, error->message);
                return;
        }
        g_autoptr(GIOStream) stream = g_simple_io_stream_new(g_subprocess_get_stdout_pipe(p->ssh),
                                                             g_subprocess_get_stdin_pipe(p->ssh));
        g_dbus_connection_new(stream, NULL,
                              G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                      G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                              NULL, p->cancel, on_connected, p);
}

static void connect_bus(Panel *p) {
        if (p->opts.host)
                connect_host(p);
        else if (p->opts.address)
                g_dbus_connection_new_for_address(p->opts.address,
                                                  G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                          G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                  NULL, p->cancel, on_connected, p);
        else
                g_bus_get(p->opts.bus_type, p->cancel, on_connected, p);
}

void panel_bus_start(Panel *p) {
        if (!p->cancel)
                p->cancel = g_cancellable_new();
        connect_bus(p);
}

void panel_bus_stop(Panel *p) {
        if (p->reconnect_id) {
                g_source_remove(p->reconnect_id);
                p->reconnect_id = 0;
        }
        if (p->cancel) {
                g_cancellable_cancel(p->cancel);
                g_clear_object(&p->cancel);
        }
        drop_connection(p);
}
