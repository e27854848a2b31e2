#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Years of history below the raw root (SPEC §2 rule 16): files older than
MaxAgeSec are never grouped by the service and leave no state; what
arrives is grouped as ever; the periodic check hands the loop only what
changed; a restart after a week of downtime groups what is recent and
drops what became history; --once re-sorts any past day on purpose."""

import json
import os
import time

from shotsynctest import DATE, ShotsyncTestCase, main

DAY = 86400


class TestHistory(ShotsyncTestCase):
    max_age = 2 * DAY
    folders = ()

    def setUp(self):
        super().setUp()
        self.now = time.time()
        self.today = time.strftime("%Y%m%d", time.localtime(self.now))

    def shot(self, n, date=None):
        return "%s-%03d" % (date or self.today, n)

    def old_day(self, days_ago, shots=3):
        """A past day's campaign: trigger and camera files, folder mtimes as
        the sync client left them."""
        base = self.now - days_ago * DAY
        day = time.strftime("%Y%m%d", time.localtime(base))
        for i in range(shots):
            t = base + 100 * i
            self.drop("Trig", "shot%02d.tif" % i, t, subdir=day, base=0, how="quiet")
            self.drop("A", "a%02d.tif" % i, t + 0.5, subdir=day, base=0, how="quiet")
            self.drop("B", "b%02d.tif" % i, t - 0.5, subdir=day, base=0, how="quiet")
        for cam in ("Trig", "A", "B"):
            folder = os.path.join(self.raw, cam, day)
            os.utime(folder, (base + 300, base + 300))
        return day

    def recent_shot(self, offset, n, how="rename"):
        t = self.now + offset
        self.drop("Trig", "shot-new%02d.tif" % n, t, subdir=self.today, base=0, how=how)
        self.drop("A", "a-new%02d.tif" % n, t + 0.5, subdir=self.today, base=0, how=how)
        self.drop("B", "b-new%02d.tif" % n, t - 0.5, subdir=self.today, base=0, how=how)

    def state_bytes(self):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(self.state) for f in fs)

    def test_history_not_grouped(self):
        """A raw root with weeks of past campaigns: the first start groups
        only the last two days; the scan does not even read the old days'
        files; the state holds nothing of them."""
        old_days = [self.old_day(d) for d in (30, 20, 10, 5)]
        recent = self.old_day(1)  # inside the horizon: grouped
        self.recent_shot(-60, 1, how="quiet")
        self.start_daemon()
        self.wait_initial_scan()
        self.wait(lambda: len(self.signals.named("ShotClosed")) == 4, what="the recent shots")
        dates = sorted({p[0].split("-")[0] for p in self.signals.named("ShotClosed")})
        self.assertEqual(dates, sorted({recent, self.today}))
        self.assertTrue(all(not os.path.exists(os.path.join(self.clean, "shots", d)) for d in old_days))
        log = self.log_text()
        self.assertRegex(log, r"Scanned .*: 12 recent files listed .* 0 older files read and 12 folders passed over")
        # History arrives quietly on disk; nothing of it is on the bus.
        self.assertEqual(self.signals.named("ImageIgnored"), [])
        self.stop_daemon()
        # The state: a journal and nothing of the old days.
        for name in os.listdir(self.state):
            if name in ("journal", "state.json"):
                with open(os.path.join(self.state, name)) as f:
                    text = f.read()
                for d in old_days:
                    self.assertNotIn(d, text, name)

    def test_journal_records_carry_changes(self):
        """Each state commit records something: a flush for other reasons (a
        file staged ahead of publishing, a shot published) costs no empty
        record and no fdatasync on the way of the next shot."""
        self.start_daemon()
        self.wait_initial_scan()
        for n in range(3):
            self.recent_shot(-300 + 100 * n, n)
            self.wait(lambda: self.has_manifest(self.shot(n + 1)), what="shot %d published" % (n + 1))
        self.stop_daemon()
        with open(os.path.join(self.state, "journal")) as f:
            records = [json.loads(line.split(" ", 1)[1]) for line in f]
        self.assertGreater(len(records), 0)
        self.assertEqual([r for r in records if set(r) == {"seq"}], [])

    def test_arriving_old_file_is_said(self):
        """A file that arrives with an mtime beyond the horizon (a copy that
        kept its date): history, said once on the bus and in the journal."""
        self.start_daemon()
        old = self.drop("A", "copied.tif", self.now - 10 * DAY, subdir=self.today, base=0)
        p = self.wait_signal("ImageIgnored", lambda p: p[1] == old)
        self.assertEqual(p[2], "too-old")
        self.assertIn("older than MaxAgeSec", self.log_text())
        self.recent_shot(0, 1)
        self.assertEqual(self.wait_closed(self.shot(1))[1], "complete")
        self.assertEqual(len(self.signals.named("ImageIgnored")), 1)

    def test_periodic_check_hands_over_changes_only(self):
        """The periodic check hands the loop only what changed since the
        last one: nothing while nothing changes, one file when one file's
        mtime moved, never the 50 files of the folder again."""
        self.write_config(self.config_text().replace("RescanIntervalSec=0", "RescanIntervalSec=1"))
        for i in range(50):
            self.drop("B", "filler%02d.tif" % i, self.now - 3600 - i, subdir=self.today, base=0, how="quiet")
        self.start_daemon()
        self.wait_initial_scan()
        self.wait(lambda: "(changes): 0 recent files changed" in self.log_text(), what="a periodic check")
        self.assertRegex(self.log_text(), r"Scanned [^(]*: 50 recent files listed")
        moved = os.path.join(self.raw, "B", self.today, "filler07.tif")
        t = self.now - 1800
        os.utime(moved, (t, t))
        self.wait(lambda: "(changes): 1 recent files changed" in self.log_text(), what="a check handing over one file")
        self.assertNotRegex(self.log_text(), r"\(changes\): 50 recent files changed")

    def test_restart_after_a_week_down(self):
        """Stopped for a week while the cameras went on: at restart what
        arrived within MaxAgeSec is grouped, numbered after what was before;
        what is older became history meanwhile and is not (shotsyncd(8)
        says so, and how to re-sort it: --once --since)."""
        self.start_daemon()
        self.recent_shot(-7 * DAY, 1, how="rename")  # history already: nothing opens
        self.recent_shot(-60, 2)
        self.wait_closed(self.shot(1))
        self.stop_daemon()
        # What the sync client delivered during the week.
        five = self.old_day(5, shots=2)
        one = self.old_day(1, shots=2)
        self.start_daemon()
        self.wait_initial_scan()
        self.wait(lambda: len(self.signals.named("ShotClosed")) == 3, what="today's and yesterday's shots")
        closed = sorted(p[0] for p in self.signals.named("ShotClosed"))
        self.assertEqual(closed, sorted([self.shot(1), "%s-001" % one, "%s-002" % one]))
        self.assertFalse(os.path.exists(os.path.join(self.clean, "shots", five)))
        self.assertIn("3 older files read and 3 folders passed over", self.log_text())
        self.assertEqual(self.get_property("OpenShots"), [])

    def test_once_resorts_a_past_day(self):
        """--once takes what it is told, however old: --since/--until pick
        a past day."""
        d30 = self.old_day(30, shots=2)
        self.old_day(20, shots=2)
        out, _ = self.run_once("--since", d30, "--until", d30)
        self.assertIn("2 shot(s): 2 complete", out)
        self.assertTrue(os.path.exists(os.path.join(self.clean, "shots", d30, "shot001.json")))
        with open(os.path.join(self.clean, "shots", d30, "shot001.json")) as f:
            self.assertEqual(json.load(f)["status"], "complete")
        self.assertEqual(sorted(os.listdir(os.path.join(self.clean, "shots"))), [d30])


if __name__ == "__main__":
    main()
