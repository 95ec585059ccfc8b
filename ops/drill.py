"""ops/drill -- chaos drills: load, a fault on a schedule, a heal, and a check
that nothing acknowledged was lost (docs/DRILLS.md).

    ops/drill --list                  the drills and what each does
    ops/drill NAME [NAME ...] | all   run them in turn, each on a fresh cluster

Each drill brings up its cluster, ops/drills/cluster.zpl (six hosts in
network namespaces, as root) or, for the drills of several brokers,
ops/drills/brokers.zpl (a second broker on hub2), runs lh-drill-load against
it (agents over CURVE, spread over every broker, validating a 70/20/10 mix
and appending events with client ids), injects
its fault after a quarter of the run, heals it, waits for the cluster to
recover, reads every replica's log and checks it against the recorded history
(lh-drill-check, lh verify). It writes a report (JSON), a text summary and a
plot (SVG) under run/drills/ unless told otherwise, then takes the cluster down.

Exit status: 0 every drill passed, 1 one failed or could not run (not root,
no nftables, the cluster did not come up), 2 bad usage, 130 interrupted (the
faults are healed and the cluster is taken down first).
"""
import argparse
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import cluster as C  # noqa: E402
import drill_report  # noqa: E402

DEFAULT_FILE = C.ROOT / "ops" / "drills" / "cluster.zpl"
BROKERS_FILE = C.ROOT / "ops" / "drills" / "brokers.zpl"     # two brokers: hub, hub2
DEFAULT_OUT = C.ROOT / "run" / "drills"
RECOVERY_TIMEOUT_S = 60
SETTLE_S = 2.0                # replicas' sizes unchanged this long: caught up


class Drill:
    """brokers: (least, most) brokers its cluster has (most None: any); file:
    the cluster it runs on unless --file names another."""

    def __init__(self, name, summary, inject, heal, flap=False, brokers=(1, None),
                 file=DEFAULT_FILE):
        self.name, self.summary, self.inject, self.heal, self.flap = (name, summary, inject,
                                                                      heal, flap)
        self.brokers, self.file = brokers, file

    def fits(self, cluster):
        """None, or why the drill cannot run on cluster."""
        least, most = self.brokers
        count = len(cluster.brokers)
        if count < least or (most is not None and count > most):
            wanted = (f"exactly {least} broker" if least == most else
                      f"{least} brokers or more")
            return (f"{self.name} needs a cluster of {wanted}; {cluster.filename} has {count}")
        return None


class Context:
    """What a drill's fault needs: the cluster, its leader, and the tools."""

    def __init__(self, run, filename):
        self.run, self.filename = run, filename
        self.hosts = {h.name: h for h in run.cluster.hosts}
        self.target = None          # what the fault hit, chosen at injection

    def leader(self):
        """The host of the replica leading now (by the replicas' own metrics)."""
        for _ in range(50):
            for host, sample in sample_replicas(self.run).items():
                if sample and sample.get("is_leader") == 1:
                    return host
            time.sleep(0.2)
        raise C.Failure("no replica leads: the cluster is not healthy before the fault")

    def replica_hosts(self):
        return [h.name for h in self.run.cluster.replicas]

    def split(self, a, b):
        C.partition(self.run, self.filename, split=f"{','.join(a)}/{','.join(b)}")

    def heal(self):
        C.heal(self.run, self.filename, quiet=True)

    def fault(self, host, daemon, action):
        C.fault(self.run, self.filename, host, daemon, action)

    def chaos(self, *args):
        host = next(h for h in self.run.cluster.hosts if "chaos" in h.daemons)
        C._sh("ip", "netns", "exec", self.run.netns(host), self.run.lh, "chaos", "--control",
              self.run.chaos_control(), *args)
        return host.name

    def broker(self):
        """The broker the broker drills hit: the last of the file (hub2 in
        ops/drills/brokers.zpl, a host that runs nothing else)."""
        return self.run.cluster.brokers[-1].name


