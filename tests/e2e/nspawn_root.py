# SPDX-License-Identifier: LGPL-2.1-or-later
"""A pristine Debian 12 root booted with systemd-nspawn, for the package
end-to-end test (run-deb-e2e.py): the debootstrap cache, the overlay over
it, a private dbus-daemon and systemd-machined so that `-M` works from the
host, the test's own cgroup scope, and the reaping of what a killed run left.

The caller runs in a private mount namespace (unshare -m): the overlay and
the tmpfs over /run/systemd and /run/dbus vanish with it."""

import contextlib
import fcntl
import glob
import os
import re
import shutil
import signal
import subprocess
import time

PREFIX = "shotsync-deb-e2e-"
CACHE = os.environ.get("SHOTSYNC_E2E_CACHE", "/var/cache/shotsync-e2e/bookworm")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Below meson's timeout (900 s), so that the clean-up always gets to run.
BUDGET_SEC = 840
START = time.monotonic()


def host_mirror(suite, default):
    """The Debian mirror this machine's apt uses for suite (one-line or
    deb822 sources), so that a CI machine behind its own mirror works too."""
    texts = []
    for f in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")) + \
            sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with contextlib.suppress(OSError), open(f) as fh:
            texts.append((f, fh.read()))
    for f, text in texts:
        if f.endswith(".sources"):
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
                if suite in fields.get("Suites", "").split() and "main" in fields.get("Components", "").split() \
                        and fields.get("Enabled", "yes") != "no" and fields.get("URIs", "").startswith("http"):
                    return fields["URIs"].split()[0].rstrip("/")
        else:
            m = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(http\S+)\s+%s\s+.*\bmain\b" % re.escape(suite), text, re.M)
            if m:
                return m.group(1).rstrip("/")
    return default


MIRROR = os.environ.get("SHOTSYNC_E2E_MIRROR") or host_mirror("bookworm", "http://deb.debian.org/debian")
SECURITY = host_mirror("bookworm-security", MIRROR + "-security")
INCLUDE = "systemd,systemd-sysv,dbus"
CACHE_KEY = "shotsync-e2e v1 bookworm minbase %s %s %s" % (INCLUDE, MIRROR, SECURITY)


class Failure(Exception):
    pass


class Interrupted(BaseException):
    pass


def say(msg):
    print("[%6.1fs] %s" % (time.monotonic() - START, msg), flush=True)


def ok(msg):
    say("ok    " + msg)


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


def run(*cmd, check=True, timeout=120, input=None, env=None):
    try:
        p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           errors="surrogateescape", timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise Failure("%r took more than %d s" % (" ".join(cmd), timeout))
    if check and p.returncode != 0:
        raise Failure("%r failed with %d:\n%s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p


def die_with_parent():
    """preexec_fn: SIGTERM when the test dies, even by SIGKILL: nspawn then
    powers the container off, and the daemons go."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


def process_identity(pid):
    """PID and start time: a PID reused by another process does not match."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return "%d %s" % (pid, f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return ""


class Phases:
    def __init__(self):
        self.times = []

    @contextlib.contextmanager
    def __call__(self, name):
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.times.append((name, time.monotonic() - t0))

    def report(self):
        return ", ".join("%s %.1f" % t for t in self.times)


# ---- cgroups ----

def cgroup_roots():
    """(hierarchy root, key in /proc/self/cgroup) of the hierarchies systemd
    uses: the unified one, and name=systemd on a hybrid host."""
    if run("stat", "-fc", "%T", "/sys/fs/cgroup").stdout.strip() == "cgroup2fs":
        return [("/sys/fs/cgroup", "0:")]
    out = []
    if os.path.isdir("/sys/fs/cgroup/unified"):
        out.append(("/sys/fs/cgroup/unified", "0:"))
    if os.path.isdir("/sys/fs/cgroup/systemd"):
        out.append(("/sys/fs/cgroup/systemd", "name=systemd"))
    return out


def own_cgroup(key):
    with open("/proc/self/cgroup") as f:
        for line in f:
            hid, ctrl, path = line.rstrip("\n").split(":", 2)
            if (key == "0:" and hid == "0") or ctrl == key:
                return path
    return "/"


def cgroup_kill(d):
    """Kills everything in the cgroup d and below, and waits for it to be empty."""
    if os.path.exists(os.path.join(d, "cgroup.kill")):
        with contextlib.suppress(OSError), open(os.path.join(d, "cgroup.kill"), "w") as f:
            f.write("1")

    def pids():
        out = []
        for dirpath, _, files in os.walk(d):
            with contextlib.suppress(OSError), open(os.path.join(dirpath, "cgroup.procs")) as f:
                out += [int(x) for x in f.read().split()]
        return [p for p in out if p != os.getpid()]

    def empty():
        left = pids()
        for p in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        return not left
    wait_for(empty, 30, "the processes of %s to die" % d)


def cgroup_remove(d):
    for dirpath, _, _ in sorted(os.walk(d), key=lambda t: -t[0].count("/")):
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)


