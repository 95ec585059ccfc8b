"""ops/cluster -- a Lighthouse cluster described in one ZPL file, run on this
machine with one network namespace per host (docs/CLUSTER.md).

    ops/cluster check FILE    parse and check FILE, print what runs where
    ops/cluster up FILE       start it, as root: bridge, namespaces, keys, daemons
    ops/cluster status FILE   each daemon alive or not, and lh status
    ops/cluster down FILE     stop it and remove what up made; keys, data and logs stay
    ops/cluster partition FILE (--isolate HOST [--clients] | --split H,H/H,H | --drop FROM>TO)
                              [--for S]   cut the network between hosts of a running cluster
    ops/cluster heal FILE     remove every partition
    ops/cluster fault FILE HOST DAEMON (--kill | --stop | --cont | --restart)
                              a process fault: SIGKILL, SIGSTOP, SIGCONT, or a restart

Exit status: 0 done, 1 failed (not root, a tool missing, a daemon that does
not come up, ...), 2 a bad FILE or usage (then nothing is started or made).
"""
import argparse
import dataclasses
import filecmp
import ipaddress
import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_BUILD = ROOT / "build" / "release"
# The only addresses up creates; the bridge in this namespace is the first
SUBNET = ipaddress.IPv4Network("10.77.0.0/24")
BRIDGE_ADDRESS = SUBNET.network_address + 1
DAEMONS = ("broker", "chaos", "validator", "integrity", "expert", "cache", "echo")
PROGRAMS = {
    "broker": "broker/lh-broker",
    "chaos": "chaos/lh-chaos",
    "validator": "nodes/validator/lh-validator",
    "integrity": "nodes/integrity/lh-integrity",
    "expert": "nodes/expert/lh-expert",
    "cache": "nodes/cache/lh-cache",
    "echo": "nodes/echo/lh-echo",
}
DEFAULT_PORTS = {"frontend": 5555, "backend": 5556, "pub": 5557, "raft": 5565, "chaos": 5570,
                 "metrics": 9150}
# Each daemon serves its metrics at its host's address, port ports/metrics + this
METRICS_OFFSET = {"broker": 0, "validator": 1, "integrity": 2, "expert": 3, "cache": 4}
# lh-chaos on a host carries that host's links to the brokers (docs/CLUSTER.md)
BROKER_LINKS = ("frontend", "backend", "pub")
# A client or worker takes at most this many brokers (LH_MAX_BROKERS in
# lh_connect.h); lh-chaos relays at most 16 links, three per broker
MAX_BROKERS = 16
CHAOS_MAX_BROKERS = 5
# Interface names hold 15 characters (lhbr-NAME, veths lh-NAME-OCTET); no "-",
# so that the prefix lh-NAME- names one cluster's namespaces and veths only
CLUSTER_NAME = re.compile(r"[a-z0-9]{1,8}")
HOST_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
KEEPS_DATA = ("validator", "integrity", "expert", "cache")    # in DATA/HOST/DAEMON
STOP_GRACE_S = 10
READY_TIMEOUT_S = 30


class FileError(Exception):
    """A bad cluster file: one line naming the file, the line and the key."""

    def __init__(self, filename, line, key, message):
        super().__init__(message)
        self.filename, self.line, self.key = filename, line, key

    def __str__(self):
        where = f"{self.filename}:{self.line}" if self.line else self.filename
        return f"{where}: {self.key}: {self.args[0]}" if self.key else f"{where}: {self.args[0]}"


class Failure(Exception):
    """Something up, down or status could not do (exit 1)."""


# ZPL (czmq's zconfig): 4 spaces per level, "name" or "name = value", # comments

@dataclasses.dataclass
class Item:
    name: str
    value: str | None           # None: no "= value" at all
    line: int
    path: str                   # host/r1/address, for errors
    children: list = dataclasses.field(default_factory=list)


_ZPL_NAME = re.compile(r"[A-Za-z0-9$_@.&+/-]+")


def parse_zpl(text, filename):
    """The tree of a ZPL text, under a nameless root; what zconfig refuses is a FileError."""
    root = Item("", None, 0, "")
    chain = [root]              # chain[d]: the item that lines at depth d belong to
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        body = line.lstrip(" ")
        if not body:
            continue
        indent = len(line) - len(body)
        if body[0] == "\t":
            raise FileError(filename, number, None, "a tab in the indentation: indent by 4 spaces")
        if indent % 4:
            raise FileError(filename, number, None, "indent by 4 spaces a level")
        if body[0] == "#":
            continue
        name = _ZPL_NAME.match(body)
        if not name:
            raise FileError(filename, number, None, f"'{body}' is not a name")
        rest = body[name.end():].lstrip()
        value = None
        if rest.startswith("="):
            rest = rest[1:].lstrip()
            if rest[:1] in ('"', "'"):
                end = rest.find(rest[0], 1)
                if end < 0:
                    raise FileError(filename, number, None, f"no closing {rest[0]}")
                value, rest = rest[1:end], rest[end + 1:].lstrip()
            else:
                value, rest = rest.split("#", 1)[0].rstrip(), ""
        if rest and not rest.startswith("#"):
            raise FileError(filename, number, None, f"'{rest}' after the value")
        depth = indent // 4
        if depth >= len(chain):
            raise FileError(filename, number, None,
                            "indented deeper than one level under the line above")
        parent = chain[depth]
        item = Item(name.group(), value, number,
                    f"{parent.path}/{name.group()}" if parent.path else name.group())
        parent.children.append(item)
        del chain[depth + 1:]
        chain.append(item)
    return root


# The cluster file (docs/CLUSTER.md)

@dataclasses.dataclass(frozen=True)
class Host:
    name: str
    address: str
    daemons: tuple              # in DAEMONS order
    replica: int | None         # the Raft id of its integrity replica
    line: int = dataclasses.field(compare=False, default=0)     # its address's


@dataclasses.dataclass(frozen=True)
class Cluster:
    name: str
    keys: str                   # relative to the run directory, or absolute
    data: str
    frontend: int
    backend: int
    pub: int
    raft: int
    chaos: int                  # lh-chaos's control port, on the loopback of its host
    metrics: int                # the first metrics port (METRICS_OFFSET)
    hosts: tuple
    filename: str = dataclasses.field(compare=False, default="")

    def running(self, daemon):
        return [h for h in self.hosts if daemon in h.daemons]

    @property
    def brokers(self):
        """The hosts that run a broker, in the file's order."""
        return self.running("broker")

    @property
    def broker(self):
        """The first broker's host (the file's order)."""
        return self.brokers[0]

    @property
    def replicas(self):
        return sorted(self.running("integrity"), key=lambda h: h.replica)


