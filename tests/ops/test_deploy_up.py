"""Integration test of ops/deploy (docs/DEPLOY.md): a three-host cluster is
deployed with --root (every installed path under the host's own directory)
and --bin-dir (the build's binaries), then run in network namespaces made as
ops/cluster up makes them: each unit's ExecStart= line, exactly as written,
runs in its host's namespace. Through the broker, with the generated
operators' env files, validate answers, an appended event is readable, lh
status answers, and every endpoint of the generated prometheus.yml serves
metrics (each replica's log holding the event). Nothing is left behind.

    test_deploy_up.py BUILD_DIR

Exits 77 (skipped) when not root, when ip netns add fails, when nft is
missing or when another cluster holds 10.77.0.0/24.
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]

sys.dont_write_bytecode = True
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from nstest import expect, leftovers, preconditions, sh  # noqa: E402
sys.dont_write_bytecode = True
sys.path.insert(0, str(ROOT / "ops"))
import cluster  # noqa: E402

DEPLOY = ROOT / "ops" / "deploy"
NAME = "deptest"
FILE = f'''\
cluster
    name = {NAME}
ports
    frontend = 7770
    backend = 7771
    pub = 7772
    raft = 7780
    metrics = 7790
host
    one
        address = 10.77.0.2
        broker
        validator
        expert
        cache
        integrity
            id = 1
    two
        address = 10.77.0.3
        validator
        integrity
            id = 2
    three
        address = 10.77.0.4
        integrity
            id = 3
'''
PROGRAMS = ("cli/lh", "broker/lh-broker", "nodes/validator/lh-validator",
            "nodes/integrity/lh-integrity", "nodes/expert/lh-expert", "nodes/cache/lh-cache",
            "nodes/echo/lh-echo")










def exec_start(unit):
    """The argv of a unit's ExecStart= (ops/deploy writes no quotes, no specifiers)."""
    line = next(l for l in unit.read_text().splitlines() if l.startswith("ExecStart="))
    return line[len("ExecStart="):].split()




def scrape(target):
    with urllib.request.urlopen(f"http://{target}/metrics", timeout=2) as reply:
        return reply.read().decode()


def main():
    build = pathlib.Path(sys.argv[1]).resolve()
    preconditions(NAME)
    missing = [p for p in PROGRAMS if not (build / p).exists()]
    if missing:
        raise AssertionError(f"{build / missing[0]} not found: build first")
    started = time.monotonic()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="lh-deploy-up-"))
    processes = {}
    spec = None
    try:
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        for program in PROGRAMS:
            (bin_dir / os.path.basename(program)).symlink_to(build / program)
        path, out = tmp / "cluster.zpl", tmp / "out"
        path.write_text(FILE)
        sh(DEPLOY, path, "--out", out, "--build", build, "--bin-dir", bin_dir,
           "--root", f"{out}/{{host}}")
        spec = cluster.load(path)
        # ops/cluster's network, names and teardown; its Run's dir is admin/,
        # so that its readiness check uses the generated admin.env
        net = cluster.Run(spec, out / "admin", build)
        cluster._network(net)
        units = []
        for host in spec.hosts:
            for unit in sorted((out / host.name / "etc/systemd/system").glob("*.service")):
                daemon = unit.stem.removeprefix("lighthouse-")
                units.append((host, daemon, exec_start(unit)))
        expect(len(units) == 8, "8 units for 3 hosts")
        logs = tmp / "logs"
        logs.mkdir()
        for host, daemon, argv in sorted(units, key=lambda u: u[1] != "broker"):
            expect(argv[0] == f"{bin_dir}/lh-{daemon}" and argv[1:] ==
                   ["-c", f"{out}/{host.name}/etc/lighthouse/{daemon}.cfg"],
                   f"{host.name}: {' '.join(argv)}")
            with open(logs / f"{host.name}-{daemon}.log", "wb") as log:
                processes[host, daemon] = subprocess.Popen(
                    ["ip", "netns", "exec", net.netns(host)] + argv, stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        net.logs = logs
        cluster._wait_ready(net, processes)
        expect(True, "every service answers through the broker "
               f"({time.monotonic() - started:.1f} s)")
        check(build, out, spec)
    except BaseException:
        for log in sorted((tmp / "logs").glob("*.log")):
            print(f"--- {log.name}", *log.read_text(errors="replace").splitlines()[-5:],
                  sep="\n", file=sys.stderr)
        raise
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if spec:
            problems = cluster.teardown(cluster.Run(spec, tmp / "net", build))
            if problems:
                print("teardown:", *problems, sep="\n  ", file=sys.stderr)
        left = leftovers(NAME, tmp)
        shutil.rmtree(tmp, ignore_errors=True)
    expect(left == [], "no namespace, veth, bridge, table or process is left")
    print(f"ops/deploy integration test passed in {time.monotonic() - started:.1f} s")


def check(build, out, spec):
    lh = build / "cli" / "lh"
    agent, admin = ["--env", out / "admin" / "env"], ["--env", out / "admin" / "admin.env"]
    allow = sh(lh, *agent, "validate", "--tool", "Bash", "--command", "ls -la", check=False)
    expect(allow.returncode == 0 and allow.stdout.startswith("allow"), "admin/env: ls -la: allow")
    deny = sh(lh, *agent, "validate", "--tool", "Bash", "--command", "rm -rf /", check=False)
    expect(deny.returncode == 2 and deny.stdout.startswith("deny"), "admin/env: rm -rf /: deny")
    appended = json.loads(sh(lh, *admin, "event", "append", "--type", "custom",
                             "--data", '{"note":"deployed"}').stdout)
    for _ in range(50):
        got = sh(lh, *admin, "event", "get", appended["seq"], check=False)
        if got.returncode == 0:
            break
        time.sleep(0.1)
    expect(got.returncode == 0 and json.loads(got.stdout)["data"] == {"note": "deployed"},
           f"admin/admin.env: event {appended['seq']} appended and read back")
    status = sh(lh, *admin, "status")
    expect("validate" in status.stdout and "events.read" in status.stdout,
           "admin/admin.env: lh status answers")
    # Every endpoint of the scrape config serves metrics; each replica's log has the event
    targets = re.findall(r"targets: \['([0-9.:]+)'\]\s+labels: \{[^}]*daemon: '(\w+)'",
                         (out / "prometheus.yml").read_text())
    expect(len(targets) == 8, "prometheus.yml: 8 endpoints")
    for target, daemon in targets:
        text = scrape(target)
        expect(f"lighthouse_{daemon}_" in text or "lighthouse_service_" in text,
               f"{target} ({daemon}) serves lighthouse_ metrics")
        if daemon == "integrity":
            deadline = time.monotonic() + 5
            while True:
                size = re.search(r"^lighthouse_integrity_size\{[^}]*\} (\S+)$", text, re.M)
                if size and float(size.group(1)) > appended["seq"]:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"{target}: the log never held event {appended['seq']}")
                time.sleep(0.2)
                text = scrape(target)
            expect(True, f"{target}: the replica's log holds event {appended['seq']}")


if __name__ == "__main__":
    main()
