#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the Debian packages (dpkg-buildpackage -us -uc -b) from a copy of
# the source tree, so that the tree itself stays clean (no obj-*, no
# debian/.debhelper) and the .debs land in a known folder.
#
#   build-debs.sh OUTDIR [VERSION]
#
# OUTDIR receives shotsync_*.deb, shotsync-panel_*.deb, the .changes and
# .buildinfo files, and build-<version>.log. With VERSION, the copy's
# debian/changelog gets a new first entry of that version (it must sort
# after the current one): a rebuilt "newer" package for the upgrade test.
# DEB_BUILD_OPTIONS is passed through (e.g. nocheck). Prints the version
# built; exits non-zero, with the end of the log, when the build fails.
set -euo pipefail

out=${1:?usage: build-debs.sh OUTDIR [VERSION]}
version=${2:-}
top=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)

current=$(cd "$top" && dpkg-parsechangelog -SVersion)
if [ -n "$version" ]; then
	dpkg --compare-versions "$version" gt "$current" ||
		{ echo "build-debs.sh: $version does not sort after $current" >&2; exit 2; }
else
	version=$current
fi

work=$(mktemp -d "$out/.src.XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$work/shotsync-${version%%-*}
mkdir "$src"
# The tree as it is, edits included, without build folders or git.
tar -C "$top" --exclude=./.git --exclude='./build*' --exclude='./obj-*' --exclude=./debian/.debhelper \
	--exclude='./debian/tmp' --exclude='./debian/shotsync' --exclude='./debian/shotsync-panel' -cf - . |
	tar -C "$src" -xf -

if [ "$version" != "$current" ]; then
	{
		printf 'shotsync (%s) unstable; urgency=medium\n\n' "$version"
		printf '  * Rebuilt with a higher version, to test upgrades.\n\n'
		printf ' -- %s  %s\n\n' "$(cd "$top" && dpkg-parsechangelog -SMaintainer)" "$(date -R)"
		cat "$top/debian/changelog"
	} >"$src/debian/changelog"
fi

log=$out/build-$version.log
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) >"$log" 2>&1; then
	tail -40 "$log" >&2
	echo "build-debs.sh: dpkg-buildpackage failed, see $log" >&2
	exit 1
fi
# dpkg-buildpackage puts its results next to the source folder.
mv "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out"/
echo "$version"
