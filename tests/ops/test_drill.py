"""Tests of ops/drill (docs/DRILLS.md).

    test_drill.py unit              the report's figures and plot, and usage errors
    test_drill.py short BUILD_DIR   two short drills against a namespace cluster
                                    (partition the leader, SIGKILL a validator), one
                                    against two brokers (SIGKILL one: the other
                                    carries the load), a partition that never heals
                                    within its drill, and Ctrl-C in the middle of a
                                    drill: faults healed, nothing left behind

The short part exits 77 (skipped) when not root, when ip netns add fails, when
nft is missing or when another cluster holds 10.77.0.0/24.
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.dont_write_bytecode = True
sys.path.insert(0, str(ROOT / "ops"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import drill  # noqa: E402
import drill_report  # noqa: E402
from nstest import expect, leftovers, preconditions  # noqa: E402

DRILL = ROOT / "ops" / "drill"
T0 = 1_000_000_000_000      # ms


def op(kind, invoke_s, took_ms, outcome, **extra):
    start = T0 + int(invoke_s * 1000)
    return dict(op=kind, invoke_ms=start, complete_ms=start + took_ms, outcome=outcome, **extra)


class ReportTest(unittest.TestCase):
    def history(self):
        """10 s: both kinds succeed, except appends from 3 s to 6 s (timeouts)."""
        ops = []
        for s in range(10):
            for k in range(4):
                t = s + k / 4
                ops.append(op("decision", t, 2 + k, "answered", decision="allow"))
                if 3 <= s < 6:
                    ops.append(op("append", t, 100, "info", error="timeout"))
                else:
                    ops.append(op("append", t, 5 + 10 * k, "ok", seq=len(ops)))
        return ops

    def test_per_second(self):
        rows = drill_report.per_second(self.history(), T0, 10)
        self.assertEqual(len(rows), 10)
        self.assertEqual([r["appends_ok"] for r in rows], [4, 4, 4, 0, 0, 0, 4, 4, 4, 4])
        self.assertEqual([r["decisions_ok"] for r in rows], [4] * 10)
        self.assertEqual([r["errors"] for r in rows], [0, 0, 0, 4, 4, 4, 0, 0, 0, 0])
        # p99 of the successes of second 0: appends 5..35 ms, decisions 2..5 ms
        self.assertEqual(rows[0]["p99_ms"], 35)
        self.assertEqual(rows[4]["p99_ms"], 5)
        self.assertEqual(drill_report.unavailable_s(rows), 3)
        # Operations completing outside the load's seconds are not counted
        late = drill_report.per_second([op("append", 12, 5, "ok", seq=1)], T0, 10)
        self.assertEqual(sum(r["appends_ok"] for r in late), 0)

    def test_recovery(self):
        ops = self.history()
        self.assertEqual(drill_report.recovery_s(ops, T0 + 6000), 0.005)
        # healed at 3 s: appends succeed again from 6 s on, the first done at 6.005 s
        self.assertEqual(drill_report.recovery_s(ops, T0 + 3000), 3.005)
        # never again: None
        self.assertIsNone(drill_report.recovery_s(ops, T0 + 20000))

    def report(self, passed=True):
        ops = self.history()
        rows = drill_report.per_second(ops, T0, 10)
        return {"drill": "unit<&>", "summary": "a test", "passed": passed, "duration_s": 10,
                "fault": {"what": "a <fault>", "start_s": 3.0, "end_s": 6.0, "healed_s": 6.0,
                          "healed_in_drill": True},
                "load": {"agents": 1, "rate": 8, "append_pct": 50},
                "appends": 40, "acked": 28, "lost": 0, "duplicated": 0, "reordered": 0,
                "misplaced": 0, "unexpected": 0, "indeterminate": 12, "indeterminate_landed": 3,
                "failed": 0, "failed_but_present": 0, "replicas": 3, "replicas_identical": True,
                "first_difference": None, "log_size": 71, "verify_ok": True, "decisions": 40,
                "decisions_answered": 40, "decisions_logged": 40, "decisions_missing": 0,
                "unavailable_s": drill_report.unavailable_s(rows), "recovery_s": 0.005,
                "recovered": True, "leader_changes": 1, "terms": [2, 3], "per_second": rows,
                "errors": []}

    def test_summary(self):
        text = drill_report.summary_text(self.report())
        self.assertTrue(text.startswith("drill unit<&>: PASSED"))
        self.assertIn("unavailable 3 s, recovery 0.01 s, leader changes 1 (terms 2 to 3)", text)
        self.assertNotIn("FAIL ", text)
        self.assertLessEqual(len(text.splitlines()), 24)     # one screen
        bad = self.report(passed=False)
        bad["lost"], bad["replicas_identical"] = 2, False
        bad["first_difference"] = {"seq": 5, "replicas": ["r1", "r2"]}
        text = drill_report.summary_text(bad)
        self.assertIn("FAILED", text)
        self.assertIn("FAIL  nothing acknowledged lost", text)
        self.assertIn("replicas DIFFER", text)

    def test_plot(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = pathlib.Path(tmp) / "p.svg"
            drill_report.plot_svg(self.report(), path)
            svg = path.read_text()
        self.assertTrue(svg.startswith("<svg "))
        self.assertEqual(svg.count('fill="#f4a582"'), 3)       # the fault, in each panel
        self.assertEqual(svg.count("<polyline"), 4)             # appends, decisions, errors, p99
        self.assertIn("unit&lt;&amp;&gt;", svg)                 # escaped
        self.assertNotIn("<fault>", svg)

    def test_stall_and_p99(self):
        ops = self.history()
        rows = drill_report.per_second(ops, T0, 10)
        self.assertEqual(drill_report.worst_p99(rows), 35)
        self.assertIsNone(drill_report.worst_p99([{"p99_ms": None}]))
        # In flight during 3..6 s: the 100 ms timeouts, and 35 ms appends of 2.75 s
        # and 6.75 s are outside; a 3 s stall sent at 2.5 s overlaps the window
        stall = drill_report.max_stall(ops, T0 + 3000, T0 + 6000)
        self.assertEqual(stall, {"ms": 100, "op": "append", "outcome": "info", "invoke_s": 0.0})
        ops.append(op("decision", 2.5, 3000, "error", error="timeout"))
        stall = drill_report.max_stall(ops, T0 + 3000, T0 + 6000)
        self.assertEqual((stall["ms"], stall["op"], stall["invoke_s"]), (3000, "decision", -0.5))
        self.assertIsNone(drill_report.max_stall(ops, T0 + 50000, T0 + 60000))

    def test_broker_load(self):
        """Per broker, increments of its answered counter: all of them during
        the load, and those wholly inside the fault (a sample shows the counter
        up to a second old); a restart (the counter went down) counts from zero."""
        t0 = 1000.0
        a = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]       # steady, 10 a second
        b = [0, 10, 20, None, None, None, 5, 15, 25, 35, 45]   # killed at 2.5 s, back at 6
        samples = [(t0 + k, {"a": {"answered": a[k], "whole": True},
                             "b": None if b[k] is None else {"answered": b[k], "whole": k >= 7}})
                   for k in range(11)]
        load = drill_report.broker_load(samples, t0, 2.5, 6.5, 10)
        self.assertEqual(load["a"], {"answered": 100, "answered_in_fault": 20})  # 4..5, 5..6
        self.assertEqual(load["b"], {"answered": 65, "answered_in_fault": 0})  # 10+10, 5, 4x10
        self.assertEqual(drill_report.whole_after_s(samples, t0 + 6.5), 0.5)
        self.assertIsNone(drill_report.whole_after_s(samples[:7], t0 + 6.5))

    def test_results_table(self):
        first = self.report()
        second = dict(self.report(passed=False), drill="kill-broker", recovery_s=None,
                      max_stall={"ms": 812, "op": "append", "outcome": "ok", "invoke_s": 0.1},
                      worst_p99_ms=35)
        text = drill.results_table([first, second]).splitlines()
        self.assertEqual(len(text), 4)
        self.assertIn("| longest stall in the fault ms |", text[0])
        self.assertEqual(text[3], "| kill-broker | NO | 28 | 0 / 0 / 0 | 40 / 40 | 3 | - | 35 | "
                                  "812 | 1 |")
        self.assertEqual(text[2].split(" | ")[7:9], ["-", "-"])

    def test_summary_brokers(self):
        report = dict(self.report(), worst_p99_ms=35,
                      max_stall={"ms": 812, "op": "append", "outcome": "ok", "invoke_s": 0.1},
                      brokers={"hub": {"answered": 900, "answered_in_fault": 400},
                               "hub2": {"answered": 300, "answered_in_fault": 0}},
                      brokers_whole_s=1.5)
        text = drill_report.summary_text(report)
        self.assertIn("worst p99 35 ms; longest stall in the fault 812 ms (append, ok, sent +0.1 s "
                      "into it)", text)
        self.assertIn("brokers    hub answered 900 (400 in the fault), hub2 answered 300 (0 in the "
                      "fault); all whole again 1.5 s after the heal", text)
        self.assertLessEqual(len(text.splitlines()), 24)
        # One broker: no broker line
        report["brokers"] = {"hub": {"answered": 900, "answered_in_fault": 400}}
        self.assertNotIn("brokers ", drill_report.summary_text(report))

    def test_usage(self):
        listed = subprocess.run([DRILL, "--list"], capture_output=True, text=True)
        self.assertEqual(listed.returncode, 0)
        names = [line.split()[0] for line in listed.stdout.splitlines()]
        self.assertEqual(len(names), 12)
        for name in ("leader-partition", "broker-validators", "minority-majority", "flapping-link",
                     "slow-link", "kill-replica", "kill-validator", "kill-only-broker",
                     "pause-leader", "kill-broker", "pause-broker", "partition-broker"):
            self.assertIn(name, names)
        self.assertEqual({line.split()[-1] for line in listed.stdout.splitlines()
                          if line.split()[0] in ("kill-broker", "pause-broker",
                                                 "partition-broker")}, {"[brokers.zpl]"})
        for argv, words in ((["nosuch"], "unknown drill"), ([], "name a drill"),
                            (["kill-broker", "--duration", "3"], "--duration 8..600"),
                            (["all", "--json", "x.json"], "one drill's files")):
            result = subprocess.run([DRILL, *argv], capture_output=True, text=True)
            self.assertEqual(result.returncode, 2, argv)
            self.assertIn(words, result.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            # A file naming other addresses is for real hosts: drills refuse it
            text = (ROOT / "ops" / "drills" / "cluster.zpl").read_text()
            real = pathlib.Path(tmp) / "real.zpl"
            real.write_text(text.replace("10.77.0.2\n", "192.0.2.2\n"))
            result = subprocess.run([DRILL, "kill-only-broker", "--file", real],
                                    capture_output=True, text=True)
            self.assertEqual(result.returncode, 2)
            self.assertIn("ops/cluster up uses only 10.77.0.0/24", result.stderr)
        # The broker drills need two brokers, kill-only-broker one: refused before
        # anything is made
        for argv, words in ((["kill-broker", "--file", ROOT / "ops/drills/cluster.zpl"],
                             "kill-broker needs a cluster of 2 brokers or more; "),
                            (["leader-partition", "pause-broker", "--file",
                              ROOT / "ops/drills/cluster.zpl"], "pause-broker needs"),
                            (["kill-only-broker", "--file", ROOT / "ops/drills/brokers.zpl"],
                             "kill-only-broker needs a cluster of exactly 1 broker; ")):
            result = subprocess.run([DRILL, *argv], capture_output=True, text=True)
            self.assertEqual(result.returncode, 2, argv)
            self.assertIn(words, result.stderr)
            self.assertTrue(result.stderr.endswith("has 2\n" if "only" in argv[0] else "has 1\n"))


def short(build):
    """Two short drills pass and report what they did; Ctrl-C in a third
    leaves nothing behind."""
    preconditions("drill")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lh-drill-test-") as tmp:
        out = pathlib.Path(tmp)
        common = ["--build", build, "--out", out, "--duration", "10", "--agents", "4"]
        result = subprocess.run([DRILL, "leader-partition", "kill-validator", "kill-broker",
                                 *common], capture_output=True, text=True, timeout=300)
        print(result.stdout[-4000:], result.stderr[-2000:])
        expect(result.returncode == 0,
               "ops/drill leader-partition kill-validator kill-broker exits 0")
        for name in ("leader-partition", "kill-validator", "kill-broker"):
            report = json.loads((out / f"{name}.json").read_text())
            expect(report["passed"] and report["acked"] > 0 and report["lost"] == 0
                   and report["duplicated"] == 0 and report["reordered"] == 0
                   and report["replicas_identical"] and report["verify_ok"]
                   and report["decisions_answered"] > 0
                   and report["decisions_logged"] == report["decisions_answered"],
                   f"{name}: passed, {report['acked']} acknowledged appends all in the log, "
                   f"{report['decisions_answered']} answered decisions all logged")
            expect(report["fault"]["healed_in_drill"] and report["recovery_s"] is not None
                   and len(report["per_second"]) == 10,
                   f"{name}: healed, recovered in {report['recovery_s']} s")
            expect((out / f"{name}.svg").read_text().startswith("<svg")
                   and "PASSED" in (out / f"{name}.txt").read_text(),
                   f"{name}: a plot and a summary")
        partition = json.loads((out / "leader-partition.json").read_text())
        expect(partition["leader_changes"] >= 1 and "cut from replicas" in
               partition["fault"]["what"],
               f"leader-partition: the leader was cut off and {partition['leader_changes']} "
               "leader change(s) seen")
        killed = json.loads((out / "kill-validator.json").read_text())
        expect("killed (SIGKILL)" in killed["fault"]["what"], "kill-validator killed a validator")
        # Two brokers (ops/drills/brokers.zpl): hub2's killed, hub carries the load;
        # no request waits out its 2 s deadline, and hub2 takes work again
        report = json.loads((out / "kill-broker.json").read_text())
        brokers, stall = report["brokers"], report["max_stall"]
        expect(report["fault"]["what"] == "broker on hub2 killed (SIGKILL)"
               and sorted(brokers) == ["hub", "hub2"]
               and brokers["hub"]["answered_in_fault"] > 0
               and brokers["hub2"]["answered_in_fault"] == 0
               and brokers["hub2"]["answered"] > 0,
               f"kill-broker: hub2 killed; hub answered {brokers['hub']['answered_in_fault']} "
               f"requests in the fault, hub2 {brokers['hub2']['answered_in_fault']} "
               f"({brokers['hub2']['answered']} in the drill)")
        expect(report["decisions_answered"] == report["decisions"] and report["failed"] == 0
               and stall is not None and stall["ms"] < 2000
               and report["brokers_whole_s"] is not None,
               f"kill-broker: every decision answered, the longest stall {stall and stall['ms']} ms "
               f"(under the 2 s deadline), both brokers whole {report['brokers_whole_s']} s "
               "after the heal")
        expect("| kill-broker | yes |" in result.stdout, "the table of the three drills")

        # A partition held past the load's end: the drill ends anyway, healed,
        # and fails saying so
        began = time.monotonic()
        result = subprocess.run([DRILL, "leader-partition", *map(str, common[:4]),
                                 "--duration", "8", "--agents", "2", "--fault", "600"],
                                capture_output=True, text=True, timeout=180)
        report = json.loads((out / "leader-partition.json").read_text())
        expect(result.returncode == 1 and not report["passed"]
               and not report["fault"]["healed_in_drill"] and report["lost"] == 0
               and "NOT healed within the drill" in result.stdout
               and time.monotonic() - began < 90,
               f"a fault that never heals: the drill fails in {time.monotonic() - began:.0f} s "
               "and says so, losing nothing")

        # Ctrl-C while the leader is paused: healed (SIGCONT), taken down
        drill = subprocess.Popen([DRILL, "pause-leader", *map(str, common)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seen = ""
        deadline = time.monotonic() + 60
        while "paused (SIGSTOP)" not in seen and time.monotonic() < deadline:
            line = drill.stdout.readline()
            if not line:
                break
            seen += line
        expect("paused (SIGSTOP)" in seen, "pause-leader paused the leader")
        drill.send_signal(signal.SIGINT)
        rest, _ = drill.communicate(timeout=60)
        expect(drill.returncode == 130, f"Ctrl-C: ops/drill exits 130 ({drill.returncode})")
        stopped = [p.name for p in pathlib.Path("/proc").iterdir() if p.name.isdigit()
                   and _state(p) == "T"]
        left = leftovers("drill", ROOT / "run" / "cluster-drill") + [
            f"stopped process {p}" for p in stopped if _comm(p).startswith("lh-")]
        left += [f"load {p.name}" for p in pathlib.Path("/proc").iterdir()
                 if p.name.isdigit() and _comm(p.name) == "lh-drill-load"]
        expect(left == [], f"after Ctrl-C nothing is left ({left})")
    print(f"ops/drill test passed in {time.monotonic() - started:.1f} s")


def _state(proc):
    try:
        return (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _comm(pid):
    try:
        return pathlib.Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "short":
        try:
            short(sys.argv[2])
        except AssertionError as e:
            print(f"FAIL: {e}")
            sys.exit(1)
        sys.exit(0)
    if len(sys.argv) >= 2 and sys.argv[1] == "unit":
        unittest.main(argv=[sys.argv[0]] + sys.argv[2:])
    print(__doc__)
    sys.exit(2)
