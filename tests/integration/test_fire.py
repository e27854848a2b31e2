#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fire through real libgphoto2 against emulated PTP/IP cameras
(tests/fakecam): every camera fired at once, images downloaded into the raw
tree with the fire instant as mtime, the shot closing complete with them;
each fault of one camera gives an error for it alone within
CaptureTimeoutSec + 1 s while the daemon stays responsive (SPEC §4, §5)."""

import os
import signal
import time

from gi.repository import Gio, GLib

from fakecams import FakecamMixin
from shotsynctest import (BUS_IFACE, BUS_NAME, BUS_PATH, DEFAULT_TIMEOUT, ShotsyncTestCase, main,
                          wait_until)

ERROR = "org.shotsync.Shotsync1.Error."


class TestFire(FakecamMixin, ShotsyncTestCase):
    window = 4
    timeout = 6  # shots missing a faulty camera's image close soon

    def setUp(self):
        self.stdin = None
        super().setUp()

    # ---- helpers ----

    def start_with_cams(self, n, *args):
        self.start_cams(n, *args)
        self.start_daemon()
        self.wait_ready()
        self.stdin = self.daemon_fd0()
        return self.cams

    def daemon_fd0(self):
        try:
            return os.readlink("/proc/%d/fd/0" % self.daemon.pid)
        except FileNotFoundError:
            return None

    def stop_daemon(self, *args, **kwargs):
        # libgphoto2's PTP/IP exit closes fd 0 unless the daemon prevents it.
        if self.stdin is not None and self.daemon.poll() is None:
            self.assertEqual(self.daemon_fd0(), self.stdin, "the daemon's file descriptor 0")
        return super().stop_daemon(*args, **kwargs)

    def cameras_by_port(self):
        return {c[2]: c for c in self.call("ListCameras")[0]}

    def wait_ready(self, cams=None, timeout=DEFAULT_TIMEOUT):
        cams = cams or self.cams

        def ready():
            states = self.cameras_by_port()
            return all(states.get(c.port, ("", "", "", ""))[3] == "ready" for c in cams)
        self.wait(ready, timeout, "cameras ready: %s" % ", ".join(c.port for c in cams))

    def wait_state(self, cam, pred, what):
        return self.wait(lambda: pred(self.cameras_by_port()[cam.port][3]), what=what)

    def fire_async(self):
        """Sends Fire and returns a holder: [None] until the reply (or error) arrives."""
        holder = [None]

        def done(c, res, data):
            try:
                holder[0] = ("ok", c.call_finish(res).unpack(), time.monotonic())
            except GLib.Error as e:
                holder[0] = ("error", Gio.DBusError.get_remote_error(e) or e.message, time.monotonic())
        self.conn.call(BUS_NAME, BUS_PATH, BUS_IFACE, "Fire", None, None, Gio.DBusCallFlags.NONE, 60000, None, done,
                       None)
        return holder

    def fire(self):
        t0 = time.monotonic()
        h = self.fire_async()
        self.wait(lambda: h[0] is not None, what="the reply to Fire")
        kind, value, t1 = h[0]
        if kind == "error":
            raise AssertionError("Fire failed: %s" % value)
        shot, results = value
        return shot, {r[1]: r for r in results}, t1 - t0

    def captures(self):
        try:
            with open(self.cam_log) as f:
                return [line.split() for line in f if line.startswith("capture ")]
        except FileNotFoundError:
            return []

    def assert_ok(self, results, cams):
        for c in cams:
            r = results[c.port]
            self.assertEqual(r[0], c.serial, r)
            self.assertEqual(r[2], "ok", r)

    def check_fire(self, n):
        cams = self.start_with_cams(n)
        before = time.time_ns() // 1000
        shot, results, rtt = self.fire()
        after = time.time_ns() // 1000
        self.assertEqual(len(results), n)
        self.assert_ok(results, cams)

        # The signals: ShotOpened at the fire instant, before Fired; Fired
        # says what the reply said.
        fired = self.wait_signal("Fired", lambda p: p[0] == shot)
        self.assertEqual({r[1]: tuple(r) for r in fired[1]}, {k: tuple(v) for k, v in results.items()})
        opened = self.signals.find("ShotOpened", lambda p: p[0] == shot)
        self.assertIsNotNone(opened, "ShotOpened for %s" % shot)
        names = [(name, p[0]) for name, p in self.signals.items]
        self.assertLess(names.index(("ShotOpened", shot)), names.index(("Fired", shot)))
        self.assertEqual(opened[1], "")
        self.assertEqual(opened[2], "")
        t_usec = opened[3]
        self.assertTrue(before <= t_usec <= after, (before, t_usec, after))

        # Every image landed in RawRoot/<serial>/ with the fire instant as mtime.
        for c in cams:
            path = results[c.port][3]
            self.assertEqual(os.path.dirname(path), os.path.join(self.raw, c.serial), path)
            self.assertTrue(path.lower().endswith(".jpg"), path)
            st = os.stat(path)
            self.assertEqual(st.st_mtime_ns // 1000, t_usec, path)
            with open(path, "rb") as f:
                self.assertEqual(f.read(2), b"\xff\xd8", "a JPEG")
            self.assertEqual([x for x in os.listdir(os.path.dirname(path)) if x.startswith(".")], [])
        caps = self.captures()
        self.assertEqual(sorted(x[1] for x in caps), sorted(c.serial for c in cams))

        # The shot closes complete with every camera's image.
        closed = self.wait_closed(shot)
        self.assertEqual(closed[1], "complete", closed)
        m = self.manifest(shot)
        self.assertEqual(m["status"], "complete")
        self.assertEqual(sorted(f["camera"] for f in m["files"]), sorted(c.serial for c in cams))
        self.assertEqual(m["trigger"]["camera"], "")
        self.assertEqual(m["missing"], [])
        return shot, results, rtt

    def check_fault(self, spec, n=3):
        """One camera of n with a fault: an error for it within
        CaptureTimeoutSec + 1 s, the others ok; then fault none and it is
        used again."""
        cams = self.start_with_cams(n)
        bad = cams[0]
        bad.fault(spec)
        shot, results, rtt = self.fire()
        self.assertEqual(results[bad.port][2], "error", results[bad.port])
        self.assert_ok(results, cams[1:])
        self.assertLess(rtt, self.capture_timeout + 1.0, "Fire round trip")
        self.wait_signal("Fired", lambda p: p[0] == shot)
        # The shot still gets the images of the good cameras.
        closed = self.wait_closed(shot, timeout=self.timeout + 10)
        self.assertEqual(closed[1], "timeout")
        self.assertEqual(closed[3], [bad.serial])

        bad.fault("none")
        self.wait_ready()
        shot2, results2, _ = self.fire()
        self.assert_ok(results2, cams)
        self.assertNotEqual(shot, shot2)
        self.stop_daemon()
        return results[bad.port]

    # ---- tests ----

    def test_one_camera(self):
        self.check_fire(1)
        self.stop_daemon()

    def test_four_cameras(self):
        self.check_fire(4)
        self.stop_daemon()

    def test_eight_cameras(self):
        _, results, rtt = self.check_fire(8)
        # Nothing but the capture command between the release and its answer.
        for r in results.values():
            self.assertLess(r[4], 1000000, r)
        self.stop_daemon()

    def test_list_cameras(self):
        cams = self.start_with_cams(2)
        listed = self.cameras_by_port()
        self.assertEqual(len(listed), 2)
        for c in cams:
            self.assertEqual(listed[c.port], (c.serial, "Fakecam", c.port, "ready"))
        # SetClock=true: each camera's clock was set on connect.
        with open(self.cam_log) as f:
            clocks = {line.split()[1] for line in f if line.startswith("setclock ")}
        self.assertEqual(clocks, {c.serial for c in cams})
        self.stop_daemon()

    def test_fault_error(self):
        r = self.check_fault("error")
        self.assertIn("capture failed", r[3])

    def test_fault_delay(self):
        self.check_fault("delay %d" % int((self.capture_timeout + 1) * 1000))

    def test_fault_no_events(self):
        r = self.check_fault("no-events")
        self.assertIn("timeout", r[3])

    def test_fault_close(self):
        self.check_fault("close")

    def test_fault_hang(self):
        cams = self.start_with_cams(3)
        bad = cams[0]
        bad.fault("hang")
        t0 = time.monotonic()
        h = self.fire_async()
        opened = self.wait_signal("ShotOpened")
        # The daemon answers other calls while a camera hangs.
        s = time.monotonic()
        shot = self.call("GetShot", (opened[0],), "(s)")[0]
        self.assertEqual(shot["id"], opened[0])
        self.assertLess(time.monotonic() - s, 0.5, "GetShot while a camera hangs")
        for _ in range(3):
            s = time.monotonic()
            self.assertIsInstance(self.get_property("Version"), str)
            self.call("ListShots", ("", False), "(sb)")
            self.assertLess(time.monotonic() - s, 0.5, "a call while a camera hangs")
        self.wait(lambda: h[0] is not None, what="the reply to Fire")
        kind, (shot, results), t1 = h[0]
        self.assertLess(t1 - t0, self.capture_timeout + 1.0)
        results = {r[1]: r for r in results}
        self.assertEqual(results[bad.port][2], "error")
        self.assertIn("timeout", results[bad.port][3])
        self.assert_ok(results, cams[1:])
        self.assertNotEqual(self.cameras_by_port()[bad.port][3], "ready")

        # While it is still stuck, a new Fire skips it at once.
        shot2, results2, rtt2 = self.fire()
        self.assertEqual(results2[bad.port][2], "error")
        self.assert_ok(results2, cams[1:])
        self.assertLess(rtt2, 1.0)

        bad.fault("none")
        self.wait_ready()
        _, results3, _ = self.fire()
        self.assert_ok(results3, cams)
        self.stop_daemon()

    def test_busy(self):
        cams = self.start_with_cams(2)
        cams[0].fault("delay 1000")
        h = self.fire_async()
        # Fire is running (the slow camera holds it): a second one is refused.
        self.wait(lambda: self.signals.find("ShotOpened") is not None, what="ShotOpened")
        self.assertEqual(self.call_error("Fire"), ERROR + "Busy")
        self.wait(lambda: h[0] is not None, what="the reply to Fire")
        kind, (shot, results), _ = h[0]
        self.assert_ok({r[1]: r for r in results}, cams)
        self.assertGreaterEqual({r[1]: r for r in results}[cams[0].port][4], 900000)
        self.stop_daemon()

    def test_no_cameras(self):
        self.ports = ""
        self.write_config()
        self.start_daemon()
        self.assertEqual(self.call("ListCameras")[0], [])
        self.assertEqual(self.call_error("Fire"), ERROR + "NoCameras")
        self.stop_daemon()

    def test_ports_auto(self):
        # No USB camera here: detection finds none, hot-plug is watched (or
        # the daemon says it cannot), and Fire has nothing to fire.
        self.ports = "auto"
        self.write_config()
        self.start_daemon()
        self.assertEqual(self.call("ListCameras")[0], [])
        self.assertEqual(self.call_error("Fire"), ERROR + "NoCameras")
        self.call("Reload")
        self.assertEqual(self.call("ListCameras")[0], [])
        self.stop_daemon()

    def test_usb_port_absent(self):
        # An explicit USB port with nothing plugged in: listed, in error, not
        # fired; the other camera is fired as usual.
        self.start_cams(1)
        self.ports = "usb:250,250;" + self.cams[0].port
        self.write_config()
        self.start_daemon()
        self.wait_ready()
        self.wait(lambda: self.cameras_by_port()["usb:250,250"][3].startswith("error"), what="usb: in error")
        listed = self.cameras_by_port()["usb:250,250"]
        self.assertEqual(listed[0], "usb:250,250")
        self.assertIn("no USB device", listed[3])
        _, results, _ = self.fire()
        self.assertEqual(results["usb:250,250"][2], "error")
        self.assertIn("not fired", results["usb:250,250"][3])
        self.assert_ok(results, self.cams)
        self.stop_daemon()

    def test_camera_comes_back(self):
        cams = self.start_with_cams(2)
        gone = cams[1]
        _, results, _ = self.fire()
        self.assert_ok(results, cams)
        first = results[gone.port][3]
        self.assertTrue(first.endswith("/IMG_0001.JPG"), first)
        with open(first, "rb") as f:
            first_bytes = f.read()
        gone.stop(signal.SIGKILL)
        # The idle check notices the lost link without a Fire.
        self.wait_state(gone, lambda s: s != "ready", "the killed camera not ready")
        _, results, _ = self.fire()
        self.assertEqual(results[gone.port][2], "error")
        self.assert_ok(results, cams[:1])

        gone.start()
        self.wait_ready(timeout=45)
        _, results, _ = self.fire()
        self.assert_ok(results, cams)
        # The restarted camera counts from 1 again: the earlier raw file is
        # kept as it was, the new one gets another name.
        self.assertTrue(results[gone.port][3].endswith("/IMG_0001-2.JPG"), results[gone.port])
        with open(first, "rb") as f:
            self.assertEqual(f.read(), first_bytes)
        self.stop_daemon()

    def test_reload_ports(self):
        cams = self.start_with_cams(3)
        # Drop the last camera from the configuration.
        self.ports = ";".join(c.port for c in cams[:2])
        self.write_config()
        self.call("Reload")
        self.wait(lambda: set(self.cameras_by_port()) == {c.port for c in cams[:2]}, what="two cameras left")
        _, results, _ = self.fire()
        self.assertEqual(set(results), {c.port for c in cams[:2]})
        self.assert_ok(results, cams[:2])
        # And add it back.
        self.ports = None
        self.write_config()
        self.call("Reload")
        self.wait_ready()
        _, results, _ = self.fire()
        self.assert_ok(results, cams)
        self.stop_daemon()

    def test_stop_while_hanging(self):
        cams = self.start_with_cams(2)
        cams[0].fault("hang")
        h = self.fire_async()
        self.wait(lambda: self.signals.find("ShotOpened") is not None, what="ShotOpened")
        t0 = time.monotonic()
        self.stop_daemon(timeout=10)
        self.assertLess(time.monotonic() - t0, 6.0, "SIGTERM with a hanging camera")
        wait_until(lambda: h[0] is not None, 5, "the reply to Fire")
        # Answered before the bus goes. The stop cuts every busy camera's
        # link: the stuck one is in error ("capture failed", or "the daemon
        # is stopping" when not collected yet), the other may be too.
        kind, value, _ = h[0]
        self.assertEqual(kind, "ok", value)
        results = {r[1]: r for r in value[1]}
        self.assertEqual(set(results), {c.port for c in cams})
        self.assertEqual(results[cams[0].port][2], "error")
        self.assertRegex(results[cams[0].port][3], "the daemon is stopping|capture failed")


if __name__ == "__main__":
    main()