def _leader_alone(ctx):
    ctx.target = ctx.leader()
    others = [h for h in ctx.replica_hosts() if h != ctx.target]
    ctx.split([ctx.target], others)
    return f"replica leader {ctx.target} cut from replicas {', '.join(others)}"


def _broker_from_validators(ctx):
    validators = [h.name for h in ctx.run.cluster.running("validator")]
    brokers = [h.name for h in ctx.run.cluster.brokers]
    ctx.target = brokers[0]
    ctx.split(brokers, validators)
    return f"broker{'s' if len(brokers) > 1 else ''} {', '.join(brokers)} cut from validators " \
           f"{', '.join(validators)}"


def _minority_majority(ctx):
    leader, broker = ctx.leader(), ctx.run.cluster.broker.name
    validators = [h.name for h in ctx.run.cluster.running("validator")]
    minority = [broker, leader, validators[0]]
    majority = [h for h in ctx.hosts if h not in minority]
    ctx.target = leader
    ctx.split(minority, majority)
    return (f"split {'+'.join(minority)} (broker and leader: a minority of replicas) / "
            f"{'+'.join(majority)} (the majority)")


def _flapping(ctx):
    ctx.target = ctx.target or ctx.leader()
    ctx.split([ctx.run.cluster.broker.name], [ctx.target])
    return f"link broker {ctx.run.cluster.broker.name} - leader {ctx.target} flapping (1 s down, 1 s up)"


def _slow_link(ctx):
    # The validator's links to every broker: backend (its work), frontend (its log appends)
    for link, _, _ in ctx.run.chaos_links("backend") + ctx.run.chaos_links("frontend"):
        host = ctx.chaos("add", link, "slow", "latency", "both", "ms=300", "jitter=150")
    ctx.target = host
    brokers = "s" if len(ctx.run.cluster.brokers) > 1 else ""
    return f"links of {host} to the broker{brokers} slowed: 300 +- 150 ms each way (lh-chaos)"


def _slow_heal(ctx):
    ctx.chaos("clear", "all")


def _kill(daemon, leader=False):
    def inject(ctx):
        if leader:
            ctx.target = ctx.leader()
        else:
            # The last in the file: for a broker, the one ctx.broker() names
            ctx.target = ctx.run.cluster.running(daemon)[-1].name
        ctx.fault(ctx.target, daemon, "kill")
        return f"{daemon}{' (the leader)' if leader else ''} on {ctx.target} killed (SIGKILL)"

    def heal(ctx):
        ctx.fault(ctx.target, daemon, "restart")
    return inject, heal


def _pause_leader(ctx):
    ctx.target = ctx.leader()
    ctx.fault(ctx.target, "integrity", "stop")
    return f"replica leader {ctx.target} paused (SIGSTOP)"


def _heal_partition(ctx):
    ctx.heal()


def _pause_broker(ctx):
    ctx.target = ctx.broker()
    ctx.fault(ctx.target, "broker", "stop")
    others = [h.name for h in ctx.run.cluster.brokers if h.name != ctx.target]
    return f"broker on {ctx.target} paused (SIGSTOP), {' and '.join(others)} running"


def _partition_broker(ctx):
    ctx.target = ctx.broker()
    C.partition(ctx.run, ctx.filename, isolate=ctx.target, clients=True)
    return (f"broker host {ctx.target} cut off from every host and from the agents "
            "(its metrics stay readable)")


