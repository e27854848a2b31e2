#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""shotsync-panel under Xvfb against the real shotsyncd on a private system
bus (tests/integration/shotsynctest.py), while a scenario plays: files
dropped into raw/<camera>/, the service paused, stopped and restarted. What
the panel shows is read through its accessibility tree (AT-SPI, pyatspi):
tiles, labels and buttons found by role and accessible name, their states
and descriptions. Screenshots are taken at known moments and kept in the
build directory (tests/panel/screenshots/) as CI artefacts; each must show
the colour of the state it illustrates, so it is retaken until the frame is
painted, and never proves anything alone.

Every wait has a deadline; nothing sleeps a fixed time. Skips (exit 77 under
meson) when Xvfb, ImageMagick's import, pyatspi or the panel are missing."""

import ctypes
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import warnings
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import shotsynctest  # noqa: E402
from fakecams import FakecamMixin  # noqa: E402
from shotsynctest import BUILD_DIR, DEFAULT_TIMEOUT, ShotsyncTestCase  # noqa: E402

PANEL = os.environ.get("SHOTSYNC_PANEL") or os.path.join(BUILD_DIR, "src", "panel", "shotsync-panel")
ARTIFACTS = os.environ.get("SHOTSYNC_PANEL_ARTIFACTS") or os.path.join(BUILD_DIR, "tests", "panel", "screenshots")
WIDTH, HEIGHT = 1360, 900
SKIP = 77
# X keycodes of Xvfb's default (pc105/us) keymap, for modifiers.
XK_ALT_L, XK_CONTROL_L = 64, 37
RETURN = 0xFF0D

# The panel's colours (src/panel/panel.css): a screenshot of a state must
# show that state's colour somewhere.
GREEN = (0x00, 0x78, 0x5A)     # present tile, running banner
VERMILLION = (0xC0, 0x36, 0x0C)  # missing tile, timeout
WAITING = (0xEF, 0xEF, 0xEF)   # waiting tile
ORANGE = (0xE6, 0x9F, 0x00)    # paused banner
STOPPED = (0x4D, 0x4D, 0x4D)   # not running banner

ACCESS_DENIED_POLICY = """  <policy user="root">
    <deny send_destination="org.shotsync.Shotsync1" send_interface="org.shotsync.Shotsync1" send_member="Fire"/>
    <deny send_destination="org.shotsync.Shotsync1" send_interface="org.shotsync.Shotsync1" send_member="Pause"/>
    <deny send_destination="org.shotsync.Shotsync1" send_interface="org.shotsync.Shotsync1" send_member="Resume"/>
    <deny send_destination="org.shotsync.Shotsync1" send_interface="org.shotsync.Shotsync1"
          send_member="SetNextShotNumber"/>
  </policy>
</busconfig>
"""


def missing_tools():
    for tool in ("Xvfb", "dbus-daemon", "import"):
        if not shutil.which(tool):
            return tool + " is not installed"
    if not os.access(PANEL, os.X_OK):
        return PANEL + " is not built (GTK 4 missing?)"
    try:
        import gi
        gi.require_version("Atspi", "2.0")
        from gi.repository import Atspi  # noqa: F401
        import importlib.util
        if importlib.util.find_spec("pyatspi") is None:
            return "pyatspi is not installed"
    except (ImportError, ValueError) as e:
        return "AT-SPI bindings missing: %s" % e
    return None


# ---- processes ----

# Children started before the desktop (none under meson): never reaped here.
KNOWN_CHILDREN = set()

