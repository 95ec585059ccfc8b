#!/usr/bin/python3
"""An automated expert for Lighthouse (lh expert serve --exec).

Reads one review (JSON) on stdin and answers one verdict on stdout:
{"verdict": "allow" | "deny", "reason": "..."}. This one is deliberately
simple: it denies what touches production or rewrites history, and allows
the rest of what it was asked about. A real reviewer would ask a language
model or a ticketing system here; whatever it does, Lighthouse treats a
crash, a timeout or an answer it cannot read as a deny.

    lh expert serve --capability security --exec examples/reviewer/reviewer.py \
        --backend tcp://127.0.0.1:5556      (with LH_CERT an expert key)
"""
import json
import sys

RISKY = ("prod", "production", "--force", "push -f", "drop table", "rm -rf", "terraform apply")


def main():
    review = json.load(sys.stdin)
    subject = str(review.get("subject", "")).lower()
    hit = next((word for word in RISKY if word in subject), None)
    if hit:
        verdict = {"verdict": "deny", "reason": "the reviewer does not approve '%s' unattended" % hit}
    else:
        verdict = {"verdict": "allow", "reason": "nothing risky in: %s" % subject[:200]}
    json.dump(verdict, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
