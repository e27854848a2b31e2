#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Lints what ships besides the code:
#   - every man page: mandoc -T lint -W warning, no message;
#   - dbus/*.xml and dbus/*.conf: xmllint --noout;
#   - the built unit: systemd-analyze verify, with ExecStart= pointing at the
#     built daemon and the man pages of Documentation= found in the tree;
#   - systemd-analyze security --offline=yes: overall exposure <= 2.0.
# The checks whose tool is present run; when a tool is missing the test
# fails if a check failed, and is otherwise skipped (exit 77), never passed.
#
# Usage: lint.sh SOURCE_DIR BUILD_DIR
set -uo pipefail

src=$(cd "${1:?usage: lint.sh SOURCE_DIR BUILD_DIR}" && pwd) || exit 1
build=$(cd "${2:?usage: lint.sh SOURCE_DIR BUILD_DIR}" && pwd) || exit 1
max_exposure=2.0

failed=0
ran=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { echo "ok    $*"; ran=$((ran + 1)); }
fail() { echo "FAIL  $*"; failed=$((failed + 1)); ran=$((ran + 1)); }
skipped=0
skip() { echo "SKIP  $*"; skipped=$((skipped + 1)); }

# ---- man pages ----
shopt -s nullglob
pages=("$src"/man/*.[1-8])
if ! command -v mandoc >/dev/null; then
        skip "mandoc is missing (Debian: mandoc): man pages not linted"
elif [ ${#pages[@]} -eq 0 ]; then
        fail "no man pages in $src/man"
else
        for p in "${pages[@]}"; do
                # -W warning: warnings, errors and unsupported features; mandoc
                # exits 0 only when it had nothing of that to say.
                out=$(mandoc -T lint -W warning "$p" 2>&1)
                rc=$?
                if [ $rc -eq 0 ] && [ -z "$out" ]; then
                        ok "mandoc -T lint -W warning man/${p##*/}"
                else
                        fail "mandoc -T lint -W warning man/${p##*/} (exit $rc):"
                        printf '%s\n' "$out" | sed 's/^/        /'
                fi
        done
fi

# ---- XML ----
xml=("$src"/dbus/*.xml "$src"/dbus/*.conf)
if ! command -v xmllint >/dev/null; then
        skip "xmllint is missing (Debian: libxml2-utils): D-Bus XML not checked"
else
        for x in "${xml[@]}"; do
                # --nonet: the DOCTYPEs name DTDs on freedesktop.org; well-formedness
                # is what is checked, offline.
                if out=$(xmllint --noout --nonet "$x" 2>&1) && [ -z "$out" ]; then
                        ok "xmllint --noout dbus/${x##*/}"
                else
                        fail "xmllint --noout dbus/${x##*/}:"
                        printf '%s\n' "$out" | sed 's/^/        /'
                fi
        done
fi

# ---- the unit ----
unit_in=$build/systemd/shotsync.service
daemon=$build/src/daemon/shotsyncd
if ! command -v systemd-analyze >/dev/null; then
        skip "systemd-analyze is missing: the unit is not verified"
elif [ ! -f "$unit_in" ] || [ ! -x "$daemon" ]; then
        fail "no built unit ($unit_in) or daemon ($daemon): build first"
else
        # The unit as installed, but starting the daemon from the build tree:
        # verify checks that ExecStart= is executable.
        unit=$tmp/shotsync.service
        sed "s|^ExecStart=[^ ]*shotsyncd|ExecStart=$daemon|" "$unit_in" >"$unit"
        grep -q "^ExecStart=$daemon" "$unit" || fail "could not point ExecStart= of $unit_in at $daemon"

        # Documentation=man:… pages, from the tree, when man(1) is there.
        man_opt=--man=no
        if command -v man >/dev/null; then
                for p in "${pages[@]}"; do
                        sec=${p##*.}
                        mkdir -p "$tmp/man/man$sec"
                        ln -s "$p" "$tmp/man/man$sec/"
                done
                man_opt=--man=yes
        fi
        # SYSTEMD_LOG_LEVEL=notice: only what verify finds, not its chatter
        # about the rest of the system it loads.
        if out=$(MANPATH=$tmp/man SYSTEMD_LOG_LEVEL=notice systemd-analyze verify $man_opt "$unit" 2>&1) &&
                        [ -z "$out" ]; then
                ok "systemd-analyze verify $man_opt shotsync.service (ExecStart=$daemon)"
        else
                fail "systemd-analyze verify shotsync.service:"
                printf '%s\n' "$out" | sed 's/^/        /'
        fi

        out=$(systemd-analyze security --offline=yes --no-pager "$unit" 2>&1)
        level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p')
        if [ -z "$level" ]; then
                fail "systemd-analyze security --offline=yes: no overall exposure level in its output:"
                printf '%s\n' "$out" | tail -n 20 | sed 's/^/        /'
        elif awk -v l="$level" -v m="$max_exposure" 'BEGIN { exit !(l <= m) }'; then
                ok "systemd-analyze security --offline=yes: overall exposure $level <= $max_exposure"
        else
                fail "systemd-analyze security --offline=yes: overall exposure $level > $max_exposure:"
                printf '%s\n' "$out" | grep -E '^✗' | sed 's/^/        /'
        fi
fi

echo "$ran checked, $failed failed, $skipped skipped"
[ $failed -gt 0 ] && exit 1
[ $skipped -gt 0 ] && exit 77
exit 0
