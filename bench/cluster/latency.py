"""Measurement 1, apply -> first Job: how soon the operator answers a new session.

Sequential sessions (one explicit trial of quadratic each), each waited to Succeeded
before the next, after one unrecorded warm-up session. A sample is the time from the create
call returning to the session's first Job appearing on a Job watch; p50 and p95 by nearest
rank. The audit log then tells where the time went: the operator's first request, its
first session GET and its Job create, by the apiserver's receive times. Target p50 < 1 s.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.cluster.cluster import BenchCluster
from bench.cluster.figures import first_after, jobs_watch, nearest_rank, sessions_watch
from bench.cluster.sessions import Namespace, create_session, explicit_trials, phase, session_doc
from minicluster.audit import breakdown


def bench_latency(bc: BenchCluster, sessions: int) -> dict[str, Any]:
    with Namespace(bc, "bench-latency") as ns:
        jobs = jobs_watch(bc, ns)
        ts = sessions_watch(bc, ns)
        op = bc.start_operator(ns, "latency")
        samples: list[float] = []
        marks: list[tuple[str, float]] = []
        try:
            for i in range(sessions + 1):
                name = "warmup" if i == 0 else f"lat-{i}"
                create_session(bc, ns, session_doc(name, trials=explicit_trials(1)))
                t0, w0 = time.monotonic(), time.time()
                job = f"{name}-0"
                seen = jobs.wait(
                    f"Job {job}", lambda job=job: jobs.first_seen.get(job), 30, op.check
                )
                if i > 0:
                    samples.append(seen - t0)
                    marks.append((name, w0))
                ts.wait(
                    f"{name} to succeed",
                    lambda name=name: phase(ts.objects.get(name)) in {"Succeeded", "Failed"},
                    60,
                    op.check,
                )
                if phase(ts.objects.get(name)) != "Succeeded":
                    raise RuntimeError(f"{name} ended {phase(ts.objects.get(name))}")
        finally:
            op.stop()
            jobs.stop()
            ts.stop()
    requests = bc.audit.window(marks[0][1] - 1, time.time(), "operator", ns) if marks else []
    parts: dict[str, list[float]] = {"first_request": [], "first_get": [], "job_create": []}
    for _name, w0 in marks:
        later = [r for r in requests if r.when >= w0]
        parts["first_request"].append(first_after(later, w0, lambda r: True))
        parts["first_get"].append(
            first_after(later, w0, lambda r: r.verb == "get" and r.resource == "tuningsessions")
        )
        parts["job_create"].append(
            first_after(later, w0, lambda r: r.verb == "create" and r.resource == "jobs")
        )
    return {
        "sessions": sessions,
        "samples_s": samples,
        "p50_s": statistics.median(samples),
        "p95_s": nearest_rank(samples, 0.95),
        "min_s": min(samples),
        "max_s": max(samples),
        "breakdown_median_s": {k: statistics.median(v) for k, v in parts.items()},
        "breakdown_s": parts,
        "operator_requests_per_session": breakdown(requests),
    }
