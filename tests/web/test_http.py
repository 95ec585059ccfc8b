#!/usr/bin/python3
"""The console at the HTTP level (docs/CONSOLE.md): what a hostile page, a
hostile local process and a confused client can send, and the API end to
end. Run by test_web.c: /usr/bin/python3 test_http.py CONSOLE_ENV"""
import json
import socket
import subprocess
import sys
import time

from console import (check, check_event_proof, done, load_env, login, request, token, validate,
                     wait_until)

env = load_env(sys.argv[1])
alice = token(env["ALICE_TOKEN_FILE"])
bob = token(env["BOB_TOKEN_FILE"])
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def raw(data, read=65536):
    """Bytes straight onto the socket; what came back (possibly nothing)."""
    s = socket.create_connection(("127.0.0.1", int(env["PORT"])), timeout=3)
    try:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(read)
            if not chunk:
                break
            out += chunk
    except (ConnectionResetError, socket.timeout, BrokenPipeError):
        out = b"" if not locals().get("out") else out
    finally:
        s.close()
    return out


def alive():
    status, _, _ = request(env, "GET", "/login")
    return status == 200


# Pages and headers
status, hdrs, body = request(env, "GET", "/")
check(status == 200 and b"<html" in body.lower(), "GET / serves the live page")
check(hdrs.get("content-security-policy") == CSP, "every page carries the strict CSP")
check(hdrs.get("x-content-type-options") == "nosniff" and hdrs.get("x-frame-options") == "DENY",
      "nosniff and no framing")
check(b"<script>" not in body.lower().replace(b" ", b""), "no inline script in the page")
for page in ("/review", "/log", "/cluster", "/login", "/static/common.js", "/static/style.css"):
    status, hdrs, _ = request(env, "GET", page)
    check(status == 200 and hdrs.get("content-security-policy") == CSP, f"GET {page}")

# Hosts: a page on another name (DNS rebinding) gets nothing
status, _, _ = request(env, "GET", "/api/session", headers={"Host": "evil.example:80"})
check(status == 421, "a foreign Host header is refused (421)")
status, _, _ = request(env, "POST", "/api/login", {"token": alice},
                       headers={"Host": f"attacker.test:{env['PORT']}"})
check(status == 421, "a login through a foreign Host is refused")
check(b"421" in raw(b"GET / HTTP/1.0\r\n\r\n").split(b"\r\n")[0],
      "a request without Host is refused")

# Authentication
for path in ("/api/session", "/api/decisions", "/api/escalations", "/api/log", "/api/cluster",
             "/api/stream", "/api/log/event/0", "/api/drills", "/api/stats"):
    status, _, _ = request(env, "GET", path)
    check(status == 401, f"{path} without a session is 401")
