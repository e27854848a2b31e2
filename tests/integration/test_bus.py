#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""SPEC §4 on the wire: every method, signal and property of the real
shotsyncd on a private system bus whose configuration includes the
project's policy file, on real scenarios."""

import grp
import os
import subprocess
import time
import xml.etree.ElementTree as ET

from gi.repository import Gio, GLib

from shotsynctest import (BUS_IFACE, BUS_NAME, BUS_PATH, DAEMON, DATE, SLOWDOWN, SOURCE_DIR, T0, ShotsyncTestCase,
                          main)

ERR = "org.shotsync.Shotsync1.Error."


def usec(offset):
    # As the harness sets mtimes: nanoseconds, then truncated to µs.
    return int(round((T0 + offset) * 1e9)) // 1000


class TestBus(ShotsyncTestCase):
    def test_properties(self):
        self.start_daemon()
        self.assertRegex(self.get_property("Version"), r"^\d+\.\d+")
        self.assertEqual(self.get_property("State"), "running")
        self.assertEqual(self.get_property("RawRoot"), self.raw)
        self.assertEqual(self.get_property("CleanRoot"), self.clean)
        self.assertEqual(self.get_property("FullWindowSec"), 10.0)
        self.assertEqual(self.get_property("TimeoutSec"), 30.0)
        self.assertEqual(self.get_property("Cameras"), ["Trig", "A", "B"])
        self.assertEqual(self.get_property("TriggerCameras"), ["Trig"])
        self.assertEqual(self.get_property("OpenShots"), [])
        self.assertEqual(self.get_property("LastShot"), "")
        self.assertEqual(self.get_property("NextShotNumber"), 1)
        self.assertEqual(self.get_property("Rescans"), 0)
        # Rule 14: nothing learned yet, every camera on the trigger's clock.
        self.assertEqual(self.get_property("CameraClocks"), {c: (0, 0, 0) for c in ("Trig", "A", "B")})
        self.assertEqual(self.get_property("CameraClockChanges"), {})
        props = self.conn.call_sync(BUS_NAME, BUS_PATH, "org.freedesktop.DBus.Properties", "GetAll",
                                    GLib.Variant("(s)", (BUS_IFACE,)), None, Gio.DBusCallFlags.NONE, 5000,
                                    None).unpack()[0]
        self.assertEqual(set(props), {"Version", "State", "RawRoot", "CleanRoot", "FullWindowSec", "TimeoutSec",
                                      "Cameras", "TriggerCameras", "OpenShots", "LastShot", "NextShotNumber",
                                      "Rescans", "ClockSynchronized", "ClockErrorUsec",
                                      "CameraClocks", "CameraClockChanges"})
        # The kernel's view of the clock (adjtimex), whatever it is here.
        self.assertIsInstance(props["ClockSynchronized"], bool)
        self.assertIsInstance(props["ClockErrorUsec"], int)

    def test_complete_shot_signals(self):
        self.start_daemon()
        t = self.drop("Trig", "shot1.tif", 0.0)
        a = self.drop("A", "a.tif", 1.25)
        b = self.drop("B", "b.tif", -0.5)
        closed = self.wait_closed(self.shot(1))
        opened = self.signals.find("ShotOpened")
        self.assertEqual(opened, (self.shot(1), "Trig", t, usec(0), usec(-5), usec(5), ["Trig", "A", "B"]))
        names = [n for n, p in self.signals.items if n in ("ShotOpened", "ImageAssigned", "ShotClosed")]
        self.assertEqual(names, ["ShotOpened", "ImageAssigned", "ImageAssigned", "ImageAssigned", "ShotClosed"])
        assigned = self.signals.named("ImageAssigned")
        self.assertEqual(assigned[0], (self.shot(1), "Trig", t, usec(0), False))
        self.assertEqual(assigned[1], (self.shot(1), "A", a, usec(1.25), False))
        self.assertEqual(assigned[2], (self.shot(1), "B", b, usec(-0.5), False))
        sid, status, images, missing = closed
        self.assertEqual((sid, status, missing), (self.shot(1), "complete", []))
        self.assertEqual(set(images), {"Trig", "A", "B"})
        for cam, path in images.items():
            self.assertTrue(os.path.exists(path), path)  # published before ShotClosed
        self.assertEqual(self.get_property("LastShot"), self.shot(1))
        self.assertTrue(any("LastShot" in c for c, _ in self.signals.props))

    def test_timeout_listshots_getshot(self):
        self.timeout = 6
        self.write_config()
        self.start_daemon()
        self.drop("Trig", "shot1.tif", 0.0)
        self.drop("A", "a.tif", 1.0)
        self.wait_signal("ImageAssigned", lambda p: p[1] == "A")
        self.assertEqual(self.get_property("OpenShots"), [self.shot(1)])
        self.assertEqual(self.call("ListShots", (DATE, True), "(sb)")[0], [(self.shot(1), "collecting", 2, 1)])
        live = self.call("GetShot", (self.shot(1),), "(s)")[0]
        self.assertEqual(live["status"], "collecting")
        self.assertEqual(live["missing"], ["B"])
        closed = self.wait_closed(self.shot(1), timeout=30)
        self.assertEqual(closed[1:], ("timeout", closed[2], ["B"]))
        self.assertEqual(set(closed[2]), {"Trig", "A"})
        self.assertEqual(self.call("ListShots", (DATE, False), "(sb)")[0], [(self.shot(1), "timeout", 2, 1)])
        self.assertEqual(self.call("ListShots", (DATE, True), "(sb)")[0], [])
        got = self.call("GetShot", (self.shot(1),), "(s)")[0]
        self.assertEqual(got["id"], self.shot(1))
        self.assertEqual(got["number"], 1)
        self.assertEqual(got["trigger"]["camera"], "Trig")
        self.assertEqual(got["trigger"]["time"], usec(0))
        self.assertEqual(got["window"], {"start": usec(-5), "end": usec(5)})
        self.assertEqual(sorted(f["camera"] for f in got["files"]), ["A", "Trig"])
        self.assertEqual(len(got["files"][0]["sha256"]), 64)
        self.assertEqual(got["missing"], ["B"])
        self.assertEqual(self.get_property("OpenShots"), [])

    def test_late_file_updates_shot(self):
        self.timeout = 6
        self.write_config()
        self.start_daemon()
        self.drop("Trig", "shot1.tif", 0.0)
        self.drop("A", "a.tif", 1.0)
        self.wait_closed(self.shot(1), timeout=30)
        self.drop("B", "b.tif", 2.0)
        upd = self.wait_signal("ShotUpdated")
        self.assertEqual(self.signals.find("ImageAssigned", lambda p: p[1] == "B")[4], True)
        self.assertEqual(upd[0], self.shot(1))
        self.assertEqual(upd[1], "timeout")
        self.assertEqual(upd[3], [])
        self.assertEqual(set(upd[2]), {"Trig", "A", "B"})
        self.assertEqual(len(self.signals.named("ShotClosed")), 1)

    def test_orphan_and_duplicate(self):
        self.start_daemon()
        o = self.drop("A", "early.tif", 100.0)
        orphan = self.wait_signal("ImageOrphaned")
        self.assertEqual(orphan, ("A", o, usec(100.0)))
        self.drop("Trig", "shot.tif", 0.0)
        self.drop("A", "a1.tif", 1.0)
        d = self.drop("A", "a2.tif", 2.0)
        ign = self.wait_signal("ImageIgnored")
        self.assertEqual(ign, ("A", d, "duplicate"))

    def test_ignored_keyword(self):
        self.start_daemon()
        p = self.drop("A", "align_0001.tif", 1.0)
        self.assertEqual(self.wait_signal("ImageIgnored"), ("A", p, "keyword"))

    def test_pause_resume(self):
        self.start_daemon()
        self.call("Pause")
        self.assertEqual(self.get_property("State"), "paused")
        self.wait(lambda: any(c.get("State") == "paused" for c, _ in self.signals.props), what="State change")
        p = self.drop("Trig", "shot-during-pause.tif", 0.0)
        self.assertEqual(self.wait_signal("ImageIgnored"), ("Trig", p, "paused"))
        self.assertIsNone(self.signals.find("ShotOpened"))
        self.call("Resume")
        self.assertEqual(self.get_property("State"), "running")
        self.drop("Trig", "shot2.tif", 100.0)
        self.assertEqual(self.wait_signal("ShotOpened")[0], self.shot(1))

    def test_next_shot_number(self):
        self.start_daemon()
        self.call("SetNextShotNumber", (DATE, 40), "(su)")
        self.drop("Trig", "shot.tif", 0.0)
        self.assertEqual(self.wait_signal("ShotOpened")[0], self.shot(40))
        self.assertEqual(self.call_error("SetNextShotNumber", (DATE, 40), "(su)"), ERR + "ShotExists")
        self.assertEqual(self.call_error("SetNextShotNumber", ("2025-12-11", 3), "(su)"),
                         "org.freedesktop.DBus.Error.InvalidArgs")
        self.assertEqual(self.call_error("SetNextShotNumber", (DATE, 0), "(su)"),
                         "org.freedesktop.DBus.Error.InvalidArgs")
        self.call("SetNextShotNumber", ("", 7), "(su)")  # today
        self.assertEqual(self.get_property("NextShotNumber"), 7)

    def test_next_shot_number_at_midnight(self):
        # A zone whose midnight comes a few seconds from now: the number of
        # today's next shot must change on its own, announced.
        lead = 6 * SLOWDOWN
        midnight = int(time.time() + lead)
        offset = -midnight % 86400
        old_tz = os.environ["TZ"]
        os.environ["TZ"] = "SYN-%02d:%02d:%02d" % (offset // 3600, offset // 60 % 60, offset % 60)
        self.addCleanup(os.environ.__setitem__, "TZ", old_tz)
        self.start_daemon()
        self.call("SetNextShotNumber", ("", 7), "(su)")
        self.assertLess(time.time(), midnight, "the daemon took longer than %g s to start" % lead)
        self.assertEqual(self.get_property("NextShotNumber"), 7)
        changed = self.wait(lambda: [c for c, _ in self.signals.props if c.get("NextShotNumber") == 1],
                            lead + 10 * SLOWDOWN, "NextShotNumber announced at midnight")
        self.assertGreaterEqual(time.time(), midnight)
        self.assertEqual(len(changed), 1)
        self.assertEqual(self.get_property("NextShotNumber"), 1)

    def test_metadata(self):
        self.start_daemon()
        # On an open shot: kept until the manifest is written.
        self.drop("Trig", "shot.tif", 0.0)
        self.wait_signal("ShotOpened")
        self.call("SetShotMetadata", (self.shot(1), {"laser_energy": "1.2 J", "gas": "He"}), "(sa{ss})")
        self.drop("A", "a.tif", 0.0)
        self.drop("B", "b.tif", 0.0)
        self.wait_closed(self.shot(1))
        self.assertEqual(self.manifest(self.shot(1))["metadata"], {"gas": "He", "laser_energy": "1.2 J"})
        # On a closed shot: the manifest is rewritten and ShotUpdated sent.
        self.call("SetShotMetadata", (self.shot(1), {"pressure": "3 bar"}), "(sa{ss})")
        self.wait_signal("ShotUpdated")
        self.wait(lambda: "pressure" in self.manifest(self.shot(1))["metadata"])
        self.assertEqual(self.call("GetShot", (self.shot(1),), "(s)")[0]["metadata"]["pressure"], "3 bar")
        self.assertEqual(self.call_error("SetShotMetadata", (DATE + "-099", {"a": "b"}), "(sa{ss})"),
                         ERR + "NoSuchShot")
        self.assertEqual(self.call_error("SetShotMetadata", ("../../etc", {"a": "b"}), "(sa{ss})"),
                         "org.freedesktop.DBus.Error.InvalidArgs")
        self.assertEqual(self.call_error("SetShotMetadata", (self.shot(1), {"": "b"}), "(sa{ss})"),
                         "org.freedesktop.DBus.Error.InvalidArgs")
        huge = {"k%d" % i: "v" for i in range(1000)}
        self.assertEqual(self.call_error("SetShotMetadata", (self.shot(1), huge), "(sa{ss})"),
                         "org.freedesktop.DBus.Error.InvalidArgs")

    def test_metadata_on_old_shot_from_disk(self):
        self.late_grace = 0
        self.write_config()
        self.start_daemon()
        self.drop("Trig", "shot.tif", 0.0)
        self.drop("A", "a.tif", 0.0)
        self.drop("B", "b.tif", 0.0)
        self.wait_closed(self.shot(1))
        self.stop_daemon()
        self.start_daemon()
        self.assertEqual(self.get_property("LastShot"), self.shot(1))  # kept across restarts
        self.call("SetShotMetadata", (self.shot(1), {"note": "re-aligned"}), "(sa{ss})")
        upd = self.wait_signal("ShotUpdated")
        self.assertEqual(set(upd[2]), {"Trig", "A", "B"})
        self.assertEqual(self.manifest(self.shot(1))["metadata"], {"note": "re-aligned"})
        self.assertEqual(self.call("GetShot", (self.shot(1),), "(s)")[0]["metadata"], {"note": "re-aligned"})
        self.assertEqual(self.call_error("GetShot", (DATE + "-002",), "(s)"), ERR + "NoSuchShot")

    def test_reload_keeps_open_shots(self):
        self.start_daemon()
        self.drop("Trig", "shot.tif", 0.0)
        self.wait_signal("ShotOpened")
        self.window = 20
        self.write_config()
        self.call("Reload")
        self.assertEqual(self.get_property("FullWindowSec"), 20.0)
        self.assertEqual(self.get_property("OpenShots"), [self.shot(1)])
        self.wait(lambda: any("FullWindowSec" in c for c, _ in self.signals.props), what="PropertiesChanged")
        self.drop("A", "a.tif", 1.0)
        self.drop("B", "b.tif", 2.0)
        self.wait_closed(self.shot(1))
        # Broken configuration: refused, the running one stays.
        with open(self.config_path, "a") as f:
            f.write("\n[Nonsense]\nKey=1\n")
        err = self.call_error("Reload")
        self.assertEqual(err, ERR + "InvalidConfig")
        self.assertEqual(self.get_property("FullWindowSec"), 20.0)
        self.assertIsNone(self.daemon.poll())

    def test_fire_without_cameras(self):
        self.start_daemon()
        self.assertEqual(self.call_error("Fire"), ERR + "NoCameras")
        self.assertEqual(self.call_error("FireAt", (time.time_ns() // 1000 + 500000,), "(t)"), ERR + "NoCameras")
        self.assertEqual(self.call("ListCameras")[0], [])

    def test_wrong_types_and_unknown_members(self):
        self.start_daemon()
        self.assertEqual(self.call_error("GetShot", (5,), "(u)"), "org.freedesktop.DBus.Error.InvalidArgs")
        self.assertEqual(self.call_error("ListShots", ("x",), "(s)"), "org.freedesktop.DBus.Error.InvalidArgs")
        self.assertEqual(self.call_error("ListShots", ("2025133", False), "(sb)"),
                         "org.freedesktop.DBus.Error.InvalidArgs")
        self.assertEqual(self.call_error("Explode"), "org.freedesktop.DBus.Error.UnknownMethod")
        self.assertEqual(self.call_error("GetShot", ("20251211-001/../../x",), "(s)"),
                         "org.freedesktop.DBus.Error.InvalidArgs")
        self.assertIsNone(self.daemon.poll())

    def test_invalid_utf8_path_is_escaped(self):
        self.start_daemon()
        folder = os.path.join(self.raw, "Trig", DATE).encode()
        tmp = os.path.join(folder, b".tmp")
        with open(tmp, "wb") as f:
            f.write(b"x")
        ns = int(T0 * 1e9)
        os.utime(tmp, ns=(ns, ns))
        os.rename(tmp, os.path.join(folder, b"shot\xff\\x.tif"))
        opened = self.wait_signal("ShotOpened")
        self.assertTrue(opened[2].endswith("shot\\xff\\\\x.tif"), opened[2])
        assigned = self.wait_signal("ImageAssigned")
        self.assertTrue(assigned[2].endswith("shot\\xff\\\\x.tif"), assigned[2])

    def test_introspection_matches_xml(self):
        self.start_daemon()
        live = self.conn.call_sync(BUS_NAME, BUS_PATH, "org.freedesktop.DBus.Introspectable", "Introspect", None,
                                   None, Gio.DBusCallFlags.NONE, 5000, None).unpack()[0]

        def members(xml_text):
            node = ET.fromstring(xml_text)
            iface = [i for i in node.iter("interface") if i.get("name") == BUS_IFACE][0]
            out = set()
            for m in iface:
                if m.tag == "method":
                    args = tuple((a.get("name"), a.get("type"), a.get("direction", "in")) for a in m.iter("arg"))
                    out.add(("method", m.get("name"), args))
                elif m.tag == "signal":
                    args = tuple((a.get("name"), a.get("type")) for a in m.iter("arg"))
                    out.add(("signal", m.get("name"), args))
                elif m.tag == "property":
                    out.add(("property", m.get("name"), m.get("type"), m.get("access")))
            return out

        with open(os.path.join(SOURCE_DIR, "dbus", "org.shotsync.Shotsync1.xml")) as f:
            documented = members(f.read())
        self.assertEqual(members(live), documented)

    def test_name_taken(self):
        self.start_daemon()
        env = self.daemon_env()
        env["STATE_DIRECTORY"] = os.path.join(self.tmp, "state2")
        p = subprocess.run([DAEMON, "--config", self.config_path], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("already owned", p.stderr.decode())

    def unprivileged(self, groups, *args):
        """busctl as nobody, optionally with supplementary groups."""
        os.chmod(self.tmp, 0o755)
        os.chmod(self.bus.dir, 0o755)
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup"]
        cmd += ["--groups=" + ",".join(groups)] if groups else ["--clear-groups"]
        cmd += ["busctl", "--address=" + self.bus.address, "--timeout=10"] + list(args)
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)

    def test_access_control(self):
        if os.geteuid() != 0:
            self.skipTest("needs root for setpriv")
        # Made by the harness before the bus loaded its policy.
        grp.getgrnam("shotsync")
        self.start_daemon()
        base = ["call", BUS_NAME, BUS_PATH, BUS_IFACE]
        for args in (["Pause"], ["Resume"], ["Reload"], ["Fire"], ["FireAt", "t", str(time.time_ns() // 1000 + 10**7)],
                     ["SetNextShotNumber", "su", DATE, "5"],
                     ["SetShotMetadata", "sa{ss}", self.shot(1), "1", "k", "v"]):
            p = self.unprivileged(None, *(base + args))
            self.assertNotEqual(p.returncode, 0, args)
            self.assertIn("Access denied", p.stderr.decode(), args)
        for args in (["ListShots", "sb", DATE, "false"], ["ListCameras"], ["GetShot", "s", self.shot(1)]):
            p = self.unprivileged(None, *(base + args))
            self.assertNotIn("Access denied", p.stderr.decode(), args)
        p = self.unprivileged(None, "get-property", BUS_NAME, BUS_PATH, BUS_IFACE, "State")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('"running"', p.stdout.decode())
        p = self.unprivileged(None, "introspect", BUS_NAME, BUS_PATH)
        self.assertEqual(p.returncode, 0, p.stderr)
        # A member of group shotsync may.
        p = self.unprivileged(["shotsync"], *(base + ["Pause"]))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.get_property("State"), "paused")
        p = self.unprivileged(["shotsync"], *(base + ["Resume"]))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.get_property("State"), "running")

    def test_sigterm_exit_code(self):
        self.start_daemon()
        self.assertTrue(self.notify.seen("STATUS="))
        self.stop_daemon(expect=0)
        self.assertTrue(self.notify.seen("STOPPING=1"))


if __name__ == "__main__":
    main()
