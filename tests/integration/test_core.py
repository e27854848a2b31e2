#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The real shotsyncd on real folders: timelines played the way a sync
client plays them, checked against the clean tree and the manifests byte for
byte (SPEC §2, §3, §6)."""

import os
import random
import signal
import subprocess
import time

from shotsynctest import DAEMON, DATE, ShotsyncTestCase, T0, main, sha256_file


def hhmmss(offset, base=T0):
    return time.strftime("%H%M%S", time.localtime(base + offset))


class TestCore(ShotsyncTestCase):
    def expect_clean(self, shot, camera, offset, ext=".tif", raw=None, suffix=""):
        """The clean file of a camera in a shot: name per SPEC §3, bytes equal to the raw file."""
        date, num = shot.split("-")
        rel = "%s/%s/%s_%s_%s_shot%s%s%s" % (camera, date, camera, date, hhmmss(offset), num, suffix, ext)
        path = os.path.join(self.clean, rel)
        self.assertTrue(os.path.exists(path), "missing %s; clean tree: %s" % (rel, self.clean_files()))
        if raw:
            with open(raw, "rb") as a, open(path, "rb") as b:
                self.assertEqual(a.read(), b.read(), rel)
        return rel

    def check_manifest(self, shot, status, cameras, missing=()):
        m = self.manifest(shot)
        self.assertEqual(m["id"], shot)
        self.assertEqual(m["status"], status)
        self.assertEqual(sorted(f["camera"] for f in m["files"]), sorted(cameras))
        self.assertEqual(sorted(m["missing"]), sorted(missing))
        for key in ("id", "date", "number", "status", "trigger", "window", "files", "missing", "timing", "metadata"):
            self.assertIn(key, m)
        for f in m["files"]:
            self.assertEqual(f["sha256"], sha256_file(f["clean_path"]))
            self.assertEqual(f["size"], os.path.getsize(f["clean_path"]))
            self.assertEqual(f["sha256"], sha256_file(f["raw_path"]))
            self.assertTrue(f["clean_path"].startswith(self.clean + "/"))
        return m

    def test_complete_by_rename(self):
        self.start_daemon()
        b = self.drop("B", "b 0001.tif", -2.0)
        t = self.drop("Trig", "shot_0001.tif", 0.0)
        a = self.drop("A", "E6_A__22665529__20251211_112243274_0000.tif", 1.5)
        self.wait(lambda: self.has_manifest(DATE + "-001"), what="manifest of shot 001")
        m = self.check_manifest(DATE + "-001", "complete", ["Trig", "A", "B"])
        self.expect_clean(DATE + "-001", "Trig", 0.0, raw=t)
        self.expect_clean(DATE + "-001", "A", 1.5, raw=a)
        self.expect_clean(DATE + "-001", "B", -2.0, raw=b)
        self.assertEqual(m["trigger"]["camera"], "Trig")
        self.assertEqual(m["trigger"]["path"], t)
        self.assertEqual(m["number"], 1)
        self.assertEqual(m["date"], DATE)
        offsets = {f["camera"]: f["offset_s"] for f in m["files"]}
        self.assertAlmostEqual(offsets["A"], 1.5, places=6)
        self.assertAlmostEqual(offsets["B"], -2.0, places=6)
        self.assertEqual(m["timing"]["first_camera"], "B")
        self.assertEqual(m["timing"]["last_camera"], "A")
        self.assertEqual(len(self.clean_files()), 4)
        self.stop_daemon()

    def test_duplicate_nearest_wins_when_seen_together(self):
        # Rule 7: of two files of one camera known when the shot opens, the
        # one nearest the trigger is taken; a later one is a duplicate.
        self.start_daemon()
        self.drop("A", "a-far.tif", 1.7)
        self.drop("A", "a-near.tif", 1.5)
        self.drop("B", "b.tif", -2.0)
        self.wait(lambda: len(self.signals.named("ImageOrphaned")) == 3, what="three orphans")
        self.drop("Trig", "shot.tif", 0.0)
        self.wait(lambda: self.has_manifest(DATE + "-001"))
        m = self.manifest(DATE + "-001")
        self.assertEqual(sorted(os.path.basename(f["raw_path"]) for f in m["files"]), ["a-near.tif", "b.tif", "shot.tif"])
        self.drop("A", "a-later.tif", 0.1)
        self.wait_signal("ImageIgnored", lambda p: p[0] == "A" and p[1].endswith("a-later.tif") and p[2] == "duplicate")

    def test_inplace_writes(self):
        self.start_daemon()
        self.drop("Trig", "shot1.tif", 0.0, how="inplace")
        self.drop("A", "a.tif", 0.5, how="inplace")
        self.drop("B", "b.tif", -0.5, how="inplace")
        self.wait(lambda: self.has_manifest(DATE + "-001"))
        self.check_manifest(DATE + "-001", "complete", ["Trig", "A", "B"])

    def test_timeout_then_late_file(self):
        self.timeout = 6
        self.write_config()
        self.start_daemon()
        self.drop("Trig", "shot1.tif", 0.0)
        self.drop("A", "a.tif", 1.0)
        self.wait(lambda: self.has_manifest(DATE + "-001"), timeout=30, what="timeout of shot 001")
        self.check_manifest(DATE + "-001", "timeout", ["Trig", "A"], missing=["B"])
        # B arrives minutes late (by arrival), its mtime inside the window.
        late = self.drop("B", "b.tif", 3.0)
        self.wait(lambda: len(self.manifest(DATE + "-001")["files"]) == 3, what="late file in the manifest")
        m = self.check_manifest(DATE + "-001", "timeout", ["Trig", "A", "B"], missing=[])
        self.assertEqual([f["late"] for f in m["files"] if f["camera"] == "B"], [True])
        self.expect_clean(DATE + "-001", "B", 3.0, raw=late)

    def test_overlapping_shots_out_of_order(self):
        # Seed §2.6: shot 2's files arrive before shot 1's late ones.
        self.window = 30
        self.write_config()
        self.start_daemon()
        self.drop("Trig", "shot1.tif", 0.0)
        self.drop("A", "a1.tif", 1.0)
        self.drop("Trig", "shot2.tif", 62.0)
        self.drop("A", "a2.tif", 61.0)
        self.drop("B", "b2.tif", 63.0)
        self.wait(lambda: self.has_manifest(DATE + "-002"))
        self.assertFalse(self.has_manifest(DATE + "-001"))
        self.drop("B", "b1.tif", 2.0)
        self.wait(lambda: self.has_manifest(DATE + "-001"))
        m1 = self.check_manifest(DATE + "-001", "complete", ["Trig", "A", "B"])
        m2 = self.check_manifest(DATE + "-002", "complete", ["Trig", "A", "B"])
        self.assertEqual(sorted(os.path.basename(f["raw_path"]) for f in m1["files"]), ["a1.tif", "b1.tif", "shot1.tif"])
        self.assertEqual(sorted(os.path.basename(f["raw_path"]) for f in m2["files"]), ["a2.tif", "b2.tif", "shot2.tif"])

    def test_orphan_absorbed_by_later_trigger(self):
        self.start_daemon()
        self.drop("A", "early.tif", -3.0)
        self.drop("B", "early.tif", 4.0)
        self.wait(lambda: "Orphan" in self.log_text() and self.log_text().count("Orphan") >= 2, what="orphans logged")
        self.drop("Trig", "shot.tif", 0.0)
        self.wait(lambda: self.has_manifest(DATE + "-001"))
        self.check_manifest(DATE + "-001", "complete", ["Trig", "A", "B"])

    def test_two_kinds_and_png(self):
        self.cameras = """
