"""Integration test of ops/cluster (docs/CLUSTER.md): a three-host cluster in
network namespaces answers through its broker at 10.77.0.2 from this
namespace, its traffic goes over the veths; a dead daemon is seen and
restarted; and down, a daemon failing during up and Ctrl-C during up leave
nothing behind.

    test_cluster_up.py BUILD_DIR

Exits 77 (skipped) when not root, when ip netns add fails, when nft is
missing or when another cluster holds 10.77.0.0/24.
"""
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]

sys.dont_write_bytecode = True
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from nstest import expect, leftovers, preconditions, sh  # noqa: E402
CLUSTER = ROOT / "ops" / "cluster"
NAME = "opstest"
# Ports apart from ops/run's (5555-5567), though each namespace has ports of its own
FILE = f'''\
cluster
    name = {NAME}
ports
    frontend = 7750
    backend = 7751
    pub = 7752
    raft = 7760
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
        integrity
            id = 2
    three
        address = 10.77.0.4
        integrity
            id = 3
'''
ADDRESSES = {"one": "10.77.0.2", "two": "10.77.0.3", "three": "10.77.0.4"}












def sockets(netns, state):
    """(local, peer, program) of the TCP sockets in netns, from ss."""
    out = sh("ip", "netns", "exec", netns, "ss", "-Htnp", "state", state).stdout
    found = []
    for line in out.splitlines():
        fields = line.split()
        program = re.search(r'\(\("([^"]+)"', line)
        found.append((fields[2], fields[3], program.group(1) if program else ""))
    return found


def main():
    build = pathlib.Path(sys.argv[1]).resolve()
    preconditions(NAME)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lh-cluster-test-") as tmp:
        run = pathlib.Path(tmp) / "run"
        path = pathlib.Path(tmp) / "cluster.zpl"
        path.write_text(FILE)
        common = [path, "--run-dir", run, "--build", build]
        try:
            up = sh(CLUSTER, "up", *common, timeout=60)
            expect("cluster opstest running" in up.stdout, "ops/cluster up: running")
            check_cluster(build, run)
            partitions(build, common, run)
            faults(build, common, run)
            again = sh(CLUSTER, "up", *common)
            expect("already running" in again.stdout, "a second up says it is already running")
            status = sh(CLUSTER, "status", *common)
            running = re.findall(r"pid \d+ +running", status.stdout)
            expect(len(running) == 7 and "SERVICE" in status.stdout,
                   "status: 7 daemons running, and lh status")
            restart_half_up(common, run)
            sh(CLUSTER, "down", *common)
            expect(leftovers(NAME, run) == [], "down leaves no namespace, veth, bridge, table or process")
            expect((run / "data" / "two" / "integrity").is_dir(), "the data stays")
            status = sh(CLUSTER, "status", *common, check=False)
            expect(status.returncode == 1 and "not running" in status.stdout,
                   "status after down: exit 1")
            failing_daemon(build, tmp, common, run)
            interrupt_up(common, run)
        finally:
            sh(CLUSTER, "down", *common, check=False)
    print(f"ops/cluster integration test passed in {time.monotonic() - started:.1f} s")


