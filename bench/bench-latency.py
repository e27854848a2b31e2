#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Latency through the real daemon on a private bus: from a file's rename
into a camera folder to the ImageAssigned signal received by a client, and
from the last file of a shot to ShotClosed (small files). Then the same with
50 extra monitoring clients connected. Prints p50/p99/max.

  SHOTSYNC_BUILD_DIR=build bench/bench-latency.py [N_SHOTS]   (default 350 shots = 1050 files)"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import shotsynctest  # noqa: E402
from shotsynctest import BUS_IFACE, BUS_PATH, DATE, T0, Gio, ShotsyncTestCase, wait_until  # noqa: E402


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def fmt(name, values):
    ms = [x / 1e6 for x in values]
    return "%-34s n=%-5d p50 %7.3f ms   p99 %7.3f ms   max %7.3f ms" % (name, len(ms), pct(ms, 50), pct(ms, 99),
                                                                         max(ms))


class Bench(ShotsyncTestCase):
    def runTest(self):
        pass

    def measure(self, n_shots, base, tag):
        got = {}

        def on_signal(conn, sender, path, iface, name, params, data):
            now = time.monotonic_ns()
            p = params.unpack()
            if name == "ImageAssigned":
                got.setdefault(("a", p[2]), now)
            elif name == "ShotClosed":
                got.setdefault(("c", p[0]), now)

        sub = self.conn.signal_subscribe(None, BUS_IFACE, None, BUS_PATH, None, Gio.DBusSignalFlags.NONE, on_signal,
                                         None)
        assigned, closed = [], []
        number = [0]
        for i in range(n_shots):
            t = base + 20.0 * i
            last_sent = None
            for cam, off in (("Trig", 0.0), ("A", 0.4), ("B", -0.3)):
                name = "%s-%s%05d.tif" % (cam.lower() if cam != "Trig" else "shot", tag, i)
                folder = os.path.join(self.raw, cam, DATE)
                path = os.path.join(folder, name)
                tmp = os.path.join(folder, "." + name + ".part")
                with open(tmp, "wb") as f:
                    f.write(b"x" * 64)
                ns = int(round((T0 + t + off) * 1e9))
                os.utime(tmp, ns=(ns, ns))
                start = time.monotonic_ns()
                os.rename(tmp, path)
                wait_until(lambda: ("a", path) in got, 10, "ImageAssigned")
                assigned.append(got[("a", path)] - start)
                last_sent = start
            number[0] += 1
            sid = self.current_date_shot(number[0])
            wait_until(lambda: ("c", sid) in got, 10, "ShotClosed " + sid)
            closed.append(got[("c", sid)] - last_sent)
        self.conn.signal_unsubscribe(sub)
        return assigned, closed

    def current_date_shot(self, n):
        return "%s-%03d" % (DATE, n)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 350
    b = Bench()
    b.setUp()
    try:
        b.start_daemon()
        a, c = b.measure(n, 0.0, "a")
        print("shotsyncd latency, %d shots of 3 files (%d files), small files, %s" % (n, 3 * n, b.tmp))
        print(fmt("rename -> ImageAssigned", a))
        print(fmt("last file -> ShotClosed", c))
        # 50 real clients in their own processes: shotsyncctl monitor.
        extra = []
        for _ in range(50):
            extra.append(subprocess.Popen([shotsynctest.CTL, "--address", b.bus.address, "monitor"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        for p in extra:
            p.stderr.readline()  # "Monitoring ..." once subscribed
        print("50 shotsyncctl monitor clients connected")
        # Continue numbering on the same date, far from the first series.
        b.current_date_shot = lambda k: "%s-%03d" % (DATE, n + k)
        a2, c2 = b.measure(n, 20.0 * n + 1000.0, "b")
        print("with 50 monitoring clients connected:")
        print(fmt("rename -> ImageAssigned", a2))
        print(fmt("last file -> ShotClosed", c2))
        print("ratio p99 with/without: ImageAssigned %.2f, ShotClosed %.2f" %
              (pct(a2, 99) / pct(a, 99), pct(c2, 99) / pct(c, 99)))
        for p in extra:
            p.terminate()
        for p in extra:
            p.wait()
            p.stderr.close()
        b.stop_daemon()
    finally:
        b.tearDown()


if __name__ == "__main__":
    main()
