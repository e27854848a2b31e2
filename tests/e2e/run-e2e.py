#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""shotsync as a real system service, end to end (issue 5).

The build is installed (`meson install --destdir`) into the upper directory
of an overlayfs over `/` (on a tmpfs of its own; the host's shotsync files
and journal, if any, hidden by whiteouts), that tree is booted with
`systemd-nspawn --boot --register=no --keep-unit --private-network`, and the
container is driven with `nsenter -t <its systemd> -a …`:

  post-install (sysusers, tmpfiles; nothing written to /etc) → the service
  starts on its defaults, with no configuration file at all (Type=notify:
  READY=1, STATUS=) → a lab configuration
  with a trigger camera, a two-kind camera, a .png camera and two emulated
  PTP/IP cameras (shotsync-fakecam) on the container's loopback → files
  dropped into camera folders are grouped, published and announced (busctl
  monitor), the clean tree and manifests checked byte for byte → Fire as
  root; Fire, Pause, Reload refused to nobody (AccessDenied), allowed to a
  member of group shotsync → systemctl reload keeps an open shot, and an
  invalid drop-in is refused with the reason in the journal → kill -9 is
  restarted by systemd and the shot completes exactly once → SIGSTOP is
  caught by the watchdog (WatchdogSec=3s drop-in) → systemd-analyze security
  → the drop-ins shotsyncd(8) documents for a Nextcloud folder under /home
  and a clean root elsewhere → the journal's SHOT_ID=/CAMERA=/RAW_PATH=
  fields → systemctl stop within 2 s with cameras connected and a shot open.

Deadlines everywhere, no fixed sleeps; every mount and process it makes is
undone, even on failure or SIGTERM.

Usage: run-e2e.py BUILD_DIR [SOURCE_DIR]
Exit status: 0 success, 1 failure, 77 skipped (not root, no systemd-nspawn,
no overlayfs).
SHOTSYNC_E2E_HOLD=1 keeps the container up after a failure, =always before
the final stop, until the test gets SIGINT: to look around with the nsenter
command it prints.
"""

import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time

BUS_NAME = "org.shotsync.Shotsync1"
BUS_PATH = "/org/shotsync/Shotsync1"
BUS_IFACE = "org.shotsync.Shotsync1"
UNIT = "shotsync.service"
EXIT_SKIP = 77
# Below meson's 600 s timeout, so that the clean-up always gets to run.
BUDGET_SEC = 540
START = time.monotonic()
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
E2E_LIBEXEC = "/usr/local/libexec/shotsync-e2e"  # inside the container
RAW = "/srv/shotsync/raw"
CLEAN = "/srv/shotsync/clean"
NEXTCLOUD = "/home/lab/Nextcloud/RAW"
DATA_CLEAN = "/data/shotsync/clean"
WINDOW = 10
# What a host with shotsync installed (or a journal of its own) would leak
# into the container; the journal then is the container's alone (volatile).
HIDE_FROM_HOST = ("/etc/shotsync", "/var/lib/shotsync", "/srv/shotsync", "/data/shotsync", "/home/lab",
                  "/etc/systemd/system/shotsync.service", "/etc/systemd/system/shotsync.service.d",
                  "/etc/systemd/system/multi-user.target.wants/shotsync.service", "/var/log/journal")
TIMEOUT = 60


class Failure(Exception):
    pass


class Skip(Exception):
    pass


class Interrupted(BaseException):
    """A signal: not a failed check that later steps could live with."""


def say(msg):
    print(msg, flush=True)


def ok(msg):
    say("ok    " + msg)


def skipped(msg):
    say("SKIP  " + msg)


def elapsed():
    return time.monotonic() - START


def check(cond, msg, detail=None):
    if not cond:
        raise Failure(msg + ("" if detail is None else ": %s" % (detail,)))


def wait_for(pred, timeout, what):
    """Polls pred() until it returns something true, with a deadline."""
    end = min(time.monotonic() + timeout, START + BUDGET_SEC)
    delay = 0.02
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            raise Failure("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def text(b):
    return b.decode("utf-8", "surrogateescape") if isinstance(b, bytes) else b


def process_identity(pid):
    """PID and start time: a PID reused by another process does not match."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return "%d %s" % (pid, f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError):
        return ""


