#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What durability costs the lab, through the real daemon on a private bus,
every fsync kept, copy mode, folders under $TMPDIR (a disk by default):

  shot     the last file of a 4 x 1 MiB shot renamed in -> ShotClosed (sent
           once the manifest is on disk): p50/p99/max
  timeout  a shot missing a camera: TimeoutSec after its trigger's rename
           -> ShotClosed, how late after T the manifest is
  burst    12 cameras x N shots of small files renamed in back to back:
           from the end of the burst to the last manifest, and fsyncs per
           shot (counted by strace in a second run, whose time is not
           reported)

  SHOTSYNC_BUILD_DIR=build bench/bench-durability.py [--shots N] [--burst N] [--only shot|timeout|burst]"""

import argparse
import os
import re
import shutil
import subprocess
import time

from benchlib import pct  # noqa: E402
from shotsynctest import BUS_IFACE, BUS_PATH, DATE, T0, Gio, ShotsyncTestCase, wait_until  # noqa: E402


def fmt(name, ms):
    return "%-44s n=%-5d p50 %7.2f ms   p99 %7.2f ms   max %7.2f ms" % (name, len(ms), pct(ms, 50), pct(ms, 99),
                                                                          max(ms))


class Bench(ShotsyncTestCase):
    cameras = """
[Camera Trig]
Trigger=true
TriggerKeyword=shot

[Camera A]

[Camera B]

