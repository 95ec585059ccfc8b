#!/usr/bin/python3
"""Lighthouse integrity-log interop test.

An independent client and offline verifier for the integrity log, written
from docs/PROTOCOL.md and docs/EVENTS.md alone (no Lighthouse
C code, no lh client commands except the offline `lh verify`). It starts a
CURVE lh-broker and three lh-integrity replicas, then, as an agent-role and
a node-role client:

  * appends events and checks the replies (EVENTS.md 2, 3), exactly-once
    client ids (2.4) and every refusal the document lists;
  * reads them back with get, range and query (5);
  * recomputes leaf hashes, tree roots, RFC 6962 inclusion and consistency
    proofs in Python and checks the replicas' proofs against them (4.1);
  * parses the C2SP signed-note checkpoints and verifies every Ed25519
    signature against the keys file, waiting for all three replicas to sign
    (4.2), and reads their checkpoint notifications (6);
  * builds an export (7) from raw reads and checks that the real `lh verify`
    accepts it and rejects corrupted copies naming the right sequence.

    /usr/bin/python3 test_events.py PATH/TO/lh-broker PATH/TO/lh-integrity PATH/TO/lh

Prints one line per check and a closing "interop_events: N passed, M failed, ...";
exits non-zero when any check fails. Also prints "note:" lines for behaviour
the documents leave open (as observed) and "spec:" lines where the system does
not do what the documents say; those fail the run (LH_TEST_STRICT=0 only lists them).
LH_TEST_KEEP=1 keeps the temporary directory (logs, keys, data). The broker and
replicas are stopped on every path (exceptions, SIGINT/SIGTERM, and via
PR_SET_PDEATHSIG if this process is killed outright).
"""
import base64
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

import nacl.exceptions
import nacl.signing
import zmq

from lhproto import (ERROR_CODES, Failure, _die_with_parent, check, free_ports, leaf_hash,
                     node_hash, pack, verify_inclusion,
                     strict_unpack, wait_until)

#   PROTOCOL.md section 3
MDPC = b"MDPC01"


#   EVENTS.md section 2.1: type -> roles that may append it
NODE_ADMIN = {"node", "admin"}
ANYONE = {"agent", "node", "admin"}
TYPES = {
    "command.received": NODE_ADMIN, "command.validated": NODE_ADMIN,
    "command.executed": ANYONE, "validation.decision": NODE_ADMIN,
    "escalation.requested": NODE_ADMIN, "expert.verdict": NODE_ADMIN,
    "escalation.assigned": NODE_ADMIN, "escalation.expired": NODE_ADMIN,
    "verdict.revoked": NODE_ADMIN, "verdict.used": NODE_ADMIN,
    "file.write": ANYONE, "session.start": ANYONE, "session.end": ANYONE,
    "agent.join": NODE_ADMIN, "agent.leave": NODE_ADMIN, "integrity.alert": NODE_ADMIN,
    "policy.loaded": NODE_ADMIN,
    "custom": ANYONE,
}
MAX_EVENTS = 256          # EVENTS.md 3
MAX_DATA = 262144         # EVENTS.md 2.2, bytes of data packed
LEAF_KEYS = ["seq", "v", "ts", "type", "agent", "by", "role", "client_id", "correlation",
             "causation", "data"]  # EVENTS.md 2.3, in this order
ORIGIN = "interop.test/log"
REPLICAS = ["r1", "r2", "r3"]
EM_DASH = "\u2014"
DROP = object()           # a key left out of a test event


