#!/usr/bin/python3
"""Lighthouse interop test.

Drives the real lh-broker over CURVE with a client and workers written in
Python from docs/PROTOCOL.md alone: no Lighthouse C code is used, only
the frames, maps, limits and rules that document states.

    /usr/bin/python3 test_interop.py PATH/TO/lh-broker

Prints one line per test and a closing "interop: N passed, M failed";
exits non-zero when any test fails. The broker is stopped on every path
(exceptions, SIGINT/SIGTERM, and via PR_SET_PDEATHSIG if this process is
killed outright).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import zmq

from lhproto import (ERROR_CODES, Failure, StrictError, _die_with_parent, check, free_ports, pack,
                     strict_unpack, wait_until)

#   PROTOCOL.md section "Frames"
MDPC = b"MDPC01"
MDPW = b"MDPW01"
READY, REQUEST, REPLY, HEARTBEAT, DISCONNECT = b"\x01", b"\x02", b"\x03", b"\x04", b"\x05"

#   PROTOCOL.md section "Limits"
MAX_BODY = 1024 * 1024
MAX_STR = 512 * 1024
MAX_KEY = 64
MAX_ITEMS = 4096
MAX_DEPTH = 16
MAX_SERVICE = 64
MAX_FRAMES = 8
MAX_CAPACITY = 1024
HARD_MAX_MSG = 2 * MAX_BODY + 4096


#   Broker settings this test runs with (written into the config file)
HEARTBEAT_MS = 300
LIVENESS = 5
DEFAULT_TIMEOUT_MS = 1500
SHORT_TIMEOUT_MS = 400


def same(a, b):
    """Equality that does not confuse True with 1 or 1.0 with 1."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def check_eq(actual, expected, what):
    if not same(actual, expected):
        raise Failure("%s: expected %r, got %r" % (what, expected, actual))


#   ------------------------------------------------------------------------
#   Peers

def curve_socket(env, kind, keypair):
    sock = env.ctx.socket(kind)
    sock.linger = 1000
    sock.curve_serverkey = env.server_public
    sock.curve_publickey, sock.curve_secretkey = keypair
    return sock


