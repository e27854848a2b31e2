# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the Python benchmarks share: the integration tests' harness on the
path, one percentile, and the Fire benches' production settings."""

import math
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
os.environ.setdefault("SHOTSYNC_SOURCE_DIR", os.path.join(HERE, ".."))

import shotsynctest  # noqa: E402


def without_realtime():
    """The daemons started from now on run as a unit without LimitRTPRIO=
    or with RestrictRealtime=yes would: no CAP_SYS_NICE, RLIMIT_RTPRIO 0.
    Returns the folder of the wrapper, for the caller to remove."""
    folder = tempfile.mkdtemp(prefix="shotsync-bench-")
    wrapper = os.path.join(folder, "shotsyncd")
    with open(wrapper, "w") as f:
        f.write('#!/bin/sh\nexec prlimit --rtprio=0:0 setpriv --inh-caps=-sys_nice --bounding-set=-sys_nice %s "$@"\n'
                % shotsynctest.DAEMON)
    os.chmod(wrapper, 0o755)
    shotsynctest.DAEMON = wrapper
    return folder


DENIED = "fired without real-time priority"


def realtime_said(daemons):
    """What the daemons' own logs say they fired with: a figure says what
    it was measured with, not what was asked for."""
    denied = sum(DENIED in d.log_text() for d in daemons)
    if denied == 0:
        return "real-time priority (no daemon was denied it)"
    return "real-time priority denied to %d of %d daemons" % (denied, len(daemons))


def pct(values, p):
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100.0 * len(s)) - 1)]


class ProductionFire:
    """Mixed in before a Fire test class: what runs in a lab (no clock
    setting, downloads only when asked, info logging), not what the tests
    check."""
    download = False

    def config_text(self):
        text = super().config_text()
        if not self.download:
            text = text.replace("Download=true", "Download=false")
        return text.replace("SetClock=true", "SetClock=false")

    def start_daemon(self, *args, **kwargs):
        # Debug logging is for tests; measure what runs in production.
        return super().start_daemon("--log-level=info", *args, **kwargs)
