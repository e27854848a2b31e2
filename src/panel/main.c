/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* shotsync-panel: the desktop panel lab staff watch during a campaign. It
 * talks to shotsyncd only through its public D-Bus API, on the system bus
 * (this host's, or another's with --host) unless told otherwise (man
 * shotsync-panel(1)). */

#include "panel.h"

#include <stdio.h>

static char *arg_address, *arg_host;
static gboolean arg_user, arg_system, arg_version;

static const GOptionEntry options[] = {
        { "system", 0, 0, G_OPTION_ARG_NONE, &arg_system, "Talk to shotsyncd on the system bus (the default)", NULL },
        { "user", 0, 0, G_OPTION_ARG_NONE, &arg_user, "Talk to shotsyncd on the session bus (shotsyncd --user)",
          NULL },
        { "address", 0, 0, G_OPTION_ARG_STRING, &arg_address,
          "Talk to shotsyncd on the message bus at ADDRESS (a private bus, e.g. in tests)", "ADDRESS" },
        { "host", 'H', 0, G_OPTION_ARG_STRING, &arg_host,
          "Talk to shotsyncd on the system bus of another host, through ssh (as systemd's -H)",
          "[USER@]HOST[:PORT][/MACHINE]" },
        { "version", 0, 0, G_OPTION_ARG_NONE, &arg_version, "Print the version and exit", NULL },
        { NULL },
};

static Panel *panel;
static PanelOptions panel_options;

static void on_activate(GtkApplication *app, gpointer userdata) {
        if (panel) {
                gtk_window_present(GTK_WINDOW(panel->window));
                return;
        }
        panel = panel_new(app, &panel_options);
}

int main(int argc, char **argv) {
        g_set_prgname("shotsync-panel");
        g_set_application_name("Shotsync panel");

        g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
        g_option_context_set_summary(ctx,
                                     "Shows what the shotsync service announces on D-Bus — its state, the shots in\n"
                                     "progress camera by camera, the recent shots of the day — and fires, pauses,\n"
                                     "resumes and renumbers it.");
        g_option_context_add_main_entries(ctx, options, NULL);
        g_autoptr(GError) error = NULL;
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                fprintf(stderr, "shotsync-panel: %s\nTry 'shotsync-panel --help'.\n", error->message);
                return 2;
        }
        if (arg_version) {
                printf("shotsync-panel %s\n", PACKAGE_VERSION);
                return 0;
        }
        if (argc > 1) {
                fprintf(stderr, "shotsync-panel: unexpected argument '%s'\n", argv[1]);
                return 2;
        }
        if ((arg_address != NULL) + (arg_host != NULL) + arg_user + arg_system > 1) {
                fprintf(stderr, "shotsync-panel: --system, --user, --address and --host exclude each other\n");
                return 2;
        }
        g_auto(GStrv) host_argv = NULL;
        if (arg_host) {
                host_argv = panel_host_argv(arg_host, &error);
                if (!host_argv) {
                        fprintf(stderr, "shotsync-panel: --host: %s\n", error->message);
                        return 2;
                }
        }
        if (arg_address && !g_dbus_is_supported_address(arg_address, &error)) {
                fprintf(stderr, "shotsync-panel: --address: %s\n", error->message);
                return 2;
        }
        panel_options.bus_type = arg_user ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM;
        panel_options.address = arg_address;
        panel_options.host = arg_host;
        panel_options.host_argv = host_argv;

        /* No application id: every panel is its own process (several may watch
         * different buses), and the window's app id is then the program name,
         * matching shotsync-panel.desktop. */
        GtkApplication *app = gtk_application_new(NULL, G_APPLICATION_NON_UNIQUE);
        g_signal_connect(app, "activate", G_CALLBACK(on_activate), NULL);
        char *args[] = { argv[0], NULL };
        int status = g_application_run(G_APPLICATION(app), 1, args);
        panel = panel_free(panel);
        g_object_unref(app);
        g_free(arg_address);
        g_free(arg_host);
        return status;
}