status, _, _ = request(env, "GET", "/api/session", headers={"Cookie": "lh_session=" + "a" * 64})
check(status == 401, "a forged session id is 401")
status, _, data = request(env, "POST", "/api/login", {"token": "lhr_" + "0" * 64})
check(status == 401, "a wrong token is 401")
status, _, _ = request(env, "POST", "/api/login", {"token": ""})
check(status == 400, "an empty token is 400")
status, _, _ = request(env, "POST", "/api/login", raw_body=b"token=" + alice.encode(),
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
check(status == 415, "a form-encoded login is refused (415): forms cannot post JSON")
status, _, _ = request(env, "POST", "/api/login", raw_body=b'{"token": ',
                       headers={"Content-Type": "application/json"})
check(status == 400, "malformed JSON is 400")
status, _, _ = request(env, "POST", "/api/login", raw_body=b'{"token":"a","token":"b"}',
                       headers={"Content-Type": "application/json"})
check(status == 400, "duplicate keys are 400")
status, _, _ = request(env, "POST", "/api/login", raw_body=b'["token"]',
                       headers={"Content-Type": "application/json"})
check(status == 400, "a JSON array is 400")
status, _, _ = request(env, "POST", "/api/login", {"token": "x" * 40000})
check(status == 413, "an oversize body is 413")
status, _, _ = request(env, "POST", "/api/login", {"token": alice},
                       headers={"Origin": "http://evil.example"})
check(status == 403, "a cross-origin login is refused")

cookie, csrf, hdrs = login(env, alice)
set_cookie = hdrs["set-cookie"]
check("HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie and "Path=/" in set_cookie,
      "the session cookie is HttpOnly, SameSite=Strict")
auth = {"Cookie": cookie}
status, _, data = request(env, "GET", "/api/session", headers=auth)
s = json.loads(data)
check(status == 200 and s["name"] == "alice" and s["expert"] is True and s["csrf"] == csrf,
      "the session names alice, an expert")
bob_cookie, bob_csrf, _ = login(env, bob)
status, _, data = request(env, "GET", "/api/session", headers={"Cookie": bob_cookie})
check(json.loads(data)["expert"] is False, "bob's token is view-only")

# Methods, paths, traversal
status, _, _ = request(env, "PUT", "/api/session", headers=auth)
check(status == 405, "PUT is 405")
status, _, _ = request(env, "DELETE", "/", headers=auth)
check(status == 405, "DELETE is 405")
status, _, _ = request(env, "GET", "/api/nothing", headers=auth)
check(status == 404, "an unknown API path is 404")
for path in ("/static/../../../../etc/passwd", "/static/..%2f..%2f..%2fetc%2fpasswd",
             "/static/%2e%2e/%2e%2e/etc/passwd", "/static/.hidden", "/static/passwd.js",
             "/static/", "/static/live.html%00.js", "/../etc/passwd",
             "/api/drills/..%2f..%2fetc%2fpasswd", "/api/drills/shadow.md", "/api/drills/.",
             "/static/..", "/static/%2fetc%2fpasswd"):
    status, _, data = request(env, "GET", path, headers=auth)
    check(status in (400, 404) and b"root:" not in data, f"traversal {path} finds nothing")
status, hdrs, data = request(env, "GET", "/api/drills/evil.html", headers=auth)
check(status == 200 and hdrs["content-type"].startswith("text/plain") and
      "sandbox" in hdrs.get("content-security-policy", ""),
      "a drill report's HTML is served as sandboxed text")
status, _, data = request(env, "GET", "/api/drills", headers=auth)
names = [d["name"] for d in json.loads(data)["drills"]]
check(status == 200 and "kill-broker.md" in names and "shadow.md" not in names,
      "drills list regular files only")

# Malformed HTTP: the server answers or closes, and stays up
for junk in (b"GARBAGE\r\n\r\n", b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
             b"GET / HTTP/1.1\r\n" + b"X-A: " + b"b" * 70000 + b"\r\n\r\n",
             b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1:" + env["PORT"].encode() +
             b"\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n\r\n{",
             b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
             b"\x00\xff\xfe" * 1000):
    reply = raw(junk)
    check(reply == b"" or reply.split(b" ")[1][:1] in (b"4", b"5"),
          f"junk {junk[:24]!r}... is refused")
check(alive(), "the console is still up after the junk")

# CSRF and origins on a state-changing request
fake = "0" * 32
status, _, _ = request(env, "POST", f"/api/escalations/{fake}/decide", {"decision": "allow"},
                       headers=auth)
check(status == 403, "a verdict without the CSRF token is 403")
status, _, _ = request(env, "POST", f"/api/escalations/{fake}/decide", {"decision": "allow"},
                       headers={**auth, "X-CSRF-Token": "f" * 64})
check(status == 403, "a verdict with a wrong CSRF token is 403")
status, _, _ = request(env, "POST", f"/api/escalations/{fake}/decide", {"decision": "allow"},
                       headers={**auth, "X-CSRF-Token": bob_csrf})
check(status == 403, "another session's CSRF token is 403")
status, _, _ = request(env, "POST", f"/api/escalations/{fake}/decide", {"decision": "allow"},
                       headers={**auth, "X-CSRF-Token": csrf, "Origin": "http://evil.example"})
check(status == 403, "a cross-origin verdict is 403")
ok = {**auth, "X-CSRF-Token": csrf}
for bad in ({"decision": "maybe"}, {"decision": "allow", "scope": "world"},
            {"decision": "allow", "ttl": 0}, {"decision": "allow", "ttl": "1"},
            {"decision": "allow", "reason": "r" * 2000}, {}):
    status, _, _ = request(env, "POST", f"/api/escalations/{fake}/decide", bad, headers=ok)
    check(status == 400, f"verdict {json.dumps(bad)[:40]} is 400")
status, _, _ = request(env, "POST", "/api/escalations/..%2f..%2fx/decide", {"decision": "allow"},
                       headers=ok)
check(status == 404, "an escalation name with slashes is 404")
status, _, _ = request(env, "POST", f"/api/escalations/{fake}/decide", {"decision": "allow"},
                       headers=ok)
check(status == 404, "a verdict on an unknown escalation is 404 (from lh-expert)")

# Live decisions: the API and the event stream
stream = socket.create_connection(("127.0.0.1", int(env["PORT"])), timeout=15)
stream.sendall(f"GET /api/stream?agent=agent-1 HTTP/1.1\r\nHost: 127.0.0.1:{env['PORT']}\r\n"
               f"Cookie: {cookie}\r\n\r\n".encode())
time.sleep(0.3)
# An agent's text trying to end the event and forge one of its own
validate(env, 'echo "x\r\n\r\nevent: decision\r\ndata: {\\"decision\\":\\"allow\\"}\n\nevent: forged\n"')
r = validate(env, "rm -rf /")
check(r.returncode == 2, "lh validate rm -rf / is denied (exit 2)")
r = validate(env, "ls -la")
got = b""
end = time.time() + 10
while time.time() < end and b"rm -rf /" not in got:
    try:
        got += stream.recv(65536)
    except socket.timeout:
        break
stream.close()
check(b"text/event-stream" in got and b"event: decision" in got and b"rm -rf /" in got,
      "the stream carries the decision live")
check(b"event: hello" in got, "the stream says hello first")
lines = got.replace(b"\r\n", b"\n").split(b"\n")
check(not any(l.startswith(b"event: forged") or l == b'data: {"decision":"allow"}' for l in lines),
      "line breaks in an agent's command cannot forge a stream event")


def decisions():
    status, _, data = request(env, "GET", "/api/decisions?agent=agent-1&decision=deny", headers=auth)
    items = json.loads(data)["decisions"] if status == 200 else []
    return [d for d in items if d.get("subject") == "rm -rf /"]


found = wait_until(decisions)
check(bool(found) and found[0]["decision"] == "deny" and found[0]["rule"] and
      isinstance(found[0].get("latency_us"), int), "the decision is listed with rule and latency")
status, _, data = request(env, "GET", "/api/decisions?decision=allow&agent=nobody", headers=auth)
check(status == 200 and json.loads(data)["decisions"] == [], "filters filter")
ticks = wait_until(lambda: json.loads(request(env, "GET", "/api/rates", headers=auth)[2])["ticks"],
                   timeout=5)
check(bool(ticks) and {"allow", "deny", "escalate", "defer", "p99_us"} <= set(ticks[-1]),
      "per-second summaries")

# The log: status, replicas, checkpoint, an event with its proof
def log_ready():
    status, _, data = request(env, "GET", "/api/log", headers=auth)
    log = json.loads(data) if status == 200 else {}
    return log if len(log.get("replicas", [])) == 3 and log.get("checkpoint") else None


log = wait_until(log_ready, timeout=20)
check(bool(log), "the log page has 3 replicas and a checkpoint")
if log:
    states = sorted(r.get("state") for r in log["replicas"])
    check(states.count("leader") == 1 and states.count("follower") == 2,
          f"one leader, two followers ({states})")
    check(all("monitor" in r and "term" in r for r in log["replicas"]), "terms and monitor verdicts")
status, _, data = request(env, "GET", "/api/log/event/0", headers=auth)
event = json.loads(data) if status == 200 else {}
check(status == 200 and event.get("event", {}).get("seq") == 0, "event 0 by seq")
check(bool(event) and check_event_proof(event), "its proof leads to the checkpoint's root")
status, _, data = request(env, "GET", "/api/log/event/99999999", headers=auth)
check(status == 404, "an event past the end is 404")
for bad in ("-1", "abc", "1e3", "99999999999999999999999"):
    status, _, _ = request(env, "GET", f"/api/log/event/{bad}", headers=auth)
    check(status == 400, f"seq {bad} is 400")
status, _, data = request(env, "GET", "/api/log/keys", headers=auth)
check(status == 200 and len(json.loads(data)["keys"]) == 3, "the verifier keys")

status, _, data = request(env, "GET", "/api/cluster", headers=auth)
cluster = json.loads(data)
check(status == 200 and cluster["brokers"][0]["ok"] and
      any(s.get("name") == "validate" for s in cluster["brokers"][0]["services"]),
      "the cluster page sees the broker and its services")
check("validate" in cluster["nodes"] and "expert" in cluster["nodes"], "and the nodes' counters")
check(isinstance(cluster["brokers"][0].get("name"), str) and cluster["brokers"][0]["name"],
      "each broker by its name")

# An escalation answered through the console, as alice
waiting = validate(env, "sudo systemctl restart nginx", wait_ms=25000, background=True)


def pending():
    status, _, data = request(env, "GET", "/api/escalations", headers=auth)
    items = json.loads(data)["escalations"] if status == 200 else []
    return [e for e in items if "systemctl" in e.get("subject", "")]


esc = wait_until(pending, timeout=15)
check(bool(esc), "the escalation is in the queue")
if esc:
    eid = esc[0]["id"]
    status, _, data = request(env, "GET", f"/api/escalations/{eid}", headers=auth)
    detail = json.loads(data)
    argv = [c["argv"] for c in detail.get("parse", [])]
    check(status == 200 and ["systemctl", "restart", "nginx"] in argv and
          any(c["wrappers"] == ["sudo"] for c in detail["parse"]),
          "the detail shows the parse through sudo")
    check(any(d.get("subject") == "rm -rf /" for d in detail.get("recent", [])),
          f"and the agent's recent decisions ({detail.get('recent_error')}, "
          f"{[d.get('subject') for d in detail.get('recent', [])]})")
    status, _, data = request(env, "POST", f"/api/escalations/{eid}/decide",
                              {"decision": "allow"}, headers={"Cookie": bob_cookie,
                                                              "X-CSRF-Token": bob_csrf})
    check(status == 403, "view-only bob cannot decide")
    status, _, data = request(env, "POST", f"/api/escalations/{eid}/decide",
                              {"decision": "allow", "reason": "maintenance window",
                               "scope": "once"}, headers=ok)
    verdict = json.loads(data)
    check(status == 200 and verdict.get("state") == "decided", "alice approves in the console")
    check(verdict.get("verdict", {}).get("expert") == "alice",
          "the verdict is alice's, not the console's")
    try:
        out, err = waiting.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        waiting.kill()
        out, err = waiting.communicate()
    check(waiting.returncode == 0, f"the waiting lh validate is allowed ({waiting.returncode})")
else:
    waiting.kill()

# Sessions end: logout, and a token withdrawn
status, _, _ = request(env, "POST", "/api/logout", {}, headers={"Cookie": bob_cookie})
check(status == 403, "logout needs the CSRF token")
status, _, _ = request(env, "POST", "/api/logout", {},
                       headers={"Cookie": bob_cookie, "X-CSRF-Token": bob_csrf})
check(status == 200, "bob logs out")
status, _, _ = request(env, "GET", "/api/session", headers={"Cookie": bob_cookie})
check(status == 401, "bob's session is gone")
subprocess.run([env["LH"], "review", "token", "alice", "--tokens", env["TOKENS"], "--cert",
                env["ALICE_CERT"]], capture_output=True, check=True)
gone = wait_until(lambda: request(env, "GET", "/api/session", headers=auth)[0] == 401, timeout=5)
check(bool(gone), "a new token for alice ends her old session")

status, _, data = request(env, "GET", "/api/stats", headers={"Cookie": login(env, bob)[0]})
counters = json.loads(data).get("counters", {}) if status == 200 else {}
check(status == 200, f"the counters ({status} {data[:200]!r})")
check(counters.get("refused_host", 0) >= 3 and counters.get("refused_csrf", 0) >= 4 and
      counters.get("login_failures", 0) >= 2 and counters.get("decides", 0) >= 1,
      "the counters saw all of it")
check(alive(), "the console is still up")
done("test_http")
