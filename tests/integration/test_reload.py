#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Reload mid-campaign (SPEC §2 rule 17): every key may change; shots
collecting or in their late grace keep the cameras, kinds, window, timeout
and grace they opened with; new files follow the new configuration; RawRoot
and CleanRoot cannot change under shots in memory. Each test checks the
published bytes against the raw file the manifest names, that the daemon
never dies, and that every eligible file ends assigned, orphaned or ignored
with a reason on the bus."""

import os

from shotsynctest import DATE, ShotsyncTestCase, main, sha256_file

ERR = "org.shotsync.Shotsync1.Error."


class ReloadCase(ShotsyncTestCase):
    folders = ("A", "B", "C", "FROG")
    cameras = """
[Camera A]
Trigger=true
TriggerKeyword=shot

[Camera B]
Files=*.tif
"""

    def reload_with(self, cameras=None, **values):
        if cameras is not None:
            self.cameras = cameras
        for k, v in values.items():
            setattr(self, k, v)
        self.write_config()
        self.call("Reload")

    def check_published(self, shot_id):
        """Every file of the manifest: its clean bytes are the raw file's."""
        m = self.manifest(shot_id)
        for f in m["files"]:
            self.assertEqual(f["sha256"], sha256_file(f["clean_path"]), f["clean_path"])
            self.assertEqual(f["sha256"], sha256_file(f["raw_path"]), f["raw_path"])
        return m

    def tearDown(self):
        if self.daemon is not None and self.daemon.poll() is not None:
            self.fail("shotsyncd died (%s):\n%s" % (self.daemon.returncode, self.log_text()[-3000:]))
        super().tearDown()


