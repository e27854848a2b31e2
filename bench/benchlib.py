# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the Python benchmarks share: the integration tests' harness on the
path, one percentile, and the Fire benches' production settings."""

import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
os.environ.setdefault("SHOTSYNC_SOURCE_DIR", os.path.join(HERE, ".."))


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
