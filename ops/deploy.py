"""ops/deploy -- a cluster file (docs/CLUSTER.md) turned into what each real
host needs: its configs, its keys and the roster, systemd units, plus the
install steps, a Prometheus scrape config and the operators' settings
(docs/DEPLOY.md).

    ops/deploy FILE --out DIR              write DIR/HOST/... for every host, and
                                           DIR/README.md, DIR/prometheus.yml, DIR/admin/
    ops/deploy FILE --out DIR --dry-run    print what goes where; write nothing

DIR/HOST mirrors the host's file system (etc/lighthouse, etc/systemd/system,
var/lib/lighthouse). Every key is made in DIR/keys (lh keygen, lh-integrity
--keygen) and kept there from run to run; a host gets only the secrets its
own daemons use. DIR must be new, empty, or an earlier ops/deploy output
(then its host trees are written again and DIR/keys is kept).

Exit status: 0 done, 1 failed (a key could not be made, ...), 2 a bad FILE
or usage (then nothing is written).
"""
import argparse
import dataclasses
import os
import pathlib
import re
import shutil
import subprocess
import sys

import cluster as lc        # ops/cluster.py: the parser and the daemons' command lines

ETC = pathlib.PurePosixPath("etc/lighthouse")
VAR = pathlib.PurePosixPath("var/lib/lighthouse")
UNITS = pathlib.PurePosixPath("etc/systemd/system")
USER = "lighthouse"
DEFAULT_BIN_DIR = "/usr/local/bin"
MANIFEST = ".ops-deploy"        # what an earlier run wrote at the top of DIR
# Paths in configs and units: nothing systemd or ZPL would read as a specifier,
# a variable, a quote or a separator
SAFE_PATH = re.compile(r"/[A-Za-z0-9_@+=:,./-]*")
WHAT = {
    "broker": "the broker: routes requests between clients and workers",
    "validator": "a validator: answers the validate service",
    "integrity": "an integrity log replica (Raft)",
    "expert": "the expert node: escalations waiting for reviewers",
    "cache": "the shared verdict cache",
    "echo": "the echo service (a liveness check)",
    "chaos": "lh-chaos: this host's links to the brokers, for drills (docs/CLUSTER.md)",
}


class Usage(Exception):
    """A bad option or output directory (exit 2, nothing written)."""


@dataclasses.dataclass
class Entry:
    """One file or directory to write: host None for DIR's own."""
    host: object
    rel: pathlib.PurePosixPath      # under DIR/HOST (or DIR)
    mode: int
    what: str
    make: object = None             # () -> text; None for a directory


class Layout(lc.Run):
    """Where things are on one host once installed: what ops/cluster's
    _commands and broker_config read, with install paths instead of a run
    directory's (root: "/" on a real host; --root for tests and staging)."""

    def __init__(self, cluster, host, root, bin_dir):   # noqa: the Run's own paths are not wanted
        self.cluster, self.host = cluster, host
        self.root = pathlib.PurePosixPath(root.replace("{host}", host.name) if root else "/")
        self.dir = self.root / ETC
        # keys: relative to /etc/lighthouse, or absolute; data: /var/lib/lighthouse
        # (systemd's StateDirectory) when relative, or the absolute directory named
        self.keys = self.installed(cluster.keys, ETC)
        self.state = not cluster.data.startswith("/")
        self.data = self.root / VAR if self.state else self.installed(cluster.data, None)
        self.bin_dir = pathlib.PurePosixPath(bin_dir)
        self.home = "/root"         # the validators' home for requests naming none (their default)

    def installed(self, path, under):
        if path.startswith("/"):
            return self.root / path.lstrip("/")
        return self.root / under / path

    def program(self, daemon):
        return self.bin_dir / os.path.basename(lc.PROGRAMS[daemon])

    def datadir(self, host, daemon):
        return self.data / daemon

    def rel(self, path):
        """path (installed) as it is under DIR/HOST."""
        return pathlib.PurePosixPath(path).relative_to(self.root)

    def config(self, daemon):
        return self.dir / f"{daemon}.cfg"

    def broker_config(self, host):
        return self.config("broker")            # one broker a host

    def unit(self, daemon):
        return f"lighthouse-{daemon}.service"


