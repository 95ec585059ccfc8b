"""What the ops tests that make network namespaces share (test_cluster_up,
test_deploy_up, test_drill): skip rules, running commands, checks, and the
sweep for anything a cluster named NAME left behind."""
import json
import os
import pathlib
import shutil
import subprocess
import sys


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


def sh(*argv, check=True, **kwargs):
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f'{" ".join(map(str, argv))}: exit {result.returncode}\n'
                             f"{result.stdout}{result.stderr}")
    return result


def expect(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok: {what}")


def preconditions(name):
    """Skips (exit 77) unless this can make namespaces, veths and nftables
    rules, and 10.77.0.0/24 is free."""
    if os.geteuid() != 0:
        skip("needs root (network namespaces, veths, a bridge)")
    os.environ["PATH"] += ":/usr/sbin:/sbin"
    if not shutil.which("ip") or not shutil.which("nft"):
        skip("needs ip (iproute2) and nft (nftables): ops/deps")
    probe = f"lh-{name}-probe{os.getpid()}"
    if sh("ip", "netns", "add", probe, check=False).returncode != 0:
        skip("ip netns add fails here (no network namespaces)")
    sh("ip", "netns", "del", probe)
    if "10.77.0." in sh("ip", "-4", "-o", "address", "show").stdout:
        skip("10.77.0.0/24 is in use here: another cluster is up")


def leftovers(name, marker):
    """Namespaces, links and nftables table of cluster name, and processes
    whose command line names marker (a directory of the test's), still there."""
    left = [n for n in sh("ip", "netns", "list").stdout.split() if n.startswith(f"lh-{name}-")]
    left += [link["ifname"] for link in json.loads(sh("ip", "-j", "link", "show").stdout)
             if link["ifname"].startswith((f"lh-{name}-", f"lhbr-{name}"))]
    if sh("nft", "list", "table", "inet", f"lh-{name}", check=False).returncode == 0:
        left.append(f"table inet lh-{name}")
    for proc in pathlib.Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(marker) in (proc / "cmdline").read_text():
                left.append(f"process {proc.name}")
        except OSError:
            pass
    return left
