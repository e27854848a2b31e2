#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""FireAt across hosts (SPEC §4, §6): three real shotsyncd, each on a private
bus of its own with four emulated PTP/IP cameras (tests/fakecam) on a
127.x network of its own, fired by one `shotsyncctl --address A --address B
--address C fire --at=+300ms`. The emulators record the kernel receive
time (SO_TIMESTAMPNS, CLOCK_REALTIME) of each capture command: the 12 lie
within SPREAD_BOUND_USEC of each other. One machine's clock serves the
three daemons, so this is what the service adds; between real hosts add
what chrony or PTP leave between their clocks (README).

SPREAD_BOUND_USEC: bench/bench-fire-at.py measured the spread of the 12 on
this 2-CPU VM under others' load (its first line says whether any daemon
was denied real-time priority): median 0.1 ms with it,
1–2.4 ms without (the daemons here may be denied it), the worst of 50
rounds 1–15 ms in rounds where the VM stalled every daemon at once. 5 ms
is clear of the typical rounds either way, and a round beyond it is
repeated, up to three times: a stall is rare and independent, a
regression of the service is in every round."""

import ctypes
import json
import os
import signal
import subprocess
import sys
import time

from gi.repository import Gio, GLib

import test_fire
from shotsynctest import BUS_IFACE, BUS_NAME, BUS_PATH, CTL, DEFAULT_TIMEOUT, main, wait_until
import unittest

ERROR = "org.shotsync.Shotsync1.Error."
SPREAD_BOUND_USEC = 5000
CAMERAS_PER_HOST = 4


class Timex(ctypes.Structure):
    # struct timex up to the fields read here; the rest is room.
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("rest", ctypes.c_char * 256)]


ADJ_MAXERROR, ADJ_ESTERROR, ADJ_STATUS = 0x0004, 0x0008, 0x0010
STA_UNSYNC = 0x0040
TIME_ERROR = 5
libc = ctypes.CDLL(None, use_errno=True)


def adjtimex(tx):
    r = libc.adjtimex(ctypes.byref(tx))
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, "adjtimex: " + os.strerror(e))
    return r


def clock_state():
    """(synchronised, estimated error µs), as the daemon reads them."""
    tx = Timex()
    r = adjtimex(tx)
    return r != TIME_ERROR and not (tx.status & STA_UNSYNC), max(tx.esterror, 0)


def clock_note():
    synced, err = clock_state()
    return None if synced else "clock not synchronised (estimated error %d ms)" % (err // 1000)


class Host(test_fire.TestFire):
    """One shotsyncd on a private bus of its own, with its own emulated
    cameras; the test's hosts."""

    def runTest(self):
        pass


