#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""shotsyncctl against the real shotsyncd on a private bus (SPEC §4, §6):
human and JSON output, exit statuses, error sentences, the monitor across a
restart of the service, and access control as an unprivileged user."""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import time

from shotsynctest import CTL, DATE, DEFAULT_TIMEOUT, ShotsyncTestCase, main

SHOT1 = DATE + "-001"


class Lines:
    """Lines of a pipe read as they come, with a deadline: never a fixed sleep."""

    def __init__(self, pipe, name):
        self.fd = pipe.fileno()
        self.name = name
        os.set_blocking(self.fd, False)
        self.buf = b""
        self.lines = []
        self.eof = False

    def _fill(self, timeout):
        if self.eof:
            return False
        r, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        if not r:
            return False
        data = os.read(self.fd, 65536)
        if not data:
            self.eof = True
            return False
        self.buf += data
        *done, self.buf = self.buf.split(b"\n")
        self.lines.extend(d.decode("utf-8", errors="replace") for d in done)
        return True

    def wait_for(self, pred, timeout=DEFAULT_TIMEOUT, what="a line"):
        """The first line (of all read so far) that pred accepts."""
        end = time.monotonic() + timeout
        while True:
            for line in self.lines:
                if pred(line):
                    return line
            remaining = end - time.monotonic()
            if remaining <= 0 or (self.eof and not self._fill(0)):
                raise AssertionError("no %s on %s within %.0f s; got:\n%s" %
                                     (what, self.name, timeout, "\n".join(self.lines)))
            self._fill(min(remaining, 0.5))


class TestCtl(ShotsyncTestCase):
    def setUp(self):
        super().setUp()
        self.monitors = []

    def tearDown(self):
        for p in self.monitors:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()
        super().tearDown()

    # ---- helpers ----

    def ctl_cmd(self, args, unprivileged=False):
        cmd = [CTL, "--address", self.bus.address] + list(args)
        if unprivileged:
            cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] + cmd
        return cmd

    def ctl(self, *args, expect=0, unprivileged=False, timeout=90):
        p = subprocess.run(self.ctl_cmd(args, unprivileged), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        out = p.stdout.decode("utf-8", errors="replace")
        err = p.stderr.decode("utf-8", errors="replace")
        if expect is not None:
            self.assertEqual(p.returncode, expect,
                             "shotsyncctl %s\nstdout:\n%s\nstderr:\n%s" % (" ".join(args), out, err))
        return out, err

    def ctl_json(self, *args, expect=0):
        out, _ = self.ctl("--json", *args, expect=expect)
        return json.loads(out)

    def start_monitor(self, *args):
        p = subprocess.Popen(self.ctl_cmd(list(args) + ["monitor"]), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.monitors.append(p)
        out, err = Lines(p.stdout, "monitor stdout"), Lines(p.stderr, "monitor stderr")
        # Printed once every match is in place: nothing after it can be missed.
        err.wait_for(lambda l: l.startswith("Monitoring shotsyncd"), what="the monitor's start")
        return p, out, err

    def stop_monitor(self, p, sig=signal.SIGINT):
        p.send_signal(sig)
        try:
            rc = p.wait(DEFAULT_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            self.fail("shotsyncctl monitor ignored signal %d" % sig)
        self.assertEqual(rc, 0, "shotsyncctl monitor exit status after signal %d" % sig)

    def complete_shot(self, base_offset=0.0, number=1):
        """Three cameras, one trigger: shot <number> closes complete."""
        b = self.drop("B", "b %04d.tif" % number, base_offset - 2.0)
        t = self.drop("Trig", "shot_%04d.tif" % number, base_offset)
        a = self.drop("A", "a_%04d.tif" % number, base_offset + 1.5)
        shot = "%s-%03d" % (DATE, number)
        self.wait_closed(shot)
        return shot, t, a, b

    @staticmethod
    def table(out):
        """Rows of a table printed without legend, split on runs of spaces."""
        return [re.split(r"\s{2,}", line.strip()) for line in out.splitlines() if line.strip()]

    # ---- tests ----

    def test_usage(self):
        out, _ = self.ctl("--help")
        self.assertIn("Exit status", out)
        self.assertIn("monitor", out)
        out, _ = self.ctl("--version")
        self.assertRegex(out, r"^shotsyncctl \d")
        _, err = self.ctl("frobnicate", expect=2)
        self.assertIn("Unknown command", err)
        self.ctl("--frobnicate", "status", expect=2)
        self.ctl("pause", "now", expect=2)
        self.ctl("--open", "status", expect=2)
        self.ctl("shots", "2025-13-45", expect=2)
        self.ctl("next-shot", DATE, "zero", expect=2)
        self.ctl("next-shot", DATE, "0", expect=2)
        # Several shotsyncd: for fire --at only.
        _, err = self.ctl("--address", "unix:path=/x", "status", expect=2)
        self.assertIn("'status' talks to one shotsyncd, but 2 were named", err)
        _, err = self.ctl("-H", "pc1", "-M", "ct1", "fire", expect=2)
        self.assertIn("only 'fire --at=' fires several at once", err)
        _, err = self.ctl("--at=+1s", "status", expect=2)
        self.assertIn("--at goes with 'fire' only", err)
        _, err = self.ctl("fire", "--at=soon", expect=2)
        self.assertIn("Not an instant: 'soon'", err)
        _, err = self.ctl("fire", "--at=+500", expect=2)
        self.assertIn("Not an instant: '+500'", err)
        _, err = self.ctl("--address", self.bus.address, "fire", "--at=+1s", expect=2)
        self.assertIn("--address %s is given twice" % self.bus.address, err)
        # Two hosts fail differently (no daemon on ours): exit status 1.
        _, err = self.ctl("-M", "not a name", "fire", "--at=+1s", expect=1)
        self.assertIn("not a name: Not a machine name: 'not a name' (-M takes [USER@]NAME).", err)
        self.assertIn("%s: shotsyncd is not running" % self.bus.address, err)

    def test_not_running(self):
        # The bus is there, the service is not.
        _, err = self.ctl("status", expect=3)
        self.assertIn("shotsyncd is not running", err)
        self.assertIn("org.shotsync.Shotsync1", err)
        self.ctl("shots", expect=3)
        # No bus at all.
        p = subprocess.run([CTL, "--address", "unix:path=" + os.path.join(self.tmp, "nobus"), "status"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(p.returncode, 3, p.stderr)

    def test_status(self):
        self.start_daemon()
        out, _ = self.ctl("status")
        self.assertRegex(out, r"(?m)^ *State: running$")
        self.assertRegex(out, r"(?m)^ *Raw root: %s$" % re.escape(self.raw))
        self.assertRegex(out, r"(?m)^ *Clean root: %s$" % re.escape(self.clean))
        self.assertRegex(out, r"(?m)^ *Version: \d")
        self.assertRegex(out, r"(?m)^ *Trigger cameras: Trig$")
        self.assertRegex(out, r"(?m)^ *Window: 10 s")
        self.assertRegex(out, r"(?m)^ *Timeout: 30 s")
        # No command means status.
        out2, _ = self.ctl()
        self.assertEqual(out, out2)

        d = self.ctl_json("status")
        self.assertEqual(d["State"], "running")
        self.assertEqual(d["RawRoot"], self.raw)
        self.assertEqual(d["CleanRoot"], self.clean)
        self.assertEqual(d["FullWindowSec"], 10)
        self.assertEqual(d["TimeoutSec"], 30)
        self.assertEqual(sorted(d["Cameras"]), ["A", "B", "Trig"])
        self.assertEqual(d["TriggerCameras"], ["Trig"])
        self.assertEqual(d["OpenShots"], [])
        self.assertEqual(d["Version"], self.get_property("Version"))
        self.assertEqual(d["NextShotNumber"], self.get_property("NextShotNumber"))
        out, _ = self.ctl("--json=pretty", "status")
        self.assertEqual(json.loads(out), d)
        self.assertGreater(len(out.splitlines()), 5)

    def test_shots(self):
        self.start_daemon()
        shot, _, _, _ = self.complete_shot()
        b = self.drop("B", "b 0002.tif", 100.0)  # an orphan, then the trigger of shot 002
        self.wait_signal("ImageOrphaned", lambda p: p[1] == b)
        self.drop("Trig", "shot_0002.tif", 100.5)
        self.wait_signal("ImageAssigned", lambda p: p[0] == DATE + "-002" and p[2] == b)

        out, _ = self.ctl("shots", DATE)
        self.assertRegex(out.splitlines()[0], r"^ID +STATUS +FILES +MISSING$")
        self.assertIn("2 shots listed.", out)
        rows = self.table(self.ctl("--no-legend", "shots", DATE)[0])
        self.assertEqual(rows[0], [shot, "complete", "3", "0"])
        self.assertEqual(rows[1][:3], [DATE + "-002", "collecting", "2"])
        self.assertEqual(len(rows), 2)

        d = self.ctl_json("shots", DATE)
        self.assertEqual(d[0], {"id": shot, "status": "complete", "files": 3, "missing": 0})
        self.assertEqual([(s["id"], s["status"], s["files"]) for s in d[1:]], [(DATE + "-002", "collecting", 2)])
        d = self.ctl_json("shots", DATE, "--open")
        self.assertEqual(d, [{"id": DATE + "-002", "status": "collecting", "files": 2, "missing": 1}])
        self.assertEqual(self.table(self.ctl("--no-legend", "--open", "shots", DATE)[0]),
                         [[DATE + "-002", "collecting", "2", "1"]])
        self.assertEqual(self.ctl_json("shots", "20991231"), [])
        out, _ = self.ctl("shots", "20991231")
        self.assertIn("No shot on 20991231.", out)

    def test_open_shot_missing(self):
        """A collecting shot lacks the same cameras in every view of it."""
        self.start_daemon()
        self.drop("Trig", "shot_0001.tif", 0.0)  # stays open: timeout is 30 s
        self.wait_signal("ImageAssigned", lambda p: p[0] == SHOT1)
        self.assertEqual(self.ctl_json("shots", DATE, "--open"),
                         [{"id": SHOT1, "status": "collecting", "files": 1, "missing": 2}])
        self.assertEqual(self.ctl_json("shots", DATE),
                         [{"id": SHOT1, "status": "collecting", "files": 1, "missing": 2}])
        d = self.ctl_json("show", SHOT1)
        self.assertEqual(d["status"], "collecting")
        self.assertEqual(sorted(d["missing"]), ["A", "B"])
        self.assertRegex(self.ctl("show", SHOT1)[0], r"(?m)^ *Missing: A, B$")

    def test_show_and_meta(self):
        self.start_daemon()
        shot, t, a, b = self.complete_shot()

        self.ctl("meta", shot, "laser_energy=1.2J", "gas=He 3 bar", "empty=")
        self.wait_signal("ShotUpdated", lambda p: p[0] == shot)
        self.wait(lambda: self.manifest(shot)["metadata"].get("laser_energy") == "1.2J", what="metadata on disk")
        self.assertEqual(self.manifest(shot)["metadata"], {"laser_energy": "1.2J", "gas": "He 3 bar", "empty": ""})

        out, _ = self.ctl("show", shot)
        self.assertRegex(out, r"(?m)^ *Shot: %s$" % shot)
        self.assertRegex(out, r"(?m)^ *Status: complete$")
        self.assertRegex(out, r"(?m)^ *Trigger: Trig$")
        self.assertRegex(out, r"(?m)^ *Trigger file: %s$" % re.escape(t))
        self.assertRegex(out, r"(?m)^ *Missing: -$")
        self.assertRegex(out, r"(?m)^ *Timing: first B .*\(-2\.000 s\), last A .*\(\+1\.500 s\), spread 3\.500 s$")
        self.assertRegex(out, r"(?m)^CAMERA +KIND +OFFSET +CLOCK +LATE +CLEAN_PATH$")
        self.assertRegex(out, r"(?m)^ *Dup triggers: -$")
        self.assertRegex(out, r"(?m)^ *Metadata: empty=$")
        self.assertRegex(out, r"(?m)^ +gas=He 3 bar$")
        self.assertRegex(out, r"(?m)^ +laser_energy=1\.2J$")
        m = self.manifest(shot)
        for f in m["files"]:
            # Nothing learned in one shot: every camera on the trigger's clock.
            self.assertEqual(f["clock_offset_s"], 0)
            self.assertRegex(out, r"(?m)^%s +1 +%s +\+0\.000s +no +%s$" %
                             (f["camera"], re.escape("%+.3fs" % f["offset_s"]), re.escape(f["clean_path"])))

        d = self.ctl_json("show", shot)
        self.assertEqual(d["id"], shot)
        self.assertEqual(d["status"], "complete")
        self.assertEqual(d["metadata"]["laser_energy"], "1.2J")
        self.assertEqual(d["trigger"]["camera"], "Trig")
        self.assertEqual(d["trigger"]["path"], t)
        self.assertEqual(d["missing"], [])
        self.assertEqual(sorted(f["camera"] for f in d["files"]), ["A", "B", "Trig"])
        self.assertEqual({f["raw_path"] for f in d["files"]}, {t, a, b})
        self.assertEqual(sorted(f["clean_path"] for f in d["files"]), sorted(f["clean_path"] for f in m["files"]))
        for f in d["files"]:
            self.assertIsInstance(f["mtime"], int)
            self.assertFalse(f["late"])
            self.assertEqual(f["clock_offset_s"], 0.0)
        self.assertEqual(d["duplicate_triggers"], [])
        self.assertEqual(d["window"]["end"] - d["window"]["start"], 10 * 1000000)

    def test_clocks(self):
        """Rule 14 from the command line: each camera's learned offset,
        spread and samples (clocks, --json), the offset a file was grouped
        with and a shot's duplicate triggers (show), a clock set mid-way
        (monitor prints CameraClockChanged, clocks its last change)."""
        self.window = 20  # MinShotIntervalSec 10: a file 3 s off its offset still joins at once
        self.write_config()
        self.start_daemon()
        _, mon, _ = self.start_monitor()

        def shot(k, a_offset):
            base = k * 60.0
            self.drop("Trig", "shot_%04d.tif" % k, base)
            self.drop("A", "a_%04d.tif" % k, base + a_offset + 0.1 * (k % 2))
            self.drop("B", "b_%04d.tif" % k, base - 2.0)
            self.wait_closed("%s-%03d" % (DATE, k + 1))

        for k in range(9):
            shot(k, 3.0)
        # A frame of the trigger camera in free run, 1 s after shot 9's.
        self.drop("Trig", "shot_frame.tif", 8 * 60.0 + 1.0)
        self.wait_signal("ImageIgnored", lambda p: p[2] == "duplicate-trigger")

        rows = {r[0]: r for r in self.table(self.ctl("--no-legend", "clocks")[0])}
        self.assertEqual(sorted(rows), ["A", "B", "Trig"])
        self.assertEqual(rows["A"][1:2] + rows["A"][3:4], ["+3.000 s", "9"])
        self.assertEqual(rows["B"][1:2] + rows["B"][3:4], ["-2.000 s", "9"])
        self.assertEqual(rows["Trig"][1], "+0.000 s")
        d = {c["camera"]: c for c in self.ctl_json("clocks")}
        self.assertEqual((d["A"]["offset_usec"], d["A"]["samples"], d["A"]["last_change"]), (3000000, 9, None))
        self.assertTrue(d["Trig"]["reference"])
        self.assertFalse(d["A"]["reference"])
        self.assertGreater(d["A"]["spread_usec"], 0)
        out, _ = self.ctl("clocks")
        self.assertIn("Offsets are against Trig's clock", out)

        shot9 = "%s-009" % DATE
        out, _ = self.ctl("show", shot9)
        self.assertRegex(out, r"(?m)^A +1 +\+3\.000s +\+3\.000s +no ")
        self.assertRegex(out, r"(?m)^ *Dup triggers: 1: .*/Trig/%s/shot_frame\.tif$" % DATE)
        self.assertEqual(self.ctl_json("show", shot9)["duplicate_triggers"],
                         [os.path.join(self.raw, "Trig", DATE, "shot_frame.tif")])

        # A's PC clock set 3 s forward: three shots later the offset follows.
        for k in range(9, 12):
            shot(k, 6.0)
        line = mon.wait_for(lambda l: l.startswith("CameraClockChanged"), what="CameraClockChanged")
        self.assertEqual(line, "CameraClockChanged A offset=+6.100s was=+3.000s")
        rows = {r[0]: r for r in self.table(self.ctl("--no-legend", "clocks")[0])}
        self.assertEqual(rows["A"][1], "+6.100 s")
        self.assertRegex(rows["A"][4], r"^2025-12-11.* was \+3\.000 s$")
        change = {c["camera"]: c for c in self.ctl_json("clocks")}["A"]["last_change"]
        self.assertEqual(change["previous_offset_usec"], 3000000)
        # Each file in the shot of its trigger all along.
        for k in range(12):
            m = self.manifest("%s-%03d" % (DATE, k + 1))
            self.assertEqual(sorted(f["camera"] for f in m["files"]), ["A", "B", "Trig"])

    def test_meta_usage(self):
        # Refused before anything is sent: no daemon needed.
        _, err = self.ctl("meta", SHOT1, "laser_energy", expect=2)
        self.assertIn("KEY=VALUE", err)
        _, err = self.ctl("meta", SHOT1, "=1.2J", expect=2)
        self.assertIn("key is empty", err)
        _, err = self.ctl("meta", "shot-1", "a=b", expect=2)
        self.assertIn("Not a shot id", err)
        self.ctl("meta", SHOT1, expect=2)

    def test_show_no_such_shot(self):
        self.start_daemon()
        _, err = self.ctl("show", "20991231-001", expect=5)
        self.assertEqual(err.strip(), "No shot 20991231-001.")
        self.ctl("--json", "show", "20991231-001", expect=5)
        _, err = self.ctl("meta", "20991231-001", "a=b", expect=5)
        self.assertIn("No shot 20991231-001.", err)
        self.ctl("show", "not-a-shot", expect=2)

    def test_next_shot_exists(self):
        self.start_daemon()
        self.complete_shot()
        _, err = self.ctl("next-shot", DATE, "1", expect=6)
        self.assertIn(SHOT1, err)
        self.ctl("next-shot", DATE, "5")
        self.drop("Trig", "shot_0005.tif", 100.0)
        self.wait_signal("ShotOpened", lambda p: p[0] == DATE + "-005")

    def test_fire_no_cameras(self):
        self.start_daemon()
        out, err = self.ctl("fire", expect=7)
        self.assertIn("No camera to fire", err)
        self.assertEqual(out, "")
        # The same at an instant: one row, the host named as typed.
        d = self.ctl_json("fire", "--at=+300ms", expect=7)
        self.assertEqual(d["results"], [])
        self.assertEqual([(h["host"], h["status"]) for h in d["hosts"]], [(self.bus.address, "error")])
        self.assertIn("No camera to fire", d["hosts"][0]["message"])
        self.assertIsInstance(d["hosts"][0]["clock_synchronized"], bool)
        out, _ = self.ctl("cameras")
        self.assertIn("No gphoto2 camera", out)
        self.assertEqual(self.ctl_json("cameras"), [])

    def test_pause_resume(self):
        self.start_daemon()
        self.ctl("pause")
        self.assertEqual(self.ctl_json("status")["State"], "paused")
        self.assertEqual(self.get_property("State"), "paused")
        self.ctl("resume")
        self.assertEqual(self.ctl_json("status")["State"], "running")
        self.assertRegex(self.ctl("status")[0], r"(?m)^ *State: running$")

    def test_reload(self):
        self.start_daemon()
        good = self.config_text()
        self.write_config(good.replace("FullWindowSec=10", "FullWindowSec=12"))
        self.ctl("reload")
        self.assertEqual(self.ctl_json("status")["FullWindowSec"], 12)

        self.write_config(good.replace("FullWindowSec=10", "FullWindowSec=ten"))
        _, err = self.ctl("reload", expect=9)
        self.assertIn("refused", err)
        self.assertIn("FullWindowSec", err)
        self.assertIsNone(self.daemon.poll(), "shotsyncd exited after a refused reload")
        d = self.ctl_json("status")
        self.assertEqual(d["FullWindowSec"], 12)
        self.assertEqual(d["State"], "running")

    def test_monitor(self):
        self.start_daemon()
        p, out, _ = self.start_monitor()
        shot, t, a, b = self.complete_shot()

        line = out.wait_for(lambda l: l.startswith("ShotOpened " + shot), what="ShotOpened")
        self.assertIn(" trigger=Trig path=%s " % t, line)
        self.assertRegex(line, r" window=11:49:55\.000–11:50:05\.000 ")
        self.assertEqual(sorted(line.split(" expected=")[1].split(",")), ["A", "B", "Trig"])
        for cam, path in (("Trig", t), ("A", a), ("B", b)):
            out.wait_for(lambda l: l.startswith("ImageAssigned %s %s %s late=no" % (shot, cam, path)),
                         what="ImageAssigned of " + cam)
        out.wait_for(lambda l: l == "ShotClosed %s complete missing=- images=3" % shot, what="ShotClosed")
        out.wait_for(lambda l: l.startswith("PropertiesChanged ") and "OpenShots=" in l, what="PropertiesChanged")

        # Signals come in order: the shot opens before its files join.
        opened = next(i for i, l in enumerate(out.lines) if l.startswith("ShotOpened "))
        first = next(i for i, l in enumerate(out.lines) if l.startswith("ImageAssigned "))
        self.assertLess(opened, first)
        self.stop_monitor(p, signal.SIGINT)

    def test_monitor_json(self):
        self.start_daemon()
        p, out, _ = self.start_monitor("--json")
        shot, t, a, b = self.complete_shot()
        out.wait_for(lambda l: json.loads(l).get("signal") == "ShotClosed", what="ShotClosed")
        self.ctl("pause")
        out.wait_for(lambda l: json.loads(l).get("changed", {}).get("State") == "paused", what="State=paused")
        self.stop_monitor(p, signal.SIGTERM)

        events = [json.loads(l) for l in out.lines]
        opened = next(e for e in events if e["signal"] == "ShotOpened")
        self.assertEqual(opened["shot_id"], shot)
        self.assertEqual(opened["trigger_camera"], "Trig")
        self.assertEqual(opened["trigger_path"], t)
        self.assertEqual(opened["window_end_usec"] - opened["window_start_usec"], 10 * 1000000)
        self.assertEqual(sorted(opened["expected_cameras"]), ["A", "B", "Trig"])
        assigned = [e for e in events if e["signal"] == "ImageAssigned"]
        self.assertEqual({e["raw_path"] for e in assigned}, {t, a, b})
        self.assertTrue(all(e["late"] is False and isinstance(e["mtime_usec"], int) for e in assigned))
        closed = next(e for e in events if e["signal"] == "ShotClosed")
        self.assertEqual(closed["status"], "complete")
        self.assertEqual(sorted(closed["images"]), ["A", "B", "Trig"])
        self.assertEqual(closed["missing_cameras"], [])

    def test_monitor_survives_restart(self):
        self.start_daemon()
        p, out, _ = self.start_monitor()
        self.complete_shot()
        self.stop_daemon()
        out.wait_for(lambda l: l.startswith("ServiceStopped owner=:"), what="ServiceStopped")
        self.start_daemon()
        out.wait_for(lambda l: l.startswith("ServiceStarted owner=:"), what="ServiceStarted")
        self.complete_shot(base_offset=100.0, number=2)
        out.wait_for(lambda l: l.startswith("ShotOpened %s-002 " % DATE), what="ShotOpened after the restart")
        out.wait_for(lambda l: l.startswith("ShotClosed %s-002 complete" % DATE), what="ShotClosed after the restart")
        self.stop_monitor(p)

    def test_access_denied(self):
        if os.geteuid() != 0 or not shutil.which("setpriv"):
            self.skipTest("needs root and setpriv to run shotsyncctl as nobody")
        # Let nobody reach the private bus socket (the test directory is 0700).
        for d in (self.tmp, self.bus.dir):
            os.chmod(d, 0o755)
        os.chmod(self.bus.socket, 0o777)
        self.start_daemon()
        self.complete_shot()

        _, err = self.ctl("pause", expect=4, unprivileged=True)
        self.assertEqual(err.strip(), "Access denied: only root and members of group shotsync may pause shotsync.")
        _, err = self.ctl("meta", SHOT1, "a=b", expect=4, unprivileged=True)
        self.assertIn("Access denied", err)
        self.ctl("reload", expect=4, unprivileged=True)
        self.ctl("next-shot", "7", expect=4, unprivileged=True)
        self.ctl("fire", expect=4, unprivileged=True)
        out, err = self.ctl("fire", "--at=+1s", expect=4, unprivileged=True)
        self.assertIn("Access denied: only root and members of group shotsync may fire the cameras.", err)

        out, _ = self.ctl("status", unprivileged=True)
        self.assertRegex(out, r"(?m)^ *State: running$")
        out, _ = self.ctl("--no-legend", "shots", DATE, unprivileged=True)
        self.assertEqual(self.table(out), [[SHOT1, "complete", "3", "0"]])
        out, _ = self.ctl("show", SHOT1, unprivileged=True)
        self.assertRegex(out, r"(?m)^ *Status: complete$")
        self.assertEqual(self.get_property("State"), "running")


if __name__ == "__main__":
    main()