def _check_paths(layouts, bin_dir, root):
    if not SAFE_PATH.fullmatch(bin_dir):
        raise Usage(f"--bin-dir {bin_dir}: an absolute path of A-Z a-z 0-9 _@+=:,./- only")
    if root and not SAFE_PATH.fullmatch(root.replace("{host}", "h")):
        raise Usage(f"--root {root}: an absolute path of A-Z a-z 0-9 _@+=:,./- only "
                    "(and {host})")
    for layout in layouts.values():
        for path in (layout.keys, layout.data):
            if not SAFE_PATH.fullmatch(str(path)):
                raise lc.FileError(layout.cluster.filename, 0, "cluster/keys or cluster/data",
                                   f"{path}: a path of A-Z a-z 0-9 _@+=:,./- only")


def _metrics(cluster):
    """(host, daemon) -> 'ADDRESS:PORT' of every daemon that serves metrics
    (ports/metrics + the daemon's offset, as ops/cluster gives them)."""
    run = lc.Run(cluster)
    return {(h.name, d): run.metrics(h, d)
            for h in cluster.hosts for d in h.daemons if run.metrics(h, d)}


def _zpl_value(value):
    if '"' in value or "\n" in value:
        raise Usage(f"cannot write {value!r} in a ZPL config")
    return f'"{value}"'


def daemon_config(layout, daemon, argv, metrics, source):
    """The daemon's ZPL config: every option of its ops/cluster command line
    (--NAME VALUE is DAEMON/NAME with _ for -), and --metrics."""
    host = layout.host
    if daemon == "broker":
        text = lc.broker_config(layout, host, by="ops/deploy")
        if metrics:
            assert "\nservice\n" in text
            text = text.replace("\nservice\n", f"\n    metrics = {metrics}\nservice\n", 1)
        return text.replace(f"from {layout.cluster.filename}\n",
                            f"from {source} for host {host.name}\n", 1)
    options = argv[1:]             # --metrics among them (ports/metrics)
    pairs = list(zip(options[::2], options[1::2]))
    assert len(options) % 2 == 0 and all(o.startswith("--") for o, _ in pairs), argv
    lines = [f"#   Generated by ops/deploy from {source} for host {host.name}:",
             f"#   {layout.program(daemon)} -c {layout.config(daemon)} ({layout.unit(daemon)})",
             daemon]
    lines += [f"    {option[2:].replace('-', '_')} = {_zpl_value(value)}"
              for option, value in pairs]
    return "\n".join(lines) + "\n"


def _option_paths(program):
    """--NAME -> config path, from the program's --help."""
    out = subprocess.run([str(program), "--help"], capture_output=True, text=True).stdout
    paths = {}
    for line in out.splitlines():
        found = re.match(r"\s+--([a-z0-9-]+)\b.*\[([a-z_.]+/[a-z0-9_]+)(?: = [^\]]*)?\]\s*$", line)
        if found:
            paths[found.group(1)] = found.group(2)
    return paths


def _check_config(build_program, daemon, text):
    """Every key of a generated config is one the daemon reads (its --help)."""
    known = set(_option_paths(build_program).values())
    section = None
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if not line.startswith(" "):
            section = line.strip()
        elif line.startswith("    ") and not line.startswith("     ") and section == daemon:
            key = f"{section}/{line.split('=')[0].strip()}"
            if key not in known:
                raise lc.Failure(f"{build_program} --help names no {key}: "
                                 "ops/deploy and the daemon disagree")


def unit_text(layout, daemon, source, others):
    """The systemd unit of daemon on layout's host; others: its other daemons."""
    host = layout.host
    after = ["network-online.target"]
    if daemon != "broker" and "broker" in others:
        after.append(layout.unit("broker"))     # on the broker's host, workers start after it
    if layout.state and layout.root == pathlib.PurePosixPath("/"):
        state = [f"StateDirectory=lighthouse/{daemon}", "StateDirectoryMode=0700"]
    else:
        state = [f"ReadWritePaths={layout.datadir(host, daemon)}"]
    if daemon == "broker" or daemon == "echo":
        state = []                              # they keep no data
    protect_home = "read-only" if daemon == "validator" else "yes"
    return "\n".join([
        f"#   Generated by ops/deploy from {source} for host {host.name} ({host.address})",
        "#   Install: docs/DEPLOY.md, or README.md next to the host directories",
        "[Unit]",
        f"Description=Lighthouse {daemon}: {WHAT[daemon]}",
        "Wants=network-online.target",
        f"After={' '.join(after)}",
        "StartLimitIntervalSec=120",
        "StartLimitBurst=20",
        "",
        "[Service]",
        "Type=simple",
        f"User={USER}",
        f"Group={USER}",
        f"ExecStart={layout.program(daemon)} -c {layout.config(daemon)}",
        *(["ExecReload=/bin/kill -HUP $MAINPID"] if daemon == "broker" else []),   # the roster
        "Restart=on-failure",
        "RestartSec=2s",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=20s",
        "UMask=0077",
        "ConfigurationDirectory=lighthouse",
        "ConfigurationDirectoryMode=0750",
        *state,
        "LimitNOFILE=65536",
        "# Sandboxing: the daemon reads its config and keys, writes its own data",
        "# directory, speaks TCP (and AF_UNIX for logging), and nothing else",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "ProtectSystem=strict",
        f"ProtectHome={protect_home}",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "ProtectProc=invisible",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "RestrictNamespaces=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "MemoryDenyWriteExecute=yes",
        "RemoveIPC=yes",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged",
        "SystemCallErrorNumber=EPERM",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        ""])


