"""Unit tests of ops/cluster's cluster-file parser (ops/cluster.py, docs/CLUSTER.md):
every error is one line naming the file and the key, exit 2, nothing made."""
import contextlib
import ctypes
import ctypes.util
import io
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.dont_write_bytecode = True
sys.path.insert(0, str(ROOT / "ops"))
import cluster  # noqa: E402

# Three hosts: the smallest cluster up accepts
GOOD = '''\
#   a test cluster
cluster
    name = unit
    keys = keys
    data = data
ports
    frontend = 7750
    backend = 7751
    pub = 7752
    raft = 7760
host
    a
        address = 10.77.0.2
        broker
        validator
        expert
        cache
        integrity
            id = 1
    b
        address = 10.77.0.3
        integrity
            id = 2
    c
        address = 10.77.0.4
        integrity
            id = 3
'''

HOST_D = '''\
    d
        address = 10.77.0.5
        integrity
            id = 4
'''


class ClusterFileTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = pathlib.Path(self.tmp.name)

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, text):
        path = self.dir / "cluster.zpl"
        path.write_text(text)
        return str(path)

    def edit(self, old, new, text=GOOD):
        self.assertIn(old, text)
        return text.replace(old, new, 1)

    def error(self, text, key, words, line=None):
        """load refuses text with key and words in a one-line message."""
        path = self.write(text)
        with self.assertRaises(cluster.FileError) as caught:
            cluster.load(path)
        e = caught.exception
        self.assertEqual(e.key, key)
        self.assertIn(words, str(e))
        if line is not None:
            self.assertEqual(e.line, line)
        self.assertTrue(str(e).startswith(path))
        self.assertNotIn("\n", str(e))
        return e

    def run_main(self, *argv):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = cluster.main(list(argv))
        return rc, out.getvalue(), err.getvalue()

    # Partitions: which rules go where

    def test_cuts(self):
        c = cluster.load(self.write(GOOD))
        cuts = cluster._cuts(c, isolate="b")
        self.assertEqual(sorted((h.name, way, peer) for h, way, peer in cuts),
                         [("b", "in", "10.77.0.2"), ("b", "in", "10.77.0.4"),
                          ("b", "out", "10.77.0.2"), ("b", "out", "10.77.0.4")])
        cuts = cluster._cuts(c, split="a/b,c")
        self.assertEqual(sorted((h.name, way, peer) for h, way, peer in cuts),
                         [("a", "in", "10.77.0.3"), ("a", "in", "10.77.0.4"),
                          ("b", "in", "10.77.0.2"), ("c", "in", "10.77.0.2")])
        cuts = cluster._cuts(c, drop="c>a")
        self.assertEqual([(h.name, way, peer) for h, way, peer in cuts],
                         [("a", "in", "10.77.0.4")])
        for bad in ({"isolate": "z"}, {"split": "a,b"}, {"split": "a/"}, {"split": "a,b/b"},
                    {"drop": "a"}, {"drop": "a>a"}, {"drop": "a>z"}):
            with self.assertRaises(cluster.Failure, msg=str(bad)):
                cluster._cuts(c, **bad)

    def test_partition_usage(self):
        path = self.write(GOOD)
        for argv in (("partition", path), ("partition", path, "--isolate", "a", "--drop", "a>b"),
                     ("heal", path, "--isolate", "a"), ("up", path, "--for", "3"),
                     ("partition", path, "--split", "a/b,c", "--clients"),
                     ("heal", path, "--clients")):
            with self.assertRaises(SystemExit, msg=str(argv)) as caught:
                self.run_main(*argv)
            self.assertEqual(caught.exception.code, 2)

    def test_client_cuts(self):
        """--isolate HOST --clients: this namespace is cut from HOST too, but
        for HOST's metrics ports."""
        c = cluster.load(self.write(GOOD))
        rules = cluster._client_cuts(cluster.Run(c, self.dir / "run"), c.hosts[1])
        ports = "{ 9150, 9151, 9152, 9153, 9154 }"
        self.assertEqual(rules, [
            f"add rule inet lhchaos in ip saddr 10.77.0.1 tcp dport {ports} accept",
            "add rule inet lhchaos in ip saddr 10.77.0.1 drop",
            f"add rule inet lhchaos out ip daddr 10.77.0.1 tcp sport {ports} accept",
            "add rule inet lhchaos out ip daddr 10.77.0.1 drop"])

    # Metrics ports and lh-chaos

    def test_metrics_ports(self):
        c = cluster.load(self.write(GOOD))
        self.assertEqual(c.metrics, 9150)
        run = cluster.Run(c, self.dir / "run")
        a = c.hosts[0]
        self.assertEqual(run.metrics(a, "broker"), "10.77.0.2:9150")
        self.assertEqual(run.metrics(a, "cache"), "10.77.0.2:9154")
        self.assertIsNone(run.metrics(a, "echo"))
        argv = {d: v for h, d, v in cluster._commands(run, "K" * 40) if h.name == "a"}
        self.assertEqual(argv["integrity"][argv["integrity"].index("--metrics") + 1],
                         "10.77.0.2:9152")
        # The five metrics ports collide with no other port and stay below 65536
        self.error(self.edit("    raft = 7760\n", "    raft = 7760\n    metrics = 7748\n"),
                   "ports/metrics", "7750 is also ports/frontend")
        self.error(self.edit("    raft = 7760\n", "    raft = 7760\n    metrics = 65533\n"),
                   "ports/metrics", "past 65535")
        self.error(self.edit("    raft = 7760\n", "    raft = 9152\n"),
                   "ports/metrics", "9152 is also ports/raft")

    def test_chaos_host(self):
        text = self.edit("        address = 10.77.0.3\n",
                         "        address = 10.77.0.3\n        chaos\n        validator\n")
        c = cluster.load(self.write(text))
        run = cluster.Run(c, self.dir / "run")
        commands = cluster._commands(run, "K" * 40)
        self.assertEqual([d for h, d, v in commands][:2], ["broker", "chaos"])
        chaos = next(v for h, d, v in commands if d == "chaos")
        self.assertIn("frontend=127.0.0.1:7750>10.77.0.2:7750,backend=127.0.0.1:7751>"
                      "10.77.0.2:7751,pub=127.0.0.1:7752>10.77.0.2:7752", chaos)
        # b's daemons reach the broker through it, a's directly
        on_b = [v for h, d, v in commands if h.name == "b" and d != "chaos"]
        self.assertTrue(all(v[v.index("--broker") + 1] == "tcp://127.0.0.1:7751" for v in on_b))
        on_a = [v for h, d, v in commands if h.name == "a" and d not in ("broker",)]
        self.assertTrue(all(v[v.index("--broker") + 1] == "tcp://10.77.0.2:7751" for v in on_a))
        self.error(self.edit("        broker\n", "        broker\n        chaos\n"),
                   "host/a/chaos", "not on a broker's own host")
        self.error(self.edit("    c\n        address = 10.77.0.4\n        integrity\n            id = 3\n",
                             "    c\n        address = 10.77.0.4\n        chaos\n"
                             "    d\n        address = 10.77.0.5\n        integrity\n            id = 3\n"),
                   "host/c/chaos", "it has none")

    # The example and the defaults

    def test_example(self):
        c = cluster.load(str(ROOT / "ops" / "cluster.example.zpl"))
        self.assertEqual(c.name, "demo")
        self.assertEqual((c.frontend, c.backend, c.pub, c.raft), (5555, 5556, 5557, 5565))
        self.assertEqual([h.name for h in c.hosts], ["hub", "r1", "r2", "r3"])
        self.assertEqual(c.broker.name, "hub")
        self.assertEqual([h.name for h in c.brokers], ["hub"])
        self.assertEqual(c.broker.daemons, ("broker", "expert", "cache"))
        self.assertEqual([(h.replica, h.address) for h in c.replicas],
                         [(1, "10.77.0.11"), (2, "10.77.0.12"), (3, "10.77.0.13")])
        self.assertEqual([h.name for h in c.running("validator")], ["r1", "r2", "r3"])
        cluster.check_local(c)

    def test_drill_files(self):
        """The drills' clusters: one broker, and two (hub, hub2) for the broker drills."""
        one = cluster.load(str(ROOT / "ops" / "drills" / "cluster.zpl"))
        two = cluster.load(str(ROOT / "ops" / "drills" / "brokers.zpl"))
        self.assertEqual([h.name for h in one.brokers], ["hub"])
        self.assertEqual([h.name for h in two.brokers], ["hub", "hub2"])
        self.assertEqual(two.running("broker")[1].daemons, ("broker",))
        # The same cluster otherwise: name (run directory, keys) and the other hosts
        self.assertEqual(one.name, two.name)
        self.assertEqual([h for h in two.hosts if h.name != "hub2"], list(one.hosts))
        for c in (one, two):
            cluster.check_local(c)

    @unittest.skipUnless(ctypes.util.find_library("czmq"), "libczmq not found")
    def test_czmq_agrees(self):
        """What the parser accepts zconfig loads, and what it refuses zconfig refuses."""
        czmq = ctypes.CDLL(ctypes.util.find_library("czmq"))
        czmq.zconfig_str_load.restype = ctypes.c_void_p
        czmq.zconfig_str_load.argtypes = [ctypes.c_char_p]
        czmq.zconfig_destroy.argtypes = [ctypes.POINTER(ctypes.c_void_p)]

        def zconfig_loads(text):
            # zconfig reports each syntax error on stdout: not in the test's output
            sys.stdout.flush()
            stdout = os.dup(1)
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 1)
            try:
                config = ctypes.c_void_p(czmq.zconfig_str_load(text.encode()))
            finally:
                os.dup2(stdout, 1)
                os.close(stdout)
            loaded = bool(config)
            czmq.zconfig_destroy(ctypes.byref(config))
            return loaded
        self.assertTrue(zconfig_loads((ROOT / "ops" / "cluster.example.zpl").read_text()))
        self.assertTrue(zconfig_loads(GOOD))
        for bad in ("\tcluster\n", "cluster\n  name = x\n", "cluster\n        name = x\n",
                    'cluster\n    name = "x\n', 'cluster\n    name = "x" y\n', "= x\n"):
            with self.assertRaises(cluster.FileError):
                cluster.parse_zpl(bad, "f")
            self.assertFalse(zconfig_loads(bad), bad)

    def test_defaults(self):
        text = GOOD.split("ports\n")[0].replace("    keys = keys\n    data = data\n", "")
        text += "host\n" + GOOD.split("host\n", 1)[1]
        c = cluster.load(self.write(text))
        self.assertEqual((c.keys, c.data), ("keys", "data"))
        self.assertEqual((c.frontend, c.backend, c.pub, c.raft), (5555, 5556, 5557, 5565))

    def test_quotes_and_comments(self):
        text = self.edit("    keys = keys", '    keys = "my keys"   # quoted')
        text = self.edit("    data = data", "    data = 'the # data'", text)
        text = self.edit("    raft = 7760", "    raft = 7760# no space", text)
        c = cluster.load(self.write(text))
        self.assertEqual((c.keys, c.data, c.raft), ("my keys", "the # data", 7760))

    def test_five_replicas(self):
        text = GOOD + HOST_D + "    e\n        address = 10.77.0.6\n        integrity\n"
        text += "            id = 5\n"
        replicas = cluster.load(self.write(text)).replicas
        self.assertEqual([h.replica for h in replicas], [1, 2, 3, 4, 5])

    def test_same_file_same_cluster(self):
        """up compares the running cluster's saved file with the given one."""
        a = cluster.load(self.write(GOOD))
        b = cluster.load(self.write("#   another comment\n" + GOOD))
        self.assertEqual(a, b)
        self.assertNotEqual(a, cluster.load(self.write(self.edit("7760", "7761"))))

    # ZPL syntax

    def test_syntax(self):
        self.error("cluster\n\tname = x\n", None, "tab", 2)
        self.error("cluster\n  name = x\n", None, "indent by 4 spaces", 2)
        self.error("cluster\n        name = x\n", None, "deeper than one level", 2)
        self.error('cluster\n    name = "x\n', None, 'no closing "', 2)
        self.error("cluster\n    name = 'x' y\n", None, "'y' after the value", 2)
        self.error("= x\n", None, "not a name", 1)
        self.error("cluster extra\n", None, "'extra' after the value", 1)

    def test_unreadable(self):
        with self.assertRaises(cluster.FileError) as caught:
            cluster.load(str(self.dir / "missing.zpl"))
        self.assertIn("cannot read", str(caught.exception))

    # Unknown, repeated and malformed keys

    def test_unknown_keys(self):
        self.error("clusters\n    name = x\n", "clusters", "unknown key")
        self.error(self.edit("    keys = keys", "    kyes = keys"), "cluster/kyes", "unknown key")
        self.error(self.edit("    pub = 7752", "    pubs = 7752"), "ports/pubs", "unknown key")
        self.error(self.edit("        address = 10.77.0.3", "        adress = 10.77.0.3"),
                   "host/b/adress", "unknown key")
        self.error(self.edit("        broker\n", "        broker\n            port = 1\n"),
                   "host/a/broker/port", "unknown key")
        self.error(self.edit("        cache\n", "        fuse\n"), "host/a/fuse", "unknown key")
        self.error(self.edit("            id = 2\n", "            id = 2\n            role = x\n"),
                   "host/b/integrity/role", "unknown key")
        self.error(self.edit("    name = unit", "    name = unit\n        sub = x"),
                   "cluster/name/sub", "unknown key")

    def test_sections_and_values(self):
        self.error(self.edit("\ncluster\n", "\ncluster = x\n"), "cluster", "takes no value")
        self.error(self.edit("        broker\n", "        broker = yes\n"), "host/a/broker",
                   "takes no value")
        self.error(self.edit("    a\n", "    a = x\n"), "host/a", "takes no value")
        self.error(self.edit("    keys = keys", "    keys"), "cluster/keys", "needs a value")
        self.error(self.edit("    keys = keys", "    keys ="), "cluster/keys", "needs a value")

    def test_repeated_sections(self):
        self.error(GOOD + "cluster\n    name = x\n", "cluster", "repeated (first on line 2)")
        self.error(self.edit("    data = data", "    data = data\n    name = x"), "cluster/name",
                   "repeated")

    def test_cluster_name(self):
        self.error("ports\n", "cluster", "missing")
        self.error(self.edit("    name = unit\n", ""), "cluster/name", "missing")
        for bad in ("toolongname", "Unit", "a-b", "a_b"):
            self.error(self.edit("name = unit", f"name = {bad}"), "cluster/name",
                       "1 to 8 of a-z and 0-9")

    def test_ports(self):
        for bad in ("0", "65536", "99999", "http", "-1", "55 55"):
            self.error(self.edit("pub = 7752", f"pub = {bad}"), "ports/pub",
                       "is not a port (1 to 65535)")
        self.error(self.edit("raft = 7760", "raft = 7750"), "ports/raft",
                   "7750 is also ports/frontend")
        # A default counts: backend left out is 5556
        text = self.edit("    backend = 7751\n", "").replace("raft = 7760", "raft = 5556")
        self.error(text, "ports/raft", "5556 is also ports/backend")
        text = self.edit("pub = 7752", "pub = 65535")
        self.assertEqual(cluster.load(self.write(text)).pub, 65535)

    # Hosts and addresses

    def test_hosts(self):
        self.error(GOOD.split("host\n")[0], "host", "no hosts")
        self.error(GOOD.split("host\n")[0] + "host\n", "host", "no hosts")
        self.error(self.edit("    b\n", "    a\n"), "host/a", "duplicate host (first on line 12)")
        for bad in ("-b", "B", "b_1", "x" * 33):
            self.error(self.edit("    b\n", f"    {bad}\n"), f"host/{bad}", "host name")
        self.error(self.edit("        address = 10.77.0.3\n", ""), "host/b/address", "missing")

    def test_addresses(self):
        for bad in ("10.77.0.300", "10.77.0", "ten", "10.77.0.3/24", "10.077.0.3", "::1"):
            self.error(self.edit("10.77.0.3", bad), "host/b/address", "is not an IPv4 address")
        for bad in ("0.0.0.0", "224.0.0.1", "255.255.255.255", "127.0.0.1"):
            self.error(self.edit("10.77.0.3", bad), "host/b/address", "is not a host address")
        self.error(self.edit("10.77.0.3", "10.77.0.2"), "host/b/address",
                   "10.77.0.2 is also host a's address")

    # Daemons

    def test_broker(self):
        self.error(self.edit("        broker\n", ""), "host", "no host runs a broker (one or more")
        self.error(self.edit("        broker\n", "        broker\n        broker\n"),
                   "host/a/broker", "repeated: a host runs each daemon at most once")
        c = cluster.load(self.write(GOOD))
        self.assertEqual([h.name for h in c.brokers], ["a"])
        run = cluster.Run(c, self.dir / "run")
        self.assertEqual(run.endpoint(c.frontend), "tcp://10.77.0.2:7750")
        # 17 brokers: more than a client takes (LH_MAX_BROKERS)
        many = GOOD + "".join(f"    x{k}\n        address = 10.77.0.{100 + k}\n        broker\n"
                              for k in range(16))
        self.error(many, "host", "17 hosts run a broker: a client takes 16 at most")

    def test_several_brokers(self):
        """broker on several hosts: each its own config and name, every daemon
        and env file the comma lists of all their endpoints (file order)."""
        text = self.edit("            id = 2\n", "            id = 2\n        broker\n")
        text = self.edit("            id = 3\n", "            id = 3\n        broker\n        validator\n",
                         text)
        c = cluster.load(self.write(text))
        self.assertEqual([h.name for h in c.brokers], ["a", "b", "c"])
        self.assertEqual(c.broker.name, "a")
        run = cluster.Run(c, self.dir / "run")
        fronts = "tcp://10.77.0.2:7750,tcp://10.77.0.3:7750,tcp://10.77.0.4:7750"
        backs = fronts.replace(":7750", ":7751")
        pubs = fronts.replace(":7750", ":7752")
        self.assertEqual(run.endpoint(c.frontend), fronts)
        self.assertEqual(run.endpoints(c.pub), pubs.split(","))
        commands = cluster._commands(run, "K" * 40)
        # The brokers first, each with its own config; the same key and roster
        brokers = [(h.name, v) for h, d, v in commands if d == "broker"]
        self.assertEqual([n for n, _ in brokers], ["a", "b", "c"])
        self.assertEqual([d for h, d, v in commands][:3], ["broker"] * 3)
        for name, argv in brokers:
            self.assertEqual(argv[1:3], ["-c", str(run.dir / f"broker-{name}.cfg")])
            host = next(h for h in c.hosts if h.name == name)
            config = cluster.broker_config(run, host)
            self.assertIn(f"\n    name = {name}\n", config)
            self.assertIn(f"\n    frontend = tcp://{host.address}:7750\n", config)
            self.assertIn(f"\n    backend = tcp://{host.address}:7751\n", config)
            self.assertIn(f"\n    pub = tcp://{host.address}:7752\n", config)
            self.assertIn(f'cert = "{run.keys / "broker.cert_secret"}"', config)
            self.assertIn(f'roster = "{run.keys / "roster.zpl"}"', config)
        def option(argv, name):
            return argv[argv.index(name) + 1]
        for h, d, v in commands:
            if d == "broker":
                continue
            self.assertEqual(option(v, "--broker"), backs, f"{h.name} {d}")
            if d in ("validator", "integrity"):
                self.assertEqual(option(v, "--pub"), pubs, f"{h.name} {d}")
            if d in ("validator", "integrity", "expert"):
                self.assertEqual(option(v, "--frontend"), fronts, f"{h.name} {d}")
        # Every broker answers metrics at its own host's address
        self.assertEqual([run.metrics(h, "broker") for h in c.brokers],
                         ["10.77.0.2:9150", "10.77.0.3:9150", "10.77.0.4:9150"])
        # The env files: LH_BROKER lists every frontend
        cluster._configs(run, "K" * 40)
        for name in ("env", "admin.env", "reviewer.env"):
            self.assertIn(f"export LH_BROKER='{fronts}'\n", (run.dir / name).read_text())
        self.assertEqual(sorted(p.name for p in run.dir.glob("broker*.cfg")),
                         ["broker-a.cfg", "broker-b.cfg", "broker-c.cfg"])
        # Readiness: every broker is asked for every service, each at its own frontend
        asked = []
        with mock.patch.object(cluster, "_workers",
                               lambda run, service, ep: asked.append((service, ep)) or
                               (0 if (service, ep) == ("validate", "tcp://10.77.0.3:7750") else 9)):
            missing = cluster.missing_workers(run)
        self.assertEqual(missing, {("b", "validate"): 2})
        self.assertEqual(sorted(set(ep for _, ep in asked)), fronts.split(","))
        self.assertEqual(sorted(set(s for s, _ in asked)),
                         ["cache", "events", "events.read", "expert", "validate"])
        self.assertEqual(len(asked), 15)
        rc, out, err = self.run_main("check", self.write(text))
        self.assertEqual(rc, 0, err)
        self.assertIn("  b            10.77.0.3       broker integrity (replica 2)", out)

    def test_chaos_with_several_brokers(self):
        """lh-chaos relays each broker on its own loopback address: broker k
        (file order) at 127.0.0.k, links NAME for the first, NAME-k after."""
        text = self.edit("            id = 2\n", "            id = 2\n        broker\n")
        text += "    v\n        address = 10.77.0.9\n        chaos\n        validator\n"
        c = cluster.load(self.write(text))
        run = cluster.Run(c, self.dir / "run")
        commands = cluster._commands(run, "K" * 40)
        self.assertEqual([d for h, d, v in commands][:3], ["broker", "broker", "chaos"])
        chaos = next(v for h, d, v in commands if d == "chaos")
        links = chaos[chaos.index("--links") + 1].split(",")
        self.assertEqual(links, ["frontend=127.0.0.1:7750>10.77.0.2:7750",
                                 "backend=127.0.0.1:7751>10.77.0.2:7751",
                                 "pub=127.0.0.1:7752>10.77.0.2:7752",
                                 "frontend-2=127.0.0.2:7750>10.77.0.3:7750",
                                 "backend-2=127.0.0.2:7751>10.77.0.3:7751",
                                 "pub-2=127.0.0.2:7752>10.77.0.3:7752"])
        self.assertEqual([n for n, _, _ in run.chaos_links("backend")], ["backend", "backend-2"])
        validator = next(v for h, d, v in commands if h.name == "v" and d == "validator")
        self.assertEqual(validator[validator.index("--broker") + 1],
                         "tcp://127.0.0.1:7751,tcp://127.0.0.2:7751")
        self.assertEqual(validator[validator.index("--pub") + 1],
                         "tcp://127.0.0.1:7752,tcp://127.0.0.2:7752")
        # lh-chaos relays 16 links: five brokers at most behind it
        more = text + "".join(f"    x{k}\n        address = 10.77.0.{100 + k}\n        broker\n"
                              for k in range(4))
        self.error(more, "host/v/chaos", "5 brokers at most: 6 hosts run one")

    def test_validators(self):
        self.error(self.edit("        validator\n", ""), "host", "no host runs a validator")
        self.error(self.edit("        validator\n", "        validator\n        validator\n"),
                   "host/a/validator", "repeated")
        text = self.edit("            id = 2\n", "            id = 2\n        validator\n")
        self.assertEqual(len(cluster.load(self.write(text)).running("validator")), 2)

    def test_expert_and_cache(self):
        for daemon in ("expert", "cache"):
            self.error(self.edit("            id = 3\n", f"            id = 3\n        {daemon}\n"),
                       f"host/c/{daemon}", f"the {daemon} already runs on host a (at most one")
            # Both are optional
            c = cluster.load(self.write(self.edit(f"        {daemon}\n", "")))
            self.assertEqual(c.running(daemon), [])

    def test_echo(self):
        text = self.edit("            id = 2\n", "            id = 2\n        echo\n")
        text = self.edit("            id = 3\n", "            id = 3\n        echo\n", text)
        echoes = cluster.load(self.write(text)).running("echo")
        self.assertEqual([h.name for h in echoes], ["b", "c"])

    def test_replica_count(self):
        text = GOOD.split("    c\n")[0]
        self.error(text, "host", "2 hosts run integrity (a b): a cluster has 3 or 5 replicas")
        self.error(GOOD + HOST_D, "host", "4 hosts run integrity (a b c d)")
        text = GOOD.replace("        integrity\n            id = 1\n", "")
        text = text.replace("        integrity\n            id = 2\n", "").replace(
            "        integrity\n            id = 3\n", "")
        self.error(text, "host", "0 hosts run integrity (none)")

    def test_two_replicas_on_one_host(self):
        second = "        integrity\n            id = 4\n"
        self.error(self.edit("            id = 1\n", "            id = 1\n" + second),
                   "host/a/integrity", "repeated: a host runs each daemon at most once")

    def test_replica_ids(self):
        self.error(self.edit("            id = 1\n", ""), "host/a/integrity/id", "missing")
        for bad in ("0", "one", "-1", "01", "1000"):
            self.error(self.edit("id = 1", f"id = {bad}"), "host/a/integrity/id",
                       "is not a replica id")
        self.error(self.edit("id = 2", "id = 1"), "host/b/integrity/id",
                   "1 is also the id of the replica on host a")
        self.error(self.edit("id = 3", "id = 4"), "host/c/integrity/id",
                   "3 replicas are numbered 1 to 3")

    # What up accepts, and what the command line does with errors

    def test_up_only_in_the_subnet(self):
        for bad in ("192.168.1.5", "10.77.1.3", "10.77.0.1", "10.77.0.255", "10.77.0.0"):
            c = cluster.load(self.write(self.edit("10.77.0.3", bad)))
            with self.assertRaises(cluster.FileError) as caught:
                cluster.check_local(c)
            self.assertEqual(caught.exception.key, "host/b/address")
            self.assertIn("10.77.0.0/24", str(caught.exception))

    def test_main_bad_file(self):
        """Exit 2, one line naming the file, line and key; no run directory made."""
        run = self.dir / "run"
        path = self.write(self.edit("10.77.0.3", "10.77.0.2"))
        for command in ("check", "up", "down", "status"):
            rc, out, err = self.run_main(command, path, "--run-dir", str(run))
            self.assertEqual(rc, 2)
            self.assertEqual(err, f"ops/cluster: {path}:21: host/b/address: "
                                  "10.77.0.2 is also host a's address\n")
            self.assertFalse(run.exists())
        rc, out, err = self.run_main("up", str(self.dir / "missing.zpl"), "--run-dir", str(run))
        self.assertEqual(rc, 2)
        self.assertIn("cannot read", err)

    def test_main_up_outside_the_subnet(self):
        run = self.dir / "run"
        path = self.write(self.edit("10.77.0.3", "192.168.1.5"))
        rc, out, err = self.run_main("up", path, "--run-dir", str(run))
        self.assertEqual(rc, 2)
        self.assertIn("host/b/address: 192.168.1.5: ops/cluster up uses only 10.77.0.0/24", err)
        self.assertFalse(run.exists())
        # check says so but accepts the file: it is for real hosts
        rc, out, err = self.run_main("check", path)
        self.assertEqual(rc, 0)
        self.assertIn("ops/cluster up: refused here: host/b/address", out)

    def test_main_usage(self):
        with contextlib.redirect_stderr(io.StringIO()):
            for argv in ([], ["start", self.write(GOOD)], ["up"]):
                with self.assertRaises(SystemExit) as caught:
                    cluster.main(argv)
                self.assertEqual(caught.exception.code, 2)

    def test_main_check(self):
        rc, out, err = self.run_main("check", self.write(GOOD))
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("cluster unit, 3 hosts, 3 replicas", out)
        self.assertIn("broker validator integrity expert cache (replica 1)", out)
        self.assertIn("ops/cluster up: runs here, in 10.77.0.0/24", out)

    def test_raft_peers_kept(self):
        """up refuses Raft peers other than those the replicas' data hold."""
        run_dir = self.dir / "run"
        (run_dir / "data" / "b" / "integrity").mkdir(parents=True)
        (run_dir / "cluster.zpl").write_text(GOOD)
        for changed in (self.edit("raft = 7760", "raft = 7761"),
                        self.edit("10.77.0.3", "10.77.0.9")):
            run = cluster.Run(cluster.load(self.write(changed)), run_dir)
            with self.assertRaises(cluster.Failure) as caught:
                cluster._check_raft_unchanged(run)
            self.assertIn("know the Raft peers 1@10.77.0.2:7760 2@10.77.0.3:7760 3@10.77.0.4:7760",
                          str(caught.exception))
        # Other changes, or no replica data yet: up goes on
        same_peers = cluster.load(self.write(self.edit("pub = 7752", "pub = 7753")))
        cluster._check_raft_unchanged(cluster.Run(same_peers, run_dir))
        shutil.rmtree(run_dir / "data")
        cluster._check_raft_unchanged(run)

    def test_up_and_down_need_root_and_tools(self):
        """Refused before anything is made: no run directory, no namespace."""
        run = self.dir / "run"
        path = self.write(GOOD)
        with mock.patch("os.geteuid", return_value=1000):
            for command in ("up", "down"):
                rc, out, err = self.run_main(command, path, "--run-dir", str(run))
                self.assertEqual(rc, 1)
                self.assertIn(f"{command} needs root", err)
        real_which = cluster.shutil.which
        with mock.patch("os.geteuid", return_value=0), \
                mock.patch("shutil.which", lambda t: None if t == "nft" else real_which(t)):
            rc, out, err = self.run_main("up", path, "--run-dir", str(run))
        self.assertEqual(rc, 1)
        self.assertIn("nft not found: install iproute2 and nftables (ops/deps)", err)
        self.assertFalse(run.exists())
        netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        self.assertNotIn("lh-unit-", netns)


if __name__ == "__main__":
    unittest.main()
