"""What the console tests share: the environment test_web.c wrote, HTTP
calls, lh as the agent, and an RFC 6962 inclusion check written from
docs/EVENTS.md, from the interop tests (the tests check the server's proofs
apart from the page's own check)."""
import base64
import http.client
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
from lhproto import leaf_hash, verify_inclusion  # noqa: E402  (the interop tests' RFC 6962)


class Failure(Exception):
    pass


FAILED = []


def check(condition, what):
    print(("ok    " if condition else "FAIL  ") + what, flush=True)
    if not condition:
        FAILED.append(what)


def done(name):
    print(f"{name}: {len(FAILED)} failed", flush=True)
    sys.exit(1 if FAILED else 0)


def load_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v
    return env


def token(path):
    with open(path) as f:
        return f.read().strip()


def request(env, method, path, body=None, headers=None, raw_body=None):
    """One HTTP request; returns (status, headers dict lower-case, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", int(env["PORT"]), timeout=15)
    h = {"Host": f"127.0.0.1:{env['PORT']}"}
    if body is not None:
        raw_body = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    conn.request(method, path, body=raw_body, headers=h)
    r = conn.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    conn.close()
    return r.status, hdrs, data


def login(env, tok):
    status, hdrs, data = request(env, "POST", "/api/login", {"token": tok})
    if status != 200:
        raise Failure(f"login: {status} {data!r}")
    cookie = hdrs["set-cookie"].split(";", 1)[0]
    return cookie, json.loads(data)["csrf"], hdrs


def lh_env(env, cert_key="AGENT_CERT"):
    e = dict(os.environ)
    e.update(LH_BROKER=env["LH_BROKER"], LH_BROKER_KEY=env["LH_BROKER_KEY"], LH_CERT=env[cert_key])
    return e


def validate(env, command, wait_ms=0, background=False):
    args = [env["LH"], "validate", "--tool", "Bash", "--command", command, "--cwd", "/home/dev"]
    if wait_ms:
        args += ["--wait", str(wait_ms)]
    if background:
        return subprocess.Popen(args, env=lh_env(env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    return subprocess.run(args, env=lh_env(env), capture_output=True, text=True, timeout=60)


def wait_until(fn, timeout=15.0, step=0.1):
    end = time.time() + timeout
    while time.time() < end:
        value = fn()
        if value:
            return value
        time.sleep(step)
    return None


def check_event_proof(reply):
    """The server's event, leaf and proof agree with the checkpoint's root."""
    raw = base64.b64decode(reply["raw"])
    p = reply["proof"]
    leaf = leaf_hash(raw)
    lines = p["checkpoint"].split("\n")
    root = base64.b64decode(lines[2])
    return (leaf == base64.b64decode(p["leaf_hash"]) and int(lines[1]) == p["size"] and
            verify_inclusion(p["seq"], p["size"], leaf, [base64.b64decode(x) for x in p["proof"]],
                             root))