def _keyfile(keys, name):
    return lambda: (keys / name).read_text()


def plan(cluster, out, bin_dir, root, build):
    """Every Entry to write, hosts first (in the file's order), then DIR's own."""
    source = os.path.basename(cluster.filename)
    layouts = {h.name: Layout(cluster, h, root, bin_dir) for h in cluster.hosts}
    _check_paths(layouts, bin_dir, root)
    metrics = _metrics(cluster)
    keys = out / "keys"
    entries = []
    state = {}                  # the broker key, once the keys are made

    def broker_key():
        if "key" not in state:
            state["key"] = lc._broker_key(_KeysRun(cluster, keys))
        return state["key"]

    for host in cluster.hosts:
        layout = layouts[host.name]
        rel = layout.rel

        def add(path, mode, what, make=None, host=host):
            entries.append(Entry(host, path, mode, what, make))

        add(rel(layout.dir), 0o700, "configuration directory (install root:lighthouse 0750)")
        add(rel(layout.keys), 0o700, "keys directory (install root:lighthouse 0750)")
        secrets = []
        if "broker" in host.daemons:
            secrets += [("broker.cert_secret", "the broker's secret key"),
                        ("roster.zpl", "the roster: public key -> id and role")]
        if set(host.daemons) - {"broker"}:
            secrets.append((f"node-{host.name}.cert_secret",
                            f"this host's node key, for its workers (node-{host.name})"))
        if "validator" in host.daemons:
            secrets.append(("redact.key", "the redaction key every validator shares"))
        if host.replica:
            secrets += [(f"replica-{host.replica}.key", f"replica {host.replica}'s signer key"),
                        ("integrity.keys", "every replica's verifier key")]
        for name, what in secrets:
            add(rel(layout.keys / name), 0o600, what, _keyfile(keys, name))
        if "validator" in host.daemons:
            shipped = lc.ROOT / "nodes" / "validator" / "default.policy"
            add(rel(layout.dir / "policy"), 0o644, "the validators' policy (the shipped one)",
                shipped.read_text)
        for daemon in host.daemons:
            def config(daemon=daemon, layout=layout, host=host):
                argv = next(a for h, d, a in lc._commands(layout, broker_key())
                            if h.name == host.name and d == daemon)
                text = daemon_config(layout, daemon, argv, metrics.get((host.name, daemon)),
                                     source)
                if build:
                    _check_config(build.program(daemon), daemon, text)
                return text
            add(rel(layout.config(daemon)), 0o644,
                f"{os.path.basename(lc.PROGRAMS[daemon])}'s config (ZPL, -c)", config)
        for daemon in host.daemons:
            add(UNITS / layout.unit(daemon), 0o644, f"systemd unit: {WHAT[daemon]}",
                lambda daemon=daemon, layout=layout, host=host:
                    unit_text(layout, daemon, source, host.daemons))
        for daemon in host.daemons:
            if daemon in lc.KEEPS_DATA:
                add(rel(layout.datadir(host, daemon)), 0o700,
                    "data directory (systemd makes it, owned by lighthouse)")

    def top(path, mode, what, make=None):
        entries.append(Entry(None, pathlib.PurePosixPath(path), mode, what, make))

    top("README.md", 0o644, "the install steps, host by host",
        lambda: readme(cluster, out, layouts, metrics, bin_dir, source))
    top("prometheus.yml", 0o644, "a Prometheus scrape config: every daemon's /metrics",
        lambda: prometheus(cluster, metrics, source))
    top("cluster.zpl", 0o644, "a copy of the cluster file",
        pathlib.Path(cluster.filename).read_text)
    top("admin", 0o700, "the operators' settings and keys (never on a host)")
    for name, key, who in (("admin.env", "admin", "the operator's settings: admin key"),
                           ("env", "agent-1", "an agent's settings: agent key agent-1"),
                           ("reviewer.env", "reviewer", "a reviewer's settings: expert key")):
        top(f"admin/{key}.cert_secret", 0o600, f"{key}'s secret key",
            _keyfile(keys, f"{key}.cert_secret"))
        top(f"admin/{name}", 0o600, f"lh --env FILE: {who}",
            lambda name=name, key=key, who=who:
                env_text(cluster, out, name, key, who, broker_key()))
    top("admin/integrity.keys", 0o644, "every replica's verifier key (lh verify, lh checkpoint)",
        _keyfile(keys, "integrity.keys"))
    return entries