def check_cluster(build, run):
    lh = build / "cli" / "lh"
    agent, admin = ["--env", run / "env"], ["--env", run / "admin.env"]
    expect("LH_BROKER='tcp://10.77.0.2:7750'" in (run / "admin.env").read_text(),
           "the env files name the broker at 10.77.0.2")
    allow = sh(lh, *agent, "validate", "--tool", "Bash", "--command", "ls -la", check=False)
    expect(allow.returncode == 0 and allow.stdout.startswith("allow"), "ls -la: allow")
    deny = sh(lh, *agent, "validate", "--tool", "Bash", "--command", "rm -rf /", check=False)
    expect(deny.returncode == 2 and deny.stdout.startswith("deny"), "rm -rf /: deny")
    appended = json.loads(sh(lh, *admin, "event", "append", "--type", "custom",
                             "--data", '{"note":"over the veths"}').stdout)
    # A replica may answer a heartbeat behind the leader (EVENTS.md 5): retry
    for _ in range(50):
        got = sh(lh, *admin, "event", "get", appended["seq"], check=False)
        if got.returncode == 0:
            break
        time.sleep(0.1)
    if got.returncode != 0:
        raise AssertionError(f"event {appended['seq']} never became readable: {got.stderr}")
    event = json.loads(got.stdout)
    expect(event["data"] == {"note": "over the veths"} and event["role"] == "admin",
           f'event {appended["seq"]} appended as admin and read back')

    # The broker listens on its host's address, in its host's namespace
    listening = sockets(f"lh-{NAME}-one", "listening")
    for port in (7750, 7751, 7752):
        expect((f"10.77.0.2:{port}", "0.0.0.0:*", "lh-broker") in listening,
               f"lh-broker listens on 10.77.0.2:{port} in lh-{NAME}-one")
    # Each replica listens for Raft on its host's address, and Raft and the
    # broker connections run between the hosts' addresses
    for host, address in ADDRESSES.items():
        netns = f"lh-{NAME}-{host}"
        expect((f"{address}:7760", "0.0.0.0:*", "lh-integrity") in sockets(netns, "listening"),
               f"lh-integrity listens for Raft on {address}:7760 in {netns}")
        established = sockets(netns, "established")
        raft = {peer.rsplit(":", 1)[0] for local, peer, program in established
                if program == "lh-integrity" and ":7760" in (local[-5:], peer[-5:])}
        expect(raft and raft <= set(ADDRESSES.values()) - {address},
               f"replica on {host} speaks Raft with {sorted(raft)}")
        to_broker = {peer for _, peer, program in established if program == "lh-integrity"}
        expect({"10.77.0.2:7751", "10.77.0.2:7750", "10.77.0.2:7752"} <= to_broker,
               f"replica on {host} reaches the broker at 10.77.0.2 (backend, frontend, pub)")
        octet = address.rsplit(".", 1)[1]
        link = json.loads(sh("ip", "-j", "-s", "link", "show", f"lh-{NAME}-{octet}").stdout)[0]
        rx, tx = link["stats64"]["rx"]["bytes"], link["stats64"]["tx"]["bytes"]
        expect(rx > 0 and tx > 0, f"veth lh-{NAME}-{octet} carried {rx} and {tx} bytes")
        pids = set(sh("ip", "netns", "pids", netns).stdout.split())
        for pidfile in (run / "pids").glob(f"{host}-*.pid"):
            expect(pidfile.read_text().strip() in pids, f"{pidfile.stem} runs in {netns}")


def reaches(source, target, port):
    """Whether host source opens a TCP connection to target's port within a second."""
    probe = (f"import socket; socket.create_connection(('{ADDRESSES[target]}', {port}), 1)")
    return sh("ip", "netns", "exec", f"lh-{NAME}-{source}", "/usr/bin/python3", "-c", probe,
              check=False).returncode == 0


def partitions(build, common, run):
    """partition cuts what it says and nothing else; heal and --for undo it."""
    expect(reaches("two", "one", 7750) and reaches("one", "two", 7760), "all hosts reach each other")
    sh(CLUSTER, "partition", *common, "--isolate", "two")
    expect(not reaches("two", "one", 7750) and not reaches("one", "two", 7760)
           and not reaches("three", "two", 7760), "isolate two: nobody reaches two, nor two them")
    expect(reaches("three", "one", 7750), "isolate two: three still reaches one")
    # Two replicas of three are a majority: the log goes on without two
    lh = build / "cli" / "lh"
    appended = sh(lh, "--env", run / "admin.env", "event", "append", "--type", "custom",
                  "--data", '{"note":"while two is cut off"}', check=False, timeout=30)
    expect(appended.returncode == 0, "isolate two: appends still committed by one and three")
    sh(CLUSTER, "heal", *common)
    expect(reaches("two", "one", 7750) and reaches("one", "two", 7760), "heal: two is back")

    sh(CLUSTER, "partition", *common, "--drop", "three>one")
    expect(not reaches("three", "one", 7750), "drop three>one: three does not reach one")
    expect(reaches("two", "one", 7750), "drop three>one: two still reaches one")
    sh(CLUSTER, "heal", *common)
    sh(CLUSTER, "partition", *common, "--split", "one/two,three")
    expect(not reaches("two", "one", 7750) and not reaches("one", "three", 7760)
           and reaches("two", "three", 7760), "split one/two,three: the sides are apart")
    sh(CLUSTER, "heal", *common)
    held = sh(CLUSTER, "partition", *common, "--isolate", "three", "--for", "0.5")
    expect("healed" in held.stdout and reaches("three", "one", 7750),
           "partition --for 0.5: held, then healed by itself")
    bad = sh(CLUSTER, "partition", *common, "--isolate", "nosuch", check=False)
    expect(bad.returncode == 1 and "no host named 'nosuch'" in bad.stderr,
           "partition of an unknown host: exit 1, named")
    none = sh(CLUSTER, "partition", *common, check=False)
    expect(none.returncode == 2, "partition without a cut: usage, exit 2")


