"""Unit tests of ops/deploy (ops/deploy.py, docs/DEPLOY.md), no root needed:
each host gets exactly its files and no other host's secrets, modes, the
units' directives (and systemd-analyze verify where it is), --dry-run writes
nothing, a second run keeps the keys, bad files and options exit 2; with a
second broker, both broker hosts get the broker secret and the roster and
every config and env file lists both brokers.

    test_deploy.py BUILD_DIR
"""
import os
import pathlib
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "ops" / "deploy"
BUILD = pathlib.Path(sys.argv.pop(1) if len(sys.argv) > 1 else ROOT / "build" / "release").resolve()
PROGRAMS = ("cli/lh", "broker/lh-broker", "nodes/validator/lh-validator",
            "nodes/integrity/lh-integrity", "nodes/expert/lh-expert", "nodes/cache/lh-cache",
            "nodes/echo/lh-echo")

# Real hosts: addresses ops/cluster up refuses, ops/deploy takes. The broker
# host runs only the broker (no node key); echo on one replica.
FILE = '''\
cluster
    name = prod
ports
    frontend = 6555
    backend = 6556
    pub = 6557
    raft = 6565
    metrics = 9560
host
    gw
        address = 192.0.2.10
        broker
    hub
        address = 192.0.2.11
        expert
        cache
        validator
    r1
        address = 198.51.100.1
        integrity
            id = 1
        validator
    r2
        address = 198.51.100.2
        integrity
            id = 2
        echo
    r3
        address = 10.20.30.40
        integrity
            id = 3
'''
HOSTS = {"gw": ("broker",), "hub": ("validator", "expert", "cache"),
         "r1": ("validator", "integrity"), "r2": ("integrity", "echo"), "r3": ("integrity",)}
UNIT_LINES = ["User=lighthouse", "Group=lighthouse", "Restart=on-failure", "RestartSec=2s",
              "KillSignal=SIGTERM", "TimeoutStopSec=20s", "UMask=0077",
              "Wants=network-online.target", "NoNewPrivileges=yes", "ProtectSystem=strict",
              "PrivateTmp=yes", "PrivateDevices=yes", "ProtectKernelTunables=yes",
              "ProtectKernelModules=yes", "ProtectKernelLogs=yes", "ProtectControlGroups=yes",
              "ProtectClock=yes", "ProtectHostname=yes",
              "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "RestrictNamespaces=yes",
              "LockPersonality=yes", "MemoryDenyWriteExecute=yes", "RestrictRealtime=yes",
              "RestrictSUIDSGID=yes", "SystemCallArchitectures=native",
              "SystemCallFilter=@system-service", "CapabilityBoundingSet=",
              "ConfigurationDirectory=lighthouse", "WantedBy=multi-user.target"]


def deploy(*args):
    return subprocess.run([str(DEPLOY), *map(str, args)], capture_output=True, text=True)


def tree(path):
    """Every file and directory under path, relative, as {name: mode}."""
    return {str(p.relative_to(path)): stat.S_IMODE(p.lstat().st_mode) for p in path.rglob("*")}


def secret_of(cert_secret):
    return re.search(r'secret-key = "(.*)"', cert_secret.read_text()).group(1)


class DeployTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [p for p in PROGRAMS if not (BUILD / p).exists()]
        if missing:
            raise unittest.SkipTest(f"no {BUILD / missing[0]}: build first")
        cls.tmp = pathlib.Path(tempfile.mkdtemp(prefix="lh-deploy-test-"))
        cls.bin = cls.tmp / "bin"
        cls.bin.mkdir()
        for program in PROGRAMS:
            (cls.bin / os.path.basename(program)).symlink_to(BUILD / program)
        cls.file = cls.tmp / "prod.zpl"
        cls.file.write_text(FILE)
        cls.out = cls.tmp / "out"
        result = deploy(cls.file, "--out", cls.out, "--build", BUILD, "--bin-dir", cls.bin)
        if result.returncode != 0:
            raise AssertionError(f"ops/deploy: exit {result.returncode}: {result.stderr}")
        cls.stdout = result.stdout

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_each_host_gets_exactly_its_files(self):
        for host, daemons in HOSTS.items():
            expected = {"etc", "etc/lighthouse", "etc/lighthouse/keys", "etc/systemd",
                        "etc/systemd/system"}
            keys = set()
            if "broker" in daemons:
                keys |= {"broker.cert_secret", "roster.zpl"}
            else:
                keys.add(f"node-{host}.cert_secret")
            if "validator" in daemons:
                keys.add("redact.key")
                expected.add("etc/lighthouse/policy")
            if "integrity" in daemons:
                keys |= {f"replica-{host[1]}.key", "integrity.keys"}
            expected |= {f"etc/lighthouse/keys/{k}" for k in keys}
            for daemon in daemons:
                expected |= {f"etc/lighthouse/{daemon}.cfg",
                             f"etc/systemd/system/lighthouse-{daemon}.service"}
                if daemon in ("validator", "integrity", "expert", "cache"):
                    expected |= {"var", "var/lib", "var/lib/lighthouse",
                                 f"var/lib/lighthouse/{daemon}"}
            got = tree(self.out / host)
            self.assertEqual(set(got), expected, host)
            for name, mode in got.items():
                if "/keys/" in name:
                    self.assertEqual(mode, 0o600, f"{host}/{name}")
                elif name in ("etc/lighthouse", "etc/lighthouse/keys") or name.startswith(
                        "var/lib/lighthouse/"):
                    self.assertEqual(mode, 0o700, f"{host}/{name}")
            self.assertEqual(stat.S_IMODE((self.out / host).stat().st_mode), 0o700)
        self.assertEqual(sorted(p.name for p in self.out.iterdir()),
                         sorted([".ops-deploy", "README.md", "admin", "cluster.zpl", "keys",
                                 "prometheus.yml"] + list(HOSTS)))
        self.assertEqual(tree(self.out / "admin"),
                         {"admin.cert_secret": 0o600, "agent-1.cert_secret": 0o600,
                          "reviewer.cert_secret": 0o600, "admin.env": 0o600, "env": 0o600,
                          "reviewer.env": 0o600, "integrity.keys": 0o644})
        self.assertTrue(all(mode == 0o600 for mode in tree(self.out / "keys").values()))

    def test_no_host_holds_a_foreign_secret(self):
        keys = self.out / "keys"
        secrets = {name: secret_of(keys / f"{name}.cert_secret")
                   for name in ["broker", "admin", "agent-1", "reviewer"]
                   + [f"node-{h}" for h in HOSTS if h != "gw"]}
        signers = {f"replica-{i}": (keys / f"replica-{i}.key").read_text().strip()
                   for i in (1, 2, 3)}
        redact = (keys / "redact.key").read_text().strip()
        for host, daemons in HOSTS.items():
            text = "".join(p.read_text() for p in (self.out / host).rglob("*") if p.is_file())
            mine = {"broker"} if "broker" in daemons else {f"node-{host}"}
            for name, secret in secrets.items():
                self.assertEqual(secret in text, name in mine, f"{name}'s secret on {host}")
            for name, signer in signers.items():
                self.assertEqual(signer in text, name == f"replica-{host[1]}" and host[0] == "r",
                                 f"{name}'s signer key on {host}")
            self.assertEqual(redact in text, "validator" in daemons, f"redact.key on {host}")

    def test_configs_and_units(self):
        broker_key = re.search(r'public-key = "(.*)"',
                               (self.out / "keys" / "broker.cert").read_text()).group(1)
        cfg = (self.out / "gw" / "etc/lighthouse/broker.cfg").read_text()
        self.assertIn("frontend = tcp://192.0.2.10:6555", cfg)
        self.assertIn('cert = "/etc/lighthouse/keys/broker.cert_secret"', cfg)
        self.assertIn("metrics = 192.0.2.10:9560", cfg)
        validator = (self.out / "r1" / "etc/lighthouse/validator.cfg").read_text()
        for line in ('broker = "tcp://192.0.2.10:6556"', f'broker_key = "{broker_key}"',
                     'cert = "/etc/lighthouse/keys/node-r1.cert_secret"',
                     'run_dir = "/var/lib/lighthouse/validator"',
                     'redact_key = "/etc/lighthouse/keys/redact.key"',
                     'policy = "/etc/lighthouse/policy"', 'metrics = "198.51.100.1:9561"'):
            self.assertIn(f"\n    {line}\n", validator)
        integrity = (self.out / "r3" / "etc/lighthouse/integrity.cfg").read_text()
        self.assertIn('peers = "1@198.51.100.1:6565 2@198.51.100.2:6565 3@10.20.30.40:6565"',
                      integrity)
        self.assertIn('id = "3"', integrity)
        self.assertIn('metrics = "10.20.30.40:9562"', integrity)
        echo = (self.out / "r2" / "etc/lighthouse/echo.cfg").read_text()
        self.assertNotIn("metrics", echo)
        for host, daemons in HOSTS.items():
            for daemon in daemons:
                unit = (self.out / host / f"etc/systemd/system/lighthouse-{daemon}.service"
                        ).read_text().splitlines()
                for line in UNIT_LINES:
                    self.assertIn(line, unit, f"{host} {daemon}")
                program = "lh-" + daemon
                self.assertIn(f"ExecStart={self.bin}/{program} -c /etc/lighthouse/{daemon}.cfg",
                              unit)
                after = next(l for l in unit if l.startswith("After="))
                self.assertEqual("lighthouse-broker.service" in after,
                                 daemon != "broker" and "broker" in daemons)
                if daemon in ("validator", "integrity", "expert", "cache"):
                    self.assertIn(f"StateDirectory=lighthouse/{daemon}", unit)
                self.assertEqual("ExecReload=/bin/kill -HUP $MAINPID" in unit, daemon == "broker")
        # The scrape config names every daemon's endpoint but echo's
        scrape = (self.out / "prometheus.yml").read_text()
        targets = re.findall(r"targets: \['([0-9.:]+)'\]", scrape)
        self.assertEqual(len(targets), 8)       # echo serves none
        self.assertIn("198.51.100.2:9562", targets)
        env = (self.out / "admin" / "admin.env").read_text()
        self.assertIn("LH_BROKER='tcp://192.0.2.10:6555'", env)
        self.assertIn(f"LH_CERT='{self.out}/admin/admin.cert_secret'", env)
        readme = (self.out / "README.md").read_text()
        for text in ("useradd --system", "systemctl enable --now lighthouse-broker",
                     "| 6565 (Raft) |", "lh --env", "`/etc/lighthouse/keys/replica-2.key` (0600)"):
            self.assertIn(text, readme)

    def test_systemd_accepts_the_units(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("no systemd-analyze here")
        units = sorted(self.out.glob("*/etc/systemd/system/*.service"))
        self.assertEqual(len(units), 9)
        for unit in units:
            verify = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True,
                                    text=True)
            self.assertEqual(verify.returncode, 0, f"{unit}: {verify.stderr}")
            security = subprocess.run(["systemd-analyze", "security", "--offline=true", unit],
                                      capture_output=True, text=True)
            level = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout)
            if level:
                self.assertLess(float(level.group(1)), 2.5, f"{unit}: exposure")

    def test_dry_run_writes_nothing(self):
        out = self.tmp / "dry"
        result = deploy(self.file, "--out", out, "--dry-run")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertFalse(out.exists())
        self.assertIn("/etc/lighthouse/keys/replica-2.key", result.stdout)
        self.assertIn("0600", result.stdout)
        before = {p: p.stat().st_mtime_ns for p in self.out.rglob("*")}
        result = deploy(self.file, "--out", self.out, "--dry-run")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(before, {p: p.stat().st_mtime_ns for p in self.out.rglob("*")})

    def test_again_keeps_the_keys_and_redoes_the_hosts(self):
        out = self.tmp / "again"
        self.assertEqual(deploy(self.file, "--out", out, "--build", BUILD).returncode, 0)
        keys = {p.name: p.read_text() for p in (out / "keys").iterdir()}
        (out / "r1" / "stray").write_text("left by hand")
        smaller = self.tmp / "smaller.zpl"
        smaller.write_text(FILE.replace("        echo\n", ""))
        result = deploy(smaller, "--out", out, "--build", BUILD)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(keys, {p.name: p.read_text() for p in (out / "keys").iterdir()})
        self.assertFalse((out / "r1" / "stray").exists())
        self.assertFalse((out / "r2" / "etc/lighthouse/echo.cfg").exists())

    def test_refusals(self):
        foreign = self.tmp / "foreign"
        foreign.mkdir()
        (foreign / "notes").write_text("mine")
        result = deploy(self.file, "--out", foreign, "--build", BUILD)
        self.assertEqual(result.returncode, 2)
        self.assertIn("not written by ops/deploy", result.stderr)
        self.assertEqual([p.name for p in foreign.iterdir()], ["notes"])
        bad = self.tmp / "bad.zpl"
        bad.write_text(FILE.replace("198.51.100.2", "198.51.100.1"))
        result = deploy(bad, "--out", self.tmp / "bad", "--build", BUILD)
        self.assertEqual(result.returncode, 2)
        self.assertRegex(result.stderr.strip(), r"^ops/deploy: \S+bad.zpl:24: host/r2/address: "
                         r"198.51.100.1 is also host r1's address$")
        self.assertFalse((self.tmp / "bad").exists())
        clash = self.tmp / "clash.zpl"
        clash.write_text(FILE.replace("    metrics = 9560\n", "    metrics = 6553\n"))
        result = deploy(clash, "--out", self.tmp / "never", "--build", BUILD)
        self.assertEqual(result.returncode, 2)
        self.assertIn("ports/metrics: 6555 is also ports/frontend", result.stderr)
        self.assertFalse((self.tmp / "never").exists())
        for args, message in ((["--bin-dir", "bin"], "--bin-dir bin"),
                              (["--root", "/tmp/a b"], "--root /tmp/a b"),
                              ([], "required")):
            out = [] if not args and message == "required" else ["--out", self.tmp / "never"]
            result = deploy(self.file, *out, *args)
            self.assertEqual(result.returncode, 2, args)
            self.assertIn(message, result.stderr)
            self.assertFalse((self.tmp / "never").exists())