DRILLS = [
    Drill("leader-partition", "partition the Raft leader from the other replicas",
          _leader_alone, _heal_partition),
    Drill("broker-validators", "isolate the broker from the validators",
          _broker_from_validators, _heal_partition),
    Drill("minority-majority", "split the cluster: broker and leader in the minority",
          _minority_majority, _heal_partition),
    Drill("flapping-link", "the link between broker and leader goes down and up every second",
          _flapping, _heal_partition, flap=True),
    Drill("slow-link", "a validator's links to the broker slowed by lh-chaos",
          _slow_link, _slow_heal),
    Drill("kill-replica", "SIGKILL the leading replica under load, restart it at the heal",
          *_kill("integrity", leader=True)),
    Drill("kill-validator", "SIGKILL a validator under load, restart it at the heal",
          *_kill("validator")),
    Drill("kill-only-broker", "SIGKILL the only broker under load, restart it at the heal",
          *_kill("broker"), brokers=(1, 1)),
    Drill("pause-leader", "SIGSTOP the leading replica, SIGCONT at the heal",
          _pause_leader, lambda ctx: ctx.fault(ctx.target, "integrity", "cont")),
    # Several brokers (ops/drills/brokers.zpl): the other broker carries the load
    Drill("kill-broker", "two brokers: SIGKILL one under load, restart it at the heal",
          *_kill("broker"), brokers=(2, None), file=BROKERS_FILE),
    Drill("pause-broker", "two brokers: SIGSTOP one under load, SIGCONT at the heal",
          _pause_broker, lambda ctx: ctx.fault(ctx.target, "broker", "cont"),
          brokers=(2, None), file=BROKERS_FILE),
    Drill("partition-broker", "two brokers: cut one's host off from every host and the agents",
          _partition_broker, _heal_partition, brokers=(2, None), file=BROKERS_FILE),
]
BY_NAME = {d.name: d for d in DRILLS}


# --------------------------------------------------------------------------
# The replicas and brokers, seen from this namespace through their metrics
# (a partition never cuts the bridge address from a metrics port, so this
# works whatever the fault)

def _series(address, timeout=0.4):
    """[(name, {label: value}, value)] of a /metrics page, or None (no answer)."""
    try:
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=timeout) as reply:
            text = reply.read().decode()
    except (OSError, ValueError):
        return None
    series = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            name, _, labels = name.partition("{")
            pairs = dict(pair.split("=", 1) for pair in labels.rstrip("}").split(",") if pair)
            series.append((name, {k: v.strip('"') for k, v in pairs.items()}, float(value)))
    return series


def _scrape(address, timeout=0.4):
    """{name: value} of a page (labels dropped: for daemons with one series a name)."""
    series = _series(address, timeout)
    return None if series is None else {name: value for name, _, value in series}


# Requests a broker carried: what workers answered through it for the load's services
CARRIED = ("validate", "events")


def sample_brokers(run, wanted):
    """{host: {answered, whole} or None (no answer)} of every broker: answered,
    the replies its workers sent through it for CARRIED; whole, it has the
    workers of every service (wanted: service -> count), by its metrics."""
    out = {}
    for host in run.cluster.brokers:
        series = _series(run.metrics(host, "broker"))
        if series is None:
            out[host.name] = None
            continue
        answered, workers = 0, {}
        for name, labels, value in series:
            if name == "lighthouse_service_replies_total" and labels.get("service") in CARRIED:
                answered += int(value)
            elif name == "lighthouse_service_workers":
                workers[labels.get("service")] = int(value)
        out[host.name] = {"answered": answered,
                          "whole": all(workers.get(s, 0) >= n for s, n in wanted.items())}
    return out


def sample_replicas(run):
    """{host: {size, term, leader, is_leader} or None (no answer)} of every replica."""
    out = {}
    for host in run.cluster.replicas:
        m = _scrape(run.metrics(host, "integrity"))
        out[host.name] = None if m is None else {
            key: int(m.get(f"lighthouse_integrity_{key}", -1))
            for key in ("size", "term", "leader", "is_leader")}
    return out


