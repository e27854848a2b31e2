/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* --host: the system bus of another host, reached as systemd's -H reaches
 * it (sd_bus_open_system_remote(3)): through ssh, running
 * systemd-stdio-bridge on the remote side. GLib only, no GTK, so that the
 * unit tests reach it. */

#include <glib.h>

/* The command line that connects to the system bus of host, given as
 * "[USER@]HOST[:PORT][/MACHINE]" (HOST may be an IPv6 address in
 * brackets; MACHINE is a container on that host):
 *   ssh -xT [-p PORT] -- [USER@]HOST systemd-stdio-bridge [--machine=MACHINE]
 * NULL, with error set, when the text is not one: a user or host that
 * starts with '-' (ssh would take it for an option), an empty part, a port
 * that is not 1-65535, a machine name with other characters than letters,
 * digits, '.', '_' and '-', blanks or control characters. */
char **panel_host_argv(const char *host, GError **error);