class _KeysRun(lc.Run):
    """ops/cluster's Run with its keys in DIR/keys: for _keys and _broker_key."""

    def __init__(self, cluster, keys, build=None):
        super().__init__(cluster, keys.parent, build)
        self.keys = keys


def env_text(cluster, out, name, key, who, broker_key):
    endpoint = ",".join(f"tcp://{b.address}:{cluster.frontend}" for b in cluster.brokers)
    several = ("# LH_BROKER lists every broker: requests go round robin to those that answer\n"
               if len(cluster.brokers) > 1 else "")
    return f'''# lh --env {out / 'admin' / name} (or . it) -- {who}
# Generated by ops/deploy; LH_CERT names this directory: edit it if you move the directory
{several}export LH_BROKER='{endpoint}'
export LH_BROKER_KEY='{broker_key}'
export LH_CERT='{out / 'admin' / (key + '.cert_secret')}'
'''


def prometheus(cluster, metrics, source):
    lines = [f"#   Generated by ops/deploy from {source}: a scrape config for every Lighthouse",
             "#   daemon's --metrics endpoint (GET /metrics, Prometheus text). The endpoints",
             "#   have no authentication: open them only to the Prometheus host (README.md).",
             "#   Merge into prometheus.yml's scrape_configs, or use as it is.",
             "global:", "  scrape_interval: 15s", "scrape_configs:",
             "  - job_name: lighthouse", "    metrics_path: /metrics", "    static_configs:"]
    for (host, daemon), target in metrics.items():
        lines += [f"      - targets: ['{target}']",
                  f"        labels: {{cluster: '{cluster.name}', host: '{host}', "
                  f"daemon: '{daemon}'}}"]
    return "\n".join(lines) + "\n"


