"""Measurement 2, throughput: N trivial trials at maxParallel P against bare Jobs.

The operator runs one session of N explicit trials of quadratic (one trial per Job) at
maxParallel P, timed from the create to phase Succeeded. The floor, measured in the same
run, is this script doing the operator's work and nothing else: the same Job manifests
(built by tuneop.core.jobs.manifests.job_manifest: same command, same env) created in waves of
P, each wave waited to complete. Both keep a Job and pod watch history for stage times.
The operator runs also give measurement 3, the API requests per trial (``api``).
Target <= 1.3x.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.cluster import api
from bench.cluster.cluster import BATCH, BenchCluster
from bench.cluster.figures import (
    lifecycle,
    lifecycle_watchers,
    sessions_watch,
    snapshot,
    window_figures,
)
from bench.cluster.machine import cpu_delta
from bench.cluster.sessions import Namespace, create_session, explicit_trials, phase, session_doc
from minicluster.watch import job_done
from tuneop.api.session import SessionRef
from tuneop.api.spec import parse_spec
from tuneop.core.jobs.manifests import job_manifest


def run_floor(bc: BenchCluster, trials: int, parallel: int, tag: str) -> dict[str, Any]:
    """This script as the operator: the same Jobs, in waves of ``parallel``, nothing else."""
    with Namespace(bc, f"bench-floor-{tag}") as ns:
        spec = parse_spec(session_doc("floor", trials=explicit_trials(trials))["spec"])
        ref = SessionRef(ns, "floor")
        params = explicit_trials(trials)
        manifests = [job_manifest(spec, ref, i, (i,), [params[i]]) for i in range(trials)]
        jobs, pods = lifecycle_watchers(bc, ns)
        try:
            a = snapshot(bc)
            for first in range(0, trials, parallel):
                wave = manifests[first : first + parallel]
                for manifest in wave:
                    bc.kube.post(f"{BATCH}/namespaces/{ns}/jobs", manifest)
                names = [m["metadata"]["name"] for m in wave]
                jobs.wait(
                    f"wave at {first} to complete",
                    lambda names=names: all(job_done(jobs.objects.get(n, {})) for n in names),
                    300,
                )
            b = snapshot(bc)
            failed = [n for n, j in jobs.objects.items() if job_done(j) != "Complete"]
            if failed:
                raise RuntimeError(f"floor Jobs not Complete: {failed[:5]}")
        finally:
            jobs.stop()
            pods.stop()
    out = window_figures(bc, a, b)
    out["lifecycle_ms"] = lifecycle(jobs, pods, parallel)
    return out


def run_operator(bc: BenchCluster, trials: int, parallel: int, tag: str) -> dict[str, Any]:
    with Namespace(bc, f"bench-tp-{tag}") as ns:
        jobs, pods = lifecycle_watchers(bc, ns)
        ts = sessions_watch(bc, ns)
        op = bc.start_operator(ns, f"throughput-{tag}")
        try:
            a = snapshot(bc, {"operator": op.pid})
            create_session(
                bc, ns, session_doc("tp", trials=explicit_trials(trials), max_parallel=parallel)
            )
            ts.wait(
                "session tp to finish",
                lambda: phase(ts.objects.get("tp")) in {"Succeeded", "Failed"},
                1200,
                op.check,
            )
            done = snapshot(bc, {"operator": op.pid})
            final = ts.objects["tp"]
            if phase(final) != "Succeeded":
                raise RuntimeError(f"session tp ended {phase(final)}: {final.get('status')}")
            # Let the clean-up finish (harvested Jobs deleted), then count everything.
            jobs.wait("the Jobs to be cleaned up", lambda: not jobs.objects, 120, op.check)
            time.sleep(2)
            b = snapshot(bc, {"operator": op.pid})
        finally:
            op.stop()
            jobs.stop()
            pods.stop()
            ts.stop()
    out = window_figures(bc, a, b)
    out.update(
        {
            "seconds": done["mono"] - a["mono"],
            "cpu_s_to_succeeded": cpu_delta(a["cpu"], done["cpu"]),
            **api.operator_requests(bc, a, b),
            "lifecycle_ms": lifecycle(jobs, pods, parallel),
            "handler_runs": api.handler_runs(op),
            "status": final.get("status"),
        }
    )
    return out


def bench_throughput(
    bc: BenchCluster, trials: int, parallel: int, runs: int, kcm_qps: int | None
) -> dict[str, Any]:
    pairs = []
    for run in range(runs):
        floor = run_floor(bc, trials, parallel, str(run))
        print(f"  run {run}: floor {floor['seconds']:.1f} s", flush=True)
        ours = run_operator(bc, trials, parallel, str(run))
        print(f"  run {run}: operator {ours['seconds']:.1f} s", flush=True)
        pairs.append({"floor": floor, "operator": ours})
    floor_s = [p["floor"]["seconds"] for p in pairs]
    ours_s = [p["operator"]["seconds"] for p in pairs]
    return {
        "trials": trials,
        "maxParallel": parallel,
        "runs": runs,
        "kcm_qps": kcm_qps,
        "pairs": pairs,
        "floor_median_s": statistics.median(floor_s),
        "operator_median_s": statistics.median(ours_s),
        "ratio": statistics.median(ours_s) / statistics.median(floor_s),
        **api.per_trial(pairs, trials),
    }
