#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Issue 7: the real shotsyncd against crashes, lost events, full and failing
disks and hostile input. Every case ends with the same audit of the clean
tree (every manifest parses and describes exactly the bytes under its clean
names, every clean file belongs to exactly one manifest, nothing is left in
.staging or under a temporary name) and prints its figures.

The cases that lower kernel limits or mount file systems need root; they
mount in a private mount namespace and restore every knob on every path."""

import ctypes
import errno
import hashlib
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time

from gi.repository import Gio, GLib

from shotsynctest import (BUS_IFACE, BUS_NAME, BUS_PATH, DATE, DEFAULT_TIMEOUT, SLOWDOWN, T0, ShotsyncTestCase,
                          main, sha256_file, wait_until)

ERR = "org.shotsync.Shotsync1.Error."
INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"


def escaped(raw):
    """A path as the daemon writes it in JSON and on D-Bus: invalid UTF-8
    as \\xNN, a backslash doubled so that the escape is unambiguous."""
    return raw.replace(b"\\", b"\\\\").decode("utf-8", errors="backslashreplace")


def figures(name, **kv):
    print("\n[%s] %s" % (name, ", ".join("%s: %s" % (k.replace("_", " "), v) for k, v in kv.items())),
          file=sys.stderr, flush=True)


# ---- inotify, to prove what the kernel did or did not report ----

IN_ACCESS, IN_MODIFY, IN_CLOSE_WRITE, IN_CLOSE_NOWRITE, IN_OPEN = 0x1, 0x2, 0x8, 0x10, 0x20
IN_MOVED_TO, IN_CREATE = 0x80, 0x100
IN_ALL_EVENTS = 0xfff
_libc = ctypes.CDLL(None, use_errno=True)


class Inotify:
    def __init__(self):
        self.fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.wds = {}

    def add(self, path, mask):
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            e = ctypes.get_errno()
            raise OSError(e, "inotify_add_watch %s: %s" % (path, os.strerror(e)))
        self.wds[wd] = path
        return wd

    def read(self, timeout=0.0):
        """[(watched path, mask, name)] available within timeout."""
        out = []
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return out
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return out
            off = 0
            while off < len(data):
                wd, mask, cookie, length = struct.unpack_from("iIII", data, off)
                name = data[off + 16:off + 16 + length].rstrip(b"\0")
                out.append((self.wds.get(wd), mask, name))
                off += 16 + length

    def close(self):
        os.close(self.fd)


# A D-Bus caller in a process of its own: "mode" says how it hammers. Prints
# one JSON line of counts. Errors the daemon means (InvalidArgs, NoSuchShot,
# UnknownMethod...) are counted; any other (no reply, disconnected) is
# "unexpected".
HAMMER = r"""
import json, sys
from gi.repository import Gio, GLib
address, mode, n, shot, date = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
NAME, PATH, IFACE = "org.shotsync.Shotsync1", "/org/shotsync/Shotsync1", "org.shotsync.Shotsync1"
conn = Gio.DBusConnection.new_for_address_sync(address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
                                               Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
calls = [
    (IFACE, "ListShots", GLib.Variant("(sb)", (date, False))),
    (IFACE, "GetShot", GLib.Variant("(s)", (shot,))),
    (IFACE, "GetShot", GLib.Variant("(s)", ("../../etc",))),
    (IFACE, "GetShot", GLib.Variant("(s)", (date + "-777",))),
    (IFACE, "ListCameras", None),
    (IFACE, "Explode", None),
    (IFACE, "GetShot", GLib.Variant("(u)", (1,))),
    (IFACE, "SetNextShotNumber", GLib.Variant("(su)", ("/etc", 5))),
    ("org.freedesktop.DBus.Properties", "GetAll", GLib.Variant("(s)", (IFACE,))),
    ("org.freedesktop.DBus.Properties", "Get", GLib.Variant("(ss)", (IFACE, "State"))),
    ("org.freedesktop.DBus.Introspectable", "Introspect", None),
]
if mode == "metadata":
    calls = [(IFACE, "SetShotMetadata", GLib.Variant("(sa{ss})", (shot, {"hammer": "%d" % i, "k%d" % (i % 50): "x" * (i % 300)})))
             for i in range(n)]
if mode == "pause":
    calls = [(IFACE, "Pause", None), (IFACE, "Resume", None)]
stats = {"calls": 0, "ok": 0, "errors": {}, "unexpected": []}
MEANT = ("org.freedesktop.DBus.Error.InvalidArgs", "org.freedesktop.DBus.Error.UnknownMethod",
         "org.shotsync.Shotsync1.Error.NoSuchShot")

def note(res_or_err):
    if isinstance(res_or_err, GLib.Error):
        name = Gio.DBusError.get_remote_error(res_or_err) or res_or_err.message
        stats["errors"][name] = stats["errors"].get(name, 0) + 1
        if name not in MEANT:
            stats["unexpected"].append(name)
    else:
        stats["ok"] += 1

if mode in ("sync", "metadata", "pause"):
    for i in range(n):
        iface, member, args = calls[i % len(calls)]
        stats["calls"] += 1
        try:
            conn.call_sync(NAME, PATH, iface, member, args, None, Gio.DBusCallFlags.NONE, 25000, None)
            note(None)
        except GLib.Error as e:
            note(e)
elif mode in ("pipelined", "flood"):
    # pipelined: 100 calls in flight at all times (the bus allows 128 per
    # caller); flood: all at once, the bus refusing what passes its limit.
    if mode == "flood":
        MEANT += ("org.freedesktop.DBus.Error.LimitsExceeded",)
    window = 100 if mode == "pipelined" else n
    pending = [n]
    loop = GLib.MainLoop()
    def send():
        iface, member, args = calls[stats["calls"] % len(calls)]
        stats["calls"] += 1
        conn.call(NAME, PATH, iface, member, args, None, Gio.DBusCallFlags.NONE, 60000, None, done, None)
    def done(c, res, data):
        try:
            c.call_finish(res)
            note(None)
        except GLib.Error as e:
            note(e)
        pending[0] -= 1
        if stats["calls"] < n:
            send()
        if pending[0] == 0:
            loop.quit()
    for i in range(min(window, n)):
        send()
    loop.run()
elif mode == "vanish":
    # Sends and goes away without reading a single reply.
    for i in range(n):
        iface, member, args = calls[i % len(calls)]
        stats["calls"] += 1
        conn.call(NAME, PATH, iface, member, args, None, Gio.DBusCallFlags.NONE, 60000, None, None, None)
    conn.flush_sync(None)
    print(json.dumps(stats), flush=True)
    import os
    os._exit(0)
print(json.dumps(stats), flush=True)
"""


class TestReliability(ShotsyncTestCase):
    # ---- helpers ----

    def enable_rescans(self, seconds=1):
        text = self.config_text().replace("RescanIntervalSec=0", "RescanIntervalSec=%g" % seconds)
        self.write_config(text)

    def manifests(self):
        """Every manifest on disk: {shot id: parsed JSON}; fails on one that does not parse."""
        out = {}
        top = os.path.join(self.clean, "shots")
        if not os.path.isdir(top):
            return out
        for date in sorted(os.listdir(top)):
            for name in sorted(os.listdir(os.path.join(top, date))):
                path = os.path.join(top, date, name)
                self.assertTrue(name.startswith("shot") and name.endswith(".json"), "stray file %s" % path)
                with open(path, "rb") as f:
                    data = f.read()
                try:
                    m = json.loads(data)
                except ValueError as e:
                    self.fail("manifest %s does not parse (%s): %r" % (path, e, data[:200]))
                self.assertEqual(m["id"], "%s-%s" % (date, name[4:-5]), path)
                out[m["id"]] = m
        return out

    def count_manifests(self):
        top = os.path.join(self.clean, "shots")
        try:
            return sum(len(os.listdir(os.path.join(top, d))) for d in os.listdir(top))
        except FileNotFoundError:
            return 0

    def staging(self):
        try:
            return os.listdir(os.path.join(self.clean, ".staging"))
        except FileNotFoundError:
            return []

    def final_files(self):
        """Clean files under final names: everything but .staging and the manifests."""
        out = []
        for root, dirs, files in os.walk(self.clean):
            if root == self.clean:
                dirs[:] = [d for d in dirs if d not in (".staging", "shots")]
            for f in files:
                out.append(os.path.join(root, f))
        return out

    def check_visible_whole(self, raw_of=None):
        """Nothing under a final name is half-written: no temporary name
        anywhere outside .staging, and (when raw_of maps a clean base name
        to its raw file) every visible clean file equals its raw file."""
        for path in self.final_files():
            base = os.path.basename(path)
            self.assertFalse(base.startswith(".#"), "temporary file under a final folder: " + path)
            if raw_of and base in raw_of:
                self.assertEqual(sha256_file(path), sha256_file(raw_of[base]), "half-written " + path)

    def audit(self, numbering=True):
        """The invariants of the clean tree; returns (manifests, bytes verified)."""
        ms = self.manifests()
        self.assertEqual(self.staging(), [], "left in .staging")
        listed = {}
        nbytes = 0
        for sid, m in ms.items():
            for key in ("id", "date", "number", "status", "trigger", "window", "files", "missing", "timing",
                        "metadata"):
                self.assertIn(key, m, sid)
            self.assertIn(m["status"], ("complete", "timeout"), sid)
            for f in m["files"]:
                cp = f["clean_path"]
                self.assertTrue(cp.startswith(self.clean + "/") and "/../" not in cp, cp)
                self.assertNotIn(cp, listed, "%s listed by %s and %s" % (cp, listed.get(cp), sid))
                listed[cp] = sid
                st = os.lstat(cp)
                self.assertTrue(stat.S_ISREG(st.st_mode), cp)
                self.assertEqual(f["size"], st.st_size, cp)
                self.assertEqual(f["sha256"], sha256_file(cp), "manifest of %s describes other bytes than %s" %
                                 (sid, cp))
                nbytes += st.st_size
        on_disk = set(self.final_files())
        self.assertEqual(on_disk - set(listed), set(), "clean files no manifest lists")
        self.assertEqual(set(listed) - on_disk, set(), "listed but absent")
        if numbering:
            by_date = {}
            for m in ms.values():
                by_date.setdefault(m["date"], []).append(m["number"])
            for date, nums in by_date.items():
                self.assertEqual(sorted(nums), list(range(1, len(nums) + 1)), "numbering of %s" % date)
        return ms, nbytes

    def state_of(self):
        return self.get_property("State")

    def wait_state(self, want, timeout=DEFAULT_TIMEOUT):
        self.wait(lambda: self.state_of() == want, timeout, "State %s" % want)

    def inotify_watches(self, pid, inodes=False):
        """How many watches the process holds (or the set of the inodes
        watched), from /proc/PID/fdinfo."""
        found = []
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) != "anon_inode:inotify":
                    continue
                with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                    for line in f:
                        if line.startswith("inotify wd:"):
                            found.append(int(re.search(r" ino:([0-9a-f]+)", line).group(1), 16))
            except OSError:
                continue
        return set(found) if inodes else len(found)

    def log_count(self, text):
        return self.log_text().count(text)

    def world_on_tmpfs(self, size="1g"):
        """raw/, clean/ and state/ on a tmpfs: fsync costs nothing there."""
        fast = self.mount(os.path.join(self.tmp, "fast"), "-t", "tmpfs", "-o", "size=" + size, "tmpfs")
        self.raw = os.path.join(fast, "raw")
        self.clean = os.path.join(fast, "clean")
        self.state = os.path.join(fast, "state")
        for cam in self.folders:
            os.makedirs(os.path.join(self.raw, cam, DATE))

    # ---- crash loop ----

    def test_crash_loop(self):
        """A campaign (40 shots x 4 cameras, files up to 3 MB in random order,
        many late) replayed while the daemon is SIGKILLed >= 100 times: right
        after start, during the start-up scan, while copying, between a
        shot's files and its manifest. At the end every shot is published
        exactly once, byte for byte."""
        seed = int(os.environ.get("SHOTSYNC_SEED", random.randrange(1 << 30)))
        rng = random.Random(seed)
        print("seed %d (SHOTSYNC_SEED= replays it)" % seed, file=sys.stderr)
        self.cameras = """
[Camera Trig]
Trigger=true
TriggerKeyword=shot

[Camera A]

[Camera B]

[Camera C]
"""
        os.makedirs(os.path.join(self.raw, "C", DATE))
        self.window = 4
        self.timeout = 3
        self.write_config()
        started = time.monotonic()

        n_shots = 40
        files = []  # (camera, name, offset, shot index)
        for i in range(n_shots):
            base = 60.0 * i
            files.append(("Trig", "shot_%03d.tif" % i, base, i))
            for cam in ("A", "B", "C"):
                files.append((cam, "%s_%03d.tif" % (cam.lower(), i), base + rng.uniform(-1.9, 1.9), i))
        rng.shuffle(files)
        raw_of_shot = {}
        raw_trigger = {}

        kills = {"total": 0, "at_start": 0, "while_down_drops": 0, "write_in_flight": 0, "files_without_manifest": 0}

        def kill_and_look():
            self.kill_daemon()
            kills["total"] += 1
            if self.staging():
                kills["write_in_flight"] += 1
            with_files = set()
            for p in self.final_files():
                b = os.path.basename(p)
                with_files.add(b[b.rindex("_shot") + 5:].split(".")[0])
            have = set()
            top = os.path.join(self.clean, "shots", DATE)
            if os.path.isdir(top):
                have = {n[4:-5] for n in os.listdir(top)}
            if with_files - have:
                kills["files_without_manifest"] += 1

        # SetShotMetadata sent now and then, the daemon often killed before
        # it answers: what it acknowledged must be in the manifest at the end.
        meta_sent = {}   # shot id -> [values in the order sent]
        meta_acked = {}  # shot id -> index of the newest acknowledged value
        meta_calls = {"sent": 0, "acked": 0}

        def set_note(sid):
            values = meta_sent.setdefault(sid, [])
            values.append("v%d" % meta_calls["sent"])
            meta_calls["sent"] += 1
            idx = len(values) - 1

            def done(c, res, data):
                try:
                    c.call_finish(res)
                except GLib.Error:
                    return
                meta_calls["acked"] += 1
                meta_acked[sid] = max(meta_acked.get(sid, -1), idx)

            self.conn.call(BUS_NAME, BUS_PATH, BUS_IFACE, "SetShotMetadata",
                           GLib.Variant("(sa{ss})", (sid, {"note": values[-1]})), None, Gio.DBusCallFlags.NONE,
                           30000, None, done, None)

        def drop_one(k):
            cam, name, off, i = files[k]
            size = rng.choice((rng.randint(1, 4096), rng.randint(1, 3 << 20), rng.randint(1 << 20, 3 << 20)))
            p = self.drop(cam, name, off, data=os.urandom(size))
            raw_of_shot.setdefault(i, set()).add(p)
            if cam == "Trig":
                raw_trigger[p] = i

        self.start_daemon()
        k = 0
        while k < len(files):
            drop_one(k)
            k += 1
            action = rng.random()
            if rng.random() < 0.2:
                top = os.path.join(self.clean, "shots", DATE)
                names = sorted(os.listdir(top)) if os.path.isdir(top) else []
                if names:
                    set_note(DATE + "-" + rng.choice(names)[4:-5])
            if action < 0.25:
                continue
            # Let it get somewhere: nowhere, a few microseconds, into a copy, past it.
            delay = rng.choice((0, rng.uniform(0, 0.003), rng.uniform(0, 0.04), rng.uniform(0.02, 0.25)))
            if delay:
                time.sleep(delay)
            kill_and_look()
            if rng.random() < 0.3 and k < len(files):
                # Files arrive while it is down: the start-up scan finds them.
                for _ in range(rng.randint(1, 3)):
                    if k < len(files):
                        drop_one(k)
                        k += 1
                        kills["while_down_drops"] += 1
            if action > 0.7:
                # Killed again right after start: during the state load and the start-up scan.
                self.start_daemon(wait_ready=False)
                time.sleep(rng.uniform(0, 0.03))
                kill_and_look()
                kills["at_start"] += 1
            self.start_daemon()
        # Kill the catching-up daemon until the count is reached.
        while kills["total"] < 150:
            time.sleep(rng.uniform(0, 0.15))
            kill_and_look()
            self.start_daemon(wait_ready=rng.random() < 0.5)
        if self.daemon.poll() is None:
            self.kill_daemon()
        self.start_daemon()

        def done():
            if self.count_manifests() < n_shots:
                return False
            ms = self.manifests()
            return all(len(m["files"]) == 4 for m in ms.values()) and not self.get_property("OpenShots")
        self.wait(done, timeout=120, what="every shot published with its four files")
        self.stop_daemon()

        ms, nbytes = self.audit()
        self.assertEqual(len(ms), n_shots, sorted(ms))
        seen_raw = {}
        late = 0
        for sid, m in ms.items():
            self.assertEqual(m["missing"], [], sid)
            trig = m["trigger"]["path"]
            self.assertIn(trig, raw_trigger, "%s: trigger %r" % (sid, trig))
            i = raw_trigger[trig]
            self.assertEqual({f["raw_path"] for f in m["files"]}, raw_of_shot[i], sid)
            for f in m["files"]:
                self.assertNotIn(f["raw_path"], seen_raw, "%s published by %s and %s" %
                                 (f["raw_path"], seen_raw.get(f["raw_path"]), sid))
                seen_raw[f["raw_path"]] = sid
                self.assertEqual(f["sha256"], sha256_file(f["raw_path"]), f["raw_path"])
                late += f["late"]
        self.assertEqual(len(self.final_files()), 4 * n_shots)
        wait_until(lambda: True, 0)  # the last replies
        for sid, values in meta_sent.items():
            got = ms[sid]["metadata"].get("note")
            if sid in meta_acked:
                self.assertIn(got, values[meta_acked[sid]:], "%s: acknowledged metadata lost" % sid)
            else:
                self.assertIn(got, values + [None], sid)
        figures("crash loop", seed=seed, kills_survived=kills["total"], kills_right_after_start=kills["at_start"],
                kills_with_a_write_in_flight=kills["write_in_flight"],
                kills_between_files_and_manifest=kills["files_without_manifest"],
                files_dropped_while_down=kills["while_down_drops"], metadata_calls=meta_calls["sent"],
                metadata_acknowledged=meta_calls["acked"], shots=len(ms), files=len(seen_raw),
                late_files=late, bytes_verified=nbytes, seconds=round(time.monotonic() - started, 1))


    def test_acknowledged_metadata_survives_sigkill(self):
        """SetShotMetadata answered means saved: SIGKILL right after the
        answer loses nothing, on an open shot and on a published one."""
        self.start_daemon()
        self.drop("Trig", "shot1.tif", 0.0)
        self.drop("A", "a1.tif", 0.0)
        self.drop("B", "b1.tif", 0.0)
        self.wait_closed(self.shot(1))
        self.drop("Trig", "shot2.tif", 100.0)
        self.wait_signal("ShotOpened", lambda p: p[0] == self.shot(2))
        rounds = 8
        for i in range(rounds):
            sid = self.shot(1 + i % 2)
            self.call("SetShotMetadata", (sid, {"round%d" % i: "value %d" % i}), "(sa{ss})")
            self.kill_daemon()
            self.start_daemon()
        self.drop("A", "a2.tif", 100.0)
        self.drop("B", "b2.tif", 100.0)
        self.wait(lambda: self.has_manifest(self.shot(2)) and
                  len(self.manifest(self.shot(1))["metadata"]) == rounds // 2 and
                  len(self.manifest(self.shot(2))["metadata"]) == rounds // 2, what="every acknowledged value")
        for i in range(rounds):
            self.assertEqual(self.manifest(self.shot(1 + i % 2))["metadata"]["round%d" % i], "value %d" % i)
        self.stop_daemon()
        ms, nbytes = self.audit()
        figures("acknowledged metadata", calls_then_sigkill=rounds, values_kept=rounds, manifests=len(ms))

    def test_sigkill_while_saving_many_new_shots(self):
        """Many shots opened at once (a start-up scan of 30 triggers), the
        daemon killed after it committed their state (one journal record)
        while it publishes them (some manifests written, not all), then
        restarted: no number is skipped or given twice."""
        n = 30
        for i in range(n):
            self.drop("Trig", "shot%02d.tif" % i, 100.0 * i, how="quiet")
            self.drop("A", "a%02d.tif" % i, 100.0 * i + 0.5, how="quiet")
            self.drop("B", "b%02d.tif" % i, 100.0 * i - 0.5, how="quiet")
        journal = os.path.join(self.state, "journal")
        cycles, hits = 6, 0
        rng = random.Random()
        for cycle in range(cycles):
            want = rng.randint(0, n - 2)  # killed once this many shots are published
            for d in (self.state, self.clean):
                shutil.rmtree(d, ignore_errors=True)
            self.start_daemon(wait_ready=False)
            end = time.monotonic() + DEFAULT_TIMEOUT
            committed = published = 0
            while time.monotonic() < end and self.daemon.poll() is None:
                committed = os.path.exists(journal) and os.path.getsize(journal) > 0
                published = self.count_manifests()
                if committed and published >= want:
                    break
            self.kill_daemon()
            hits += committed and published < n
            self.start_daemon()
            self.wait(lambda: self.count_manifests() == n and not self.get_property("OpenShots"), timeout=60,
                      what="%d shots" % n)
            self.stop_daemon()
            ms, nbytes = self.audit()
            self.assertEqual(len({m["trigger"]["path"] for m in ms.values()}), n)
        self.assertGreater(hits, 0, "never killed between the commit and the last manifest")
        figures("SIGKILL while saving", cycles=cycles, kills_mid_save=hits, shots_per_cycle=n,
                numbers="1..%d contiguous every time" % n)

    # ---- overflow and limits ----

    def test_flood_small_queue(self):
        """40,000 files with max_queued_events=64: half while the daemon is
        stopped, half while it runs. Overflows are rescans (counted on
        D-Bus, logged); nothing is lost."""
        self.require_root("fs.inotify.max_queued_events")
        self.cameras = """
[Camera Trig]
Trigger=true
TriggerKeyword=shot

[Camera A]

[Camera B]

[Camera C]
"""
        self.folders = ("Trig", "A", "B", "C")
        self.world_on_tmpfs()
        self.write_config()
        restore = self.set_knob("/proc/sys/fs/inotify/max_queued_events", 64)
        try:
            self.start_daemon()  # its inotify instance keeps the small queue
        finally:
            restore()
        n = int(os.environ.get("SHOTSYNC_FLOOD_SHOTS", "10000"))
        started = time.monotonic()

        def flood(lo, hi):
            for i in range(lo, hi):
                base = 20.0 * i
                self.drop("Trig", "shot%05d.tif" % i, base, data=b"t%d" % i)
                for j, cam in enumerate(("A", "B", "C")):
                    self.drop(cam, "%s%05d.tif" % (cam.lower(), i), base + 0.5 * j - 0.5, data=b"%s%d" % (
                        cam.encode(), i))

        self.daemon.send_signal(signal.SIGSTOP)
        try:
            flood(0, n // 2)
        finally:
            self.daemon.send_signal(signal.SIGCONT)
        flood(n // 2, n)
        flooded = time.monotonic() - started
        last = [0.0]

        def all_published():
            if time.monotonic() - last[0] < 0.5:
                return False
            last[0] = time.monotonic()
            return self.count_manifests() >= n and not self.get_property("OpenShots")
        self.wait(all_published, timeout=600, what="%d shots published" % n)
        rescans = self.get_property("Rescans")
        self.assertGreaterEqual(rescans, 1)
        overflows = self.log_count("Events may have been lost")
        self.assertGreaterEqual(overflows, 1, "no overflow logged")
        self.stop_daemon()
        ms, nbytes = self.audit()
        self.assertEqual(len(ms), n)
        self.assertTrue(all(m["status"] == "complete" and len(m["files"]) == 4 for m in ms.values()))
        figures("flood", files_flooded=4 * n, queue=64, overflow_rescans_logged=overflows, rescans_on_dbus=rescans,
                shots=len(ms), seconds_to_flood=round(flooded, 1),
                seconds_to_publish_all=round(time.monotonic() - started, 1))

    def test_watch_limit_degraded_then_recovered(self):
        """A tree bigger than the inotify watch limit: State "degraded" and a
        log line; files in unwatched folders found by the periodic rescan;
        "running" again once the limit is raised. The limit is lowered in a
        user namespace of the daemon's own (user.max_inotify_watches), so
        nothing else on the machine is affected and nothing needs restoring
        if the test dies."""
        self.require_root("user namespaces")
        limit = 12
        self.daemon_prefix = ("unshare", "--user", "--map-root-user", "--", "sh", "-c",
                              'echo %d > /proc/sys/user/max_inotify_watches && exec "$@"' % limit, "sh")
        if subprocess.run(list(self.daemon_prefix) + ["true"], stderr=subprocess.DEVNULL).returncode != 0:
            self.skipTest("cannot lower inotify watches in a user namespace")
        for cam in ("Trig", "A", "B"):
            for k in range(10):
                os.makedirs(os.path.join(self.raw, cam, "2025120%d" % k))
        n_folders = sum(len(d) for _, d, _ in os.walk(self.raw))
        self.enable_rescans(1)
        self.start_daemon()
        self.wait_state("degraded")
        self.wait(lambda: "inotify watch limit is reached" in self.log_text(), what="the log line")
        self.wait_initial_scan()
        # One folder per camera the kernel says is not watched: a file made
        # there sends no event at all, only a rescan can find it.
        watched = self.inotify_watches(self.daemon.pid, inodes=True)
        self.assertGreater(len(watched), 0)
        unwatched = {}
        for cam in ("Trig", "A", "B"):
            for sub in sorted(os.listdir(os.path.join(self.raw, cam))):
                if os.stat(os.path.join(self.raw, cam, sub)).st_ino not in watched:
                    unwatched[cam] = sub
                    break
        self.assertEqual(len(unwatched), 3, "watched: %d folders" % len(watched))
        rescans0 = self.get_property("Rescans")
        t0 = time.monotonic()
        self.drop("Trig", "shot1.tif", 0.0, subdir=unwatched["Trig"])
        self.drop("A", "a1.tif", 0.4, subdir=unwatched["A"])
        self.drop("B", "b1.tif", -0.4, subdir=unwatched["B"])
        self.wait(lambda: self.has_manifest(self.shot(1)), timeout=30, what="shot found by the rescan")
        found_after = time.monotonic() - t0
        self.assertEqual(self.state_of(), "degraded")
        rescans1 = self.get_property("Rescans")
        self.assertGreater(rescans1, rescans0)
        # The admin raises the limit: the next refresh watches everything.
        subprocess.run(["nsenter", "-t", str(self.daemon.pid), "-U", "sh", "-c",
                        "echo 100000 > /proc/sys/user/max_inotify_watches"], check=True)
        self.wait_state("running", timeout=30)
        self.wait(lambda: "is watched again" in self.log_text(), what="recovery logged")
        self.assertTrue(any(c.get("State") == "degraded" for c, _ in self.signals.props))
        self.assertTrue(any(c.get("State") == "running" for c, _ in self.signals.props))
        self.drop("Trig", "shot2.tif", 100.0, subdir="new2")
        self.drop("A", "a2.tif", 100.4, subdir="new2")
        self.drop("B", "b2.tif", 99.6, subdir="new2")
        self.wait(lambda: self.has_manifest(self.shot(2)), timeout=30)
        self.stop_daemon()
        ms, nbytes = self.audit()
        self.assertEqual(len(ms), 2)
        self.assertTrue(all(m["status"] == "complete" for m in ms.values()))
        figures("watch limit", watch_limit=limit, folders=n_folders, watched_while_degraded=len(watched),
                files_in_unwatched_folders=3, rescans_while_degraded=rescans1 - rescans0,
                seconds_to_find_unwatched_shot=round(found_after, 1), recovered="running")

    def test_camera_folder_deleted_and_recreated(self):
        """A camera folder deleted and made again while a shot is open (a
        sync client re-creating its tree): the shot completes from the new
        folder's files, including a file of the shot re-synced into it."""
        self.start_daemon()
        self.drop("Trig", "shot1.tif", 0.0)
        self.drop("A", "a1.tif", 1.0, data=b"first A")
        self.drop("B", "b-old.tif", -500.0)
        self.wait_signal("ImageAssigned", lambda p: p[1] == "A")
        # B goes away entirely and comes back with the shot's file.
        shutil.rmtree(os.path.join(self.raw, "B"))
        os.makedirs(os.path.join(self.raw, "B", DATE))
        b = self.drop("B", "b1.tif", 0.5)
        self.wait(lambda: self.has_manifest(self.shot(1)), what="shot 1 from the new B folder")
        m = self.manifest(self.shot(1))
        self.assertEqual(m["status"], "complete")
        self.assertIn(b, [f["raw_path"] for f in m["files"]])
        # A folder holding an assigned file goes and comes back with that
        # file re-synced (new bytes): the new bytes are published.
        self.drop("Trig", "shot2.tif", 100.0)
        self.drop("A", "a2.tif", 100.5, data=b"old bytes")
        self.wait_signal("ImageAssigned", lambda p: p[0] == self.shot(2) and p[1] == "A")
        shutil.rmtree(os.path.join(self.raw, "A"))
        os.makedirs(os.path.join(self.raw, "A", DATE))
        a2 = self.drop("A", "a2.tif", 100.5, data=b"re-synced bytes")
        self.drop("B", "b2.tif", 99.5)
        self.wait(lambda: self.has_manifest(self.shot(2)), what="shot 2")
        m2 = self.manifest(self.shot(2))
        self.assertEqual(m2["status"], "complete")
        fa = [f for f in m2["files"] if f["camera"] == "A"][0]
        self.assertEqual(fa["raw_path"], a2)
        self.assertEqual(fa["sha256"], hashlib.sha256(b"re-synced bytes").hexdigest())
        self.stop_daemon()
        ms, nbytes = self.audit()
        figures("camera folder re-created", shots=len(ms), complete=sum(m["status"] == "complete" for m in ms.values()),
                rescans=self.log_count("rescanning"))

    def test_filesystem_without_events(self):
        """RawRoot on an overlayfs whose upper folder is written directly:
        the merged view gets no inotify event (checked first, against a
        write through the merged view that does get one). The periodic
        reconciliation scan finds the files; nothing is lost."""
        ovl = os.path.join(self.tmp, "ovl")
        lower, upper, work = (os.path.join(ovl, d) for d in ("lower", "upper", "work"))
        for d in (lower, upper, work):
            os.makedirs(d)
        for cam in ("Trig", "A", "B"):
            os.makedirs(os.path.join(upper, cam, DATE))
        shutil.rmtree(self.raw)
        self.mount(self.raw, "-t", "overlay", "-o", "lowerdir=%s,upperdir=%s,workdir=%s" % (lower, upper, work),
                   "overlay")
        # Proof that writes into the upper folder are silent in the merged view.
        ino = Inotify()
        self.addCleanup(ino.close)
        merged_dir = os.path.join(self.raw, "Trig", DATE)
        ino.add(merged_dir, IN_ALL_EVENTS)
        with open(os.path.join(upper, "Trig", DATE, "probe-upper.txt"), "w") as f:
            f.write("x")
        with open(os.path.join(merged_dir, "probe-merged.txt"), "w") as f:
            f.write("x")
        events = []
        end = time.monotonic() + DEFAULT_TIMEOUT
        while not any(n == b"probe-merged.txt" for _, _, n in events) and time.monotonic() < end:
            events += ino.read(0.5)
        self.assertTrue(any(n == b"probe-merged.txt" for _, _, n in events), "no event at all through overlayfs")
        self.assertFalse(any(n == b"probe-upper.txt" for _, _, n in events), "overlayfs did report the upper write")

        self.enable_rescans(1)
        self.start_daemon()
        self.wait_initial_scan()  # what follows only a rescan can find
        rescans0 = self.get_property("Rescans")
        t0 = time.monotonic()
        n = 5
        for i in range(n):
            base = 100.0 * i
            for cam, off in (("Trig", 0.0), ("A", 0.5), ("B", -0.5)):
                name = ("shot%d.tif" if cam == "Trig" else cam.lower() + "%d.tif") % i
                p = os.path.join(upper, cam, DATE, name)
                with open(p, "wb") as f:
                    f.write(os.urandom(1000 + i))
                ns = int((T0 + base + off) * 1e9)
                os.utime(p, ns=(ns, ns))
        self.wait(lambda: self.count_manifests() == n, timeout=30, what="shots found by rescans")
        found = time.monotonic() - t0
        rescans = self.get_property("Rescans") - rescans0
        self.assertGreaterEqual(rescans, 1)
        self.assertTrue(any("Rescans" in c for c, _ in self.signals.props), "Rescans never announced")
        self.stop_daemon()
        ms, nbytes = self.audit()
        self.assertTrue(all(m["status"] == "complete" and len(m["files"]) == 3 for m in ms.values()))
        figures("no-event file system", shots=len(ms), files=3 * n, rescans=rescans,
                seconds_to_find=round(found, 1))


    # ---- full and failing disks ----

    def test_clean_root_fills_up(self):
        """CleanRoot on a 3 MiB tmpfs that fills in the middle of a shot:
        State "degraded" and a log line while blocked, nothing half-written
        visible under a final name meanwhile, published when space returns
        (remounted bigger; then, for a second shot, a filler deleted)."""
        self.mount(self.clean, "-t", "tmpfs", "-o", "size=3m", "tmpfs")
        self.start_daemon()
        self.assertEqual(self.state_of(), "running")
        raw_of = {}

        def drop_shot(n, base, sizes):
            for (cam, size), off in zip(zip(("Trig", "A", "B"), sizes), (0.0, 0.3, -0.3)):
                name = ("shot%d.tif" if cam == "Trig" else cam.lower() + "%d.tif") % n
                p = self.drop(cam, name, base + off, data=os.urandom(size))
                raw_of["%s_%s_%s_shot%03d.tif" % (cam, DATE, time.strftime("%H%M%S", time.localtime(T0 + base + off)),
                                                  n)] = p

        t0 = time.monotonic()
        drop_shot(1, 0.0, (1 << 20, 1 << 20, 1536 << 10))
        checks = [0]

        def blocked():
            checks[0] += 1
            self.check_visible_whole(raw_of)
            return self.state_of() == "degraded"
        self.wait(blocked, what="State degraded on a full CleanRoot")
        self.wait(lambda: "Cannot publish shot %s" % self.shot(1) in self.log_text(), what="the log line")
        self.assertIn("No space left on device", self.log_text())
        self.assertFalse(self.has_manifest(self.shot(1)))
        self.assertIsNone(self.signals.find("ShotClosed"))
        # A while blocked, looking all the time: never a partial file.
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            self.check_visible_whole(raw_of)
            checks[0] += 1
            wait_until(lambda: True, 0)
        self.remount(self.clean, "size=64m")
        self.wait(lambda: self.has_manifest(self.shot(1)), timeout=30, what="shot 1 published once space returned")
        self.wait_state("running")
        blocked_for = time.monotonic() - t0
        self.wait_closed(self.shot(1))

        # Full again, because of somebody else's file this time.
        filler = os.path.join(self.clean, "filler.bin")
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * (1 << 20))
                    f.flush()
            except OSError as e:
                self.assertEqual(e.errno, errno.ENOSPC)
        drop_shot(2, 100.0, (4096, 4096, 4096))
        self.wait_state("degraded")
        self.check_visible_whole(raw_of)
        os.unlink(filler)
        self.wait(lambda: self.has_manifest(self.shot(2)), timeout=30, what="shot 2 after the filler went")
        self.wait_state("running")
        self.stop_daemon()
        ms, nbytes = self.audit()
        self.check_visible_whole(raw_of)
        self.assertEqual(len(ms), 2)
        figures("full disk", tmpfs="3 MiB then 64 MiB", seconds_blocked=round(blocked_for, 1),
                looks_while_blocked=checks[0], failed_attempts=self.log_count("Cannot publish shot"),
                shots=len(ms), bytes_verified=nbytes)

    def ro_clean_root(self):
        """CleanRoot as a bind mount of itself, to be remounted ro and rw."""
        os.makedirs(self.clean, exist_ok=True)
        self.mount(self.clean, "--bind", self.clean)

    def test_clean_root_read_only(self):
        """A read-only CleanRoot (at start, then again later): State
        "degraded" and a log line while it is, published once it is
        writable again."""
        self.ro_clean_root()
        self.remount(self.clean, "ro", bind=True)
        self.start_daemon()
        self.wait_state("degraded")
        self.assertIn("Cannot write CleanRoot", self.log_text())
        self.drop("Trig", "shot1.tif", 0.0)
        self.drop("A", "a1.tif", 0.5)
        self.drop("B", "b1.tif", -0.5)
        self.wait(lambda: "Cannot publish shot %s" % self.shot(1) in self.log_text(), what="failed attempt")
        self.assertIn("Read-only file system", self.log_text())
        self.assertEqual(self.state_of(), "degraded")
        self.remount(self.clean, "rw", bind=True)
        self.wait(lambda: self.has_manifest(self.shot(1)), timeout=30, what="shot 1 once writable")
        self.wait_state("running")
        # Read-only again while running.
        self.remount(self.clean, "ro", bind=True)
        self.drop("Trig", "shot2.tif", 100.0)
        self.drop("A", "a2.tif", 100.5)
        self.drop("B", "b2.tif", 99.5)
        self.wait_state("degraded")
        self.remount(self.clean, "rw", bind=True)
        self.wait(lambda: self.has_manifest(self.shot(2)), timeout=30, what="shot 2 once writable")
        self.wait_state("running")
        self.stop_daemon()
        ms, nbytes = self.audit()
        self.assertEqual(len(ms), 2)
        self.assertTrue(all(m["status"] == "complete" and len(m["files"]) == 3 for m in ms.values()))
        figures("read-only clean root", shots=len(ms), failed_attempts=self.log_count("Cannot publish shot"),
                bytes_verified=nbytes)

    def test_clean_root_read_only_at_start_recovers_without_shots(self):
        """Read-only at start, then writable, with nothing to publish: State
        must not stay "degraded" (the STATUS= line says PUBLISHING BLOCKED)."""
        self.ro_clean_root()
        self.remount(self.clean, "ro", bind=True)
        self.start_daemon()
        self.wait_state("degraded")
        self.remount(self.clean, "rw", bind=True)
        t0 = time.monotonic()
        self.wait_state("running", timeout=30)
        self.wait(lambda: self.notify.seen("STATUS=watching") and
                  "BLOCKED" not in [m for m in self.notify.messages if m.startswith("STATUS=")][-1],
                  what="STATUS= without BLOCKED")
        self.assertTrue(os.path.isdir(os.path.join(self.clean, ".staging")))
        self.stop_daemon()
        figures("read-only at start", seconds_to_running=round(time.monotonic() - t0, 1))

    def test_files_vanish_or_change_before_copy(self):
        """Files that change or vanish between being seen and being copied:
        the manifest describes exactly the bytes copied, a vanished file is
        not listed and its camera counts as missing; a file rewritten while
        it is being copied is published whole (one consistent version) or
        not yet, never torn."""
        self.ro_clean_root()
        self.start_daemon()
        # Publishing held back by a read-only CleanRoot while the raw files move.
        self.remount(self.clean, "ro", bind=True)
        self.drop("Trig", "shot1.tif", 0.0)
        a = self.drop("A", "a1.tif", 0.5, data=b"A before")
        b = self.drop("B", "b1.tif", -0.5, data=b"B before" * 1000)
        self.wait(lambda: "Cannot publish shot %s" % self.shot(1) in self.log_text(), what="publishing held")
        os.unlink(a)
        ns = os.stat(b).st_mtime_ns
        with open(b, "r+b") as f:
            f.write(b"B after!" * 1000)  # same size, same mtime: only the bytes differ
        os.utime(b, ns=(ns, ns))
        self.remount(self.clean, "rw", bind=True)
        self.wait(lambda: self.has_manifest(self.shot(1)), timeout=30)
        m = self.manifest(self.shot(1))
        self.assertEqual(sorted(f["camera"] for f in m["files"]), ["B", "Trig"])
        self.assertEqual(m["missing"], ["A"])
        fb = [f for f in m["files"] if f["camera"] == "B"][0]
        self.assertEqual(fb["sha256"], hashlib.sha256(b"B after!" * 1000).hexdigest())
        self.assertEqual(fb["sha256"], sha256_file(fb["clean_path"]))
        closed = self.wait_closed(self.shot(1))
        self.assertEqual(set(closed[2]), {"Trig", "B"})
        self.assertEqual(closed[3], ["A"])

        # Rewritten in place, again and again, while it is being copied.
        size = 32 << 20
        block = os.urandom(1 << 20)
        versions = set()
        stop = threading.Event()
        rewrites = [0]
        c = self.drop("B", "b2.tif", 99.5, data=b"\0" * size)
        versions.add(hashlib.sha256(b"\0" * size).hexdigest())
        ns = os.stat(c).st_mtime_ns
        self.drop("A", "a2.tif", 100.5)

        def rewrite():
            k = 0
            while not stop.is_set():
                k += 1
                head = b"version %08d " % k
                data = head + block[len(head):]
                h = hashlib.sha256()
                fd = os.open(c, os.O_WRONLY)
                try:
                    for off in range(0, size, len(data)):
                        os.pwrite(fd, data, off)
                        h.update(data)
                    os.utime(fd, ns=(ns, ns))
                finally:
                    os.close(fd)
                versions.add(h.hexdigest())
                rewrites[0] += 1

        writer = threading.Thread(target=rewrite)
        writer.start()
        try:
            self.drop("Trig", "shot2.tif", 100.0)
            self.wait_signal("ShotOpened", lambda p: p[0] == self.shot(2))
            end = time.monotonic() + 3
            while time.monotonic() < end and not self.has_manifest(self.shot(2)):
                wait_until(lambda: True, 0)
                time.sleep(0.05)
        finally:
            stop.set()
            writer.join()
        self.wait(lambda: self.has_manifest(self.shot(2)), timeout=90, what="shot 2 once the file held still")
        m2 = self.manifest(self.shot(2))
        fc = [f for f in m2["files"] if f["camera"] == "B"][0]
        self.assertEqual(fc["sha256"], sha256_file(fc["clean_path"]))
        self.assertIn(fc["sha256"], versions, "the published B is no version that was ever written: torn copy")
        self.stop_daemon()
        ms, nbytes = self.audit()
        refused = re.findall(r"Shot %s published after (\d+) failed" % self.shot(2), self.log_text())
        figures("vanish or change", vanished_not_listed=1, changed_published_as_copied=1,
                rewrites_during_publishing=rewrites[0],
                attempts_refused_as_the_file_changed=int(refused[0]) if refused else 0, bytes_verified=nbytes)


    # ---- hostile names and input ----

    def test_hostile_tree(self):
        """Newlines, invalid UTF-8, format directives and escapes in names,
        255-byte names; symlinks to files, to folders, in loops, dangling,
        out of the raw root (a camera folder too); FIFOs, sockets and
        device nodes named like images: present at start-up and moved in
        while running. Nothing is followed out of the raw root or even
        opened there, nothing blocks, only the regular files are published."""
        self.require_root("mknod")
        self.cameras += "\n[Camera C]\nExpected=false\n"
        self.write_config()
        outside = os.path.join(self.tmp, "outside")
        os.makedirs(os.path.join(outside, "dir"))
        os.makedirs(os.path.join(outside, "camC", DATE))
        secrets = []
        for rel in ("secret.tif", "dir/b.tif", "dir/shot.tif", "camC/%s/c.tif" % DATE, "camC/%s/shot.tif" % DATE):
            p = os.path.join(outside, rel)
            with open(p, "wb") as f:
                f.write(b"SECRET " + rel.encode())
            ns = int(T0 * 1e9)
            os.utime(p, ns=(ns, ns))
            secrets.append(p)
        os.symlink(os.path.join(outside, "camC"), os.path.join(self.raw, "C"))

        def hostile_entries(folder, tag):
            """Everything but regular files, with names a camera would use."""
            made = []
            j = lambda n: os.path.join(folder, n)  # noqa: E731
            os.symlink("../../Trig/%s/shot1.tif" % DATE, j("link-inside-%s.tif" % tag))
            os.symlink(os.path.join(outside, "secret.tif"), j("link-out-%s.tif" % tag))
            os.symlink(os.path.join(outside, "dir"), j("linkdir-out-%s" % tag))
            os.symlink(".", j("linkdir-self-%s" % tag))
            os.symlink("loop2-%s.tif" % tag, j("loop1-%s.tif" % tag))
            os.symlink("loop1-%s.tif" % tag, j("loop2-%s.tif" % tag))
            os.symlink("nowhere", j("dangling-%s.tif" % tag))
            os.mkfifo(j("fifo-%s.tif" % tag))
            os.mknod(j("zero-%s.tif" % tag), 0o644 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero
            os.mknod(j("blk-%s.tif" % tag), 0o644 | stat.S_IFBLK, os.makedev(7, 250))
            sk = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sk.bind(j("sock-%s.tif" % tag))
            sk.close()
            made += os.listdir(folder)
            return made

        # Shot 1, on disk before the daemon starts, with 255-byte names.
        self.drop("Trig", "shot1.tif", 0.0, how="quiet")
        long_a = "a" * 251 + ".tif"
        long_b = "é" * 125 + ".tif"  # 254 bytes of UTF-8
        self.assertEqual(len(long_a.encode()), 255)
        self.drop("A", long_a, 0.5, how="quiet")
        self.drop("B", long_b, -0.5, how="quiet")
        for cam in ("A", "B"):
            hostile_entries(os.path.join(self.raw, cam, DATE), "start")
        ino = Inotify()
        self.addCleanup(ino.close)
        for d in (outside, os.path.join(outside, "dir"), os.path.join(outside, "camC"),
                  os.path.join(outside, "camC", DATE)):
            ino.add(d, IN_ALL_EVENTS)
        ino.read(0)

        self.start_daemon()
        self.wait(lambda: self.has_manifest(self.shot(1)), what="shot 1")
        # Shot 2 while running: hostile names for the real files, and the
        # non-files moved in from elsewhere (IN_MOVED_TO) or made in place.
        names = {"Trig": b"shot2 %s%n%x\\\"'\x1b[31m\r\t.tif",
                 "A": b"a2\nSHOT_ID=20251211-999\nMESSAGE=forged.tif",
                 "B": b"b2\xff\xfe\xc0\xaf" + b"z" * 240 + b".tif"}
        self.assertLessEqual(len(names["B"]), 255)
        raw2 = {}
        for cam, name in names.items():
            folder = os.path.join(self.raw, cam, DATE).encode()
            tmp = os.path.join(folder, b".tmp-" + cam.encode())
            with open(tmp, "wb") as f:
                f.write(b"shot 2 " + name)
            ns = int((T0 + 100.0) * 1e9)
            os.utime(tmp, ns=(ns, ns))
            raw2[cam] = os.path.join(folder, name)
            os.rename(tmp, raw2[cam])
        staging_area = os.path.join(self.tmp, "prepared")
        os.makedirs(staging_area)
        for name in hostile_entries(staging_area, "run"):
            os.rename(os.path.join(staging_area, name), os.path.join(self.raw, "A", DATE, name))
        hostile_entries(os.path.join(self.raw, "B", DATE), "run-in-place")
        self.wait(lambda: self.has_manifest(self.shot(2)), what="shot 2")
        # Still answering; a rescan (reload) walks the whole hostile tree again.
        self.call("Reload")
        self.wait(lambda: self.get_property("Rescans") >= 1, what="a rescan")
        self.wait_idle()
        self.assertEqual(self.get_property("State"), "running")
        self.stop_daemon()

        ms, nbytes = self.audit()
        self.assertEqual(sorted(ms), [self.shot(1), self.shot(2)])
        for m in ms.values():
            self.assertEqual(m["status"], "complete")
            self.assertEqual(sorted(f["camera"] for f in m["files"]), ["A", "B", "Trig"])
        self.assertTrue(ms[self.shot(1)]["files"][0]["raw_path"])
        raws = sorted(os.path.basename(f["raw_path"]) for f in ms[self.shot(1)]["files"])
        self.assertEqual(raws, sorted(["shot1.tif", long_a, long_b]))
        m2 = {f["camera"]: f for f in ms[self.shot(2)]["files"]}
        for cam in ("Trig", "A", "B"):
            self.assertEqual(m2[cam]["raw_path"], escaped(raw2[cam]))
        self.assertTrue(m2["B"]["raw_path"].endswith("b2\\xff\\xfe\\xc0\\xaf" + "z" * 240 + ".tif"))
        for cam, p in raw2.items():
            self.assertEqual(m2[cam]["sha256"], sha256_file(p))
        self.assertEqual(len(self.final_files()), 6)
        # Nothing outside: not published, not in a signal, not even opened.
        for p in self.final_files():
            with open(p, "rb") as f:
                self.assertNotIn(b"SECRET", f.read())
        for name, params in self.signals.items:
            self.assertNotIn(outside, repr(params))
            self.assertNotIn("/C/", repr(params) if name != "ShotOpened" else "")
        touched = [(w, hex(mask), n) for w, mask, n in ino.read(0) if mask & (IN_OPEN | IN_ACCESS)]
        self.assertEqual(touched, [], "the daemon opened something outside the raw root")
        with open(secrets[0], "rb") as f:  # the probe does see an open
            f.read()
        self.assertTrue(any(n == b"secret.tif" and mask & IN_OPEN for _, mask, n in ino.read(5)))
        self.assertNotIn("Assertion", self.log_text())
        figures("hostile tree", shots=len(ms), non_files_per_camera_folder=11,
                kinds="symlinks (file, dir, loop, self, dangling, out), FIFO, char and block device, socket",
                opened_outside_raw_root=0, bytes_verified=nbytes)

    def test_sparse_4gib(self):
        """A 4 GiB sparse file in a shot: published correctly (bytes equal),
        while the daemon keeps answering on D-Bus within a second."""
        self.start_daemon()
        size = 4 << 30
        big = os.path.join(self.raw, "A", DATE, "huge.tif")
        part = os.path.join(self.raw, "A", DATE, ".huge.tif.part")
        for p in (big, part):
            self.addCleanup(lambda p=p: os.path.exists(p) and os.unlink(p))
        with open(part, "wb") as f:
            f.write(b"head of a sparse image")
            f.seek(size - 16)
            f.write(b"tail of the file")
        ns = int((T0 + 0.5) * 1e9)
        os.utime(part, ns=(ns, ns))
        os.rename(part, big)
        self.drop("B", "b.tif", -0.5)
        t0 = time.monotonic()
        self.drop("Trig", "shot.tif", 0.0)
        worst, probes = 0.0, 0
        while not self.has_manifest(self.shot(1)):
            if time.monotonic() - t0 > 600:
                self.fail("4 GiB not published within 10 minutes")
            a = time.monotonic()
            self.assertEqual(self.get_property("State"), "running")
            worst = max(worst, time.monotonic() - a)
            probes += 1
            wait_until(lambda: True, 0)
            time.sleep(0.05)
        took = time.monotonic() - t0
        self.assertLess(worst, 1.0, "a property Get took %.2f s during the copy" % worst)
        m = self.manifest(self.shot(1))
        fa = [f for f in m["files"] if f["camera"] == "A"][0]
        self.addCleanup(lambda: os.path.exists(fa["clean_path"]) and os.unlink(fa["clean_path"]))
        self.assertEqual(fa["size"], size)
        raw_sha = sha256_file(big)
        self.assertEqual(fa["sha256"], raw_sha)
        self.stop_daemon()
        ms, nbytes = self.audit()
        figures("4 GiB sparse", size=size, seconds_to_publish=round(took, 1), dbus_probes_during_copy=probes,
                slowest_property_get_ms=round(worst * 1000, 1), bytes_verified=nbytes)

    def test_ten_thousand_camera_folders(self):
        """10,000 camera folders and no [Camera] group: every folder is a
        camera, all watched; a shot groups (and times out naming 9,997
        missing cameras)."""
        n = 10000
        for cam in ("Trig", "A", "B"):
            shutil.rmtree(os.path.join(self.raw, cam))
        self.cameras = ""
        self.timeout = 6
        text = self.config_text().replace("IgnoreKeywords=test;align", "IgnoreKeywords=test;align\n"
                                          "TriggerCameras=Cam00000\nTriggerKeyword=shot")
        self.write_config(text)
        for i in range(n):
            os.mkdir(os.path.join(self.raw, "Cam%05d" % i))
        t0 = time.monotonic()
        self.start_daemon()
        self.wait(lambda: len(self.get_property("Cameras")) == n, timeout=120, what="%d cameras" % n)
        started = time.monotonic() - t0
        self.assertEqual(self.get_property("TriggerCameras"), ["Cam00000"])
        self.assertEqual(self.state_of(), "running")
        self.drop("Cam00000", "shot1.tif", 0.0, subdir=None)
        self.drop("Cam04242", "x.tif", 0.5, subdir=None)
        self.drop("Cam09999", "y.tif", -0.5, subdir=None)
        closed = self.wait_closed(self.shot(1), timeout=60)
        self.assertEqual(closed[1], "timeout")
        self.assertEqual(len(closed[3]), n - 3)
        self.wait(lambda: self.has_manifest(self.shot(1)))
        m = self.manifest(self.shot(1))
        self.assertEqual(sorted(f["camera"] for f in m["files"]), ["Cam00000", "Cam04242", "Cam09999"])
        self.assertEqual(len(m["missing"]), n - 3)
        rss = 0
        with open("/proc/%d/status" % self.daemon.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        watches = self.inotify_watches(self.daemon.pid)
        self.assertGreaterEqual(watches, n + 1)  # the root and every camera folder
        self.stop_daemon()
        self.audit()
        figures("10,000 camera folders", cameras=n, inotify_watches=watches,
                seconds_to_ready_and_registered=round(started, 1), missing_in_manifest=len(m["missing"]),
                daemon_rss_kib=rss)

    def test_dbus_hostile_calls(self):
        """Wrong types, huge maps, shot ids and dates that try to leave the
        clean root, numbers at the limits: a D-Bus error each time, never a
        crash or a path outside the clean root; still answering; exit 0."""
        self.start_daemon()
        self.drop("Trig", "shot1.tif", 0.0)
        self.drop("A", "a1.tif", 0.0)
        self.drop("B", "b1.tif", 0.0)
        self.wait_closed(self.shot(1))
        errors = {}

        def expect_error(method, args, sig, allowed):
            e = self.call_error(method, args, sig)
            self.assertIn(e, allowed, "%s%r" % (method, args))
            errors[e] = errors.get(e, 0) + 1

        invalid = (INVALID_ARGS,)
        # Wrong types and arities.
        for method, args, sig in (("GetShot", (5,), "(u)"), ("GetShot", ("x", "y"), "(ss)"),
                                  ("ListShots", (True, "x"), "(bs)"), ("ListShots", ("",), "(s)"),
                                  ("SetShotMetadata", (self.shot(1), {"k": GLib.Variant("s", "v")}), "(sa{sv})"),
                                  ("SetShotMetadata", (self.shot(1), ["k", "v"]), "(sas)"),
                                  ("SetShotMetadata", (self.shot(1),), "(s)"),
                                  ("SetNextShotNumber", (DATE, "5"), "(ss)"), ("SetNextShotNumber", (DATE, -1), "(si)"),
                                  ("Pause", (1,), "(u)"), ("Fire", ("now",), "(s)")):
            expect_error(method, args, sig, invalid)
        # Ids and dates that are paths.
        bad_ids = ["../../etc", "/etc/passwd", "20251211-001/../../x", "20251211-001/", "20251211-../1",
                   "20251211-0001", "20251211-000", "20251211--01", "20251211-+01", "20251211- 01",
                   "20251211-01", "20251211-1234567890", "99999999-001", "00000000-001", "20251399-001",
                   "2025121-0001", "..", ".", "", "%s%s%n", "20251211-001\n", "x" * 100000,
                   "20251211-\u0661\u0662\u0663", "２０２５１２１１-001"]
        for sid in bad_ids:
            expect_error("GetShot", (sid,), "(s)", invalid + (ERR + "NoSuchShot",))
            expect_error("SetShotMetadata", (sid, {"k": "v"}), "(sa{ss})", invalid + (ERR + "NoSuchShot",))
        for date in ("../..", "/etc", "2025121", "202512111", "20251299", "abcdefgh", "x" * 10000):
            expect_error("ListShots", (date, False), "(sb)", invalid)
            expect_error("SetNextShotNumber", (date, 5), "(su)", invalid)
        for number in (0, 1000000000, 4294967295):
            expect_error("SetNextShotNumber", (DATE, number), "(su)", invalid)
        # Huge metadata: many keys, long keys, long values, empty key, NUL-free binary-ish text.
        expect_error("SetShotMetadata", (self.shot(1), {"k%06d" % i: "v" for i in range(100000)}), "(sa{ss})",
                     invalid)
        expect_error("SetShotMetadata", (self.shot(1), {"k" * 100000: "v"}), "(sa{ss})", invalid)
        expect_error("SetShotMetadata", (self.shot(1), {"k": "v" * (1 << 20)}), "(sa{ss})", invalid)
        expect_error("SetShotMetadata", (self.shot(1), {"": "v"}), "(sa{ss})", invalid)
        # Within the limits but hostile: accepted, written as JSON, the manifest still parses.
        odd = {"quote\"\\": "new\nline", "../../etc/passwd": "\u0000".replace("\u0000", "\x01\x7f"),
               "unicode \u2603": "\U0001F680", "fmt %s%n": "%s%n%x"}
        self.call("SetShotMetadata", (self.shot(1), odd), "(sa{ss})")
        self.wait(lambda: self.manifest(self.shot(1))["metadata"] == odd, what="odd metadata in the manifest")
        # Many keys across many calls: a limit, not unbounded growth.
        limited = 0
        for k in range(12):
            try:
                self.call("SetShotMetadata", (self.shot(1), {"bulk%03d-%03d" % (k, i): "x" * 4096 for i in range(250)}),
                          "(sa{ss})")
            except GLib.Error as e:
                self.assertEqual(Gio.DBusError.get_remote_error(e), "org.freedesktop.DBus.Error.LimitsExceeded")
                limited += 1
        self.assertGreater(limited, 0)
        # Numbers at the top of the range.
        self.call("SetNextShotNumber", (DATE, 999999999), "(su)")
        self.drop("Trig", "shot2.tif", 100.0)
        self.drop("A", "a2.tif", 100.0)
        self.drop("B", "b2.tif", 100.0)
        self.wait_closed("%s-999999999" % DATE)
        self.assertEqual(self.call("GetShot", ("%s-999999999" % DATE,), "(s)")[0]["number"], 999999999)
        self.assertIsNone(self.daemon.poll())
        self.assertEqual(self.get_property("State"), "running")
        self.stop_daemon()
        ms, nbytes = self.audit(numbering=False)
        self.assertEqual(sorted(ms), [self.shot(1), "%s-999999999" % DATE])
        # Nothing anywhere but where it belongs.
        for root, dirs, files in os.walk(self.tmp):
            for f in files + dirs:
                self.assertNotIn("passwd", f, root)
        figures("hostile D-Bus calls", calls_refused=sum(errors.values()),
                errors=", ".join("%s x%d" % (k.split(".")[-1], v) for k, v in sorted(errors.items())),
                metadata_limit_hits=limited, daemon="alive, exit 0")


    def test_dbus_hammering(self):
        """Several processes, thousands of calls each (sync, pipelined,
        metadata writes, callers that vanish without reading their
        replies), while a shot arrives; then Pause/Resume pairs. Every
        call gets its answer or its meant error; the daemon keeps grouping,
        answers, and exits 0."""
        self.start_daemon()
        self.drop("Trig", "shot1.tif", 0.0)
        self.drop("A", "a1.tif", 0.0)
        self.drop("B", "b1.tif", 0.0)
        self.wait_closed(self.shot(1))
        n = int(os.environ.get("SHOTSYNC_HAMMER_CALLS", "3000"))

        def spawn(mode, count):
            return subprocess.Popen([sys.executable, "-c", HAMMER, self.bus.address, mode, str(count), self.shot(1),
                                     DATE], stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        t0 = time.monotonic()
        procs = [("sync", spawn("sync", n)), ("sync", spawn("sync", n)), ("pipelined", spawn("pipelined", n)),
                 ("flood", spawn("flood", n)), ("metadata", spawn("metadata", n // 6))]
        procs += [("vanish", spawn("vanish", n // 3)) for _ in range(3)]
        for p in procs:
            self.addCleanup(lambda p=p[1]: p.poll() is None and p.kill())
        # A shot while they hammer.
        self.drop("Trig", "shot2.tif", 100.0)
        self.drop("A", "a2.tif", 100.0)
        self.drop("B", "b2.tif", 100.0)
        self.wait_closed(self.shot(2), timeout=120)
        totals = {"calls": 0, "ok": 0}
        errors = {}
        for mode, p in procs:
            out, err = p.communicate(timeout=300 * SLOWDOWN)
            self.assertEqual(p.returncode, 0, "%s caller: %s" % (mode, err.decode()[-2000:]))
            st = json.loads(out.decode().strip().splitlines()[-1])
            self.assertEqual(st["unexpected"], [], "%s caller got errors the daemon does not mean" % mode)
            totals["calls"] += st["calls"]
            totals["ok"] += st["ok"]
            for k, v in st["errors"].items():
                errors[k] = errors.get(k, 0) + v
        took = time.monotonic() - t0
        self.assertIsNone(self.daemon.poll())
        p = spawn("pause", 1000)
        out, err = p.communicate(timeout=300 * SLOWDOWN)
        self.assertEqual(p.returncode, 0, err.decode())
        self.assertEqual(json.loads(out.decode())["unexpected"], [])
        self.assertEqual(self.get_property("State"), "running")
        m = self.manifest(self.shot(1))
        self.assertEqual(m["metadata"]["hammer"], str(n // 6 - 1))
        self.drop("Trig", "shot3.tif", 200.0)
        self.drop("A", "a3.tif", 200.0)
        self.drop("B", "b3.tif", 200.0)
        self.wait_closed(self.shot(3))
        self.stop_daemon()
        ms, nbytes = self.audit()
        self.assertEqual(len(ms), 3)
        refused_by_bus = errors.pop("org.freedesktop.DBus.Error.LimitsExceeded", 0)
        figures("D-Bus hammering", processes=len(procs) + 1, calls=totals["calls"] + 1000, answered_ok=totals["ok"],
                meant_errors=sum(errors.values()), refused_by_the_bus_limit=refused_by_bus,
                seconds=round(took, 1), daemon="alive, exit 0")


if __name__ == "__main__":
    main()
