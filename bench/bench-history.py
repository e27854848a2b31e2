#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Years of history at the cost of today (SPEC §2 rule 16), through the
real daemon on a private bus: for raw roots of N files over D days (12
cameras, one file a shot each, date folders as a sync client leaves them,
the last day today), hardlink mode, MaxAgeSec and RescanIntervalSec at their
defaults (2 days, 60 s), it prints

  first start   what it groups (the last two days) and how long that takes
  restart       start -> READY=1 -> end of the start-up scan
  idle          CPU % and context switches per second (voluntary ones are
                wake-ups) over --idle seconds, RSS
  live shot     12 files renamed in -> ShotClosed of that shot
  state         bytes on disk

so that the curve can be read across sizes. Trees are built once a day under
$TMPDIR/shotsync-history-<N>-<D>-<date>-<hour> and kept (1M files take a few minutes).

  SHOTSYNC_BUILD_DIR=build bench/bench-history.py [--days D] [--idle S] N [N ...]
  e.g. bench/bench-history.py 0 262800 1051200"""

import argparse
import os
import re
import shutil
import tempfile
import time

import benchlib  # noqa: F401 (puts the test harness on the path)
from shotsynctest import BUS_IFACE, BUS_PATH, Gio, ShotsyncTestCase  # noqa: E402

CAMERAS = ["Cam%02d" % i for i in range(12)]
DAY = 86400


def first_hour(now):
    """The hour a day's shots (at most 4 hours of them) start: never across
    the horizon, whose edge is now's time of day two days ago (a shot cut by
    it would time out at the first start, and the count would be a day's
    and a part): today's hours all past, or all to come."""
    hour = time.localtime(now).tm_hour
    return hour - 5 if hour >= 6 else hour + 1


def build_tree(root, n, days, now):
    """n files: 12 cameras x days x (n / 12 / days) shots a day, one minute
    apart within the day; each folder's mtime that of its last file."""
    done = os.path.join(root, ".complete")
    if os.path.exists(done):
        return
    shutil.rmtree(root, ignore_errors=True)
    per_day = n // (len(CAMERAS) * days) if days else 0
    today = time.mktime(time.localtime(now)[:3] + (0, 0, 0, 0, 0, -1))
    for d in range(days):
        start = today - (days - 1 - d) * DAY + first_hour(now) * 3600
        day = time.strftime("%Y%m%d", time.localtime(start))
        for c, cam in enumerate(CAMERAS):
            folder = os.path.join(root, cam, day)
            os.makedirs(folder, exist_ok=True)
            last = start
            for s in range(per_day):
                t = start + 60 * s + 0.1 * c
                if t > now - 120:
                    break  # nothing from the future, nor the live shot's minute
                name = ("shot%04d.tif" if c == 0 else "img%04d.tif") % s
                path = os.path.join(folder, name)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                ns = int(t * 1e9)
                os.utime(fd, ns=(ns, ns))
                os.close(fd)
                last = t
            os.utime(folder, (last, last))
    # Today's folders exist, as on any campaign day: the live shot's files
    # are renamed into watched folders (a folder made just before is crawled,
    # and what a crawl finds settles for 2 s first).
    for cam in CAMERAS:
        os.makedirs(os.path.join(root, cam, time.strftime("%Y%m%d", time.localtime(now))), exist_ok=True)
    open(done, "w").close()


def count_files(root):
    return sum(len(f) for _, _, f in os.walk(root)) - 1


class Run(ShotsyncTestCase):
    cameras = ""
    folders = ()
    timeout = 60
    max_age = 2 * DAY
    # The first start's hundreds of shots leave memory before the restart,
    # as a lab's restart finds a few shots in their grace, not two days'.
    late_grace = 5

    def runTest(self):
        pass

    def config_text(self):
        return super().config_text().replace("RescanIntervalSec=0", "RescanIntervalSec=60").replace(
            "[Watch]", "[Watch]\nTriggerCameras=Cam00").replace("[Output]", "[Output]\nMode=hardlink")

    def listen(self):
        self.got = {}

        def on_signal(conn, sender, path, iface, name, params, data):
            if name == "ShotClosed":
                self.got.setdefault(params.unpack()[0], time.monotonic())
        self.conn.signal_subscribe(None, BUS_IFACE, None, BUS_PATH, None, Gio.DBusSignalFlags.NONE, on_signal, None)

    def timed_start(self):
        """(seconds to READY=1, seconds to the end of the start-up scan,
        which the log says: STATUS= is rate-limited to 4 a second)."""
        scans = self.log_text().count("Scanned ")
        t0 = time.monotonic()
        self.start_daemon(wait_ready=False)
        self.wait(lambda: self.notify.seen("READY=1"), timeout=600, what="READY=1")
        ready = time.monotonic() - t0
        self.wait(lambda: self.log_text().count("Scanned ") > scans, timeout=600, what="the start-up scan")
        return ready, time.monotonic() - t0

    def proc(self):
        pid = self.daemon.pid
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        switches = 0
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/status" % (pid, t)) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        switches += int(line.split()[1])
        with open("/proc/%d/status" % pid) as f:
            rss = [int(line.split()[1]) for line in f if line.startswith("VmRSS")][0]
        return ticks / os.sysconf("SC_CLK_TCK"), switches, rss

    def live_shot(self, now, k):
        """12 files of a shot renamed in, the last one's rename -> ShotClosed."""
        day = time.strftime("%Y%m%d", time.localtime(now))
        last = None
        for c, cam in enumerate(CAMERAS):
            folder = os.path.join(self.raw, cam, day)
            os.makedirs(folder, exist_ok=True)
            name = ("live%02d.tif" if c else "shot-live%02d.tif") % k
            tmp = os.path.join(folder, "." + name + ".part")
            with open(tmp, "wb") as f:
                f.write(b"live %d\n" % c)
            ns = int((now + 0.1 * c) * 1e9)
            os.utime(tmp, ns=(ns, ns))
            os.rename(tmp, os.path.join(folder, name))
            last = time.monotonic()
        sid = self.wait(lambda: next((s for s, t in self.got.items() if t >= last), None), timeout=60,
                        what="the live shot")
        return (self.got[sid] - last) * 1000