def reap_stale_runs():
    """What a killed run left: its scope (the container, dbus-daemon,
    machined: killed, and with them the mount namespace that held the
    overlay) and its work folder."""
    for root, _ in cgroup_roots():
        for n in os.listdir(root):
            m = re.fullmatch(re.escape(PREFIX) + r"(\d+)\.scope", n)
            if not m or int(m.group(1)) == os.getpid():
                continue
            d = os.path.join(root, n)
            owner = ""
            with contextlib.suppress(OSError), open("/var/tmp/%s%s.work/owner" % (PREFIX, m.group(1))) as f:
                owner = f.read().strip()
            if owner and process_identity(int(m.group(1))) == owner:
                continue  # a run still going
            cgroup_kill(d)
            cgroup_remove(d)
            say("note  removed %s, left by a killed run" % d)
    for w in glob.glob("/var/tmp/%s*.work" % PREFIX):
        pid = re.search(r"-(\d+)\.work$", w)
        if not pid or int(pid.group(1)) == os.getpid():
            continue
        owner = ""
        with contextlib.suppress(OSError), open(os.path.join(w, "owner")) as f:
            owner = f.read().strip()
        if not owner or process_identity(int(pid.group(1))) != owner:
            shutil.rmtree(w, ignore_errors=True)
            say("note  removed %s, left by a killed run" % w)


