#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The README's first command: tests/demo/run (shortened, non-interactive)
against the scenario's expected outcome, computed independently with
`shotsync-sim --expect`; and shotsync-sim on its own: how it writes files,
stops, validates and predicts."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

BUILD_DIR = os.path.abspath(os.environ.get("SHOTSYNC_BUILD_DIR",
                                           os.path.join(os.path.dirname(__file__), "..", "..", "build")))
SOURCE_DIR = os.path.abspath(os.environ.get("SHOTSYNC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")))
SIM = os.path.join(BUILD_DIR, "src", "sim", "shotsync-sim")
DEMO = os.path.join(SOURCE_DIR, "tests", "demo", "run")
DEMO_INI = os.path.join(SOURCE_DIR, "data", "scenarios", "demo.ini")
CAMPAIGN_INI = os.path.join(SOURCE_DIR, "data", "scenarios", "campaign.ini")

os.environ.setdefault("TZ", "Europe/Paris")
time.tzset()


def sim(*args, check=True, **kw):
    p = subprocess.run([SIM] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, **kw)
    out, err = p.stdout.decode(), p.stderr.decode()
    if check and p.returncode != 0:
        raise AssertionError("shotsync-sim %s: exit %d\n%s\n%s" % (" ".join(args), p.returncode, out, err))
    return p.returncode, out, err


def processes_mentioning(text):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            out.append("%s %s" % (pid, cmd))
    return out