def same(a, b):
    """Equality that does not confuse True with 1 or 1.0 with 1."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a.keys()) == list(b.keys()) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def check_eq(actual, expected, what):
    if not same(actual, expected):
        raise Failure("%s: expected %r, got %r" % (what, expected, actual))


def is_uint(x):
    return type(x) is int and x >= 0


NOTES = []
DIFFS = []
#   Contradictions fail the run; LH_TEST_STRICT=0 only lists them
STRICT = os.environ.get("LH_TEST_STRICT", "1") != "0"


def note(text):
    """Behaviour the documents do not pin down, as observed (printed at the end)."""
    if text not in NOTES:
        NOTES.append(text)


def differs(cond, text):
    """A point where the system does not do what the documents say. Reported on a
    "spec:" line and counted; a failure unless LH_TEST_STRICT=0, which lists them
    while the document or the code is being settled."""
    if cond:
        return
    if STRICT:
        raise Failure("contradicts the documents: " + text)
    if text not in DIFFS:
        DIFFS.append(text)


#   ------------------------------------------------------------------------
#   Merkle tree (EVENTS.md 4.1: RFC 6962 2.1, verified as RFC 9162 2.1.3.2 / 2.1.4.2)

def split_point(n):
    """Largest power of two smaller than n (n >= 2)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def mth(hashes):
    """RFC 6962 MTH over leaf hashes."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = split_point(n)
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


def rfc6962_path(m, hashes):
    """RFC 6962 2.1.1 PATH(m, D[n]) over leaf hashes."""
    n = len(hashes)
    if n <= 1:
        return []
    k = split_point(n)
    if m < k:
        return rfc6962_path(m, hashes[:k]) + [mth(hashes[k:])]
    return rfc6962_path(m - k, hashes[k:]) + [mth(hashes[:k])]


def rfc6962_proof(m, hashes):
    """RFC 6962 2.1.2 PROOF(m, D[n])."""
    def subproof(m, d, b):
        n = len(d)
        if m == n:
            return [] if b else [mth(d)]
        k = split_point(n)
        if m <= k:
            return subproof(m, d[:k], b) + [mth(d[k:])]
        return subproof(m - k, d[k:], False) + [mth(d[:k])]
    return subproof(m, hashes, True)


def verify_consistency(first, second, first_hash, second_hash, proof):
    """RFC 9162 2.1.4.2."""
    if first > second or first == 0:
        return False
    if first == second:
        return proof == [] and first_hash == second_hash
    if first & (first - 1) == 0:
        proof = [first_hash] + list(proof)
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_hash and sr == second_hash


#   ------------------------------------------------------------------------
#   Signed notes (EVENTS.md 4.2: C2SP signed-note, tlog-checkpoint)

def key_id(name, pubkey32):
    return hashlib.sha256(name.encode() + b"\n" + b"\x01" + pubkey32).digest()[:4]


def parse_verifier_key(line):
    """<name>+<8 hex id>+<base64(0x01 || public key)>"""
    name, hexid, b64 = line.split("+", 2)
    raw = base64.b64decode(b64, validate=True)
    check(len(raw) == 33 and raw[0] == 1, "verifier key %r: not 0x01 || 32 bytes" % line)
    check(re.fullmatch(r"[0-9a-f]{8}", hexid), "verifier key %r: id is not 8 hex digits" % line)
    check_eq(key_id(name, raw[1:]).hex(), hexid, "key id of %s recomputed from its key" % name)
    return name, bytes.fromhex(hexid), nacl.signing.VerifyKey(raw[1:])


def parse_note(note_text):
    """(text signed, origin, size, root, [(name, id4, sig64)]) of a checkpoint note."""
    check(isinstance(note_text, str), "checkpoint is not a str: %r" % (note_text,))
    check(note_text.endswith("\n"), "note does not end with a newline")
    sep = note_text.find("\n\n")
    check(sep > 0, "note has no blank line before its signatures: %r" % note_text)
    text, sigblock = note_text[:sep + 1], note_text[sep + 2:]
    lines = text.split("\n")[:-1]
    check(len(lines) >= 3, "checkpoint body needs origin, size and root: %r" % text)
    origin, size_s, root_s = lines[0], lines[1], lines[2]
    check(re.fullmatch(r"0|[1-9][0-9]*", size_s), "tree size %r is not decimal" % size_s)
    root = base64.b64decode(root_s, validate=True)
    check(len(root) == 32 and base64.b64encode(root).decode() == root_s,
          "root %r is not standard base64 of 32 bytes" % root_s)
    if len(lines) > 3:
        note("checkpoint body has extension lines %r" % lines[3:])
    sigs = []
    for line in sigblock.split("\n")[:-1]:
        m = re.fullmatch(EM_DASH + r" (\S+) (\S+)", line)
        check(m, "signature line %r is not '%s <name> <base64>'" % (line, EM_DASH))
        blob = base64.b64decode(m.group(2), validate=True)
        check(len(blob) == 68, "signature of %s is %d bytes, not 4 + 64" % (m.group(1), len(blob)))
        sigs.append((m.group(1), blob[:4], blob[4:]))
    check(sigs, "checkpoint has no signature line")
    return text, origin, int(size_s), root, sigs


def verify_note(env, note_text, want_size=None, want_root=None):
    """Checks a checkpoint; returns (size, root, names of keys whose signature verifies)."""
    text, origin, size, root, sigs = parse_note(note_text)
    check_eq(origin, ORIGIN, "checkpoint origin")
    if want_size is not None:
        check_eq(size, want_size, "checkpoint tree size")
    if want_root is not None:
        check_eq(root, want_root, "checkpoint root")
    good = set()
    for name, kid, sig in sigs:
        key = env.verifiers.get((name, kid))
        if key is None:
            note("checkpoint carries a signature by an unknown key %r" % name)
            continue
        try:
            key.verify(text.encode(), sig)
        except nacl.exceptions.BadSignatureError:
            raise Failure("signature by %s does not verify over %r" % (name, text))
        check(name not in good, "two signature lines by %s" % name)
        good.add(name)
    check(good, "no signature by a known key: %r" % note_text)
    return size, root, good


#   ------------------------------------------------------------------------
#   Peers (PROTOCOL.md 3, 4)

def curve_socket(env, kind, keypair):
    sock = env.ctx.socket(kind)
    sock.linger = 0
    sock.curve_serverkey = env.server_public
    sock.curve_publickey, sock.curve_secretkey = keypair
    return sock


class Client:
    """7/MDP client on a DEALER."""

    def __init__(self, env, name):
        self.env = env
        self.name = name
        self.sock = curve_socket(env, zmq.DEALER, env.keys[name])
        self.sock.connect(env.frontend)
        self.next_id = 1

    def close(self):
        self.sock.close(0)

    def call_body(self, service, body, rid, timeout=8.0):
        self.sock.send_multipart([b"", MDPC, service.encode(), body])
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sock.poll(int(left * 1000)):
                raise Failure("%s: no reply to %s id %r within %.1fs" % (self.name, service, rid,
                                                                         timeout))
            frames = self.sock.recv_multipart()
            check(len(frames) == 4 and frames[0] == b"" and frames[1] == MDPC,
                  "reply frames: %r" % frames[:3])
            reply = strict_unpack(frames[3])
            check("id" in reply and isinstance(reply.get("ok"), bool), "reply: %r" % reply)
            if not reply["ok"]:
                err = reply.get("error")
                check(isinstance(err, dict) and err.get("code") in ERROR_CODES
                      and isinstance(err.get("message"), str)
                      and len(err["message"].encode()) <= 512, "error map: %r" % reply)
                check("results" not in reply, "failed reply carries results: %r" % reply)
            if same(reply["id"], rid):
                check_eq(frames[2], service.encode(), "reply service frame")
                return reply

    def send(self, service, fields):
        """Sends without waiting; returns the id (collect the reply with call_body's loop)."""
        rid = self.next_id
        self.next_id += 1
        body = dict(fields)
        body["id"] = rid
        self.sock.send_multipart([b"", MDPC, service.encode(), pack(body)])
        return rid

    def collect(self, service, rids, timeout=10.0):
        """Replies to several requests sent with send(), by id, in any order."""
        want, got = set(rids), {}
        deadline = time.monotonic() + timeout
        while want:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sock.poll(int(left * 1000)):
                raise Failure("%s: no reply to ids %r" % (self.name, sorted(want)))
            frames = self.sock.recv_multipart()
            check(len(frames) == 4 and frames[0] == b"" and frames[1] == MDPC
                  and frames[2] == service.encode(), "reply frames: %r" % frames[:3])
            reply = strict_unpack(frames[3])
            if reply.get("id") in want:
                want.discard(reply["id"])
                got[reply["id"]] = reply
        return [got[r] for r in rids]

    def call(self, service, fields, timeout=8.0):
        rid = self.next_id
        self.next_id += 1
        body = dict(fields)
        body["id"] = rid
        return self.call_body(service, pack(body), rid, timeout)

    def ok(self, service, fields, timeout=8.0):
        reply = self.call(service, fields, timeout)
        check(reply["ok"] is True, "%s %r: expected ok, got %r" % (service, fields.get("op"),
                                                                    reply))
        return reply

    #   events (EVENTS.md 3)
    def append(self, events):
        return self.call("events", {"op": "append", "events": events})

    def append_ok(self, events):
        reply = self.append(events)
        check(reply["ok"] is True, "append %r: expected ok, got %r" % (events[:2], reply))
        return reply

    #   events.read (EVENTS.md 5). A replica may be a heartbeat behind: retry.
    def read(self, op, min_size=0, retry_not_found=False, timeout=5.0, **fields):
        deadline = time.monotonic() + timeout
        while True:
            reply = self.call("events.read", dict(fields, op=op))
            behind = False
            if reply["ok"] and "size" in reply and reply["size"] < min_size:
                behind = True
            if not reply["ok"] and retry_not_found and reply["error"]["code"] == "not_found":
                behind = True
            if not behind or time.monotonic() >= deadline:
                return reply
            time.sleep(0.05)

    def read_ok(self, op, min_size=0, **fields):
        reply = self.read(op, min_size=min_size, retry_not_found=True, **fields)
        check(reply["ok"] is True, "events.read %s %r: expected ok, got %r" % (op, fields, reply))
        if "size" in reply:
            check(reply["size"] >= min_size, "events.read %s: replica stayed at size %d < %d"
                  % (op, reply["size"], min_size))
        return reply


def check_error(reply, code, what):
    check(reply["ok"] is False, "%s: expected error %s, got %r" % (what, code, reply))
    if isinstance(code, str):
        check_eq(reply["error"]["code"], code, "%s: error code (message %r)"
                 % (what, reply["error"]["message"]))
    else:
        check(reply["error"]["code"] in code, "%s: error code %r (message %r) not in %r"
              % (what, reply["error"]["code"], reply["error"]["message"], code))


class Subscriber:
    def __init__(self, env, keyname, prefix):
        self.sock = curve_socket(env, zmq.SUB, env.keys[keyname])
        self.sock.setsockopt(zmq.SUBSCRIBE, prefix)
        self.sock.connect(env.pub)
        self.messages = []

    def drain(self):
        while self.sock.poll(0):
            frames = self.sock.recv_multipart()
            check(len(frames) == 2, "notification must have 2 frames: %r" % frames)
            self.messages.append((frames[0], strict_unpack(frames[1])))
        return self.messages

    def close(self):
        self.sock.close(0)


#   ------------------------------------------------------------------------
#   Broker and replicas under test


def write_cert(path, public, secret, name):
    """czmq zcert secret certificate (PROTOCOL.md 11.1)."""
    with open(path, "w") as f:
        f.write("#   ZeroMQ CURVE **Secret** Certificate\n"
                "metadata\n    name = \"%s\"\n"
                "curve\n    public-key = \"%s\"\n    secret-key = \"%s\"\n"
                % (name, public.decode(), secret.decode()))
    os.chmod(path, 0o600)


class Env:
    PRINCIPALS = {"admin": "admin", "agent-1": "agent", "expert-1": "expert", "node-1": "node",
                  "integrity-r1": "node", "integrity-r2": "node", "integrity-r3": "node"}

    def __init__(self, broker_path, integrity_path, lh_path):
        self.broker_path, self.integrity_path, self.lh_path = broker_path, integrity_path, lh_path
        self.tmp = tempfile.mkdtemp(prefix="lh-interop-events-")
        self.ctx = zmq.Context()
        self.broker = None
        self.replicas = {}
        self.clients = []
        self.subs = []
        self.keys = {name: zmq.curve_keypair() for name in self.PRINCIPALS}
        self.server_public, self.server_secret = zmq.curve_keypair()
        #   Facts gathered by the checks, used by later ones
        self.appended = {}      # seq -> dict(what we sent, by, role)
        self.heads = {}         # tree size -> root, from append replies (checkpointed sizes)
        self.t0_ns = time.time_ns()

    #   -- files
    def write_files(self):
        self.cert_path = os.path.join(self.tmp, "broker.cert")
        write_cert(self.cert_path, self.server_public, self.server_secret, "broker")
        self.roster_path = os.path.join(self.tmp, "roster.zpl")
        with open(self.roster_path, "w") as f:
            f.write("principal\n")
            for name, role in self.PRINCIPALS.items():
                f.write("    %s\n        key = \"%s\"\n        role = %s\n"
                        % (name, self.keys[name][0].decode(), role))
        #   Signer keys, EVENTS.md 4.2: --keygen prints the verifier key
        self.keys_path = os.path.join(self.tmp, "keys")
        self.verifier_lines = []
        for r in REPLICAS:
            signer = os.path.join(self.tmp, "%s.key" % r)
            out = subprocess.run([self.integrity_path, "--keygen", r, "--signer", signer],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
            check(out.returncode == 0, "--keygen %s: exit %d %s" % (r, out.returncode,
                                                                     out.stderr.decode()))
            line = out.stdout.decode().strip()
            check(len(line.splitlines()) == 1, "--keygen printed more than one line: %r" % line)
            check_eq(os.stat(signer).st_mode & 0o777, 0o600, "signer key file mode")
            self.verifier_lines.append(line)
            #   The signer key: PRIVATE+KEY+<name>+<id>+<base64(0x01 || seed)>
            text = open(signer).read().strip()
            parts = text.split("+", 4)
            check(len(parts) == 5 and parts[:3] == ["PRIVATE", "KEY", r],
                  "signer key format: %r" % text[:24])
            seed = base64.b64decode(parts[4])
            check(len(seed) == 33 and seed[0] == 1, "signer key is not 0x01 || 32-byte seed")
            pub = nacl.signing.SigningKey(seed[1:]).verify_key.encode()
            check_eq(parts[3], key_id(r, pub).hex(), "signer key id")
            check_eq(line, "%s+%s+%s" % (r, parts[3], base64.b64encode(b"\x01" + pub).decode()),
                     "verifier key printed by --keygen")
        with open(self.keys_path, "w") as f:
            f.write("".join(line + "\n" for line in self.verifier_lines))
        self.verifiers = {}
        for line in self.verifier_lines:
            name, kid, vk = parse_verifier_key(line)
            self.verifiers[(name, kid)] = vk

    def write_broker_config(self):
        ports = free_ports(3)
        self.frontend, self.backend, self.pub = ("tcp://127.0.0.1:%d" % p for p in ports)
        path = os.path.join(self.tmp, "broker.cfg")
        with open(path, "w") as f:
            f.write("broker\n    frontend = \"%s\"\n    backend = \"%s\"\n    pub = \"%s\"\n"
                    "    cert = \"%s\"\n    roster = \"%s\"\n    request_timeout = 5000\n"
                    % (self.frontend, self.backend, self.pub, self.cert_path, self.roster_path))
        return path

    #   -- processes
    def spawn(self, argv, logname):
        log = open(os.path.join(self.tmp, logname), "ab")
        try:
            return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                    preexec_fn=_die_with_parent)
        finally:
            log.close()

    def start(self):
        self.write_files()
        for attempt in range(3):
            config = self.write_broker_config()
            self.broker = self.spawn([self.broker_path, "-c", config], "broker.log")
            self.admin = Client(self, "admin")
            if wait_until(lambda: self._ping(), 8, 0.0):
                break
            self.admin.close()
            self.stop_proc(self.broker)
            print("interop_events: broker did not come up (attempt %d)" % (attempt + 1))
        else:
            raise Failure("broker did not start:\n" + self.log_tail("broker.log"))
        raft = free_ports(3)
        peers = " ".join("%d@127.0.0.1:%d" % (i + 1, p) for i, p in enumerate(raft))
        for i, r in enumerate(REPLICAS):
            d = os.path.join(self.tmp, r)
            os.mkdir(d)
            cert = os.path.join(self.tmp, "integrity-%s.cert_secret" % r)
            pub, sec = self.keys["integrity-" + r]
            write_cert(cert, pub, sec, "integrity-" + r)
            self.replicas[r] = self.spawn(
                [self.integrity_path, "--id", str(i + 1), "--dir", d, "--peers", peers,
                 "--origin", ORIGIN, "--signer", os.path.join(self.tmp, "%s.key" % r),
                 "--keys", self.keys_path, "--broker", self.backend, "--frontend", self.frontend,
                 "--pub", self.pub, "--broker-key", self.server_public.decode(), "--cert", cert], "%s.log" % r)

    def _ping(self):
        self.admin.sock.send_multipart([b"", MDPC, b"broker.ping", pack({"id": 0})])
        return self.admin.sock.poll(300) and self.admin.sock.recv_multipart()

    def log_tail(self, name, lines=30):
        try:
            with open(os.path.join(self.tmp, name), "rb") as f:
                return b"".join(f.readlines()[-lines:]).decode(errors="replace")
        except OSError:
            return "(no log)"

    def dead(self):
        procs = dict(self.replicas, broker=self.broker)
        return ["%s (exit %r)" % (n, p.returncode) for n, p in procs.items()
                if p is None or p.poll() is not None]

    @staticmethod
    def stop_proc(proc):
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def client(self, name):
        c = Client(self, name)
        self.clients.append(c)
        return c

    def close(self, keep=False):
        for c in self.clients + self.subs + [getattr(self, "admin", None)]:
            if c is not None:
                c.close()
        for p in self.replicas.values():
            if p.poll() is None:
                p.terminate()
        for p in self.replicas.values():
            self.stop_proc(p)
        self.stop_proc(self.broker)
        if not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


#   ------------------------------------------------------------------------
#   Checks

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def status_type(st):
    check(isinstance(st, dict), "status is not a map: %r" % (st,))
    for key in ["replica", "replica_id", "state", "leader", "term", "commit_index",
                "applied_index", "size", "root", "origin", "monitor", "counters"]:
        check(key in st, "status lacks %r: %r" % (key, sorted(st)))
    check(isinstance(st["replica"], str), "status.replica is not a str")
    check(st["state"] in ("leader", "follower", "candidate", "unavailable"),
          "status.state %r" % st["state"])
    for key in ["replica_id", "leader", "term", "commit_index", "applied_index", "size"]:
        check(is_uint(st[key]), "status.%s is not a uint: %r" % (key, st[key]))
    check_eq(st["origin"], ORIGIN, "status.origin")
    check(isinstance(st["monitor"], dict) and isinstance(st["counters"], dict),
          "status.monitor / counters are not maps")
    for key in ["status", "seq", "leaves", "last_pass_ms"]:
        check(key in st["monitor"], "status.monitor lacks %r: %r" % (key, st["monitor"]))
    if not (isinstance(st["root"], bytes) and len(st["root"]) == 32):
        note("status.root is %s %r (EVENTS.md 5 gives no type)" % (type(st["root"]).__name__,
                                                                  st["root"]))


def current_leader(env):
    for _ in range(6):
        st = env.node.read_ok("status")["status"]
        if st["state"] == "leader":
            return st["replica"]
    raise Failure("no replica says it is the leader")


@test
def cluster_up(env):
    """Every replica serves events.read; one leader serves events (EVENTS.md 1)."""
    def ready():
        a = env.admin
        r1 = a.ok("mmi.service", {"name": "events"})
        r2 = a.ok("mmi.service", {"name": "events.read"})
        return r1["workers"] == 1 and r2["workers"] == 3
    check(wait_until(ready, 20, 0.2), "replicas did not register (events: leader, events.read: "
          "3); dead: %r" % env.dead())
    #   Round-robin dispatch (PROTOCOL.md 12.3) reaches each replica in turn
    node = env.node
    statuses = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        st = node.read_ok("status")["status"]
        status_type(st)
        statuses[st["replica_id"]] = st
        if len(statuses) == 3 and all(s["leader"] != 0 for s in statuses.values()):
            break
    check_eq(sorted(statuses), [1, 2, 3], "replica ids answering status")
    leaders = {s["leader"] for s in statuses.values()}
    check_eq(len(leaders), 1, "replicas agree on one leader: %r" % leaders)
    env.leader_id = leaders.pop()
    check(statuses[env.leader_id]["state"] == "leader", "the named leader says it is leader")
    names = {s["replica"] for s in statuses.values()}
    if names != set(REPLICAS):
        note("status.replica is %r for key names %r (EVENTS.md does not tie the two)"
             % (sorted(names), REPLICAS))
    env.leader_name = statuses[env.leader_id]["replica"]
    stats = node.read_ok("stats")
    for key in ["replica", "state", "size", "origin"]:
        check(key in stats, "stats lacks the status key %r at the top level" % key)
    check_eq(statuses[1]["size"], 0, "a new log is empty")


def check_append_reply(env, reply, n, what):
    for key in ["results", "size", "root", "checkpoint"]:
        check(key in reply, "%s: append reply lacks %r: %r" % (what, key, reply))
    results = reply["results"]
    check(isinstance(results, list) and len(results) == n,
          "%s: results must be one per event (%d): %r" % (what, n, results))
    for r in results:
        check(isinstance(r, dict) and is_uint(r.get("seq")) and type(r.get("duplicate")) is bool,
              "%s: result %r is not {seq: uint, duplicate: bool}" % (what, r))
    check(is_uint(reply["size"]), "%s: size is not a uint" % what)
    check(isinstance(reply["root"], bytes) and len(reply["root"]) == 32,
          "%s: root is not bin 32: %r" % (what, reply["root"]))
    for r in results:
        check(r["seq"] < reply["size"], "%s: seq %d not under size %d" % (what, r["seq"],
                                                                          reply["size"]))
    #   The checkpoint is the one of this tree head, signed at least by the leader
    size, root, signers = verify_note(env, reply["checkpoint"], reply["size"], reply["root"])
    if env.leader_name not in signers:
        env.leader_name = current_leader(env)   # leadership may have moved
        check(env.leader_name in signers, "%s: checkpoint not signed by the leader %s: %r"
              % (what, env.leader_name, signers))
    env.heads[reply["size"]] = reply["root"]
    return results


def record(env, results, events, client, role):
    for r, ev in zip(results, events):
        if not r["duplicate"]:
            check(r["seq"] not in env.appended, "seq %d handed out twice" % r["seq"])
            env.appended[r["seq"]] = dict(ev, by=client.name, role=role)


@test
def append_single_events(env):
    """EVENTS.md 3: reply {results: [{seq, duplicate}], size, root, checkpoint}."""
    agent = env.agent
    ev = {"type": "custom", "data": {"n": 1, "s": "first event"}}
    reply = agent.append_ok([ev])
    res = check_append_reply(env, reply, 1, "first append")
    check_eq(res[0], {"seq": 0, "duplicate": False}, "first result of an empty log")
    check_eq(reply["size"], 1, "size after the first event")
    check_eq(reply["root"], leaf_hash(agent.read_ok("get", seq=0, raw=True)["event"]),
             "root of a one-leaf tree is its leaf hash")
    record(env, res, [ev], agent, "agent")
    #   Sequence numbers follow without gaps, one request after another
    for i, t in enumerate(["session.start", "command.executed", "session.end"]):
        ev = {"type": t, "data": {"i": i}, "agent": "agent-1"}   # naming itself is allowed
        reply = agent.append_ok([ev])
        res = check_append_reply(env, reply, 1, t)
        check_eq(res[0], {"seq": 1 + i, "duplicate": False}, "%s result" % t)
        check_eq(reply["size"], 2 + i, "size after %s" % t)
        record(env, res, [ev], agent, "agent")


@test
def append_batches_and_all_types(env):
    """A batch gets consecutive seqs; nodes may append every type, for any agent."""
    node, agent = env.node, env.agent
    events = []
    for t in sorted(TYPES):
        data = {"what": t}
        if t == "file.write":
            data = {"path": "/tmp/x.txt", "content": "hello\n"}
        events.append({"type": t, "data": data, "agent": "agent-1"})
    events.append({"type": "custom", "data": {}, "agent": "someone.else_7-x"})
    events.append({"type": "custom", "data": {"nested": {"a": [1, 2.5, None, True, b"\x00"]}}})
    reply = node.append_ok(events)
    res = check_append_reply(env, reply, len(events), "node batch")
    first = res[0]["seq"]
    check_eq([r["seq"] for r in res], list(range(first, first + len(events))),
             "seqs of a batch are consecutive")
    check(all(r["duplicate"] is False for r in res), "no duplicates in a fresh batch")
    check_eq(reply["size"], first + len(events), "size after the batch")
    record(env, res, events, node, "node")
    #   Agents may append their own types (a file.write with a path)
    mine = [{"type": t, "data": ({"path": "a/b"} if t == "file.write" else {})}
            for t in sorted(TYPES) if "agent" in TYPES[t]]
    reply = agent.append_ok(mine)
    record(env, check_append_reply(env, reply, len(mine), "agent batch"), mine, agent, "agent")
    #   The most events a request may carry
    many = [{"type": "custom", "data": {"k": i}, "client_id": "many-%d" % i}
            for i in range(MAX_EVENTS)]
    reply = node.append_ok(many)
    res = check_append_reply(env, reply, MAX_EVENTS, "256 events")
    check_eq([r["seq"] for r in res], list(range(res[0]["seq"], res[0]["seq"] + MAX_EVENTS)),
             "seqs of 256 events")
    record(env, res, many, node, "node")
    env.many_first = res[0]["seq"]


@test
def exactly_once_client_ids(env):
    """EVENTS.md 2.4: (by, client_id) is appended at most once."""
    agent, node = env.agent, env.node
    batch = [{"type": "custom", "data": {"k": i}, "client_id": "once-%d" % i,
              "correlation": "corr-1", "causation": "req:%d" % i} for i in range(3)]
    reply = agent.append_ok(batch)
    first = check_append_reply(env, reply, 3, "client ids")
    check(all(not r["duplicate"] for r in first), "first append of client ids: %r" % first)
    record(env, first, batch, agent, "agent")
    size = reply["size"]
    #   The same batch again: nothing appended, same seqs
    reply = agent.append_ok(batch)
    again = check_append_reply(env, reply, 3, "resend")
    check_eq(again, [{"seq": r["seq"], "duplicate": True} for r in first], "resent batch")
    check_eq(reply["size"], size, "size after a resend")
    #   Same client id with other content is still the same event
    reply = agent.append_ok([{"type": "session.end", "data": {"other": True},
                              "client_id": "once-1"}])
    check_eq(check_append_reply(env, reply, 1, "other content"),
             [{"seq": first[1]["seq"], "duplicate": True}], "same client id, other content")
    #   Twice in one request, and mixed with new events
    mixed = [{"type": "custom", "data": {}, "client_id": "twin"},
             {"type": "custom", "data": {"x": 1}, "client_id": "twin"},
             {"type": "custom", "data": {}, "client_id": "once-2"},
             {"type": "custom", "data": {"no": "id"}}]
    reply = agent.append_ok(mixed)
    res = check_append_reply(env, reply, 4, "mixed")
    check_eq(res[0]["duplicate"], False, "first twin")
    check_eq(res[1], {"seq": res[0]["seq"], "duplicate": True}, "second twin in one request")
    check_eq(res[2], {"seq": first[2]["seq"], "duplicate": True}, "old client id in a batch")
    check_eq(res[3], {"seq": res[0]["seq"] + 1, "duplicate": False}, "event without client id")
    check_eq(reply["size"], size + 2, "size after the mixed batch")
    record(env, [res[0], res[3]], [mixed[0], mixed[3]], agent, "agent")
    #   Events without client ids are never duplicates
    plain = {"type": "custom", "data": {"same": 1}}
    a = check_append_reply(env, agent.append_ok([plain]), 1, "plain 1")
    b = check_append_reply(env, agent.append_ok([plain]), 1, "plain 2")
    check(not a[0]["duplicate"] and not b[0]["duplicate"] and b[0]["seq"] == a[0]["seq"] + 1,
          "events without client id appended each time: %r %r" % (a, b))
    record(env, a + b, [plain, plain], agent, "agent")
    #   The pair is per appender: node-1 may use agent-1's client id
    ev = {"type": "custom", "data": {}, "client_id": "once-0", "agent": "agent-1"}
    res = check_append_reply(env, node.append_ok([ev]), 1, "other appender")
    check_eq(res[0]["duplicate"], False, "same client id from another appender")
    record(env, res, [ev], node, "node")
    #   Boundaries of client ids: 64 printable bytes
    ev = {"type": "custom", "data": {}, "client_id": "!~" + "x" * 62,
          "correlation": "c" * 64, "causation": "#"}
    res = check_append_reply(env, agent.append_ok([ev]), 1, "64-byte client id")
    record(env, res, [ev], agent, "agent")


@test
def pipelined_appends(env):
    """EVENTS.md 1, 3: appends in flight together (group commit) each get their own seqs;
    size and root are those of the entry that holds them."""
    node = env.node
    batches = [[{"type": "custom", "data": {"pipe": i, "j": j}, "agent": "agent-%d" % (i % 3)}
                for j in range(1 + i % 4)] for i in range(40)]
    before = max(env.heads)
    rids = [node.send("events", {"op": "append", "events": b}) for b in batches]
    replies = node.collect("events", rids)
    seqs = []
    sizes = set()
    for reply, batch in zip(replies, batches):
        check(reply["ok"] is True, "pipelined append: %r" % reply)
        res = check_append_reply(env, reply, len(batch), "pipelined append")
        check_eq([r["seq"] for r in res], list(range(res[0]["seq"], res[0]["seq"] + len(batch))),
                 "a request's events are consecutive")
        seqs.extend(r["seq"] for r in res)
        sizes.add(reply["size"])
        record(env, res, batch, node, "node")
    check_eq(sorted(seqs), list(range(before, before + len(seqs))),
             "seqs of pipelined appends: no gap, none twice")
    note("40 pipelined append requests were answered with %d distinct tree sizes (entries)"
         % len(sizes))


@test
def data_size_limit(env):
    """EVENTS.md 2.2: data at most 262,144 bytes packed."""
    agent = env.agent
    #   fixmap(1) + fixstr "s" (2) + str32 header (5) + body
    body = MAX_DATA - 8
    ev = {"type": "custom", "data": {"s": "d" * body}}
    check_eq(len(pack(ev["data"])), MAX_DATA, "test data size")
    res = check_append_reply(env, agent.append_ok([ev]), 1, "data of exactly 262,144 bytes")
    record(env, res, [ev], agent, "agent")
    #   "packed": as sent, or as the log encodes it? Eight arrays of 4096 zeros sent as
    #   uint64 are 294,969 bytes; in the shortest encoding 32,809.
    arr = b"\xdd" + (4096).to_bytes(4, "big") + (b"\xcf" + bytes(8)) * 4096
    data = b"\x88" + b"".join(bytes([0xa1, ord("a") + i]) + arr for i in range(8))
    body = (b"\x83\xa2id\xcd\x7f\xfd\xa2op\xa6append\xa6events\x91\x82\xa4type\xa6custom"
            b"\xa4data" + data)
    reply = agent.call_body("events", body, 0x7ffd)
    if reply["ok"]:
        res = check_append_reply(env, reply, 1, "wide data")
        record(env, res, [{"type": "custom", "data": {chr(97 + i): [0] * 4096
                                                      for i in range(8)}}], agent, "agent")
    note("data of %d bytes as sent, %d in the shortest encoding: %s" % (
        len(data), len(pack({chr(97 + i): [0] * 4096 for i in range(8)})),
        "accepted (the limit counts the log's encoding)" if reply["ok"]
        else reply["error"]["code"]))


@test
def refusals_change_nothing(env):
    """EVENTS.md 2.1, 2.2, 3: refusals with their codes; all or nothing."""
    agent, node, expert = env.agent, env.node, env.expert
    size = max(env.heads)

    def ev(**kw):
        e = {"type": "custom", "data": {}}
        e.update(kw)
        return {k: v for k, v in e.items() if v is not DROP}

    documented = [
        #   (what, client, events, code)
        ("agent names another agent", agent, [ev(agent="agent-2")], "forbidden"),
        ("agent names a node", agent, [ev(agent="node-1")], "forbidden"),
        ("unknown type", node, [ev(type="no.such.type")], "bad_request"),
        ("type with other case", node, [ev(type="Custom")], "bad_request"),
        ("unknown event key", agent, [ev(extra=1)], "bad_request"),
        ("caller sets seq", node, [ev(seq=5)], "bad_request"),
        ("caller sets ts", node, [ev(ts=5)], "bad_request"),
        ("caller sets by", node, [ev(by="node-1")], "bad_request"),
        ("caller sets role", node, [ev(role="admin")], "bad_request"),
        ("caller sets v", node, [ev(v=1)], "bad_request"),
        ("data over 262,144 bytes", agent, [ev(data={"s": "d" * (MAX_DATA - 7)})], "too_large"),
        ("client_id over 64 bytes", agent, [ev(client_id="c" * 65)], "too_large"),
        ("correlation over 64 bytes", agent, [ev(correlation="c" * 65)], "too_large"),
        ("causation over 64 bytes", agent, [ev(causation="c" * 65)], "too_large"),
        ("257 events", node, [ev() for _ in range(MAX_EVENTS + 1)], "too_large"),
        ("missing type", agent, [ev(type=DROP)], "bad_request"),
        ("missing data", agent, [ev(data=DROP)], "bad_request"),
        ("data not a map", agent, [ev(data=[1, 2])], "bad_request"),
        ("type not a str", agent, [ev(type=7)], "bad_request"),
        ("client_id not a str", agent, [ev(client_id=17)], "bad_request"),
        ("event not a map", agent, ["custom"], "bad_request"),
        #   all or nothing: the second event is bad
        ("one bad event of two", agent, [ev(client_id="aon-1"), ev(type="nope")],
         "bad_request"),
        ("agent type refused after a good one", agent, [ev(client_id="aon-2"),
                                                        ev(type="agent.join")], "forbidden"),
    ]
    for t in sorted(TYPES):
        if "agent" not in TYPES[t]:
            documented.append(("agent appends %s" % t, agent, [ev(type=t, client_id="aon-3")],
                               "forbidden"))
    #   Rules without a code in the text: the code we expect is a guess (see notes)
    guessed = [
        ("client_id empty", agent, [ev(client_id="")]),
        ("client_id with a space", agent, [ev(client_id="a b")]),
        ("client_id with a tab", agent, [ev(client_id="a\tb")]),
        ("client_id not ASCII", agent, [ev(client_id="caf\u00e9")]),
        ("client_id with DEL", agent, [ev(client_id="a\x7f")]),
        ("correlation with a space", agent, [ev(correlation="x y")]),
        ("agent with a bad character", node, [ev(agent="agent/1")]),
        ("agent empty", node, [ev(agent="")]),
        ("agent over 64 bytes", node, [ev(agent="a" * 65)]),
        ("file.write without data.path", agent, [ev(type="file.write", data={"content": "x"})]),
        ("file.write with an empty path", agent, [ev(type="file.write", data={"path": ""})]),
        ("file.write path with NUL", agent, [ev(type="file.write", data={"path": "a\x00b"})]),
        ("file.write path over 4096 bytes", agent,
         [ev(type="file.write", data={"path": "p" * 4097})]),
        ("file.write path not a str", agent, [ev(type="file.write", data={"path": 3})]),
    ]
    requests = [
        ("op other than append", agent, {"op": "delete", "events": [ev()]}, "bad_request"),
        ("no op", agent, {"events": [ev()]}, "bad_request"),
        ("no events", agent, {"op": "append"}, "bad_request"),
        ("empty events", agent, {"op": "append", "events": []}, "bad_request"),
        ("events not an array", agent, {"op": "append", "events": ev()}, "bad_request"),
    ]
    for what, client, events, code in documented:
        check_error(client.append(events), code, what)
    for what, client, events in guessed:
        reply = client.append(events)
        check_error(reply, ("bad_request", "too_large"), what)
        note("code for '%s' is not stated; got %s" % (what, reply["error"]["code"]))
    for what, client, fields, code in requests:
        check_error(client.call("events", fields), code, what)
    #   Duplicate keys in a body reach the worker, which MUST refuse them (PROTOCOL.md 4.1)
    body = (b"\x83\xa2id\xcd\x7f\xff\xa2op\xa6append\xa6events\x91\x83\xa4type\xa6custom"
            b"\xa4data\x80\xa4type\xa6custom")
    #   (the replier cannot read a valid id from such a body: id nil, PROTOCOL.md 4.3)
    check_error(agent.call_body("events", body, None), "bad_request",
                "duplicate keys in an event")
    #   Experts and others may not append at all (PROTOCOL.md 11.4: broker call rule)
    check_error(expert.append([ev()]), "forbidden", "expert calls events")
    #   The error names the first bad event (EVENTS.md 3: how is not said)
    reply = agent.append([ev(), ev(), ev(type="bad.one"), ev(extra=True)])
    check_error(reply, "bad_request", "third event bad")
    msg = reply["error"]["message"]
    if not re.search(r"\b2\b", msg):
        note("error for a batch whose event [2] is bad does not name index 2: %r" % msg)
    else:
        note("error naming the first bad event (index 2 of 4): %r" % msg)
    #   Nothing changed: the next append gets seq == size, and the client ids of refused
    #   batches were not remembered
    probe = [ev(client_id="aon-1"), ev(client_id="aon-2"), ev(client_id="aon-3")]
    reply = agent.append_ok(probe)
    res = check_append_reply(env, reply, 3, "after refusals")
    check_eq([r["seq"] for r in res], [size, size + 1, size + 2], "seqs after the refusals")
    check(all(not r["duplicate"] for r in res), "client ids of refused batches were remembered")
    record(env, res, probe, agent, "agent")


@test
def data_encoding_kept(env):
    """EVENTS.md 2.3 data 'as given': is a non-shortest encoding kept byte for byte?"""
    agent = env.agent
    #   data {"n": 5} with 5 as a uint64, and "s" as a str8
    data_bytes = b"\x82\xa1n\xcf" + (5).to_bytes(8, "big") + b"\xa1s\xd9\x02hi"
    body = (b"\x83\xa2id\xcd\x7f\xfe\xa2op\xa6append\xa6events\x91\x82\xa4type\xa6custom"
            b"\xa4data" + data_bytes)
    reply = agent.call_body("events", body, 0x7ffe)
    check(reply["ok"] is True, "append with wide encodings: %r" % reply)
    res = check_append_reply(env, reply, 1, "wide encodings")
    seq = res[0]["seq"]
    record(env, res, [{"type": "custom", "data": {"n": 5, "s": "hi"}}], agent, "agent")
    raw = agent.read_ok("get", seq=seq, raw=True)["event"]
    if data_bytes in raw:
        note("data is stored byte for byte as sent (uint64 5 and str8 kept)")
    elif pack({"n": 5, "s": "hi"}) in raw:
        note("data is re-encoded in the shortest form (sent uint64 5 and str8 'hi'; the leaf "
             "has fixint and fixstr): 'as given' in EVENTS.md 2.3 means the value, not bytes")
    else:
        note("data encoding in the leaf: %r" % raw)


def fetch_all(env, client):
    """All leaves as (raw bytes, map), by range with raw and without."""
    size = max(env.heads)
    raws, maps = [], []
    for raw, into in ((True, raws), (False, maps)):
        frm = 0
        while frm is not None:
            reply = client.read_ok("range", min_size=size, **{"from": frm, "to": size,
                                                             "limit": 1000, "raw": raw})
            evs = reply["events"]
            check(isinstance(evs, list) and evs, "range from %d: no events" % frm)
            into.extend(evs)
            frm = reply["next"]
            check(frm is None or frm == len(into), "range next %r after %d events"
                  % (frm, len(into)))
    check_eq(len(raws), size, "events read by range")
    check_eq(len(maps), size, "events read by range (maps)")
    return raws, maps


@test
def leaves_as_documented(env):
    """EVENTS.md 2.3: leaf keys, order, values; get map == unpacked raw."""
    client = env.node
    raws, maps = fetch_all(env, client)
    env.raws, env.maps = raws, maps
    check_eq(sorted(env.appended), list(range(len(raws))), "seqs we appended cover the log")
    prev_ts = 0
    now = time.time_ns()
    canonical = True
    for seq, (raw, m) in enumerate(zip(raws, maps)):
        check(isinstance(raw, bytes), "raw event %d is not bin" % seq)
        leaf = strict_unpack(raw)
        check(same(leaf, m), "seq %d: raw leaf %r differs from the map %r" % (seq, leaf, m))
        sent = env.appended[seq]
        want = [k for k in LEAF_KEYS if k in ("seq", "v", "ts", "type", "agent", "by", "role",
                                               "data") or k in sent]
        check_eq(list(leaf.keys()), want, "seq %d: leaf keys in order" % seq)
        check_eq(leaf["seq"], seq, "leaf seq")
        check_eq(leaf["v"], 1, "leaf v")
        check(type(leaf["ts"]) is int and prev_ts <= leaf["ts"] <= now + 10**9
              and leaf["ts"] >= env.t0_ns - 60 * 10**9,
              "seq %d: ts %r not ns wall clock, non-decreasing" % (seq, leaf["ts"]))
        prev_ts = leaf["ts"]
        check_eq(leaf["type"], sent["type"], "seq %d type" % seq)
        check_eq(leaf["agent"], sent.get("agent", sent["by"]), "seq %d agent" % seq)
        check_eq(leaf["by"], sent["by"], "seq %d by" % seq)
        check_eq(leaf["role"], sent["role"], "seq %d role" % seq)
        for k in ("client_id", "correlation", "causation"):
            if k in sent:
                check_eq(leaf[k], sent[k], "seq %d %s" % (seq, k))
        check(same(leaf["data"], sent["data"]), "seq %d data %r != sent %r"
              % (seq, leaf["data"], sent["data"]))
        if pack(leaf) != raw:
            canonical = False
    if canonical:
        note("every leaf is msgpack-python's shortest encoding of its map in the documented "
             "order (EVENTS.md 2.3 does not say how a leaf is encoded)")
    else:
        note("some leaves are not the shortest msgpack encoding of their map")
    #   get, map and raw, for a few seqs; beyond the log; mistyped fields
    for seq in [0, 1, len(raws) // 2, len(raws) - 1]:
        r = client.read_ok("get", seq=seq, raw=True)
        check_eq(r["event"], raws[seq], "get raw %d" % seq)
        r = client.read_ok("get", seq=seq)
        check(same(r["event"], maps[seq]), "get %d map" % seq)
        r = client.read_ok("get", seq=seq, raw=False)
        check(same(r["event"], maps[seq]), "get %d raw false" % seq)
    check_error(client.read("get", seq=len(raws) + 1000), "not_found", "get beyond the log")
    check_error(client.read("get", seq="1"), "bad_request", "get with a str seq")
    check_error(client.read("get"), "bad_request", "get without seq")
    for what, fields in [("get with raw \"yes\"", {"seq": 0, "raw": "yes"}),
                         ("get with raw 1", {"seq": 0, "raw": 1}),
                         ("range with raw \"yes\"", {"from": 0, "raw": "yes"}),
                         ("range with limit \"5\"", {"from": 0, "limit": "5"}),
                         ("range with to \"5\"", {"from": 0, "to": "5"}),
                         ("query with limit \"5\"", {"limit": "5"}),
                         ("query with after \"5\"", {"after": "5"}),
                         ("query with raw 0", {"raw": 0}),
                         ("proof with size \"5\"", {"seq": 0, "size": "5"}),
                         ("consistency with new \"5\"", {"old": 1, "new": "5"}),
                         ("checkpoint with size -1", {"size": -1})]:
        op = what.split()[0]
        r = client.read(op, **fields)
        differs(not r["ok"] and r["error"]["code"] == "bad_request",
                "EVENTS.md 5: 'bad_request for ... mistyped fields', but %s answers %s"
                % (what, "ok" if r["ok"] else r["error"]["code"]))
    reply = client.read("get", seq=-1)
    check_error(reply, ("bad_request", "not_found"), "get with a negative seq")
    note("get seq -1 answers %s" % reply["error"]["code"])
    check_error(client.read("no_such_op"), "bad_request", "unknown op")
    check_error(client.read("range"), "bad_request", "range without from")
    check_error(client.read("range", **{"from": "0"}), "bad_request", "range with a str from")


@test
def range_paging(env):
    """EVENTS.md 5 range: from, to (exclusive), limit (1..1000, default 100), next."""
    client = env.agent
    raws, maps = env.raws, env.maps
    size = len(raws)
    check(size > 100, "log too small for paging checks (%d)" % size)
    #   Default limit and to
    r = client.read_ok("range", min_size=size, **{"from": 0})
    check_eq(len(r["events"]), 100, "range default limit")
    check_eq(r["next"], 100, "range next after the default limit")
    check(is_uint(r["size"]) and r["size"] >= size, "range size")
    #   Paging by 7 from 3 to 40: next is where the page stopped
    got, frm, pages = [], 3, 0
    while frm is not None and frm < 40:
        r = client.read_ok("range", min_size=size, **{"from": frm, "to": 40, "limit": 7,
                                                      "raw": True})
        got.extend(r["events"])
        check(r["next"] is None or r["next"] == 3 + len(got), "range next %r after %d events"
              % (r["next"], len(got)))
        frm = r["next"]
        pages += 1
        check(pages < 20, "range paging does not end")
    check_eq(got, raws[3:40], "range 3..40 by 7")
    check_eq(pages, 6, "pages of 7 for 37 events")
    #   A page that ends exactly at to, or at the end of the log: nil, or to?
    r = client.read_ok("range", min_size=size, **{"from": 10, "to": 20, "limit": 10})
    check(same(r["events"], maps[10:20]), "range 10..20")
    differs(r["next"] is None, "EVENTS.md 5: a range page that reaches 'to' gives next %r, "
            "not nil" % r["next"])
    r = client.read_ok("range", min_size=size, **{"from": size - 3, "raw": True})
    check_eq(r["events"], raws[size - 3:], "range to the end")
    differs(r["next"] is None, "EVENTS.md 5: a range page that reaches the end of the log "
            "gives next %r, not nil" % r["next"])
    r = client.read_ok("range", min_size=size, **{"from": r["size"]})
    check_eq((r["events"], r["next"]), ([], None), "range from the size")
    r = client.read_ok("range", min_size=size, **{"from": 0, "limit": 1000, "raw": True})
    check_eq(r["events"], raws[:min(1000, size)], "range limit 1000")
    #   Limits out of 1..1000 and empty ranges: the document gives no code
    for what, fields in [("limit 0", {"from": 0, "limit": 0}),
                         ("limit 1001", {"from": 0, "limit": 1001}),
                         ("from > to", {"from": 5, "to": 3}),
                         ("from == to", {"from": 5, "to": 5}),
                         ("from beyond the log", {"from": size + 100}),
                         ("to beyond the log", {"from": size - 1, "to": size + 100})]:
        r = client.read("range", min_size=size, **fields)
        if r["ok"]:
            note("range %s: ok, %d events, next %r" % (what, len(r["events"]), r["next"]))
        else:
            note("range %s: %s" % (what, r["error"]["code"]))


def query_all(client, size, page=None, **filters):
    got, after, pages = [], None, 0
    while True:
        fields = dict(filters, raw=True)
        if page:
            fields["limit"] = page
        if after is not None:
            fields["after"] = after
        r = client.read_ok("query", min_size=size, **fields)
        check(isinstance(r["events"], list), "query events")
        if page:
            check(len(r["events"]) <= page, "query returned more than limit")
        got.extend(r["events"])
        pages += 1
        check(pages <= size + 2, "query paging does not end")
        if r["next"] is None:
            return got, pages
        check(is_uint(r["next"]), "query next %r" % r["next"])
        if r["events"] and r["next"] != strict_unpack(r["events"][-1])["seq"]:
            note("query next %r is not the last seq returned" % r["next"])
        after = r["next"]


@test
def query_filters_and_paging(env):
    """EVENTS.md 5 query: agent, type, since (incl), until (excl), after (excl), limit, next."""
    client = env.node   # nodes have no rate limit (PROTOCOL.md 11.4); paging by 1 is many calls
    raws, maps = env.raws, env.maps
    size = len(raws)

    def expect(pred):
        return [raws[i] for i, m in enumerate(maps) if pred(m)]

    ts_mid = maps[size // 2]["ts"]
    ts_q = maps[size // 4]["ts"]
    cases = [
        ("agent agent-1", {"agent": "agent-1"}, lambda m: m["agent"] == "agent-1"),
        ("agent someone", {"agent": "someone.else_7-x"},
         lambda m: m["agent"] == "someone.else_7-x"),
        ("agent nobody", {"agent": "nobody"}, lambda m: False),
        ("type custom", {"type": "custom"}, lambda m: m["type"] == "custom"),
        ("type file.write", {"type": "file.write"}, lambda m: m["type"] == "file.write"),
        ("agent and type", {"agent": "agent-1", "type": "session.end"},
         lambda m: m["agent"] == "agent-1" and m["type"] == "session.end"),
        ("since", {"since": ts_mid}, lambda m: m["ts"] >= ts_mid),
        ("until", {"until": ts_mid}, lambda m: m["ts"] < ts_mid),
        ("since and until", {"since": ts_q, "until": ts_mid},
         lambda m: ts_q <= m["ts"] < ts_mid),
        ("after", {"after": 20}, lambda m: m["seq"] > 20),
        ("type and after", {"type": "custom", "after": 50},
         lambda m: m["type"] == "custom" and m["seq"] > 50),
    ]
    for what, filters, pred in cases:
        want = expect(pred)
        for page in (None, 1, 13, 1000):
            if page is None and len(want) > 100:
                continue   # the default limit of query is not stated
            if page == 1 and len(want) > 40:
                continue
            got, pages = query_all(client, size, page, **filters)
            check(got == want, "query %s (limit %r): %d events, expected %d"
                  % (what, page, len(got), len(want)))
    #   Exactly-full last page: is next nil?
    want = expect(lambda m: m["type"] == "session.start")
    if len(want) >= 1:
        r = client.read_ok("query", min_size=size, type="session.start", limit=len(want))
        note("query whose matches exactly fill limit gives next %r" % r["next"])
    r = client.read_ok("query", min_size=size, limit=5)
    check_eq([strict_unpack(e)["seq"] if isinstance(e, bytes) else e["seq"]
              for e in r["events"]], [0, 1, 2, 3, 4], "query with no filter")
    r = client.read_ok("query", min_size=size, type="custom", limit=3)
    check(all(isinstance(e, dict) for e in r["events"]), "query without raw gives maps")
    r = client.read_ok("query", min_size=size)
    note("query default limit: %d events of %d with no filter" % (len(r["events"]), size))
    for what, fields in [("limit 0", {"limit": 0}), ("limit 1001", {"limit": 1001}),
                         ("type unknown", {"type": "no.such"})]:
        r = client.read("query", min_size=size, **fields)
        note("query %s: %s" % (what, ("ok, %d events" % len(r["events"])) if r["ok"]
                               else r["error"]["code"]))
    check_error(client.read("query", agent=5), "bad_request", "query with an int agent")
    check_error(client.read("query", since="x"), "bad_request", "query with a str since")


@test
def merkle_roots(env):
    """EVENTS.md 4.1: every root an append reply gave is the RFC 6962 MTH of its prefix."""
    hashes = [leaf_hash(r) for r in env.raws]
    env.hashes = hashes
    check(len(env.heads) > 10, "few tree heads recorded")
    for size, root in sorted(env.heads.items()):
        if size <= len(hashes):
            check_eq(root, mth(hashes[:size]), "root of tree size %d" % size)
    check_eq(mth([]), bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b"
                                    "7852b855"), "empty tree")


@test
def inclusion_proofs(env):
    """EVENTS.md 5 proof: leaf_hash, RFC 6962 path, checkpoint root and signatures."""
    client = env.expert   # experts may read
    hashes = env.hashes
    n = len(hashes)
    sizes = sorted(s for s in env.heads if s <= n)
    picks = []
    for size in [sizes[0], sizes[1], sizes[len(sizes) // 2], sizes[-1]]:
        for seq in sorted({0, size // 2, size - 1, min(size - 1, 5)}):
            picks.append((seq, size))
    picks += [(s, None) for s in (0, n // 3, n - 1)]
    for seq, size in picks:
        fields = {"seq": seq}
        if size is not None:
            fields["size"] = size
        r = client.read_ok("proof", min_size=0, **fields)
        for key in ["seq", "size", "leaf_hash", "proof", "checkpoint"]:
            check(key in r, "proof reply lacks %r" % key)
        check_eq(r["seq"], seq, "proof seq")
        if size is not None:
            check_eq(r["size"], size, "proof size")
        tree = r["size"]
        check(tree <= n or tree in env.heads, "proof size %d unknown" % tree)
        check_eq(r["leaf_hash"], hashes[seq], "leaf_hash of %d is SHA-256(0x00 || raw)" % seq)
        proof = r["proof"]
        check(isinstance(proof, list) and all(isinstance(p, bytes) and len(p) == 32
                                              for p in proof), "proof is an array of bin 32")
        csize, croot, _ = verify_note(env, r["checkpoint"], tree)
        check(verify_inclusion(seq, tree, hashes[seq], proof, croot),
              "inclusion of %d in %d does not verify against the checkpoint" % (seq, tree))
        if tree <= n:
            check_eq(proof, rfc6962_path(seq, hashes[:tree]), "proof is RFC 6962 PATH")
        #   The verifier itself rejects what it should
        if proof:
            bad = list(proof)
            bad[0] = bytes([bad[0][0] ^ 1]) + bad[0][1:]
            check(not verify_inclusion(seq, tree, hashes[seq], bad, croot), "tampered proof")
        check(not verify_inclusion(seq, tree, hashlib.sha256(b"x").digest(), proof, croot),
              "wrong leaf accepted")
    check_error(client.read("proof", seq=n + 500, retry_not_found=False),
                ("not_found", "bad_request"), "proof of a seq beyond the log")
    r = client.read("proof", seq=0, size=sizes[1] + 1 if sizes[1] + 1 not in env.heads else n + 9)
    note("proof at a size that is not checkpointed: %s" % (
        "ok" if r["ok"] else r["error"]["code"]))
    r = client.read("proof", seq=sizes[0], size=sizes[0])
    check_error(r, ("bad_request", "not_found"), "proof of seq == size")
    note("proof of seq == size: %s" % r["error"]["code"])


@test
def consistency_proofs(env):
    """EVENTS.md 5 consistency: old_root, RFC 6962 PROOF, verified as RFC 9162 2.1.4.2."""
    client = env.node
    hashes = env.hashes
    n = len(hashes)
    sizes = sorted(s for s in env.heads if s <= n)
    pairs = []
    for new in [sizes[1], sizes[len(sizes) // 2], sizes[-1]]:
        for old in sorted({1, 2, 3, 4, 7, 8, new // 2, new - 1, new}):
            if 1 <= old <= new:
                pairs.append((old, new))
    pairs += [(1, None), (n // 2, None)]
    for old, new in pairs:
        fields = {"old": old}
        if new is not None:
            fields["new"] = new
        r = client.read_ok("consistency", **fields)
        for key in ["old", "new", "old_root", "proof", "checkpoint"]:
            check(key in r, "consistency reply lacks %r" % key)
        check_eq(r["old"], old, "consistency old")
        if new is not None:
            check_eq(r["new"], new, "consistency new")
        tree = r["new"]
        check_eq(r["old_root"], mth(hashes[:old]), "old_root is the MTH of %d leaves" % old)
        _, croot, _ = verify_note(env, r["checkpoint"], tree)
        proof = r["proof"]
        check(isinstance(proof, list) and all(isinstance(p, bytes) and len(p) == 32
                                              for p in proof), "proof is an array of bin 32")
        check(verify_consistency(old, tree, r["old_root"], croot, proof),
              "consistency %d -> %d does not verify" % (old, tree))
        if tree <= n:
            want = rfc6962_proof(old, hashes[:tree]) if old < tree else []
            check_eq(proof, want, "consistency %d -> %d is RFC 6962 PROOF" % (old, tree))
        if proof:
            bad = list(proof)
            bad[-1] = bytes(32)
            check(not verify_consistency(old, tree, r["old_root"], croot, bad),
                  "tampered consistency proof accepted")
        if old < tree:
            check(not verify_consistency(old, tree, hashlib.sha256(b"x").digest(), croot, proof),
                  "wrong old root accepted")
    check_error(client.read("consistency", old=0), "bad_request", "consistency old 0")
    check_error(client.read("consistency"), "bad_request", "consistency without old")
    r = client.read("consistency", old=sizes[2], new=sizes[1])
    check(not r["ok"], "consistency old > new answered ok: %r" % r)
    note("consistency old > new: %s" % r["error"]["code"])


@test
def checkpoints_signed_by_all(env):
    """EVENTS.md 4.2: each replica signs; peers' signatures are merged into one note."""
    client = env.node
    n = len(env.raws)
    best = [set()]

    def signed_by_all():
        r = client.read_ok("checkpoint", min_size=n)
        check(is_uint(r["size"]), "checkpoint size")
        size, root, names = verify_note(env, r["checkpoint"], r["size"])
        if size == n:
            check_eq(root, mth(env.hashes), "latest checkpoint root")
        best[0] = names
        if names == set(REPLICAS):
            env.latest = r
            return True
        return False
    check(wait_until(signed_by_all, 15, 0.2), "latest checkpoint never carried all three "
          "signatures; best %r" % best[0])
    check_eq(env.latest["size"], n, "latest checkpoint covers every event")
    #   An older size: its own checkpoint
    old = sorted(env.heads)[3]
    r = client.read_ok("checkpoint", size=old)
    check_eq(r["size"], old, "checkpoint size asked for")
    verify_note(env, r["checkpoint"], old, env.heads[old])
    r0 = client.read_ok("checkpoint", size=0)
    check_eq(r0["size"], n, "checkpoint size 0 means the latest")
    check_error(client.read("checkpoint", size=n + 1000), "not_found", "checkpoint of an "
                "unknown size")
    check_error(client.read("checkpoint", size="1"), "bad_request", "checkpoint with a str size")
    #   A signature that does not verify is detected by this verifier
    text, _, _, _, sigs = parse_note(env.latest["checkpoint"])
    forged = env.latest["checkpoint"].replace(text.split("\n")[1] + "\n", "%d\n" % (n + 1), 1)
    try:
        verify_note(env, forged)
        raise Failure("a note with a changed size verified")
    except Failure as exc:
        check("does not verify" in str(exc), "forged note: %s" % exc)


@test
def checkpoint_notifications(env):
    """EVENTS.md 6: events.read.checkpoint {replica, size, checkpoint}, every second."""
    sub = env.sub
    seen = {}

    def three():
        for topic, body in sub.drain():
            if topic != b"events.read.checkpoint":
                continue
            check(isinstance(body.get("replica"), str) and is_uint(body.get("size"))
                  and isinstance(body.get("checkpoint"), str),
                  "checkpoint notification body %r" % body)
            if "time_ms" not in body:
                note("events.read.checkpoint notifications carry no time_ms (PROTOCOL.md 10 "
                     "frame 1 says every notification map has one)")
            size, root, names = verify_note(env, body["checkpoint"], body["size"])
            seen[body["replica"]] = (size, names)
        return len(seen) >= 3
    check(wait_until(three, 6, 0.1), "notifications from %r only" % sorted(seen))
    for replica, (size, names) in seen.items():
        check_eq(len(names), 1, "a notification carries one replica's signature")
        if replica in REPLICAS:
            check_eq(names, {replica}, "signature of replica %s" % replica)
    note("checkpoint notifications name replicas %r" % sorted(seen))


def write_export(path, origin, records, size, checkpoint):
    with open(path, "wb") as f:
        f.write(pack({"format": "lighthouse-log/1", "origin": origin}))
        for seq, leaf in records:
            f.write(pack({"seq": seq, "leaf": leaf}))
        f.write(pack({"size": size, "checkpoint": checkpoint}))


def lh_verify(env, path, *extra):
    out = subprocess.run([env.lh_path, "verify", "--export", path, "--keys", env.keys_path]
                         + list(extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=30)
    return out.returncode, out.stdout.decode(errors="replace")


@test
def export_verified_by_lh(env):
    """EVENTS.md 7: an export built from raw reads passes `lh verify`; corruptions fail."""
    size = env.latest["size"]
    raws = env.raws[:size]
    records = list(enumerate(raws))
    cp = env.latest["checkpoint"]
    good = os.path.join(env.tmp, "export.lhlog")
    write_export(good, ORIGIN, records, size, cp)
    rc, out = lh_verify(env, good)
    check(rc == 0 and "verified:" in out, "lh verify of our export: exit %d: %s" % (rc, out))
    rc, out = lh_verify(env, good, "--quorum", "3")
    check(rc == 0, "lh verify --quorum 3: exit %d: %s" % (rc, out))
    rc, out = lh_verify(env, good, "--quorum", "4")
    check(rc == 1 and "FAILED: too_few_signatures" in out, "--quorum 4: exit %d: %s" % (rc, out))
    rc, out = lh_verify(env, good, "--origin", ORIGIN)
    check(rc == 0, "lh verify --origin %s: exit %d: %s" % (ORIGIN, rc, out))
    rc, out = lh_verify(env, good, "--origin", "other.example/log")
    check(rc == 1, "lh verify --origin of another log: exit %d: %s" % (rc, out))
    note("lh verify --export --origin of another log: %r" % out.strip())
    other = os.path.join(env.tmp, "other-origin.lhlog")
    write_export(other, "other.example/log", records, size, cp)
    rc, out = lh_verify(env, other)
    note("an export whose header origin differs from its checkpoints' origin: exit %d %r"
         % (rc, out.strip()))

    def failing(what, recs, kind, seq, cp=cp, size=size):
        path = os.path.join(env.tmp, "bad.lhlog")
        write_export(path, ORIGIN, recs, size, cp)
        rc, out = lh_verify(env, path)
        check(rc == 1, "%s: lh verify exit %d (want 1): %s" % (what, rc, out))
        m = re.search(r"FAILED: (\S+) at sequence (\d+)", out)
        check(m, "%s: no 'FAILED: <kind> at sequence <seq>' in %r" % (what, out))
        if seq is not None:
            check_eq(int(m.group(2)), seq, "%s: sequence named (%s)" % (what, out.strip()))
        if isinstance(kind, str):
            check_eq(m.group(1), kind, "%s: kind (%s)" % (what, out.strip()))
        elif kind is not None:
            check(m.group(1) in kind, "%s: kind %s not in %r" % (what, m.group(1), kind))
        return m.group(1), int(m.group(2)), out.strip()

    #   One leaf byte changed so that the event is no longer valid: "custom" -> "bustom"
    k = env.many_first + 100
    check(b"\xa6custom" in raws[k], "leaf %d is not a custom event" % k)
    pos = raws[k].index(b"\xa6custom") + 1
    leaf = raws[k][:pos] + bytes([raws[k][pos] ^ 0x01]) + raws[k][pos + 1:]
    recs = list(records)
    recs[k] = (k, leaf)
    failing("one leaf byte changed (type)", recs, ("malformed", "leaf_hash_mismatch",
                                                    "root_mismatch"), k)
    #   One leaf byte changed so that the event stays valid: the value of data.k (a fixint).
    #   An export holds no per-leaf hash and one checkpoint (EVENTS.md 7), so a verifier can
    #   only see that the root differs; which sequence it names is not specified.
    leaf = bytearray(raws[k])
    check(raws[k].endswith(b"\xa1k" + bytes([leaf[-1]])) and leaf[-1] < 0x7f,
          "leaf %d is not one of the 256 {k: i} events: %r" % (k, raws[k]))
    leaf[-1] ^= 0x01
    check(strict_unpack(bytes(leaf))["data"]["k"] == raws[k][-1] ^ 1, "corrupted leaf parses")
    recs = list(records)
    recs[k] = (k, bytes(leaf))
    kind, seq, out = failing("one leaf byte changed (data, still valid)", recs,
                             ("leaf_hash_mismatch", "root_mismatch"), None)
    if seq != k:
        note("lh verify of an export whose leaf %d has a changed data byte (still a valid "
             "event) names sequence %d, not %d: %r" % (k, seq, k, out))
    #   Several checkpoints in one export (EVENTS.md 7 lists one): accepted? narrower?
    heads = sorted(s for s in env.heads if s <= size)
    cps = {h: env.node.read_ok("checkpoint", size=h)["checkpoint"] for h in heads[-40:-1:6]}
    path = os.path.join(env.tmp, "multi.lhlog")
    with open(path, "wb") as f:
        f.write(pack({"format": "lighthouse-log/1", "origin": ORIGIN}))
        for seq_i, leaf_i in recs:
            f.write(pack({"seq": seq_i, "leaf": leaf_i}))
            if seq_i + 1 in cps:
                f.write(pack({"size": seq_i + 1, "checkpoint": cps[seq_i + 1]}))
        f.write(pack({"size": size, "checkpoint": cp}))
    rc, out = lh_verify(env, path)
    note("export with %d extra checkpoints between the leaves (leaf %d changed): exit %d, %r"
         % (len(cps), k, rc, out.strip()))
    #   The first leaf, and the last, made invalid
    for j in (0, size - 1):
        recs = list(records)
        recs[j] = (j, raws[j][:-1])
        failing("last byte of leaf %d cut" % j, recs, "malformed", j)
    #   A leaf that no longer parses
    recs = list(records)
    recs[k] = (k, b"\xc1" + raws[k][1:])
    failing("leaf that does not parse", recs, "malformed", k)
    #   A leaf missing
    recs = list(records)
    del recs[k]
    failing("a leaf missing", recs, "sequence_gap", k)
    #   A signature changed
    text, _, _, _, sigs = parse_note(cp)
    name, kid, sig = sigs[0]
    bad_sig = base64.b64encode(kid + bytes([sig[0] ^ 1]) + sig[1:]).decode()
    bad_cp = cp.replace(base64.b64encode(kid + sig).decode(), bad_sig)
    failing("a bad signature", records, "bad_signature", None, cp=bad_cp)
    #   The checkpoint of an older tree head does not cover every event
    old = sorted(s for s in env.heads if s < size)[-1]
    old_cp = env.node.read_ok("checkpoint", size=old)["checkpoint"]
    kind, seq, out = failing("checkpoint older than the leaves", records, None, None, cp=old_cp,
                             size=old)
    note("lh verify of leaves 0..%d under a checkpoint of size %d: %r" % (size, old, out))


@test
def large_events_read_back(env):
    """EVENTS.md 5: a range or query reply stops short of the 1 MiB body limit (at least
    one event) and its next says where to go on: four events of the largest data
    (2.2) do not fit in one reply."""
    node = env.node
    first = None
    for i in range(4):
        ev = {"type": "custom", "data": {"s": chr(ord("a") + i) * (MAX_DATA - 8)},
              "client_id": "large-%d" % i}
        res = check_append_reply(env, node.append_ok([ev]), 1, "large event")
        record(env, res, [ev], node, "node")
        first = res[0]["seq"] if first is None else first
    size = first + 4
    want = [node.read_ok("get", seq=first + i, raw=True)["event"] for i in range(4)]
    for i, raw in enumerate(want):
        check_eq(strict_unpack(raw)["data"]["s"], chr(ord("a") + i) * (MAX_DATA - 8),
                 "get of large event %d" % i)
    for op, raw in (("range", True), ("range", False), ("query", True)):
        got, pos, pages = [], first, 0
        while pos is not None and pos < size:
            if op == "range":
                r = node.read_ok("range", min_size=size, **{"from": pos, "to": size, "raw": raw})
            else:
                r = node.read_ok("query", min_size=size, after=pos - 1, raw=raw)
            pages += 1
            check(1 <= len(r["events"]), "%s page from %d is empty" % (op, pos))
            check(pages <= 4, "%s of large events does not end" % op)
            got.extend(r["events"])
            if op == "range":
                check(r["next"] is None or r["next"] == first + len(got),
                      "range next %r after %d events" % (r["next"], len(got)))
                pos = r["next"]
            else:
                check(r["next"] is None or r["next"] == first + len(got) - 1,
                      "query next %r after %d events" % (r["next"], len(got)))
                pos = None if r["next"] is None else r["next"] + 1
            if len(got) >= 4:
                break
        check(pages >= 2, "%s answered 4 x 262 KB in one reply" % op)
        expect = want if raw else [strict_unpack(w) for w in want]
        check(same(got[:4], expect), "%s of large events: %d events, not the 4 leaves"
              % (op, len(got)))


@test
def signatures_published_again(env):
    """EVENTS.md 4.2: each replica publishes its latest signature again every second."""
    sub = env.sub
    sub.drain()
    sub.messages = []
    size = max(env.heads)

    def twice():
        counts = {}
        for topic, body in sub.drain():
            if topic == b"events.read.checkpoint" and body.get("size") == size:
                counts[body["replica"]] = counts.get(body["replica"], 0) + 1
        return len(counts) == 3 and min(counts.values()) >= 2 and counts
    check(wait_until(twice, 3.5, 0.1), "latest signature of every replica not seen twice "
          "within 3.5 s of the last append")


@test
def no_integrity_alerts(env):
    """EVENTS.md 6: nothing above is a violation, so no replica raised an alert."""
    r = env.node.read_ok("query", type="integrity.alert", limit=1000)
    alerts = [e for e in r["events"] if e["by"] != "node-1"]   # ours are by node-1
    check_eq(alerts, [], "integrity.alert events appended by replicas")
    for topic, body in env.sub.drain():
        check(topic != b"events.read.alert", "alert notification: %r" % body)
    check_eq(env.dead(), [], "processes that exited")


def main(argv):
    if len(argv) != 4 or not all(os.access(p, os.X_OK) for p in argv[1:]):
        print("usage: test_events.py PATH/TO/lh-broker PATH/TO/lh-integrity PATH/TO/lh",
              file=sys.stderr)
        return 2

    def on_signal(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(170)  # under CTest's TIMEOUT, so cleanup still runs
    passed = failed = 0
    env = None
    t_start = time.monotonic()
    try:
        env = Env(*argv[1:])
        env.start()
        env.agent = env.client("agent-1")
        env.node = env.client("node-1")
        env.expert = env.client("expert-1")
        env.sub = Subscriber(env, "admin", b"events.read.")
        env.subs.append(env.sub)
        for fn in TESTS:
            t0 = time.monotonic()
            try:
                fn(env)
                passed += 1
                print("ok   %-32s %.2fs" % (fn.__name__, time.monotonic() - t0), flush=True)
            except Exception as exc:
                failed += 1
                print("FAIL %-32s %s" % (fn.__name__, exc), flush=True)
                if not isinstance(exc, Failure):
                    traceback.print_exc()
                if fn is cluster_up:
                    break
            dead = env.dead()
            if dead:
                failed += 1
                print("FAIL processes exited: %s" % ", ".join(dead), flush=True)
                break
    except BaseException as exc:
        failed += 1
        print("FAIL interop_events run aborted: %r" % (exc,), flush=True)
        traceback.print_exc()
    finally:
        if failed and env is not None:
            for name in ["broker.log"] + ["%s.log" % r for r in REPLICAS]:
                print("---- %s (tail) ----\n%s" % (name, env.log_tail(name)))
        for text in NOTES:
            print("note: " + text)
        for text in DIFFS:
            print("spec: " + text)
        if env is not None:
            env.close(keep=bool(os.environ.get("LH_TEST_KEEP")))
            if os.environ.get("LH_TEST_KEEP"):
                print("kept " + env.tmp)
    print("interop_events: %d passed, %d failed, %d contradictions with the documents, %d notes "
          "(%.1fs)" % (passed, failed, len(DIFFS), len(NOTES), time.monotonic() - t_start),
          flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
