#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""`shotsyncd --once` on a realistic day: 12 cameras as in the December 2025
campaign (5 triggers, FROG writing .tiff + .fer, NearField .png, Tracker
.root), 150 shots a minute apart, a few missing and duplicate files, 1 MiB
images. Prints the wall time, files/s, and peak RSS of the daemon.

  SHOTSYNC_BUILD_DIR=build bench/bench-once.py [N_SHOTS [IMAGE_KIB]]"""

import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("SHOTSYNC_BUILD_DIR", "build")
CAMERAS = [  # name, trigger, extensions, expected
    ("Lanex1", False, [".tiff"], True), ("Lanex2", True, [".tiff"], True), ("Lanex5", True, [".tiff"], True),
    ("LanexGamma", True, [".tiff"], True), ("Lyso", True, [".tiff"], True), ("Csi", True, [".tiff"], True),
    ("DarkShadow", False, [".tiff"], True), ("TopView", False, [".tiff"], True),
    ("specular", False, [".tiff"], True), ("NearField", False, [".png"], True),
    ("FROG", False, [".tiff", ".fer"], True), ("Tracker", False, [".root"], False),
]


def main():
    shots = int(sys.argv[1]) if len(sys.argv) > 1 else 150
    kib = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    rng = random.Random(7)
    tmp = tempfile.mkdtemp(prefix="shotsync-bench-once-")
    raw, clean, state = (os.path.join(tmp, d) for d in ("raw", "clean", "state"))
    os.environ["TZ"] = "Europe/Paris"
    time.tzset()
    t0 = time.mktime((2025, 12, 11, 9, 0, 0, 0, 0, -1))
    blob = os.urandom(kib * 1024)
    conf = ["[Watch]", "RawRoot=" + raw, "IgnoreKeywords=test;align", "", "[Grouping]", "FullWindowSec=30",
            "TimeoutSec=65", "", "[Output]", "CleanRoot=" + clean, ""]
    for name, trig, exts, exp in CAMERAS:
        conf += ["[Camera %s]" % name, "Trigger=%s" % str(trig).lower(), "TriggerKeyword=",
                 "Expected=%s" % str(exp).lower(), "Files=" + ";".join("*" + e for e in exts), ""]
    with open(os.path.join(tmp, "shotsync.conf"), "w") as f:
        f.write("\n".join(conf))
    n_files = 0
    for s in range(shots):
        base = t0 + 60.0 * s
        for name, trig, exts, exp in CAMERAS:
            if rng.random() < 0.02:
                continue  # a camera that missed this shot
            folder = os.path.join(raw, name, "20251211")
            os.makedirs(folder, exist_ok=True)
            off = rng.uniform(-4, 4)
            for i, ext in enumerate(exts):
                p = os.path.join(folder, "E6_%s__%05d_%d%s" % (name, s, i, ext))
                with open(p, "wb") as f:
                    f.write(blob[: len(blob) - rng.randrange(1024)])
                ns = int((base + off) * 1e9)
                os.utime(p, ns=(ns, ns))
                n_files += 1
    start = time.monotonic()
    p = subprocess.run([os.path.join(BUILD, "src", "daemon", "shotsyncd"), "--config", os.path.join(tmp, "shotsync.conf"),
                        "--state-dir", state, "--once"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - start
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = p.stdout.decode().splitlines()
    print("shotsyncd --once: %d shots, %d cameras, %d files of ~%d KiB (copy mode, fsync'd)" %
          (shots, len(CAMERAS), n_files, kib))
    print("  exit status       %d" % p.returncode)
    print("  wall time         %.2f s" % wall)
    print("  files/s           %.0f (%.0f MiB/s)" % (n_files / wall, n_files * kib / 1024 / wall))
    print("  peak RSS          %.1f MiB" % (rss / 1024))
    print("  summary           %s" % next((l for l in out if "shot(s):" in l), "?"))
    shutil.rmtree(tmp)
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