def measure(n, days, idle, base):
    now = time.time()
    # A tree is built for a day: its last day must be today's, so that the
    # horizon cuts it where a lab's would. Yesterday's trees go.
    stem = "shotsync-history-%d-%d-" % (n, days)
    tree = os.path.join(base, stem + time.strftime("%Y%m%d", time.localtime(now)) + "-%02d" % first_hour(now))
    for old in os.listdir(base):
        if old.startswith(stem) and os.path.join(base, old) != tree:
            shutil.rmtree(os.path.join(base, old), ignore_errors=True)
    t = time.monotonic()
    build_tree(tree, n, days, now)
    built = time.monotonic() - t
    files = count_files(tree) if n else 0

    r = Run()
    r.setUp()
    try:
        os.rmdir(r.raw)
        os.symlink(tree, r.raw)
        r.write_config()
        r.listen()
        # First start: an empty state over the whole tree.
        t0 = time.monotonic()
        ready, scanned = r.timed_start()
        want = min(days, 2) * (n // (12 * days)) if days else 0

        def grouped():
            try:
                return sum(len(os.listdir(os.path.join(r.clean, "shots", d)))
                           for d in os.listdir(os.path.join(r.clean, "shots")))
            except FileNotFoundError:
                return 0
        r.wait(lambda: grouped() >= want * 0.9 and not r.get_property("OpenShots"), timeout=900,
               what="the recent shots grouped")
        first = time.monotonic() - t0
        first_shots = grouped()
        r.wait(lambda: r.log_text().count("leaves memory") >= first_shots, timeout=120,
               what="the shots' late grace over")
        r.stop_daemon()

        # Restart with that state.
        ready, scanned = r.timed_start()
        cpu0, sw0, _ = r.proc()
        t1 = time.monotonic()
        r.wait(lambda: time.monotonic() - t1 >= idle, timeout=idle + 60, what="the idle period")
        cpu1, sw1, rss = r.proc()
        span = time.monotonic() - t1
        restored = re.findall(r"Restored (\d+) shot", r.log_text())
        in_memory = int(restored[-1]) if restored else 0
        # Ten live shots a minute apart in mtime (their windows apart).
        lat = sorted(r.live_shot(time.time() - 100 + 11 * k, k) for k in range(10))
        r.stop_daemon()
        state = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(r.state) for f in fs)
        print("%9d files (%d days): first start grouped %d shots in %.1f s | restart: READY=1 %.2f s, "
              "start-up scan done %.2f s | idle %.0f s: CPU %.3f %%, %.2f context switches/s, RSS %.1f MiB with %d shots in "
              "their late grace | "
              "live shot median %.1f ms, max %.1f ms | state %.1f KiB%s" %
              (files, days, first_shots, first, ready, scanned, span, 100 * (cpu1 - cpu0) / span,
               (sw1 - sw0) / span, rss / 1024, in_memory, lat[len(lat) // 2], lat[-1], state / 1024,
               " (tree built in %.0f s)" % built if built > 1 else ""), flush=True)
    finally:
        # The live shots' files leave the cached tree: the next run's first
        # start finds the tree as it was built.
        for cam in CAMERAS:
            folder = os.path.join(tree, cam, time.strftime("%Y%m%d", time.localtime(now)))
            for name in os.listdir(folder) if os.path.isdir(folder) else ():
                if "live" in name:
                    os.unlink(os.path.join(folder, name))
        if os.path.islink(r.raw):
            os.unlink(r.raw)
            os.mkdir(r.raw)
        r.tearDown()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sizes", nargs="*", type=int, default=[0, 262800, 1051200],
                    help="files of history (default: 0, 12 x 365 x 60, 12 x 365 x 240)")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--idle", type=float, default=180, help="seconds of idle measured (default 180)")
    args = ap.parse_args()
    base = os.environ.get("TMPDIR", tempfile.gettempdir())
    print("shotsyncd with years of history: 12 cameras, hardlink mode, MaxAgeSec 2 days, RescanIntervalSec 60, "
          "trees under %s" % base)
    for n in args.sizes:
        measure(n, args.days if n else 0, args.idle, base)


if __name__ == "__main__":
    main()
