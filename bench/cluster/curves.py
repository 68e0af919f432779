"""Cost curves: how the operator's costs grow with the number of concurrent small sessions.

For each N of ``--sessions`` (default 10,30,100,300,1000), a fresh namespace and a fresh
operator (its Prometheus port on): N sessions of T explicit trials of quadratic (default
10, all in one Job: ``trialsPerJob`` T, maxParallel 1) created one after another as fast
as the API server takes them, then waited until every one has Succeeded. Per N it prints:

- the operator's RSS: peak (VmHWM) and when idle (after it started watching, before the
  first session);
- apply → first Job: from each create call returning to that session's first Job
  appearing on a Job watch, p50 and p95 (nearest rank);
- reconcile latency p50 and p95: the operator's own ``tuneop_reconcile_duration_seconds``
  histogram, scraped at the end, read as the upper bound of the bucket holding the
  quantile (its buckets: 10, 25, 50, 100, 250, 500 ms, 1, 2.5, 5, 10, 30, 60 s);
- API requests per second: the operator's requests in the audit log (watches apart) from
  the first create to the last session Succeeded, over that time; and per session;
- the wall time from the first create to the last Succeeded.

The slope of each figure against N is a least-squares line (per 100 sessions). The raw
record goes to bench/results/``--record``.json and the plot (plotly, its script from
the CDN) beside it as .html. The machine's load is sampled throughout and printed.

    python -m bench.cluster.curves [--sessions 10,30,100] [--trials 10] [--record NAME]
        [--add-to EARLIER]  (a later run's points added to an earlier record's)
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.cluster.cluster import BenchCluster
from bench.cluster.figures import jobs_watch, mb, nearest_rank, sessions_watch
from bench.cluster.machine import Neighbours, PeakRss, proc_status_kib
from bench.cluster.report import print_neighbours
from bench.cluster.sessions import Namespace, create_session, explicit_trials, phase, session_doc
from bench.common import RESULTS, header, save
from minicluster.audit import breakdown
from minicluster.controlplane import BUILD_SCRIPT, K8S_VERSION, REPO_ROOT, missing_binaries

__all__ = ["FIGURES", "histogram_quantile", "main", "slope"]

# (key in a point's record, what it is, its unit)
FIGURES = (
    ("rss_peak_mb", "operator peak RSS", "MB"),
    ("first_job_p50_s", "apply -> first Job p50", "s"),
    ("first_job_p95_s", "apply -> first Job p95", "s"),
    ("reconcile_p50_s", "reconcile p50", "s"),
    ("reconcile_p95_s", "reconcile p95", "s"),
    ("api_per_s", "operator API requests/s", "1/s"),
)
HISTOGRAM = "tuneop_reconcile_duration_seconds_bucket"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def histogram_quantile(text: str, q: float) -> float | None:
    """The upper bound of the bucket holding quantile ``q`` of the reconcile histogram
    (every ``result`` label summed), from Prometheus' text format; None: no reconcile."""
    counts: dict[float, float] = {}
    for le, value in re.findall(rf'^{HISTOGRAM}{{[^}}]*le="([^"]+)"[^}}]*}} (\S+)$', text, re.M):
        bound = float("inf") if le == "+Inf" else float(le)
        counts[bound] = counts.get(bound, 0.0) + float(value)
    total = counts.get(float("inf"), 0.0)
    if total <= 0:
        return None
    for bound in sorted(counts):
        if counts[bound] >= q * total:
            return bound
    return None


def slope(points: list[dict[str, Any]], key: str) -> float | None:
    """Least-squares slope of ``key`` against the number of sessions, per 100 sessions."""
    xy = [(p["sessions"], p[key]) for p in points if p.get(key) is not None]
    if len(xy) < 2:
        return None
    mx = sum(x for x, _ in xy) / len(xy)
    my = sum(y for _, y in xy) / len(xy)
    den = sum((x - mx) ** 2 for x, _ in xy)
    return 100 * sum((x - mx) * (y - my) for x, y in xy) / den if den else None