def _children(item, filename, allowed, what="repeated"):
    """item's children by name: unknown or repeated ones are errors."""
    seen = {}
    for child in item.children:
        if child.name not in allowed:
            known = f" (known: {', '.join(allowed)})" if allowed else ""
            raise FileError(filename, child.line, child.path, f"unknown key{known}")
        if child.name in seen:
            raise FileError(filename, child.line, child.path,
                            f"{what} (first on line {seen[child.name].line})")
        seen[child.name] = child
    return seen


def _section(item, filename):
    if item.value is not None:
        raise FileError(filename, item.line, item.path,
                        "takes no value: its keys go on the lines below it")


def _value(item, filename):
    if item.children:
        child = item.children[0]
        raise FileError(filename, child.line, child.path,
                        f"unknown key ({item.path} has a value, no keys)")
    if not item.value:
        raise FileError(filename, item.line, item.path, "needs a value: key = value")
    return item.value


def _port(item, filename):
    value = _value(item, filename)
    if not re.fullmatch(r"[0-9]{1,5}", value) or not 1 <= int(value) <= 65535:
        raise FileError(filename, item.line, item.path, f"'{value}' is not a port (1 to 65535)")
    return int(value)


def _address(item, filename):
    value = _value(item, filename)
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        raise FileError(filename, item.line, item.path,
                        f"'{value}' is not an IPv4 address") from None
    if address.is_unspecified or address.is_multicast or address.is_reserved or address.is_loopback:
        raise FileError(filename, item.line, item.path, f"{value} is not a host address")
    return value


def load(filename):
    """The Cluster that filename describes, checked; a FileError otherwise."""
    try:
        text = pathlib.Path(filename).read_text()
    except (OSError, UnicodeError) as e:
        why = getattr(e, "strerror", None) or e
        raise FileError(filename, 0, None, f"cannot read: {why}") from None
    top = _children(parse_zpl(text, filename), filename, ("cluster", "ports", "host"))
    for item in top.values():
        _section(item, filename)
    if "cluster" not in top:
        raise FileError(filename, 0, "cluster", "missing (cluster/name at least)")
    settings = _children(top["cluster"], filename, ("name", "keys", "data"))
    if "name" not in settings:
        raise FileError(filename, top["cluster"].line, "cluster/name", "missing")
    name = _value(settings["name"], filename)
    if not CLUSTER_NAME.fullmatch(name):
        raise FileError(filename, settings["name"].line, "cluster/name",
                        f"'{name}' is not 1 to 8 of a-z and 0-9 (the bridge lhbr-{name} "
                        "must fit in 15 characters)")
    paths = {key: _value(settings[key], filename) if key in settings else key
             for key in ("keys", "data")}
    ports = _ports(top.get("ports"), filename)
    if "host" not in top or not top["host"].children:
        raise FileError(filename, top["host"].line if "host" in top else 0, "host", "no hosts")
    return Cluster(name, paths["keys"], paths["data"], ports["frontend"], ports["backend"],
                   ports["pub"], ports["raft"], ports["chaos"], ports["metrics"],
                   _hosts(top["host"], filename), filename)


def _ports(section, filename):
    ports = dict(DEFAULT_PORTS)
    given = _children(section, filename, tuple(DEFAULT_PORTS)) if section else {}
    for key, item in given.items():
        ports[key] = _port(item, filename)
    owner = {}
    metrics = {f"metrics+{offset}": ports["metrics"] + offset
               for offset in sorted(set(METRICS_OFFSET.values()))}
    singles = [(key, port) for key, port in ports.items() if key != "metrics"]
    for key, port in singles + list(metrics.items()):
        name = key.split("+")[0]
        line = given[name].line if name in given else section.line if section else 0
        if port > 65535:
            raise FileError(filename, line, f"ports/{name}",
                            f"{ports[name]}: the metrics ports run to +{max(METRICS_OFFSET.values())}, "
                            "past 65535")
        if port in owner:
            raise FileError(filename, line, f"ports/{name}",
                            f"{port} is also ports/{owner[port]}"
                            + (f" (metrics ports are {ports['metrics']} to "
                               f"{ports['metrics'] + max(METRICS_OFFSET.values())})"
                               if "metrics" in (name, owner[port].split("+")[0]) else ""))
        owner[port] = key
    return ports


def _hosts(section, filename):
    """The hosts, and the rules about which daemons run where."""
    hosts, lines, addresses, first, replicas = [], {}, {}, {}, {}
    for item in section.children:
        if not HOST_NAME.fullmatch(item.name):
            raise FileError(filename, item.line, item.path,
                            "a host name is 1 to 32 of a-z, 0-9 and -, "
                            "starting with a letter or digit")
        if item.name in lines:
            raise FileError(filename, item.line, item.path,
                            f"duplicate host (first on line {lines[item.name]})")
        lines[item.name] = item.line
        _section(item, filename)
        keys = _children(item, filename, ("address",) + DAEMONS,
                         "repeated: a host runs each daemon at most once")
        if "address" not in keys:
            raise FileError(filename, item.line, f"{item.path}/address", "missing")
        address = _address(keys["address"], filename)
        if address in addresses:
            raise FileError(filename, keys["address"].line, keys["address"].path,
                            f"{address} is also host {addresses[address]}'s address")
        addresses[address] = item.name
        daemons = tuple(d for d in DAEMONS if d in keys)
        for daemon in daemons:
            entry = keys[daemon]
            _section(entry, filename)
            if daemon in ("expert", "cache") and daemon in first:
                raise FileError(filename, entry.line, entry.path,
                                f"the {daemon} already runs on host {first[daemon]} "
                                "(at most one a cluster)")
            first.setdefault(daemon, item.name)
            if daemon != "integrity":
                _children(entry, filename, ())        # no options
        replica = _replica(keys["integrity"], filename, replicas) if "integrity" in keys else None
        hosts.append(Host(item.name, address, daemons, replica, keys["address"].line))

    brokers = [h.name for h in hosts if "broker" in h.daemons]
    for host in hosts:
        if "chaos" in host.daemons and "broker" in host.daemons:
            raise FileError(filename, host.line, f"host/{host.name}/chaos",
                            "lh-chaos carries a host's links to the brokers: "
                            "not on a broker's own host")
        if host.daemons == ("chaos",):
            raise FileError(filename, host.line, f"host/{host.name}/chaos",
                            "lh-chaos carries the links of the host's other daemons: it has none")
        if "chaos" in host.daemons and len(brokers) > CHAOS_MAX_BROKERS:
            raise FileError(filename, host.line, f"host/{host.name}/chaos",
                            f"lh-chaos relays three links a broker, {CHAOS_MAX_BROKERS} brokers "
                            f"at most: {len(brokers)} hosts run one")
    if not brokers:
        raise FileError(filename, section.line, "host",
                        "no host runs a broker (one or more do)")
    if len(brokers) > MAX_BROKERS:
        raise FileError(filename, section.line, "host",
                        f"{len(brokers)} hosts run a broker: a client takes {MAX_BROKERS} at most")
    if "validator" not in first:
        raise FileError(filename, section.line, "host", "no host runs a validator (one or more do)")
    count = len(replicas)
    if count not in (3, 5):
        on = " ".join(h.name for h in hosts if h.replica) or "none"
        raise FileError(filename, section.line, "host",
                        f"{count} hosts run integrity ({on}): a cluster has 3 or 5 replicas")
    for replica, ident in replicas.items():
        if replica > count:
            raise FileError(filename, ident.line, ident.path,
                            f"{replica}: {count} replicas are numbered 1 to {count}")
    return tuple(hosts)


