#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# After `meson install` on a live system (not when staging into DESTDIR):
# create the user and folders, put the example configuration in place if
# there is none, and tell systemd and dbus-daemon about the new files.
set -e
[ -n "${DESTDIR:-}" ] && exit 0
datadir="${MESON_INSTALL_PREFIX:-/usr}/share/shotsync"
if [ ! -e /etc/shotsync/shotsync.conf ]; then
        install -D -m 0644 "$datadir/shotsync.conf" /etc/shotsync/shotsync.conf
fi
# Our files only, as dh_installsysusers and dh_installtmpfiles do: the
# user before the folders it owns.
command -v systemd-sysusers >/dev/null && systemd-sysusers shotsync.conf || true
command -v systemd-tmpfiles >/dev/null && systemd-tmpfiles --create shotsync.conf || true
if [ -d /run/systemd/system ]; then
        systemctl daemon-reload || true
        busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig 2>/dev/null || true
fi
exit 0