class Scope:
    """shotsync-deb-e2e-<pid>.scope in each hierarchy, with this process
    (and so all it starts) in it: machined derives the machine's unit from
    the leader's cgroup, and a later run can find and kill what a killed
    run left."""

    def __init__(self):
        self.name = "%s%d.scope" % (PREFIX, os.getpid())
        self.dirs = []
        self.origin = []

    def enter(self):
        for root, key in cgroup_roots():
            self.origin.append(os.path.join(root, own_cgroup(key).lstrip("/")))
            d = os.path.join(root, self.name)
            os.makedirs(d, exist_ok=True)
            self.dirs.append(d)
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    def leave(self):
        for o in self.origin:
            with contextlib.suppress(OSError), open(os.path.join(o, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        errors = []
        for d in self.dirs:
            try:
                cgroup_kill(d)
            except Failure as e:
                errors.append(str(e))
            cgroup_remove(d)
            if os.path.exists(d):
                errors.append("cannot remove %s" % d)
        return errors


# ---- the cached root ----

def build_cache(phases):
    """debootstrap once; later runs reuse it (the stamp holds how it was made)."""
    os.makedirs(os.path.dirname(CACHE), exist_ok=True)
    with open(CACHE + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = os.path.join(CACHE, ".shotsync-e2e-stamp")
        with contextlib.suppress(OSError), open(stamp) as f:
            if f.read().strip() == CACHE_KEY:
                ok("cached Debian 12 root %s (%s)" % (CACHE, CACHE_KEY))
                return
        with phases("debootstrap"):
            tmp = "%s.tmp.%d" % (CACHE, os.getpid())
            shutil.rmtree(tmp, ignore_errors=True)
            say("      debootstrap --variant=minbase --include=%s bookworm %s %s (once; about a minute)" %
                (INCLUDE, tmp, MIRROR))
            logf = CACHE + ".debootstrap.log"
            with open(logf, "w") as f:
                p = subprocess.run(["debootstrap", "--variant=minbase", "--include=" + INCLUDE, "bookworm", tmp,
                                    MIRROR], stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   timeout=600)
            if p.returncode != 0:
                with open(logf) as f:
                    tail = f.read()[-3000:]
                shutil.rmtree(tmp, ignore_errors=True)
                raise Failure("debootstrap failed (%d), see %s:\n%s" % (p.returncode, logf, tail))
            # The point releases and the security updates, as a lab's machine has.
            with open(os.path.join(tmp, "etc/apt/sources.list"), "w") as f:
                f.write("deb %s bookworm main\ndeb %s bookworm-updates main\n"
                        "deb %s bookworm-security main\n" % (MIRROR, MIRROR, SECURITY))
            with open(os.path.join(tmp, "etc/hostname"), "w") as f:
                f.write("shotsync-e2e\n")
            # Nothing racing the test for the dpkg lock.
            for t in ("apt-daily.timer", "apt-daily-upgrade.timer"):
                os.symlink("/dev/null", os.path.join(tmp, "etc/systemd/system", t))
            for deb in glob.glob(os.path.join(tmp, "var/cache/apt/archives/*.deb")):
                os.unlink(deb)
            shutil.rmtree(CACHE, ignore_errors=True)
            os.rename(tmp, CACHE)
            with open(stamp, "w") as f:
                f.write(CACHE_KEY + "\n")
        ok("built the cached Debian 12 root %s" % CACHE)


# ---- the container ----

class Container:
    def __init__(self, work, binds=()):
        """binds: (host folder, container path) pairs, bound read-only."""
        self.work = work
        self.binds = binds
        self.name = "%s%d" % (PREFIX, os.getpid())
        self.merged = os.path.join(work, "root")
        self.mounts = []
        self.made_dirs = []
        self.procs = []
        self.nspawn = None
        self.leader = None

    def mount(self, *args):
        run("mount", *args)
        self.mounts.append(args[-1])

    def tmpfs(self, path):
        if not os.path.isdir(path):
            os.makedirs(path)
            self.made_dirs.append(path)  # on the host's /run: removed again
        self.mount("-t", "tmpfs", "-o", "mode=0755", "shotsync-e2e", path)

    def daemon(self, tag, argv):
        log = open(os.path.join(self.work, tag + ".log"), "w")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             preexec_fn=die_with_parent)
        log.close()
        self.procs.append(p)
        return p

    def start(self):
        # The host's resolver configuration, read before /run is covered:
        # it may point there (systemd-resolved). apt in the container needs it.
        with open("/etc/resolv.conf") as f:
            resolv = f.read()
        with open(os.path.join(self.work, "resolv.conf"), "w") as f:
            f.write(resolv)
        # A private machined on a private system bus; /run/systemd/system
        # tells machinectl and friends that they may talk to it.
        self.tmpfs("/run/systemd")
        for d in ("machines", "system"):
            os.mkdir(os.path.join("/run/systemd", d))
        self.tmpfs("/run/dbus")
        for d in ("upper", "ovlwork", "root"):
            os.makedirs(os.path.join(self.work, d))
        self.mount("-t", "overlay", "-o", "lowerdir=%s,upperdir=%s/upper,workdir=%s/ovlwork" %
                   (CACHE, self.work, self.work), "shotsync-e2e", self.merged)
        self.daemon("dbus", ["dbus-daemon", "--system", "--nofork", "--nopidfile"])
        wait_for(lambda: os.path.exists("/run/dbus/system_bus_socket"), 10, "the private system bus")
        self.daemon("machined", ["/lib/systemd/systemd-machined"])
        wait_for(lambda: run("busctl", "status", "org.freedesktop.machine1", check=False).returncode == 0, 10,
                 "systemd-machined on the private bus")
        argv = ["systemd-nspawn", "--boot", "--keep-unit", "--register=yes", "--machine=" + self.name,
                "--directory=" + self.merged, "--console=read-only", "--link-journal=no", "--timezone=off",
                "--resolv-conf=off", "--bind-ro=%s/resolv.conf:/etc/resolv.conf" % self.work]
        argv += ["--bind-ro=%s:%s" % b for b in self.binds]
        self.nspawn = self.daemon("nspawn", argv)

        def registered():
            if self.nspawn.poll() is not None:
                raise Failure("systemd-nspawn exited with %d:\n%s" % (self.nspawn.returncode, self.log("nspawn")))
            p = run("machinectl", "show", self.name, "--property=Leader", "--value", check=False)
            return p.stdout.strip() if p.returncode == 0 and p.stdout.strip() not in ("", "0") else None
        self.leader = int(wait_for(registered, 30, "machine %s registered with machined" % self.name))
        state = [None]

        def booted():
            if self.nspawn.poll() is not None:
                raise Failure("systemd-nspawn exited with %d:\n%s" % (self.nspawn.returncode, self.log("nspawn")))
            p = run("systemctl", "-M", self.name, "is-system-running", "--wait", check=False, timeout=60)
            state[0] = p.stdout.strip()
            return state[0] in ("running", "degraded")
        wait_for(booted, 90, "the container to boot")
        if state[0] == "degraded":
            failed = run("systemctl", "-M", self.name, "--failed", "--no-legend", check=False).stdout
            raise Failure("the pristine container booted degraded:\n" + failed)
        ok("booted the overlay with systemd-nspawn --boot, registered as machine %s (leader PID %d), %s" %
           (self.name, self.leader, state[0]))

    def log(self, tag, n=30):
        try:
            with open(os.path.join(self.work, tag + ".log"), errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except OSError:
            return ""

    def path(self, p):
        return self.merged + p

    def argv(self, cmd, user=None):
        prefix = ["nsenter", "-t", str(self.leader), "-a", "env", "-i", "PATH=" + PATH, "LANG=C.UTF-8",
                  "DEBIAN_FRONTEND=noninteractive", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"]
        if user == "nobody":
            prefix += ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        elif user:
            prefix += ["runuser", "-u", user, "--"]
        return prefix + list(cmd)

    def run(self, *cmd, user=None, **kw):
        """A command in the container (all its namespaces), clean environment."""
        return run(*self.argv(cmd, user), **kw)

    def out(self, *cmd, **kw):
        return self.run(*cmd, **kw).stdout

    def stop(self):
        errors = []
        if self.nspawn and self.nspawn.poll() is None and self.leader:
            run("systemctl", "-M", self.name, "poweroff", check=False, timeout=30)
            try:
                self.nspawn.wait(60)
            except subprocess.TimeoutExpired:
                errors.append("the container did not power off within 60 s")
        for p in reversed(self.procs):  # nspawn first: SIGTERM is an orderly poweroff
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for m in reversed(self.mounts):
            p = run("umount", m, check=False)
            if p.returncode != 0:
                errors.append("umount %s: %s" % (m, p.stderr.strip()))
                run("umount", "--lazy", m, check=False)
        self.mounts = []
        for d in reversed(self.made_dirs):
            with contextlib.suppress(OSError):
                os.rmdir(d)
        return errors


def file_list(root):
    """Every path under root (the overlay as the host sees it: the disk of
    the container, without its /proc, /sys, /dev, /run or /tmp mounts) with
    its type and, for links, target."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            full = os.path.join(dirpath, n)
            rel = full[len(root):]
            if os.path.islink(full):
                out[rel] = "l " + os.readlink(full)
            elif os.path.isdir(full):
                out[rel] = "d"
            else:
                out[rel] = "f"
    return out
