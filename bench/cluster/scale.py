"""Scale: a 100,000-trial session on the e2e API server, against bare Jobs.

Katib's experiment status lists every trial, so an experiment of about 14,500
trials hits the API server's object size limit and stalls. A tuneop status
is bounded whatever the budget; this measures it at 100,000 trivial trials
packed 100 per Job (1,000 Jobs) at maxParallel 20, and prints: that the
session completes; the largest status seen on the watch (target < 8 KiB
throughout); the operator's peak RSS (target < 150 MB); the wall time
against this script creating the same Jobs in waves (target <= 1.2x); and
the operator's API requests per trial from the audit log (target < 0.1).

    python -m bench.cluster.scale [--trials N] [--per-job K] [--parallel P]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.cluster import api
from bench.cluster.cluster import BATCH, BenchCluster
from bench.cluster.figures import sessions_watch, snapshot, window_figures
from bench.cluster.machine import PeakRss
from bench.cluster.sessions import Namespace, create_session, phase, session_doc
from bench.common import header, save
from minicluster.controlplane import K8S_VERSION, missing_binaries
from minicluster.watch import Watcher, job_done
from tuneop.api.session import SessionRef
from tuneop.api.spec import parse_spec
from tuneop.core.jobs.manifests import job_manifest
from tuneop.core.planning.packing import job_at, job_count
from tuneop.core.suggest.search import point

__all__ = ["bench_scale", "main"]


def _doc(trials: int, per_job: int, parallel: int) -> dict[str, Any]:
    return session_doc("scale", total=trials, max_parallel=parallel, per_job=per_job)


def run_floor(bc: BenchCluster, trials: int, per_job: int, parallel: int) -> dict[str, Any]:
    """This script as the operator: the same Jobs (same trials, same params), in waves."""
    with Namespace(bc, "bench-scale-floor") as ns:
        spec = parse_spec(_doc(trials, per_job, parallel)["spec"])
        ref = SessionRef(ns, "floor")
        jobs = Watcher(bc.bench_kubeconfig, f"{BATCH}/namespaces/{ns}/jobs").start()
        try:
            a = snapshot(bc)
            n = job_count(spec, trials)
            for wave in range(0, n, parallel):
                names = []
                for index in range(wave, min(wave + parallel, n)):
                    first, size = job_at(spec, trials, index)
                    ts = tuple(range(first, first + size))
                    m = job_manifest(spec, ref, index, ts, [point(spec, t) for t in ts])
                    bc.kube.post(f"{BATCH}/namespaces/{ns}/jobs", m)
                    names.append(m["metadata"]["name"])
                jobs.wait(
                    f"wave at {wave} to complete",
                    lambda names=names: all(job_done(jobs.objects.get(x, {})) for x in names),
                    600,
                )
            b = snapshot(bc)
        finally:
            jobs.stop()
    return window_figures(bc, a, b)


def run_operator(bc: BenchCluster, trials: int, per_job: int, parallel: int) -> dict[str, Any]:
    with Namespace(bc, "bench-scale") as ns:
        op = bc.start_operator(ns, "scale")
        peak = PeakRss(op.pid).start()
        largest = {"bytes": 0}

        def status_size() -> bool:
            obj = ts.objects.get("scale") or {}
            size = len(json.dumps(obj.get("status") or {}, separators=(",", ":")))
            largest["bytes"] = max(largest["bytes"], size)
            return phase(obj) in {"Succeeded", "Failed"}

        ts = sessions_watch(bc, ns)
        try:
            a = snapshot(bc, {"operator": op.pid})
            create_session(bc, ns, _doc(trials, per_job, parallel))
            ts.wait("the session to finish", status_size, 7200, op.check)
            done = snapshot(bc, {"operator": op.pid})
            final = ts.objects["scale"]
            time.sleep(2)
            b = snapshot(bc, {"operator": op.pid})
        finally:
            peak.stop()
            op.stop()
            ts.stop()
    out = window_figures(bc, a, b)
    out.update(
        {
            "seconds": done["mono"] - a["mono"],
            "phase": phase(final),
            "progress": (final.get("status") or {}).get("progress"),
            "largest_status_bytes": largest["bytes"],
            "final_status_bytes": len(json.dumps(final.get("status") or {}, separators=(",", ":"))),
            "peak_rss_mb": peak.peak_kib / 1024,
            **api.operator_requests(bc, a, b),
        }
    )
    return out


def bench_scale(bc: BenchCluster, trials: int, per_job: int, parallel: int) -> dict[str, Any]:
    floor = run_floor(bc, trials, per_job, parallel)
    print(f"  floor: {floor['seconds']:.1f} s", flush=True)
    ours = run_operator(bc, trials, per_job, parallel)
    print(f"  operator: {ours['seconds']:.1f} s, {ours['phase']}", flush=True)
    return {
        "trials": trials,
        "trials_per_job": per_job,
        "maxParallel": parallel,
        "floor": floor,
        "operator": ours,
        "ratio": ours["seconds"] / floor["seconds"],
        "api_per_trial": ours["operator_requests"] / trials,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster.scale")
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--per-job", type=int, default=100)
    parser.add_argument("--parallel", type=int, default=20)
    args = parser.parse_args(argv)
    if missing_binaries():
        print("bench.cluster.scale: the e2e control plane is not built", file=sys.stderr)
        return 2
    header(f"scale: {args.trials:,} trials on kube-apiserver {K8S_VERSION} + node simulator")
    tmp = Path(tempfile.mkdtemp(prefix="tuneop-scale-bench-"))
    bc = BenchCluster(tmp / "cluster")
    try:
        bc.start()
        bc.apply_crd()
        r = bench_scale(bc, args.trials, args.per_job, args.parallel)
    finally:
        bc.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    op = r["operator"]
    print(
        f"{r['trials']:,} trials, {r['trials_per_job']} per Job, maxParallel {r['maxParallel']}:"
        f" {op['phase']} ({op['progress']})\n"
        f"  wall: operator {op['seconds']:.1f} s vs bare Jobs {r['floor']['seconds']:.1f} s ="
        f" {r['ratio']:.2f}x (target <= 1.2x)\n"
        f"  status: largest {op['largest_status_bytes']:,} bytes on the watch, final"
        f" {op['final_status_bytes']:,} (target < 8,192)\n"
        f"  operator peak RSS: {op['peak_rss_mb']:.1f} MB (target < 150)\n"
        f"  API requests per trial: {r['api_per_trial']:.4f} ({op['operator_requests']:,}"
        " requests; target < 0.1)"
    )
    print(f"raw: {save('cluster-scale' if args.trials >= 100_000 else 'cluster-scale-small', r)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
