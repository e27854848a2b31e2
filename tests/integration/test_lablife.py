#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What a lab meets over months (SPEC §2 rule 15): file identity is path
and mtime, nothing eligible is dropped silently, the last mtime groups a
file, restarts neither re-publish nor time out too early, the service's own
downloads are grouped, and a stalled service manager never stalls the
daemon."""

import hashlib
import os
import socket
import subprocess
import time

from fakecams import FakecamMixin
from shotsynctest import DAEMON, DAEMON_WRAPPER, DATE, ShotsyncTestCase, T0, main, sha256_file, wait_until


class TestLabLife(ShotsyncTestCase):
    def test_name_used_again_is_a_new_file(self):
        """The defect: a camera's counter restarts (or the sync client
        replaces a file) and a new image arrives under a path that opened a
        shot: it used to be ignored forever, silently. Path and mtime make a
        file: it opens its own shot, said on the bus and in the journal."""
        self.start_daemon()
        first = self.drop("Trig", "shot_0001.tif", 0.0, data=b"first image")
        self.drop("A", "a1.tif", 0.5)
        self.drop("B", "b1.tif", 0.7)
        self.wait_closed(self.shot(1))
        again = self.drop("Trig", "shot_0001.tif", 120.0, data=b"second image, same name")
        self.assertEqual(first, again)
        opened = self.wait_signal("ShotOpened", lambda p: p[0] == self.shot(2))
        self.assertEqual(opened[2], again)
        self.drop("A", "a2.tif", 120.5)
        self.drop("B", "b2.tif", 120.7)
        self.wait(lambda: self.has_manifest(self.shot(2)))
        m1, m2 = self.manifest(self.shot(1)), self.manifest(self.shot(2))
        t1 = [f for f in m1["files"] if f["camera"] == "Trig"][0]
        t2 = [f for f in m2["files"] if f["camera"] == "Trig"][0]
        self.assertEqual(t1["sha256"], hashlib.sha256(b"first image").hexdigest())
        self.assertEqual(t2["sha256"], hashlib.sha256(b"second image, same name").hexdigest())
        self.assertIn("Shot %s opened by a trigger from Trig" % self.shot(2), self.log_text())
        # The old version is still the one of shot 1, and known after a restart.
        self.stop_daemon()
        self.start_daemon()
        self.wait_initial_scan()
        self.assertEqual(self.get_property("OpenShots"), [])
        self.assertFalse(self.has_manifest(self.shot(3)))

    def test_last_mtime_groups(self):
        """The watch mask had no IN_ATTRIB: a client that writes, closes,
        then sets the mtime (cp then touch, some SMB clients) was grouped by
        the mtime it had on close."""
        self.start_daemon()
        self.drop("Trig", "shot1.tif", 0.0)
        self.wait_signal("ShotOpened")
        path = os.path.join(self.raw, "A", DATE, "a.tif")
        ns_close = int((T0 + 500) * 1e9)  # no window's
        ns_final = int((T0 + 1) * 1e9)    # shot 1's
        with open(path, "wb") as f:
            f.write(b"copied")
            os.utime(f.fileno(), ns=(ns_close, ns_close))
        os.utime(path, ns=(ns_final, ns_final))  # the touch, after close
        self.assertEqual(self.wait_fate(path), "assigned:" + self.shot(1))
        a = self.wait_signal("ImageAssigned", lambda p: p[2] == path)
        self.assertEqual(a[3], int((T0 + 1) * 1e6))
        self.assertEqual(self.fates(path), ["assigned:" + self.shot(1)])

        # Touched again once decided: a new identity, decided too (a
        # duplicate of shot 1 here), never silent.
        ns_again = int((T0 + 2) * 1e9)
        os.utime(path, ns=(ns_again, ns_again))
        self.wait(lambda: len(self.fates(path)) == 2, what="the touched file decided")
        self.assertEqual(self.fates(path), ["assigned:" + self.shot(1), "ignored:duplicate"])

    def test_leftover_duplicates_said_when_shot_closes(self):
        """Two images of A arrived before the trigger; the shot takes the
        nearer, and the other is a duplicate of it, said when the shot
        closes (rule 15), not left an orphan for a day."""
        self.start_daemon()
        far = self.drop("A", "far.tif", -4.0)
        near = self.drop("A", "near.tif", -1.0)
        self.wait(lambda: self.fate(far) and self.fate(near), what="two orphans")
        self.drop("Trig", "shot1.tif", 0.0)
        self.drop("B", "b.tif", 0.5)
        self.wait_closed(self.shot(1))
        self.wait(lambda: "ignored:duplicate" in self.fates(far), what="far.tif said a duplicate")
        self.assertEqual(self.fates(far), ["orphan", "ignored:duplicate"])
        self.assertEqual(self.fates(near), ["orphan", "assigned:" + self.shot(1)])

    def test_restart_keeps_what_is_published(self):
        """After a restart the first late file re-copied every file of its
        shot; a raw file changed since was then refused and the rewritten
        manifest dropped an already-published file."""
        self.timeout = 6
        self.write_config()
        self.start_daemon()
        self.drop("Trig", "shot1.tif", 0.0)
        a = self.drop("A", "a.tif", 0.5, data=b"A as published")
        closed = self.wait_closed(self.shot(1))
        self.assertEqual(closed[3], ["B"])
        m = self.manifest(self.shot(1))
        published = {f["camera"]: f for f in m["files"]}
        self.stop_daemon()
        # The lab's sync client rewrites A's raw file (same mtime) while the
        # service is stopped.
        st = os.stat(a)
        with open(a, "wb") as f:
            f.write(b"A rewritten later")
        os.utime(a, ns=(st.st_mtime_ns, st.st_mtime_ns))
        self.start_daemon()
        self.drop("B", "b.tif", 0.7)
        self.wait_signal("ShotUpdated", lambda p: p[0] == self.shot(1))
        m = self.manifest(self.shot(1))
        files = {f["camera"]: f for f in m["files"]}
        self.assertEqual(sorted(files), ["A", "B", "Trig"])
        self.assertEqual(files["A"]["sha256"], published["A"]["sha256"])
        self.assertEqual(files["A"]["clean_path"], published["A"]["clean_path"])
        self.assertEqual(sha256_file(files["A"]["clean_path"]), published["A"]["sha256"])
        self.assertEqual(m["missing"], [])
        self.assertNotIn("already exists with other content", self.log_text())

    def test_restored_shot_waits_for_the_startup_scan(self):
        """A shot collecting when the service stopped, whose timeout passed
        while it was down: the files that arrived meanwhile are delivered by
        the start-up scan before it may time out."""
        self.timeout = 5.5
        self.write_config()
        self.start_daemon()
        self.drop("Trig", "shot1.tif", 0.0)
        self.drop("A", "a.tif", 0.5)
        self.wait_signal("ImageAssigned", lambda p: p[2].endswith("a.tif"))
        stopped = time.monotonic()
        self.stop_daemon()
        self.drop("B", "b.tif", 0.7, how="quiet")
        # A tree whose start-up scan takes a while (years of other files).
        bulk = os.path.join(self.raw, "Archive")
        os.makedirs(bulk)
        for i in range(20000):
            open(os.path.join(bulk, "%05d.dat" % i), "wb").close()
        # Down past the shot's deadline.
        wait_until(lambda: time.monotonic() - stopped > 6, what="the deadline passing while the service is down")
        self.start_daemon()
        closed = self.wait_closed(self.shot(1))
        self.assertEqual((closed[1], closed[3]), ("complete", []))

    def test_stalled_notify_socket_never_stalls_the_loop(self):
        """sd_notify() blocks while the service manager's socket is full, and
        STATUS= went out on every flush: a busy or stalled systemd stalled
        the event loop. Notifications never block now, STATUS= is
        rate-limited, and what waited leaves once the socket drains."""
        path = os.path.join(self.tmp, "stalled-notify")
        stalled = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.bind(path)
        self.addCleanup(stalled.close)
        filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        filler.setblocking(False)
        self.addCleanup(filler.close)
        while True:
            try:
                filler.sendto(b"X" * 512, path)
            except BlockingIOError:
                break
        env = self.daemon_env()
        env["NOTIFY_SOCKET"] = path
        self.log = open(self.log_path, "ab")
        self.daemon = subprocess.Popen(DAEMON_WRAPPER + [DAEMON, "--config", self.config_path, "--log-level=debug"],
                                       env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.wait(self.bus_name_owned, what="the bus name, READY=1 not read")
        for i in range(30):
            self.drop("Trig", "shot%02d.tif" % i, 100.0 * i)
            self.drop("A", "a%02d.tif" % i, 100.0 * i + 0.5)
            self.drop("B", "b%02d.tif" % i, 100.0 * i + 0.7)
        self.wait(lambda: len(self.signals.named("ShotClosed")) == 30, what="30 shots while the socket is full")
        self.assertEqual(self.get_property("State"), "running")
        # The manager reads again: READY=1 comes, and far fewer STATUS= than
        # the hundreds of flushes.
        got = []
        stalled.setblocking(False)

        def drained():
            while True:
                try:
                    got.append(stalled.recv(4096))
                except BlockingIOError:
                    return any(m.startswith(b"READY=1") for m in got)
        self.wait(drained, what="READY=1 once the socket drains")
        mine = [m for m in got if not m.startswith(b"X")]
        self.assertEqual(mine[0], b"READY=1", mine[:3])
        self.assertLess(sum(1 for m in mine if m.startswith(b"STATUS=")), 10, mine)

    def bus_name_owned(self):
        try:
            return self.get_property("State") is not None
        except Exception:
            return False


class TestOwnDownloads(FakecamMixin, ShotsyncTestCase):
    window = 4
    timeout = 6

    def config_text(self):
        # Camera groups, none for the gphoto2 camera, and the default Files=:
        # its JPEG used to be "matches no Files= kind".
        return super().config_text().replace("Files=*.jpg\n", "") + """
[Camera Trig]
Trigger=true
"""

    def test_download_without_camera_group(self):
        cams = self.start_cams(1)
        self.start_daemon()
        self.wait(lambda: any(c[3] == "ready" for c in self.call("ListCameras")[0]), what="camera ready")
        shot_id, results = self.call("Fire")
        self.assertEqual([r[2] for r in results], ["ok"])
        serial = cams[0].serial
        a = self.wait_signal("ImageAssigned", lambda p: p[0] == shot_id and p[1] == serial)
        self.assertTrue(a[2].startswith(os.path.join(self.raw, serial) + "/"))
        self.assertFalse(any(p[0] == serial for p in self.signals.named("ImageIgnored")))
        self.wait(lambda: self.has_manifest(shot_id))
        m = self.manifest(shot_id)
        self.assertEqual([f["camera"] for f in m["files"]], [serial])
        self.assertEqual(m["files"][0]["sha256"], sha256_file(m["files"][0]["clean_path"]))


if __name__ == "__main__":
    main()