class Watcher(threading.Thread):
    """Samples the replicas twice a second (leader changes and terms), and
    the brokers (what each carried, whether it has every worker)."""

    def __init__(self, cluster_run):
        super().__init__(daemon=True)
        self.cluster_run, self.stopping = cluster_run, threading.Event()
        self.leaders, self.terms = [], []
        self.brokers = []           # (time.time(), sample_brokers(...))
        self.wanted = C.expected_workers(cluster_run.cluster)

    def run(self):
        while not self.stopping.is_set():
            samples = [s for s in sample_replicas(self.cluster_run).values() if s]
            leading = [s["leader"] for s in samples if s["is_leader"] == 1]
            if leading and (not self.leaders or self.leaders[-1] != leading[0]):
                self.leaders.append(leading[0])
            if samples:
                self.terms.append(max(s["term"] for s in samples))
            self.brokers.append((time.time(), sample_brokers(self.cluster_run, self.wanted)))
            self.stopping.wait(0.5)

    def stop(self):
        self.stopping.set()
        self.join(5)


# --------------------------------------------------------------------------
# One drill

def _agents(run, count):
    """Drill agents drill-1..N: keys of their own, on the roster (made once)."""
    roster = run.keys / "roster.zpl"
    names = [f"drill-{k}" for k in range(1, count + 1)]
    listed = roster.read_text() if roster.exists() else ""
    for name in names:
        if not (run.keys / f"{name}.cert_secret").exists() or f"\n    {name}\n" not in listed:
            for suffix in (".cert", ".cert_secret"):
                (run.keys / f"{name}{suffix}").unlink(missing_ok=True)
            C._sh(run.lh, "keygen", name, "--dir", run.keys, "--role", "agent",
                  "--roster", roster)
    return names


def _fresh(run, filename):
    """No cluster of this name running and an empty log: each drill starts clean."""
    problems = C.teardown(run)
    if problems:
        raise C.Failure("; ".join(problems))
    shutil.rmtree(run.data, ignore_errors=True)
    (run.dir / "cluster.zpl").unlink(missing_ok=True)
    run.keys.mkdir(parents=True, exist_ok=True)


def _settled(run, deadline):
    """Until every daemon runs, a replica leads, the validators' spools are
    empty, every broker has every worker and every replica holds the same
    number of events for SETTLE_S."""
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        samples = sample_replicas(run)
        spools = [_scrape(run.metrics(h, "validator")) for h in run.cluster.running("validator")]
        alive = all((pid := C._pid(run, h, d)) and C._alive(pid, d)
                    for h in run.cluster.hosts for d in h.daemons)
        sizes = {s["size"] for s in samples.values() if s}
        ready = (alive and all(samples.values()) and len(sizes) == 1
                 and any(s["is_leader"] == 1 for s in samples.values())
                 and all(m and m.get("lighthouse_validator_spool_queued") == 0 for m in spools))
        # Asked through each broker (mmi.service), once the rest is ready
        ready = ready and not C.missing_workers(run)
        state = (sizes.pop(),) if ready else None
        if state != last:
            last, since = state, time.monotonic()
        elif state and time.monotonic() - since >= SETTLE_S:
            return True
        time.sleep(0.25)
    return False


def _check(run, out, history):
    """lh-drill-check over every replica's export, and lh verify on each."""
    exports, errors = [], []
    for host in run.cluster.replicas:
        path = out.with_name(f"{out.name}.{host.name}.export")
        path.unlink(missing_ok=True)
        result = subprocess.run([run.lh, "event", "export", "--dir",
                                 run.data / host.name / "integrity", path],
                                capture_output=True, text=True)
        if result.returncode != 0:
            errors.append(f"export of {host.name}: {result.stderr.strip()}")
        else:
            exports.append(path)
    verify_ok = bool(exports) and len(exports) == len(run.cluster.replicas)
    for path in exports:
        result = subprocess.run([run.lh, "verify", "--export", path, "--keys",
                                 run.keys / "integrity.keys", "--quorum", "2"],
                                capture_output=True, text=True)
        if result.returncode != 0:
            verify_ok = False
            errors.append(f"lh verify {path.name}: {(result.stdout + result.stderr).strip()}")
    checked = out.with_name(f"{out.name}.check.json")
    argv = [run.build / "chaos" / "lh-drill-check", "--history", history, "--json", checked]
    for path in exports:
        argv += ["--export", path]
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True)
    if result.returncode == 2 or not checked.exists():
        raise C.Failure(f"lh-drill-check: {result.stderr.strip()}")
    check = json.loads(checked.read_text())
    checked.unlink()
    for path in exports:
        path.unlink()
    return check, verify_ok, errors