def _replica(entry, filename, replicas):
    """The Raft id of the replica entry describes; replicas: the ids so far, by id."""
    options = _children(entry, filename, ("id",))
    if "id" not in options:
        raise FileError(filename, entry.line, f"{entry.path}/id",
                        "missing: the replica's Raft id, 1 to 3 or 1 to 5")
    ident = options["id"]
    value = _value(ident, filename)
    if not re.fullmatch(r"[1-9][0-9]{0,2}", value):
        raise FileError(filename, ident.line, ident.path, f"'{value}' is not a replica id (1 to 5)")
    if int(value) in replicas:
        other = replicas[int(value)].path.split("/")[1]
        raise FileError(filename, ident.line, ident.path,
                        f"{value} is also the id of the replica on host {other}")
    replicas[int(value)] = ident
    return int(value)


def check_local(cluster):
    """up creates every address it uses: each one must be in SUBNET, .2 to .254."""
    for host in cluster.hosts:
        address = ipaddress.IPv4Address(host.address)
        if address not in SUBNET or address in (SUBNET.network_address, BRIDGE_ADDRESS,
                                                SUBNET.broadcast_address):
            raise FileError(cluster.filename, host.line, f"host/{host.name}/address",
                            f"{address}: ops/cluster up uses only {SUBNET} (.2 to .254), which it "
                            "creates; a file naming other addresses is for real hosts")


# This machine: where a cluster lives, and the names of what up makes

class Run:
    def __init__(self, cluster, run_dir=None, build=None):
        self.cluster = cluster
        self.dir = pathlib.Path(run_dir or ROOT / "run" / f"cluster-{cluster.name}").absolute()
        self.keys = self.dir / cluster.keys
        self.data = self.dir / cluster.data
        self.logs = self.dir / "logs"
        self.pids = self.dir / "pids"
        self.build = pathlib.Path(build or DEFAULT_BUILD).absolute()
        self.lh = self.build / "cli" / "lh"
        self.prefix = f"lh-{cluster.name}-"     # namespaces and veths: the stale-state sweep
        self.bridge = f"lhbr-{cluster.name}"
        self.table = f"lh-{cluster.name}"        # nftables, family inet
        self.home = os.environ.get("HOME", "/root")     # the validators' --home

    def netns(self, host):
        return self.prefix + host.name

    def veth(self, host):
        return self.prefix + host.address.rsplit(".", 1)[1]

    def program(self, daemon):
        return self.build / PROGRAMS[daemon]

    def datadir(self, host, daemon):
        return self.data / host.name / daemon

    def broker_config(self, host):
        return self.dir / f"broker-{host.name}.cfg"

    def pidfile(self, host, daemon):
        return self.pids / f"{host.name}-{daemon}.pid"

    def endpoints(self, port, host=None):
        """Every broker's port (frontend, backend or pub: all brokers use the
        same), in the file's order, as host's daemons reach them: through
        host's lh-chaos, when it runs one, else directly."""
        if host is not None and "chaos" in host.daemons:
            return [f"tcp://{chaos_listen(k)}:{port}" for k in range(len(self.cluster.brokers))]
        return [f"tcp://{broker.address}:{port}" for broker in self.cluster.brokers]

    def endpoint(self, port, host=None):
        """The comma-separated list every daemon and client takes (LH_BROKER, --broker)."""
        return ",".join(self.endpoints(port, host))

    def chaos_control(self):
        """lh-chaos's control endpoint, inside the namespace of its host."""
        return f"tcp://127.0.0.1:{self.cluster.chaos}"

    def chaos_links(self, kind=None):
        """lh-chaos's links on a host as (name, listen, upstream): for each
        broker (file order) one link per port; kind picks frontend, backend or pub."""
        cluster, links = self.cluster, []
        for k, broker in enumerate(cluster.brokers):
            for link, port in zip(BROKER_LINKS, (cluster.frontend, cluster.backend, cluster.pub)):
                if kind in (None, link):
                    links.append((chaos_link_name(link, k), f"{chaos_listen(k)}:{port}",
                                  f"{broker.address}:{port}"))
        return links

    def metrics(self, host, daemon):
        """host:port of daemon's metrics on host, or None (lh-chaos, lh-echo have none)."""
        offset = METRICS_OFFSET.get(daemon)
        return None if offset is None else f"{host.address}:{self.cluster.metrics + offset}"


def chaos_listen(k):
    """Where lh-chaos relays the k-th broker (0-based): 127.0.0.(k+1), on the
    broker's own ports (the whole of 127/8 is the namespace's loopback)."""
    return f"127.0.0.{k + 1}"


def chaos_link_name(link, k):
    """The first broker's links are frontend, backend, pub; the k-th's
    (0-based, k >= 1) frontend-(k+1), backend-(k+1), pub-(k+1)."""
    return link if k == 0 else f"{link}-{k + 1}"


def _sh(*argv, stdin=None):
    """Runs a command; its output, or a Failure quoting it."""
    argv = [str(a) for a in argv]
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        why = (result.stderr or result.stdout).strip() or f"exit status {result.returncode}"
        raise Failure(f"{' '.join(argv)}: {why}")
    return result.stdout


def _need_root_and_tools(command):
    if os.geteuid() != 0:
        raise Failure(f"{command} needs root (network namespaces, veths, a bridge, nftables): "
                      f"sudo ops/cluster {command} ...")
    missing = [tool for tool in ("ip", "nft") if not shutil.which(tool)]
    if missing:
        raise Failure(f"{' and '.join(missing)} not found: "
                      "install iproute2 and nftables (ops/deps)")