class TestReload(ReloadCase):
    def test_kind_added_while_shot_in_grace(self):
        """The defect: B gains a second kind while shot 1 (complete) is in
        its grace. b2.tif used to be published into shot 1 or refused as
        'exists with other content'; b1.fer then aborted the daemon."""
        self.start_daemon()
        self.drop("A", "shot1.tif", 0.0)
        b1 = self.drop("B", "b1.tif", 1.0)
        self.wait_closed(self.shot(1))
        self.wait(lambda: self.has_manifest(self.shot(1)))
        self.reload_with(cameras=self.cameras.replace("Files=*.tif", "Files=*.tif;*.fer"))

        b2 = self.drop("B", "b2.tif", 2.0)
        self.assertEqual(self.wait_fate(b2), "ignored:duplicate")
        fer = self.drop("B", "b1.fer", 1.0)
        self.assertEqual(self.wait_fate(fer), "orphan")
        self.wait_idle()
        m = self.check_published(self.shot(1))
        self.assertEqual(sorted(os.path.basename(f["raw_path"]) for f in m["files"]), ["b1.tif", "shot1.tif"])
        self.assertEqual([f["raw_path"] for f in m["files"] if f["camera"] == "B"], [b1])
        self.assertNotIn("exists with other content", self.log_text())
        self.assertEqual(len(self.signals.named("ShotUpdated")), 0)

        # The next shot follows the new configuration: it waits for both kinds.
        self.drop("A", "shot2.tif", 100.0)
        self.drop("B", "b3.tif", 101.0)
        self.wait_signal("ImageAssigned", lambda p: p[2].endswith("b3.tif"))
        self.assertEqual(self.get_property("OpenShots"), [self.shot(2)])
        self.drop("B", "b3.fer", 101.0)
        closed = self.wait_closed(self.shot(2))
        self.assertEqual(closed[1], "complete")
        self.assertEqual(sorted(closed[2]), ["A", "B/1", "B/2"])
        m = self.check_published(self.shot(2))
        self.assertEqual(sorted(f["kind"] for f in m["files"] if f["camera"] == "B"), [1, 2])

    def test_kinds_reordered_and_removed(self):
        """FROG's kinds swap places while shot 1 collects: its .fer still
        completes shot 1 as the kind 2 it was when the shot opened; then .tiff
        is dropped from Files= and shot 2 waits for .fer alone."""
        self.cameras += "\n[Camera FROG]\nFiles=*.tiff;*.fer\n"
        self.write_config()
        self.start_daemon()
        self.drop("A", "shot1.tif", 0.0)
        self.drop("B", "b1.tif", 0.5)
        self.drop("FROG", "1.tiff", 1.0)
        self.wait_signal("ImageAssigned", lambda p: p[2].endswith("1.tiff"))
        self.reload_with(cameras=self.cameras.replace("Files=*.tiff;*.fer", "Files=*.fer;*.tiff"))
        self.drop("FROG", "1.fer", 1.0)
        closed = self.wait_closed(self.shot(1))
        self.assertEqual(closed[1], "complete")
        self.wait(lambda: self.has_manifest(self.shot(1)))
        m = self.check_published(self.shot(1))
        kinds = {os.path.basename(f["raw_path"]): f["kind"] for f in m["files"] if f["camera"] == "FROG"}
        self.assertEqual(kinds, {"1.tiff": 1, "1.fer": 2})

        self.reload_with(cameras=self.cameras.replace("Files=*.fer;*.tiff", "Files=*.fer"))
        self.drop("A", "shot2.tif", 100.0)
        self.drop("B", "b2.tif", 100.5)
        t2 = self.drop("FROG", "2.tiff", 101.0)
        self.assertEqual(self.wait_fate(t2), "ignored:kind")
        self.drop("FROG", "2.fer", 101.0)
        closed = self.wait_closed(self.shot(2))
        self.assertEqual((closed[1], sorted(closed[2])), ("complete", ["A", "B", "FROG"]))
        self.check_published(self.shot(2))

    def test_cameras_added_removed_renamed(self):
        """C is added and B renamed to C's folder name… while shot 1 collects:
        shot 1 keeps waiting for B (it times out missing it: B is no camera
        any more, its new files are not grouped) and does not wait for C;
        shot 2 waits for C and not for B."""
        self.window = 4
        self.timeout = 3
        self.write_config()
        self.start_daemon()
        self.drop("A", "shot1.tif", 0.0)
        self.wait_signal("ShotOpened")
        self.reload_with(cameras="""
[Camera A]
Trigger=true
TriggerKeyword=shot

[Camera C]
""")
        self.assertEqual(self.get_property("Cameras"), ["A", "C"])
        self.drop("C", "c1.tif", 1.0)
        self.assertEqual(self.wait_fate(os.path.join(self.raw, "C", DATE, "c1.tif")), "assigned:" + self.shot(1))
        closed = self.wait_closed(self.shot(1))
        self.assertEqual((closed[1], closed[3]), ("timeout", ["B"]))

        self.drop("A", "shot2.tif", 100.0)
        self.drop("B", "b2.tif", 100.5)
        self.drop("C", "c2.tif", 101.0)
        closed = self.wait_closed(self.shot(2))
        self.assertEqual((closed[1], sorted(closed[2])), ("complete", ["A", "C"]))
        self.check_published(self.shot(1))
        self.check_published(self.shot(2))

    def test_trigger_and_expected_flipped(self):
        """B becomes the trigger camera and A a plain one; B is no longer
        expected. The collecting shot still waits for B; new files follow the
        new roles."""
        self.start_daemon()
        self.drop("A", "shot1.tif", 0.0)
        self.wait_signal("ShotOpened")
        self.reload_with(cameras="""
[Camera A]

[Camera B]
Trigger=true
TriggerKeyword=shot
Expected=false
""")
        a = self.drop("A", "shot9.tif", 100.0)  # no longer a trigger: fits no window
        self.assertEqual(self.wait_fate(a), "orphan")
        self.drop("B", "b1.tif", 0.5)
        self.assertEqual(self.wait_closed(self.shot(1))[1], "complete")
        self.drop("B", "shot2.tif", 200.0)
        opened = self.wait_signal("ShotOpened", lambda p: p[0] == self.shot(2))
        self.assertEqual((opened[1], opened[6]), ("B", ["A"]))
        self.drop("A", "a2.tif", 200.5)
        self.assertEqual(self.wait_closed(self.shot(2))[1], "complete")

    def test_window_timeout_grace_changed(self):
        """W, T and LateGraceSec change with a shot collecting and one in its
        grace: each keeps what it opened with, the next shot takes the new."""
        self.window = 10
        self.timeout = 8
        self.late_grace = 600
        self.write_config()
        self.start_daemon()
        self.drop("A", "shot1.tif", 0.0)
        self.drop("B", "b1.tif", 0.5)
        self.wait_closed(self.shot(1))  # in its 600 s grace
        self.drop("A", "shot2.tif", 100.0)
        self.wait_signal("ShotOpened", lambda p: p[0] == self.shot(2))
        self.reload_with(window=12, timeout=6.5, late_grace=0.5)
        self.assertEqual(self.get_property("FullWindowSec"), 12.0)
        # 5.5 s after shot 2's trigger: outside its 10 s window, inside 12 s.
        b = self.drop("B", "b2.tif", 105.5)
        self.assertEqual(self.wait_fate(b), "orphan")
        # Shot 2 times out after its own 8 s, missing B.
        self.assertEqual(self.wait_closed(self.shot(2))[3], ["B"])
        # Shot 3 opens with the new window, times out after the new 6.5 s and
        # leaves memory after the new 0.5 s grace ...
        self.drop("A", "shot3.tif", 300.0)
        opened = self.wait_signal("ShotOpened", lambda p: p[0] == self.shot(3))
        self.assertEqual(opened[5] - opened[3], 6 * 1000000)
        self.assertEqual(self.wait_closed(self.shot(3))[1], "timeout")
        self.wait(lambda: "Shot %s leaves memory" % self.shot(3) in self.log_text(), what="shot 3 retired")
        # ... while shots 1 and 2 keep their 600 s: a late file still joins shot 2.
        self.assertNotIn("Shot %s leaves memory" % self.shot(2), self.log_text())
        self.assertNotIn("Shot %s leaves memory" % self.shot(1), self.log_text())
        late = self.drop("B", "b2late.tif", 101.0)
        self.assertEqual(self.wait_fate(late), "assigned:" + self.shot(2))
        self.assertTrue(self.wait_signal("ImageAssigned", lambda p: p[2] == late)[4])

    def test_raw_root_refused_while_shots_open(self):
        """The defect: RawRoot changed while a shot collects used to publish
        the other root's file under the old shot. Refused with an error naming
        the key while any shot is in memory; applied once none is; never
        mixed."""
        self.late_grace = 0.5
        self.write_config()
        raw1 = self.raw
        raw2 = os.path.join(self.tmp, "raw2")
        for cam in self.folders:
            os.makedirs(os.path.join(raw2, cam, DATE))
        self.start_daemon()
        self.drop("A", "shot1.tif", 0.0, data=b"raw1 trigger")
        self.wait_signal("ShotOpened")
        # Another file of the same relative path and mtime in raw2.
        other = os.path.join(raw2, "A", DATE, "shot1.tif")
        with open(other, "wb") as f:
            f.write(b"raw2, another file")
        st = os.stat(os.path.join(raw1, "A", DATE, "shot1.tif"))
        os.utime(other, ns=(st.st_mtime_ns, st.st_mtime_ns))
        self.raw = raw2
        self.write_config()
        err = self.call_error("Reload")
        self.assertEqual(err, ERR + "ShotsOpen")
        self.assertIn("RawRoot", self.log_text())
        self.assertEqual(self.get_property("RawRoot"), raw1)
        self.raw = raw1
        self.drop("B", "b1.tif", 0.5)
        self.wait_closed(self.shot(1))
        self.wait(lambda: self.has_manifest(self.shot(1)))
        m = self.check_published(self.shot(1))
        self.assertTrue(all(f["raw_path"].startswith(raw1 + "/") for f in m["files"]))
        trig = [f for f in m["files"] if f["camera"] == "A"][0]
        with open(trig["clean_path"], "rb") as f:
            self.assertEqual(f.read(), b"raw1 trigger")

        # Grace over, shot released: now it applies, and the new root is new.
        self.wait(lambda: self.get_property("OpenShots") == [] and "leaves memory" in self.log_text(),
                  what="shot 1 released")
        self.raw = raw2
        self.wait(lambda: self.try_reload(), what="RawRoot applied once no shot is in memory")
        self.assertEqual(self.get_property("RawRoot"), raw2)
        # The new root is new: its shot1.tif opens shot 2 (nothing of raw1 applies).
        self.drop("B", "b2.tif", 0.5)
        closed = self.wait_closed(self.shot(2))
        self.assertEqual(closed[1], "complete")
        m = self.check_published(self.shot(2))
        self.assertTrue(all(f["raw_path"].startswith(raw2 + "/") for f in m["files"]))
        trig = [f for f in m["files"] if f["camera"] == "A"][0]
        with open(trig["clean_path"], "rb") as f:
            self.assertEqual(f.read(), b"raw2, another file")
        # And after a restart it stays so: raw1's forgotten files are gone.
        self.stop_daemon()
        self.start_daemon()
        self.wait_initial_scan()
        self.assertEqual(self.get_property("OpenShots"), [])
        self.assertFalse(self.has_manifest(self.shot(3)))

    def try_reload(self):
        self.write_config()
        try:
            self.call("Reload")
            return True
        except Exception:
            return False

    def test_invalid_values_change_nothing(self):
        """A FullWindowSec below the floor used to pass validation and fail
        later, unnamed, while the property showed the new value."""
        self.start_daemon()
        self.drop("A", "shot1.tif", 0.0)
        self.wait_signal("ShotOpened")
        self.window = 1e-10
        self.write_config()
        self.assertEqual(self.call_error("Reload"), ERR + "InvalidConfig")
        self.assertIn("FullWindowSec=1e-10: must be at least 0.001 s", self.log_text())
        self.assertEqual(self.get_property("FullWindowSec"), 10.0)
        self.drop("B", "b1.tif", 4.0)
        self.assertEqual(self.wait_closed(self.shot(1))[1], "complete")


if __name__ == "__main__":
    main()