def readme(cluster, out, layouts, metrics, bin_dir, source):
    brokers = cluster.brokers
    on_brokers = " ".join(f"{b.name} {b.address}" for b in brokers)
    hosts = " ".join(h.name for h in cluster.hosts)
    text = [f"# Lighthouse cluster {cluster.name}: installing it on its hosts",
            "",
            f"Generated by `ops/deploy {source} --out {out}` (docs/DEPLOY.md says what and why).",
            f"Hosts: {hosts}. Each directory `HOST/` mirrors that host's file system; copy it to",
            "that host only: it holds that host's secret keys and no other host's.",
            "`keys/` holds every key (keep it safe and off the hosts: ops/deploy reuses it",
            "when run again), `admin/` the operators' settings and keys, `prometheus.yml` a",
            "scrape config.",
            "",
            "| host | address | daemons |", "|---|---|---|"]
    for h in cluster.hosts:
        replica = f" (replica {h.replica})" if h.replica else ""
        text.append(f"| {h.name} | {h.address} | {' '.join(h.daemons)}{replica} |")
    text += ["",
             "## 1. On every host, once",
             "",
             "Install the runtime libraries (`ops/deps` from the source tree does) and the",
             f"binaries in `{bin_dir}` (`cmake --install build/release --prefix "
             f"{os.path.dirname(bin_dir) if bin_dir.endswith('/bin') else bin_dir}`, "
             "or copy them),",
             f"then the dedicated system user the units run as:",
             "",
             "```sh",
             f"useradd --system --user-group --home-dir /var/lib/lighthouse --no-create-home \\",
             f"    --shell /usr/sbin/nologin {USER}",
             "```",
             "",
             "## 2. Each host's files",
             "",
             "Copy `HOST/` to the host (`scp -r`, `rsync`, configuration management: any channel",
             "you trust with secret keys), then as root on the host, in the copied directory:",
             "",
             "```sh",
             "cp -r --no-preserve=mode,ownership etc/lighthouse /etc/",
             f"chown -R root:{USER} /etc/lighthouse",
             "chmod -R u=rwX,g=rX,o= /etc/lighthouse          # keys 0640, root:lighthouse",
             "cp etc/systemd/system/lighthouse-*.service /etc/systemd/system/",
             "systemctl daemon-reload",
             "```",
             "",
             "The daemons read their configs and keys (group lighthouse) and cannot change them;",
             "systemd makes each one's data directory (`/var/lib/lighthouse/DAEMON`, owned by",
             "lighthouse, 0700) on its first start.",
             ""]
    if not layouts[cluster.hosts[0].name].state:
        text += [f"The cluster file names its data directory ({cluster.data}): make each daemon's,",
                 f"`install -d -o {USER} -g {USER} -m 0700 {cluster.data}/DAEMON`, "
                 "on its host.", ""]
    text += ["## 3. Start, in this order", ""]
    order = [("the brokers" if len(brokers) > 1 else "the broker",
              [(b, "broker") for b in brokers])]
    order.append(("the replicas (all of them: a majority elects a leader)",
                  [(h, "integrity") for h in cluster.replicas]))
    order.append(("the workers", [(h, d) for h in cluster.hosts for d in h.daemons
                                  if d not in ("broker", "integrity")]))
    text.append("```sh")
    for what, units in order:
        text.append(f"# {what}")
        for h, d in units:
            text.append(f"ssh root@{h.address} systemctl enable --now lighthouse-{d}   # {h.name}")
    text += ["```", "",
             "Every daemon reconnects to the broker by itself, so the order only spares the",
             "logs some retries; on the broker's host its workers start after it (After=).",
             *(["", f"The {len(brokers)} brokers ({' '.join(b.name for b in brokers)}) share one "
                "key pair and one roster. Every daemon",
                "and client connects to all of them and carries on through the others while one "
                "is down.",
                "Keep the roster the same on every broker host: after a change, copy it to each "
                "and run",
                "`systemctl reload lighthouse-broker` there."] if len(brokers) > 1 else []),
             "", "## 4. Firewall", "",
             "Open these TCP ports, and nothing else, between the hosts:", "",
             "| port | on | from |", "|---|---|---|",
             f"| {cluster.frontend} (frontend) | {on_brokers} | agents, "
             "operators, reviewers, and every host of the cluster |",
             f"| {cluster.backend} (backend) | {on_brokers} | every host of the "
             "cluster (the workers) |",
             f"| {cluster.pub} (pub) | {on_brokers} | every host of the cluster, "
             "clients that watch notices |",
             f"| {cluster.raft} (Raft) | each replica host "
             f"({' '.join(h.address for h in cluster.replicas)}) | the other replica hosts |"]
    if metrics:
        ports = sorted({int(t.rsplit(':', 1)[1]) for t in metrics.values()})
        text.append(f"| {', '.join(map(str, ports))} (metrics) | each host running the daemon "
                    "(prometheus.yml lists them) | the Prometheus host only: no authentication |")
    text += ["", "## 5. Check", "",
             "From an operator's machine with `lh` installed:", "",
             "```sh",
             f"lh --env {out}/admin/admin.env status           # every service and its workers",
             f"lh --env {out}/admin/env validate --tool Bash --command 'ls -la'",
             f"lh --env {out}/admin/admin.env event append --type custom "
             "--data '{\"note\":\"hi\"}'",
             "journalctl -u 'lighthouse-*'                      # on a host",
             "```", "",
             "`admin/admin.env` has the admin key, `admin/env` an agent key (agent-1) for a hook,",
             "`admin/reviewer.env` an expert key; their `LH_CERT` names this directory.",
             f"Prometheus: merge `prometheus.yml` (it lists every daemon's `--metrics` endpoint).",
             "", "## Files, host by host", ""]
    return "\n".join(text) + "\n"


def _what_is_there(out):
    """None (absent or empty), or the names an earlier run listed; Usage otherwise."""
    if not out.exists():
        return None
    if not out.is_dir():
        raise Usage(f"--out {out}: not a directory")
    if not any(out.iterdir()):
        return None
    manifest = out / MANIFEST
    if not manifest.is_file():
        raise Usage(f"--out {out}: not empty and not written by ops/deploy: "
                    "name a new or empty directory")
    return [n for n in manifest.read_text().split() if n and "/" not in n and n not in
            (".", "..", "keys", MANIFEST)]