class SeveralBrokersTest(unittest.TestCase):
    """A second broker, on hub (with its workers): every broker host gets the
    one broker secret and the roster and no other secret but its own node
    key; configs and env files list every broker; both are scraped."""

    @classmethod
    def setUpClass(cls):
        if not (BUILD / "cli/lh").exists():
            raise unittest.SkipTest(f"no {BUILD / 'cli/lh'}: build first")
        cls.tmp = pathlib.Path(tempfile.mkdtemp(prefix="lh-deploy-brokers-"))
        cls.file = cls.tmp / "two.zpl"
        cls.file.write_text(FILE.replace("        expert\n", "        broker\n        expert\n", 1))
        cls.out = cls.tmp / "out"
        result = deploy(cls.file, "--out", cls.out, "--build", BUILD)
        if result.returncode != 0:
            raise AssertionError(f"ops/deploy: exit {result.returncode}: {result.stderr}")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_secrets(self):
        keys = self.out / "keys"
        secrets = {name: secret_of(keys / f"{name}.cert_secret")
                   for name in ["broker", "admin", "agent-1", "reviewer"]
                   + [f"node-{h}" for h in HOSTS if h != "gw"]}
        roster = (keys / "roster.zpl").read_text()
        for host in HOSTS:
            files = {str(p.relative_to(self.out / host)): p for p in (self.out / host).rglob("*")
                     if p.is_file()}
            text = "".join(p.read_text() for p in files.values())
            broker = host in ("gw", "hub")
            mine = ({"broker"} if broker else set()) | ({f"node-{host}"} if host != "gw" else set())
            for name, secret in secrets.items():
                self.assertEqual(secret in text, name in mine, f"{name}'s secret on {host}")
            self.assertEqual("etc/lighthouse/keys/roster.zpl" in files, broker, host)
            if broker:
                self.assertEqual(files["etc/lighthouse/keys/roster.zpl"].read_text(), roster)
                self.assertEqual(stat.S_IMODE(files["etc/lighthouse/keys/broker.cert_secret"]
                                              .stat().st_mode), 0o600)

    def test_configs(self):
        for host, address in (("gw", "192.0.2.10"), ("hub", "192.0.2.11")):
            cfg = (self.out / host / "etc/lighthouse/broker.cfg").read_text()
            self.assertIn(f"\n    name = {host}\n", cfg)
            self.assertIn(f"frontend = tcp://{address}:6555", cfg)
            self.assertIn(f"metrics = {address}:9560", cfg)
            self.assertIn('cert = "/etc/lighthouse/keys/broker.cert_secret"', cfg)
        both = "tcp://192.0.2.10:{0},tcp://192.0.2.11:{0}"
        validator = (self.out / "r1" / "etc/lighthouse/validator.cfg").read_text()
        for line in (f'broker = "{both.format(6556)}"', f'pub = "{both.format(6557)}"',
                     f'frontend = "{both.format(6555)}"'):
            self.assertIn(f"\n    {line}\n", validator)
        expert = (self.out / "hub" / "etc/lighthouse/expert.cfg").read_text()
        self.assertIn(f'\n    broker = "{both.format(6556)}"\n', expert)
        unit = (self.out / "hub" / "etc/systemd/system/lighthouse-expert.service").read_text()
        self.assertIn("After=network-online.target lighthouse-broker.service", unit)
        for name in ("admin.env", "env", "reviewer.env"):
            env = (self.out / "admin" / name).read_text()
            self.assertIn(f"LH_BROKER='{both.format(6555)}'", env)
        targets = re.findall(r"targets: \['([0-9.:]+)'\]", (self.out / "prometheus.yml").read_text())
        self.assertEqual(len(targets), 9)
        self.assertIn("192.0.2.10:9560", targets)
        self.assertIn("192.0.2.11:9560", targets)
        readme = (self.out / "README.md").read_text()
        for text in ("| 6555 (frontend) | gw 192.0.2.10 hub 192.0.2.11 |",
                     "| 6556 (backend) | gw 192.0.2.10 hub 192.0.2.11 |",
                     "| 6557 (pub) | gw 192.0.2.10 hub 192.0.2.11 |",
                     "# the brokers\nssh root@192.0.2.10 systemctl enable --now lighthouse-broker"
                     "   # gw\nssh root@192.0.2.11 systemctl enable --now lighthouse-broker   # hub",
                     "share one key pair and one roster"):
            self.assertIn(text, readme)


if __name__ == "__main__":
    unittest.main()
