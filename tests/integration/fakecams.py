#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Emulated PTP/IP cameras (tests/fakecam) for the tests that fire them:
the emulator processes, and a mixin that starts them on a fresh 127.x
network, gives each a camera folder and writes a configuration whose
[Trigger] Ports= lists them."""

import os
import random
import select
import signal
import subprocess
import time

from shotsynctest import BUILD_DIR, DEFAULT_TIMEOUT

FAKECAM = os.path.join(BUILD_DIR, "tests", "fakecam", "shotsync-fakecam")
_networks_taken = set()


def pick_network():
    """A random 127.A.B.0/24: parallel runs (and other tests' emulators on
    127.0.0.x) do not collide; every 127/8 address works without setup.
    Never the same twice in one process: several daemons of one test (FireAt
    across hosts) each get a network of their own."""
    while True:
        net = "127.%d.%d" % (random.randint(20, 219), random.randint(1, 250))
        if net not in _networks_taken:
            _networks_taken.add(net)
            return net


class Emulator:
    """One shotsync-fakecam process: one camera on one address."""

    def __init__(self, tmp, address, serial, log, *args):
        self.address = address
        self.serial = serial
        self.port = "ptpip:" + address
        self.control = os.path.join(tmp, "cam-%s.sock" % serial)
        self.log = log
        self.args = list(args)
        self.stderr_path = os.path.join(tmp, "cam-%s.stderr" % serial)
        self.proc = None
        self.start()

    def start(self):
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                [FAKECAM, "--address", self.address, "--serial", self.serial, "--log", self.log,
                 "--control", self.control] + self.args,
                stdout=subprocess.PIPE, stderr=err)
        end = time.monotonic() + DEFAULT_TIMEOUT
        line = b""
        while not line.endswith(b"\n"):
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                break
            chunk = os.read(self.proc.stdout.fileno(), 256)
            if not chunk:
                break
            line += chunk
        if line.decode().strip() != "ready %s:15740" % self.address:
            self.stop()
            with open(self.stderr_path, "rb") as f:
                raise RuntimeError("emulator %s did not get ready: %r %s" % (self.serial, line, f.read()))

    def command(self, cmd):
        p = subprocess.run([FAKECAM, "--control", self.control, "--command", cmd], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        out = p.stdout.decode().strip()
        if p.returncode != 0:
            raise RuntimeError("fakecam %s: %r → %s %s" % (self.serial, cmd, out, p.stderr.decode()))
        return out

    def fault(self, spec):
        self.command("fault " + spec)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stdout.close()


class FakecamMixin:
    """Put before the ShotsyncTestCase subclass it extends."""
    cameras = ""  # no [Camera] groups: every folder of RawRoot is a camera
    folders = ()  # only the emulated cameras' folders
    capture_timeout = 2
    ports = None  # None: the emulators'
    serial_prefix = "FC"

    def setUp(self):
        self.cams = []
        self.net = None
        super().setUp()
        self.addCleanup(self.stop_cams)
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)
        self.cam_log = os.path.join(self.tmp, "captures.log")

    def stop_cams(self):
        for c in self.cams:
            c.stop(signal.SIGKILL)

    def config_text(self):
        ports = self.ports if self.ports is not None else ";".join(c.port for c in self.cams)
        return """[Watch]
RawRoot={raw}
Files=*.jpg
IgnoreKeywords=test;align
RescanIntervalSec=0
MaxAgeSec=315360000

[Grouping]
FullWindowSec={w}
TimeoutSec={t}

[Output]
CleanRoot={clean}

[Trigger]
Ports={ports}
SetClock=true
Download=true
CaptureTimeoutSec={ct}
""".format(raw=self.raw, clean=self.clean, w=self.window, t=self.timeout, ports=ports, ct=self.capture_timeout)

    def daemon_env(self):
        env = super().daemon_env()
        env["HOME"] = self.home  # libgphoto2 keeps its PTP/IP GUID there
        return env

    def start_cams(self, n, *args):
        """n emulators (args: their fault switches), their camera folders,
        and the configuration. A network already in use is replaced."""
        for attempt in range(5):
            self.net = pick_network()
            try:
                for i in range(n):
                    serial = "%s%02d%06X" % (self.serial_prefix, i, random.getrandbits(24))
                    self.cams.append(Emulator(self.tmp, "%s.%d" % (self.net, i + 2), serial, self.cam_log, *args))
                break
            except RuntimeError:
                self.stop_cams()
                self.cams = []
                if attempt == 4:
                    raise
        # The camera folders exist before the daemon's first scan, so each
        # is an expected camera of the Fire's shot (SPEC §2 rule 11).
        for c in self.cams:
            os.makedirs(os.path.join(self.raw, c.serial), exist_ok=True)
        self.write_config()
        return self.cams
