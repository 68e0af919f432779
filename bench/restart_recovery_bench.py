"""Restart recovery benchmark: how soon a new operator recovers N running sessions.

The measurement is ``bench.cluster.restart`` (``python -m bench.cluster --only restart``
runs it among the others): N sessions each with a Job running, the operator SIGKILLed,
the Jobs finish while nothing runs, a new operator starts; a session counts as recovered
once its finished Job is harvested and its next Job created. This runs only that, with
``--load N`` busy loops beside it (the issue's ``LOAD=2``), and prints the seconds to
recover all (and the median), the new process's first request, and its writes by kind
(every write but kopf's own patches waits for the 20 writes/s limiter), with the load.
Target (issue 27): 50 sessions recovered <= 10 s at the default ``--api-qps 20``.

    python -m bench.restart_recovery_bench [--sessions 50] [--trial-seconds 30] [--load 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import header, save
from bench.operator_start_bench import busy_loops, load

__all__ = ["main", "writes_by_kind"]

WRITE_VERBS = ("create", "patch", "update", "delete")


def writes_by_kind(breakdown: dict[str, int]) -> dict[str, int]:
    """The writes of an audit breakdown ("verb resource[/sub]" -> count), kopf's included."""
    return {k: v for k, v in breakdown.items() if k.split(" ", 1)[0] in WRITE_VERBS}


def measure(sessions: int, trial_seconds: int) -> dict[str, Any]:
    from bench.cluster.cluster import BenchCluster
    from bench.cluster.restart import bench_restart
    from minicluster.controlplane import missing_binaries

    missing = missing_binaries()
    if missing:
        raise SystemExit(f"the e2e control plane is not built: {missing}")
    tmp = Path(tempfile.mkdtemp(prefix="tuneop-restart-bench-"))
    bc = BenchCluster(tmp / "cluster")
    try:
        bc.start()
        bc.apply_crd()
        return bench_restart(bc, sessions, trial_seconds)
    finally:
        bc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--trial-seconds", type=int, default=30)
    ap.add_argument("--load", type=int, default=0, help="busy-loop processes meanwhile")
    args = ap.parse_args(argv)
    header(f"restart recovery, {args.sessions} sessions (LOAD={args.load})")
    print(f"before: {load()}")
    with busy_loops(args.load):
        time.sleep(1.0 if args.load else 0.0)
        r = measure(args.sessions, args.trial_seconds)
        after = load()
    writes = writes_by_kind(r["operator_breakdown"])
    events = writes.get("create events", 0)
    print(
        f"all {r['sessions']} recovered {r['all_recovered_s']:.1f} s after the new process"
        f" started (median {r['recovered_median_s']:.1f} s, p95 {r['recovered_p95_s']:.1f} s);"
        f" first API request {r['startup_s']['first_request']:.2f} s  [{after}]"
    )
    print(
        f"writes until then: {r['operator_writes']} rate-limited, {events} of them Events;"
        f" by kind: {writes}"
    )
    path = save(
        "restart_recovery", {**r, "load_processes": args.load, "load_after": os.getloadavg()}
    )
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
