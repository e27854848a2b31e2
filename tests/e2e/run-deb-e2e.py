#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Debian package, end to end, as a lab installs it.

A pristine Debian 12 root, made once by `debootstrap --variant=minbase
--include=systemd,systemd-sysv,dbus bookworm` from Debian's archive (the
mirror this machine's apt uses, or SHOTSYNC_E2E_MIRROR) and cached in
/var/cache/shotsync-e2e/bookworm (SHOTSYNC_E2E_CACHE; rebuilt when missing or
made with other options; about a minute), is booted with `systemd-nspawn --boot`
over an overlayfs (the cache is the lower layer and stays pristine; the upper
is /var/tmp/shotsync-deb-e2e-<pid>.work/upper), registered with a private
systemd-machined so that `-M` works from the host. Then:

  apt-get install ./shotsync_<v>.deb, its dependencies from the archive, no
  GTK → the unit is enabled and active (first start, NRestarts=0), and no
  file was written to /etc but what the packages own, what their maintainer
  scripts made in their own folders, and what ETC_ALLOWED says → a lab's
  drop-in in /etc/shotsync/shotsync.conf.d and `systemctl reload` → a shot
  (a trigger file and a camera file in /srv/shotsync/raw/<Camera>/<date>/)
  grouped and published, announced once → `shotsyncctl status`, `pause` and
  `resume` in the container as a member of group shotsync, `resume` refused
  to nobody
  → from the host: `busctl -M` and `shotsyncctl -M <machine> status` (the
  packaged shotsyncctl, run on the host) → a shot left collecting, then
  `apt-get install ./shotsync_<v+1>.deb` (the same tree rebuilt with a higher
  version: dpkg-buildpackage with a new changelog entry) restarts the service,
  the shot's last file arrives → that shot completes exactly once, numbering
  intact → the test's images removed, as a lab moves its data, then `apt-get
  purge --autoremove shotsync` → the root's file list equals the one before
  the install, but for what is listed in PURGE_IGNORED (with the reason) →
  installed again with a lab's file left in /srv/shotsync/raw and the clean
  folder made a link elsewhere, purged: that file, the link and what it
  points to stay, the state goes.

The .debs: SHOTSYNC_DEB_DIR names a folder holding two builds of shotsync
(tests/run-all makes them); the lower version is installed, the higher one
is the upgrade. Without it the test builds both (tests/tools/build-debs.sh,
the upgrade with nocheck).

Everything runs in a private mount namespace (unshare -m): the overlay and
the tmpfs over /run/systemd and /run/dbus (for the private dbus-daemon and
systemd-machined) vanish with it, and nothing reaches the host's /run. The
test puts itself, and so the container, into a cgroup of its own,
shotsync-deb-e2e-<pid>.scope, which machined needs and which a later run
kills and removes if this one was killed (SIGKILL) before cleaning up.
Deadlines everywhere, no fixed sleeps.

Usage: run-deb-e2e.py SOURCE_DIR
Exit status: 0 success, 1 failure, 77 skipped (not root).
KEEP=1 keeps the work folder (the overlay's upper layer and the logs).
Phase timings are printed as "[deb-e2e] seconds: ...".
"""

import collections
import contextlib
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nspawn_root import (PREFIX, START, Container, Failure, Interrupted, Phases, Scope, build_cache,  # noqa: E402
                         check, die_with_parent, file_list, ok, process_identity, reap_stale_runs, run, say,
                         wait_for)

DEBS_IN = "/run/shotsync-e2e-debs"  # inside the container, a read-only bind
BUS_NAME = "org.shotsync.Shotsync1"
BUS_PATH = "/org/shotsync/Shotsync1"
BUS_IFACE = "org.shotsync.Shotsync1"
UNIT = "shotsync.service"
RAW = "/srv/shotsync/raw"
CLEAN = "/srv/shotsync/clean"
EXIT_SKIP = 77

# New paths in the container's /etc after the install that no package owns
# nor its maintainer scripts made in its own folder, and why they are not "a
# file written to /etc": an enabled unit is what installing a service means.
# (The user shotsync changes /etc/passwd and friends, which existed before.)
ETC_ALLOWED = {
    "/etc/systemd/system/multi-user.target.wants/shotsync.service":
        "the enablement symlink made by deb-systemd-helper (dh_installsystemd), removed on purge",
}

# What may differ between the file list before the install and after the
# purge (prefix → reason). Everything else must be exactly as it was.
PURGE_IGNORED = {
    "/var/lib/apt/": "apt's marks of automatically installed packages (extended_states)",
    "/var/cache/apt/": "apt's package cache: the downloaded dependencies",
    "/var/log/": "logs: apt's, dpkg's, the journal",
    "/etc/subuid-": "the backups useradd makes when the test adds its own user e2eop",
    "/etc/subgid-": "(same)",
}
# Not compared at all: file contents. /etc/passwd, /etc/group, /etc/shadow
# and /etc/gshadow keep the system user shotsync after a purge, as Debian
# keeps system users (files elsewhere may still belong to it), and the
# test's user e2eop.


# ---- the packages ----

def deb_version(path):
    return run("dpkg-deb", "-f", path, "Version").stdout.strip()


def find_debs(folder):
    """The two builds of shotsync in folder: (lower, higher)."""
    debs = {}
    for p in glob.glob(os.path.join(folder, "shotsync_*.deb")):
        debs[deb_version(p)] = p
    check(len(debs) == 2, "two builds of shotsync in %s" % folder, sorted(debs))
    lo, hi = sorted(debs)
    if run("dpkg", "--compare-versions", lo, "gt", hi, check=False).returncode == 0:
        lo, hi = hi, lo
    return debs[lo], debs[hi]


def build_debs(source_dir, out, phases):
    script = os.path.join(source_dir, "tests", "tools", "build-debs.sh")
    with phases("build"):
        v = run(script, out, timeout=600).stdout.strip()
    with phases("rebuild"):
        env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck")
        v2 = run(script, out, v + "+e2e1", timeout=600, env=env).stdout.strip()
    ok("built shotsync %s and %s with dpkg-buildpackage (tests/tools/build-debs.sh)" % (v, v2))


class ShotsyncContainer(Container):
    """The container, with shotsync's unit and bus object at hand."""

    def show(self, *props):
        out = run("systemctl", "-M", self.name, "show", "--property=" + ",".join(props), UNIT).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def prop(self, name):
        """A property of shotsyncd, read from the host through -M."""
        p = run("busctl", "-M", self.name, "--json=short", "get-property", BUS_NAME, BUS_PATH, BUS_IFACE, name)
        return json.loads(p.stdout)["data"]


class Monitor:
    """`busctl -M <machine> monitor org.shotsync.Shotsync1` on the host: the
    service's signals, across restarts."""

    def __init__(self, c):
        self.c = c
        self.messages = []
        self.lock = threading.Lock()
        self.err = open(os.path.join(c.work, "monitor.log"), "w+")
        self.proc = subprocess.Popen(["busctl", "-M", c.name, "--json=short", "monitor", BUS_NAME],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.err, text=True,
                                     preexec_fn=die_with_parent)
        c.procs.insert(0, self.proc)
        threading.Thread(target=self.read, daemon=True).start()
        # A call of ours is seen: from then on nothing is missed.
        wait_for(lambda: c.prop("Version") and self.find("Get", "method_call"), 20, "busctl monitor to listen")

    def read(self):
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                msg = json.loads(line)
                with self.lock:
                    self.messages.append(msg)

    def find(self, member, kind="signal"):
        with self.lock:
            return [m for m in self.messages if m.get("type") == kind and m.get("member") == member]

    def signals(self, member):
        return [m.get("payload", {}).get("data", []) for m in self.find(member)
                if m.get("interface") == BUS_IFACE]

    def wait(self, member, pred, timeout, what):
        def found():
            if self.proc.poll() is not None:
                self.err.seek(0)
                raise Failure("busctl -M monitor exited: %s" % self.err.read())
            hits = [a for a in self.signals(member) if pred(a)]
            return hits[0] if hits else None
        return wait_for(found, timeout, what)


class DebE2E:
    def __init__(self, c, base, upgrade, phases):
        self.c = c
        self.base = base
        self.upgrade = upgrade
        self.phases = phases
        self.failures = []
        self.host_ctl = None

    def soft(self, step, *args):
        """A step whose failure leaves the rest meaningful: reported, and the
        test goes on."""
        try:
            return step(*args)
        except Failure as e:
            say("FAIL  %s" % e)
            self.failures.append(str(e))
            return None

    # ---- helpers ----

    def apt(self, *args, timeout=300):
        """apt-get as a server's admin runs it: without recommended packages."""
        return self.c.run("apt-get", "-q", "-y", "--no-install-recommends", "-o", "Dpkg::Use-Pty=0", *args,
                          timeout=timeout)

    def day(self, t):
        return self.c.out("date", "-d", "@%d" % t, "+%Y%m%d").strip()

    def drop(self, rel, mtime, data):
        """A file arrives as sync clients write it: a temporary name, then a
        rename; its mtime is the camera PC's."""
        path = self.c.path(os.path.join(RAW, rel))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".part")
        with open(tmp, "wb") as f:
            f.write(data)
        os.utime(tmp, (mtime, mtime))
        os.rename(tmp, path)

    def shot_files(self, t, n):
        day = self.day(t)
        return {"Cam1": ("Cam1/%s/Cam1_shot_%04d.tif" % (day, n), t, os.urandom(2000)),
                "Cam2": ("Cam2/%s/cam2_%04d.tif" % (day, n), t + 1.25, os.urandom(3000))}

    def check_published(self, shot_id, files):
        date, num = shot_id.split("-")
        manifest = self.c.path("%s/shots/%s/shot%s.json" % (CLEAN, date, num))
        m = wait_for(lambda: os.path.exists(manifest) and json.load(open(manifest)), 30, "manifest " + manifest)
        check(m["id"] == shot_id and m["status"] == "complete" and m["missing"] == [],
              "manifest of %s complete" % shot_id, m)
        by_raw = {f["raw_path"]: f for f in m["files"]}
        check(len(by_raw) == len(files), "files in the manifest of %s" % shot_id, sorted(by_raw))
        for cam, (rel, _, data) in files.items():
            f = by_raw.get(os.path.join(RAW, rel))
            check(f is not None, "%s in the manifest of %s" % (rel, shot_id), sorted(by_raw))
            with open(self.c.path(f["clean_path"]), "rb") as cf:
                check(cf.read() == data, "published bytes of %s" % f["clean_path"])
        return m

    def etc_verdict(self, new):
        """Why each new path in /etc is there, or None: a package owns it;
        the maintainer scripts of the package owning its folder made it
        (fontconfig's links, for example); or ETC_ALLOWED says why. Nothing
        of shotsync's but what ETC_ALLOWED lists, and nothing at the top of
        /etc that no package owns."""
        owners = {}
        paths = sorted(set(new) | {os.path.dirname(p) for p in new})
        q = self.c.run("dpkg-query", "-S", *paths, check=False)
        for line in q.stdout.splitlines():
            if ": " in line and not line.startswith("diversion "):
                pkgs, path = line.split(": ", 1)
                owners[path] = pkgs
        verdict = {}
        for p in new:
            parent = os.path.dirname(p)
            if p in ETC_ALLOWED:
                verdict[p] = "listed in ETC_ALLOWED"
            elif "shotsync" in p:
                verdict[p] = None
            elif p in owners:
                verdict[p] = "owned by their packages"
            elif parent != "/etc" and parent in owners and "shotsync" not in owners[parent]:
                verdict[p] = "made by the maintainer scripts of " + owners[parent]
            else:
                verdict[p] = None
        return verdict

    # ---- the steps ----

    def install(self):
        c = self.c
        self.apt("update")
        self.before = file_list(c.merged)
        etc_before = {p for p in self.before if p.startswith("/etc/")}
        with self.phases("install"):
            p = self.apt("install", "%s/%s" % (DEBS_IN, os.path.basename(self.base)))
        version = c.out("dpkg-query", "-W", "-f=${Version}", "shotsync")
        check(version == deb_version(self.base), "shotsync %s installed" % deb_version(self.base), version)
        n = len(re.findall(r"^Setting up ", p.stdout, re.M))
        gtk = c.out("dpkg-query", "-W", "-f=${Package}\\n", check=False).split()
        gtk = [x for x in gtk if "gtk" in x]
        check(not gtk, "no GTK on a server", gtk)
        ok("apt-get install ./%s: %d packages set up with the dependencies from the archive, no GTK" %
           (os.path.basename(self.base), n))

        s = c.show("ActiveState", "SubState", "UnitFileState", "NRestarts", "StatusText", "User")
        check(s["ActiveState"] == "active" and s["SubState"] == "running", "shotsync active (running)", s)
        check(s["UnitFileState"] == "enabled", "shotsync enabled", s)
        # The first start worked: dbus-daemon knew the user of the bus
        # policy in time (no restart needed).
        check(s["NRestarts"] == "0", "started at the first attempt", s)
        check(run("systemctl", "-M", c.name, "is-active", "shotsync").stdout.strip() == "active",
              "systemctl -M is-active shotsync")
        check(not os.path.lexists(c.path("/etc/shotsync")), "no /etc/shotsync")
        new = sorted(p for p in file_list(c.merged) if p.startswith("/etc/") and p not in etc_before)
        verdict = self.etc_verdict(new)
        stray = [p for p, why in verdict.items() if why is None]
        check(not stray, "every new path in /etc belongs to a package, was made by its maintainer scripts, or is "
                         "listed in ETC_ALLOWED", stray)
        ok("systemctl is-active shotsync: active, enabled, first start (StatusText=%r, User=%s), no /etc/shotsync; "
           "the %d new paths in /etc: %s" % (s["StatusText"], s["User"], len(new), "; ".join(
               "%d %s" % (n, why) for why, n in sorted(collections.Counter(verdict.values()).items()))))
        for name, want in (("State", "running"), ("RawRoot", RAW), ("CleanRoot", CLEAN)):
            v = c.prop(name)
            check(v == want, "property %s" % name, v)
        ok("busctl -M %s get-property ... State: running, RawRoot=%s, CleanRoot=%s: the built-in defaults" %
           (c.name, RAW, CLEAN))
        # The packaged client, run on the host.
        d = os.path.join(c.work, "host-shotsync")
        run("dpkg-deb", "-x", self.base, d)
        self.host_ctl = os.path.join(d, "usr", "bin", "shotsyncctl")

    def lab_dropin(self):
        c = self.c
        c.run("install", "-d", "/etc/shotsync/shotsync.conf.d")
        c.run("sh", "-ec", "cat > /etc/shotsync/shotsync.conf.d/50-e2e.conf",
              input="# The lab's trigger camera; every folder of the raw root is a camera.\n"
                    "[Watch]\nTriggerCameras=Cam1\n\n[Grouping]\nTimeoutSec=300\n")
        c.run("systemctl", "reload", UNIT)
        check(c.prop("TriggerCameras") == ["Cam1"], "TriggerCameras from the drop-in", c.prop("TriggerCameras"))
        ok("a lab's drop-in /etc/shotsync/shotsync.conf.d/50-e2e.conf, systemctl reload: TriggerCameras=[Cam1]")

    def first_shot(self, mon):
        t = int(time.time()) - 60
        files = self.shot_files(t, 1)
        # Files arrive in any order: Cam2's first, an orphan until the
        # trigger's window takes it in (SPEC §2 rule 5). Without [Camera]
        # groups, Cam2 is a camera the shot expects from then on.
        rel, mtime, data = files["Cam2"]
        self.drop(rel, mtime, data)
        mon.wait("ImageOrphaned", lambda a: a[1] == os.path.join(RAW, rel), 30, "ImageOrphaned for " + rel)
        rel, mtime, data = files["Cam1"]
        self.drop(rel, mtime, data)
        trigger = os.path.join(RAW, files["Cam1"][0])
        opened = mon.wait("ShotOpened", lambda a: a[2] == trigger, 30, "ShotOpened for " + trigger)
        shot = opened[0]
        closed = mon.wait("ShotClosed", lambda a: a[0] == shot, 30, "ShotClosed for " + shot)
        check(closed[1] == "complete" and sorted(closed[2]) == ["Cam1", "Cam2"], "ShotClosed complete", closed)
        m = self.check_published(shot, files)
        ok("a shot dropped into %s/{Cam2,Cam1}/%s/ (temporary name, rename; the camera file first, orphaned until "
           "the trigger came): %s opened, complete, published as "
           "%s with the raw bytes" % (RAW, self.day(t), shot, ", ".join(f["clean_path"] for f in m["files"])))
        self.first = shot
        self.files = [files]

    def operator(self):
        c = self.c
        if c.run("getent", "passwd", "e2eop", check=False).returncode != 0:
            c.run("useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "--groups", "shotsync", "e2eop")
        st = json.loads(c.out("shotsyncctl", "--json", "status", user="e2eop"))
        check(st.get("State") == "running" and st.get("LastShot") == self.first,
              "shotsyncctl --json status as e2eop", st)
        human = c.out("shotsyncctl", "status", user="e2eop")
        c.run("shotsyncctl", "pause", user="e2eop")
        check(c.prop("State") == "paused", "paused by a member of group shotsync", c.prop("State"))
        p = c.run("shotsyncctl", "resume", user="nobody", check=False)
        check(p.returncode != 0 and c.prop("State") == "paused", "resume refused to nobody",
              (p.returncode, p.stderr))
        c.run("shotsyncctl", "resume", user="e2eop")
        check(c.prop("State") == "running", "resumed by a member of group shotsync")
        ok("in the container as e2eop, a member of group shotsync (runuser): shotsyncctl status, pause, resume; "
           "resume refused to nobody (exit %d). status says:\n%s" %
           (p.returncode, "\n".join("        " + x for x in human.splitlines())))

    def remote_busctl(self):
        c = self.c
        p = run("busctl", "-M", c.name, "get-property", BUS_NAME, BUS_PATH, BUS_IFACE, "State")
        check(p.stdout.strip() == 's "running"', "busctl -M get-property State", p.stdout)
        ok("from the host: busctl -M %s get-property %s %s %s State → %s" % (c.name, BUS_NAME, BUS_PATH, BUS_IFACE,
                                                                          p.stdout.strip()))

    def remote_ctl(self):
        c = self.c
        if "--machine" not in run(self.host_ctl, "--help").stdout:
            raise Failure("shotsyncctl -M %s status: this shotsyncctl has no -M/--machine (it comes with the -H/-M "
                          "work of branch fireat)" % c.name)
        p = run(self.host_ctl, "-M", c.name, "--json", "status", check=False)
        check(p.returncode == 0, "shotsyncctl -M %s status" % c.name, p.stderr)
        st = json.loads(p.stdout)
        check(st.get("State") == "running" and st.get("LastShot") == self.first, "shotsyncctl -M --json status",
              st)
        ok("from the host: the packaged shotsyncctl -M %s status → %s" % (c.name, p.stdout.strip()[:200]))

    def upgrade_with_open_shot(self, mon):
        c = self.c
        t = int(time.time()) - 30
        files = self.shot_files(t, 2)
        rel, mtime, data = files["Cam1"]
        self.drop(rel, mtime, data)
        trigger = os.path.join(RAW, rel)
        shot = mon.wait("ShotOpened", lambda a: a[2] == trigger, 30, "ShotOpened for " + trigger)[0]
        check(shot in c.prop("OpenShots"), "%s collecting" % shot, c.prop("OpenShots"))
        first_date, first_num = self.first.split("-")
        if shot.split("-")[0] == first_date:
            check(int(shot.split("-")[1]) == int(first_num) + 1, "the next number", (self.first, shot))
        number = c.prop("NextShotNumber")
        before = c.show("MainPID", "NRestarts")
        with self.phases("upgrade"):
            self.apt("install", "%s/%s" % (DEBS_IN, os.path.basename(self.upgrade)))
        version = c.out("dpkg-query", "-W", "-f=${Version}", "shotsync")
        check(version == deb_version(self.upgrade), "shotsync upgraded", version)
        s = c.show("ActiveState", "MainPID", "NRestarts")
        check(s["ActiveState"] == "active" and s["MainPID"] not in ("0", before["MainPID"]),
              "shotsync restarted by the upgrade", (before, s))
        wait_for(lambda: shot in c.prop("OpenShots"), 20, "%s open again after the upgrade" % shot)
        check(c.prop("NextShotNumber") == number, "NextShotNumber kept", (number, c.prop("NextShotNumber")))
        rel2, mtime2, data2 = files["Cam2"]
        self.drop(rel2, mtime2, data2)
        closed = mon.wait("ShotClosed", lambda a: a[0] == shot, 60, "ShotClosed for " + shot)
        check(closed[1] == "complete" and sorted(closed[2]) == ["Cam1", "Cam2"], "%s complete" % shot, closed)
        self.check_published(shot, files)
        wait_for(lambda: c.prop("OpenShots") == [], 20, "no shot open")
        check(len([a for a in mon.signals("ShotClosed") if a[0] == shot]) == 1, "one ShotClosed for %s" % shot,
              mon.signals("ShotClosed"))
        opened = [a for a in mon.signals("ShotOpened")]
        check(len(opened) == 2, "no other shot opened", opened)
        date = shot.split("-")[0]
        listed = json.loads(c.out("busctl", "--json=short", "call", BUS_NAME, BUS_PATH, BUS_IFACE, "ListShots", "sb",
                                  date, "false"))["data"][0]
        check([x[0] for x in listed].count(shot) == 1, "ListShots lists %s once" % shot, listed)
        check(c.prop("NextShotNumber") == number, "numbering intact", c.prop("NextShotNumber"))
        ok("upgrade to %s with %s collecting: MainPID %s → %s, the shot open again, its last file arrived: complete, "
           "closed exactly once (one ShotClosed, no other shot), NextShotNumber %d kept" %
           (version, shot, before["MainPID"], s["MainPID"], number))
        self.files.append(files)

    def purge(self):
        c = self.c
        # The lab moves its data away first: the test's images and what
        # shotsync published from them, what the lab sees; shotsync's own
        # hidden staging folder in the clean root is the package's to remove.
        for d in (RAW, CLEAN):
            for n in [n for n in os.listdir(c.path(d)) if not n.startswith(".")]:
                p = c.path(os.path.join(d, n))
                shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
        with self.phases("purge"):
            self.apt("purge", "--autoremove", "shotsync")
        check(c.run("dpkg-query", "-W", "shotsync", check=False).returncode != 0 or
              c.out("dpkg-query", "-W", "-f=${db:Status-Status}", "shotsync") == "not-installed",
              "shotsync purged")
        check(run("systemctl", "-M", c.name, "is-active", "shotsync", check=False).stdout.strip() != "active",
              "shotsync not running")
        for p in ("/var/lib/shotsync", "/srv/shotsync", "/etc/shotsync", "/lib/systemd/system/shotsync.service",
                  "/etc/systemd/system/multi-user.target.wants/shotsync.service"):
            check(not os.path.lexists(c.path(p)), "%s gone after the purge" % p)
        after = file_list(c.merged)
        added = sorted(set(after) - set(self.before))
        removed = sorted(set(self.before) - set(after))
        changed = sorted(p for p in set(after) & set(self.before) if after[p] != self.before[p])

        def ignored(p):
            return next((k for k in PURGE_IGNORED if p == k.rstrip("/") or (k.endswith("/") and p.startswith(k))),
                        None)
        left = [p for p in added if not ignored(p)]
        gone = [p for p in removed if not ignored(p)]
        changed = [p for p in changed if not ignored(p)]
        check(not left and not gone and not changed, "the file list after the purge is the one before the install",
              {"left behind": left, "removed": gone, "changed type": changed})
        skipped = {}
        for p in added + removed:
            if ignored(p):
                skipped[ignored(p)] = skipped.get(ignored(p), 0) + 1
        ok("apt-get purge --autoremove shotsync: the root's %d paths are those before the install, but for "
           "PURGE_IGNORED: %s; the user shotsync stays, as Debian keeps system users" %
           (len(after), ", ".join("%s (%d)" % kv for kv in sorted(skipped.items())) or "nothing"))

    def purge_keeps_data(self):
        """The default folders hold the lab's images: a purge never deletes
        them, and leaves alone a folder the lab made a link to elsewhere."""
        c = self.c
        self.apt("install", "%s/%s" % (DEBS_IN, os.path.basename(self.upgrade)))
        wait_for(lambda: c.show("ActiveState")["ActiveState"] == "active", 30, "shotsync active")
        lab = os.path.join(RAW, "Lab", "keep_0001.tif")
        self.drop(os.path.join("Lab", "keep_0001.tif"), time.time(), b"the lab's own data")
        # The clean folder moved to a bigger disk, as labs do.
        os.makedirs(c.path("/data/clean/shots"))
        with open(c.path("/data/clean/shots/kept.json"), "w") as f:
            f.write("{}\n")
        shutil.rmtree(c.path(CLEAN))
        os.symlink("/data/clean", c.path(CLEAN))
        self.apt("purge", "shotsync")
        with open(c.path(lab), "rb") as f:
            check(f.read() == b"the lab's own data", "the lab's file kept by the purge")
        check(os.path.islink(c.path(CLEAN)) and os.readlink(c.path(CLEAN)) == "/data/clean" and
              os.path.exists(c.path("/data/clean/shots/kept.json")), "the linked clean folder left alone")
        check(not os.path.lexists(c.path("/var/lib/shotsync")), "the state removed")
        ok("installed again, a lab's file left in %s and %s made a link to /data/clean, purged: the file, the link "
           "and what it points to stay, the state goes" % (lab, CLEAN))
        for p in (c.path("/data"), c.path("/srv/shotsync")):
            shutil.rmtree(p)

    def run(self):
        self.install()
        mon = Monitor(self.c)
        ok("busctl -M %s monitor %s is listening (from the host)" % (self.c.name, BUS_NAME))
        self.lab_dropin()
        self.first_shot(mon)
        self.soft(self.operator)
        self.soft(self.remote_busctl)
        self.soft(self.remote_ctl)
        self.upgrade_with_open_shot(mon)
        self.purge()
        self.soft(self.purge_keeps_data)
        if self.failures:
            raise Failure("%d check(s) failed above" % len(self.failures))


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    source_dir = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        print("SKIP  the package end-to-end test needs root (debootstrap, mounts, systemd-nspawn)")
        return EXIT_SKIP
    if not os.environ.get("_SHOTSYNC_DEB_E2E_NS"):
        # A private mount namespace: our mounts vanish with us, whatever happens.
        os.environ["_SHOTSYNC_DEB_E2E_NS"] = "1"
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", "--", sys.executable,
                              os.path.abspath(__file__)] + sys.argv[1:])
    missing = [t for t in ("debootstrap", "systemd-nspawn", "machinectl", "dbus-daemon", "nsenter", "dpkg-deb",
                           "busctl") if not shutil.which(t)]
    if not os.path.exists("/lib/systemd/systemd-machined"):
        missing.append("systemd-machined")
    if missing:
        print("FAIL  missing: %s (tests/tools/deps.sh installs them)" % ", ".join(missing))
        return 1

    def on_signal(signo, frame):
        raise Interrupted("interrupted by signal %d" % signo)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)

    phases = Phases()
    status = 0
    scope = Scope()
    work = "/var/tmp/%s%d.work" % (PREFIX, os.getpid())
    c = None
    try:
        reap_stale_runs()
        os.makedirs(work)
        with open(os.path.join(work, "owner"), "w") as f:
            f.write(process_identity(os.getpid()))
        scope.enter()
        debdir = os.environ.get("SHOTSYNC_DEB_DIR")
        if not debdir:
            debdir = os.path.join(work, "debs")
            build_debs(source_dir, debdir, phases)
        base, upgrade = find_debs(os.path.abspath(debdir))
        ok("packages: %s, upgraded to %s" % (os.path.basename(base), os.path.basename(upgrade)))
        build_cache(phases)
        c = ShotsyncContainer(work, binds=[(os.path.dirname(base), DEBS_IN)])
        with phases("boot"):
            c.start()
        DebE2E(c, base, upgrade, phases).run()
        say("PASS  the Debian package end to end")
    except (Failure, Interrupted) as e:
        say("FAIL  %s" % e)
        status = 1
        if c and c.leader and not isinstance(e, Interrupted):
            p = run("journalctl", "-M", c.name, "-u", UNIT, "-n", "40", "--no-pager", check=False)
            say("---- journalctl -M %s -u shotsync (last lines)\n%s%s" % (c.name, p.stdout, p.stderr))
    finally:
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        errors = []
        with phases("cleanup"):
            if c:
                errors += c.stop()
            errors += scope.leave()
            if not os.environ.get("KEEP"):
                shutil.rmtree(work, ignore_errors=True)
                if os.path.exists(work):
                    errors.append("cannot remove " + work)
        for e in errors:
            say("FAIL  clean-up: " + e)
        if errors:
            status = 1
        else:
            ok("cleaned up: %sscope removed%s" % (
                "container powered off, machined and dbus-daemon stopped, overlay and tmpfs unmounted, " if c else "",
                "" if os.environ.get("KEEP") else ", " + work + " removed"))
        print("[deb-e2e] seconds: %s, total %.1f" % (phases.report(), time.monotonic() - START), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
