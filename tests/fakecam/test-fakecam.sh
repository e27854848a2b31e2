#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Checks shotsync-fakecam against the real gphoto2 CLI (libgphoto2's
# "PTP/IP Camera" driver) on loopback addresses.
#
#   test-fakecam.sh PATH/TO/shotsync-fakecam
#
# Exit status: 0 success, 1 failure, 77 skipped (no gphoto2 CLI).
# FAKECAM_WRAPPER, if set, prefixes the emulator command line, e.g.
#   FAKECAM_WRAPPER="valgrind --error-exitcode=99 --leak-check=full" test-fakecam.sh ...
# (the emulators must then still exit with status 0).
# shellcheck disable=SC2016,SC2317 # bash -c '...' arguments; functions run via check/trap
set -u

FAKECAM=${1:?usage: test-fakecam.sh PATH/TO/shotsync-fakecam}
WRAPPER=${FAKECAM_WRAPPER:-}

if ! command -v gphoto2 >/dev/null 2>&1; then
	echo "SKIP: gphoto2 CLI not installed"
	exit 77
fi
if [[ ! -x $FAKECAM ]]; then
	echo "FAIL: $FAKECAM is not executable"
	exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fakecam-test.XXXXXX")
export HOME=$WORK/home # libgphoto2 keeps its settings (PTP/IP GUID) there
export TZ=UTC LANG=C LC_ALL=C
mkdir -p "$HOME"
LOG=$WORK/timestamps.log
declare -A PID=() FD=()
BG_PIDS=()

cleanup() {
	local p
	for p in "${BG_PIDS[@]}" "${PID[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# A random 127.A.B.0/24 so that parallel test runs do not collide; every
# 127/8 address is usable on Linux without setup.
NET=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1))

FAILS=0
pass() { echo "ok - $*"; }
fail() {
	echo "FAIL - $*"
	FAILS=$((FAILS + 1))
}
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# start_cam NAME HOST SERIAL [ARGS...]: start an emulator and wait (at most
# 30 s, no fixed sleeps) for its "ready" line.
start_cam() {
	local name=$1 host=$2 serial=$3 line fd
	shift 3
	mkfifo "$WORK/$name.ready"
	# shellcheck disable=SC2086
	$WRAPPER "$FAKECAM" --address "$host" --serial "$serial" --log "$LOG" \
		--control "$WORK/$name.sock" --verbose "$@" \
		>"$WORK/$name.ready" 2>"$WORK/$name.stderr" &
	PID[$name]=$!
	exec {fd}<"$WORK/$name.ready"
	FD[$name]=$fd
	if ! read -r -t 30 -u "$fd" line || [[ $line != "ready $host:15740" ]]; then
		echo "FAIL - $name did not get ready (got '${line:-}')"
		cat "$WORK/$name.stderr"
		exit 1
	fi
}

# stop_cam NAME quit|term: stop an emulator, expect exit status 0.
stop_cam() {
	local name=$1 how=$2 rc
	if [[ $how == quit ]]; then
		ctl "$name" quit >/dev/null
	else
		kill -TERM "${PID[$name]}"
	fi
	wait "${PID[$name]}"
	rc=$?
	check "$name exits with status 0 after $how (got $rc)" test "$rc" -eq 0
	check "$name removed its control socket" test ! -e "$WORK/$name.sock"
	eval "exec ${FD[$name]}<&-"
	unset "PID[$name]"
}

ctl() { # ctl NAME COMMAND: prints the reply
	local name=$1
	shift
	timeout -k 2 10 "$FAKECAM" --control "$WORK/$name.sock" --command "$*"
}