def set_child_subreaper():
    """Orphans of our children (the accessibility bus and registry that the
    session bus starts) become our children, so that we can reap them."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except OSError:
        pass


def descendants(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def reap(pids, timeout=10):
    """Waits for processes we started indirectly; SIGKILL after the deadline."""
    end = time.monotonic() + timeout
    for sig in (None, signal.SIGKILL):
        if sig:
            for p in pids:
                if alive(p):
                    try:
                        os.kill(p, sig)
                    except ProcessLookupError:
                        pass
            end = time.monotonic() + 5
        while any(alive(p) for p in pids) and time.monotonic() < end:
            select.select([], [], [], 0.02)
        for p in pids:
            try:
                os.waitpid(p, os.WNOHANG)
            except ChildProcessError:
                pass
    return [p for p in pids if alive(p)]


def read_line(fd, timeout, what):
    end = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise RuntimeError("no answer from " + what)
        chunk = os.read(fd, 256)
        if not chunk:
            raise RuntimeError(what + " exited")
        data += chunk
    return data.decode().strip()


class Desktop:
    """Xvfb on a free display and a session bus, which starts the
    accessibility bus and its registry on demand. Owned by this test."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.log = open(os.path.join(tmp, "desktop.log"), "wb")
        r, w = os.pipe()
        self.xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "%dx%dx24" % (WIDTH, HEIGHT),
                                      "-nolisten", "tcp", "-noreset"],
                                     pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=self.log)
        os.close(w)
        try:
            self.display = ":" + read_line(r, DEFAULT_TIMEOUT, "Xvfb")
        finally:
            os.close(r)
        self.runtime = os.path.join(tmp, "runtime")
        os.makedirs(self.runtime, mode=0o700)
        env = dict(os.environ, DISPLAY=self.display, XDG_RUNTIME_DIR=self.runtime, GSETTINGS_BACKEND="memory")
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        env.pop("AT_SPI_BUS_ADDRESS", None)
        self.session = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--nosyslog", "--print-address=1",
             "--address=unix:path=" + os.path.join(tmp, "session_bus")],
            env=env, stdout=subprocess.PIPE, stderr=self.log)
        address = read_line(self.session.stdout.fileno(), DEFAULT_TIMEOUT, "the session bus")
        self.env = dict(env, DBUS_SESSION_BUS_ADDRESS=address, GDK_BACKEND="x11", GTK_A11Y="atspi",
                        NO_AT_BRIDGE="0")

    def stop(self):
        """Stops the session bus and Xvfb, and reaps what the buses started:
        dbus-daemon double-forks the services it activates (the
        accessibility bus launcher, its bus, the registry), so with us as
        the child subreaper they are our children, not the bus's."""
        ours = {self.xvfb.pid, self.session.pid}
        started = [p for p in descendants(os.getpid()) if p not in ours and p not in KNOWN_CHILDREN]
        if self.session.poll() is None:
            self.session.terminate()
            try:
                self.session.wait(10)
            except subprocess.TimeoutExpired:
                self.session.kill()
                self.session.wait()
        self.session.stdout.close()
        left = reap(started)
        if self.xvfb.poll() is None:
            self.xvfb.terminate()
            try:
                self.xvfb.wait(10)
            except subprocess.TimeoutExpired:
                self.xvfb.kill()
                self.xvfb.wait()
        self.log.close()
        return left

    def screenshot(self):
        """The whole screen as (width, height, RGB bytes)."""
        p = subprocess.run(["import", "-display", self.display, "-window", "root", "-depth", "8", "ppm:-"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("import: " + p.stderr.decode(errors="replace"))
        return parse_ppm(p.stdout)


def parse_ppm(data):
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b"P6" or int(fields[3]) != 255:
        raise RuntimeError("unexpected screenshot format %r" % fields)
    w, h = int(fields[1]), int(fields[2])
    pixels = data[pos + 1:pos + 1 + w * h * 3]
    return w, h, pixels


def write_png(path, w, h, pixels):
    raw = b"".join(b"\x00" + pixels[y * w * 3:(y + 1) * w * 3] for y in range(h))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    with open(path + ".tmp", "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    os.rename(path + ".tmp", path)


def colour_count(pixels, rgb):
    """Pixels of exactly that colour (pixel-aligned)."""
    needle = bytes(rgb)
    n, i = 0, pixels.find(needle)
    while i >= 0:
        if i % 3 == 0:
            n += 1
            i = pixels.find(needle, i + 3)
        else:
            i = pixels.find(needle, i + 1)
        if n >= 2000:
            break
    return n


# ---- the accessibility tree ----

class Node:
    """What one accessible says, read once."""

    def __init__(self, acc, role, name, description):
        self.acc, self.role, self.name, self.description = acc, role, name, description

    def states(self):
        return self.acc.getState()

    def __repr__(self):
        return "%s %r" % (self.role, self.name)


DESKTOP = None
DESKTOP_TMP = None


def setUpModule():
    """One desktop per process: pyatspi binds to the accessibility bus of
    the session bus it finds at import, once (meson runs one test per
    process anyway)."""
    global DESKTOP, DESKTOP_TMP, pyatspi, Atspi
    why = missing_tools()
    if why:
        raise unittest.SkipTest(why)
    KNOWN_CHILDREN.update(descendants(os.getpid()))
    DESKTOP_TMP = tempfile.mkdtemp(prefix="shotsync-panel-desktop-")
    set_child_subreaper()
    DESKTOP = Desktop(DESKTOP_TMP)
    for k in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"):
        os.environ[k] = DESKTOP.env[k]
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # pyatspi's own calls
    import pyatspi
    from gi.repository import Atspi
    os.makedirs(ARTIFACTS, exist_ok=True)


def tearDownModule():
    if DESKTOP:
        left = DESKTOP.stop()
        shutil.rmtree(DESKTOP_TMP, ignore_errors=True)
        if left:
            raise AssertionError("processes left behind: %r" % left)


class PanelTestCase(ShotsyncTestCase):
    window = 10
    timeout = 10
    policy_extra = None

    @property
    def desktop(self):
        return DESKTOP

    def setUp(self):
        if self.policy_extra:
            saved = shotsynctest.BUS_CONFIG
            shotsynctest.BUS_CONFIG = saved.replace("</busconfig>\n", self.policy_extra)
            try:
                super().setUp()
            finally:
                shotsynctest.BUS_CONFIG = saved
        else:
            super().setUp()
        self.panel = None
        self.panel_log = None
        self.app = None
        self.shots_taken = []

    def tearDown(self):
        try:
            self.stop_panel()
        finally:
            super().tearDown()

    # ---- the panel ----

    def start_panel(self, args=None, env=None):
        self.panel_log_path = os.path.join(self.tmp, "panel.log")
        self.panel_log = open(self.panel_log_path, "wb")
        self.panel = subprocess.Popen([PANEL] + (args or ["--address", self.bus.address]),
                                      env=env or self.desktop.env, stdout=self.panel_log, stderr=subprocess.STDOUT)
        self.app = self.wait(self.find_app, what="the panel on the accessibility bus")
        return self.panel

    def stop_panel(self):
        if self.panel and self.panel.poll() is None:
            self.panel.terminate()
            try:
                self.panel.wait(10)
            except subprocess.TimeoutExpired:
                self.panel.kill()
                self.panel.wait()
        if self.panel_log:
            self.panel_log.close()
            self.panel_log = None
            # Keep the panel's own output next to the screenshots.
            shutil.copy(self.panel_log_path, os.path.join(ARTIFACTS, "%s.log" % self.id().split(".")[-1]))

    def find_app(self):
        if self.panel.poll() is not None:
            raise AssertionError("shotsync-panel exited with %d" % self.panel.returncode)
        desktop = pyatspi.Registry.getDesktop(0)
        for i in range(desktop.childCount):
            app = desktop.getChildAtIndex(i)
            try:
                if app is not None and app.get_process_id() == self.panel.pid:
                    app.set_cache_mask(Atspi.Cache.NONE)
                    return app
            except Exception:
                continue
        return None

    def nodes(self):
        """Every accessible of the panel, fresh from the process."""
        self.app.clear_cache()
        out, stack = [], [self.app]
        while stack:
            acc = stack.pop()
            try:
                node = Node(acc, acc.getRoleName(), acc.name or "", acc.description or "")
                n = acc.childCount
            except Exception:
                continue
            if node.role != "application" or acc is self.app:
                out.append(node)
            for i in reversed(range(n)):
                try:
                    c = acc.getChildAtIndex(i)
                except Exception:
                    continue
                if c is not None:
                    stack.append(c)
        return out

    def find(self, name, role=None, nodes=None):
        """The first node whose name matches the regular expression."""
        rx = re.compile(name)
        for n in nodes if nodes is not None else self.nodes():
            if (role is None or n.role == role) and rx.search(n.name):
                return n
        return None

    def wait_for(self, name, role=None, what=None, timeout=DEFAULT_TIMEOUT):
        return self.wait(lambda: self.find(name, role), timeout=timeout, what=what or "%s %r" % (role or "", name))

    def wait_all(self, names, what, timeout=DEFAULT_TIMEOUT):
        def check():
            nodes = self.nodes()
            found = [self.find(n, None, nodes) for n in names]
            return found if all(found) else None
        try:
            return self.wait(check, timeout=timeout, what=what)
        except AssertionError as e:
            raise AssertionError("%s\npanel shows:\n  %s" % (e, "\n  ".join(repr(n) for n in self.nodes()
                                                                              if n.name))) from None

    def wait_state(self, name, role, state, present=True, what=None):
        def check():
            n = self.find(name, role)
            return n if n and n.states().contains(state) == present else None
        return self.wait(check, what=what or "%r %s %s" % (name, "has" if present else "lacks", state))

    def click(self, name, role="push button"):
        n = self.wait_for(name, role)
        action = n.acc.queryAction()
        for i in range(action.nActions):
            if action.getName(i) in ("click", "activate", "press"):
                action.doAction(i)
                return n
        raise AssertionError("%r has no click action: %r" % (n, [action.getName(i) for i in range(action.nActions)]))

    def keys(self, *strokes):
        """Types on the X keyboard through the registry (XTest), as a
        keyboard user would: ("alt", "n"), "42", ("sym", 0xFF0D)."""
        reg = pyatspi.Registry
        for k in strokes:
            if isinstance(k, tuple) and k[0] in ("alt", "ctrl"):
                code = {"alt": XK_ALT_L, "ctrl": XK_CONTROL_L}[k[0]]
                reg.generateKeyboardEvent(code, None, pyatspi.KEY_PRESS)
                reg.generateKeyboardEvent(ord(k[1]), None, pyatspi.KEY_SYM)
                reg.generateKeyboardEvent(code, None, pyatspi.KEY_RELEASE)
            elif isinstance(k, tuple) and k[0] == "sym":
                reg.generateKeyboardEvent(k[1], None, pyatspi.KEY_SYM)
            else:
                reg.generateKeyboardEvent(0, k, pyatspi.KEY_STRING)

    # ---- screenshots ----

    def screenshot(self, name, *colours):
        """Waits until the screen shows every colour, then keeps it."""
        shot = [None]

        def painted():
            w, h, px = self.desktop.screenshot()
            shot[0] = (w, h, px)
            return all(colour_count(px, c) >= 200 for c in colours)
        path = os.path.join(ARTIFACTS, name + ".png")
        try:
            self.wait(painted, what="screenshot %s showing %r" % (name, colours))
        finally:
            if shot[0]:
                write_png(path, *shot[0])
        self.shots_taken.append(path)
        return path

    def drop_now(self, camera, name, offset=0.0):
        """A file written now (the panel lists today's shots)."""
        return self.drop(camera, name, offset, base=self.base)


class TestPanel(PanelTestCase):
    def test_scenario(self):
        self.base = time.time()
        self.start_daemon()
        self.start_panel()
        self.wait_all([r"^Service state: running$", r"^Next shot number: 1$", r"^Last shot: none$"],
                      "the panel showing a running service")
        fire = self.wait_state("^Fire$", "push button", pyatspi.STATE_SENSITIVE)
        self.assertTrue(fire.states().contains(pyatspi.STATE_FOCUSABLE))

        # A trigger opens a shot: its trigger camera is present, two wait.
        self.drop_now("Trig", "shot_0001.tif")
        shot = self.wait_signal("ShotOpened")[0]
        self.wait_all([r"^Shot %s: collecting, 1 of 3 cameras present, closes in \d+ s$" % shot,
                       r"^Camera Trig: present$", r"^Camera A: waiting$", r"^Camera B: waiting$",
                       r"^Time left before timeout: closes in \d+ s$",
                       r"^Shot %s: collecting, 1 file$" % shot],
                      "shot %s open with A and B waiting" % shot)
        self.screenshot("01-shot-open-two-cameras-waiting", GREEN, WAITING)
        # The countdown runs (TimeoutSec is 10 s).
        left = int(re.search(r"closes in (\d+) s", self.find(r"^Time left before timeout").name).group(1))
        self.assertLessEqual(left, self.timeout)

        # A arrives; B never does: the shot times out with B missing.
        self.drop_now("A", "a_0001.tif", 0.4)
        self.wait_all([r"^Camera A: present$", r"^Camera B: waiting$",
                       r"^Shot %s: collecting, 2 of 3 cameras present" % shot], "A present")
        self.wait_closed(shot, timeout=self.timeout + DEFAULT_TIMEOUT)
        self.wait_all([r"^Shot %s: closed, timeout, 2 of 3 cameras present, missing B$" % shot,
                       r"^Camera B: missing$", r"^Camera A: present$",
                       r"^Shot %s: timeout, 2 files, MISSING: B$" % shot,
                       r"^Last shot: %s, timeout — MISSING B$" % shot],
                      "shot %s closed with B missing" % shot)
        self.screenshot("02-shot-closed-one-missing", VERMILLION, GREEN)

        # Its manifest's details: the files with their offsets from the
        # trigger, and metadata the lab attached.
        self.call("SetShotMetadata", (shot, {"laser_energy_J": "12.5", "gas_pressure_mbar": "3.2"}), "(sa{ss})")
        self.wait_signal("ShotUpdated", lambda p: p[0] == shot)
        row = self.wait_for(r"^Shot %s: timeout" % shot, "list item")
        self.activate_row(row)
        self.wait_all([r"^Shot %s — details$" % shot, r"^Camera Trig: \+0\.000 s from the trigger",
                       r"^Camera A: \+0\.400 s from the trigger, .*published as .*", r"^Missing: B$",
                       r"^Camera B: missing, no file$",
                       r"^Status: timeout$", r"^laser_energy_J: 12\.5$", r"^gas_pressure_mbar: 3\.2$"],
                      "the details of %s" % shot)
        self.screenshot("03-shot-details", VERMILLION)
        self.click("^Close$")
        self.wait(lambda: not self.find(r"— details$", "frame"), what="the details window closing")

        # Pause and resume from the panel.
        self.click("^Pause$")
        self.wait(lambda: self.get_property("State") == "paused", what="State paused")
        self.wait_all([r"^Service state: paused$", r"^Resume$"], "the panel showing paused")
        self.screenshot("04-paused", ORANGE)
        self.click("^Resume$")
        self.wait(lambda: self.get_property("State") == "running", what="State running")
        self.wait_for(r"^Service state: running$")

        # Renumber with the keyboard alone: Alt+N (the field's mnemonic),
        # select all, type, Enter.
        self.keys(("alt", "n"))
        self.wait_state(r"^Next shot number$", "spin button", pyatspi.STATE_FOCUSED)
        self.keys(("ctrl", "a"), "42", ("sym", RETURN))
        self.wait(lambda: self.get_property("NextShotNumber") == 42, what="NextShotNumber 42")
        self.wait_all([r"^Next shot number: 42$", r"^The next shot of today will be number 42\.$"],
                      "the panel showing 42")

        # Fire with no gphoto2 camera configured: the service's error, said.
        self.click("^Fire$")
        self.wait_for(r"^Error: Fire failed: .*\(NoCameras\)$", what="the NoCameras error")

        # The service stops: the panel says so and disables the controls.
        self.stop_daemon()
        self.daemon = None  # gone on purpose: the harness's waits must not fail on it
        self.wait_all([r"^Service state: not running$", r"^No live shots: the service is not running$",
                       r"^Last shot: %s" % shot, r"^Next shot number: unknown$"], "the service stopped")
        for button in ("^Fire$", "^Pause$", "^Set next shot number$"):
            n = self.wait_state(button, "push button", pyatspi.STATE_SENSITIVE, present=False)
            self.assertEqual(n.description, "The shotsync service is not running.")
        self.screenshot("05-service-stopped", STOPPED, VERMILLION)

        # It comes back: running again, its shots listed again.
        self.start_daemon()
        self.wait_all([r"^Service state: running$", r"^Next shot number: 42$",
                       r"^Shot %s: timeout, 2 files, MISSING: B$" % shot], "the service back")
        self.wait_state("^Fire$", "push button", pyatspi.STATE_SENSITIVE)

        # Ctrl+Q quits, cleanly.
        self.keys(("ctrl", "q"))
        try:
            rc = self.panel.wait(DEFAULT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail("shotsync-panel did not quit on Ctrl+Q")
        self.assertEqual(rc, 0, "shotsync-panel exit code")

    def activate_row(self, row):
        """Clicks a recent shot's row, as staff do (GTK 4.8 offers no AT-SPI
        action or focus call on list rows): a real pointer click through the
        registry's XTest at the row's place on the screen. GTK 4.8 reports
        positions within the window only; with no window manager on this X
        screen the window sits at its origin, so they are screen positions."""
        x, y, w, h = row.acc.queryComponent().getExtents(pyatspi.WINDOW_COORDS)
        self.assertGreater(w, 0, "%r has no extents" % row)
        pyatspi.Registry.generateMouseEvent(x + w // 2, y + h // 2, pyatspi.MOUSE_B1C)


class TestPanelStartup(PanelTestCase):
    """The panel started (and the service restarted) while a shot is open:
    the view is filled from ListShots and GetShot, not from signals."""
    timeout = 120

    def test_open_shot_before_panel(self):
        self.base = time.time() - 5
        self.start_daemon()
        self.drop_now("Trig", "shot_0001.tif")
        self.drop_now("A", "a_0001.tif", 0.2)
        self.drop_now("B", "b_0001.tif", -0.3)
        first = self.wait_signal("ShotClosed")[0]
        # Farther than MinShotIntervalSec (W/2): a new shot, not a duplicate trigger.
        self.drop_now("Trig", "shot_0002.tif", 8.0)
        self.drop_now("B", "b_0002.tif", 8.1)
        second = self.wait_signal("ShotOpened", lambda p: p[0] != first)[0]
        self.wait_signal("ImageAssigned", lambda p: p[0] == second and p[1] == "B")

        self.start_panel()
        self.wait_all([r"^Shot %s: collecting, 2 of 3 cameras present, closes in ~\d+ s$" % second,
                       r"^Camera Trig: present$", r"^Camera B: present$", r"^Camera A: waiting$",
                       r"^Shot %s: complete, 3 files, no camera missing$" % first,
                       r"^Shot %s: collecting, 2 files$" % second,
                       r"^Last shot: %s, collecting…$" % second, r"^Next shot number: 3$"],
                      "the panel filled from ListShots and GetShot")

        # The service restarts with the shot still open: it comes back.
        self.stop_daemon()
        self.daemon = None
        self.wait_all([r"^Service state: not running$", r"^No live shots: the service is not running$"],
                      "the service stopped")
        self.start_daemon()
        self.wait_all([r"^Service state: running$", r"^Camera B: present$", r"^Camera A: waiting$",
                       r"^Shot %s: collecting, 2 of 3 cameras present, closes in ~\d+ s$" % second],
                      "the open shot back after the restart")
        self.drop_now("A", "a_0002.tif", 8.2)
        self.wait_closed(second)
        self.wait_all([r"^Shot %s: closed, complete, 3 of 3 cameras present$" % second,
                       r"^Shot %s: complete, 3 files, no camera missing$" % second], "the shot complete")


class TestPanelClocks(PanelTestCase):
    """Rule 14 on the tiles: each camera's clock offset next to its tile,
    and a CLOCK SET badge once its PC's clock was set."""

    window = 20  # MinShotIntervalSec 10: A's files 3 s off still join at once
    timeout = 30

    def test_clock_offsets(self):
        self.base = time.time() - 900
        self.start_daemon()
        self.start_panel()
        self.wait_for(r"^Service state: running$")

        def shot(k, a_offset):
            self.drop_now("Trig", "shot_%04d.tif" % k, k * 60.0)
            self.drop_now("A", "a_%04d.tif" % k, k * 60.0 + a_offset + 0.1 * (k % 2))
            self.drop_now("B", "b_%04d.tif" % k, k * 60.0 - 2.0)
            self.wait_closed(self.wait_signal("ShotOpened", lambda p: p[1] == "Trig" and
                                              p[2].endswith("shot_%04d.tif" % k))[0])

        for k in range(9):
            shot(k, 3.0)
        self.wait_all([r"^Clock of A: \+3\.000 s$", r"^Clock of B: -2\.000 s$", r"^Clock of Trig: the reference$",
                       r"^Camera A: present$"], "each tile's clock offset")
        self.assertIsNone(self.find(r"^Clock of A was set"))

        for k in range(9, 12):
            shot(k, 6.0)
        self.wait_all([r"^Clock of A: \+6\.100 s$",
                       r"^Clock of A was set at [\d:.]+: now \+6\.100 s, was \+3\.000 s$",
                       r"^The clock of camera A was set: its files now lie \+6\.1 s from their shots \(was \+3\.0 s\)\.$"],
                      "the CLOCK SET badge on A's tile")
        self.assertIsNone(self.find(r"^Clock of B was set"))
        self.screenshot("clock-set", (0xE6, 0x9F, 0x00))

        # The next shot groups A with its new offset; a frame of Trig in free
        # run 1 s after its trigger is a duplicate trigger: the details say
        # both.
        shot(12, 6.0)
        last = self.get_property("LastShot")
        self.drop_now("Trig", "shot_frame.tif", 12 * 60.0 + 1.0)
        self.wait_signal("ImageIgnored", lambda p: p[2] == "duplicate-trigger")
        row = self.wait_for(r"^Shot %s: complete" % last, "list item")
        TestPanel.activate_row(self, row)
        self.wait_all([r"^Shot %s — details$" % last,
                       r"^Camera A: \+6\.000 s from the trigger, .*clock offset \+6\.100 s, published as ",
                       r"^Camera B: -2\.000 s from the trigger, .*clock offset -2\.000 s, published as ",
                       r"^Duplicate triggers: 1 ignored, closer than MinShotIntervalSec to this shot:"],
                      "the details of %s" % last)


class TestPanelBusLost(PanelTestCase):
    """The bus itself goes away (dbus-daemon restarted) and comes back."""

    def test_bus_lost(self):
        self.start_daemon()
        self.start_panel()
        self.wait_for(r"^Service state: running$")
        self.stop_daemon()
        self.daemon = None
        self.signals.close()
        self.bus.stop()
        self.wait_all([r"^Service state: no bus connection$", r"^No live shots: the service is not running$"],
                      "the panel without its bus")
        self.assertIsNone(self.panel.poll(), "shotsync-panel exited with the bus")
        # A new bus at the same address; the panel reconnects by itself.
        self.bus = shotsynctest.PrivateBus(self.tmp)
        self.conn = self.bus.connect()
        self.signals = shotsynctest.Signals(self.conn)
        self.wait_for(r"^Service state: not running$", what="the panel back on the bus")
        self.start_daemon()
        self.wait_all([r"^Service state: running$", r"^Next shot number: 1$"], "the service on the new bus")


class TestPanelHost(PanelTestCase):
    """--host reaches the service on another host's system bus through ssh,
    as systemd's -H does: ssh runs systemd-stdio-bridge there. A stand-in
    ssh first in PATH records its arguments and runs that remote command
    here, against the test's bus (systemd-stdio-bridge --bus-path=)."""

    def test_host(self):
        if not shutil.which("systemd-stdio-bridge"):
            self.skipTest("systemd-stdio-bridge is missing (Debian: systemd)")
        bindir = os.path.join(self.tmp, "bin")
        os.mkdir(bindir)
        argv_file = os.path.join(self.tmp, "ssh-argv")
        with open(os.path.join(bindir, "ssh"), "w") as f:
            f.write('#!/bin/sh\n'
                    '# ssh [OPTIONS] -- HOST COMMAND...: record, then run COMMAND here.\n'
                    'printf "%%s\\n" "$@" >"%s"\n'
                    'while [ "$1" != "--" ]; do shift; done\n'
                    'shift 2\n'
                    'exec "$@" --bus-path="%s"\n' % (argv_file, self.bus.address))
        os.chmod(os.path.join(bindir, "ssh"), 0o755)
        env = dict(self.desktop.env, PATH=bindir + ":" + self.desktop.env.get("PATH", os.environ["PATH"]))
        self.base = time.time()
        self.start_daemon()
        self.start_panel(["--host", "lab@pc1:2222"], env=env)
        self.wait_all([r"^Service state: running$", r"^shotsyncd \S+ · system bus of lab@pc1:2222$"],
                      "the panel on the service through ssh")
        with open(argv_file) as f:
            self.assertEqual(f.read().splitlines(), ["-xT", "-p", "2222", "--", "lab@pc1", "systemd-stdio-bridge"])
        # Signals and calls cross the bridge.
        self.drop_now("Trig", "shot_0001.tif")
        shot = self.wait_signal("ShotOpened")[0]
        self.wait_for(r"^Shot %s: collecting" % shot)
        self.click("^Pause$")
        self.wait(lambda: self.get_property("State") == "paused", what="paused through ssh")
        # The panel gone, so is its ssh: nothing left behind.
        def comm(pid):
            try:
                with open("/proc/%d/comm" % pid) as f:
                    return f.read().strip()
            except OSError:
                return ""
        bridges = [p for p in descendants(self.panel.pid) if comm(p).startswith("systemd-stdio")]
        self.assertTrue(bridges, "the panel runs ssh (here the bridge) as its child")
        self.stop_panel()
        self.wait(lambda: not any(alive(p) for p in bridges), what="ssh to end with the panel")


class TestPanelAccessDenied(PanelTestCase):
    """As a user outside group shotsync: the bus refuses the calls. The
    tests run as root, which the project's policy allows; a policy appended
    after it (later rules win) denies root the privileged methods, so
    dbus-daemon answers org.freedesktop.DBus.Error.AccessDenied exactly as
    it does to an unprivileged user."""
    policy_extra = ACCESS_DENIED_POLICY

    def test_access_denied(self):
        self.base = time.time()
        self.start_daemon()
        self.start_panel()
        self.wait_for(r"^Service state: running$")
        self.click("^Pause$")
        self.wait_for(r"^Error: Pause: not allowed \(AccessDenied\)\.$", what="the AccessDenied message")
        for button in ("^Fire$", "^Pause$", "^Set next shot number$"):
            n = self.wait_state(button, "push button", pyatspi.STATE_SENSITIVE, present=False)
            self.assertIn("only root and members of group “shotsync”", n.description)
        self.wait_for(r"^Not allowed: only root and members of group “shotsync”", "label")
        self.assertEqual(self.get_property("State"), "running")
        self.screenshot("06-access-denied", GREEN)


class TestPanelFire(FakecamMixin, PanelTestCase):
    """Fire from the panel through libgphoto2 to emulated cameras: one
    result per camera with its latency, an error for the faulty one."""
    timeout = 6
    serial_prefix = "PANEL"

    def test_fire_results(self):
        self.start_cams(3)
        good, bad = self.cams[:2], self.cams[2]
        bad.command("fault error")
        self.start_daemon()
        ports = {c.port for c in self.cams}
        self.wait(lambda: {c[2] for c in self.call("ListCameras")[0] if c[3] == "ready"} >= ports,
                  what="the emulated cameras ready")
        self.start_panel()
        self.wait_state("^Fire$", "push button", pyatspi.STATE_SENSITIVE)
        self.click("^Fire$")
        fired = self.wait_signal("Fired", timeout=DEFAULT_TIMEOUT + 10)
        shot = fired[0]
        self.assertTrue(shot)
        expect = [r"^Last Fire: Shot %s: 2 of 3 ok$" % shot, r"^Camera %s: error" % bad.serial]
        expect += [r"^Camera %s: ok, latency [\d.]+ ms" % c.serial for c in good]
        expect += [r"^Camera %s: (present|waiting)$" % c.serial for c in good]
        self.wait_all(expect, "the Fire results")
        self.wait_all([r"^Camera %s: present$" % c.serial for c in good], "the fired images in the shot")
        self.screenshot("07-fire-results", GREEN, VERMILLION)
        self.wait_closed(shot, timeout=self.timeout + DEFAULT_TIMEOUT)
        self.wait_all([r"^Camera %s: missing$" % bad.serial,
                       r"^Shot %s: timeout, 2 files, MISSING: %s$" % (shot, bad.serial)], "the shot closed")

    def test_fire_after_delay(self):
        # A delay typed next to Fire: FireAt at the click + 1500 ms; the
        # results say how far from that instant each command left.
        self.start_cams(2)
        self.start_daemon()
        ports = {c.port for c in self.cams}
        self.wait(lambda: {c[2] for c in self.call("ListCameras")[0] if c[3] == "ready"} >= ports,
                  what="the emulated cameras ready")
        self.start_panel()
        self.wait_state("^Fire$", "push button", pyatspi.STATE_SENSITIVE)
        self.keys(("alt", "a"))
        self.wait_state(r"^Fire after$", "spin button", pyatspi.STATE_FOCUSED)
        self.keys(("ctrl", "a"), "1500", ("sym", RETURN))
        self.wait(lambda: self.find(r"^Fire after$", "spin button").acc.queryValue().currentValue == 1500,
                  what="the delay set to 1500 ms")
        before = time.time_ns() // 1000
        self.click("^Fire$")
        # Armed, not fired yet: the panel says when it fires.
        self.wait_for(r"^Firing at \d\d:\d\d:\d\d\.\d{3}…$", what="the panel armed")
        fired = self.wait_signal("Fired", timeout=DEFAULT_TIMEOUT + 10)
        after = time.time_ns() // 1000
        shot = fired[0]
        opened = self.signals.find("ShotOpened", lambda p: p[0] == shot)
        at = opened[3]
        self.assertTrue(before + 1500000 <= at <= after, (before, at, after))
        with open(self.cam_log) as f:
            stamps = [line.split()[2] for line in f if line.startswith("capture ")]
        self.assertEqual(len(stamps), 2)
        for st in stamps:
            sec, nsec = st.split(".")
            self.assertGreaterEqual(int(sec) * 10**6 + int(nsec.ljust(9, "0")) // 1000, at, "a command left early")
        when = time.strftime("%H:%M:%S", time.localtime(at // 10**6)) + ".%03d" % (at % 10**6 // 1000)
        expect = [r"^Last Fire: Shot %s: 2 of 2 ok, fired at %s$" % (shot, re.escape(when))]
        expect += [r"^Camera %s: ok, left the instant \+\d+ µs, /" % c.serial for c in self.cams]
        self.wait_all(expect, "the FireAt results")
        self.screenshot("08-fire-after-delay", GREEN)


if __name__ == "__main__":
    why = missing_tools()
    if why:
        print("SKIP:", why, file=sys.stderr)
        sys.exit(SKIP)
    result = unittest.main(verbosity=2, exit=False).result
    if not result.wasSuccessful():
        sys.exit(1)
    # Every case skipped (no emulator for Fire): meson's skip, not a pass.
    sys.exit(SKIP if result.testsRun and len(result.skipped) == result.testsRun else 0)