class TestFireAt(unittest.TestCase):
    def setUp(self):
        self.hosts = []
        for _ in range(3):
            h = Host()
            h.setUp()
            # tearDown stops the daemon and the bus, doCleanups the cameras.
            self.addCleanup(h.doCleanups)
            self.addCleanup(h.tearDown)
            self.hosts.append(h)
        for h in self.hosts:
            h.start_with_cams(CAMERAS_PER_HOST)

    # ---- helpers ----

    def addresses(self, hosts=None):
        out = []
        for h in hosts or self.hosts:
            out += ["--address", h.bus.address]
        return out

    def ctl(self, *args, expect=0, env=None):
        p = subprocess.run([CTL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, env=env)
        out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        if expect is not None:
            self.assertEqual(p.returncode, expect, "shotsyncctl %s\nstdout:\n%s\nstderr:\n%s" % (" ".join(args), out, err))
        return out, err

    def fire_at_json(self, *args, expect=0):
        out, err = self.ctl(*(self.addresses() + ["--json"] + list(args)), expect=expect)
        return json.loads(out), err

    def counts(self):
        return [len(h.captures()) for h in self.hosts]

    def new_stamps(self, before, n=CAMERAS_PER_HOST):
        """Per host, the kernel receive times (ns) of its n new capture commands."""
        for h, b in zip(self.hosts, before):
            h.wait(lambda: len(h.captures()) >= b + n, what="the captures on %s" % h.bus.address)
        out = []
        for h, b in zip(self.hosts, before):
            caps = h.captures()[b:]
            self.assertEqual(len(caps), n, caps)
            out.append([int(sec) * 10**9 + int(nsec.ljust(9, "0")) for sec, nsec in (c[2].split(".") for c in caps)])
        return out

    def call_fire_at(self, host, t_usec):
        try:
            return ("ok", host.call("FireAt", (t_usec,), "(t)", timeout=DEFAULT_TIMEOUT + 10))
        except GLib.Error as e:
            return ("error", Gio.DBusError.get_remote_error(e), Gio.DBusError.get_remote_error(e) and e.message)

    def fire_at_async(self, host, t_usec):
        holder = [None]

        def done(c, res, data):
            try:
                holder[0] = ("ok", c.call_finish(res).unpack())
            except GLib.Error as e:
                holder[0] = ("error", Gio.DBusError.get_remote_error(e) or e.message)
        host.conn.call(BUS_NAME, BUS_PATH, BUS_IFACE, "FireAt", GLib.Variant("(t)", (t_usec,)), None,
                       Gio.DBusCallFlags.NONE, 120000, None, done, None)
        return holder

    # ---- tests ----

    def test_three_hosts(self):
        names = [h.bus.address for h in self.hosts]
        note = clock_note()
        synced, err_usec = clock_state()
        # A round may be held up by the VM (a lone SCHED_FIFO thread here
        # wakes up to ~4 ms late now and then, more under load): up to 3
        # rounds (module docstring).
        spreads = []
        for attempt in range(3):
            before = self.counts()
            d, err = self.fire_at_json("fire", "--at=+300ms")
            at = d["at_usec"]
            self.assertEqual([x["host"] for x in d["hosts"]], names)
            self.assertEqual([x["status"] for x in d["hosts"]], ["ok"] * 3, d["hosts"])
            results = d["results"]
            self.assertEqual(len(results), 3 * CAMERAS_PER_HOST, results)
            for r in results:
                self.assertEqual(r["status"], "ok", r)
                self.assertEqual(r["offset_usec"], r["departure_usec"] - at, r)
                # The message: the downloaded image, and the clock's state.
                if note:
                    self.assertTrue(r["message"].endswith("; " + note), r)
                else:
                    self.assertNotIn("clock not synchronised", r["message"])
            for x in d["hosts"]:
                self.assertEqual((x["clock_synchronized"], x["clock_error_usec"]), (synced, err_usec), x)

            stamps = self.new_stamps(before)
            every = [s for host in stamps for s in host]
            # Nothing leaves before the instant.
            self.assertGreaterEqual(min(every), at * 1000)
            spread = (max(every) - min(every)) / 1000.0
            spreads.append(spread)
            distances = [(sorted(s)[len(s) // 2] - at * 1000) / 1000.0 for s in stamps]
            print("FireAt on 3 hosts x %d cameras: spread of the 12 kernel receive times %.0f µs (bound %d µs); "
                  "each host's median distance from the instant: %s µs" %
                  (CAMERAS_PER_HOST, spread, SPREAD_BOUND_USEC, ", ".join("%+.0f" % x for x in distances)),
                  file=sys.stderr)
            if spread <= SPREAD_BOUND_USEC:
                break
        self.assertLessEqual(min(spreads), SPREAD_BOUND_USEC, "the spread of every round (µs): %s" % spreads)

        for h, host_stamps in zip(self.hosts, stamps):
            rows = [r for r in results if r["host"] == h.bus.address]
            shot = rows[0]["shot_id"]
            self.assertTrue(all(r["shot_id"] == shot for r in rows))
            # The shot opened at the instant; every image has it as mtime,
            # so that the shot closes complete with them.
            opened = h.wait_signal("ShotOpened", lambda p: p[0] == shot)
            self.assertEqual(opened[1:4], ("", "", at))
            for r in rows:
                path = r["message"].split(";")[0]
                self.assertEqual(os.path.dirname(os.path.dirname(path)), h.raw, path)
                self.assertEqual(os.stat(path).st_mtime_ns, at * 1000, path)
            closed = h.wait_closed(shot)
            self.assertEqual(closed[1], "complete", closed)
            # Fired keeps Fire's meaning: the latency, small, not an instant.
            fired = h.wait_signal("Fired", lambda p: p[0] == shot)
            self.assertTrue(all(0 < x[4] < 10**7 for x in fired[1]), fired)

        # The table: one row per camera, named by what was typed.
        before = self.counts()
        out, _ = self.ctl(*(self.addresses() + ["fire", "--at=+250ms"]))
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^Instant \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d\.$")
        self.assertRegex(lines[2], r"^HOST +SHOT +CAMERA +STATUS +OFFSET +MESSAGE$")
        rows = lines[3:]
        self.assertEqual(len(rows), 3 * CAMERAS_PER_HOST, out)
        for row in rows:
            self.assertRegex(row, r"^unix:path=\S+ +\d{8}-\d{3} +FC\w+ +ok +[+-]\d+ µs +/", row)
        self.assertEqual(sorted({r.split()[0] for r in rows}), sorted(names))
        self.new_stamps(before)
        for h in self.hosts:
            h.stop_daemon()

    def test_too_late_and_too_far(self):
        before = self.counts()
        # A past instant, from shotsyncctl: every host refuses, said per row.
        out, err = self.ctl(*(self.addresses() + ["fire", "--at=@%d" % (time.time() - 2)]), expect=10)
        rows = out.splitlines()[3:]
        self.assertEqual(len(rows), 3, out)
        for row in rows:
            self.assertRegex(row, r"^unix:path=\S+ +- +- +error +- +Too late: The instant has passed: it was 2\d{3}\.\d ms ago\.$")
        # Beyond 60 s.
        d, err = self.fire_at_json("fire", "--at=+61s", expect=2)
        self.assertEqual(d["results"], [])
        for x in d["hosts"]:
            self.assertEqual(x["status"], "error")
            self.assertRegex(x["message"], r"^Invalid argument: The instant is 6[01]\.\d s ahead; FireAt accepts at most 60 s\.$")

        # The daemon's own answers.
        h = self.hosts[0]
        now = time.time_ns() // 1000
        kind, name, msg = self.call_fire_at(h, now - 1500000)
        self.assertEqual((kind, name), ("error", ERROR + "TooLate"))
        self.assertRegex(msg, r"The instant has passed: it was 1\d{3}\.\d ms ago\.")
        kind, name, msg = self.call_fire_at(h, time.time_ns() // 1000 + 5000)
        self.assertEqual((kind, name), ("error", ERROR + "TooLate"))
        self.assertRegex(msg, r"The instant is [0-4]\.\d ms away; arming the cameras needs 20 ms: 1\d\.\d ms too late\.")
        kind, name, msg = self.call_fire_at(h, time.time_ns() // 1000 + 61 * 10**6)
        self.assertEqual((kind, name), ("error", "org.freedesktop.DBus.Error.InvalidArgs"))
        kind, name, msg = self.call_fire_at(h, 2**64 - 1)
        self.assertEqual((kind, name), ("error", "org.freedesktop.DBus.Error.InvalidArgs"))

        # Nothing was fired, no shot opened, every camera still ready.
        self.assertEqual(self.counts(), before)
        for x in self.hosts:
            self.assertIsNone(x.signals.find("ShotOpened"))
            x.wait_ready()
        # And they still fire.
        _, results = h.call("FireAt", (time.time_ns() // 1000 + 200000,), "(t)")
        self.assertEqual([r[2] for r in results], ["ok"] * CAMERAS_PER_HOST, results)

    def test_one_host_down(self):
        down = self.hosts[2]
        down.stop_daemon()
        before = self.counts()[:2]
        out, err = self.ctl(*(self.addresses() + ["fire", "--at=+300ms"]), expect=3)
        rows = out.splitlines()[3:]
        ok = [r for r in rows if not r.startswith(down.bus.address + " ")]
        bad = [r for r in rows if r.startswith(down.bus.address + " ")]
        self.assertEqual(len(ok), 2 * CAMERAS_PER_HOST, out)
        self.assertTrue(all(" ok " in r for r in ok), out)
        self.assertEqual(len(bad), 1, out)
        self.assertIn("error", bad[0])
        self.assertIn("shotsyncd is not running", bad[0])
        # stderr names the host that failed.
        self.assertIn(down.bus.address + ": shotsyncd is not running (no owner for org.shotsync.Shotsync1 on the bus "
                      "at " + down.bus.address + ").", err)
        for h, b in zip(self.hosts[:2], before):
            h.wait(lambda: len(h.captures()) >= b + CAMERAS_PER_HOST, what="the captures")

        # Its bus gone too: it cannot be reached at all; the others fire.
        down.signals.close()
        down.conn.close_sync(None)
        down.signals = down.conn = None
        down.bus.stop()
        d, err = self.fire_at_json("fire", "--at=+300ms", expect=3)
        self.assertEqual([x["status"] for x in d["hosts"]], ["ok", "ok", "error"])
        self.assertIn("Cannot connect to the bus at " + down.bus.address, d["hosts"][2]["message"])
        self.assertIsNone(d["hosts"][2]["clock_synchronized"])
        self.assertEqual([r["status"] for r in d["results"]], ["ok"] * 2 * CAMERAS_PER_HOST)
        for h in self.hosts[:2]:
            h.stop_daemon()

    def test_host_over_ssh(self):
        # -H goes through ssh to systemd-stdio-bridge on the host, as
        # systemctl -H does; an ssh of our own maps host names to the
        # private buses. Mixed with --address, each named as typed.
        bindir = os.path.join(self.hosts[0].tmp, "bin")
        os.makedirs(bindir)
        with open(os.path.join(bindir, "ssh"), "w") as f:
            f.write("""#!/bin/sh
# ssh [OPTIONS] -- HOST COMMAND...: the bridge to that host's bus
while [ "$1" != "--" ]; do shift; done
case "$2" in
  pc-a) bus='%s' ;;
  pc-b) bus='%s' ;;
  *) echo "ssh: Could not resolve hostname $2" >&2; exit 255 ;;
esac
exec systemd-stdio-bridge -p "$bus"
""" % (self.hosts[0].bus.address, self.hosts[1].bus.address))
        os.chmod(os.path.join(bindir, "ssh"), 0o755)
        env = dict(os.environ, PATH=bindir + ":" + os.environ["PATH"])

        before = self.counts()
        out, err = self.ctl("-H", "pc-a", "--host=pc-b", "--address", self.hosts[2].bus.address, "--json", "fire",
                            "--at=+500ms", env=env)
        d = json.loads(out)
        self.assertEqual([x["host"] for x in d["hosts"]], ["pc-a", "pc-b", self.hosts[2].bus.address])
        self.assertEqual([r["status"] for r in d["results"]], ["ok"] * 3 * CAMERAS_PER_HOST, d)
        self.new_stamps(before)

        # One -H is a target like any other for every verb.
        out, _ = self.ctl("-H", "pc-b", "status", env=env)
        self.assertRegex(out, r"(?m)^ *State: running$")
        out, _ = self.ctl("-H", "pc-b", "--json", "cameras", env=env)
        self.assertEqual(sorted(c["id"] for c in json.loads(out)), sorted(c.serial for c in self.hosts[1].cams))
        # A host that cannot be reached: its row says so, the others fire.
        before = self.counts()
        out, err = self.ctl("-H", "pc-a", "-H", "pc-x", "fire", "--at=+500ms", env=env, expect=None)
        self.assertNotEqual(subprocess.run([CTL, "-H", "pc-x", "status"], env=env, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL).returncode, 0)
        rows = out.splitlines()[3:]
        self.assertEqual(len([r for r in rows if r.startswith("pc-a ") and " ok " in r]), CAMERAS_PER_HOST, out)
        self.assertEqual(len([r for r in rows if r.startswith("pc-x ") and " error " in r]), 1, out)
        self.assertIn("pc-x: ", err)
        self.hosts[0].wait(lambda: len(self.hosts[0].captures()) >= before[0] + CAMERAS_PER_HOST, what="captures")

    def test_armed_busy_and_stop(self):
        h = self.hosts[0]
        before = len(h.captures())
        t = time.time_ns() // 1000 + 30 * 10**6
        pending = self.fire_at_async(h, t)
        # Armed until the instant: the cameras say so, another Fire or
        # FireAt is refused, the daemon answers everything else at once.
        h.wait(lambda: all(c[3] == "busy" for c in h.call("ListCameras")[0]), what="the cameras armed")
        self.assertEqual(h.call_error("Fire"), ERROR + "Busy")
        self.assertEqual(self.call_fire_at(h, time.time_ns() // 1000 + 10**6)[1], ERROR + "Busy")
        s = time.monotonic()
        h.call("ListShots", ("", False), "(sb)")
        self.assertLess(time.monotonic() - s, 0.5)
        self.assertIsNone(pending[0])
        # Stopped before the instant: called off, answered, nothing fired.
        s = time.monotonic()
        h.stop_daemon()
        self.assertLess(time.monotonic() - s, 5.0, "SIGTERM while armed")
        wait_until(lambda: pending[0] is not None, 5, "the reply to FireAt")
        self.assertEqual(pending[0][0], "ok", pending[0])
        kind, (shot, results) = pending[0]
        self.assertEqual(shot, "")
        self.assertEqual(len(results), CAMERAS_PER_HOST)
        for r in results:
            self.assertEqual(r[2], "error", r)
            self.assertTrue(r[3].startswith("not fired: called off before the instant"), r)
            self.assertEqual(r[4], 0, r)
        self.assertEqual(len(h.captures()), before)
        self.assertIsNone(h.signals.find("ShotOpened"))

    def test_clock_properties(self):
        # The kernel's NTP state flipped by hand (nothing synchronises this
        # machine's clock): the properties follow, with PropertiesChanged,
        # and FireAt's messages drop the note. Restored whatever happens.
        if os.geteuid() != 0:
            self.skipTest("needs root (CAP_SYS_TIME) to set the kernel's clock state")
        h = self.hosts[0]
        saved = Timex()
        adjtimex(saved)

        def restore():
            tx = Timex(modes=ADJ_STATUS | ADJ_MAXERROR | ADJ_ESTERROR, status=saved.status,
                       maxerror=saved.maxerror, esterror=saved.esterror)
            adjtimex(tx)
        self.addCleanup(restore)

        try:
            adjtimex(Timex(modes=ADJ_STATUS | ADJ_MAXERROR | ADJ_ESTERROR, status=saved.status & ~STA_UNSYNC,
                           maxerror=4000, esterror=1234))
        except OSError as e:
            self.skipTest("cannot set the clock state: %s" % e)
        self.assertEqual(clock_state(), (True, 1234))
        h.wait(lambda: any(c.get("ClockSynchronized") is True for c, _ in h.signals.props), 15,
               "PropertiesChanged ClockSynchronized=true")
        h.wait(lambda: h.get_property("ClockErrorUsec") == 1234, 15, "ClockErrorUsec 1234")
        self.assertTrue(h.get_property("ClockSynchronized"))
        _, results = h.call("FireAt", (time.time_ns() // 1000 + 200000,), "(t)")
        for r in results:
            self.assertEqual(r[2], "ok", r)
            self.assertNotIn("clock", r[3])

        adjtimex(Timex(modes=ADJ_STATUS | ADJ_ESTERROR, status=saved.status | STA_UNSYNC, esterror=16000000))
        h.wait(lambda: any(c.get("ClockSynchronized") is False for c, _ in h.signals.props), 15,
               "PropertiesChanged ClockSynchronized=false")
        self.assertEqual(h.get_property("ClockErrorUsec"), 16000000)
        _, results = h.call("FireAt", (time.time_ns() // 1000 + 200000,), "(t)")
        for r in results:
            self.assertTrue(r[3].endswith("; clock not synchronised (estimated error 16000 ms)"), r)
        with open(h.log_path) as f:
            self.assertIn("FireAt: clock not synchronised (estimated error 16000 ms).", f.read())


if __name__ == "__main__":
    main()