class Client:
    """7/MDP client on a DEALER: sends [empty, MDPC01, service, body]."""

    def __init__(self, env, name, keypair=None):
        self.env = env
        self.name = name
        self.sock = curve_socket(env, zmq.DEALER, keypair or env.keys[name])
        self.sock.connect(env.frontend)
        self.next_id = 1
        self.strays = []

    def close(self):
        self.sock.close(0)

    def new_id(self):
        rid = self.next_id
        self.next_id += 1
        return rid

    def send(self, service, body):
        if isinstance(service, str):
            service = service.encode()
        self.sock.send_multipart([b"", MDPC, service, body])

    def recv(self, timeout):
        """Next reply as (service, body bytes), or None. Checks the reply frames."""
        if not self.sock.poll(int(timeout * 1000)):
            return None
        frames = self.sock.recv_multipart()
        check(len(frames) == 4, "reply must have 4 frames, got %d: %r" % (len(frames), frames[:4]))
        check(frames[0] == b"", "reply frame 1 must be empty")
        check(frames[1] == MDPC, "reply frame 2 must be MDPC01, got %r" % frames[1])
        return frames[2], frames[3]

    def wait_reply(self, rid, timeout=3.0):
        """The reply map whose id equals rid (None: nil id), as (service, map)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            got = self.recv(max(left, 0)) if left > 0 else None
            if got is None:
                raise Failure("%s: no reply with id %r within %.1fs" % (self.name, rid, timeout))
            service, body = got
            reply = strict_unpack(body)
            check("id" in reply and "ok" in reply, "reply lacks id or ok: %r" % reply)
            check(isinstance(reply["ok"], bool), "ok must be a bool: %r" % reply)
            if not reply["ok"]:
                check_error_shape(reply)
            if same(reply["id"], rid):
                return service, reply
            self.strays.append(reply)

    def call(self, service, fields=None, rid="auto", timeout=3.0):
        if rid == "auto":
            rid = self.new_id()
        body = dict(fields or {})
        body["id"] = rid
        self.send(service, pack(body))
        return self.wait_reply(rid, timeout)

    def call_ok(self, service, fields=None, timeout=3.0):
        svc, reply = self.call(service, fields, timeout=timeout)
        check(reply["ok"] is True, "%s: expected ok, got %r" % (service, reply))
        check_eq(svc, service.encode(), "reply service frame")
        return reply

    def call_body(self, service, body, expect_id=None, timeout=3.0):
        self.send(service, body)
        return self.wait_reply(expect_id, timeout)

    def call_frames(self, frames, expect_id=None, timeout=3.0):
        self.sock.send_multipart(frames)
        return self.wait_reply(expect_id, timeout)


def check_error_shape(reply):
    check(isinstance(reply.get("error"), dict), "failed reply needs an error map: %r" % reply)
    error = reply["error"]
    check(isinstance(error.get("code"), str) and error["code"] in ERROR_CODES,
          "error code not on the list: %r" % error)
    check(isinstance(error.get("message"), str), "error message must be a str: %r" % error)
    check(len(error["message"].encode()) <= 512, "error message longer than 512 bytes")


def check_error(got, code, rid, service=None, what=""):
    svc, reply = got
    check(reply["ok"] is False, "%s: expected error %s, got %r" % (what, code, reply))
    check_eq(reply["error"]["code"], code, "%s: error code" % what)
    check_eq(reply["id"], rid, "%s: echoed id" % what)
    if service is not None:
        check_eq(svc, service, "%s: reply service frame" % what)


class Worker(threading.Thread):
    """7/MDP worker on a DEALER, with the Lighthouse READY options and caller frame.

    handler(worker, body, caller) returns a reply map, None (no answer),
    ("hold", reply) to answer when release() is called, or "disconnect"
    to send DISCONNECT while holding the request and stop.
    """

    def __init__(self, env, service, keyname, capacity=1, handler=None, send_options=True,
                 heartbeat=True, routing_id=None, polite=True):
        super().__init__(daemon=True)
        self.env = env
        self.service = service
        self.keyname = keyname
        self.capacity = capacity
        self.handler = handler or echo_handler
        self.send_options = send_options
        self.heartbeat = heartbeat
        self.routing_id = routing_id
        self.polite = polite
        self.stop_event = threading.Event()
        self.release_event = threading.Event()
        self.disconnected = threading.Event()  # the broker sent DISCONNECT
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.requests = []  # (caller, body)
        self.errors = []  # protocol violations seen from the broker
        self.heartbeats = 0
        self.rejected = 0  # bodies the broker forwarded that break PROTOCOL.md 4.1
        self.held = []

    @property
    def hex_id(self):
        return self.routing_id.hex() if self.routing_id else None

    def request_count(self):
        with self.lock:
            return len(self.requests)

    def release(self):
        self.release_event.set()

    def stop(self):
        self.stop_event.set()
        self.done.wait(5)

    def run(self):
        try:
            self._run()
        except Exception as exc:
            self.errors.append("worker crashed: %r" % exc)
        finally:
            self.done.set()

    def _run(self):
        sock = curve_socket(self.env, zmq.DEALER, self.env.keys[self.keyname])
        if self.routing_id:
            sock.routing_id = self.routing_id
        sock.connect(self.env.backend)
        ready = [b"", MDPW, READY, self.service.encode()]
        if self.send_options:
            ready.append(pack({"capacity": self.capacity}))
        sock.send_multipart(ready)
        next_hb = time.monotonic() + HEARTBEAT_MS / 1000
        said_goodbye = False
        try:
            while not self.stop_event.is_set():
                now = time.monotonic()
                if self.heartbeat and now >= next_hb:
                    sock.send_multipart([b"", MDPW, HEARTBEAT])
                    next_hb = now + HEARTBEAT_MS / 1000
                if self.release_event.is_set():
                    self.release_event.clear()
                    for frames in self.held:
                        sock.send_multipart(frames)
                    self.held = []
                if sock.poll(20):
                    action = self._handle(sock, sock.recv_multipart())
                    if action == "stop":
                        said_goodbye = True
                        break
        finally:
            if self.polite and not said_goodbye:
                sock.send_multipart([b"", MDPW, DISCONNECT])
            sock.close()

    def _handle(self, sock, msg):
        if len(msg) < 3 or msg[0] != b"" or msg[1] != MDPW or len(msg[2]) != 1:
            self.errors.append("bad frames from broker: %r" % msg[:4])
            return None
        command = msg[2]
        if command == HEARTBEAT:
            if len(msg) != 3:
                self.errors.append("HEARTBEAT with extra frames")
            self.heartbeats += 1
        elif command == DISCONNECT:
            self.disconnected.set()
            return "stop"
        elif command == REQUEST:
            return self._request(sock, msg)
        else:
            self.errors.append("unexpected command %r" % command)
        return None

    def _request(self, sock, msg):
        if len(msg) != 7 or len(msg[3]) != 8 or msg[4] != b"":
            self.errors.append("REQUEST must be [empty, MDPW01, 0x02, token(8), empty, "
                               "caller, body], got %d frames" % len(msg))
            return None
        token = msg[3]
        try:
            caller = strict_unpack(msg[5])
        except StrictError as exc:
            self.errors.append("caller frame: %s" % exc)
            return None
        if set(caller) != {"key", "agent", "role"}:
            self.errors.append("caller frame keys: %r" % sorted(caller))
        elif self.env.roster.get(caller["key"]) != (caller["agent"], caller["role"]):
            self.errors.append("caller frame %r does not match the roster" % caller)
        try:
            body = strict_unpack(msg[6])
        except StrictError as exc:
            self.rejected += 1
            self.errors.append("broker forwarded a body that breaks the rules: %s" % exc)
            reply = {"id": None, "ok": False, "error": {"code": "bad_request", "message": str(exc)}}
            sock.send_multipart([b"", MDPW, REPLY, token, b"", pack(reply)])
            return None
        with self.lock:
            self.requests.append((caller, body))
        result = self.handler(self, body, caller)
        if result is None:
            return None
        if result == "disconnect":
            sock.send_multipart([b"", MDPW, DISCONNECT])
            return "stop"
        if isinstance(result, tuple) and result[0] == "hold":
            self.held.append([b"", MDPW, REPLY, token, b"", pack(result[1])])
            return None
        sock.send_multipart([b"", MDPW, REPLY, token, b"", pack(result)])
        return None


def echo_handler(worker, body, caller):
    return {"id": body.get("id"), "ok": True, "echo": body, "caller": caller,
            "worker": worker.hex_id}


class Subscriber:
    """SUB on the notification socket, collecting [topic, map] messages."""

    def __init__(self, env, keyname):
        self.sock = curve_socket(env, zmq.SUB, env.keys[keyname])
        self.sock.setsockopt(zmq.SUBSCRIBE, b"broker.")
        self.sock.connect(env.pub)
        self.events = []
        self.errors = []

    def drain(self):
        while self.sock.poll(0):
            frames = self.sock.recv_multipart()
            if len(frames) != 2:
                self.errors.append("notification must have 2 frames: %r" % frames)
                continue
            try:
                self.events.append((frames[0], strict_unpack(frames[1])))
            except StrictError as exc:
                self.errors.append("notification body: %s" % exc)
        return self.events

    def find(self, topic, **fields):
        for t, event in self.drain():
            if t == topic and all(same(event.get(k), v) for k, v in fields.items()):
                return event
        return None

    def close(self):
        self.sock.close(0)


#   ------------------------------------------------------------------------
#   The broker under test


class Env:
    NAMES = {"admin": "admin", "agent-1": "agent", "expert-1": "expert", "node-1": "node"}

    def __init__(self, broker_path):
        self.broker_path = broker_path
        self.tmp = tempfile.mkdtemp(prefix="lh-interop-")
        self.ctx = zmq.Context()
        self.proc = None
        self.workers = []
        self.clients = []
        self.keys = {name: zmq.curve_keypair() for name in self.NAMES}
        self.keys["rogue"] = zmq.curve_keypair()  # never on the roster
        self.server_public, self.server_secret = zmq.curve_keypair()
        self.roster = {self.keys[n][0].decode(): (n, role) for n, role in self.NAMES.items()}
        self._write_files()

    def _write_files(self):
        self.cert_path = os.path.join(self.tmp, "broker.cert")
        with open(self.cert_path, "w") as f:
            f.write("#   ZeroMQ CURVE **Secret** Certificate (czmq zcert format)\n"
                    "metadata\n    name = \"interop-broker\"\n"
                    "curve\n    public-key = \"%s\"\n    secret-key = \"%s\"\n"
                    % (self.server_public.decode(), self.server_secret.decode()))
        self.roster_path = os.path.join(self.tmp, "roster.zpl")
        with open(self.roster_path, "w") as f:
            f.write("#   Lighthouse roster written by the interop test\nprincipal\n")
            for name, role in self.NAMES.items():
                f.write("    %s\n        key = \"%s\"\n        role = %s\n"
                        % (name, self.keys[name][0].decode(), role))

    def _write_config(self, ports):
        self.frontend, self.backend, self.pub = ("tcp://127.0.0.1:%d" % p for p in ports)
        path = os.path.join(self.tmp, "broker.cfg")
        with open(path, "w") as f:
            f.write(
                "broker\n"
                "    frontend = \"%s\"\n    backend = \"%s\"\n    pub = \"%s\"\n"
                "    cert = \"%s\"\n    roster = \"%s\"\n"
                "    heartbeat = %d\n    liveness = %d\n    request_timeout = %d\n"
                "    max_retries = 1\n"
                "service\n"
                "    echo\n        timeout = 3000\n"
                "    secret\n"
                "    nowork\n        timeout = %d\n        queue_max = 1\n"
                "    slow\n        timeout = %d\n"
                "    cap\n        timeout = 3000\n"
                "    plain\n"
                "    flaky\n        timeout = 3000\n"
                "    doomed\n        timeout = 3000\n"
                "role\n"
                "    expert\n        rate = 1\n        burst = 3\n"
                #   Admins serve nothing; nodes serve the test's services. The
                #   internal prefixes are listed to show they stay unservable.
                "    node\n        serve = \"echo plain cap slow dynamic flaky doomed"
                " mmi.* broker.*\"\n"
                % (self.frontend, self.backend, self.pub, self.cert_path, self.roster_path,
                   HEARTBEAT_MS, LIVENESS, DEFAULT_TIMEOUT_MS, SHORT_TIMEOUT_MS,
                   SHORT_TIMEOUT_MS))
        return path

    def start(self):
        for attempt in range(5):
            config = self._write_config(free_ports(3))
            self.log_path = os.path.join(self.tmp, "broker.log")
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen([self.broker_path, "-c", config], stdout=log,
                                         stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
            log.close()
            self.admin = Client(self, "admin")
            up = False
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline and self.proc.poll() is None:
                self.admin.send("broker.ping", pack({"id": 0}))
                got = self.admin.recv(0.3)
                if got:
                    up = True
                    break
            if up:
                #   Drain further answers to the readiness pings
                while self.admin.recv(0.2):
                    pass
                return
            self.admin.close()
            self.stop_broker()
            print("interop: broker did not come up (attempt %d), retrying" % (attempt + 1))
        raise Failure("broker did not start; log:\n" + self.log_tail())

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(f.readlines()[-lines:]).decode(errors="replace")
        except OSError:
            return "(no log)"

    def stop_broker(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def client(self, name, keypair=None):
        c = Client(self, name, keypair)
        self.clients.append(c)
        return c

    def worker(self, service, keyname, **kw):
        w = Worker(self, service, keyname, **kw)
        self.workers.append(w)
        w.start()
        return w

    def stats(self):
        reply = self.admin.call_ok("broker.stats")
        return reply

    def counters(self):
        return self.stats()["counters"]

    def service_workers(self, name):
        reply = self.admin.call_ok("mmi.service", {"name": name})
        return reply["workers"]

    def close(self):
        for w in self.workers:
            w.stop_event.set()
        for w in self.workers:
            w.done.wait(3)
        for c in self.clients + [getattr(self, "admin", None), getattr(self, "sub", None)]:
            if c is not None:
                c.close()
        self.stop_broker()
        shutil.rmtree(self.tmp, ignore_errors=True)
        #   The context is not terminated: main() leaves with os._exit, so a worker
        #   thread that is somehow still alive cannot hang or trip libzmq at exit.


def deltas(before, after, keys):
    return {k: after[k] - before[k] for k in keys}


#   ------------------------------------------------------------------------
#   Tests

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def setup_workers_and_notifications(env):
    env.sub = Subscriber(env, "admin")
    time.sleep(0.3)  # let the subscription reach the broker
    env.echo = [env.worker("echo", "node-1", capacity=2, routing_id=b"py-echo-1"),
                env.worker("echo", "node-1", capacity=4, routing_id=b"py-echo-2")]
    check(wait_until(lambda: env.service_workers("echo") == 2, 5), "echo workers never registered")
    for w in env.echo:
        event = wait_until(lambda: env.sub.find(b"broker.worker", event="ready", service="echo",
                                                worker=w.hex_id), 2)
        check(event, "no ready notification for worker %s: %r" % (w.hex_id, env.sub.events))
        check(isinstance(event.get("time_ms"), int) and abs(event["time_ms"] / 1000 - time.time())
              < 60, "notification time_ms is not wall-clock ms: %r" % event)
    check(not env.sub.errors, "; ".join(env.sub.errors))


@test
def round_trip_with_authenticated_caller(env):
    agent = env.client("agent-1")
    agent_key = env.keys["agent-1"][0].decode()
    admin_key = env.keys["admin"][0].decode()
    #   The body lies about who is calling; the caller frame must not
    body = {"agent": "admin", "role": "admin", "key": admin_key, "text": "héllo", "n": -3,
            "f": 1.5, "b": b"\x00\xff", "nil": None, "list": [1, [2, {"x": True}]]}
    svc, reply = agent.call("echo", body, rid=41)
    check_eq(svc, b"echo", "reply service frame")
    check_eq(reply["ok"], True, "ok")
    check_eq(reply["id"], 41, "echoed integer id")
    sent = dict(body, id=41)
    check_eq(reply["echo"], sent, "body reached the worker unchanged")
    check_eq(reply["caller"], {"key": agent_key, "agent": "agent-1", "role": "agent"},
             "caller frame names the authenticated agent")
    #   String ids are echoed too
    svc, reply = agent.call("echo", {"x": 1}, rid="req-ä-7")
    check_eq(reply["id"], "req-ä-7", "echoed str id")
    #   An expert's caller frame names the expert
    expert = env.client("expert-1")
    svc, reply = expert.call("echo", {"agent": "agent-1"})
    check_eq(reply["caller"]["agent"], "expert-1", "expert caller agent")
    check_eq(reply["caller"]["role"], "expert", "expert caller role")
    for w in env.echo:
        check(not w.errors, "worker saw: " + "; ".join(w.errors))


@test
def unknown_service(env):
    agent = env.client("agent-1")
    #   agent may call "echo" and "validate"; "validate" is not configured and has no worker
    check_error(agent.call("validate", {"x": 1}, rid=5), "unknown_service", 5, b"validate",
                "unconfigured service")
    admin = env.admin
    check_error(admin.call("no-such_svc.1", rid=6), "unknown_service", 6, b"no-such_svc.1",
                "unknown service")
    check_error(admin.call("mmi.nosuch", rid=7), "unknown_service", 7, b"mmi.nosuch",
                "unknown internal service")


@test
def malformed_bodies_never_reach_workers(env):
    agent = env.client("agent-1")
    seen = sum(w.request_count() + w.rejected for w in env.echo)
    good = pack({"id": 1, "text": "x"})
    cases = {
        "not msgpack": b"hello, world",
        "reserved byte 0xc1": b"\xc1",
        "truncated map": good[:-1],
        "not a map (array)": pack([1, 2, 3]),
        "not a map (str)": pack("id"),
        "empty body": b"",
        "trailing bytes": good + b"\xc0",
        "int map key": b"\x82\xa2id\x01\x01\x02",
        "invalid UTF-8": b"\x82\xa2id\x01\xa1s\xa2\xc3\x28",
        "ext type": b"\x82\xa2id\x01\xa1e\xd4\x01\x00",
        "map count past the end": b"\x8f\xa2id\x01",
    }
    for what, body in cases.items():
        check_error(agent.call_body("echo", body, None), "bad_request", None, b"echo", what)
    check_eq(sum(w.request_count() + w.rejected for w in env.echo), seen,
             "bodies the workers received")
    #   Duplicate keys: the broker rejects them in bodies it reads itself
    check_error(agent.call_body("broker.ping", b"\x82\xa2id\x01\xa2id\x02", None),
                "bad_request", None, b"broker.ping", "duplicate keys")
    #   Every allowed type is accepted
    reply = env.admin.call_ok("broker.ping", {"a": None, "b": True, "c": -2**63, "d": 2**64 - 1,
                                             "e": 0.25, "f": b"bin", "g": [[], {}], "h": ""})
    check(isinstance(reply["time_ms"], int), "broker.ping time_ms")


@test
def malformed_frames(env):
    agent = env.client("agent-1")
    body = pack({"id": 3})
    cases = {
        "no body frame": [b"", MDPC, b"echo"],
        "two body frames": [b"", MDPC, b"echo", body, body],
        "wrong header": [b"", b"MDPC02", b"echo", body],
        "worker header": [b"", MDPW, b"echo", body],
        "non-empty first frame": [b"x", MDPC, b"echo", body],
        "too many frames": [b"", MDPC, b"echo"] + [body] * MAX_FRAMES,
    }
    for what, frames in cases.items():
        check_error(agent.call_frames(frames, None), "bad_request", None, b"", what)


@test
def service_name_syntax(env):
    agent = env.client("agent-1")
    for name in [b"bad name", b"", b"a" * (MAX_SERVICE + 1), b"caf\xc3\xa9", b"echo/1",
                 b"echo\x00"]:
        rid = agent.new_id()
        agent.send(name, pack({"id": rid}))
        check_error(agent.wait_reply(rid), "bad_request", rid, b"", "service name %r" % name)
    #   64 bytes of the allowed alphabet is a valid (unknown) name
    name = "A-z_0.9" * 9 + "x"
    check_eq(len(name), MAX_SERVICE, "name length")
    check_error(env.admin.call(name, rid=99), "unknown_service", 99, name.encode(), "64-byte name")


@test
def roles_that_may_not_call(env):
    agent = env.client("agent-1")
    check_error(agent.call("broker.stats", rid="s1"), "forbidden", "s1", b"broker.stats",
                "agent calls broker.stats")
    check_error(agent.call("secret", rid="s2"), "forbidden", "s2", b"secret",
                "agent calls an unlisted configured service")
    check_error(agent.call("broker.nosuch", rid="s3"), "forbidden", "s3", b"broker.nosuch",
                "agent calls an unlisted internal name")
    #   Role checks come before body checks
    check_error(agent.call_body("secret", b"not msgpack", None), "forbidden", None, b"secret",
                "forbidden wins over malformed")


@test
def roles_that_may_not_serve(env):
    before = env.counters()
    refused = [env.worker("echo", "agent-1"),   # agents serve nothing
               env.worker("mmi.extra", "node-1"),  # internal names are never served
               env.worker("broker.x", "node-1"),
               env.worker("nothere", "node-1"),  # not on node's serve list
               env.worker("bad name", "node-1")]  # service name syntax
    for w in refused:
        check(w.disconnected.wait(3), "READY for %r was not answered with DISCONNECT" % w.service)
    after = env.counters()
    check_eq(after["workers_refused"] - before["workers_refused"], len(refused),
             "workers_refused counter")
    check_eq(env.service_workers("echo"), 2, "echo workers after refused READYs")
    check_error(env.admin.call("nothere", rid=1), "unknown_service", 1, b"nothere",
                "refused READY does not make a service known")
    #   A plain 7/MDP READY (no options frame) from a node is accepted; DISCONNECT removes it
    classic = env.worker("echo", "node-1", send_options=False)
    check(wait_until(lambda: env.service_workers("echo") == 3, 3), "classic READY accepted")
    classic.stop()
    check(wait_until(lambda: env.service_workers("echo") == 2, 3), "DISCONNECT removes worker")


@test
def ready_options(env):
    reply = env.admin.call_ok("mmi.workers", {"name": "echo"})
    check_eq(reply["name"], "echo", "mmi.workers name")
    by_id = {w["id"]: w for w in reply["workers"]}
    check_eq(sorted(by_id), sorted(w.hex_id for w in env.echo), "worker ids are hex routing ids")
    for w in env.echo:
        entry = by_id[w.hex_id]
        check_eq(entry["capacity"], w.capacity, "capacity from READY options")
        check_eq(entry["service"], "echo", "worker service")
        check_eq(entry["agent"], "node-1", "worker agent")
        check_eq(entry["role"], "node", "worker role")
        check(entry["expires_in_ms"] > 0, "worker expiry in the future")
    #   No options frame: capacity 1. Bad options: refused.
    plain = env.worker("plain", "node-1", send_options=False, routing_id=b"py-plain")
    check(wait_until(lambda: env.service_workers("plain") == 1, 3), "plain worker registered")
    reply = env.admin.call_ok("mmi.workers", {"name": "plain"})
    check_eq([w["capacity"] for w in reply["workers"]], [1], "default capacity")
    plain.stop()
    for bad in [0, MAX_CAPACITY + 1, -1, "2", 1.5, None]:
        w = env.worker("plain", "node-1", capacity=bad)
        check(w.disconnected.wait(3), "READY with capacity %r must be refused" % bad)


@test
def capacity_is_respected(env):
    w = env.worker("cap", "node-1", capacity=2, routing_id=b"py-cap",
                   handler=lambda wk, body, caller: ("hold", echo_handler(wk, body, caller)))
    check(wait_until(lambda: env.service_workers("cap") == 1, 3), "cap worker registered")
    client = env.client("admin")
    ids = [client.new_id() for _ in range(3)]
    for rid in ids:
        client.send("cap", pack({"id": rid}))
    check(wait_until(lambda: w.request_count() == 2, 3), "worker got its 2 requests")
    time.sleep(0.3)
    check_eq(w.request_count(), 2, "requests dispatched beyond capacity")
    stats = env.stats()
    cap = [s for s in stats["services"] if s["name"] == "cap"][0]
    check_eq((cap["queued"], cap["inflight"], cap["idle"]), (1, 2, 0), "queued/inflight/idle")
    w.release()
    check(wait_until(lambda: w.request_count() == 3, 3), "third request after a reply")
    w.release()
    got = sorted(client.wait_reply(rid)[1]["id"] for rid in ids)
    check_eq(got, ids, "all three answered")
    w.stop()


@test
def mmi_service_msgpack_and_classic(env):
    agent = env.client("agent-1")
    svc, reply = agent.call("mmi.service", {"name": "echo"}, rid=11)
    check_eq(svc, b"mmi.service", "service frame")
    check_eq({k: reply.get(k) for k in ("id", "ok", "name", "found", "workers")},
             {"id": 11, "ok": True, "name": "echo", "found": True, "workers": 2}, "echo")
    for name in ["nosuch", "nowork"]:
        svc, reply = agent.call("mmi.service", {"name": name}, rid=12)
        check_eq((reply["found"], reply["workers"]), (False, 0), "mmi.service " + name)
    check_error(agent.call("mmi.service", {}, rid=13), "bad_request", 13, b"mmi.service",
                "mmi.service without name")
    #   8/MMI: a bare service name as body, "200" or "404" as the answer
    for name, answer in [(b"echo", b"200"), (b"nosuch", b"404"), (b"nowork", b"404")]:
        agent.send("mmi.service", name)
        got = agent.recv(3)
        check(got is not None, "no classic answer for %r" % name)
        check_eq(got, (b"mmi.service", answer), "classic mmi.service %r" % name)
    reply = agent.call_ok("mmi.services")
    listed = {s["name"]: s["workers"] for s in reply["services"]}
    check_eq(listed.get("echo"), 2, "mmi.services echo")
    check_eq(listed.get("nowork"), 0, "mmi.services configured service")
    check("nosuch" not in listed, "mmi.services lists only known services")
    check(not any(n.startswith(("mmi.", "broker.")) for n in listed), "no internal names listed")


@test
def stats_counters_move(env):
    agent = env.client("agent-1")
    keys = ["requests", "replies", "malformed", "unknown_service", "forbidden", "too_large",
            "rate_limited", "overloaded", "unavailable", "timeouts", "worker_lost"]
    s0 = env.stats()
    echo0 = [s for s in s0["services"] if s["name"] == "echo"][0]
    agent.call("echo", {"x": 1})                                  # reply
    agent.call("validate")                                        # unknown_service
    agent.call_body("echo", b"\xc1", None)                         # malformed
    rid = agent.new_id()
    agent.send("bad name", pack({"id": rid}))                      # malformed
    agent.wait_reply(rid)
    agent.call("broker.stats")                                    # forbidden
    agent.call("mmi.service", {"name": "echo"})                   # reply
    agent.send("mmi.service", b"echo")                            # reply (classic)
    check(agent.recv(3) is not None, "classic answer")
    s1 = env.stats()
    d = deltas(s0["counters"], s1["counters"], keys)
    #   7 requests above plus this stats request; 3 replies above plus the first stats reply
    check_eq(d, {"requests": 8, "replies": 4, "malformed": 2, "unknown_service": 1,
                 "forbidden": 1, "too_large": 0, "rate_limited": 0, "overloaded": 0,
                 "unavailable": 0, "timeouts": 0, "worker_lost": 0}, "counter deltas")
    echo1 = [s for s in s1["services"] if s["name"] == "echo"][0]
    check_eq((echo1["requests"] - echo0["requests"], echo1["replies"] - echo0["replies"]),
             (1, 1), "echo service counters")
    broker = s1["broker"]
    check_eq(broker["protocol"], 1, "protocol version")
    check_eq(broker["security"], "curve", "security")
    check_eq(broker["roster"], len(env.NAMES), "roster size")
    check_eq((broker["frontend"], broker["backend"], broker["pub"]),
             (env.frontend, env.backend, env.pub), "endpoints")
    check_eq(broker["pid"], env.proc.pid, "pid")


@test
def limits(env):
    client = env.client("admin")
    before = env.counters()
    cases = {
        "body over 1 MiB": {"a": "x" * 400000, "b": "y" * 400000, "c": "z" * 300000},
        "str over 512 KiB": {"s": "x" * (MAX_STR + 1)},
        "bin over 512 KiB": {"s": b"x" * (MAX_STR + 1)},
        "key over 64 bytes": {"k" * (MAX_KEY + 1): 1},
        "array over 4096 items": {"a": [0] * (MAX_ITEMS + 1)},
    }
    nested = 0
    for _ in range(MAX_DEPTH - 1):
        nested = [nested]
    cases["17 levels of nesting"] = {"n": [nested]}
    for what, fields in cases.items():
        check_error(client.call_body("broker.ping", pack(dict(fields, id=1)), None), "too_large",
                    None, b"broker.ping", what)
    #   Just inside every limit
    reply = client.call_ok("broker.ping", {"s": "x" * MAX_STR, "k" * MAX_KEY: 1,
                                           "a": [0] * MAX_ITEMS, "n": nested})
    check(isinstance(reply.get("time_ms"), int), "broker.ping answer inside every limit")
    after = env.counters()
    check_eq(after["too_large"] - before["too_large"], len(cases), "too_large counter")
    #   Past the hard cap the connection is dropped: no answer at all
    big = env.client("admin")
    big.send("broker.ping", pack({"id": 2, "s": b"x" * (HARD_MAX_MSG + 10)}))
    check(big.recv(1.5) is None, "an oversize frame was answered")
    after2 = env.counters()
    check_eq(after2["requests"] - after["requests"], 1, "the oversize frame was never read")
    check(client.call_ok("broker.ping"), "broker alive after the oversize frame")


@test
def queueing_deadlines_and_overload(env):
    client = env.client("admin")
    before = env.counters()
    start = time.monotonic()
    client.send("nowork", pack({"id": "a"}))
    #   queue_max = 1: the second waiting request is refused at once
    check_error(client.call("nowork", rid="b", timeout=1), "overloaded", "b", b"nowork",
                "queue full")
    check_error(client.wait_reply("a", 3), "unavailable", "a", b"nowork", "queued past deadline")
    elapsed = time.monotonic() - start
    check(elapsed >= SHORT_TIMEOUT_MS / 1000 * 0.9, "unavailable came before the deadline "
          "(%.3fs)" % elapsed)
    #   A worker that takes a request and never answers: timeout, and its late reply is dropped
    slow = env.worker("slow", "node-1", handler=lambda wk, b, c: ("hold", echo_handler(wk, b, c)))
    check(wait_until(lambda: env.service_workers("slow") == 1, 3), "slow worker registered")
    check_error(client.call("slow", rid="c", timeout=3), "timeout", "c", b"slow", "in flight")
    slow.release()
    check(client.recv(0.5) is None, "a late worker reply reached the client")
    after = env.counters()
    check_eq(deltas(before, after, ["overloaded", "unavailable", "timeouts", "late_replies"]),
             {"overloaded": 1, "unavailable": 1, "timeouts": 1, "late_replies": 1},
             "counter deltas")
    slow.stop()


@test
def known_services(env):
    admin = env.client("admin")
    check_error(admin.call("dynamic", rid=1), "unknown_service", 1, b"dynamic", "before READY")
    w = env.worker("dynamic", "node-1")
    check(wait_until(lambda: env.service_workers("dynamic") == 1, 3), "dynamic registered")
    check_eq(admin.call_ok("dynamic", {"x": 2})["echo"]["x"], 2, "dynamic answers")
    w.stop()
    check(wait_until(lambda: env.service_workers("dynamic") == 0, 3), "dynamic worker gone")
    #   Once registered, a service stays known: requests queue until the default deadline
    t0 = time.monotonic()
    check_error(admin.call("dynamic", rid=2, timeout=5), "unavailable", 2, b"dynamic",
                "after its worker left")
    check(time.monotonic() - t0 >= DEFAULT_TIMEOUT_MS / 1000 * 0.9, "default deadline applies")
    #   A worker arriving while a request waits gets it
    rid = admin.new_id()
    admin.send("dynamic", pack({"id": rid, "late": True}))
    time.sleep(0.2)
    env.worker("dynamic", "node-1")
    svc, reply = admin.wait_reply(rid, 3)
    check_eq(reply["ok"], True, "queued request served by a new worker")


@test
def worker_death_retry_and_worker_lost(env):
    state = {"died": 0}
    lock = threading.Lock()

    def die_once(worker, body, caller):
        with lock:
            if state["died"] == 0:
                state["died"] += 1
                return "disconnect"
        return echo_handler(worker, body, caller)

    flaky = [env.worker("flaky", "node-1", handler=die_once, routing_id=b"py-flaky-%d" % i)
             for i in range(2)]
    doomed = [env.worker("doomed", "node-1", handler=lambda *a: "disconnect") for _ in range(3)]
    check(wait_until(lambda: env.service_workers("flaky") == 2 and
                     env.service_workers("doomed") == 3, 3), "workers registered")
    client = env.client("admin")
    before = env.counters()
    reply = client.call_ok("flaky", {"x": 1})
    dead = [w for w in flaky if w.done.is_set()]
    check_eq(len(dead), 1, "one flaky worker died holding the request")
    check(reply["worker"] != dead[0].hex_id, "the retry went to another worker")
    event = wait_until(lambda: env.sub.find(b"broker.worker", event="gone", service="flaky",
                                            worker=dead[0].hex_id), 2)
    check(event and event.get("reason") == "disconnected", "gone notification: %r" % event)
    #   max_retries = 1: the second death fails the request
    check_error(client.call("doomed", rid="d"), "worker_lost", "d", b"doomed", "two deaths")
    after = env.counters()
    check_eq(deltas(before, after, ["retries", "worker_lost", "workers_disconnected"]),
             {"retries": 2, "worker_lost": 1, "workers_disconnected": 3}, "counter deltas")
    check_eq(sum(1 for w in doomed if w.done.is_set()), 2, "doomed workers that got the request")


@test
def rate_limits(env):
    expert = env.client("expert-1")
    before = env.counters()
    #   rate 1/s, burst 3 for role expert in the config: the 4th at once is refused
    ids = [expert.new_id() for _ in range(4)]
    for rid in ids:
        expert.send("broker.ping", pack({"id": rid}))
    oks = [expert.wait_reply(rid)[1] for rid in ids]
    check_eq([r["ok"] for r in oks], [True, True, True, False], "burst of 4")
    check_eq(oks[3]["error"]["code"], "rate_limited", "error code")
    time.sleep(1.2)
    check(expert.call_ok("broker.ping"), "bucket refills at the configured rate")
    check_eq(env.counters()["rate_limited"] - before["rate_limited"], 1, "rate_limited counter")
    #   Admins have no limit by default
    admin = env.client("admin")
    for _ in range(20):
        admin.send("broker.ping", pack({"id": 1}))
    for _ in range(20):
        check_eq(admin.wait_reply(1)[1]["ok"], True, "admin burst")


@test
def heartbeats_and_expiry(env):
    before = env.counters()
    silent = env.worker("echo", "node-1", heartbeat=False, polite=False, routing_id=b"py-silent")
    check(wait_until(lambda: env.service_workers("echo") == 3, 3), "silent worker registered")
    expiry = HEARTBEAT_MS * LIVENESS / 1000
    check(wait_until(lambda: env.service_workers("echo") == 2, expiry + 2.5, 0.1),
          "a worker that never heartbeats was not expired")
    check(silent.heartbeats >= 1, "the broker sent no HEARTBEAT to the silent worker")
    event = wait_until(lambda: env.sub.find(b"broker.worker", event="gone",
                                            worker=silent.hex_id), 2)
    check(event and event.get("reason") == "heartbeat expired", "gone notification: %r" % event)
    after = env.counters()
    check_eq(after["workers_expired"] - before["workers_expired"], 1, "workers_expired")
    #   Workers that heartbeat outlive several expiry periods and hear the broker's heartbeats
    check_eq(sorted(w["id"] for w in env.admin.call_ok("mmi.workers", {"name": "echo"})["workers"]),
             sorted(w.hex_id for w in env.echo), "heartbeating workers still registered")
    for w in env.echo:
        check(w.heartbeats >= 3, "worker %s heard %d heartbeats" % (w.hex_id, w.heartbeats))
        check(not w.errors, "worker saw: " + "; ".join(w.errors))
    silent.stop_event.set()


@test
def unknown_key_is_never_answered(env):
    before = env.counters()
    rogue = env.client("rogue", env.keys["rogue"])
    rogue.send("broker.ping", pack({"id": 1}))
    rogue.send("mmi.service", b"echo")
    check(rogue.recv(1.5) is None, "a key not on the roster got an answer")
    rogue.close()
    env.clients.remove(rogue)
    after = env.counters()
    check(after["auth_denied"] > before["auth_denied"], "auth_denied did not increase")
    check_eq(after["requests"] - before["requests"], 1, "requests counted from an unknown key")
    #   Nor may it serve
    w = env.worker("echo", "rogue")
    time.sleep(1.0)
    check_eq(env.service_workers("echo"), 2, "workers of echo after a rogue READY")
    check_eq(w.request_count(), 0, "rogue worker requests")


def main(argv):
    if len(argv) != 2 or not os.access(argv[1], os.X_OK):
        print("usage: test_interop.py PATH/TO/lh-broker", file=sys.stderr)
        return 2

    def on_signal(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(110)  # under CTest's TIMEOUT, so cleanup still runs
    passed = failed = 0
    env = None
    try:
        env = Env(argv[1])
        env.start()
        for fn in TESTS:
            t0 = time.monotonic()
            try:
                fn(env)
                passed += 1
                print("ok   %-40s %.2fs" % (fn.__name__, time.monotonic() - t0), flush=True)
            except Exception as exc:
                failed += 1
                print("FAIL %-40s %s" % (fn.__name__, exc), flush=True)
                if not isinstance(exc, Failure):
                    traceback.print_exc()
            if env.proc is None or env.proc.poll() is not None:
                failed += 1
                print("FAIL broker exited (%r); log:\n%s" % (env.proc and env.proc.returncode,
                                                            env.log_tail()))
                break
    except BaseException as exc:
        failed += 1
        print("FAIL interop run aborted: %r" % (exc,), flush=True)
        traceback.print_exc()
    finally:
        if failed and env is not None:
            print("---- broker log (tail) ----\n" + env.log_tail(60))
        if env is not None:
            env.close()
    print("interop: %d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