[Camera Trig]
Trigger=true

[Camera FROG]
Files=*.tiff;*.fer

[Camera NearField]
Files=*.png
"""
        self.write_config()
        self.start_daemon()
        self.drop("Trig", "shot7.tif", 0.0)
        tiff = self.drop("FROG", "1 - 2025-12-11-11-50-17.tiff", 1.0)
        self.drop("NearField", "E6_NF_ZOOM (24077350)_2025-12-11_11-50-10-735459.PNG", 0.2)
        self.wait_idle()
        self.assertFalse(self.has_manifest(DATE + "-001"), "FROG lacks its .fer")
        fer = self.drop("FROG", "1 - 2025-12-11-11-50-17.fer", 1.0)
        self.wait(lambda: self.has_manifest(DATE + "-001"))
        m = self.check_manifest(DATE + "-001", "complete", ["Trig", "FROG", "FROG", "NearField"])
        kinds = sorted((f["camera"], f["kind"]) for f in m["files"])
        self.assertEqual(kinds, [("FROG", 1), ("FROG", 2), ("NearField", 1), ("Trig", 1)])
        self.expect_clean(DATE + "-001", "FROG", 1.0, ext=".tiff", raw=tiff)
        self.expect_clean(DATE + "-001", "FROG", 1.0, ext=".fer", raw=fer)
        self.expect_clean(DATE + "-001", "NearField", 0.2, ext=".png")

    def test_shared_extension_gets_kind_suffix(self):
        # SPEC §3: two kinds of one camera share ".tif": the later kind's
        # clean name gets "_2" before the extension.
        self.cameras = """
