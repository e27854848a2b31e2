#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs what building, testing and the demo need on Debian 12. Used by
# the README's commands and by CI; a no-op when everything is there.
set -euo pipefail

PACKAGES=(
        gcc clang libclang-rt-14-dev meson ninja-build pkg-config
        libsystemd-dev libglib2.0-dev libjson-glib-dev libgphoto2-dev
        dbus gphoto2 python3-gi gir1.2-glib-2.0 python3 util-linux
        valgrind mandoc libxml2-utils systemd systemd-container
        libgtk-4-dev xvfb imagemagick python3-pyatspi at-spi2-core librsvg2-common desktop-file-utils
        build-essential debhelper dpkg-dev lintian debootstrap
)

missing=()
for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "Installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