class TestDemo(unittest.TestCase):
    """One run of the demo, every promise of it checked (one subTest each)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="shotsync-test-demo-")
        self.dir = os.path.join(self.tmp, "demo")

    def tearDown(self):
        if os.environ.get("SHOTSYNC_KEEP_TMP"):
            print("kept", self.tmp, file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def manifests(self):
        out = {}
        for root, _, files in os.walk(os.path.join(self.dir, "clean", "shots")):
            for f in files:
                if f.endswith(".json"):
                    with open(os.path.join(root, f)) as fp:
                        m = json.load(fp)
                    out[m["id"]] = m
        return out

    def test_demo(self):
        env = dict(os.environ, SHOTSYNC_BUILD_DIR=BUILD_DIR)
        start = time.monotonic()
        p = subprocess.run([DEMO, "--short", "--dir", self.dir], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env, timeout=240)
        took = time.monotonic() - start
        out = p.stdout.decode(errors="replace")
        self.assertEqual(p.returncode, 0, "tests/demo/run --short failed:\n" + out[-6000:])

        # The expected outcome, computed again from the scenario with the
        # demo's configuration and start (not the demo's own copy).
        with open(os.path.join(self.dir, "sim.args")) as f:
            args = f.read().splitlines()
        _, text, _ = sim(*args, "--expect", "--json", cwd=SOURCE_DIR)
        expected = json.loads(text)
        shots = {s["id"]: s for s in expected["shots"]}
        by_sim = {s["scenario_shot"]: s for s in expected["shots"]}
        actual = self.manifests()
        raw = os.path.join(self.dir, "raw")
        scenario_cameras = {f["camera"] for f in expected["files"]}

        def raw_rel(path):
            return os.path.relpath(path, raw)

        with self.subTest("the scenario has every case the demo promises"):
            self.assertEqual(len(expected["shots"]), 8)
            self.assertEqual(sorted(s["scenario_shot"] for s in expected["shots"] if s["fired"]), [3, 6])
            self.assertEqual((by_sim[2]["status"], by_sim[2]["missing"]), ("timeout", ["NearField"]))
            self.assertEqual(by_sim[2]["missing_at_close"], ["NearField", "FROG"])
            self.assertEqual((by_sim[4]["status"], by_sim[4]["missing"]), ("timeout", ["DarkShadow"]))
            fates = {(f["camera"], f["scenario_shot"], f["role"]): f["fate"] for f in expected["files"]}
            self.assertEqual(fates[("DarkShadow", 4, "shot")], "orphan")
            self.assertEqual(fates[("specular", 5, "duplicate")], "duplicate")
            self.assertEqual(fates[("Lanex1", 1, "test")], "ignored")
            for n in (1, 3, 5, 6, 7, 8):
                self.assertEqual(by_sim[n]["status"], "complete", n)

        with self.subTest("the summary says all shots are as predicted"):
            self.assertIn("Expected vs actual: all %d shots as predicted." % len(shots), out)
            for sid, s in shots.items():
                self.assertRegex(out, r"(?m)^%s\s+%s\s" % (re.escape(sid), s["status"]))

        with self.subTest("the same shots, complete or timed out as predicted"):
            self.assertEqual(sorted(actual), sorted(shots))
            for sid, s in shots.items():
                self.assertEqual(actual[sid]["status"], s["status"], sid)

        with self.subTest("the same cameras missing where predicted"):
            for sid, s in shots.items():
                self.assertEqual(sorted(actual[sid]["missing"]), sorted(s["missing"]), sid)

        with self.subTest("each shot holds the predicted files"):
            for sid, s in shots.items():
                got = sorted((f["camera"], f["kind"], f["late"]) for f in actual[sid]["files"]
                             if f["camera"] in scenario_cameras)
                self.assertEqual(got, sorted((f["camera"], f["kind"], f["late"]) for f in s["files"]), sid)
                if not s["fired"]:
                    self.assertEqual(sorted(raw_rel(f["raw_path"]) for f in actual[sid]["files"]),
                                     sorted(f["path"] for f in s["files"]), sid)
                    self.assertEqual(actual[sid]["trigger"]["camera"], s["trigger_camera"], sid)

        with self.subTest("the files delivered after the shot closed are attached, late=true"):
            s2 = by_sim[2]
            late = [f for f in actual[s2["id"]]["files"] if f["late"]]
            self.assertEqual(sorted((f["camera"], f["kind"]) for f in late), [("FROG", 1), ("FROG", 2)])
            for f in late:
                self.assertTrue(os.path.isfile(f["clean_path"]), f)
            self.assertEqual(actual[s2["id"]]["missing"], ["NearField"])

        with self.subTest("the ignored, orphan and duplicate images are not in the clean tree"):
            published = {raw_rel(f["raw_path"]) for m in actual.values() for f in m["files"]}
            listed = {f["clean_path"] for m in actual.values() for f in m["files"]}
            kept_out = [f for f in expected["files"] if f["fate"] != "assigned"]
            self.assertGreaterEqual(len(kept_out), 3)
            for f in kept_out:
                self.assertNotIn(f["path"], published)
            present = set()
            for root, dirs, files in os.walk(os.path.join(self.dir, "clean")):
                dirs[:] = [d for d in dirs if d != "shots"]
                present |= {os.path.join(root, n) for n in files if not n.startswith(".")}
            self.assertEqual(present, listed)
            self.assertFalse([p for p in present if re.search(r"(?i)align|test", os.path.basename(p))])

        with self.subTest("both Fires' shots are there, with the 4 USB cameras' images"):
            fired = [s for s in expected["shots"] if s["fired"]]
            self.assertEqual(len(fired), 2)
            for s in fired:
                m = actual[s["id"]]
                self.assertEqual(m["trigger"]["camera"], "", s["id"])
                usb = sorted(f["camera"] for f in m["files"] if f["camera"] not in scenario_cameras)
                self.assertEqual(usb, ["FAKE0001", "FAKE0002", "FAKE0003", "FAKE0004"], s["id"])
            self.assertEqual(len(re.findall(r"(?m)bus │ Fired \S+ results=(FAKE000\d:ok,?){4}$", out)), 2, out[-4000:])

        with self.subTest("it was watched live and says where to look"):
            self.assertRegex(out, r"bus │ ShotOpened ")
            self.assertRegex(out, r"bus │ ShotClosed ")
            self.assertRegex(out, r"sim │ .*shot 1 ")
            for what in ("clean tree:", "manifests:", "shotsyncd's log:"):
                self.assertIn(what, out)
            self.assertTrue(os.path.isfile(os.path.join(self.dir, "shotsyncd.log")))

        with self.subTest("no process left behind"):
            self.assertIn("No process left behind.", out)
            self.assertEqual(processes_mentioning(self.dir), [])

        with self.subTest("it is short"):
            self.assertLess(took, 120, "the short demo took %.0f s" % took)


class TestSim(unittest.TestCase):
    """shotsync-sim as a tool, without shotsyncd."""

    CONFIG = """[Watch]
RawRoot={raw}
IgnoreKeywords=test;align

[Grouping]
FullWindowSec=8
TimeoutSec=5

[Output]
CleanRoot={clean}

[Camera Trig]
Trigger=true
TriggerKeyword=
Files=*.tiff

[Camera Scope]
Files=*.png

[Camera FROG]
Files=*.tiff;*.fer
"""

    SCENARIO = """[Scenario]