[Camera C]
"""
    folders = ("Trig", "A", "B", "C")

    def runTest(self):
        pass

    def listen(self):
        self.got = {}

        def on_signal(conn, sender, path, iface, name, params, data):
            now = time.monotonic_ns()
            p = params.unpack()
            if name in ("ShotClosed", "ShotOpened"):
                self.got.setdefault((name, p[0]), now)
        self.conn.signal_subscribe(None, BUS_IFACE, None, BUS_PATH, None, Gio.DBusSignalFlags.NONE, on_signal, None)

    def put(self, cam, name, t, data):
        folder = os.path.join(self.raw, cam, DATE)
        tmp = os.path.join(folder, "." + name + ".part")
        with open(tmp, "wb") as f:
            f.write(data)
        ns = int(round((T0 + t) * 1e9))
        os.utime(tmp, ns=(ns, ns))
        path = os.path.join(folder, name)
        os.rename(tmp, path)
        return time.monotonic_ns()

    def shots(self, n):
        """Each shot's files a few ms apart, the shot's last file measured;
        shots far apart in mtime."""
        data = os.urandom(1 << 20)
        out = []
        for i in range(n):
            t = 100.0 * i
            for cam, off in (("Trig", 0.0), ("A", 0.4), ("B", -0.3)):
                self.put(cam, "%s%05d.tif" % ("shot" if cam == "Trig" else cam.lower(), i), t + off, data)
                time.sleep(0.02)  # a sync client's pace, not a measurement
            last = self.put("C", "c%05d.tif" % i, t + 0.2, data)
            sid = "%s-%03d" % (DATE, i + 1)
            wait_until(lambda: ("ShotClosed", sid) in self.got, 20, "ShotClosed " + sid)
            out.append((self.got[("ShotClosed", sid)] - last) / 1e6)
        return out

    def timeouts(self, n, timeout_s):
        data = os.urandom(1 << 20)
        out = []
        base = 20000.0  # the same local day as the shots above
        for i in range(n):
            t = base + 100.0 * i
            # The shot opens as its trigger is renamed in: T counts from there
            # (the decision's fraction of a millisecond is in the figure).
            opened = self.put("Trig", "shot-t%05d.tif" % i, t, data)
            self.put("A", "a-t%05d.tif" % i, t + 0.4, data)
            self.put("B", "b-t%05d.tif" % i, t - 0.3, data)
            sid = "%s-%03d" % (DATE, self.first_timeout + i)
            wait_until(lambda: ("ShotClosed", sid) in self.got, 20 + timeout_s, "ShotClosed " + sid)
            out.append((self.got[("ShotClosed", sid)] - opened) / 1e6 - timeout_s * 1000)
        return out


class Burst(Bench):
    cameras = ""
    folders = tuple("Cam%02d" % i for i in range(12))


def burst(n_shots, strace=False):
    b = Burst()
    b.setUp()
    try:
        b.write_config(b.config_text().replace("[Watch]", "[Watch]\nTriggerCameras=Cam00"))
        b.start_daemon()
        b.listen()
        tracer = None
        if strace:
            out = os.path.join(b.tmp, "strace.txt")
            tracer = subprocess.Popen(["strace", "-f", "-c", "-o", out, "-e",
                                       "trace=fsync,fdatasync,syncfs,sync_file_range", "-p", str(b.daemon.pid)],
                                      stderr=subprocess.PIPE)
            # Attached once every thread of the daemon has a tracer.
            tasks = "/proc/%d/task" % b.daemon.pid

            def traced():
                for t in os.listdir(tasks):
                    with open(os.path.join(tasks, t, "status")) as f:
                        if "TracerPid:\t0\n" in f.read():
                            return False
                return True
            wait_until(traced, 10, "strace attached")
        # Written first, renamed in back to back: the burst is the renames.
        tmps = []
        for i in range(n_shots):
            for c in range(12):
                cam = "Cam%02d" % c
                name = ("shot%05d.tif" if c == 0 else "f%05d.tif") % i
                folder = os.path.join(b.raw, cam, DATE)
                tmp = os.path.join(folder, "." + name + ".part")
                with open(tmp, "wb") as f:
                    f.write(b"%d/%d\n" % (i, c))
                # 20 s apart: 2,000 shots stay on one local date.
                ns = int(round((T0 + 20.0 * i + 0.01 * c) * 1e9))
                os.utime(tmp, ns=(ns, ns))
                tmps.append((tmp, os.path.join(folder, name)))
        start = time.monotonic()
        for tmp, path in tmps:
            os.rename(tmp, path)
        renamed = time.monotonic()
        top = os.path.join(b.clean, "shots")

        def done():
            try:
                return sum(len(os.listdir(os.path.join(top, d))) for d in os.listdir(top)) >= n_shots
            except FileNotFoundError:
                return False
        wait_until(done, 600, "every manifest")
        finished = time.monotonic()
        fsyncs = None
        if tracer:
            tracer.send_signal(subprocess.signal.SIGINT)
            tracer.wait(30)
        b.stop_daemon()
        if strace:
            with open(os.path.join(b.tmp, "strace.txt")) as f:
                text = f.read()
            fsyncs = {m.group(2): int(m.group(1)) for m in re.finditer(
                r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync|syncfs)$", text, re.M)}
        return renamed - start, finished - renamed, fsyncs
    finally:
        b.tearDown()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shots", type=int, default=100, help="4 x 1 MiB shots measured (default 100)")
    ap.add_argument("--timeouts", type=int, default=30, help="timed-out shots measured (default 30)")
    ap.add_argument("--burst", type=int, default=2000, help="shots of 12 small files in the burst (default 2000)")
    ap.add_argument("--only", choices=("shot", "timeout", "burst"))
    args = ap.parse_args()
    print("shotsyncd durability, copy mode, every fsync kept, under %s" % os.environ.get("TMPDIR", "/tmp"))

    if args.only in (None, "shot", "timeout"):
        b = Bench()
        b.timeout = 1.5
        b.window = 2
        b.setUp()
        try:
            b.write_config()
            b.start_daemon()
            b.listen()
            if args.only in (None, "shot"):
                print("  " + fmt("last of 4 x 1 MiB -> ShotClosed (manifest)", b.shots(args.shots)))
            if args.only in (None, "timeout"):
                b.first_timeout = (args.shots if args.only is None else 0) + 1
                print("  " + fmt("T -> ShotClosed of a timed-out shot", b.timeouts(args.timeouts, b.timeout)))
            b.stop_daemon()
        finally:
            b.tearDown()

    if args.only in (None, "burst") and args.burst > 0:
        took, after, _ = burst(args.burst)
        print("  burst of %d files (%d shots x 12 cameras) renamed in %.2f s; every manifest %.2f s after the "
              "last rename" % (12 * args.burst, args.burst, took, after))
        if shutil.which("strace"):
            n = min(args.burst, 500)
            _, _, fsyncs = burst(n, strace=True)
            if fsyncs is not None:
                print("  per shot of 12 files (strace, %d shots): %.1f fdatasync (file data: staged copies, "
                      "manifests, state commits), %.1f fsync (folders), %.1f syncfs" %
                      (n, fsyncs.get("fdatasync", 0) / n, fsyncs.get("fsync", 0) / n, fsyncs.get("syncfs", 0) / n))


if __name__ == "__main__":
    main()