def run_drill(drill, run, filename, args, out):
    """Runs one drill; returns its report (a dict)."""
    print(f"ops/drill: {drill.name}: {drill.summary}", flush=True)
    _fresh(run, filename)
    agents = _agents(run, args.agents)
    with open(os.devnull, "w") as quiet:
        saved = sys.stdout
        sys.stdout = quiet          # up's own guide is not the drill's output
        try:
            code = C.up(run, filename)
        finally:
            sys.stdout = saved
    if code != 0:
        raise C.Failure(f"the cluster did not come up (exit {code}); logs in {run.logs}")
    ctx = Context(run, filename)
    history = out.with_name(f"{out.name}.history.jsonl")
    history.unlink(missing_ok=True)
    broker_key = C._broker_key(run)
    duration = args.duration
    warmup = max(3.0, duration / 4)
    hold = args.fault if args.fault is not None else duration * 0.4
    watcher = Watcher(run)
    watcher.start()
    t0 = time.time()
    load = subprocess.Popen([str(run.build / "chaos" / "lh-drill-load"),
                             "--broker", run.endpoint(run.cluster.frontend),
                             "--broker-key", broker_key, "--certs", str(run.keys),
                             "--agents", ",".join(agents), "--duration", str(duration),
                             "--rate", str(args.rate), "--append-pct", str(args.append_pct),
                             "--history", str(history)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    fault = {"what": "", "start_s": None, "end_s": None, "healed_s": None,
             "healed_in_drill": False}
    errors = []
    injected = False
    try:
        time.sleep(max(0.0, t0 + warmup - time.time()))
        fault["start_s"] = round(time.time() - t0, 3)
        injected = True
        fault["what"] = drill.inject(ctx)
        print(f"ops/drill: {drill.name}: {fault['start_s']:.1f} s: {fault['what']}", flush=True)
        end = t0 + warmup + hold
        cut = True
        while time.time() < min(end, t0 + duration) and load.poll() is None:
            if drill.flap:
                time.sleep(1.0)
                if cut:
                    ctx.heal()
                else:
                    drill.inject(ctx)
                cut = not cut
            else:
                time.sleep(0.1)
        fault["healed_in_drill"] = time.time() < t0 + duration
        if not fault["healed_in_drill"]:
            # Held past the load: the report says so; healed now only so that
            # the replicas can be compared
            load.wait(timeout=duration + 30)
    except BaseException:
        load.kill()
        load.wait()
        raise
    finally:
        if injected:
            try:
                drill.heal(ctx)
            finally:
                ctx.heal()
        healed = time.time()
        fault["end_s"] = fault["healed_s"] = round(healed - t0, 3)
        print(f"ops/drill: {drill.name}: {fault['healed_s']:.1f} s: healed", flush=True)
    try:
        stdout, stderr = load.communicate(timeout=duration + 60)
    except subprocess.TimeoutExpired:
        load.kill()
        stdout, stderr = load.communicate()
        errors.append("lh-drill-load overran its duration and was killed")
    if load.returncode != 0:
        raise C.Failure(f"lh-drill-load exited {load.returncode}: {stderr.strip()[-500:]}")
    recovered = _settled(run, time.monotonic() + RECOVERY_TIMEOUT_S)
    if not recovered:
        errors.append(f"the cluster did not settle within {RECOVERY_TIMEOUT_S} s of the heal")
    watcher.stop()
    check, verify_ok, problems = _check(run, out, history)
    errors += problems
    ops = drill_report.read_history(history)
    rows = drill_report.per_second(ops, t0 * 1000, int(duration))
    recovery = drill_report.recovery_s(ops, healed * 1000)
    terms = watcher.terms or [0]
    start_ms = (t0 + (fault["start_s"] or 0)) * 1000
    report = {
        "drill": drill.name, "summary": drill.summary,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
        "duration_s": duration,
        "load": {"agents": args.agents, "rate": args.rate, "append_pct": args.append_pct,
                 "summary": json.loads(stdout or "{}")},
        "fault": fault,
        "acked": check["acked"], "lost": check["lost"], "duplicated": check["duplicated"],
        "reordered": check["reordered"], "misplaced": check["misplaced"],
        "unexpected": check["unexpected"], "appends": check["appends"],
        "indeterminate": check["indeterminate"],
        "indeterminate_landed": check["indeterminate_landed"],
        "failed": check["failed"], "failed_but_present": check["failed_but_present"],
        "replicas": check["replicas"], "replicas_identical": check["replicas_identical"],
        "first_difference": check["first_difference"], "log_size": check["log_size"],
        "verify_ok": verify_ok,
        "decisions": check["decisions"], "decisions_answered": check["decisions_answered"],
        "decisions_logged": check["decisions_answered"] - check["decisions_missing"],
        "decisions_missing": check["decisions_missing"],
        "unavailable_s": drill_report.unavailable_s(rows),
        "recovery_s": recovery, "recovered": recovered and recovery is not None,
        "worst_p99_ms": drill_report.worst_p99(rows),
        "max_stall": drill_report.max_stall(ops, start_ms, healed * 1000),
        "brokers": drill_report.broker_load(watcher.brokers, t0, fault["start_s"] or 0,
                                            fault["end_s"], duration),
        "brokers_whole_s": drill_report.whole_after_s(watcher.brokers, healed),
        "leader_changes": max(0, len(watcher.leaders) - 1),
        "leaders": watcher.leaders, "terms": [min(terms), max(terms)],
        "checker_ok": check["ok"],
        "history_file": history.name,
        "errors": errors,
        "per_second": rows,
    }
    report["passed"] = bool(check["ok"] and verify_ok and report["recovered"]
                            and fault["healed_in_drill"] and not errors)
    if not report["passed"]:
        # Replayable from the report alone
        report["history"] = ops
    return report


def _write_outputs(report, out, json_path, plot_path):
    json_path = pathlib.Path(json_path or out.with_suffix(".json"))
    plot_path = pathlib.Path(plot_path or out.with_suffix(".svg"))
    json_path.write_text(json.dumps(report, indent=1) + "\n")
    drill_report.plot_svg(report, plot_path)
    text = drill_report.summary_text(report)
    out.with_suffix(".txt").write_text(text)
    print(text + f"  report     {json_path}\n  plot       {plot_path}\n", flush=True)


def results_table(results):
    """The table ops/drill prints after several drills (markdown, as docs/DRILLS.md's)."""
    def dash(value):
        return "-" if value is None else f"{value}"
    lines = ["| drill | passed | acked appends | lost / dup / reordered | decisions answered / "
             "asked | unavailable s | recovery s | worst p99 ms | longest stall in the fault ms "
             "| leader changes |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        stall = r.get("max_stall")
        lines.append(f"| {r['drill']} | {'yes' if r['passed'] else 'NO'} | {r['acked']} | "
                     f"{r['lost']} / {r['duplicated']} / {r['reordered']} | "
                     f"{r['decisions_answered']} / {r['decisions']} | {r['unavailable_s']} | "
                     f"{dash(r['recovery_s'])} | {dash(r.get('worst_p99_ms'))} | "
                     f"{dash(stall and stall['ms'])} | {r['leader_changes']} |")
    return "\n".join(lines)


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    parser = argparse.ArgumentParser(prog="ops/drill", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("names", nargs="*", metavar="NAME", help="drills to run, or all")
    parser.add_argument("--list", action="store_true", help="list the drills and exit")
    parser.add_argument("--duration", type=int, default=40, metavar="S",
                        help="seconds of load in each drill, 8 to 600 [40]")
    parser.add_argument("--fault", type=float, metavar="S",
                        help="hold the fault S seconds [0.4 x duration]; longer than the rest "
                             "of the load, the drill reports a fault that never healed")
    parser.add_argument("--agents", type=int, default=6, help="load agents, 1 to 64 [6]")
    parser.add_argument("--rate", type=int, default=25, help="operations/s per agent [25]")
    parser.add_argument("--append-pct", type=int, default=50,
                        help="share of appends in the load, %% [50]")
    parser.add_argument("--json", metavar="FILE", help="the report (one drill) [run/drills/NAME.json]")
    parser.add_argument("--plot", metavar="FILE", help="the plot, SVG (one drill) [run/drills/NAME.svg]")
    parser.add_argument("--out", metavar="DIR", help=f"where reports go [{DEFAULT_OUT}]")
    parser.add_argument("--file", metavar="FILE",
                        help="the cluster file of every drill named [ops/drills/cluster.zpl; "
                             "ops/drills/brokers.zpl for kill-broker, pause-broker, "
                             "partition-broker]")
    parser.add_argument("--build", metavar="DIR", help="the build with the binaries [build/release]")
    parser.add_argument("--keep", action="store_true", help="leave the last cluster running")
    args = parser.parse_args(argv)
    if args.list:
        for d in DRILLS:
            print(f"  {d.name:<18} {d.summary}   [{d.file.name}]")
        return 0
    names = [d.name for d in DRILLS] if args.names == ["all"] else args.names
    unknown = [n for n in names if n not in BY_NAME]
    if not names or unknown:
        parser.error(f"unknown drill {unknown[0]!r} (ops/drill --list)" if unknown
                     else "name a drill, or all (ops/drill --list)")
    if not 8 <= args.duration <= 600 or not 1 <= args.agents <= 64 or not 1 <= args.rate <= 1000:
        parser.error("--duration 8..600, --agents 1..64, --rate 1..1000")
    if not 0 <= args.append_pct <= 100 or (args.fault is not None and not 0 < args.fault <= 3600):
        parser.error("--append-pct 0..100, --fault 0..3600")
    if (args.json or args.plot) and len(names) > 1:
        parser.error("--json and --plot name one drill's files: run one drill, or use --out")
    os.environ["PATH"] = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupted)
    run = None
    results = []
    try:
        # Every file read and checked before anything is made
        files = {name: str(args.file or BY_NAME[name].file) for name in names}
        clusters = {}
        for name, filename in files.items():
            if filename not in clusters:
                clusters[filename] = C.load(filename)
                C.check_local(clusters[filename])   # drills run only against namespaces made here
            why = BY_NAME[name].fits(clusters[filename])
            if why:
                raise C.FileError(filename, 0, None, why)
        C._need_root_and_tools("drill")
        runs = {filename: C.Run(cluster, None, args.build) for filename, cluster in clusters.items()}
        for each in runs.values():
            C._binaries(each)
        run = next(iter(runs.values()))
        for tool in ("lh-drill-load", "lh-drill-check"):
            if not (run.build / "chaos" / tool).exists():
                raise C.Failure(f"{run.build / 'chaos' / tool} not found: build {run.build}")
        out_dir = pathlib.Path(args.out or DEFAULT_OUT)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            out = out_dir / name
            run = runs[files[name]]
            report = run_drill(BY_NAME[name], run, files[name], args, out)
            _write_outputs(report, out, args.json, args.plot)
            results.append(report)
    except C.FileError as e:
        print(f"ops/drill: {e}", file=sys.stderr)
        return 2
    except C.Failure as e:
        print(f"ops/drill: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ops/drill: interrupted; healing and taking the cluster down", file=sys.stderr)
        return 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if run is not None and not (args.keep and results):
            for problem in C.teardown(run):
                print(f"ops/drill: {problem}", file=sys.stderr)
    if len(results) > 1:
        print(results_table(results))
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
