#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Adds up meson's testlog.json files: prints each failure and the line
'N passed, N failed, N skipped'. Exit 1 when something failed."""
import json
import sys

passed = failed = skipped = 0
failures = []
for path in sys.argv[1:]:
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
        r = t.get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
            failures.append("%s: %s (%s)" % (path.split("/meson-logs")[0], t.get("name"), r))
for f in failures:
    print("FAILED:", f)
print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if failed else 0)