def _namespaces(run):
    return [ns["name"] for ns in json.loads(_sh("ip", "-j", "netns", "list") or "[]")
            if ns["name"].startswith(run.prefix)]


def _links(run):
    return [link["ifname"] for link in json.loads(_sh("ip", "-j", "link", "show") or "[]")
            if link["ifname"].startswith(run.prefix) or link["ifname"] == run.bridge]


def _has_table(run):
    return subprocess.run(["nft", "list", "table", "inet", run.table],
                          capture_output=True).returncode == 0


def _alive(pid, daemon=None):
    """pid is a live process (a zombie is not), running daemon's program when named."""
    try:
        os.waitpid(pid, os.WNOHANG)      # up's own children, killed on Ctrl-C
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        if daemon is None:
            return True
        # By name, which anyone may read, not by path: the binary may have
        # been rebuilt since, or come from another build
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip() == os.path.basename(PROGRAMS[daemon])
    except (OSError, IndexError):
        return False


def _pid(run, host, daemon):
    try:
        return int(run.pidfile(host, daemon).read_text())
    except (OSError, ValueError):
        return None


def _stop(pids):
    """SIGTERM, then SIGKILL whatever is left after STOP_GRACE_S."""
    for sig, wait in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, 5)):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            pids = [pid for pid in pids if _alive(pid)]
            if not pids:
                return []
            time.sleep(0.1)
    return pids


def teardown(run):
    """Stops every daemon and removes the namespaces, veths, bridge and nftables
    table, found by name, whatever up left (pids or namespaces gone already is
    fine); the run directory stays. Returns what could not be removed."""
    pids = set()
    for pidfile in run.pids.glob("*.pid"):
        daemon = pidfile.stem.rsplit("-", 1)[-1]
        try:
            pid = int(pidfile.read_text())
        except (OSError, ValueError):
            continue
        if daemon in PROGRAMS and _alive(pid, daemon):
            pids.add(pid)
    namespaces = _namespaces(run)
    for ns in namespaces:
        # Whatever runs in our namespaces is ours, pid file or not
        pids.update(int(pid) for pid in _sh("ip", "netns", "pids", ns).split())
    problems = [f"process {pid} did not die" for pid in _stop(sorted(pids))]
    # Veths before namespaces: deleting one end deletes both, at once
    removals = [("ip", "link", "del", link) for link in _links(run)]
    removals += [("ip", "netns", "del", ns) for ns in namespaces]
    if _has_table(run):
        removals.append(("nft", "delete", "table", "inet", run.table))
    for argv in removals:
        try:
            _sh(*argv)
        except Failure as e:
            problems.append(str(e))
    for pidfile in run.pids.glob("*.pid"):
        pidfile.unlink()
    return problems


def _leftovers(run):
    table = [f"nftables table inet {run.table}"] if _has_table(run) else []
    return _namespaces(run) + _links(run) + table


# up

def _state(run):
    """'running', 'stale' (something of it is there) or 'absent'."""
    saved = run.dir / "cluster.zpl"
    expected = [(h, d) for h in run.cluster.hosts for d in h.daemons]
    made = _namespaces(run) or _links(run) or _has_table(run) or any(run.pids.glob("*.pid"))
    if not made:
        return "absent"
    try:
        same = load(saved) == run.cluster
    except FileError:
        same = False
    if not same and saved.exists():
        raise Failure(f"cluster {run.cluster.name} was started from another description ({saved}): "
                      f"ops/cluster down {saved} first")
    alive = all((pid := _pid(run, h, d)) and _alive(pid, d) for h, d in expected)
    complete = len(_namespaces(run)) == len(run.cluster.hosts)
    return "running" if same and alive and complete else "stale"


def _check_raft_unchanged(run):
    """Replicas keep the Raft peers of their first start in their data: started
    with other addresses or another port they would never elect a leader."""
    try:
        before = load(run.dir / "cluster.zpl")
    except FileError:
        return
    old, new = ({(h.replica, f"{h.address}:{c.raft}") for h in c.replicas}
                for c in (before, run.cluster))
    kept = [run.data / h.name / "integrity" for h in before.replicas + run.cluster.replicas]
    if old != new and any(path.exists() for path in kept):
        peers = " ".join(f"{i}@{a}" for i, a in sorted(old))
        raise Failure(f"the replicas' data in {run.data} know the Raft peers {peers}; "
                      f"keep those, or delete {run.data}/*/integrity for an empty log")


def _check_subnet_free(run):
    """Nothing else in this namespace may hold an address or route in SUBNET."""
    users = set()
    for link in json.loads(_sh("ip", "-j", "address", "show")):
        for address in link.get("addr_info", []):
            if address.get("family") == "inet" and ipaddress.IPv4Network(
                    f"{address['local']}/{address['prefixlen']}", strict=False).overlaps(SUBNET):
                users.add(link["ifname"])
    for route in json.loads(_sh("ip", "-j", "route", "show")):
        if route["dst"] != "default" and ipaddress.IPv4Network(
                route["dst"], strict=False).overlaps(SUBNET):
            users.add(route.get("dev", route["dst"]))
    if users:
        raise Failure(f"{SUBNET} is in use here ({', '.join(sorted(users))}): another cluster? "
                      "ops/cluster down its file first")


def _binaries(run):
    daemons = {d for h in run.cluster.hosts for d in h.daemons}
    missing = [p for p in [run.lh] + [run.program(d) for d in sorted(daemons)] if not p.exists()]
    if not missing:
        return
    if run.build != DEFAULT_BUILD:
        raise Failure(f"{missing[0]} not found: build {run.build} first")
    print(f"ops/cluster: building Lighthouse (Release) in {run.build}")
    for argv in ([ROOT / "ops" / "deps"],
                 ["cmake", "-S", ROOT, "-B", run.build, "-DCMAKE_BUILD_TYPE=Release",
                  "-DLH_TESTS=OFF"],
                 ["cmake", "--build", run.build, f"-j{os.cpu_count() or 1}"]):
        if subprocess.run([str(a) for a in argv], stdout=subprocess.DEVNULL).returncode != 0:
            raise Failure(f"{' '.join(map(str, argv))} failed")


