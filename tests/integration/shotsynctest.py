# SPDX-License-Identifier: LGPL-2.1-or-later
"""Harness for integration tests: the real shotsyncd from the build tree,
real folders in a temporary directory, a private dbus-daemon whose
configuration includes the project's policy file verbatim, and a fake
NOTIFY_SOCKET to see READY=1. Every wait has a deadline; nothing sleeps a
fixed time. Run with Debian's /usr/bin/python3 (python3-gi)."""

import hashlib
import ctypes
import json
import os
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import gi

gi.require_version("Gio", "2.0")
gi.require_version("GLib", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

BUILD_DIR = os.environ.get("SHOTSYNC_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SOURCE_DIR = os.environ.get("SHOTSYNC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
DAEMON = os.path.join(BUILD_DIR, "src", "daemon", "shotsyncd")
CTL = os.path.join(BUILD_DIR, "src", "ctl", "shotsyncctl")
POLICY = os.path.join(SOURCE_DIR, "dbus", "org.shotsync.Shotsync1.conf")

BUS_NAME = "org.shotsync.Shotsync1"
BUS_PATH = "/org/shotsync/Shotsync1"
BUS_IFACE = "org.shotsync.Shotsync1"

# A prefix for the daemon's command line, e.g. to run every integration test
# under memcheck:
#   SHOTSYNC_DAEMON_WRAPPER="valgrind --error-exitcode=66 --leak-check=full
#                            --errors-for-leak-kinds=definite"
# An error makes the daemon's exit status 66, which stop_daemon() reports.
DAEMON_WRAPPER = shlex.split(os.environ.get("SHOTSYNC_DAEMON_WRAPPER", ""))
# Deadlines stretch under a wrapper (memcheck runs the daemon ~20x slower).
SLOWDOWN = float(os.environ.get("SHOTSYNC_TEST_SLOWDOWN", "4" if DAEMON_WRAPPER else "1"))

DEFAULT_TIMEOUT = float(os.environ.get("SHOTSYNC_TEST_TIMEOUT", str(20 * SLOWDOWN)))

# A fixed local date keeps expected shot ids stable: 2025-12-11 11:50:00
# Europe/Paris (meson sets TZ for the tests and the daemon).
os.environ.setdefault("TZ", "Europe/Paris")
time.tzset()
T0 = time.mktime((2025, 12, 11, 11, 50, 0, 0, 0, -1))
DATE = "20251211"

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
  <include>{policy}</include>
</busconfig>
"""


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 22), b""):
            h.update(b)
    return h.hexdigest()


def wait_until(cond, timeout=DEFAULT_TIMEOUT, what="condition", context=None):
    """Iterates the GLib main context until cond() is true or the deadline."""
    ctx = context or GLib.MainContext.default()
    end = time.monotonic() + timeout
    while True:
        while ctx.pending():
            ctx.iteration(False)
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        # Wake at least every 20 ms to re-check conditions that are not
        # driven by the main context (files, processes).
        src = GLib.timeout_source_new(20)
        src.set_callback(lambda *a: False)
        src.attach(ctx)
        ctx.iteration(True)
        src.destroy()


_private_mount_ns = False
_system_users = False


def ensure_system_users():
    """As root, the user and group the package's sysusers.d file makes,
    before any bus starts: dbus-daemon resolves the group named in the
    policy when it loads it, so a group made later is never a member of
    anything (a machine that never ran the suite has none)."""
    global _system_users
    if _system_users or os.geteuid() != 0:
        return
    sysusers = os.path.join(SOURCE_DIR, "systemd", "shotsync.sysusers")
    p = subprocess.run(["systemd-sysusers", sysusers], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise RuntimeError("systemd-sysusers %s failed: %s" % (sysusers, p.stdout.decode(errors="replace")))
    _system_users = True


def private_mount_namespace():
    """Moves this test process (and so every daemon it starts from now on)
    into a mount namespace of its own, once: whatever a test mounts is
    invisible to the rest of the machine and vanishes with the process
    even if it is killed before it can unmount."""
    global _private_mount_ns
    if _private_mount_ns:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWNS, MS_REC, MS_PRIVATE = 0x00020000, 0x4000, 1 << 18
    if libc.unshare(CLONE_NEWNS) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "unshare(CLONE_NEWNS): " + os.strerror(e))
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "making / private: " + os.strerror(e))
    _private_mount_ns = True


class PrivateBus:
    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "bus")
        os.makedirs(self.dir, exist_ok=True)
        self.socket = os.path.join(self.dir, "system_bus_socket")
        self.config = os.path.join(self.dir, "bus.conf")
        with open(self.config, "w") as f:
            f.write(BUS_CONFIG.format(socket=self.socket, policy=os.path.abspath(POLICY)))
        self.address = "unix:path=" + self.socket
        # Its warnings go to a file: a pipe nobody reads fills up (64 KiB of
        # "maximum number of pending replies" under a flood of calls) and
        # then blocks the whole bus in write(2).
        self.log_path = os.path.join(self.dir, "dbus-daemon.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["dbus-daemon", "--nofork", "--nopidfile", "--nosyslog", "--config-file=" + self.config,
             "--print-address"],
            stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode().strip()
        if not line:
            with open(self.log_path, "rb") as f:
                raise RuntimeError("dbus-daemon did not start: " + f.read().decode(errors="replace"))

    def connect(self):
        return Gio.DBusConnection.new_for_address_sync(
            self.address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


class Notify:
    """A fake $NOTIFY_SOCKET: collects what sd_notify() sends."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setblocking(False)
        self.messages = []
        self.unique = set()
        self.lock = threading.Lock()
        self.stopping = False
        # Drained all the time, by a thread of its own: a full socket would
        # block the daemon's sd_notify() (systemd always reads; so must we),
        # also while a test waits for something other than the main context.
        self.thread = threading.Thread(target=self._drain, name="notify", daemon=True)
        self.thread.start()

    def _drain(self):
        while not self.stopping:
            r, _, _ = select.select([self.sock], [], [], 0.1)
            if r:
                self.poll()

    def poll(self):
        with self.lock:
            while True:
                try:
                    data = self.sock.recv(4096)
                except BlockingIOError:
                    return
                for m in data.decode(errors="replace").split("\n"):
                    if m not in self.unique:
                        self.unique.add(m)
                        self.messages.append(m)

    def seen(self, text):
        self.poll()
        return any(m == text or m.startswith(text) for m in self.messages)

    def close(self):
        self.stopping = True
        self.thread.join()
        self.sock.close()


class Signals:
    """Records every signal of the daemon's interface, in order."""

    def __init__(self, conn):
        self.conn = conn
        self.items = []
        self.props = []
        self.ids = [
            conn.signal_subscribe(None, BUS_IFACE, None, BUS_PATH, None, Gio.DBusSignalFlags.NONE, self._on, None),
            conn.signal_subscribe(None, "org.freedesktop.DBus.Properties", "PropertiesChanged", BUS_PATH, None,
                                  Gio.DBusSignalFlags.NONE, self._on_props, None),
        ]

    def _on(self, conn, sender, path, iface, name, params, data):
        self.items.append((name, params.unpack()))

    def _on_props(self, conn, sender, path, iface, name, params, data):
        _, changed, invalidated = params.unpack()
        self.props.append((changed, invalidated))

    def named(self, name):
        return [p for n, p in self.items if n == name]

    def find(self, name, pred=lambda p: True):
        for n, p in self.items:
            if n == name and pred(p):
                return p
        return None

    def close(self):
        for i in self.ids:
            self.conn.signal_unsubscribe(i)


class ShotsyncTestCase(unittest.TestCase):
    """One temporary world per test: raw/, clean/, state/, a private bus."""

    use_bus = True
    cameras = """
[Camera Trig]
Trigger=true
TriggerKeyword=shot

[Camera A]

[Camera B]
"""
    window = 10
    timeout = 30
    late_grace = 600
    # The tests' shots are dated 2025-12-11 (T0): not history for them
    # (SPEC §2 rule 16; test_history.py sets a real horizon).
    max_age = 315360000
    extra_config = ""
    # Camera folders that exist before the daemon starts, as on a real site
    # (a folder created later is crawled and its fresh files settle first).
    folders = ("Trig", "A", "B")
    # Put before the daemon's command line (and before DAEMON_WRAPPER), e.g.
    # to start it in a user namespace with its own inotify limits.
    daemon_prefix = ()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="shotsync-test-")
        self.raw = os.path.join(self.tmp, "raw")
        self.clean = os.path.join(self.tmp, "clean")
        self.state = os.path.join(self.tmp, "state")
        os.makedirs(self.raw)
        for cam in self.folders:
            os.makedirs(os.path.join(self.raw, cam, DATE))
        self.config_path = os.path.join(self.tmp, "shotsync.conf")
        self.write_config()
        self.daemon = None
        self.log_path = os.path.join(self.tmp, "daemon.log")
        self.log = None
        self.bus = None
        self.conn = None
        self.signals = None
        self.notify = None
        self.mounts = []
        if self.use_bus:
            ensure_system_users()
            self.bus = PrivateBus(self.tmp)
            self.conn = self.bus.connect()
            self.signals = Signals(self.conn)

    def tearDown(self):
        try:
            if self.daemon and self.daemon.poll() is None:
                self.stop_daemon()
        finally:
            if self.daemon and self.daemon.poll() is None:
                self.daemon.kill()
                self.daemon.wait()
            # Before the tree is removed: rmtree would walk into them.
            self.unmount_all()
            if self.log:
                self.log.close()
            if self.signals:
                self.signals.close()
            if self.conn:
                self.conn.close_sync(None)
            if self.bus:
                self.bus.stop()
            if self.notify:
                self.notify.close()
            if os.environ.get("SHOTSYNC_KEEP_TMP"):
                print("kept", self.tmp, file=sys.stderr)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- configuration and daemon ----

    def config_text(self):
        return """[Watch]
RawRoot={raw}
IgnoreKeywords=test;align
RescanIntervalSec=0
MaxAgeSec={max_age}

[Grouping]
FullWindowSec={w}
TimeoutSec={t}
LateGraceSec={g}

[Output]
CleanRoot={clean}
{cameras}
{extra}
""".format(raw=self.raw, clean=self.clean, w=self.window, t=self.timeout, g=self.late_grace,
           cameras=self.cameras, extra=self.extra_config, max_age=self.max_age)

    def write_config(self, text=None):
        with open(self.config_path, "w") as f:
            f.write(text if text is not None else self.config_text())

    def daemon_env(self):
        env = dict(os.environ)
        env["TZ"] = os.environ.get("TZ", "Europe/Paris")
        env["STATE_DIRECTORY"] = self.state
        if self.bus:
            env["DBUS_SYSTEM_BUS_ADDRESS"] = self.bus.address
        if DAEMON_WRAPPER:
            # Plain malloc for GLib, so memcheck sees every allocation.
            env.setdefault("G_SLICE", "always-malloc")
            env.setdefault("G_DEBUG", "gc-friendly")
        env.pop("JOURNAL_STREAM", None)
        env.pop("WATCHDOG_USEC", None)
        env.pop("WATCHDOG_PID", None)
        return env

    def start_daemon(self, *args, wait_ready=True):
        if self.notify:
            self.notify.close()
            os.unlink(self.notify.path)
        self.notify = Notify(os.path.join(self.tmp, "notify-%d" % time.monotonic_ns()))
        env = self.daemon_env()
        env["NOTIFY_SOCKET"] = self.notify.path
        if self.log:
            self.log.close()
        self.log = open(self.log_path, "ab")
        self.daemon = subprocess.Popen(list(self.daemon_prefix) + DAEMON_WRAPPER +
                                       [DAEMON, "--config", self.config_path, "--log-level=debug"] + list(args),
                                       env=env, stdout=self.log, stderr=subprocess.STDOUT)
        if wait_ready:
            self.wait(lambda: self.notify.seen("READY=1") or self.daemon.poll() is not None, what="READY=1")
            if self.daemon.poll() is not None:
                self.fail("shotsyncd exited with %d:\n%s" % (self.daemon.returncode, self.log_text()))
            self.wait_idle()
        return self.daemon

    def stop_daemon(self, expect=0, timeout=15 * SLOWDOWN):
        self.daemon.send_signal(signal.SIGTERM)
        try:
            rc = self.daemon.wait(timeout)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait()
            self.fail("shotsyncd did not stop within %d s after SIGTERM" % timeout)
        if expect is not None:
            self.assertEqual(rc, expect, "shotsyncd exit code; log:\n" + self.log_text()[-4000:])
        return rc

    def kill_daemon(self):
        self.daemon.send_signal(signal.SIGKILL)
        self.daemon.wait()

    def log_text(self):
        if self.log:
            self.log.flush()
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def run_once(self, *args, expect=0):
        env = self.daemon_env()
        p = subprocess.run(list(self.daemon_prefix) + DAEMON_WRAPPER + [DAEMON, "--config", self.config_path, "--once"] +
                           list(args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300 * SLOWDOWN)
        out = p.stdout.decode(errors="replace")
        err = p.stderr.decode(errors="replace")
        if expect is not None:
            self.assertEqual(p.returncode, expect, "stdout:\n%s\nstderr:\n%s" % (out, err))
        return out, err

    def wait(self, cond, timeout=DEFAULT_TIMEOUT, what="condition"):
        def check():
            if self.daemon is not None and self.daemon.poll() is not None and what != "READY=1":
                raise AssertionError("shotsyncd died (%s) while waiting for %s:\n%s" %
                                     (self.daemon.returncode, what, self.log_text()[-4000:]))
            return cond()
        return wait_until(check, timeout, what)

    def wait_initial_scan(self, timeout=DEFAULT_TIMEOUT):
        """READY=1 comes before the start-up scan ends; STATUS= says "watching" once it did."""
        self.wait(lambda: self.notify.seen("STATUS=") and
                  any(m.startswith("STATUS=") and " watching " in " " + m[7:] for m in self.notify.messages),
                  timeout, "the start-up scan")

    def wait_idle(self):
        """A round trip to the daemon: everything it sent before is in."""
        if self.conn:
            self.get_property("Version")
            wait_until(lambda: True, 0.0)

    # ---- privileges, mounts and kernel knobs (cleaned up on every path) ----

    def require_root(self, why="mounts"):
        if os.geteuid() != 0:
            self.skipTest("needs root for " + why)

    def mount(self, target, *args):
        """mount ARGS... TARGET in this process's private mount namespace;
        unmounted in tearDown (after the daemon stopped, before the tree is
        removed) whatever happens."""
        self.require_root("mounts")
        try:
            private_mount_namespace()
        except OSError as e:
            self.skipTest("no private mount namespace: %s" % e)
        os.makedirs(target, exist_ok=True)
        p = subprocess.run(["mount"] + list(args) + [target], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            self.skipTest("cannot mount %s: %s" % (" ".join(args), p.stdout.decode().strip()))
        self.mounts.append(target)
        return target

    def remount(self, target, options, bind=False):
        cmd = ["mount", "-o", ("remount,bind," if bind else "remount,") + options, target]
        subprocess.run(cmd, check=True)

    def unmount_all(self):
        while self.mounts:
            target = self.mounts.pop()
            if subprocess.run(["umount", target], stderr=subprocess.DEVNULL).returncode != 0:
                subprocess.run(["umount", "-l", target], stderr=subprocess.DEVNULL)

    def set_knob(self, path, value):
        """Writes a /proc/sys knob and restores its old value at cleanup
        (and at once by calling the returned function)."""
        self.require_root(path)
        with open(path) as f:
            old = f.read().strip()
        restored = [False]

        def restore():
            if not restored[0]:
                restored[0] = True
                with open(path, "w") as f:
                    f.write(old)

        self.addCleanup(restore)
        with open(path, "w") as f:
            f.write(str(value))
        return restore

    # ---- files, the way a sync client writes them ----

    def drop(self, camera, name, offset, data=None, how="rename", subdir=DATE, base=T0):
        """Writes raw/<camera>/<subdir>/<name> with mtime base+offset."""
        folder = os.path.join(self.raw, camera, subdir) if subdir else os.path.join(self.raw, camera)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, name)
        if data is None:
            data = ("%s/%s@%r\n" % (camera, name, offset)).encode()
        ns = int(round((base + offset) * 1e9))
        if how == "rename":
            tmp = os.path.join(folder, "." + name + ".part")
            with open(tmp, "wb") as f:
                f.write(data)
            os.utime(tmp, ns=(ns, ns))
            os.rename(tmp, path)
        elif how == "inplace":
            # Written in place and closed with its final mtime (futimens
            # before close, as rsync --inplace and most copiers do).
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, data)
                os.utime(fd, ns=(ns, ns))
            finally:
                os.close(fd)
        elif how == "quiet":
            # Already there before the daemon looks (start-up scan, --once).
            with open(path, "wb") as f:
                f.write(data)
            os.utime(path, ns=(ns, ns))
        else:
            raise ValueError(how)
        return path

    def clean_files(self):
        out = []
        for root, dirs, files in os.walk(self.clean):
            dirs[:] = [d for d in dirs if d != ".staging"]
            for f in files:
                out.append(os.path.relpath(os.path.join(root, f), self.clean))
        return sorted(out)

    def manifest(self, shot_id):
        date, num = shot_id.split("-")
        with open(os.path.join(self.clean, "shots", date, "shot%s.json" % num)) as f:
            return json.load(f)

    def has_manifest(self, shot_id):
        date, num = shot_id.split("-")
        return os.path.exists(os.path.join(self.clean, "shots", date, "shot%s.json" % num))

    # ---- D-Bus ----

    def call(self, method, args=None, signature=None, conn=None, timeout=DEFAULT_TIMEOUT):
        conn = conn or self.conn
        params = GLib.Variant(signature, args) if signature else None
        result = [None]

        def done(c, res, data):
            try:
                result[0] = ("ok", c.call_finish(res))
            except GLib.Error as e:
                result[0] = ("error", e)

        conn.call(BUS_NAME, BUS_PATH, BUS_IFACE, method, params, None, Gio.DBusCallFlags.NONE,
                  int(timeout * 1000), None, done, None)
        wait_until(lambda: result[0] is not None, timeout + 1, "reply to " + method)
        kind, value = result[0]
        if kind == "error":
            raise value
        return value.unpack()

    def call_error(self, method, args=None, signature=None, conn=None):
        try:
            self.call(method, args, signature, conn)
        except GLib.Error as e:
            return Gio.DBusError.get_remote_error(e) or e.message
        self.fail("%s succeeded, an error was expected" % method)

    def get_property(self, name, conn=None):
        conn = conn or self.conn
        v = conn.call_sync(BUS_NAME, BUS_PATH, "org.freedesktop.DBus.Properties", "Get",
                           GLib.Variant("(ss)", (BUS_IFACE, name)), None, Gio.DBusCallFlags.NONE, 10000, None)
        return v.unpack()[0]

    def shot(self, n, date=None):
        return "%s-%03d" % (date or DATE, n)

    def fates(self, path):
        """How the bus told the fate of a raw file, each time: assigned:<shot>,
        orphan or ignored:<reason>."""
        out = []
        for name, p in self.signals.items:
            if name == "ImageAssigned" and p[2] == path:
                out.append("assigned:" + p[0])
            elif name == "ImageOrphaned" and p[1] == path:
                out.append("orphan")
            elif name == "ImageIgnored" and p[1] == path:
                out.append("ignored:" + p[2])
        return out

    def fate(self, path):
        f = self.fates(path)
        return f[0] if f else None

    def wait_fate(self, path):
        return self.wait(lambda: self.fate(path), what="the fate of " + path)

    def wait_signal(self, name, pred=lambda p: True, timeout=DEFAULT_TIMEOUT):
        return self.wait(lambda: self.signals.find(name, pred), timeout, "signal " + name)

    def wait_closed(self, shot_id, timeout=DEFAULT_TIMEOUT):
        return self.wait_signal("ShotClosed", lambda p: p[0] == shot_id, timeout)


def main():
    unittest.main(verbosity=2)