def faults(build, common, run):
    """fault pauses, resumes, kills and restarts the daemons up started."""
    lh = build / "cli" / "lh"
    agent = ["--env", run / "env", "--timeout", "1500"]
    sh(CLUSTER, "fault", *common, "one", "validator", "--stop")
    paused = sh(lh, *agent, "validate", "--tool", "Bash", "--command", "ls -la", check=False)
    expect(paused.returncode == 1, "validator paused: no decision, the client fails closed")
    sh(CLUSTER, "fault", *common, "one", "validator", "--cont")
    resumed = sh(lh, *agent, "validate", "--tool", "Bash", "--command", "ls -la", check=False)
    expect(resumed.returncode == 0, "validator resumed: allow")
    sh(CLUSTER, "fault", *common, "three", "integrity", "--kill")
    status = sh(CLUSTER, "status", *common, check=False)
    expect(status.returncode == 1 and re.search(r"integrity +pid \d+ +not running", status.stdout),
           "fault --kill: the replica on three is gone")
    sh(CLUSTER, "fault", *common, "three", "integrity", "--restart")
    status = sh(CLUSTER, "status", *common, check=False)
    expect(len(re.findall(r"pid \d+ +running", status.stdout)) == 7,
           "fault --restart: all seven daemons run again")
    bad = sh(CLUSTER, "fault", *common, "two", "broker", "--kill", check=False)
    expect(bad.returncode == 1 and "runs no broker" in bad.stderr, "fault on a daemon not there")


def restart_half_up(common, run):
    """A dead daemon: status says so, and up starts the cluster afresh."""
    os.kill(int((run / "pids" / "two-integrity.pid").read_text()), signal.SIGKILL)
    status = sh(CLUSTER, "status", *common, check=False)
    expect(status.returncode == 1 and re.search(r"integrity +pid \d+ +not running", status.stdout),
           "status: a killed replica is not running, exit 1")
    up = sh(CLUSTER, "up", *common, timeout=60)
    expect("removing what an earlier run" in up.stdout and "running" in up.stdout,
           "up on a half-up cluster removes what is left and starts it again")


def failing_daemon(build, tmp, common, run):
    """A daemon that exits during up: exit 1 naming it, and nothing is left."""
    fake = pathlib.Path(tmp) / "build"
    for program in ("cli/lh", "broker/lh-broker", "nodes/validator/lh-validator",
                    "nodes/integrity/lh-integrity", "nodes/expert/lh-expert"):
        (fake / program).parent.mkdir(parents=True, exist_ok=True)
        (fake / program).symlink_to(build / program)
    cache = fake / "nodes" / "cache" / "lh-cache"
    cache.parent.mkdir(parents=True)
    cache.write_text("#!/bin/sh\necho 'lh-cache: cannot start (a test)' >&2\nexit 3\n")
    cache.chmod(0o755)
    up = sh(CLUSTER, "up", *common[:3], "--build", fake, check=False, timeout=60)
    expect(up.returncode == 1 and "cache on one exited with status 3" in up.stderr
           and "lh-cache: cannot start (a test)" in up.stderr,
           "a daemon that exits during up: exit 1, named, its log shown")
    expect(leftovers(NAME, run) == [], "after a failed up nothing is left")


def interrupt_up(common, run):
    """Ctrl-C while up waits for the daemons: everything made is removed."""
    up = subprocess.Popen([str(a) for a in [CLUSTER, "up", *common]],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 20
    while not (run / "pids" / "three-integrity.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    up.send_signal(signal.SIGINT)
    out, _ = up.communicate(timeout=30)
    expect(up.returncode == 130 and "interrupted" in out, "Ctrl-C during up: exit 130, interrupted")
    expect(leftovers(NAME, run) == [], "after Ctrl-C during up nothing is left")


if __name__ == "__main__":
    main()