def run_point(bc: BenchCluster, sessions: int, trials: int) -> dict[str, Any]:
    """N sessions at once through a fresh operator: the point's figures."""
    port = free_port()
    with Namespace(bc, f"bench-curve-{sessions}") as ns:
        jobs = jobs_watch(bc, ns)
        ts = sessions_watch(bc, ns)
        bc.operator_args = [*bc.operator_args, "--metrics-port", str(port)]
        try:
            op = bc.start_operator(ns, f"curve-{sessions}")
        finally:
            bc.operator_args = bc.operator_args[:-2]
        peak = PeakRss(op.pid).start()
        try:
            time.sleep(1.0)
            idle = proc_status_kib(op.pid, "VmRSS")
            created: dict[str, float] = {}
            w0, t0 = time.time(), time.monotonic()
            for i in range(sessions):
                name = f"c{i}"
                doc = session_doc(name, trials=explicit_trials(trials), per_job=trials)
                create_session(bc, ns, doc)
                created[name] = time.monotonic()
            names = set(created)
            ts.wait(
                f"{sessions} sessions to succeed",
                lambda: all(phase(ts.objects.get(n)) == "Succeeded" for n in names),
                300 + 3 * sessions,
                op.check,
            )
            seconds, w1 = time.monotonic() - t0, time.time()
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10)
            text = metrics.read().decode()
            hwm = proc_status_kib(op.pid, "VmHWM")
        finally:
            peak.stop()
            op.stop()
            jobs.stop()
            ts.stop()
    firsts = [
        jobs.first_seen[f"{n}-0"] - t for n, t in created.items() if f"{n}-0" in jobs.first_seen
    ]
    requests = [r for r in bc.audit.window(w0, w1, "operator") if r.verb != "watch"]
    return {
        "sessions": sessions,
        "trials": trials,
        "seconds": seconds,
        "rss_idle_mb": mb(idle),
        "rss_peak_mb": mb(max(hwm or 0, peak.peak_kib)),
        "first_job_p50_s": nearest_rank(firsts, 0.5) if firsts else None,
        "first_job_p95_s": nearest_rank(firsts, 0.95) if firsts else None,
        "first_jobs_seen": len(firsts),
        "reconcile_p50_s": histogram_quantile(text, 0.5),
        "reconcile_p95_s": histogram_quantile(text, 0.95),
        "api_requests": len(requests),
        "api_per_s": len(requests) / seconds,
        "api_per_session": len(requests) / sessions,
        "api_breakdown": breakdown(requests),
    }


def plot(points: list[dict[str, Any]], path: Path) -> None:
    """One small chart per figure against the number of sessions, as one HTML page."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=3, subplot_titles=[f"{t} ({u})" for _, t, u in FIGURES])
    xs = [p["sessions"] for p in points]
    for i, (key, title, _unit) in enumerate(FIGURES):
        ys = [p.get(key) for p in points]
        fig.add_scatter(x=xs, y=ys, name=title, mode="lines+markers", row=i // 3 + 1, col=i % 3 + 1)
    fig.update_xaxes(type="log", title_text="concurrent sessions")
    fig.update_layout(title="tuneop operator: cost curves", showlegend=False, height=700)
    fig.write_html(path, include_plotlyjs="cdn")


def print_point(p: dict[str, Any]) -> None:
    def s(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    print(
        f"{p['sessions']:>5} sessions: {p['seconds']:.1f} s; RSS idle {p['rss_idle_mb']:.1f} MB,"
        f" peak {p['rss_peak_mb']:.1f} MB; apply->first Job p50 {s(p['first_job_p50_s'])} s,"
        f" p95 {s(p['first_job_p95_s'])} s; reconcile p50 <= {s(p['reconcile_p50_s'])} s,"
        f" p95 <= {s(p['reconcile_p95_s'])} s; operator API {p['api_per_s']:.1f} requests/s"
        f" ({p['api_per_session']:.1f} per session)",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster.curves")
    parser.add_argument("--sessions", default="10,30,100,300,1000", help="comma-separated Ns")
    parser.add_argument("--trials", type=int, default=10, help="trials per session")
    parser.add_argument("--record", default="cluster-curves", help="raw record's name")
    parser.add_argument(
        "--add-to", help="an earlier record's name: its points join this run's (plot, slopes)"
    )
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.sessions.split(",") if x.strip()]
    if missing_binaries():
        print(
            f"bench.cluster.curves: run {BUILD_SCRIPT.relative_to(REPO_ROOT)} first",
            file=sys.stderr,
        )
        return 2
    header(f"cost curves: the operator on kube-apiserver {K8S_VERSION} + node simulator")
    print(f"sessions {sizes}, {args.trials} trials each (one Job each)", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="tuneop-curves-"))
    bc = BenchCluster(tmp / "cluster")
    neighbours = Neighbours(lambda: [*bc.pids().values()]).start()
    points: list[dict[str, Any]] = []
    if args.add_to:
        earlier = json.loads((RESULTS / f"{args.add_to}.json").read_text())
        points = [{**p, "from_record": args.add_to} for p in earlier["points"]]
    failed = None
    try:
        bc.start()
        bc.apply_crd()
        for n in sizes:
            points.append(run_point(bc, n, args.trials))
            print_point(points[-1])
    except Exception as err:  # keep what was measured; say where it stopped
        failed = f"{type(err).__name__}: {err}"[:500]
        print(f"stopped: {failed} (state kept: {bc.state_dir})", flush=True)
    finally:
        neighbours.stop()
        bc.stop()
        if failed is None:
            shutil.rmtree(tmp, ignore_errors=True)
    summary = neighbours.summary()
    print_neighbours(summary)
    slopes = {key: slope(points, key) for key, _, _ in FIGURES}
    for key, title, unit in FIGURES:
        value = slopes[key]
        shown = "-" if value is None else f"{value:+.3f} {unit}"
        print(f"slope of {title}: {shown} per 100 sessions")
    record = {"trials": args.trials, "points": points, "slopes": slopes, "failed": failed}
    print(f"raw: {save(args.record, {**record, 'neighbours': summary})}")
    if points:
        html = RESULTS / f"{args.record}.html"
        plot(points, html)
        print(f"plot: {html}")
    return 0 if failed is None and points else 1


if __name__ == "__main__":
    raise SystemExit(main())
