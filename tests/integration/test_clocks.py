#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Clock offsets (SPEC §2 rule 14) and duplicate triggers (rule 4) with the
real daemon: shotsync-sim plays data/scenarios/clocks.ini and freerun.ini
into the raw root as a sync client would, and each file must end in the
shot of its own trigger; offsets survive a restart."""

import json
import os
import subprocess
import time

from shotsynctest import BUILD_DIR, DATE, DEFAULT_TIMEOUT, SOURCE_DIR, T0, ShotsyncTestCase, main

SIM = os.path.join(BUILD_DIR, "src", "sim", "shotsync-sim")
CTL = os.path.join(BUILD_DIR, "src", "ctl", "shotsyncctl")
CLOCKS_INI = os.path.join(SOURCE_DIR, "data", "scenarios", "clocks.ini")
FREERUN_INI = os.path.join(SOURCE_DIR, "data", "scenarios", "freerun.ini")

# The scenario's clocks against the reference camera (Lanex5, the first
# trigger camera).
TRUE_OFFSETS = {"Lanex5": 0, "Lanex2": -10, "LanexGamma": 7.5, "Lyso": -4, "Csi": 10, "Lanex1": -8,
                "DarkShadow": 2, "TopView": 25, "specular": -6, "NearField": -2, "Tracker": 4,
                "Interferometer": 9, "FROG": 29}

CLOCKS_CAMERAS = """
[Camera Lanex5]
Trigger=true
[Camera Lanex2]
Trigger=true
[Camera LanexGamma]
Trigger=true
[Camera Lyso]
Trigger=true
[Camera Csi]
Trigger=true
[Camera Lanex1]
[Camera DarkShadow]
[Camera TopView]
[Camera specular]
[Camera NearField]
Files=*.png
[Camera Tracker]
Files=*.root
[Camera Interferometer]
[Camera FROG]
Files=*.tiff;*.fer
"""


class TestClocks(ShotsyncTestCase):
    # Shots every 4 s need MinShotIntervalSec below that; triggers are every
    # file of a trigger camera, as on the campaign.
    window = 35
    timeout = 20
    cameras = CLOCKS_CAMERAS
    min_shot_interval = None
    folders = tuple(TRUE_OFFSETS)

    def config_text(self):
        text = super().config_text().replace("[Watch]\n", "[Watch]\nTriggerKeyword=\n", 1)
        if self.min_shot_interval is not None:
            text = text.replace("[Grouping]\n", "[Grouping]\nMinShotIntervalSec=%g\n" % self.min_shot_interval, 1)
        return text

    # ---- helpers ----

    def sim(self, *args, timeout=600):
        p = subprocess.run([SIM, "--config", self.config_path] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        self.assertEqual(p.returncode, 0, "shotsync-sim %s\n%s\n%s" % (" ".join(args), out, err))
        return out

    def manifests(self):
        out = {}
        for root, _, files in os.walk(os.path.join(self.clean, "shots")):
            for f in files:
                if f.endswith(".json"):
                    with open(os.path.join(root, f)) as fp:
                        m = json.load(fp)
                    out[m["id"]] = m
        return out

    def play(self, scenario, speed):
        """Plays a scenario that ends now (mtimes in the past, as a sync
        client delivers them); returns --expect's prediction."""
        start = "@%d" % (int(time.time()) - 1700)
        expected = json.loads(self.sim("--scenario", scenario, "--start", start, "--speed", str(speed), "--expect",
                                       "--json"))
        self.sim("--scenario", scenario, "--start", start, "--speed", str(speed), "--quiet")
        return expected

    def placement(self, manifests, files):
        """raw relative path → the scenario shot of the trigger of the shot it is in."""
        shot_of = {f["path"]: f["scenario_shot"] for f in files}
        out = {}
        for m in manifests.values():
            trig = os.path.relpath(m["trigger"]["path"], self.raw) if m["trigger"]["path"] else None
            for f in m["files"]:
                out[os.path.relpath(f["raw_path"], self.raw)] = shot_of.get(trig)
        return out

    def wait_settled(self, expected, timeout):
        """Until every shot predicted is published with every file it is to
        hold (late files included)."""
        want = {s["id"]: sorted(f["path"] for f in s["files"]) for s in expected["shots"]}

        def settled():
            got = self.manifests()
            return all(i in got and len(got[i]["files"]) >= len(w) for i, w in want.items())
        self.wait(settled, timeout=timeout, what="every predicted shot published with its files")

    # ---- tests ----

    def test_campaign(self):
        """clocks.ini: 12 cameras −10…+10 s from the reference, FROG +29 s
        (beyond W/2), W = 35 s. Ten shots a minute apart teach the offsets;
        then 50 shots 4 s apart: every file in the shot of its trigger; then
        TopView's PC set 20 s forward: its files still land in their shots
        (the window holds them until the new offset is learned, three shots
        on), and the change is announced."""
        self.min_shot_interval = 3
        self.write_config()
        self.start_daemon()
        expected = self.play(CLOCKS_INI, 20)
        self.wait_settled(expected, 120 + DEFAULT_TIMEOUT)
        manifests = self.manifests()
        files = [f for f in expected["files"] if f["role"] == "shot"]
        placed = self.placement(manifests, files)

        with self.subTest("shots 11-60, 4 s apart: every file in the shot of its trigger"):
            wrong = [(f["path"], f["scenario_shot"], placed.get(f["path"])) for f in files
                     if 11 <= f["scenario_shot"] <= 60 and placed.get(f["path"]) != f["scenario_shot"]]
            self.assertEqual(wrong, [])

        with self.subTest("the whole campaign: every file in the shot of its trigger"):
            wrong = [(f["path"], f["scenario_shot"], placed.get(f["path"])) for f in files
                     if placed.get(f["path"]) != f["scenario_shot"]]
            self.assertEqual(wrong, [])

        with self.subTest("TopView's clock set at shot 62: none of its files misplaced, the change announced"):
            top = [f for f in files if f["camera"] == "TopView" and f["scenario_shot"] >= 62]
            self.assertGreater(len(top), 3)
            misplaced = [f["scenario_shot"] for f in top if placed.get(f["path"]) != f["scenario_shot"]]
            self.assertEqual(misplaced, [])
            changed = self.signals.named("CameraClockChanged")
            self.assertEqual([c[0] for c in changed], ["TopView"])
            self.assertAlmostEqual(changed[0][1] / 1e6, 25, delta=1)
            self.assertAlmostEqual(changed[0][2] / 1e6, 5, delta=1)
            self.assertIn("Camera TopView: its PC's clock was set", self.log_text())
            self.assertEqual(list(self.get_property("CameraClockChanges")), ["TopView"])

        with self.subTest("CameraClocks: each camera's offset learned within a second"):
            clocks = self.get_property("CameraClocks")
            self.assertEqual(set(clocks), set(TRUE_OFFSETS))
            for cam, (offset, spread, samples) in clocks.items():
                self.assertAlmostEqual(offset / 1e6, TRUE_OFFSETS[cam], delta=1, msg=cam)
                if cam != "Lanex5":
                    self.assertGreaterEqual(samples, 3, cam)

        with self.subTest("manifests say the offset each file was grouped with"):
            for m in manifests.values():
                for f in m["files"]:
                    if f["camera"] == "FROG" and placed.get(os.path.relpath(f["raw_path"], self.raw), 0) >= 11:
                        self.assertAlmostEqual(f["clock_offset_s"], 29, delta=1)

        with self.subTest("shotsync-sim --expect predicted where each file went"):
            predicted = {}
            for s in expected["shots"]:
                for f in s["files"]:
                    predicted[f["path"]] = s["id"]
            actual = {}
            for m in manifests.values():
                for f in m["files"]:
                    actual[os.path.relpath(f["raw_path"], self.raw)] = m["id"]
            self.assertEqual(actual, predicted)

    def test_free_run(self):
        """freerun.ini: Csi in free run at shot 2 (14 frames in 12 s): one
        shot; the 13 other frames duplicate triggers, said on the bus and in
        the journal, listed by shotsyncctl show, never shots."""
        self.cameras = """
[Camera Lanex5]
Trigger=true
[Camera Csi]
Trigger=true
[Camera Lanex1]
[Camera FROG]
Files=*.tiff;*.fer
"""
        self.write_config()
        self.start_daemon()
        expected = self.play(FREERUN_INI, 10)
        self.wait_settled(expected, DEFAULT_TIMEOUT + 30)
        manifests = self.manifests()
        frames = [f for f in expected["files"] if f["role"] == "frame"]
        self.assertEqual(len(frames), 13)
        self.assertEqual(len(manifests), 3)
        shot2 = next(s["id"] for s in expected["shots"] if s["scenario_shot"] == 2)

        ignored = self.wait(lambda: len([p for p in self.signals.named("ImageIgnored")
                                         if p[2] == "duplicate-trigger"]) == 13 and
                            self.signals.named("ImageIgnored"), what="13 duplicate triggers")
        dup_paths = sorted(p[1] for p in ignored if p[2] == "duplicate-trigger")
        self.assertEqual(dup_paths, sorted(os.path.join(self.raw, f["path"]) for f in frames))
        self.assertTrue(all(f["fate"] == "duplicate-trigger" and f["shot"] == shot2 for f in frames))
        self.assertEqual(self.log_text().count("Ignoring duplicate trigger from Csi for shot %s" % shot2), 13)
        for m in manifests.values():
            self.assertFalse(any(os.path.relpath(f["raw_path"], self.raw) in {x["path"] for x in frames}
                                 for f in m["files"]))

        p = subprocess.run([CTL, "--address", self.bus.address, "--json", "show", shot2], stdout=subprocess.PIPE,
                           timeout=60)
        self.assertEqual(sorted(json.loads(p.stdout)["duplicate_triggers"]), dup_paths)
        p = subprocess.run([CTL, "--address", self.bus.address, "show", shot2], stdout=subprocess.PIPE, timeout=60)
        self.assertRegex(p.stdout.decode(), r"(?m)^ *Dup triggers: 13: ")

    def test_offsets_survive_restart(self):
        """What was learned is in the state: after a restart the next shot
        is grouped with it from its first file."""
        self.cameras = """
[Camera Trig]
Trigger=true
[Camera A]
[Camera B]
"""
        self.window = 10
        self.timeout = 30
        for cam in ("Trig", "A", "B"):
            os.makedirs(os.path.join(self.raw, cam, DATE), exist_ok=True)
        self.write_config()
        self.start_daemon()
        for k in range(4):
            self.drop("Trig", "t%d.tif" % k, k * 60.0)
            self.drop("A", "a%d.tif" % k, k * 60.0 + 4.0)
            self.drop("B", "b%d.tif" % k, k * 60.0 - 3.0)
            self.wait_closed("%s-%03d" % (DATE, k + 1))
        before = self.get_property("CameraClocks")
        self.assertEqual(before["A"][0], 4000000)
        self.assertEqual(before["B"][0], -3000000)
        self.stop_daemon()
        # The newest of the base (state.json) and the journal's records
        # ("<checksum> <JSON>" lines) that carry the main members.
        saved = None
        try:
            with open(os.path.join(self.state, "state.json")) as f:
                saved = json.load(f)
        except FileNotFoundError:
            pass
        with open(os.path.join(self.state, "journal")) as f:
            for line in f:
                record = json.loads(line.split(" ", 1)[1])
                if "main" in record:
                    saved = record["main"]
        self.assertEqual(saved["clock_reference"], "Trig")
        self.assertEqual(saved["clocks"]["A"]["offset"], 4000000000)

        self.start_daemon()
        self.assertEqual(self.get_property("CameraClocks"), before)
        # 4.5 s late on the trigger, 0.5 s off its offset: grouped with it.
        self.drop("Trig", "t4.tif", 240.0)
        self.drop("A", "a4.tif", 244.5)
        self.drop("B", "b4.tif", 237.0)
        self.wait_closed("%s-005" % DATE)
        m = self.manifest("%s-005" % DATE)
        clock = {f["camera"]: f["clock_offset_s"] for f in m["files"]}
        self.assertEqual(clock, {"Trig": 0.0, "A": 4.0, "B": -3.0})


if __name__ == "__main__":
    main()