def _write(path, text, mode=0o644):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _keys(run):
    """CURVE keys and the roster (one node key per host), the validators' shared
    redaction key, the replicas' signer keys: made when missing, then kept."""
    cluster, keys = run.cluster, run.keys
    keys.mkdir(parents=True, exist_ok=True)
    roster = keys / "roster.zpl"
    listed = roster.read_text() if roster.exists() else ""
    wanted = [("broker", None), ("admin", "admin"), ("agent-1", "agent"), ("reviewer", "expert")]
    wanted += [(f"node-{h.name}", "node") for h in cluster.hosts
               if set(h.daemons) - {"broker", "chaos"}]
    for name, role in wanted:
        cert = keys / f"{name}.cert"
        if cert.exists() and (role is None or f"\n    {name}\n" in listed):
            continue
        # A key the roster does not list (the roster was deleted) is made again
        cert.unlink(missing_ok=True)
        (keys / f"{name}.cert_secret").unlink(missing_ok=True)
        role_args = ["--role", role, "--roster", roster] if role else []
        _sh(run.lh, "keygen", name, "--dir", keys, *role_args)
    redact = keys / "redact.key"
    if not redact.exists():
        # One for every validator: equal secrets give equal markers cluster-wide
        fd = os.open(redact, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
    verifiers = keys / "integrity.keys"
    for host in cluster.replicas:
        signer = keys / f"replica-{host.replica}.key"
        known = verifiers.read_text() if verifiers.exists() else ""
        if not signer.exists():
            line = _sh(run.program("integrity"), "--keygen", f"replica-{host.replica}",
                       "--signer", signer)
            with open(verifiers, "a") as out:
                out.write(line)
        elif not re.search(rf"^replica-{host.replica}\+", known, re.M):
            raise Failure(f"{verifiers} lacks the verifier key of {signer}: "
                          "delete the signer key to make a new pair")
    return _broker_key(run)


def _broker_key(run):
    text = (run.keys / "broker.cert").read_text()
    return re.search(r'public-key = "(.*)"', text).group(1)


def _policy(run):
    """run/policy starts as the shipped one and follows it until edited (as ops/run's)."""
    shipped = ROOT / "nodes" / "validator" / "default.policy"
    policy, copied = run.dir / "policy", run.dir / "policy.shipped"
    if not policy.exists() or (copied.exists() and filecmp.cmp(policy, copied, shallow=False)
                               and not filecmp.cmp(shipped, copied, shallow=False)):
        shutil.copyfile(shipped, policy)
        shutil.copyfile(shipped, copied)


def broker_config(run, host, by="ops/cluster"):
    """The text of host's broker's ZPL config (ops/deploy writes it too): its
    name is the host's, its key and roster every broker's."""
    cluster = run.cluster
    broker = host.address
    return f'''#   Generated by {by} from {cluster.filename}
broker
    name = {host.name}
    frontend = tcp://{broker}:{cluster.frontend}
    backend = tcp://{broker}:{cluster.backend}
    pub = tcp://{broker}:{cluster.pub}
    cert = "{run.keys / 'broker.cert_secret'}"
    roster = "{run.keys / 'roster.zpl'}"
service
    echo
        timeout = 5000
    validate
        timeout = 60000
    cache
    expert
        timeout = 660000
    events
    events.read
'''


def _configs(run, broker_key):
    """Each broker's config, the env files, and a copy of the cluster file."""
    cluster = run.cluster
    for host in cluster.brokers:
        _write(run.broker_config(host), broker_config(run, host))
    path = ":".join(str(run.build / d) for d in ("cli", "broker", "nodes/echo", "nodes/validator",
                                                 "nodes/integrity", "nodes/expert", "nodes/cache"))
    for name, key, who in (("env", "agent-1", "an agent's settings: agent key agent-1"),
                           ("admin.env", "admin", "the operator's settings: admin key"),
                           ("reviewer.env", "reviewer", "a reviewer's settings: expert key")):
        _write(run.dir / name, f'''# lh --env {run.dir / name} (or . it) -- {who}
export LH_BROKER='{run.endpoint(cluster.frontend)}'
export LH_BROKER_KEY='{broker_key}'
export LH_CERT='{run.keys / (key + '.cert_secret')}'
export PATH='{path}':"$PATH"
''', 0o600)
    # What runs, for status and the next up
    (run.dir / "cluster.zpl").write_text(pathlib.Path(cluster.filename).read_text())


def _network(run):
    """The bridge, a guard in nftables, and a namespace with a veth per host."""
    cluster, bridge = run.cluster, run.bridge
    # Belt and braces: even with forwarding on, nothing crosses between the
    # subnet and any other interface (traffic within the bridge passes)
    _sh("nft", "-f", "-", stdin=f'''table inet {run.table} {{
    chain forward {{
        type filter hook forward priority filter; policy accept;
        iifname "{bridge}" ip daddr != {SUBNET} drop
        oifname "{bridge}" ip saddr != {SUBNET} drop
    }}
}}
''')
    _sh("ip", "link", "add", bridge, "type", "bridge")
    _sh("ip", "address", "add", f"{BRIDGE_ADDRESS}/{SUBNET.prefixlen}", "dev", bridge)
    _sh("ip", "link", "set", bridge, "up")
    for host in cluster.hosts:
        ns = run.netns(host)
        _sh("ip", "netns", "add", ns)
        _sh("ip", "link", "add", run.veth(host), "type", "veth",
            "peer", "name", "eth0", "netns", ns)
        _sh("ip", "link", "set", run.veth(host), "master", bridge, "up")
        _sh("ip", "-n", ns, "address", "add", f"{host.address}/{SUBNET.prefixlen}", "dev", "eth0")
        _sh("ip", "-n", ns, "link", "set", "eth0", "up")
        _sh("ip", "-n", ns, "link", "set", "lo", "up")


def _commands(run, broker_key):
    """(host, daemon, argv) of every daemon: the broker's first, then lh-chaos."""
    cluster = run.cluster
    peers = " ".join(f"{h.replica}@{h.address}:{cluster.raft}" for h in cluster.replicas)
    commands = []
    for host in cluster.hosts:
        frontend, backend, pub = (run.endpoint(port, host)
                                  for port in (cluster.frontend, cluster.backend, cluster.pub))
        for daemon in host.daemons:
            data = run.datadir(host, daemon)
            argv = [run.program(daemon)]
            if daemon == "broker":
                argv += ["-c", run.broker_config(host)]
            elif daemon == "chaos":
                argv += ["--control", run.chaos_control(), "--links",
                         ",".join(f"{name}={listen}>{upstream}"
                                  for name, listen, upstream in run.chaos_links())]
            else:
                argv += ["--broker", backend, "--broker-key", broker_key,
                         "--cert", run.keys / f"node-{host.name}.cert_secret"]
            if run.metrics(host, daemon):
                argv += ["--metrics", run.metrics(host, daemon)]
            if daemon == "validator":
                argv += ["--pub", pub, "--frontend", frontend, "--policy", run.dir / "policy",
                         "--home", run.home, "--run-dir", data,
                         "--spool-dir", data / "spool", "--redact-key", run.keys / "redact.key"]
            elif daemon == "integrity":
                argv += ["--id", host.replica, "--dir", data, "--peers", peers,
                         "--origin", f"lighthouse.local/{cluster.name}/log",
                         "--signer", run.keys / f"replica-{host.replica}.key",
                         "--keys", run.keys / "integrity.keys",
                         "--frontend", frontend, "--pub", pub]
            elif daemon == "expert":
                argv += ["--dir", data, "--frontend", frontend]
            elif daemon == "cache":
                argv += ["--dir", data]
            commands.append((host, daemon, [str(a) for a in argv]))
    return sorted(commands, key=lambda command: ("broker", "chaos").index(command[1])
                  if command[1] in ("broker", "chaos") else 2)


def _start(run, host, daemon, argv):
    if daemon in KEEPS_DATA:
        run.datadir(host, daemon).mkdir(parents=True, exist_ok=True)
    with open(run.logs / f"{host.name}-{daemon}.log", "ab") as log:
        # ip netns exec execs the daemon: the pid is the daemon's. A session of
        # its own keeps the terminal's Ctrl-C from it once up has returned.
        process = subprocess.Popen(["ip", "netns", "exec", run.netns(host)] + argv,
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    run.pidfile(host, daemon).write_text(f"{process.pid}\n")
    return process


def _workers(run, service, endpoint):
    """How many workers the broker at endpoint (one, not a list) has for service."""
    result = subprocess.run([run.lh, "--env", run.dir / "admin.env", "--broker", endpoint,
                             "--timeout", "500", "call", "mmi.service",
                             json.dumps({"name": service})],
                            capture_output=True, text=True)
    try:
        return json.loads(result.stdout).get("workers", 0) if result.returncode == 0 else 0
    except ValueError:
        return 0


def expected_workers(cluster):
    """service -> the workers every broker should have for it."""
    wanted = {"validate": len(cluster.running("validator")),
              "events.read": len(cluster.replicas),
              "events": 1}                      # the Raft leader's
    for daemon in ("expert", "cache", "echo"):
        if cluster.running(daemon):
            wanted[daemon] = len(cluster.running(daemon))
    return wanted


def missing_workers(run, pending=None):
    """{(broker host name, service): workers wanted} of what some broker lacks:
    every worker serves through every broker. pending: only those to ask again."""
    if pending is None:
        wanted = expected_workers(run.cluster)
        pending = {(b.name, service): count for b in run.cluster.brokers
                   for service, count in wanted.items()}
    endpoints = dict(zip((b.name for b in run.cluster.brokers),
                         run.endpoints(run.cluster.frontend)))
    return {(broker, service): count for (broker, service), count in pending.items()
            if _workers(run, service, endpoints[broker]) < count}


def _wait_ready(run, processes):
    """Until every service answers through every broker with all its workers."""
    pending = None
    deadline = time.monotonic() + READY_TIMEOUT_S
    while pending != {}:
        for (host, daemon), process in processes.items():
            if process.poll() is not None:
                raise Failure(f"{daemon} on {host.name} exited with status {process.returncode}; "
                              f"see {run.logs}/{host.name}-{daemon}.log")
        pending = missing_workers(run, pending)
        if pending and time.monotonic() > deadline:
            several = len(run.cluster.brokers) > 1
            missing = ", ".join(f"{name} ({count} workers)" + (f" on broker {broker}"
                                                                 if several else "")
                                for (broker, name), count in pending.items())
            raise Failure(f"no answer within {READY_TIMEOUT_S} s from {missing}; "
                          f"logs in {run.logs}")
        if pending:
            time.sleep(0.2)


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def _usage(run, broker_key, filename):
    cluster = run.cluster
    print(f"lighthouse: cluster {cluster.name} running, {len(cluster.hosts)} hosts on bridge "
          f"{run.bridge} ({BRIDGE_ADDRESS}/{SUBNET.prefixlen})")
    for host in cluster.hosts:
        daemons = " ".join(host.daemons)
        print(f"  {host.name:<12} {host.address:<12} {daemons:<30} netns {run.netns(host)}")
    brokers = " ".join(h.name for h in cluster.brokers)
    print(f'''  brokers    {brokers}   (each its own config, {run.dir}/broker-HOST.cfg; one key, one roster)
  clients    {run.endpoint(cluster.frontend)}   (CURVE, broker key {broker_key})
  workers    {run.endpoint(cluster.backend)}
  notices    {run.endpoint(cluster.pub)}   (PUB)
  Raft       {' '.join(f'{h.replica}@{h.address}:{cluster.raft}' for h in cluster.replicas)}
  run dir    {run.dir}: keys {run.keys}, data {run.data}/HOST/DAEMON, logs logs/HOST-DAEMON.log
  policy     {run.dir / 'policy'}   (edit, then: lh policy reload)
  try:       . {run.dir / 'admin.env'}; lh status
             lh --env {run.dir / 'env'} validate --tool Bash --command 'ls -la'
             lh event append --type custom --data '{{"note":"hi"}}'; lh event tail
             lh verify --dir {run.data}/{cluster.replicas[0].name}/integrity \\
                 --keys {run.keys / 'integrity.keys'}
             (env: agent key; admin.env: admin key; reviewer.env: expert key)
  on a host: ip netns exec {run.netns(cluster.hosts[-1])} {run.lh} --env {run.dir / 'env'} ping
  status:    ops/cluster status {filename}
  stop:      ops/cluster down {filename}   (keys, data and logs stay in {run.dir})''')


def up(run, filename):
    _need_root_and_tools("up")
    state = _state(run)
    if state == "running":
        print(f"ops/cluster: cluster {run.cluster.name} is already running "
              f'(ops/cluster status {filename}; settings in {run.dir / "admin.env"})')
        return 0
    if state == "stale":
        print(f"ops/cluster: removing what an earlier run of cluster {run.cluster.name} left")
        problems = teardown(run)
        if problems:
            raise Failure("; ".join(problems))
    _check_raft_unchanged(run)
    _check_subnet_free(run)
    _binaries(run)
    for directory in (run.dir, run.logs, run.pids):
        directory.mkdir(parents=True, exist_ok=True)
    # Also when started with SIGINT ignored (a shell's background job)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupted)
    processes = {}
    try:
        broker_key = _keys(run)
        _policy(run)
        _configs(run, broker_key)
        _network(run)
        for host, daemon, argv in _commands(run, broker_key):
            processes[host, daemon] = _start(run, host, daemon, argv)
        _wait_ready(run, processes)
    except BaseException as e:
        # Whatever happened (Ctrl-C included), nothing made is left behind
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        interrupted = isinstance(e, KeyboardInterrupt)
        print(f'ops/cluster: {"interrupted" if interrupted else e}; removing what up made '
              f"(logs stay in {run.logs})", file=sys.stderr)
        if isinstance(e, Failure):
            for log in sorted(run.logs.glob("*.log")):
                lines = log.read_text(errors="replace").splitlines()[-5:]
                print(f"--- {log.name}", *lines, sep="\n", file=sys.stderr)
        for problem in teardown(run):
            print(f"ops/cluster: {problem}", file=sys.stderr)
        if interrupted:
            return 130
        if isinstance(e, Failure):
            return 1
        raise
    _usage(run, broker_key, filename)
    return 0


def status(run, filename):
    cluster = run.cluster
    namespaces = set(_namespaces(run))
    everything = True
    print(f"cluster {cluster.name}: run directory {run.dir}, bridge {run.bridge} "
          f'{"up" if run.bridge in _links(run) else "absent"}')
    for host in cluster.hosts:
        ns = run.netns(host)
        absent = "" if ns in namespaces else " (absent)"
        print(f"  {host.name:<12} {host.address:<12} netns {ns}{absent}")
        everything &= ns in namespaces
        for daemon in host.daemons:
            pid = _pid(run, host, daemon)
            alive = bool(pid) and _alive(pid, daemon)
            everything &= alive
            print(f'      {daemon:<10} {f"pid {pid}" if pid else "no pid":<11} '
                  f'{"running" if alive else "not running"}')
    if not everything:
        print(f"cluster {cluster.name} is not (all) running: ops/cluster up {filename}")
        return 1
    if not run.lh.exists():
        raise Failure(f"{run.lh} not found: --build DIR names the build up used")
    result = subprocess.run([run.lh, "--env", run.dir / "admin.env", "--timeout", "2000", "status"],
                            capture_output=True, text=True)
    print("lh status:")
    print("\n".join("    " + line for line in (result.stdout or result.stderr).splitlines()))
    # Every worker serves through every broker: a broker that lost some is not well
    missing = missing_workers(run)
    for (broker, service), count in sorted(missing.items()):
        print(f"broker {broker}: fewer than {count} {service} worker(s)")
    if not missing:
        print(f"every broker ({', '.join(h.name for h in cluster.brokers)}) has every worker")
    return 0 if result.returncode == 0 and not missing else 1


def down(run, filename):
    _need_root_and_tools("down")
    problems = teardown(run) + [f"{name} is still there" for name in _leftovers(run)]
    if problems:
        raise Failure("; ".join(problems))
    print(f"ops/cluster: cluster {run.cluster.name} is down; "
          f"its keys, data and logs stay in {run.dir}")
    return 0


# --------------------------------------------------------------------------
# Partitions: nftables rules inside the hosts' own namespaces, in one table
# per host (inet lhchaos), so that heal, down (which deletes the namespaces)
# and a later up each remove them all, whatever was interrupted

PARTITION_TABLE = "lhchaos"


def _host_named(cluster, name):
    for host in cluster.hosts:
        if host.name == name:
            return host
    raise Failure(f"no host named {name!r} in {cluster.filename}: "
                  f'{", ".join(h.name for h in cluster.hosts)}')


def _cuts(cluster, isolate=None, split=None, drop=None):
    """The cuts to make as (host, direction, peer address): direction "in"
    drops what the peer sends to host, "out" what host sends to the peer."""
    if isolate:
        host = _host_named(cluster, isolate)
        return [(host, way, peer.address) for peer in cluster.hosts if peer is not host
                for way in ("in", "out")]
    if split:
        sides = [side.split(",") for side in split.split("/")]
        if len(sides) != 2 or not all(sides[0]) or not all(sides[1]):
            raise Failure("--split is HOST,HOST/HOST,HOST: two sides, a comma between hosts")
        a = [_host_named(cluster, n) for n in sides[0]]
        b = [_host_named(cluster, n) for n in sides[1]]
        if set(h.name for h in a) & set(h.name for h in b):
            raise Failure("--split: a host is on both sides")
        return [(host, "in", peer.address) for one, other in ((a, b), (b, a))
                for host in one for peer in other]
    source, _, target = (drop or "").partition(">")
    if not source or not target:
        raise Failure("--drop is FROM>TO: what FROM sends to TO is lost, not the way back")
    frm, to = _host_named(cluster, source), _host_named(cluster, target)
    if frm is to:
        raise Failure("--drop: FROM and TO are the same host")
    return [(to, "in", frm.address)]


def heal(run, filename, quiet=False):
    _need_root_and_tools("heal")
    namespaces = set(_namespaces(run))
    for host in run.cluster.hosts:
        ns = run.netns(host)
        if ns in namespaces:
            subprocess.run(["ip", "netns", "exec", ns, "nft", "delete", "table", "inet",
                            PARTITION_TABLE], capture_output=True)
    if not quiet:
        print(f"ops/cluster: cluster {run.cluster.name} healed: no partition left")
    return 0


def _client_cuts(run, host):
    """The rules that cut this namespace (the bridge address: lh, a drill's
    load) from host, all but host's metrics ports, which stay readable."""
    ports = ", ".join(str(run.cluster.metrics + offset)
                      for offset in sorted(set(METRICS_OFFSET.values())))
    table = f"inet {PARTITION_TABLE}"
    return [f"add rule {table} in ip saddr {BRIDGE_ADDRESS} tcp dport {{ {ports} }} accept",
            f"add rule {table} in ip saddr {BRIDGE_ADDRESS} drop",
            f"add rule {table} out ip daddr {BRIDGE_ADDRESS} tcp sport {{ {ports} }} accept",
            f"add rule {table} out ip daddr {BRIDGE_ADDRESS} drop"]


def partition(run, filename, isolate=None, split=None, drop=None, seconds=None, clients=False):
    _need_root_and_tools("partition")
    if clients and not isolate:
        raise Failure("--clients goes with --isolate")
    cuts = _cuts(run.cluster, isolate, split, drop)
    namespaces = set(_namespaces(run))
    missing = [run.netns(h) for h, _, _ in cuts if run.netns(h) not in namespaces]
    if missing:
        raise Failure(f"not running ({', '.join(sorted(set(missing)))}): ops/cluster up {filename}")
    by_host = {}
    if clients:
        host = _host_named(run.cluster, isolate)
        by_host[host.name] = (host, _client_cuts(run, host))
    for host, way, peer in cuts:
        by_host.setdefault(host.name, (host, []))[1].append(
            f"add rule inet {PARTITION_TABLE} {way} ip {'saddr' if way == 'in' else 'daddr'} "
            f"{peer} drop")
    try:
        for host, rules in by_host.values():
            script = "\n".join([f"table inet {PARTITION_TABLE} {{",
                                 "  chain in { type filter hook input priority 0; }",
                                 "  chain out { type filter hook output priority 0; }", "}"]
                                + rules) + "\n"
            _sh("ip", "netns", "exec", run.netns(host), "nft", "-f", "-", stdin=script)
    except Failure:
        heal(run, filename, quiet=True)
        raise
    what = (f"{isolate} isolated{' (from this namespace too)' if clients else ''}"
            if isolate else f"split {split}" if split
            else f"what {drop.replace('>', ' sends to ')} is dropped")
    print(f"ops/cluster: cluster {run.cluster.name}: {what} ({len(cuts)} rules)")
    if seconds is None:
        return 0
    # Held for a time: healed however this ends (a signal, Ctrl-C, the time)
    previous = {sig: signal.signal(sig, _interrupted) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        time.sleep(seconds)
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        heal(run, filename)
    return 0


# --------------------------------------------------------------------------
# Process faults: the daemons up started, by their pid files

def fault(run, filename, host_name, daemon, action):
    _need_root_and_tools("fault")
    host = _host_named(run.cluster, host_name)
    if daemon not in host.daemons:
        raise Failure(f"{host.name} runs no {daemon}: {' '.join(host.daemons)}")
    if run.netns(host) not in set(_namespaces(run)):
        raise Failure(f"not running: ops/cluster up {filename}")
    pid = _pid(run, host, daemon)
    alive = bool(pid) and _alive(pid, daemon)
    if action != "restart" and not alive:
        raise Failure(f"{daemon} on {host.name} is not running (ops/cluster fault ... --restart)")
    if action == "kill":
        _stop_with(pid, signal.SIGKILL)
    elif action in ("stop", "cont"):
        os.kill(pid, signal.SIGSTOP if action == "stop" else signal.SIGCONT)
    else:
        if alive:
            os.kill(pid, signal.SIGCONT)  # a paused process cannot act on SIGTERM
            if _stop([pid]):
                raise Failure(f"{daemon} on {host.name} (pid {pid}) does not stop")
        argv = next(a for h, d, a in _commands(run, _broker_key(run))
                    if h.name == host.name and d == daemon)
        _start(run, host, daemon, argv)
    print(f"ops/cluster: {daemon} on {host.name}: "
          f"{dict(kill='killed (SIGKILL)', stop='paused (SIGSTOP)', cont='resumed (SIGCONT)', restart='restarted')[action]}")
    return 0


def _stop_with(pid, sig):
    os.kill(pid, sig)
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def check(cluster):
    print(f"{cluster.filename}: cluster {cluster.name}, {len(cluster.hosts)} hosts, "
          f'{len(cluster.replicas)} replicas, {len(cluster.running("validator"))} validator(s)')
    for host in cluster.hosts:
        replica = f" (replica {host.replica})" if host.replica else ""
        print(f'  {host.name:<12} {host.address:<15} {" ".join(host.daemons)}{replica}')
    try:
        check_local(cluster)
        print(f"  ops/cluster up: runs here, in {SUBNET}")
    except FileError as e:
        print(f"  ops/cluster up: refused here: {e.key}: {e.args[0]}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="ops/cluster", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("command",
                        choices=("check", "up", "status", "down", "partition", "heal", "fault"))
    parser.add_argument("file", help="the cluster file (docs/CLUSTER.md)")
    parser.add_argument("target", nargs="*", metavar="HOST DAEMON", help="fault: whose process")
    parser.add_argument("--run-dir", metavar="DIR",
                        help="keys, data, logs and pids of the cluster [run/cluster-NAME]")
    parser.add_argument("--build", metavar="DIR",
                        help="the build with the binaries [build/release, built when missing]")
    cut = parser.add_argument_group("partition (one of)")
    cut.add_argument("--isolate", metavar="HOST", help="HOST reaches no other host, both ways")
    cut.add_argument("--clients", action="store_true",
                     help="with --isolate: this namespace (lh, a drill's load) does not reach "
                          "HOST either, but for its metrics")
    cut.add_argument("--split", metavar="H,H/H,H", help="two sides that do not reach each other")
    cut.add_argument("--drop", metavar="FROM>TO", help="what FROM sends to TO is lost (one way)")
    cut.add_argument("--for", dest="seconds", type=float, metavar="S",
                     help="hold the partition S seconds, then heal (also on Ctrl-C or SIGTERM)")
    hit = parser.add_argument_group("fault (one of)").add_mutually_exclusive_group()
    for action, what in (("kill", "SIGKILL"), ("stop", "SIGSTOP: a paused process"),
                         ("cont", "SIGCONT"), ("restart", "stop it if running, start it again")):
        hit.add_argument(f"--{action}", dest="action", action="store_const", const=action,
                         help=what)
    args = parser.parse_intermixed_args(argv)
    chosen = [x for x in (args.isolate, args.split, args.drop) if x]
    if args.command == "partition" and len(chosen) != 1:
        parser.error("partition takes one of --isolate, --split or --drop")
    if args.command != "partition" and (chosen or args.seconds is not None or args.clients):
        parser.error("--isolate, --split, --drop, --clients and --for go with partition")
    if args.clients and not args.isolate:
        parser.error("--clients goes with --isolate")
    if args.command == "fault" and (len(args.target) != 2 or not args.action):
        parser.error("fault takes HOST DAEMON and one of --kill, --stop, --cont, --restart")
    if args.command != "fault" and (args.target or args.action):
        parser.error("HOST DAEMON and --kill, --stop, --cont, --restart go with fault")
    # ip and nft live in sbin, which a user's PATH may lack
    os.environ["PATH"] = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    try:
        cluster = load(args.file)
        if args.command == "check":
            return check(cluster)
        if args.command == "up":
            check_local(cluster)
        run = Run(cluster, args.run_dir, args.build)
        if args.command == "partition":
            return partition(run, args.file, args.isolate, args.split, args.drop, args.seconds,
                             args.clients)
        if args.command == "fault":
            return fault(run, args.file, args.target[0], args.target[1], args.action)
        return {"up": up, "status": status, "down": down, "heal": heal}[args.command](run,
                                                                                      args.file)
    except FileError as e:
        print(f"ops/cluster: {e}", file=sys.stderr)
        return 2
    except Failure as e:
        print(f"ops/cluster: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"ops/cluster: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ops/cluster: interrupted", file=sys.stderr)
        return 130
