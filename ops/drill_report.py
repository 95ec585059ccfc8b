"""The figures, text summary and plot of a drill (ops/drill, docs/DRILLS.md section 3).

Everything here is computed from the history lh-drill-load recorded (one JSON
object per operation, times in ms since the Unix epoch) and from what the
drill observed; nothing is sampled twice.
"""
import html
import json
import math


def read_history(path):
    with open(path) as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _p99(values):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def per_second(history, t0_ms, seconds):
    """One row per second of the load, by completion time: successes of each
    kind, errors (anything not a success), and the p99 latency of successes."""
    rows = [{"t": s, "appends_ok": 0, "decisions_ok": 0, "errors": 0, "latencies": []}
            for s in range(seconds)]
    for op in history:
        s = int((op["complete_ms"] - t0_ms) // 1000)
        if not 0 <= s < seconds:
            continue
        row = rows[s]
        ok = op["outcome"] in ("ok", "answered")
        if ok:
            row["appends_ok" if op["op"] == "append" else "decisions_ok"] += 1
            row["latencies"].append(op["complete_ms"] - op["invoke_ms"])
        else:
            row["errors"] += 1
    for row in rows:
        row["p99_ms"] = _p99(row.pop("latencies"))
    return rows


def unavailable_s(rows):
    """Seconds in which appends or decisions, though asked for, all failed:
    the service was not there for at least one kind of request. Nothing
    completing at all in a second (every client waiting on a timeout) counts."""
    return sum(1 for row in rows if row["appends_ok"] == 0 or row["decisions_ok"] == 0)


def recovery_s(history, healed_ms):
    """From the heal to the first success of each kind invoked after it (the
    later of the two), in seconds; None when one kind never succeeded again."""
    firsts = []
    for kind, good in (("append", "ok"), ("decision", "answered")):
        done = [op["complete_ms"] for op in history
                if op["op"] == kind and op["outcome"] == good and op["invoke_ms"] >= healed_ms]
        if not done:
            return None
        firsts.append(min(done))
    return round(max(0.0, (max(firsts) - healed_ms) / 1000.0), 3)


def worst_p99(rows):
    """The highest per-second p99 of the load, ms; None when nothing succeeded."""
    values = [row["p99_ms"] for row in rows if row["p99_ms"] is not None]
    return max(values) if values else None


def max_stall(history, start_ms, end_ms):
    """The longest any one request waited (invocation to answer, or to giving
    up) among those in flight at some time of the fault window: {ms, op,
    outcome, invoke_s (since start_ms)}, or None when none was."""
    worst = None
    for op in history:
        if op["invoke_ms"] <= end_ms and op["complete_ms"] >= start_ms:
            took = op["complete_ms"] - op["invoke_ms"]
            if worst is None or took > worst["ms"]:
                worst = {"ms": took, "op": op["op"], "outcome": op["outcome"],
                         "invoke_s": round((op["invoke_ms"] - start_ms) / 1000.0, 3)}
    return worst


# A broker publishes its metrics once a second: a sample shows its counters
# as they were up to this much earlier
METRICS_LAG_S = 1.0


def broker_load(samples, t0, start_s, end_s, duration_s):
    """What each broker carried, from samples [(time, {host: {answered, whole}
    or None})] of its counter of answered requests: {host: {answered (during
    the load), answered_in_fault}}. An increment between two samples at a
    and b happened between a - METRICS_LAG_S and b: it counts in the fault
    only when all of that lies within start_s..end_s (so the fault's first
    1.5 s or so are not counted; a fault is 4 s or more). A counter that went
    down (the broker restarted) counts from zero."""
    out, last = {}, {}
    for when, brokers in samples:
        at = when - t0
        for host, sample in brokers.items():
            entry = out.setdefault(host, {"answered": 0, "answered_in_fault": 0})
            if sample is None:
                continue
            value, before = sample["answered"], last.get(host)
            last[host] = (value, at)
            if before is None:
                continue
            step = value - before[0] if value >= before[0] else value
            if 0 < at <= duration_s:
                entry["answered"] += step
            if before[1] - METRICS_LAG_S >= start_s and at <= end_s:
                entry["answered_in_fault"] += step
    return out


def whole_after_s(samples, healed):
    """Seconds from healed (a time) to the first sample in which every broker
    answered and had every worker; None when none did."""
    for when, brokers in samples:
        if when >= healed and brokers and all(s and s["whole"] for s in brokers.values()):
            return round(when - healed, 3)
    return None


def summary_text(report):
    """One screen: the verdict, the fault, the figures and the checks."""
    r = report
    fault = r["fault"]
    healed = (f"healed at {fault['healed_s']:.1f} s" if fault["healed_in_drill"]
              else f"NOT healed within the drill (held past the load's end at {r['duration_s']} s)")
    recovery = "never" if r["recovery_s"] is None else f"{r['recovery_s']:.2f} s"
    checks = [("nothing acknowledged lost", r["lost"] == 0),
              ("nothing duplicated", r["duplicated"] == 0),
              ("nothing reordered or misplaced", r["reordered"] == 0 and r["misplaced"] == 0),
              ("nothing unexpected, no failed append present",
               r["unexpected"] == 0 and r["failed_but_present"] == 0),
              ("replicas identical", r["replicas_identical"]),
              ("lh verify on every replica", r["verify_ok"]),
              ("every answered decision logged", r["decisions_missing"] == 0),
              ("recovered after the heal", r["recovered"])]
    lines = [f"drill {r['drill']}: {'PASSED' if r['passed'] else 'FAILED'}   ({r['summary']})",
             f"  fault      {fault['what']}: from {fault['start_s']:.1f} s, {healed}",
             f"  load       {r['load']['agents']} agents x {r['load']['rate']} ops/s for "
             f"{r['duration_s']} s ({r['load']['append_pct']}% appends, the rest validate 70/20/10)",
             f"  appends    {r['appends']} sent, {r['acked']} acknowledged, {r['indeterminate']} "
             f"indeterminate ({r['indeterminate_landed']} landed), {r['failed']} failed",
             f"  decisions  {r['decisions']} asked, {r['decisions_answered']} answered, "
             f"{r['decisions_logged']} logged",
             f"  service    unavailable {r['unavailable_s']} s, recovery {recovery}, "
             f"leader changes {r['leader_changes']} (terms {r['terms'][0]} to {r['terms'][1]})",
             f"  latency    worst p99 {_ms(r.get('worst_p99_ms'))}; longest stall in the fault "
             + (f"{_ms(stall['ms'])} ({stall['op']}, {stall['outcome']}, sent "
                f"{stall['invoke_s']:+.1f} s into it)" if (stall := r.get("max_stall")) else "-"),
             f"  log        {r['log_size']} events on each of {r['replicas']} replicas"
             if r["replicas_identical"] else
             f"  log        replicas DIFFER: {json.dumps(r['first_difference'])}"]
    brokers = r.get("brokers") or {}
    if len(brokers) > 1:
        whole = r.get("brokers_whole_s")
        lines.append("  brokers    " + ", ".join(
            f"{host} answered {b['answered']} ({b['answered_in_fault']} in the fault)"
            for host, b in brokers.items())
            + f"; all whole again {'never' if whole is None else f'{whole:.1f} s'} after the heal")
    lines += [f"  {'ok  ' if good else 'FAIL'}  {what}" for what, good in checks]
    if r.get("errors"):
        lines += [f"  note  {e}" for e in r["errors"]]
    return "\n".join(lines) + "\n"


def _ms(value):
    return "-" if value is None else f"{value:.0f} ms"


def plot_svg(report, path):
    """Throughput, errors and p99 latency per second, the fault window shaded."""
    rows = report["per_second"]
    seconds = max(1, len(rows))
    width, left, right, panel, gap, top = 760, 64, 16, 130, 34, 40
    plot_w = width - left - right
    height = top + 3 * panel + 2 * gap + 40
    fault = report["fault"]
    x = lambda s: left + plot_w * s / seconds
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{left}" y="18" font-size="14" font-weight="bold">'
           f'{html.escape(report["drill"])}: {"passed" if report["passed"] else "FAILED"}</text>',
           f'<text x="{left}" y="32" fill="#555">{html.escape(fault["what"])}; shaded: the fault'
           f' ({fault["start_s"]:.1f} to {fault["end_s"]:.1f} s)</text>']
    series = [("operations acknowledged per second",
               [("appends", "#1f77b4", [r["appends_ok"] for r in rows]),
                ("decisions", "#2ca02c", [r["decisions_ok"] for r in rows])]),
              ("errors and timeouts per second", [("errors", "#d62728", [r["errors"] for r in rows])]),
              ("p99 latency of successes, ms",
               [("p99", "#9467bd", [r["p99_ms"] for r in rows])])]
    for k, (title, lines) in enumerate(series):
        y0 = top + k * (panel + gap) + 14
        values = [v for _, _, vs in lines for v in vs if v is not None]
        peak = max(values + [1])
        scale = 10 ** math.floor(math.log10(peak))
        peak = math.ceil(peak / scale) * scale
        y = lambda v: y0 + panel - panel * v / peak
        out.append(f'<text x="{left}" y="{y0 - 4}" font-weight="bold">{title}</text>')
        out.append(f'<rect x="{x(fault["start_s"]):.1f}" y="{y0}" '
                   f'width="{max(1.0, x(fault["end_s"]) - x(fault["start_s"])):.1f}" '
                   f'height="{panel}" fill="#f4a582" opacity="0.35"/>')
        out.append(f'<rect x="{left}" y="{y0}" width="{plot_w}" height="{panel}" fill="none" '
                   'stroke="#999"/>')
        for tick in (0, peak / 2, peak):
            out.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">'
                       f'{tick:g}</text>')
        for n, (name, colour, vs) in enumerate(lines):
            points, segments = [], []
            for s, v in enumerate(vs):
                if v is None:
                    if points:
                        segments.append(points)
                    points = []
                    continue
                points.append(f"{x(s + 0.5):.1f},{y(v):.1f}")
            if points:
                segments.append(points)
            for seg in segments:
                out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" '
                           f'points="{" ".join(seg)}"/>')
            out.append(f'<text x="{left + plot_w - 90 * (len(lines) - n)}" y="{y0 - 4}" '
                       f'fill="{colour}">{name}</text>')
    axis_y = top + 3 * panel + 2 * gap + 14
    step = max(1, round(seconds / 10))
    for s in range(0, seconds + 1, step):
        out.append(f'<text x="{x(s):.1f}" y="{axis_y + 12}" text-anchor="middle">{s}</text>')
    out.append(f'<text x="{left + plot_w / 2}" y="{axis_y + 26}" text-anchor="middle">'
               'seconds since the load started</text>')
    out.append("</svg>")
    with open(path, "w") as svg:
        svg.write("\n".join(out) + "\n")
