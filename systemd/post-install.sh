#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# After `meson install` on a live system (never when staging into DESTDIR,
# e.g. for a package, whose maintainer scripts do this): create the user and
# folders, and tell systemd and dbus-daemon about the new files. Nothing is
# written to /etc: the service runs on its defaults (shotsync.conf(5)).
set -e
[ -n "${DESTDIR:-}" ] && exit 0
# Our files only, as dh_installsysusers and dh_installtmpfiles do: the
# user before the folders it owns.
command -v systemd-sysusers >/dev/null && systemd-sysusers shotsync.conf || true
command -v systemd-tmpfiles >/dev/null && systemd-tmpfiles --create shotsync.conf || true
if [ -d /run/systemd/system ]; then
        systemctl daemon-reload || true
        busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig 2>/dev/null || true
fi
exit 0
