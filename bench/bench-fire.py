#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Trigger skew of Fire through the real daemon.

N emulated PTP/IP cameras (tests/fakecam, each on its own 127.x address)
record the kernel receive time (SO_TIMESTAMPNS) of every InitiateCapture.
The real shotsyncd, on a private bus, fires them F times; per Fire the skew is
the spread between the first and the last of those timestamps. Prints
min/median/p99/max of the skew and of the Fire D-Bus round trip.

  bench-fire.py [--cameras 8] [--fires 50] [--download]
  (SHOTSYNC_BUILD_DIR, SHOTSYNC_SOURCE_DIR as for the integration tests)

Targets: skew median <= 100 us, p99 <= 1 ms.
"""

import argparse
import os
import shutil
import statistics
import sys

from benchlib import ProductionFire, pct, realtime_said, without_realtime
from test_fire import TestFire  # noqa: E402


class Bench(ProductionFire, TestFire):
    def runTest(self):
        pass


def summary(name, unit, values):
    return "%-22s min %8.1f  median %8.1f  p99 %8.1f  max %8.1f %s" % (
        name, min(values), statistics.median(values), pct(values, 99), max(values), unit)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cameras", type=int, default=8)
    ap.add_argument("--fires", type=int, default=50)
    ap.add_argument("--download", action="store_true", help="Download=true (images into the raw tree)")
    ap.add_argument("--no-rt", action="store_true",
                    help="run the daemon without real-time priority (no CAP_SYS_NICE, RLIMIT_RTPRIO 0), as a unit "
                         "without LimitRTPRIO= or with RestrictRealtime=yes would")
    a = ap.parse_args()
    wrapper_dir = without_realtime() if a.no_rt else None

    rt = "not measured"
    b = Bench()
    b.download = a.download
    b.capture_timeout = 10
    b.timeout = 30
    b.setUp()
    try:
        b.start_with_cams(a.cameras)
        skews, rtts, latencies = [], [], []
        errors = 0
        for i in range(a.fires):
            before = len(b.captures())
            shot, results, rtt = b.fire()
            bad = [r for r in results.values() if r[2] != "ok"]
            if bad:
                errors += 1
                print("Fire %d: %s" % (i, bad), file=sys.stderr)
                b.wait_ready()
                continue
            b.wait(lambda: len(b.captures()) >= before + a.cameras, what="the captures of Fire %d" % i)
            stamps = [int(sec) * 10**9 + int(nsec.ljust(9, "0"))
                      for sec, nsec in (x[2].split(".") for x in b.captures()[before:])]
            skews.append((max(stamps) - min(stamps)) / 1000.0)
            rtts.append(rtt * 1000.0)
            latencies.extend(r[4] for r in results.values())
        rt = realtime_said([b])
        b.stop_daemon()
    finally:
        b.tearDown()
        b.doCleanups()
        if wrapper_dir:
            shutil.rmtree(wrapper_dir)

    print("bench-fire: %d cameras, %d Fires (%d with errors), Download=%s, %s, %d CPUs" % (
        a.cameras, a.fires, errors, "true" if a.download else "false",
        rt, os.cpu_count()))
    if not skews:
        return 1
    print(summary("trigger skew", "us", skews))
    print(summary("Fire round trip", "ms", rtts))
    print(summary("capture latency", "us", latencies))
    ok = statistics.median(skews) <= 100 and pct(skews, 99) <= 1000
    print("target (median <= 100 us, p99 <= 1000 us): %s" % ("met" if ok else "NOT met"))
    return 0 if ok and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
