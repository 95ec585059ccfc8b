#!/usr/bin/python3
"""Scrapes Lighthouse daemons' /metrics and parses them with the Prometheus
client library's own text-format parser: every scrape must parse, and the
samples named on the command line must be there with at least the value
given. Exit 0, or 1 naming what is wrong.

    scrape_metrics.py URL [NAME{LABEL=VALUE}>=MIN ...] [-- URL ...]
"""
import re
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

WANT = re.compile(r"^([a-z_][a-z0-9_]*)(?:\{(\w+)=([^}]*)\})?>=(\d+)$")


def scrape(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        if response.status != 200:
            raise SystemExit("%s: HTTP %d" % (url, response.status))
        kind = response.headers.get("Content-Type", "")
        if not kind.startswith("text/plain"):
            raise SystemExit("%s: Content-Type %r" % (url, kind))
        text = response.read().decode("utf-8")
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def check(url, wants):
    samples = scrape(url)
    if not samples:
        raise SystemExit("%s: no samples" % url)
    for want in wants:
        m = WANT.match(want)
        if not m:
            raise SystemExit("bad expectation %r" % want)
        name, label, value, least = m.group(1), m.group(2), m.group(3), int(m.group(4))
        found = [v for labels, v in samples.get(name, [])
                 if label is None or labels.get(label) == value]
        if not found:
            raise SystemExit("%s: no sample %s" % (url, want))
        if max(found) < least:
            raise SystemExit("%s: %s is %s" % (url, want, max(found)))
    print("%s: %d names, every expectation met" % (url, len(samples)))


def main():
    groups, current = [], []
    for arg in sys.argv[1:]:
        if arg == "--":
            groups.append(current)
            current = []
        else:
            current.append(arg)
    groups.append(current)
    for group in groups:
        if group:
            check(group[0], group[1:])


if __name__ == "__main__":
    main()
