#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Adds up meson's testlog.json files: prints the figures the tests printed
(lines "[name] key: value, ..."), each failure, and the line
'N passed, N failed, N skipped'. Exit 1 when something failed.

  summary.py [--skips-fail] TESTLOG.json...

--skips-fail counts a skipped test as failed: for runs where everything a
test may need (packages, root) is there, so that a skip can only hide a
problem."""
import json
import re
import sys

FIGURES = re.compile(r"^\[[^\]]+\] \S.*:")

args = sys.argv[1:]
skips_fail = "--skips-fail" in args
args = [a for a in args if a != "--skips-fail"]

passed = failed = skipped = 0
failures = []
for path in args:
    try:
        lines = open(path).read().splitlines()
    except FileNotFoundError:
        failed += 1
        failures.append("%s: missing (the run did not happen)" % path)
        continue
    for line in lines:
        if not line.strip():
            continue
        t = json.loads(line)
        out = (t.get("stdout") or "") + "\n" + (t.get("stderr") or "")
        figures = [f for f in out.splitlines() if FIGURES.match(f)]
        if figures:
            print("%s %s:" % (path.split("/meson-logs")[0], t.get("name")))
            for f in figures:
                print("   ", f)
        r = t.get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP" and skips_fail:
            failed += 1
            failures.append("%s: %s (SKIP, but everything it needs is here)" % (path.split("/meson-logs")[0],
                                                                               t.get("name")))
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
            failures.append("%s: %s (%s)" % (path.split("/meson-logs")[0], t.get("name"), r))
for f in failures:
    print("FAILED:", f)
print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if failed else 0)