status_field() { # status_field NAME FIELD
	ctl "$1" status | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# gp HOST SECONDS ARGS...: run gphoto2 in $WORK/dl with a deadline; output
# in $WORK/gp.out, exit status returned. gphoto2 does not always honour
# SIGTERM while waiting for camera events, hence -k.
gp() {
	local host=$1 secs=$2
	shift 2
	(cd "$WORK/dl" && timeout -k 2 "$secs" gphoto2 --port "ptpip:$host" \
		--camera "PTP/IP Camera" "$@") >"$WORK/gp.out" 2>&1
}
gp_out_has() { grep -q -- "$1" "$WORK/gp.out"; }

is_jpeg() { # SOI at the start, EOI at the end
	[[ -s $1 ]] &&
		[[ $(od -An -tx1 -N3 "$1" | tr -d ' \n') == ffd8ff ]] &&
		[[ $(tail -c 2 "$1" | od -An -tx1 | tr -d ' \n') == ffd9 ]] || return 1
	if command -v file >/dev/null 2>&1; then
		file "$1" | grep -q "JPEG image data" || return 1
	fi
}

log_count() { grep -c -E "^$1\$" "$LOG" 2>/dev/null; }

mkdir -p "$WORK/dl"
A=$NET.2
B=$NET.3
C=$NET.4

# ---------------------------------------------------------------- basics
check "--help exits 0 and documents the ready line" \
	bash -c '"$0" --help | grep -q "ready ADDR:PORT"' "$FAKECAM"
check "unknown option exits 2" bash -c '"$0" --bogus 2>/dev/null; test $? -eq 2' "$FAKECAM"

start_cam A "$A" TESTSER-A
start_cam B "$B" TESTSER-B

gp "$A" 20 --summary
check "summary shows the serial" gp_out_has "Serial Number: TESTSER-A"
check "summary shows model and manufacturer" \
	bash -c 'grep -q "Model: Fakecam" "$0" && grep -q "Manufacturer: Shotsync Emulator" "$0"' "$WORK/gp.out"

# ---------------------------------------------------------------- capture
for i in 1 2 3; do
	t0=$(now_ms)
	gp "$A" 20 --capture-image-and-download --filename "a$i.jpg"
	rc=$?
	t1=$(now_ms)
	check "capture $i: gphoto2 succeeds (rc $rc, $((t1 - t0)) ms)" test "$rc" -eq 0
	check "capture $i: names the file IMG_000$i.JPG" gp_out_has "IMG_000$i.JPG"
	check "capture $i: downloads a valid JPEG" is_jpeg "$WORK/dl/a$i.jpg"
done
check "distinct images per capture" bash -c '! cmp -s "$0" "$1"' "$WORK/dl/a1.jpg" "$WORK/dl/a2.jpg"
check "3 capture lines for A in the log" test "$(log_count 'capture TESTSER-A [0-9]+\.[0-9]{9}')" -eq 3
check "capture-image-and-download deleted the objects" test "$(status_field A objects)" -eq 0

# two cameras at once
gp "$A" 20 --capture-image-and-download --filename pa.jpg >/dev/null &
pa=$!
BG_PIDS+=("$pa")
(cd "$WORK/dl" && timeout -k 2 20 gphoto2 --port "ptpip:$B" --camera "PTP/IP Camera" \
	--capture-image-and-download --filename pb.jpg) >"$WORK/gpb.out" 2>&1
rcb=$?
wait "$pa"
rca=$?
check "parallel capture on two emulators (rc $rca/$rcb)" test "$rca" -eq 0 -a "$rcb" -eq 0
check "parallel capture downloaded both images" \
	bash -c 'grep -q serial=TESTSER-A "$0" && grep -q serial=TESTSER-B "$1"' \
	"$WORK/dl/pa.jpg" "$WORK/dl/pb.jpg"
check "B logged its capture" test "$(log_count 'capture TESTSER-B [0-9]+\.[0-9]{9}')" -eq 1
gp "$B" 20 --summary
check "B reports its own serial" gp_out_has "Serial Number: TESTSER-B"

# ---------------------------------------------------------------- clock
gp "$A" 20 --set-config datetime=1700000000
check "set-config datetime succeeds" test $? -eq 0
check "setclock line logged" test "$(log_count 'setclock TESTSER-A 20231114T221320')" -eq 1
gp "$A" 20 --get-config datetime
check "get-config datetime reads the value back" gp_out_has "Current: 1700000000"

# ---------------------------------------------------------------- faults
s=$(status_field A sessions)
check "status counts sessions ($s)" test "${s:-0}" -eq 7
check "status counts captures" test "$(status_field A captures)" -eq 4
check "bad fault is rejected" bash -c '[[ $("$0" --control "$1" --command "fault bogus") == error* ]]' \
	"$FAKECAM" "$WORK/A.sock"

# error: gp_camera_trigger_capture reports it. (gp_camera_capture in
# libgphoto2 2.5.30 ignores the response code and waits for events.)
check "fault error accepted" test "$(ctl A fault error)" = ok
gp "$A" 20 --trigger-capture
check "fault error: trigger-capture fails with Device Busy" \
	bash -c 'test "$0" -ne 0 && grep -qi busy "$1"' $? "$WORK/gp.out"
ctl A fault error 0x2002 >/dev/null
check "fault error 0x2002 shows in status" test "$(status_field A fault)" = error:0x2002
check "fault error: no image stored" test "$(status_field A images)" -eq 4
check "fault error: trigger still logged" test "$(log_count 'capture TESTSER-A .*')" -eq 5

# delay
ctl A fault delay 1000 >/dev/null
t0=$(now_ms)
gp "$A" 20 --capture-image-and-download --filename delay.jpg
rc=$?
dt=$(($(now_ms) - t0))
check "fault delay 1000: capture succeeds (rc $rc)" test "$rc" -eq 0
check "fault delay 1000: capture takes >= 1 s ($dt ms)" test "$dt" -ge 1000
check "fault delay 1000: valid image" is_jpeg "$WORK/dl/delay.jpg"

# no-events: the camera answers OK and stores the image, but libgphoto2's
# capture waits for ObjectAdded/CaptureComplete until killed.
ctl A fault no-events >/dev/null
gp "$A" 20 --trigger-capture
check "fault no-events: trigger-capture succeeds" test $? -eq 0
check "fault no-events: image stored" test "$(status_field A objects)" -eq 1
t0=$(now_ms)
gp "$A" 4 --capture-image 2>/dev/null # (hides bash's "Killed")
rc=$?
check "fault no-events: capture-image times out (rc $rc, $(($(now_ms) - t0)) ms)" \
	test "$rc" -eq 124 -o "$rc" -eq 137
ctl A fault none >/dev/null
gp "$A" 20 --list-files
check "fault no-events: images are on the card" gp_out_has "IMG_0007.JPG"
gp "$A" 20 --delete-all-files --recurse
check "delete-all-files empties the card" test "$(status_field A objects)" -eq 0

# close
ctl A fault close >/dev/null
t0=$(now_ms)
gp "$A" 20 --capture-image-and-download --filename close.jpg
dt=$(($(now_ms) - t0))
check "fault close: capture fails fast ($dt ms)" \
	bash -c 'test ! -e "$0" && test "$1" -lt 5000 && grep -q "Could not capture" "$2"' \
	"$WORK/dl/close.jpg" "$dt" "$WORK/gp.out"
check "fault close: session is gone" test "$(status_field A connected)" -eq 0

# hang: libgphoto2 gives up after its 2.5 s PTP/IP read timeout; the
# control socket keeps answering meanwhile
ctl A fault hang >/dev/null
gp "$A" 20 --summary &
ph=$!
BG_PIDS+=("$ph")
t0=$(now_ms)
st=$(ctl A status)
check "fault hang: control socket answers during a hung session ($(($(now_ms) - t0)) ms)" \
	test "${st:0:2}" = ok
wait "$ph"
rc=$?
check "fault hang: summary fails (rc $rc)" test "$rc" -ne 0 -a "$rc" -ne 124 -a "$rc" -ne 137
ctl A fault none >/dev/null
gp "$A" 20 --summary
check "after fault none the camera works again" gp_out_has "Serial Number: TESTSER-A"

# faults given on the command line
start_cam C "$C" TESTSER-C --fault hang
gp "$C" 20 --summary
check "--fault hang: summary fails" test $? -ne 0
check "--fault hang: shows in status" test "$(status_field C fault)" = hang
ctl C fault delay:200 >/dev/null
check "fault delay:200 syntax" test "$(status_field C fault)" = delay:200
stop_cam C term

# ---------------------------------------------------------------- robustness
# Malformed clients, written with bash's /dev/tcp; the emulator must drop
# them and keep serving.
send_raw() { # send_raw HOST HEX-BYTES...: connect, send, close
	local fd hex out=""
	exec {fd}<>"/dev/tcp/$1/15740" || return 1
	shift
	for hex in "$@"; do out+="\\x$hex"; done
	printf '%b' "$out" 1>&"$fd" 2>/dev/null
	exec {fd}>&-
}
INIT=(26 00 00 00 01 00 00 00 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 74 00 65 00 73 00 74 00 00 00 00 00 01 00)
ZERO16=(00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00)
send_raw "$A"                                   # connect and close
send_raw "$A" ff ff ff ff 01 00 00 00           # huge length
send_raw "$A" 04 00 00 00 01 00 00 00           # length below the header size
send_raw "$A" 20 00 00 00 01 00 00 00 "${ZERO16[@]}" 41 00 42 00 43 00 44 00 # name without NUL
send_raw "$A" 0c 00 00 00 03 00 00 00 63 00 00 00 # event connection, unknown session
send_raw "$A" 08 00 00 00 2a 00 00 00           # unknown type
send_raw "$A" "${INIT[@]}" 0a 00 00 00 06 00 00 00 01 00 # truncated operation request
send_raw "$A" "${INIT[@]}" 12 00 00 00 06 00 00 00 01 00 00 00 01 10 00 00 00 00 # GetDeviceInfo, then leave
send_raw "$A" "${INIT[@]}" 0c 00 00 00 0c 00 00 00 01 00 00 00 # End Data without Start Data
send_raw "$A" "${INIT[@]}" 16 00 00 00 06 00 00 00 02 00 00 00 16 10 01 00 00 00 11 50 00 00 \
	14 00 00 00 09 00 00 00 01 00 00 00 ff ff ff ff 00 00 00 00 \
	0e 00 00 00 0c 00 00 00 01 00 00 00 05 41 # SetDevicePropValue, bogus data
send_raw "$A" "${INIT[@]}" 2e 00 00 00 01 00 00 00      # partial packet at close
check "emulator survives malformed clients" kill -0 "${PID[A]}"
gp "$A" 20 --capture-image-and-download --filename after-fuzz.jpg
check "capture works after malformed clients" is_jpeg "$WORK/dl/after-fuzz.jpg"

# ---------------------------------------------------------------- --image
start_cam D "$NET.5" TESTSER-D --image "$WORK/dl/a1.jpg"
gp "$NET.5" 20 --capture-image-and-download --filename d.jpg
check "--image: the served file is byte-identical" cmp -s "$WORK/dl/a1.jpg" "$WORK/dl/d.jpg"
stop_cam D quit

# ---------------------------------------------------------------- shutdown
stop_cam A quit
stop_cam B term
check "log lines are well-formed" \
	test "$(grep -c -v -E '^(capture [^ ]+ [0-9]+\.[0-9]{9}|setclock [^ ]+ [0-9]{8}T[0-9]{6}[^ ]*)$' "$LOG")" -eq 0

if ((FAILS)); then
	echo "$FAILS check(s) failed; emulator logs:"
	for f in "$WORK"/*.stderr; do
		echo "== $f"
		tail -n 40 "$f"
	done
	exit 1
fi
echo "all checks passed"
exit 0
