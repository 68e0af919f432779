"""Operator start-up benchmark: what ``tuneop operator`` imports, and how soon it acts.

Two measurements, each printed with the machine's load average:

1. **Import time** of the operator command's path (``tuneop.main`` and the kopf
   handlers, as ``tuneop operator`` imports them before its first request), from
   ``python -X importtime``: the total, and each top-level package's share (the
   sum of its modules' own times), kopf's, the ``kubernetes`` client's and
   aiohttp's named. Run ``--runs`` times; the median is printed.
2. **Start to first request and to first committed progress** against the e2e
   control plane (testing/minicluster, with its audit log): a session of ``--jobs``
   one-trial Jobs (maxParallel the same) is launched by a first operator, which is
   then SIGKILLed; once every Job has finished (unharvested), a second operator
   starts, and the audit log gives the seconds from its process start to its first
   API request and to its first status write (``patch tuningsessions/status``).

``--load N`` runs N busy-loop processes during both measurements (the issue's
``LOAD=2``). Targets (issue 27): first request <= 1 s quiet, <= 2 s at LOAD=2; first
status write <= 1.5 s quiet, <= 3 s at LOAD=2, with 20 finished Jobs waiting.

    python -m bench.operator_start_bench [--runs 3] [--jobs 20] [--load 2] [--no-cluster] [--trace]

``--trace`` prints each second start's API requests (from the audit log) with their times.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import header, save

__all__ = ["busy_loops", "import_shares", "main", "measure_start"]

ROOT = Path(__file__).resolve().parents[1]
# What ``tuneop operator`` imports before its first API request, in its order.
OPERATOR_IMPORTS = (
    "import tuneop.main; from tuneop.controller.command import load_operator; load_operator()"
)
NAMED = ("kopf", "kubernetes", "aiohttp", "pydantic", "tuneop", "yaml", "jsonschema", "urllib3")
# Installed here by the dev extra only (tests check manifests with it): ``kubernetes.dynamic``
# imports it, and jsonschema with it, when present; the operator's image has neither.
DEV_ONLY = ("kubernetes_validate",)


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


@contextmanager
def busy_loops(n: int) -> Iterator[None]:
    """``n`` processes spinning a CPU each (the issue's ``LOAD=n``) while the block runs."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(max(0, n))]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def import_shares(stderr: str) -> tuple[float, dict[str, float]]:
    """Total import seconds, and each top-level package's own-time sum, from -X importtime."""
    total = 0.0
    shares: dict[str, float] = {}
    for line in stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        own = int(parts[0]) / 1e6
        name = parts[2].strip()
        total += own
        root = name.split(".")[0]
        shares[root] = shares.get(root, 0.0) + own
    return total, shares


def measure_imports(runs: int) -> dict[str, Any]:
    totals: list[float] = []
    per: dict[str, list[float]] = {}
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", OPERATOR_IMPORTS],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        total, shares = import_shares(proc.stderr)
        totals.append(total)
        for name, seconds in shares.items():
            per.setdefault(name, []).append(seconds)
    medians = {k: statistics.median(v) for k, v in per.items()}
    top = dict(sorted(medians.items(), key=lambda kv: -kv[1])[:12])
    named = {k: medians.get(k, 0.0) for k in (*NAMED, *DEV_ONLY)}
    return {"total_s": statistics.median(totals), "named_s": named, "top_s": top}


def print_imports(figures: dict[str, Any]) -> None:
    total = figures["total_s"]
    print(f"import of the operator's path: {total:.3f} s (median)  [{load()}]")
    for name, seconds in figures["named_s"].items():
        print(f"  {name:<12} {seconds:7.3f} s  {100 * seconds / total:5.1f} %")
    others = {k: v for k, v in figures["top_s"].items() if k not in figures["named_s"]}
    print("  next largest: " + ", ".join(f"{k} {v:.3f} s" for k, v in others.items()))
    dev = sum(figures["named_s"][k] for k in DEV_ONLY)
    dev_only = ", ".join(DEV_ONLY)
    print(f"  ({dev_only} is the dev extra's, not the image's: {total - dev:.3f} s without)")


def measure_start(runs: int, jobs: int, trace: bool = False) -> dict[str, Any]:
    """Seconds from a new operator's process start to its first request and first status
    write, with ``jobs`` finished Jobs waiting; one fresh session per run."""
    from bench.cluster.cluster import BenchCluster
    from bench.cluster.figures import jobs_watch, sessions_watch
    from bench.cluster.sessions import Namespace
    from minicluster.controlplane import missing_binaries

    missing = missing_binaries()
    if missing:
        raise SystemExit(f"the e2e control plane is not built: {missing}")
    tmp = Path(tempfile.mkdtemp(prefix="tuneop-start-bench-"))
    bc = BenchCluster(tmp / "cluster")
    rows: list[dict[str, float]] = []
    try:
        bc.start()
        bc.apply_crd()
        with Namespace(bc, "bench-start") as ns:
            watches = jobs_watch(bc, ns), sessions_watch(bc, ns)
            try:
                for run in range(runs):
                    rows.append(_one_run(bc, ns, watches, f"start-{run}", jobs, trace))
                    print(f"  run {run + 1}: {rows[-1]}  [{load()}]")
            finally:
                for watch in watches:
                    watch.stop()
    finally:
        for op in bc.operators:
            op.stop()
        bc.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    keys = rows[0].keys() if rows else ()
    return {"runs": rows, "median_s": {k: statistics.median(r[k] for r in rows) for k in keys}}


def _one_run(
    bc: Any, ns: str, watches: tuple[Any, Any], name: str, jobs: int, trace: bool
) -> dict[str, float]:
    """A first operator launches ``jobs`` Jobs of a new session and is SIGKILLed; once they
    have finished, the second start is measured."""
    from bench.cluster.sessions import create_session, session_doc, status_jobs
    from minicluster.watch import job_done

    watch, sessions = watches
    sleeper = ["sh", "-c", "sleep 2; echo '{\"loss\": 1.0}'"]
    trials = [{"x": i} for i in range(2 * jobs)]  # a second wave to launch
    doc = session_doc(name, trials=trials, max_parallel=jobs, command=sleeper)
    first = bc.start_operator(ns, f"{name}-a")
    create_session(bc, ns, doc)
    sessions.wait(
        f"{name} to record its {jobs} Jobs",
        lambda: status_jobs(sessions.objects.get(name), "launched") >= jobs,
        300,
        first.check,
    )
    first.kill()
    watch.wait(
        f"the Jobs of {name} to finish",
        lambda: all(job_done(watch.objects.get(f"{name}-{j}", {})) for j in range(jobs)),
        300,
    )
    return _second_start(bc, ns, name, trace)


def _second_start(bc: Any, ns: str, name: str, trace: bool) -> dict[str, float]:
    """Start the second operator, wait for its first status write of ``name``, stop it."""
    op = bc.operator(ns, f"{name}-b").start()
    w0 = op.started_wall

    def first(pred: Any) -> float | None:
        times = [r.when for r in bc.audit.window(w0, time.time() + 1, "operator") if pred(r)]
        return min(times) - w0 if times else None

    def status_write(r: Any) -> bool:
        return bool(
            r.verb == "patch"
            and r.resource == "tuningsessions"
            and r.subresource == "status"
            and r.name == name
        )

    try:
        written = op.wait_for("the first status write", lambda: first(status_write), 120)
        request = first(lambda r: True) or float("nan")
        job_create = first(lambda r: r.verb == "create" and r.resource == "jobs")
        if trace:
            for r in bc.audit.window(w0, time.time() + 1, "operator"):
                what = " ".join(str(x) for x in (r.verb, r.resource, r.subresource, r.name) if x)
                print(f"    {r.when - w0:6.3f} {what}")
    finally:
        op.stop()
    return {
        "first_request_s": round(request, 3),
        "first_status_write_s": round(written, 3),
        "first_job_create_s": round(job_create, 3) if job_create is not None else float("nan"),
        **milestones(op.log_text(), w0),
    }


# kopf's log lines that mark the start's stages, in the order they come.
MILESTONES = {
    "startup_done_s": "Activity 'startup' succeeded",
    "login_done_s": "Activity 'login' succeeded",
    "first_handler_s": "Handler '",
}


def milestones(log: str, w0: float) -> dict[str, float]:
    """Seconds from ``w0`` to each milestone in the last start's part of the log."""
    from datetime import datetime

    part = log.rsplit("===== start", 1)[-1]
    out: dict[str, float] = {}
    for key, text in MILESTONES.items():
        line = next((ln for ln in part.splitlines() if text in ln and ln.startswith("[")), None)
        if line is not None:
            stamp = datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f").astimezone()
            out[key] = round(stamp.timestamp() - w0, 3)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=20, help="finished Jobs waiting at the start")
    ap.add_argument("--load", type=int, default=0, help="busy-loop processes meanwhile")
    ap.add_argument("--no-cluster", action="store_true", help="only the import time")
    ap.add_argument("--trace", action="store_true", help="print each start's requests")
    args = ap.parse_args(argv)
    header(f"operator start-up (LOAD={args.load})")
    out: dict[str, Any] = {"load_processes": args.load}
    with busy_loops(args.load):
        time.sleep(1.0 if args.load else 0.0)  # let the loops take their cores
        out["imports"] = measure_imports(args.runs)
        print_imports(out["imports"])
        if not args.no_cluster:
            out["start"] = measure_start(args.runs, args.jobs, args.trace)
            med = out["start"]["median_s"]
            print(
                f"start -> first API request {med['first_request_s']:.2f} s, first status write"
                f" {med['first_status_write_s']:.2f} s, first Job created"
                f" {med['first_job_create_s']:.2f} s (median of {args.runs}, {args.jobs}"
                f" finished Jobs waiting)  [{load()}]"
            )
    out["load_after"] = os.getloadavg()
    print(f"saved {save('operator_start', out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