def reap_stale_runs():
    """Only SIGKILL stops a run from cleaning up after itself (its container
    then shuts down by itself, see die_with_parent); what it leaves is its
    overlay and tmpfs. Unmounts those of runs whose process is gone."""
    tmpdir = tempfile.gettempdir()
    with open("/proc/self/mountinfo") as f:
        targets = [line.split()[4] for line in f]
    for top in sorted({t for t in targets if os.path.dirname(t) == tmpdir and
                       os.path.basename(t).startswith("shotsync-e2e.")}):
        try:
            with open(os.path.join(top, "owner")) as f:
                owner = f.read().strip()
        except OSError:
            continue
        pid = int(owner.split()[0]) if owner else 0
        if pid and process_identity(pid) == owner:
            continue  # still running
        for t in sorted((t for t in targets if t == top or t.startswith(top + "/")), key=len, reverse=True):
            subprocess.run(["umount", t], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            os.rmdir(top)
            say("note  removed %s, left by a killed run" % top)
        except OSError:
            say("note  could not remove %s, left by a killed run" % top)


def die_with_parent():
    """preexec_fn: SIGTERM when the test itself dies, even by SIGKILL, so
    that a killed test still shuts its container down."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class Container:
    """The overlay, the nspawn container in it, and what runs there."""

    def __init__(self, build_dir, source_dir):
        self.build_dir = os.path.abspath(build_dir)
        self.source_dir = os.path.abspath(source_dir)
        self.machine = "shotsync-e2e-%d" % os.getpid()
        self.tmp = None
        self.upper = None
        self.merged = None
        self.mounts = []  # made by us, umounted in reverse order
        self.nspawn = None
        self.nspawn_log = None
        self.pid = None  # the container's systemd, as the host sees it
        self.background = []  # Popen of nsenter'ed long-running commands
        self.had_nspawn_run = os.path.exists("/run/systemd/nspawn")

    # ---- setting up ----

    def setup(self):
        reap_stale_runs()
        self.tmp = tempfile.mkdtemp(prefix="shotsync-e2e.")
        # A tmpfs of its own: overlayfs refuses an upper directory inside
        # its lower one, and nothing of the test then lands on the disk.
        self.mount("-t", "tmpfs", "-o", "mode=0755", "shotsync-e2e", self.tmp)
        with open(os.path.join(self.tmp, "owner"), "w") as f:
            f.write(process_identity(os.getpid()))
        self.upper = os.path.join(self.tmp, "upper")
        work = os.path.join(self.tmp, "work")
        self.merged = os.path.join(self.tmp, "merged")
        for d in (self.upper, work, self.merged):
            os.mkdir(d)
        self.install()
        try:
            self.mount("-t", "overlay", "-o", "lowerdir=/,upperdir=%s,workdir=%s" % (self.upper, work),
                       "shotsync-e2e", self.merged)
        except Failure as e:
            raise Skip("cannot mount an overlayfs over / here (%s)" % e)
        ok("overlayfs over / at %s" % self.merged)
        self.boot()

    def mount(self, *args):
        p = subprocess.run(["mount"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            raise Failure("mount %s: %s" % (" ".join(args), text(p.stdout).strip()))
        self.mounts.append(args[-1])

    def install(self):
        # With a merged /usr, /lib and friends are symlinks: the same ones in
        # the upper directory keep `DESTDIR/lib/systemd/system` from hiding
        # the whole of /lib.
        for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            target = os.path.join("/", name)
            if os.path.islink(target):
                link = os.readlink(target)
                os.symlink(link, os.path.join(self.upper, name))
                if not os.path.isabs(link):
                    os.makedirs(os.path.join(self.upper, link), exist_ok=True)
        # A host that has shotsync installed and running already: none of its
        # configuration, state, data or unit overrides may leak into the
        # test. Whiteouts (0/0 character devices) hide them in the overlay.
        for path in HIDE_FROM_HOST:
            if os.path.lexists(path):
                os.makedirs(os.path.dirname(self.upper + path), exist_ok=True)
                os.mknod(self.upper + path, 0o600 | stat.S_IFCHR, os.makedev(0, 0))
                say("note  %s of the host hidden from the container" % path)
        env = dict(os.environ, DESTDIR=self.upper)
        p = subprocess.run(["meson", "install", "-C", self.build_dir, "--no-rebuild", "--quiet", "--destdir",
                            self.upper], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=120)
        if p.returncode != 0:
            raise Failure("meson install --destdir failed:\n" + text(p.stdout))
        for path in ("/usr/libexec/shotsyncd", "/usr/bin/shotsyncctl",
                     "/usr/share/doc/shotsync/examples/shotsync.conf",
                     "/usr/share/dbus-1/system.d/org.shotsync.Shotsync1.conf",
                     "/usr/share/dbus-1/interfaces/org.shotsync.Shotsync1.xml",
                     "/usr/share/man/man8/shotsyncd.8", "/usr/share/man/man1/shotsyncctl.1",
                     "/usr/share/man/man5/shotsync.conf.5", "/usr/share/man/man5/org.shotsync.Shotsync1.5"):
            check(os.path.exists(self.upper + path), "installed " + path)
        units = [os.path.join(d, UNIT) for d in ("/lib/systemd/system", "/usr/lib/systemd/system")]
        check(any(os.path.exists(self.upper + u) for u in units), "installed " + UNIT)
        ok("meson install --destdir into the overlay's upper directory: daemon, client, unit, policy, "
           "sysusers.d, tmpfiles.d, example configuration (documentation), man pages")
        # Test helpers: the PTP/IP camera emulator and the post-install script.
        helpers = self.upper + E2E_LIBEXEC
        os.makedirs(helpers)
        shutil.copy2(os.path.join(self.build_dir, "tests", "fakecam", "shotsync-fakecam"), helpers)
        shutil.copy2(os.path.join(self.source_dir, "systemd", "post-install.sh"), helpers)

    def boot(self):
        self.nspawn_log = open(os.path.join(self.tmp, "nspawn.log"), "w+b")
        # --private-network: the container's own loopback for the emulated
        # cameras, nothing shared with the host or parallel tests.
        # basic.target: the system bus and journald, not every service the
        # host happens to have enabled.
        argv = ["systemd-nspawn", "--boot", "--register=no", "--keep-unit", "--private-network",
                "--console=read-only", "--machine=" + self.machine, "-D", self.merged,
                "systemd.unit=basic.target"]
        self.nspawn = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.nspawn_log,
                                       stderr=subprocess.STDOUT, start_new_session=True,
                                       preexec_fn=die_with_parent)
        self.pid = wait_for(self.find_init, 30, "the container's systemd to start")
        state = wait_for(self.booted, 120, "the container to finish booting")
        ok("booted the overlay with systemd-nspawn (machine %s, container systemd is host PID %d, %s)" %
           (self.machine, self.pid, state))

    def find_init(self):
        if self.nspawn.poll() is not None:
            raise Failure("systemd-nspawn exited with %s:\n%s" % (self.nspawn.returncode, self.log_tail()))
        todo = [self.nspawn.pid]
        while todo:
            pid = todo.pop()
            try:
                with open("/proc/%d/status" % pid) as f:
                    status = f.read()
                kids = []
                for tid in os.listdir("/proc/%d/task" % pid):
                    with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                        kids += [int(k) for k in f.read().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue
            m = re.search(r"^NSpid:\s+(.*)$", status, re.M)
            if pid != self.nspawn.pid and m and m.group(1).split()[-1] == "1" and len(m.group(1).split()) > 1:
                return pid
            todo += kids
        return None

    def booted(self):
        if self.nspawn.poll() is not None:
            raise Failure("systemd-nspawn exited with %s:\n%s" % (self.nspawn.returncode, self.log_tail()))
        p = self.run("systemctl", "is-system-running", check=False, timeout=10)
        state = text(p.stdout).strip()
        return state if state in ("running", "degraded") else None

    def log_tail(self, n=40):
        if not self.nspawn_log:
            return ""
        self.nspawn_log.flush()
        self.nspawn_log.seek(0)
        lines = text(self.nspawn_log.read()).splitlines()
        return "\n".join(lines[-n:])

    # ---- tearing down ----

    def teardown(self):
        errors = []
        for p in self.background:
            stop_background(p)
        if self.nspawn and self.nspawn.poll() is None:
            # SIGTERM: nspawn asks the container's systemd to power off.
            self.nspawn.terminate()
            try:
                self.nspawn.wait(45)
            except subprocess.TimeoutExpired:
                errors.append("systemd-nspawn did not stop within 45 s; killed")
                if self.pid:
                    try:
                        os.kill(self.pid, signal.SIGKILL)  # ends the whole PID namespace
                    except ProcessLookupError:
                        pass
                self.nspawn.kill()
                self.nspawn.wait(30)
        if self.nspawn and self.nspawn.returncode not in (0, None):
            say("note  systemd-nspawn exited with %s" % self.nspawn.returncode)
        if self.nspawn_log:
            self.nspawn_log.close()
        for target in reversed(self.mounts):
            p = subprocess.run(["umount", target], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if p.returncode != 0:
                errors.append("umount %s: %s; detaching it lazily" % (target, text(p.stdout).strip()))
                subprocess.run(["umount", "--lazy", target])
        self.mounts = []
        if self.tmp:
            try:
                os.rmdir(self.tmp)
            except OSError as e:
                errors.append("rmdir %s: %s" % (self.tmp, e))
        # nspawn's per-machine propagation folder, when it could not remove
        # it, and its own folders when this test made them.
        leftovers = ["/run/systemd/nspawn/propagate/" + self.machine]
        if not self.had_nspawn_run:
            leftovers += ["/run/systemd/nspawn/propagate", "/run/systemd/nspawn/locks", "/run/systemd/nspawn"]
        for d in leftovers:
            try:
                os.rmdir(d)
            except OSError:
                pass
        return errors

    # ---- running things inside ----

    def argv(self, cmd, user=None):
        prefix = ["nsenter", "-t", str(self.pid), "-a", "env", "-i", "PATH=" + CONTAINER_PATH, "LANG=C.UTF-8",
                  "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=", "SYSTEMD_URLIFY=0"]
        if user == "nobody":
            prefix += ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        elif user:
            prefix += ["runuser", "-u", user, "--"]
        return prefix + list(cmd)

    def run(self, *cmd, check=True, timeout=60, user=None, input=None):
        try:
            p = subprocess.run(self.argv(cmd, user), input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failure("in the container, %r took more than %d s" % (" ".join(cmd), timeout))
        if check and p.returncode != 0:
            raise Failure("in the container, %r failed with %d:\n%s%s" % (" ".join(cmd), p.returncode,
                                                                          text(p.stdout), text(p.stderr)))
        return p

    def out(self, *cmd, **kw):
        return text(self.run(*cmd, **kw).stdout)

    def write(self, path, content):
        """Writes a file as the container sees it (its /run is its own tmpfs)."""
        self.run("sh", "-ec", 'mkdir -p "$(dirname "$1")"; cat > "$1"', "sh", path, input=content.encode())

    def sh(self, script, **kw):
        return self.out("sh", "-ec", script, **kw)

    def spawn(self, *cmd, stdout=subprocess.PIPE, stderr=None):
        p = subprocess.Popen(self.argv(cmd), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                             preexec_fn=die_with_parent)
        self.background.append(p)
        return p

    def path(self, p):
        """The container's path p as the host sees it through the overlay."""
        return self.merged + p

    # ---- the service ----

    def show(self, *props):
        out = self.out("systemctl", "show", "--property=" + ",".join(props), UNIT)
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def busctl(self, *args, user=None, check=True, timeout=30):
        return self.run("busctl", "--json=short", "--timeout=%d" % timeout, *args, user=user, check=check,
                        timeout=timeout + 10)

    def call(self, method, *sig_args, user=None, timeout=30):
        p = self.busctl("call", BUS_NAME, BUS_PATH, BUS_IFACE, method, *[str(a) for a in sig_args], user=user,
                        timeout=timeout)
        o = text(p.stdout).strip()
        return json.loads(o)["data"] if o else None

    def prop(self, name, user=None):
        p = self.busctl("get-property", BUS_NAME, BUS_PATH, BUS_IFACE, name, user=user)
        return json.loads(text(p.stdout))["data"]

    def journal(self, *args):
        return self.out("journalctl", "--no-pager", *args, timeout=60)

    def cursor(self):
        """The journal's current end: journal("--after-cursor=" + it) is what came later."""
        out = self.journal("-n", "0", "--show-cursor")
        m = re.search(r"^-- cursor: (.*)$", out, re.M)
        check(m, "journalctl --show-cursor", out)
        return m.group(1)

    def main_pid(self):
        return int(self.show("MainPID")["MainPID"])


def add_user(c, name, *args):
    """useradd, unless the host's user database has that user already."""
    if c.run("getent", "passwd", name, check=False).returncode != 0:
        c.run("useradd", *args, name)


def stop_background(p):
    """Stops an nsenter'ed command: nsenter forks, and the command is its
    child (in the container's PID namespace), which it does not signal."""
    if p.poll() is None:
        kids = []
        try:
            for tid in os.listdir("/proc/%d/task" % p.pid):
                with open("/proc/%d/task/%s/children" % (p.pid, tid)) as f:
                    kids += [int(k) for k in f.read().split()]
        except FileNotFoundError:
            pass
        for k in kids:
            try:
                os.kill(k, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            for k in kids:
                try:
                    os.kill(k, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.kill()
            p.wait(10)
    for f in (p.stdout, p.stderr):
        if f:
            f.close()


class Monitor:
    """`busctl monitor org.shotsync.Shotsync1` inside the container, its
    messages parsed as they come."""

    def __init__(self, c):
        self.c = c
        self.messages = []
        self.lock = threading.Lock()
        self.err = open(os.path.join(c.tmp, "monitor.stderr"), "w+b")
        self.proc = c.spawn("busctl", "--json=short", "monitor", BUS_NAME, stderr=self.err)
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()
        # A call we make is seen: from then on nothing is missed.
        wait_for(lambda: self.c.prop("Version") and self.find("Get", kind="method_call"), 20,
                 "busctl monitor to see our calls")

    def read(self):
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.messages.append(msg)

    def signals(self, member=None):
        with self.lock:
            msgs = list(self.messages)
        return [(m["member"], m.get("payload", {}).get("data", [])) for m in msgs
                if m.get("type") == "signal" and m.get("interface") == BUS_IFACE and
                (member is None or m.get("member") == member)]

    def find(self, member, kind="signal"):
        with self.lock:
            return [m for m in self.messages if m.get("type") == kind and m.get("member") == member]

    def wait(self, member, pred, timeout, what):
        def found():
            if self.proc.poll() is not None:
                self.err.seek(0)
                raise Failure("busctl monitor exited: %s" % text(self.err.read()))
            hits = [args for _, args in self.signals(member) if pred(args)]
            return hits[0] if hits else None
        return wait_for(found, timeout, what)

    def count(self, member, pred):
        return len([1 for _, a in self.signals(member) if pred(a)])


class E2E:
    def __init__(self, c):
        self.c = c
        self.failures = []  # failed checks after which the rest can still run

    def soft(self, step, *args):
        """Runs a step whose failure leaves the service usable: reported,
        and the test goes on to tell what else works."""
        try:
            return step(*args)
        except Failure as e:
            say("FAIL  %s" % e)
            self.failures.append(str(e))
            return None

    # ---- helpers ----

    def dates(self, secs):
        """Local YYYYMMDD and HHMMSS of each time, in the container's zone."""
        out = self.c.sh(" ".join("date -d @%d +'%%Y%%m%%d %%H%%M%%S';" % s for s in secs))
        return [tuple(line.split()) for line in out.splitlines()]

    def drop(self, root, rel, mtime_ns, size=3000):
        """A file arrives as sync clients write them: a temporary name,
        then a rename; its mtime is the camera PC's."""
        path = self.c.path(os.path.join(root, rel))
        d, name = os.path.split(path)
        os.makedirs(d, exist_ok=True)
        tmp = os.path.join(d, "." + name + ".part")
        data = os.urandom(size)
        with open(tmp, "wb") as f:
            f.write(data)
        os.utime(tmp, ns=(mtime_ns, mtime_ns))
        os.rename(tmp, path)
        return data

    def shot_files(self, t_sec, stamp, cams=("Lanex1", "FROG.tiff", "FROG.fer", "NearField")):
        """The files of one lab shot around t_sec (camera → (rel path, mtime ns))."""
        day = time.strftime("%Y%m%d", time.localtime(t_sec))  # only a folder name
        plan = {
            "Lanex1": ("Lanex1/%s/Lanex1_shot_%s.tif" % (day, stamp), 0),
            "FROG.tiff": ("FROG/%s/FROG_%s.TIFF" % (day, stamp), 1_200_000_000),
            "FROG.fer": ("FROG/%s/FROG_%s.fer" % (day, stamp), 1_300_000_000),
            "NearField": ("NearField/%s/nf_%s.png" % (day, stamp), -2_500_000_000),
        }
        return {k: (plan[k][0], t_sec * 1_000_000_000 + 123_456_789 + plan[k][1]) for k in cams}

    def drop_all(self, files, root=RAW):
        return {k: self.drop(root, rel, ns) for k, (rel, ns) in files.items()}

    def check_published(self, shot_id, files, contents, raw_root=RAW, extra_cameras=(), clean=CLEAN):
        """The clean tree holds the shot's files under SPEC §3 names, the same
        bytes as the raw ones, and a manifest that says so."""
        date, num = shot_id.split("-")
        manifest_path = self.c.path("%s/shots/%s/shot%s.json" % (clean, date, num))
        check(os.path.exists(manifest_path), "manifest of %s" % shot_id, manifest_path)
        with open(manifest_path) as f:
            m = json.load(f)
        check(m["id"] == shot_id and m["status"] == "complete" and m["missing"] == [],
              "manifest of %s complete" % shot_id, m)
        by_raw = {f["raw_path"]: f for f in m["files"]}
        hhmmss = self.dates([ns // 1_000_000_000 for _, ns in files.values()])
        for i, (key, (rel, ns)) in enumerate(files.items()):
            cam = key.split(".")[0]
            raw = os.path.join(raw_root, rel)
            f = by_raw.get(raw)
            check(f is not None, "%s in the manifest of %s" % (raw, shot_id), sorted(by_raw))
            ext = os.path.splitext(rel)[1].lower()
            want = "%s/%s/%s/%s_%s_%s_shot%s%s" % (clean, cam, date, cam, date, hhmmss[i][1], num, ext)
            check(f["clean_path"] == want, "clean name of %s" % raw, (f["clean_path"], want))
            with open(self.c.path(want), "rb") as cf:
                data = cf.read()
            check(data == contents[key], "published bytes of %s" % want)
            check(f["sha256"] == hashlib.sha256(data).hexdigest() and f["size"] == len(data),
                  "sha256 and size of %s in the manifest" % want)
        check(len(m["files"]) == len(files) + len(extra_cameras), "files in the manifest of %s" % shot_id,
              [f["raw_path"] for f in m["files"]])
        return m

    def wait_shot(self, mon, trigger_raw, timeout=30):
        opened = mon.wait("ShotOpened", lambda a: a[2] == trigger_raw, timeout,
                          "ShotOpened for %s" % trigger_raw)
        return opened[0], opened

    def wait_closed(self, mon, shot_id, timeout=30):
        return mon.wait("ShotClosed", lambda a: a[0] == shot_id, timeout, "ShotClosed for %s" % shot_id)

    def write_config(self, raw=RAW, ports=True, clean=CLEAN):
        cams = ""
        if ports:
            cams = "".join("\n[Camera %s]\nFiles=*.jpg\nExpected=false\n" % s for s in self.serials)
        cfg = """# shotsync e2e: the example's folders, a lab's cameras.
[Watch]
RawRoot={raw}
IgnoreKeywords=test;align

[Grouping]
FullWindowSec={w}
TimeoutSec={t}

[Output]
CleanRoot={clean}

# The trigger camera.
[Camera Lanex1]
Trigger=true
Files=*.tif|*.tiff

# Two files per shot.
[Camera FROG]
Files=*.tiff;*.fer

# A .png camera.
[Camera NearField]
Files=*.png
{cams}
[Trigger]
Ports={ports}
Download=true
CaptureTimeoutSec=5
""".format(raw=raw, clean=clean, w=WINDOW, t=TIMEOUT, cams=cams,
           ports=";".join("ptpip:" + a for a in self.addresses) if ports else "")
        self.c.write("/etc/shotsync/shotsync.conf", cfg)

    def restart(self):
        self.c.run("systemctl", "restart", UNIT)
        s = self.c.show("ActiveState", "SubState")
        check(s["ActiveState"] == "active", "active after restart", s)

    # ---- the steps ----

    def install(self):
        c = self.c
        c.run("env", "MESON_INSTALL_PREFIX=/usr", E2E_LIBEXEC + "/post-install.sh")
        pw = c.out("getent", "passwd", "shotsync").strip().split(":")
        check(pw[5] == "/var/lib/shotsync", "shotsync's home", pw)
        groups = c.out("id", "-nG", "shotsync").split()
        check("shotsync" in groups and "plugdev" in groups, "shotsync in groups shotsync and plugdev", groups)
        st = os.stat(c.path(CLEAN))
        check(st.st_uid == int(pw[2]), "%s owned by shotsync" % CLEAN)
        st = os.stat(c.path(RAW))
        check(st.st_gid == int(pw[3]) and st.st_mode & 0o7777 == 0o2775, "%s 2775 root:shotsync" % RAW,
              oct(st.st_mode))
        check(c.run("test", "-e", "/etc/shotsync", check=False).returncode != 0, "nothing written to /etc/shotsync",
              c.out("ls", "-la", "/etc/shotsync", check=False))
        ok("post-install: user shotsync (groups %s), %s and %s, no /etc/shotsync" % (",".join(groups), RAW, CLEAN))

    def example_config(self):
        """No configuration file anywhere (SPEC §5): the defaults."""
        c = self.c
        for d in ("/etc/shotsync", "/run/shotsync", "/usr/lib/shotsync"):
            check(c.run("test", "-e", d, check=False).returncode != 0, "no %s before the first start" % d)
        c.run("systemctl", "start", UNIT, timeout=60)
        s = c.show("ActiveState", "SubState", "StatusText", "MainPID", "Type", "NotifyAccess", "User")
        check(s["ActiveState"] == "active" and s["SubState"] == "running", "active (running)", s)
        check(s["Type"] == "notify", "Type=notify", s)
        check(re.match(r"(watching|scanning) \d+ cameras?, \d+ shots? open", s["StatusText"]),
              "STATUS= text", s["StatusText"])
        ok("no configuration file at all: the defaults start, %s/%s, READY=1 reached, StatusText=%r" %
           (s["ActiveState"], s["SubState"], s["StatusText"]))
        pid = int(s["MainPID"])
        with open("/proc/%d/status" % self.host_pid(pid)) as f:
            status = f.read()
        uid = re.search(r"^Uid:\s+(\d+)", status, re.M).group(1)
        check(uid == c.out("id", "-u", "shotsync").strip(), "runs as shotsync", uid)
        caps = re.search(r"^CapEff:\s+(\w+)", status, re.M).group(1)
        check(int(caps, 16) == 0, "no capabilities", caps)
        ok("runs as user shotsync with no capabilities")
        shots = c.call("ListShots", "sb", "", "false")
        check(shots == [[]], "ListShots of an empty day", shots)
        ok('busctl call %s %s %s ListShots sb "" false → %s' % (BUS_NAME, BUS_PATH, BUS_IFACE,
                                                                  json.dumps(shots[0])))
        for name, want in (("RawRoot", RAW), ("CleanRoot", CLEAN), ("State", "running")):
            v = c.prop(name)
            check(v == want, "property %s" % name, v)
        ok("busctl get-property: Version=%s State=running RawRoot=%s CleanRoot=%s" % (c.prop("Version"), RAW,
                                                                                      CLEAN))

    def host_pid(self, pid):
        """A container PID as the host sees it (the container's /proc knows
        nothing of the host's)."""
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/status" % entry) as f:
                    m = re.search(r"^NSpid:\s+(.*)$", f.read(), re.M)
            except OSError:
                continue
            ids = m.group(1).split() if m else []
            if len(ids) >= 2 and ids[-1] == str(pid) and self.in_container(int(entry)):
                return int(entry)
        raise Failure("no host PID for container PID %d" % pid)

    def in_container(self, hostpid):
        try:
            return os.readlink("/proc/%d/ns/pid" % hostpid) == os.readlink("/proc/%d/ns/pid" % self.c.pid)
        except OSError:
            return False

    def cameras(self):
        """Two emulated PTP/IP cameras on the container's loopback, as
        transient units of the container's systemd."""
        c = self.c
        self.serials = ["E2ECAM01", "E2ECAM02"]
        self.addresses = ["127.0.0.2", "127.0.0.3"]
        c.run("mkdir", "-p", "/run/shotsync-e2e")
        for i, (serial, addr) in enumerate(zip(self.serials, self.addresses)):
            c.run("systemd-run", "--quiet", "--collect", "--unit=shotsync-e2e-cam%d" % i,
                  "--setenv=HOME=/run/shotsync-e2e", E2E_LIBEXEC + "/shotsync-fakecam", "--address", addr,
                  "--serial", serial, "--log", "/run/shotsync-e2e/captures.log", "--control",
                  "/run/shotsync-e2e/cam%d.sock" % i)
        for i, addr in enumerate(self.addresses):
            want = "ready %s:15740" % addr
            wait_for(lambda: want in c.journal("-u", "shotsync-e2e-cam%d" % i, "-o", "cat"), 30,
                     "emulated camera %d (%s)" % (i, want))
        ok("two emulated PTP/IP cameras on the container's loopback: %s" %
           ", ".join("ptpip:%s (%s)" % x for x in zip(self.addresses, self.serials)))

    def lab_config(self):
        c = self.c
        # The download folders of the gphoto2 cameras are shotsync's to make.
        for cam in ("Lanex1", "FROG", "NearField"):
            os.makedirs(c.path(os.path.join(RAW, cam)), exist_ok=True)
        self.write_config()
        self.restart()
        cams = sorted(c.prop("Cameras"))
        check(cams == ["FROG", "Lanex1", "NearField"], "expected cameras", cams)
        check(c.prop("TriggerCameras") == ["Lanex1"], "trigger cameras", c.prop("TriggerCameras"))
        ok("lab configuration: Cameras=%s TriggerCameras=[Lanex1]" % cams)

    def drop_shot(self, mon):
        c = self.c
        t = int(time.time()) - 600
        files = self.shot_files(t, "A")
        noise = {"align": ("Lanex1/align_shot_A.tif", t * 10**9), "temp": ("NearField/nf_A.png.part", t * 10**9)}
        self.drop_all(noise)
        contents = self.drop_all(files)
        trigger = os.path.join(RAW, files["Lanex1"][0])
        shot_id, opened = self.wait_shot(mon, trigger)
        check(sorted(opened[6]) == ["FROG", "Lanex1", "NearField"], "expected cameras of %s" % shot_id, opened)
        check(opened[3] == files["Lanex1"][1] // 1000, "trigger_usec", opened)
        check(opened[4] == opened[3] - WINDOW * 500000 and opened[5] == opened[3] + WINDOW * 500000,
              "window", opened)
        closed = self.wait_closed(mon, shot_id)
        check(closed[1] == "complete" and closed[3] == [], "ShotClosed complete", closed)
        check(sorted(closed[2]) == ["FROG/1", "FROG/2", "Lanex1", "NearField"], "ShotClosed images", closed[2])
        assigned = [a for a in mon.signals("ImageAssigned") if a[1][0] == shot_id]
        check(len(assigned) == 4 and assigned[0][1][2] == trigger, "ImageAssigned ×4, the trigger first",
              assigned)
        names = [n for n, a in mon.signals() if a and a[0] == shot_id]
        check(names[0] == "ShotOpened" and names[-1] == "ShotClosed", "signal order", names)
        ignored = ["%s (%s)" % (a[1], a[2]) for _, a in mon.signals("ImageIgnored")]
        self.check_published(shot_id, files, contents)
        clean_all = []
        for dirpath, _, fnames in os.walk(c.path(CLEAN)):
            clean_all += [os.path.join(dirpath, f) for f in fnames]
        check(not any("align" in p or "nf_A" in p for p in clean_all), "ignored files unpublished", clean_all)
        date = shot_id.split("-")[0]
        listed = c.call("ListShots", "sb", date, "false")[0]
        check([shot_id, "complete", 4, 0] in listed, "ListShots %s" % date, listed)
        ok("files dropped (temporary name + rename, camera mtimes) → busctl monitor: ShotOpened %s, "
           "ImageAssigned ×4 (trigger first), ShotClosed complete; align and .part files left alone%s" %
           (shot_id, " (reported: %s)" % ignored if ignored else ""))
        ok("clean tree: %s/{Lanex1,FROG,NearField}/%s/<camera>_%s_<HHMMSS>_shot%s.<ext> with the raw bytes, "
           "shots/%s/shot%s.json complete; ListShots lists it" % (CLEAN, date, date, shot_id.split("-")[1], date,
                                                                  shot_id.split("-")[1]))
        return shot_id

    def fire(self, mon):
        c = self.c

        def states():
            return {cam[2]: cam[3] for cam in c.call("ListCameras")[0]}
        wait_for(lambda: all(states().get("ptpip:" + a) == "ready" for a in self.addresses), 30,
                 "the emulated cameras to be ready in ListCameras")
        ok("ListCameras: %s" % json.dumps(c.call("ListCameras")[0]))
        before = time.time_ns() // 1000
        shot_id, results = c.call("Fire", timeout=60)
        after = time.time_ns() // 1000
        by_port = {r[1]: r for r in results}
        for serial, addr in zip(self.serials, self.addresses):
            r = by_port.get("ptpip:" + addr)
            check(r and r[0] == serial and r[2] == "ok", "Fire result of %s" % addr, results)
        fired = mon.wait("Fired", lambda a: a[0] == shot_id, 20, "Fired %s" % shot_id)
        check(sorted(map(tuple, fired[1])) == sorted(map(tuple, results)), "Fired carries the reply's results",
              (fired, results))
        opened = mon.wait("ShotOpened", lambda a: a[0] == shot_id, 5, "ShotOpened %s" % shot_id)
        check(opened[1] == "" and opened[2] == "" and before <= opened[3] <= after, "Fire's ShotOpened", opened)
        for serial in self.serials:
            mon.wait("ImageAssigned", lambda a: a[0] == shot_id and a[1] == serial, 20,
                     "the download of %s to join %s" % (serial, shot_id))
        # The cameras on their own PCs wrote their files at the same instant.
        t = opened[3] // 1_000_000
        files = self.shot_files(t, "F")
        files = {k: (rel, opened[3] * 1000) for k, (rel, _) in files.items()}
        contents = self.drop_all(files)
        closed = self.wait_closed(mon, shot_id)
        check(closed[1] == "complete", "the Fire's shot complete", closed)
        check(sorted(closed[2]) == sorted(["FROG/1", "FROG/2", "Lanex1", "NearField"] + self.serials),
              "the Fire's shot images", closed[2])
        self.check_published(shot_id, files, contents, extra_cameras=self.serials)
        ok("busctl call … Fire as root: %s, both emulated cameras ok (latency %s µs), Fired, their downloads "
           "and the lab's files make %s complete" % (shot_id, [r[4] for r in results], shot_id))
        # The unit's LimitRTPRIO=2 and RestrictRealtime=no let the fire
        # threads run SCHED_FIFO as user shotsync, without any capability,
        # unless real-time group scheduling leaves services' cgroups no
        # budget (a kernel with CONFIG_RT_GROUP_SCHED on cgroup v1): a
        # transient service with the same settings tells which it is here.
        def probe(*policy):
            return c.run("systemd-run", "--wait", "--quiet", "--collect", "-p", "User=shotsync", "-p",
                         "LimitRTPRIO=2", "-p", "RestrictRealtime=no", "chrt", *policy, "true", check=False)
        control = probe("-o", "0")  # the same service at normal priority must run
        check(control.returncode == 0, "a transient service as user shotsync runs chrt",
              text(control.stdout) + text(control.stderr))
        probe = probe("-f", "1")
        log = c.journal("-u", UNIT, "-o", "cat")
        if probe.returncode == 0:
            check("without real-time priority" not in log, "the cameras fired with real-time priority", log[-2000:])
            ok("the fire threads got SCHED_FIFO under the unit's LimitRTPRIO=2 (no \"without real-time priority\" "
               "in the journal)")
        else:
            check("without real-time priority (Operation not permitted)" in log and "cpu.rt_runtime_us" in log,
                  "the journal says the cameras fired without real-time priority, and why", log[-2000:])
            ok("real-time priority is denied to services here (a SCHED_FIFO probe service failed too: real-time "
               "group scheduling): fired at normal priority, and the journal says so and why")

    def access(self):
        c = self.c
        # Fire as nobody: the bus policy refuses it before the daemon sees it.
        p = c.run("dbus-send", "--system", "--print-reply", "--dest=" + BUS_NAME, BUS_PATH, BUS_IFACE + ".Fire",
                  user="nobody", check=False)
        err = text(p.stderr)
        check(p.returncode != 0 and "org.freedesktop.DBus.Error.AccessDenied" in err,
              "Fire as nobody refused with AccessDenied", err)
        p = c.busctl("call", BUS_NAME, BUS_PATH, BUS_IFACE, "Fire", user="nobody", check=False)
        check(p.returncode != 0 and "denied" in text(p.stderr).lower(), "busctl call Fire as nobody refused",
              text(p.stderr))
        p = c.run("shotsyncctl", "fire", user="nobody", check=False)
        check(p.returncode == 4, "shotsyncctl fire as nobody exits 4", (p.returncode, text(p.stderr)))
        for m in ("Pause", "Reload"):
            p = c.busctl("call", BUS_NAME, BUS_PATH, BUS_IFACE, m, user="nobody", check=False)
            check(p.returncode != 0, "%s as nobody refused" % m)
        ok("as nobody (setpriv --reuid=nobody --regid=nogroup --clear-groups): Fire → "
           "org.freedesktop.DBus.Error.AccessDenied (dbus-send, busctl), shotsyncctl fire exits 4, "
           "Pause and Reload refused")
        shots = c.call("ListShots", "sb", "", "false", user="nobody")
        c.prop("OpenShots", user="nobody")
        p = c.run("shotsyncctl", "status", user="nobody", check=False)
        check(p.returncode == 0, "shotsyncctl status as nobody", text(p.stderr))
        ok("as nobody: ListShots, get-property and shotsyncctl status allowed (%d shot(s) today)" % len(shots[0]))

    def operator(self):
        """A lab operator in group shotsync may pause and resume."""
        c = self.c
        add_user(c, "e2eop", "--no-create-home", "--shell", "/usr/sbin/nologin")
        c.run("usermod", "-aG", "shotsync", "e2eop")
        p = c.busctl("call", BUS_NAME, BUS_PATH, BUS_IFACE, "Pause", user="e2eop", check=False)
        if p.returncode != 0:
            p = c.run("dbus-send", "--system", "--print-reply", "--dest=" + BUS_NAME, BUS_PATH, BUS_IFACE + ".Pause",
                      user="e2eop", check=False)
            denied = [x for x in c.journal("-u", "dbus", "-o", "cat").splitlines() if "Rejected" in x and "Pause" in x
                      and "uid=%s" % c.out("id", "-u", "e2eop").strip() in x]
            raise Failure("Pause as e2eop (groups %s) refused by %s: %s" % (
                c.out("id", "-nG", "e2eop").strip(), "the bus policy" if denied else "shotsyncd itself",
                text(p.stderr).strip()))
        check(c.prop("State") == "paused", "paused by a member of group shotsync", c.prop("State"))
        c.run("shotsyncctl", "resume", user="e2eop")
        check(c.prop("State") == "running", "resumed by a member of group shotsync", c.prop("State"))
        ok("as e2eop, a member of group shotsync (runuser): Pause → State=paused, shotsyncctl resume → running")

    def reload(self, mon):
        c = self.c
        t = int(time.time()) - 500
        files = self.shot_files(t, "B")
        pid = c.main_pid()
        contents = self.drop_all({"Lanex1": files["Lanex1"]})
        shot_id, _ = self.wait_shot(mon, os.path.join(RAW, files["Lanex1"][0]))
        check(shot_id in c.prop("OpenShots"), "%s open" % shot_id)
        c.write("/etc/shotsync/shotsync.conf.d/50-e2e.conf", "[Grouping]\nTimeoutSec=%d\n" % (TIMEOUT + 30))
        t0 = time.monotonic()
        c.run("systemctl", "reload", UNIT)
        dt = time.monotonic() - t0
        s = c.show("ActiveState", "SubState", "MainPID")
        check(s["ActiveState"] == "active" and int(s["MainPID"]) == pid, "active, same process after reload", s)
        check(c.prop("TimeoutSec") == TIMEOUT + 30, "TimeoutSec from the new drop-in", c.prop("TimeoutSec"))
        check(shot_id in c.prop("OpenShots"), "%s still open after reload" % shot_id, c.prop("OpenShots"))
        # An invalid configuration: the reload fails and says why, the
        # service goes on with what it had.
        bad = "/etc/shotsync/shotsync.conf.d/60-e2e-bad.conf"
        c.write(bad, "[Grouping]\nTimeoutSec=2\n")
        cursor = c.cursor()
        p = c.run("systemctl", "reload", UNIT, check=False)
        check(p.returncode != 0, "systemctl reload with an invalid drop-in fails")
        s = c.show("ActiveState", "MainPID")
        check(s["ActiveState"] == "active" and int(s["MainPID"]) == pid, "still active after a refused reload", s)
        j = c.journal("-u", UNIT, "--after-cursor=" + cursor, "-o", "cat")
        why = "%s:2: [Grouping] TimeoutSec=2: must exceed FullWindowSec/2" % bad
        check("Reload refused" in j and why in j, "the journal says why the reload was refused", j)
        check(c.prop("TimeoutSec") == TIMEOUT + 30 and shot_id in c.prop("OpenShots"),
              "configuration and open shot kept after a refused reload")
        c.run("rm", bad)
        ok("systemctl reload with an invalid drop-in: fails, the journal says \"%s…\", still active with the same "
           "MainPID, settings and open shot" % why)
        rest = {k: v for k, v in files.items() if k != "Lanex1"}
        contents.update(self.drop_all(rest))
        closed = self.wait_closed(mon, shot_id)
        check(closed[1] == "complete", "%s complete after reload" % shot_id, closed)
        self.check_published(shot_id, files, contents)
        check(mon.count("ShotClosed", lambda a: a[0] == shot_id) == 1, "one ShotClosed for %s" % shot_id)
        ok("systemctl reload (%.2f s, same MainPID) with a new drop-in (TimeoutSec=%d) kept open shot %s, which "
           "then completed" % (dt, TIMEOUT + 30, shot_id))

    def kill9(self, mon):
        c = self.c
        t = int(time.time()) - 400
        files = self.shot_files(t, "C")
        before = c.show("MainPID", "NRestarts")
        contents = self.drop_all({"Lanex1": files["Lanex1"], "FROG.tiff": files["FROG.tiff"]})
        trigger = os.path.join(RAW, files["Lanex1"][0])
        shot_id, _ = self.wait_shot(mon, trigger)
        mon.wait("ImageAssigned", lambda a: a[0] == shot_id and a[1] == "FROG", 10, "FROG's file in %s" % shot_id)
        # The open shot is on disk (StateDirectory=) before the crash: in a
        # line of the journal ("<checksum> <JSON>"), or in the base state.json.
        state_dir = c.path("/var/lib/shotsync")
        date, num = (int(x) for x in shot_id.split("-"))
        frog = files["FROG.tiff"][0]

        def records(name):
            try:
                with open(os.path.join(state_dir, name)) as f:
                    if name != "journal":
                        yield json.load(f)
                        return
                    for line in f:
                        yield json.loads(line.split(" ", 1)[1])
            except (OSError, ValueError, IndexError):
                return

        def saved():
            for name in ("journal", "state.json"):
                for st in records(name):
                    for sh in st.get("shots", []):
                        if sh.get("date") == date and sh.get("number") == num and \
                                frog in [x.get("path") for x in sh.get("files", [])]:
                            return name
            return None
        wait_for(saved, 10, "%s to be saved in %s" % (shot_id, state_dir))
        os.kill(self.host_pid(int(before["MainPID"])), signal.SIGKILL)
        # The rest arrives while the service is down or coming back.
        rest = {k: v for k, v in files.items() if k not in ("Lanex1", "FROG.tiff")}
        contents.update(self.drop_all(rest))

        def restarted():
            s = c.show("ActiveState", "MainPID", "NRestarts")
            return s if s["ActiveState"] == "active" and s["MainPID"] not in ("0", before["MainPID"]) else None
        s = wait_for(restarted, 30, "systemd to restart shotsync after kill -9")
        check(int(s["NRestarts"]) == int(before["NRestarts"]) + 1, "NRestarts", (before, s))
        closed = self.wait_closed(mon, shot_id)
        check(closed[1] == "complete", "%s complete after kill -9" % shot_id, closed)
        self.check_published(shot_id, files, contents)
        # Exactly once: no second ShotClosed, no other shot for these files.
        def settled():
            return shot_id not in c.prop("OpenShots") and c.prop("OpenShots") == []
        wait_for(settled, 10, "no shot open")
        check(mon.count("ShotClosed", lambda a: a[0] == shot_id) == 1, "one ShotClosed for %s" % shot_id,
              mon.signals("ShotClosed"))
        raws = {os.path.join(RAW, rel) for rel, _ in files.values()}
        others = [a for a in mon.signals("ImageAssigned") if a[1][2] in raws and a[1][0] != shot_id]
        check(not others, "no file of %s in another shot" % shot_id, others)
        manifests = []
        for dirpath, _, fnames in os.walk(c.path(CLEAN + "/shots")):
            for fn in fnames:
                with open(os.path.join(dirpath, fn)) as f:
                    m = json.load(f)
                if raws & {x["raw_path"] for x in m["files"]}:
                    manifests.append(m["id"])
        check(manifests == [shot_id], "one manifest holds the files of %s" % shot_id, manifests)
        ok("kill -9 of MainPID %s with %s open → restarted by systemd (NRestarts %s→%s, MainPID %s); the files "
           "that arrived meanwhile complete %s, closed exactly once (one ShotClosed, one manifest)" %
           (before["MainPID"], shot_id, before["NRestarts"], s["NRestarts"], s["MainPID"], shot_id))

    def watchdog(self):
        c = self.c
        dropin = "/run/systemd/system/%s.d/50-e2e-watchdog.conf" % UNIT
        c.write(dropin, "[Service]\nWatchdogSec=3s\nLimitCORE=0\n")
        c.run("systemctl", "daemon-reload")
        self.restart()
        before = c.show("MainPID", "NRestarts", "WatchdogUSec")
        check(before["WatchdogUSec"] == "3s", "WatchdogSec=3s from the drop-in", before)
        cursor = c.cursor()
        t0 = time.monotonic()
        os.kill(self.host_pid(int(before["MainPID"])), signal.SIGSTOP)

        def restarted():
            s = c.show("ActiveState", "MainPID", "NRestarts")
            return s if s["ActiveState"] == "active" and s["MainPID"] not in ("0", before["MainPID"]) else None
        s = wait_for(restarted, 40, "the watchdog to restart a stopped shotsyncd")
        dt = time.monotonic() - t0
        j = c.journal("-u", UNIT, "--after-cursor=" + cursor, "-o", "cat")
        check("Watchdog timeout" in j, "the journal tells of the watchdog", j[-2000:])
        check(int(s["NRestarts"]) == int(before["NRestarts"]) + 1, "NRestarts after the watchdog", s)
        c.run("rm", dropin)
        c.run("systemctl", "daemon-reload")
        ok("SIGSTOP of MainPID %s → \"Watchdog timeout\", restarted as %s after %.1f s (WatchdogSec=3s drop-in)" %
           (before["MainPID"], s["MainPID"], dt))

    def home(self, mon):
        """The drop-ins shotsyncd(8) documents: a Nextcloud folder in a home
        as RawRoot, a CleanRoot outside /srv/shotsync."""
        c = self.c
        add_user(c, "lab", "--shell", "/bin/bash")
        c.run("install", "-d", "-o", "lab", "-g", "lab", "-m", "0700", "/home/lab")
        for cam in ("Lanex1", "FROG", "NearField"):
            c.run("install", "-d", "-o", "lab", "-g", "lab", "-m", "0755", "%s/%s" % (NEXTCLOUD, cam))
        c.run("install", "-d", "-o", "shotsync", "-g", "shotsync", "-m", "0755", "/data/shotsync/clean")
        self.write_config(raw=NEXTCLOUD, clean=DATA_CLEAN)
        cursor = c.cursor()
        self.restart()
        j = c.journal("-u", UNIT, "--after-cursor=" + cursor, "-o", "cat")
        said = [x for x in j.splitlines() if "Cannot" in x]
        check(any(("Cannot read RawRoot %s" % NEXTCLOUD) in x for x in said), "the daemon says it cannot read "
              "the folder", j)
        check(any(("Cannot write CleanRoot %s" % DATA_CLEAN) in x for x in said), "the daemon says it cannot "
              "write the clean folder", j)
        state = c.prop("State")
        ok("RawRoot under /home, CleanRoot=%s, stock unit: active, State=%s, and the journal says:\n%s" %
           (DATA_CLEAN, state, "\n".join("        " + x for x in said)))

        def try_dropin(body, stamp, t):
            path = "/etc/systemd/system/%s.d/nextcloud.conf" % UNIT
            c.write(path, body)
            c.run("systemctl", "daemon-reload")
            cursor = c.cursor()
            self.restart()
            j = c.journal("-u", UNIT, "--after-cursor=" + cursor, "-o", "cat")
            check("Cannot" not in j, "no complaint with the drop-in", j)
            check(c.prop("State") == "running", "State=running with the drop-in", c.prop("State"))
            files = self.shot_files(t, stamp)
            contents = self.drop_all(files, root=NEXTCLOUD)
            shot_id, _ = self.wait_shot(mon, os.path.join(NEXTCLOUD, files["Lanex1"][0]))
            closed = self.wait_closed(mon, shot_id)
            check(closed[1] == "complete", "%s complete" % shot_id, closed)
            self.check_published(shot_id, files, contents, raw_root=NEXTCLOUD, clean=DATA_CLEAN)
            c.run("rm", path)
            c.run("systemctl", "daemon-reload")
            return shot_id

        # ProtectHome=read-only shows every home read-only: shotsync must
        # be able to enter /home/lab (0700 on Debian 12).
        c.run("chmod", "o+x", "/home/lab")
        # ReadOnlyPaths= alone grants nothing under ProtectHome=yes.
        path = "/etc/systemd/system/%s.d/nextcloud.conf" % UNIT
        c.write(path, "[Service]\nReadOnlyPaths=%s\n" % NEXTCLOUD)
        c.run("systemctl", "daemon-reload")
        cursor = c.cursor()
        self.restart()
        j = c.journal("-u", UNIT, "--after-cursor=" + cursor, "-o", "cat")
        check("Cannot read RawRoot" in j or "Permission denied" in j,
              "ReadOnlyPaths= alone does not open /home under ProtectHome=yes", j)
        ok("drop-in with ReadOnlyPaths=%s alone: still unreadable (ProtectHome=yes hides /home whatever "
           "ReadOnlyPaths= says)" % NEXTCLOUD)
        dropin = "[Service]\nProtectHome=read-only\nReadOnlyPaths=%s\nReadWritePaths=%s\n" % (NEXTCLOUD, DATA_CLEAN)
        sid = try_dropin(dropin, "H1", int(time.time()) - 300)
        ok("drop-in ProtectHome=read-only + ReadOnlyPaths=%s + ReadWritePaths=%s (o+x on /home/lab): %s grouped "
           "and published" % (NEXTCLOUD, DATA_CLEAN, sid))
        # ProtectHome=tmpfs + BindReadOnlyPaths= shows that folder alone.
        c.run("chmod", "0700", "/home/lab")
        dropin = "[Service]\nProtectHome=tmpfs\nBindReadOnlyPaths=%s\nReadWritePaths=%s\n" % (NEXTCLOUD, DATA_CLEAN)
        sid = try_dropin(dropin, "H2", int(time.time()) - 250)
        ok("drop-in ProtectHome=tmpfs + BindReadOnlyPaths=%s + ReadWritePaths=%s (/home/lab left 0700): %s "
           "grouped and published" % (NEXTCLOUD, DATA_CLEAN, sid))

    def journal_fields(self, shot_id):
        c = self.c
        v = c.journal("-u", UNIT, "-o", "verbose", "SHOT_ID=" + shot_id)
        for field in ("SHOT_ID=" + shot_id, "CAMERA=Lanex1", "RAW_PATH=%s/Lanex1/" % RAW, "SYSLOG_IDENTIFIER=shotsyncd",
                      "_SYSTEMD_UNIT=shotsync.service"):
            check(field in v, "journal field %s" % field, v[-3000:])
        cat = c.journal("SHOT_ID=" + shot_id, "-o", "cat")
        ok("journalctl -u shotsync -o verbose: SHOT_ID=, CAMERA=, RAW_PATH= fields; journalctl SHOT_ID=%s "
           "tells the shot's story in %d lines" % (shot_id, len(cat.splitlines())))

    def stop(self, mon):
        """Stops within 2 s with the PTP/IP cameras connected and a shot
        open, which is kept for the next start."""
        c = self.c
        raw = c.prop("RawRoot")
        files = self.shot_files(int(time.time()) - 200, "S")
        self.drop_all({"Lanex1": files["Lanex1"]}, root=raw)
        shot_id, _ = self.wait_shot(mon, os.path.join(raw, files["Lanex1"][0]))
        states = [cam[3] for cam in c.call("ListCameras")[0]]
        t0 = time.monotonic()
        c.run("systemctl", "stop", UNIT, timeout=60)
        dt = time.monotonic() - t0
        s = c.show("ActiveState", "Result", "ExecMainCode", "ExecMainStatus")
        check(s["ActiveState"] == "inactive" and s["Result"] == "success" and s["ExecMainStatus"] == "0",
              "clean stop", s)
        check(dt < 2.0, "systemctl stop within 2 s", "%.2f s" % dt)
        check(not mon.signals("ShotClosed") or all(a[0] != shot_id for _, a in mon.signals("ShotClosed")),
              "the open shot %s is not closed by stopping" % shot_id)
        ok("systemctl stop with cameras %s and shot %s open: %.2f s, Result=success, exit status 0" %
           (states, shot_id, dt))

    def security(self):
        out = self.c.out("systemd-analyze", "security", UNIT, "--no-pager")
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out)
        check(m and float(m.group(1)) <= 2.0, "systemd-analyze security of the running unit ≤ 2.0", out[-500:])
        ok("systemd-analyze security shotsync (online, in the container): %s" % m.group(1))

    def run(self):
        self.install()
        self.example_config()
        self.cameras()
        self.lab_config()
        mon = Monitor(self.c)
        ok("busctl monitor %s is listening" % BUS_NAME)
        first = self.drop_shot(mon)
        # Each of these leaves the service running whatever happens: a
        # failure is reported and the others still tell what works.
        self.soft(self.fire, mon)
        self.soft(self.access)
        self.soft(self.operator)
        self.soft(self.reload, mon)
        self.soft(self.kill9, mon)
        self.soft(self.watchdog)
        self.soft(self.security)
        self.soft(self.home, mon)
        self.soft(self.journal_fields, first)
        if os.environ.get("SHOTSYNC_E2E_HOLD") == "always":
            hold(self.c)
        self.stop(mon)
        if self.failures:
            raise Failure("%d check(s) failed above" % len(self.failures))


def hold(c):
    """SHOTSYNC_E2E_HOLD=1 (on failure) or =always (before the final stop):
    for a developer, the container stays up to look around."""
    say("HOLD  container kept for inspection: nsenter -t %d -a bash; SIGINT (Ctrl-C) or SIGTERM to this test "
        "(PID %d) goes on" % (c.pid, os.getpid()))
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    signal.pthread_sigmask(signal.SIG_SETMASK, old)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    build_dir = sys.argv[1]
    source_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "..")
    if os.geteuid() != 0:
        skipped("the e2e test needs root (mounts, systemd-nspawn)")
        return EXIT_SKIP
    for tool in ("systemd-nspawn", "nsenter", "meson", "mount"):
        if not shutil.which(tool):
            skipped("%s is missing (Debian: systemd-container, util-linux, meson)" % tool)
            return EXIT_SKIP

    def on_signal(signo, frame):
        raise Interrupted("interrupted by signal %d" % signo)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)

    c = Container(build_dir, source_dir)
    status = 0
    try:
        c.setup()
        E2E(c).run()
        say("PASS  end-to-end under systemd in %.0f s" % elapsed())
    except Skip as e:
        skipped(str(e))
        status = EXIT_SKIP
    except (Failure, Interrupted) as e:
        say("FAIL  %s" % e)
        status = 1
        if c.pid and not isinstance(e, Interrupted):
            try:
                say("---- journalctl -u shotsync (last 60 lines)")
                say(c.journal("-u", UNIT, "-n", "60", "-o", "short-precise"))
            except Exception as e2:  # noqa: BLE001 - diagnostics only
                say("(no journal: %s)" % e2)
        say("---- systemd-nspawn (last lines)\n" + c.log_tail(15))
        if os.environ.get("SHOTSYNC_E2E_HOLD") and c.pid and not isinstance(e, Interrupted):
            hold(c)
    finally:
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        errors = c.teardown()
        for e in errors:
            say("FAIL  clean-up: " + e)
        if errors and status == 0:
            status = 1
        if not errors:
            ok("cleaned up: container stopped, overlay and tmpfs unmounted, %s removed" % c.tmp)
    return status


if __name__ == "__main__":
    sys.exit(main())
