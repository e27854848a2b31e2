#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The demo's summary: every shot shotsyncd published (its manifests under
CleanRoot/shots/), side by side with what `shotsync-sim --expect --json`
predicted for the scenario, and the differences. Exit status 1 when the two
differ. Also used by tests/integration/test_demo.py (compare())."""

import argparse
import glob
import json
import os
import sys


def load_manifests(clean):
    shots = {}
    for path in sorted(glob.glob(os.path.join(clean, "shots", "*", "shot*.json"))):
        with open(path) as f:
            m = json.load(f)
        shots[m["id"]] = m
    return shots


def rel(path, raw):
    return os.path.relpath(path, raw) if os.path.isabs(path) else path


def clean_files(clean):
    out = set()
    for root, dirs, files in os.walk(clean):
        dirs[:] = [d for d in dirs if d != "shots" and not d.startswith(".")]
        for f in files:
            if not f.startswith("."):
                out.add(os.path.join(root, f))
    return out


def compare(expected, clean, raw):
    """Returns (rows, problems, notes): one row per shot for the table, the
    differences between prediction and result, and remarks."""
    actual = load_manifests(clean)
    scenario_cameras = {f["camera"] for f in expected["files"]}
    problems, notes, rows = [], [], []
    exp_shots = {s["id"]: s for s in expected["shots"]}

    for sid in sorted(set(exp_shots) | set(actual)):
        e, a = exp_shots.get(sid), actual.get(sid)
        if a is None:
            problems.append("%s: predicted (%s, scenario shot %s) but not published" % (sid, e["status"], e["scenario_shot"]))
            rows.append((sid, "-", 0, 0, "-", "-", "MISSING"))
            continue
        files = a["files"]
        late = sum(1 for f in files if f["late"])
        fired = a["trigger"]["camera"] == ""
        opener = "Fire" if fired else a["trigger"]["camera"]
        missing = ",".join(a["missing"]) or "-"
        if e is None:
            problems.append("%s: published (%s) but not predicted" % (sid, a["status"]))
            rows.append((sid, a["status"], len(files), late, opener, missing, "UNEXPECTED"))
            continue
        diffs = []
        if a["status"] != e["status"]:
            diffs.append("status %s, predicted %s" % (a["status"], e["status"]))
        if sorted(a["missing"]) != sorted(e["missing"]):
            diffs.append("missing %s, predicted %s" % (missing, ",".join(e["missing"]) or "-"))
        if fired != e["fired"]:
            diffs.append("opened by %s, predicted %s" % (opener, "Fire" if e["fired"] else e["trigger_camera"]))
        elif not fired and opener != e["trigger_camera"]:
            diffs.append("opened by %s, predicted %s" % (opener, e["trigger_camera"]))
        # The scenario's cameras: the same (camera, kind, late), and for
        # shots of campaign time the very same raw files. A fired shot's
        # names follow the real fire instant, which the prediction can only
        # plan.
        got = sorted((f["camera"], f["kind"], f["late"]) for f in files if f["camera"] in scenario_cameras)
        want = sorted((f["camera"], f["kind"], f["late"]) for f in e["files"])
        if got != want:
            diffs.append("files %s, predicted %s" % (sorted(set(got) ^ set(want)), "the others"))
        if not fired:
            got_paths = sorted(rel(f["raw_path"], raw) for f in files if f["camera"] in scenario_cameras)
            want_paths = sorted(f["path"] for f in e["files"])
            if got_paths != want_paths:
                diffs.append("raw files differ: %s" % sorted(set(got_paths) ^ set(want_paths)))
        usb = sorted(f["camera"] for f in files if f["camera"] not in scenario_cameras)
        if fired:
            notes.append("%s: fired; %d image%s from the USB cameras (%s)" %
                         (sid, len(usb), "" if len(usb) == 1 else "s", ", ".join(usb) or "none"))
        for d in diffs:
            problems.append("%s: %s" % (sid, d))
        verdict = "as predicted" if not diffs else "DIFFERENT"
        if late:
            verdict += " (%d late: %s)" % (late, ", ".join(sorted({f["camera"] for f in files if f["late"]})))
        rows.append((sid, a["status"], len(files), late, opener, missing, verdict))

    # Files the prediction keeps out of every shot stay out; the clean tree
    # holds exactly what the manifests list.
    in_shots = {rel(f["raw_path"], raw) for m in actual.values() for f in m["files"]}
    for f in expected["files"]:
        if f["fate"] in ("orphan", "duplicate", "ignored", "unseen"):
            if f["path"] in in_shots:
                problems.append("%s: predicted %s, but published in a shot" % (f["path"], f["fate"]))
    listed = {f["clean_path"] for m in actual.values() for f in m["files"]}
    present = clean_files(clean)
    for p in sorted(present - listed):
        problems.append("%s: in the clean tree but in no manifest" % p)
    for p in sorted(listed - present):
        problems.append("%s: in a manifest but not in the clean tree" % p)
    return rows, problems, notes


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--expected", required=True, help="shotsync-sim --expect --json output")
    ap.add_argument("--clean", required=True, help="shotsyncd's CleanRoot")
    ap.add_argument("--raw", required=True, help="shotsyncd's RawRoot")
    args = ap.parse_args()
    with open(args.expected) as f:
        expected = json.load(f)

    rows, problems, notes = compare(expected, args.clean, args.raw)
    head = ("SHOT", "STATUS", "FILES", "LATE", "OPENED BY", "MISSING", "VS. PREDICTION")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(str(v).ljust(widths[i]) if i != 2 and i != 3 else str(v).rjust(widths[i])
                        for i, v in enumerate(r)).rstrip())

    out = [f for f in expected["files"] if f["fate"] != "assigned"]
    if out:
        print("\nKept out of every shot, as predicted:" if not any("published in a shot" in p for p in problems)
              else "\nTo be kept out of every shot:")
        for f in out:
            why = {"orphan": "in no shot's window", "duplicate": "a second file of its camera in %s" % f["shot"],
                   "ignored": f["reason"], "unseen": f["reason"]}[f["fate"]]
            print("  %s (%s: %s)" % (f["path"], f["fate"], why))
    for n in notes:
        print(n)
    print()
    if problems:
        print("Expected vs actual: %d difference%s:" % (len(problems), "" if len(problems) == 1 else "s"))
        for p in problems:
            print("  " + p)
        return 1
    print("Expected vs actual: all %d shots as predicted." % len(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