def _print(entries, out, cluster):
    for host in cluster.hosts:
        print(f"{host.name} ({host.address}): {' '.join(host.daemons)}   "
              f"-> copy {out / host.name}/ to the host")
        for e in (e for e in entries if e.host is host):
            name = f"{e.rel}/" if e.make is None else str(e.rel)
            print(f"  /{name:<52} {e.mode:04o}  {e.what}")
    print(f"{out}: for the operators (not for the hosts)")
    for e in (e for e in entries if e.host is None):
        name = f"{e.rel}/" if e.make is None else str(e.rel)
        print(f"  {name:<53} {e.mode:04o}  {e.what}")
    print(f"  {'keys/':<53} 0700  every key, kept from run to run (ops/deploy makes missing ones)")


def write(entries, out, cluster, earlier):
    for name in earlier or ():
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    out.chmod(0o700)
    texts = []
    for e in entries:
        base = out / e.host.name if e.host else out
        path = base / e.rel
        if e.make is None:
            path.mkdir(mode=e.mode, parents=True, exist_ok=True)
            path.chmod(e.mode)
            continue
        text = e.make()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, e.mode)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        path.chmod(e.mode)
        texts.append(e)
    for host in cluster.hosts:
        (out / host.name).chmod(0o700)
    # The file list goes at the end of the README
    readme_path = out / "README.md"
    with open(readme_path, "a") as f:
        for host in cluster.hosts:
            f.write(f"`{host.name}/` ({host.address}):\n\n")
            for e in (e for e in entries if e.host is host):
                name = f"{e.rel}/" if e.make is None else str(e.rel)
                f.write(f"- `/{name}` ({e.mode:04o}): {e.what}\n")
            f.write("\n")
    names = [h.name for h in cluster.hosts] + sorted({e.rel.parts[0] for e in entries
                                                       if e.host is None})
    (out / MANIFEST).write_text("\n".join(names) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="ops/deploy", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("file", help="the cluster file (docs/CLUSTER.md)")
    parser.add_argument("--out", metavar="DIR", required=True,
                        help="where to write: DIR/HOST/... per host, README.md, prometheus.yml, "
                             "admin/, keys/")
    parser.add_argument("--dry-run", action="store_true",
                        help="print what goes where, write nothing")
    parser.add_argument("--bin-dir", metavar="DIR", default=DEFAULT_BIN_DIR,
                        help=f"where the binaries are on the hosts [{DEFAULT_BIN_DIR}]")
    parser.add_argument("--root", metavar="PATH",
                        help="install under PATH instead of / ({host}: the host's name): "
                             "the configs and units name PATH/etc/lighthouse, ... (tests, staging)")
    parser.add_argument("--build", metavar="DIR",
                        help="the build whose lh and lh-integrity make the keys "
                             "[build/release, built when missing]")
    args = parser.parse_args(argv)
    try:
        cluster = lc.load(args.file)
        out = pathlib.Path(args.out).absolute()
        earlier = _what_is_there(out)
        entries = plan(cluster, out, args.bin_dir, args.root, None)
        if args.dry_run:
            print(f"ops/deploy: cluster {cluster.name}, {len(cluster.hosts)} hosts, into {out} "
                  "(dry run: nothing written)")
            _print(entries, out, cluster)
            return 0
        run = _KeysRun(cluster, out / "keys", args.build)
        lc._binaries(run)
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
        lc._keys(run)
        run.keys.chmod(0o700)
        for path in run.keys.iterdir():
            path.chmod(0o600)
        entries = plan(cluster, out, args.bin_dir, args.root, run)
        write(entries, out, cluster, earlier)
        print(f"ops/deploy: cluster {cluster.name}: {len(cluster.hosts)} hosts in {out} "
              f"({', '.join(h.name for h in cluster.hosts)}); install steps in {out / 'README.md'}")
        return 0
    except lc.FileError as e:
        print(f"ops/deploy: {e}", file=sys.stderr)
        return 2
    except Usage as e:
        print(f"ops/deploy: {e}", file=sys.stderr)
        return 2
    except (lc.Failure, OSError) as e:
        print(f"ops/deploy: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ops/deploy: interrupted", file=sys.stderr)
        return 130