[Camera Trig]
Trigger=true

[Camera Dual]
Files=*_near.tif;*_far.tif
"""
        self.write_config()
        self.start_daemon()
        self.drop("Trig", "shot.tif", 0.0)
        near = self.drop("Dual", "x_near.tif", 1.0)
        far = self.drop("Dual", "x_far.tif", 1.0)
        self.wait(lambda: self.has_manifest(DATE + "-001"))
        self.check_manifest(DATE + "-001", "complete", ["Trig", "Dual", "Dual"])
        self.expect_clean(DATE + "-001", "Dual", 1.0, raw=near)
        self.expect_clean(DATE + "-001", "Dual", 1.0, raw=far, suffix="_2")

    def test_new_folders_and_tree_renamed_in(self):
        self.start_daemon()
        # A date folder created after start.
        self.drop("Trig", "shot1.tif", 0.0, subdir="20251211-new")
        self.drop("A", "a.tif", 1.0, subdir="20251211-new")
        # A whole folder prepared elsewhere and moved in at once.
        outside = os.path.join(self.tmp, "outside", "20251211-moved")
        os.makedirs(os.path.join(outside, "sub"))
        p = os.path.join(outside, "sub", "b.tif")
        with open(p, "wb") as f:
            f.write(b"b")
        ns = int((T0 - 1) * 1e9)
        os.utime(p, ns=(ns, ns))
        os.rename(outside, os.path.join(self.raw, "B", "20251211-moved"))
        self.wait(lambda: self.has_manifest(DATE + "-001"), what="shot from a renamed-in folder")
        self.check_manifest(DATE + "-001", "complete", ["Trig", "A", "B"])

    def test_ignored_names_never_published(self):
        self.timeout = 6
        self.write_config()
        self.start_daemon()
        self.drop("Trig", "shot1.tif", 0.0)
        self.drop("A", "align_beam.tif", 0.1)
        self.drop("A", "TEST.tif", 0.2)
        self.drop("A", "notes.txt", 0.3)
        folder = os.path.join(self.raw, "A", DATE)
        for name in (".hidden.tif", "~$lock.tif", "x.tif.part", "y.tif.crdownload", "z.tmp"):
            with open(os.path.join(folder, name), "wb") as f:
                f.write(b"junk")
        self.drop("B", "b.tif", 0.0)
        self.wait(lambda: self.has_manifest(DATE + "-001"), timeout=30)
        m = self.check_manifest(DATE + "-001", "timeout", ["Trig", "B"], missing=["A"])
        published = " ".join(self.clean_files())
        for bad in ("align", "TEST", "notes", "hidden", "lock", "part", "crdownload"):
            self.assertNotIn(bad, published)
        self.assertEqual(len(m["files"]), 2)

    def test_hostile_names(self):
        self.start_daemon()
        names = {"Trig": b"shot with spaces [1] (x).tif", "A": b"new\nline.tif", "B": b"bad\xff\xfeutf8.tif"}
        for cam, name in names.items():
            folder = os.path.join(self.raw, cam, DATE).encode()
            os.makedirs(folder, exist_ok=True)
            tmp = os.path.join(folder, b".tmp-" + cam.encode())
            with open(tmp, "wb") as f:
                f.write(cam.encode())
            ns = int(T0 * 1e9)
            os.utime(tmp, ns=(ns, ns))
            os.rename(tmp, os.path.join(folder, name))
        self.wait(lambda: self.has_manifest(DATE + "-001"))
        m = self.manifest(DATE + "-001")
        self.assertEqual(m["status"], "complete")
        raw = {f["camera"]: f["raw_path"] for f in m["files"]}
        self.assertTrue(raw["B"].endswith("bad\\xff\\xfeutf8.tif"), raw["B"])
        self.assertTrue(raw["A"].endswith("new\nline.tif"))
        self.assertEqual(len(self.clean_files()), 4)
        self.stop_daemon()

    def test_once_prepared_tree(self):
        for i in range(5):
            base = 100.0 * i
            self.drop("Trig", "shot%d.tif" % i, base, how="quiet")
            self.drop("A", "a%d.tif" % i, base + 1, how="quiet")
            if i != 3:
                self.drop("B", "b%d.tif" % i, base - 1, how="quiet")
        self.drop("A", "test_alignment.tif", 50, how="quiet")
        out, err = self.run_once()
        self.assertIn("SHOT", out)
        for i in range(5):
            shot = "%s-%03d" % (DATE, i + 1)
            self.assertIn(shot, out)
            if i == 3:
                self.check_manifest(shot, "timeout", ["Trig", "A"], missing=["B"])
            else:
                self.check_manifest(shot, "complete", ["Trig", "A", "B"])
        self.assertIn("5 shot(s): 4 complete, 1 timed out", out)
        before = self.clean_files()
        # Idempotent: a second run publishes nothing new and numbers nothing.
        out2, _ = self.run_once()
        self.assertIn("0 shot(s)", out2)
        self.assertEqual(self.clean_files(), before)

    def test_startup_scan_in_mtime_order(self):
        # Rule 13: shots found at start-up are numbered as their triggers happened,
        # whatever order the files were written in.
        for i in (3, 1, 2, 0):
            self.drop("Trig", "shot%d.tif" % i, 100.0 * i, how="quiet")
        self.start_daemon()
        self.wait(lambda: self.signals.find("ShotOpened", lambda p: p[0] == DATE + "-004"))
        opened = [p for p in self.signals.named("ShotOpened")]
        order = [(p[0], os.path.basename(p[2])) for p in opened]
        self.assertEqual(order, [(DATE + "-%03d" % (i + 1), "shot%d.tif" % i) for i in range(4)])

    def test_sigterm_keeps_open_shot_across_restart(self):
        self.start_daemon()
        self.drop("Trig", "shot1.tif", 0.0)
        self.drop("A", "a.tif", 0.5)
        self.wait_signal("ImageAssigned", lambda p: p[1] == "A")
        self.stop_daemon()
        self.start_daemon()
        self.assertEqual(self.get_property("OpenShots"), [DATE + "-001"])
        self.drop("B", "b.tif", 0.2)
        self.wait(lambda: self.has_manifest(DATE + "-001"))
        self.check_manifest(DATE + "-001", "complete", ["Trig", "A", "B"])
        self.assertEqual(self.get_property("NextShotNumber"), 1)  # today's counter, untouched

    def test_sigkill_at_random_moments(self):
        """Killed with SIGKILL while shots arrive; after each restart the
        shots continue; at the end every shot is published exactly once,
        numbering is contiguous, no staging or partial file is left."""
        rng = random.Random(1234)
        self.start_daemon()
        n_shots = 12
        kills = 0
        for i in range(n_shots):
            base = 100.0 * i
            for cam, off in rng.sample([("Trig", 0.0), ("A", 1.0), ("B", -1.0)], 3):
                name = ("shot%02d.tif" if cam == "Trig" else cam.lower() + "%02d.tif") % i
                self.drop(cam, name, base + off, data=os.urandom(rng.randint(1, 200000)))
                if rng.random() < 0.3:
                    # Sometimes let the daemon get halfway (a few ms), sometimes not at all.
                    deadline = time.monotonic() + rng.random() * 0.05
                    while time.monotonic() < deadline:
                        pass
                    self.kill_daemon()
                    kills += 1
                    self.start_daemon()
        self.wait(lambda: all(self.has_manifest("%s-%03d" % (DATE, i + 1)) for i in range(n_shots)), timeout=60,
                  what="all shots published")
        for i in range(n_shots):
            self.check_manifest("%s-%03d" % (DATE, i + 1), "complete", ["Trig", "A", "B"])
        self.assertFalse(self.has_manifest("%s-%03d" % (DATE, n_shots + 1)))
        self.assertEqual(len(self.clean_files()), 4 * n_shots)
        self.assertEqual(os.listdir(os.path.join(self.clean, ".staging")), [])
        print("kills survived: %d" % kills)

    def test_overflow_rescan(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to lower fs.inotify.max_queued_events")
        knob = "/proc/sys/fs/inotify/max_queued_events"
        with open(knob) as f:
            old = f.read().strip()
        try:
            with open(knob, "w") as f:
                f.write("16")
            self.start_daemon()  # its inotify instance gets the small queue
        finally:
            with open(knob, "w") as f:
                f.write(old)
        self.daemon.send_signal(signal.SIGSTOP)
        try:
            n = 200
            for i in range(n):
                base = 100.0 * i
                self.drop("Trig", "shot%03d.tif" % i, base)
                self.drop("A", "a%03d.tif" % i, base + 1)
                self.drop("B", "b%03d.tif" % i, base - 1)
        finally:
            self.daemon.send_signal(signal.SIGCONT)
        self.wait(lambda: all(self.has_manifest("%s-%03d" % (DATE, i + 1)) for i in range(n)), timeout=120,
                  what="every flooded shot published")
        self.assertTrue(any("rescanning" in line for line in self.log_text().splitlines()), "no rescan logged")
        self.assertGreaterEqual(self.get_property("Rescans"), 1)
        self.assertEqual(len(self.clean_files()), 4 * n)
        print("files flooded: %d, rescans: %d" % (3 * n, self.get_property("Rescans")))

    def test_second_daemon_same_state_refused(self):
        self.start_daemon()
        env = self.daemon_env()
        p = subprocess.run([DAEMON, "--config", self.config_path, "--once"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("in use by another shotsyncd", p.stderr.decode())

    def test_bad_config_refused(self):
        with open(self.config_path, "a") as f:
            f.write("\n[Grouping]\nTimeoutSec=soon\n")
        p = subprocess.run([DAEMON, "--config", self.config_path, "--once"], env=self.daemon_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        err = p.stderr.decode()
        self.assertIn(self.config_path, err)
        self.assertIn("TimeoutSec", err)

    def test_raw_files_untouched(self):
        self.timeout = 6
        self.write_config()
        paths = [self.drop("Trig", "shot.tif", 0.0, how="quiet"), self.drop("A", "a.tif", 1.0, how="quiet")]
        before = {p: (os.stat(p).st_mtime_ns, os.stat(p).st_size, sha256_file(p), os.stat(p).st_mode) for p in paths}
        self.start_daemon()
        self.wait(lambda: self.has_manifest(DATE + "-001"), timeout=30)
        self.stop_daemon()
        after = {p: (os.stat(p).st_mtime_ns, os.stat(p).st_size, sha256_file(p), os.stat(p).st_mode) for p in paths}
        self.assertEqual(before, after)


if __name__ == "__main__":
    main()
