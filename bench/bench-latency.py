#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Latency through the real daemon on a private bus: from a file's rename
into a camera folder to the ImageAssigned signal received by a client, and
from the last file of a shot to ShotClosed (small files). Then the same with
50 more subscribers: 50 connections in one process (what they cost the
daemon and the bus), with this client first then last in dbus-daemon's
delivery order, then 50 `shotsyncctl monitor` processes (what 50 processes
cost the machine too). Prints p50/p99/max and the p99 ratios.

Files are renamed in at --rate files per second (default 100, eight times
the busiest second of a 12-camera campaign), or back to back with --rate 0,
which measures a saturated machine rather than latency. The raw, clean and
state folders live under $TMPDIR: ShotClosed waits for about ten fsyncs
(state, each file and its folder, the manifest), so TMPDIR=/dev/shm shows the
daemon's own path and a disk shows the disk too.

  SHOTSYNC_BUILD_DIR=build bench/bench-latency.py [--rate FILES_PER_S] [N_SHOTS]"""

import argparse
import os
import subprocess
import time

from benchlib import pct  # noqa: E402
import shotsynctest  # noqa: E402
from shotsynctest import BUS_IFACE, BUS_PATH, DATE, T0, Gio, ShotsyncTestCase, wait_until  # noqa: E402


def fmt(name, values):
    ms = [x / 1e6 for x in values]
    return "%-34s n=%-5d p50 %7.3f ms   p99 %7.3f ms   max %7.3f ms" % (name, len(ms), pct(ms, 50), pct(ms, 99),
                                                                         max(ms))


class Bench(ShotsyncTestCase):
    sub = None
    rate = 0.0  # files per second, 0: each as soon as the previous one's signal arrived
    last_rename = None

    def runTest(self):
        pass

    def subscribe(self, got):
        """dbus-daemon writes a signal to its subscribers one after the other,
        in the order they subscribed: a new subscription puts this client
        last in line, behind every other subscriber."""
        def on_signal(conn, sender, path, iface, name, params, data):
            now = time.monotonic_ns()
            p = params.unpack()
            if name == "ImageAssigned":
                got.setdefault(("a", p[2]), now)
            elif name == "ShotClosed":
                got.setdefault(("c", p[0]), now)

        if self.sub is not None:
            self.conn.signal_unsubscribe(self.sub)
        self.sub = self.conn.signal_subscribe(None, BUS_IFACE, None, BUS_PATH, None, Gio.DBusSignalFlags.NONE,
                                              on_signal, None)

    def measure(self, n_shots, base, tag, got):
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
                if self.rate > 0 and self.last_rename is not None:
                    pause = self.last_rename + 1e9 / self.rate - time.monotonic_ns()
                    if pause > 0:
                        time.sleep(pause / 1e9)
                start = time.monotonic_ns()
                self.last_rename = start
                os.rename(tmp, path)
                wait_until(lambda: ("a", path) in got, 10, "ImageAssigned")
                assigned.append(got[("a", path)] - start)
                last_sent = start
            number[0] += 1
            sid = self.current_date_shot(number[0])
            wait_until(lambda: ("c", sid) in got, 10, "ShotClosed " + sid)
            closed.append(got[("c", sid)] - last_sent)
        return assigned, closed

    def current_date_shot(self, n):
        return "%s-%03d" % (DATE, n)


def start_clients(argv, n_procs, ready, stdout=subprocess.PIPE):
    procs = [subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, text=True) for _ in range(n_procs)]
    for p in procs:
        ready(p)
    return procs


def stop_clients(procs):
    for p in procs:
        p.terminate()
    out = [p.communicate()[0] for p in procs]
    return [o.strip() for o in out if o and o.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("shots", nargs="?", type=int, default=350, help="shots of 3 files per series (default 350)")
    ap.add_argument("--rate", type=float, default=100.0,
                    help="files renamed in per second (default 100; 0: each once the previous one's "
                         "ImageAssigned arrived)")
    args = ap.parse_args()
    n = args.shots
    b = Bench()
    b.rate = args.rate
    b.setUp()
    try:
        b.start_daemon()
        print("shotsyncd latency, %d shots of 3 files (%d files) per series, small files, %s, %s" %
              (n, 3 * n, "%g files/s" % b.rate if b.rate > 0 else "back to back", b.tmp))
        listeners = lambda: start_clients(  # noqa: E731
            [os.path.join(shotsynctest.BUILD_DIR, "bench", "bench-listeners"), b.bus.address, "50"], 1,
            lambda p: p.stdout.readline())
        monitors = lambda: start_clients(  # noqa: E731
            [shotsynctest.CTL, "--address", b.bus.address, "monitor"], 50,
            lambda p: p.stderr.readline(),  # "Monitoring ..." once subscribed
            stdout=subprocess.DEVNULL)
        # (label, clients to start, whether this client subscribes after them)
        series = [
            ("no other client", None, False),
            # What 50 subscribers cost the daemon and the bus: 50 connections
            # in one process, so no CPU contention between 50 processes.
            ("50 connections in one process, this client first", listeners, False),
            ("50 connections in one process, this client last", listeners, True),
            # 50 real clients in their own processes, each writing every
            # signal as a line (to /dev/null).
            ("50 shotsyncctl monitor processes, this client first", monitors, False),
            ("50 shotsyncctl monitor processes, this client last", monitors, True),
        ]
        results = []
        base = 0.0
        got = {}
        b.subscribe(got)
        for k, (label, start, last) in enumerate(series):
            procs = start() if start else []
            if last:
                b.subscribe(got)
            # Continue numbering on the same date, far from the previous series.
            b.current_date_shot = (lambda off: lambda i: "%s-%03d" % (DATE, off + i))(k * n)
            a, c = b.measure(n, base, "s%d" % k, got)
            base += 20.0 * n + 1000.0
            extra = stop_clients(procs)
            if last:
                b.subscribe(got)  # first again: the others are gone
            print("%s:%s" % (label, "".join(" (" + e + ")" for e in extra)))
            print("  " + fmt("rename -> ImageAssigned", a))
            print("  " + fmt("last file -> ShotClosed", c))
            results.append((label, a, c))
        _, a0, c0 = results[0]
        for label, a, c in results[1:]:
            print("ratio p99 %s / none: ImageAssigned %.2f, ShotClosed %.2f" %
                  (label, pct(a, 99) / pct(a0, 99), pct(c, 99) / pct(c0, 99)))
        b.stop_daemon()
    finally:
        b.tearDown()


if __name__ == "__main__":
    main()