Shots={shots}
PeriodSec=60
Seed=3
SubFolder={{mtime:%Y%m%d}}
[Sync]
DelayMinSec=5
DelayMaxSec=15
BurstPeriodSec=5
[Camera Trig]
Trigger=true
Names=Trig [{{counter:4}}] {{session:%H%M%S}}.tiff
[Camera Scope]
Names=E6_NF_ZOOM (24077350)_{{mtime:%Y-%m-%d_%H-%M-%S-%f}}.png
Test=1
[Camera FROG]
Names={{counter}} - {{mtime:%Y-%m-%d-%H-%M-%S}}.tiff;{{counter}} - {{mtime:%Y-%m-%d-%H-%M-%S}}.fer
AfterClose=2:5
"""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="shotsync-test-sim-")
        self.raw = os.path.join(self.tmp, "raw")
        self.config = os.path.join(self.tmp, "shotsync.conf")
        with open(self.config, "w") as f:
            f.write(self.CONFIG.format(raw=self.raw, clean=os.path.join(self.tmp, "clean")))
        self.write_scenario(3)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_scenario(self, shots, extra=""):
        self.scenario = os.path.join(self.tmp, "s.ini")
        with open(self.scenario, "w") as f:
            f.write(self.SCENARIO.format(shots=shots) + extra)

    def raw_files(self):
        out = []
        for root, _, files in os.walk(self.raw):
            out += [os.path.join(root, n) for n in files]
        return sorted(out)

    def test_plays_like_a_sync_client(self):
        # Campaign time: one shot a minute from 11:50; played 60 times faster.
        _, dry, _ = sim("--scenario", self.scenario, "--config", self.config, "--start", "2025-12-11 11:50:00",
                        "--speed", "60", "--dry-run")
        planned = re.findall(r"mtime (\d\d:\d\d:\d\d\.\d{3})  shot (\d+)\s+(\S+)\s+(.+?)(?:  \[.*\])?$", dry, re.M)
        self.assertEqual(len(planned), 3 * 4 + 1)
        t0 = time.monotonic()
        _, out, err = sim("--scenario", self.scenario, "--config", self.config, "--start", "2025-12-11 11:50:00",
                          "--speed", "60")
        took = time.monotonic() - t0
        self.assertEqual(err, "")
        self.assertIn("Done in", out)
        self.assertLess(took, 15)
        delivered = re.findall(r"mtime (\d\d:\d\d:\d\d\.\d{3})  shot (\d+)\s+(\S+)\s+(.+?)(?:  \[.*\])?$", out, re.M)
        self.assertEqual(delivered, planned)

        files = self.raw_files()
        self.assertEqual(len(files), len(planned))
        for mt, shot, camera, rel in delivered:
            path = os.path.join(self.raw, rel)
            self.assertTrue(rel.startswith(camera + "/20251211/"), rel)
            st = os.stat(path)
            got = time.strftime("%H:%M:%S", time.localtime(st.st_mtime_ns // 10**9)) + ".%03d" % (
                st.st_mtime_ns // 10**6 % 1000)
            self.assertEqual(got, mt, rel)
        names = [os.path.basename(f) for f in files]
        self.assertTrue(any(re.match(r"E6_NF_ZOOM \(24077350\)_2025-12-11_11-5\d-\d\d-\d{6}\.png$", n) for n in names))
        self.assertTrue(any(re.match(r"Trig \[0001\] 115000\.tiff$", n) for n in names))
        self.assertTrue(any(re.match(r"\d+ - 2025-12-11-11-5\d-\d\d\.fer$", n) for n in names))
        self.assertFalse([n for n in names if n.startswith(".")], "no temporary file left")

    def test_never_touches_existing_files(self):
        _, dry, _ = sim("--scenario", self.scenario, "--config", self.config, "--start", "2025-12-11 11:50:00",
                        "--speed", "100", "--dry-run")
        rel = re.search(r"shot 1\s+Trig\s+(.+)$", dry, re.M).group(1)
        path = os.path.join(self.raw, rel)
        os.makedirs(os.path.dirname(path))
        with open(path, "w") as f:
            f.write("the lab's own file\n")
        os.utime(path, (1000000000, 1000000000))
        rc, out, err = sim("--scenario", self.scenario, "--config", self.config, "--start", "2025-12-11 11:50:00",
                           "--speed", "100", check=False)
        self.assertEqual(rc, 0, err)
        self.assertIn("exists already: left alone", err)
        with open(path) as f:
            self.assertEqual(f.read(), "the lab's own file\n")
        self.assertEqual(os.stat(path).st_mtime, 1000000000)
        self.assertIn("1 left alone", out)

    def test_stops_cleanly(self):
        self.write_scenario(50)
        p = subprocess.Popen([SIM, "--scenario", self.scenario, "--config", self.config, "--speed", "5"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Wait for the first delivery, then Ctrl-C.
        line = b""
        while b"shot 1" not in line:
            line = p.stdout.readline()
            self.assertNotEqual(line, b"", "shotsync-sim ended early")
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 130)
        self.assertRegex(err.decode(), r"Stopped by Interrupt after .*: \d+ of \d+ files delivered\.")
        self.assertFalse([f for f in self.raw_files() if os.path.basename(f).startswith(".")])

    def test_expect(self):
        _, text, err = sim("--scenario", self.scenario, "--config", self.config, "--start", "2025-12-11 11:50:00",
                           "--speed", "10", "--expect", "--json")
        self.assertEqual(err, "")
        x = json.loads(text)
        self.assertEqual([(s["id"], s["status"], s["missing"]) for s in x["shots"]],
                         [("20251211-001", "complete", []), ("20251211-002", "timeout", []),
                          ("20251211-003", "complete", [])])
        self.assertEqual(x["shots"][1]["missing_at_close"], ["FROG"])
        self.assertEqual(sorted((f["camera"], f["kind"]) for f in x["shots"][1]["files"] if f["late"]),
                         [("FROG", 1), ("FROG", 2)])
        self.assertEqual([f["reason"] for f in x["files"] if f["fate"] == "ignored"], ["ignore keyword"])
        _, text, _ = sim("--scenario", self.scenario, "--config", self.config, "--start", "2025-12-11 11:50:00",
                         "--speed", "10", "--expect")
        self.assertRegex(text, r"(?m)^20251211-002\s+shot 2\s+Trig\s+timeout\s+4\s+2\s+- \(at close: FROG\)$")

    def test_checks_against_the_config(self):
        cfg = self.CONFIG.replace("Files=*.png", "Files=*.tif").replace("TriggerKeyword=\n", "TriggerKeyword=shot\n")
        with open(self.config, "w") as f:
            f.write(cfg.format(raw=self.raw, clean=os.path.join(self.tmp, "clean")))
        _, _, err = sim("--scenario", self.scenario, "--config", self.config, "--dry-run")
        self.assertIn("of Scope is ignored by shotsyncd (it matches no Files= pattern)", err)
        self.assertRegex(err, r"of Trig is not a trigger for shotsyncd \(Trigger=true, TriggerKeyword=shot\)")

    def test_validation(self):
        cases = [
            ("[Scenario]\nShots=3\n[Camera A]\nNames=a{counter}.tif\nNever=4\n",
             "s.ini: [Camera A] Never: '4' is not a shot number between 1 and 3"),
            ("[Scenario]\nShots=3\n[Camera A]\nNames=a{cnt}.tif\n", "s.ini: [Camera A] Names: 'a{cnt}.tif': unknown placeholder {cnt}"),
            ("[Scenario]\nShots=3\nSpeeed=2\n[Camera A]\nNames=a{counter}.tif\n", "s.ini: [Scenario] Speeed: unknown key"),
            ("[Scenario]\nShots=3\n[Camera A]\nNames=a.tif\n", "s.ini: [Camera A] Names: two files would both be A/a.tif"),
        ]
        for text, want in cases:
            with self.subTest(want=want):
                with open(self.scenario, "w") as f:
                    f.write(text)
                rc, _, err = sim("--scenario", self.scenario, "--dry-run", check=False)
                self.assertEqual(rc, 1)
                self.assertIn(want, err)
        rc, _, err = sim("--scenario", self.scenario, "--expect", check=False)
        self.assertEqual(rc, 2)
        self.assertIn("--expect needs --config", err)

    def test_campaign(self):
        _, text, _ = sim("--scenario", CAMPAIGN_INI, "--dry-run")
        self.assertRegex(text, r"150 shots \(0 fired\), 12 cameras, \d+ files")
        for name in ("Lanex1", "Lanex2", "Lanex5", "LanexGamma", "Lyso", "Csi", "DarkShadow", "TopView", "specular",
                     "NearField", "FROG", "Tracker"):
            self.assertRegex(text, r"(?m)  %s/\d{8}/" % name)
        self.assertRegex(text, r"FROG/\d{8}/\d+ - \d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.fer")

    def test_help_and_version(self):
        _, out, _ = sim("--help")
        self.assertIn("--scenario", out)
        _, out, _ = sim("--version")
        self.assertRegex(out, r"^shotsync-sim \d")


if __name__ == "__main__":
    unittest.main(verbosity=2)
