"""Measurement 4, restart recovery: how soon a new operator takes over running sessions.

R sessions whose trials sleep D s (maxParallel 1, one trial per Job). Once every session
has its first Job running and recorded in its status, the operator is killed with SIGKILL;
once those Jobs have completed (unharvested), a new operator starts, and a session counts
as recovered when its status counts more harvested Jobs than at the kill (the Job that
finished during the outage was harvested) AND its next Job was created by the new operator.
Reported: the time until all (and the median) recovered, and the new process's start-up
from the audit log.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.cluster.cluster import BenchCluster
from bench.cluster.figures import first_after, jobs_watch, nearest_rank, sessions_watch
from bench.cluster.machine import cpu_delta, cpu_seconds
from bench.cluster.sessions import (
    Namespace,
    create_session,
    explicit_trials,
    session_doc,
    status_jobs,
)
from minicluster.audit import breakdown
from minicluster.operator_process import OperatorProcess
from minicluster.watch import JobWatch, Watcher, job_done

WRITES = frozenset({"create", "patch", "update", "delete"})
KOPF_PATCH = "patch tuningsessions"


class Recovery:
    """Per session: when, after the new operator's start, its next Job appeared and its
    harvest count grew; recovered once both happened."""

    def __init__(self, jobs: JobWatch, ts: Watcher, at_kill: dict[str, dict[str, int]]) -> None:
        self.jobs, self.ts, self.at_kill = jobs, ts, at_kill
        self.t0 = 0.0
        self.recovered: dict[str, float] = {}
        self.new_job: dict[str, float] = {}
        self.harvested: dict[str, float] = {}

    def done(self) -> bool:
        now = time.monotonic()
        for n, kill in self.at_kill.items():
            if n in self.recovered:
                continue
            seen = self.jobs.first_seen.get(f"{n}-{kill['next']}")
            if seen is not None and seen >= self.t0 and n not in self.new_job:
                self.new_job[n] = seen - self.t0
            more = status_jobs(self.ts.objects.get(n), "harvested") > kill["harvested"]
            if more and n not in self.harvested:
                self.harvested[n] = self.ts.seen_at.get(n, now) - self.t0
            if n in self.new_job and n in self.harvested:
                self.recovered[n] = max(self.new_job[n], self.harvested[n])
        return len(self.recovered) == len(self.at_kill)


def wait_both(
    jobs: Watcher, ts: Watcher, predicate: Callable[[], bool], timeout: float, check: Any
) -> None:
    """Wait for a predicate over two watchers: re-check on either's events."""
    deadline = time.monotonic() + timeout
    while True:
        with jobs.cond, ts.cond:
            if predicate():
                return
        if time.monotonic() > deadline:
            raise TimeoutError("timed out waiting for every session to recover")
        check()
        # Wake on whichever watcher sees something first (poll the other at 20 ms).
        with ts.cond:
            ts.cond.wait(0.02)


def kill_mid_job(
    op: OperatorProcess, jobs: JobWatch, ts: Watcher, names: list[str], trial_seconds: int
) -> tuple[dict[str, dict[str, int]], float]:
    """Kill the operator once every session runs its first Job; wait until those Jobs end.
    Each session's harvest count and next Job index at the kill, and the outage so far."""
    ts.wait(
        "every session to record its first Job",
        lambda: all(status_jobs(ts.objects.get(n), "launched") >= 1 for n in names),
        300,
        op.check,
    )
    op.kill()
    killed = time.monotonic()
    at_kill = {
        n: {
            "harvested": status_jobs(ts.objects.get(n), "harvested"),
            "next": int(((ts.objects[n].get("status") or {}).get("nextJob")) or 0),
        }
        for n in names
    }
    if any(v["harvested"] for v in at_kill.values()):
        print("  (some sessions harvested a Job before the kill: trials too short?)")
    # Every session must have a Job that finished while no operator ran.
    jobs.wait(
        "the running Jobs to complete during the outage",
        lambda: all(
            any(job_done(jobs.objects.get(f"{n}-{j}", {})) for j in range(at_kill[n]["next"]))
            for n in names
        ),
        trial_seconds + 300,
    )
    return at_kill, time.monotonic() - killed


def bench_restart(bc: BenchCluster, sessions: int, trial_seconds: int) -> dict[str, Any]:
    sleeper = ["sh", "-c", f"sleep {trial_seconds}; echo '{{\"loss\": 1.0}}'"]
    names = [f"rs-{i}" for i in range(sessions)]
    with Namespace(bc, "bench-restart") as ns:
        jobs = jobs_watch(bc, ns)
        ts = sessions_watch(bc, ns)
        op = bc.start_operator(ns, "restart-1")
        op2: OperatorProcess | None = None
        try:
            for name in names:
                doc = session_doc(
                    name, trials=explicit_trials(3), command=sleeper, timeout=trial_seconds + 60
                )
                create_session(bc, ns, doc)
            at_kill, outage = kill_mid_job(op, jobs, ts, names, trial_seconds)
            recovery = Recovery(jobs, ts, at_kill)
            op2 = bc.operator(ns, "restart-2")
            c0 = cpu_seconds(bc.pids())
            op2.start()
            recovery.t0, w0 = time.monotonic(), op2.started_wall
            wait_both(jobs, ts, recovery.done, 300, op2.check)
            total = time.monotonic() - recovery.t0
            c1 = cpu_seconds({**bc.pids(), "operator": op2.pid})
        finally:
            op.stop()
            if op2 is not None:
                op2.stop()
            jobs.stop()
            ts.stop()
    timing = {"trial_seconds": trial_seconds, "outage_s": outage, "all_recovered_s": total}
    return figures(bc, recovery, w0, timing, cpu_delta(c0, c1))


def figures(
    bc: BenchCluster,
    recovery: Recovery,
    w0: float,
    timing: dict[str, float],
    cpu: dict[str, float],
) -> dict[str, Any]:
    """The record: ``timing`` (trial_seconds, outage_s, all_recovered_s), per-session
    medians, the new process's start-up and requests from the audit log, and its CPU."""
    total = timing["all_recovered_s"]
    requests = bc.audit.window(w0, w0 + total, "operator")
    startup = {
        "first_request": first_after(requests, w0, lambda r: True),
        "sessions_watch": first_after(
            requests, w0, lambda r: r.verb == "watch" and r.resource == "tuningsessions"
        ),
        "first_job_create": first_after(
            requests, w0, lambda r: r.verb == "create" and r.resource == "jobs"
        ),
    }
    times = list(recovery.recovered.values())
    return {
        "sessions": len(recovery.at_kill),
        **timing,
        "recovered_median_s": statistics.median(times),
        "recovered_p95_s": nearest_rank(times, 0.95),
        "new_job_median_s": statistics.median(recovery.new_job.values()),
        "harvest_median_s": statistics.median(recovery.harvested.values()),
        "startup_s": startup,
        "operator_requests": len([r for r in requests if r.verb != "watch"]),
        # The writes that go through the operator's rate limiter (kopf's own patches do not).
        "operator_writes": len([r for r in requests if r.verb in WRITES and r.kind != KOPF_PATCH]),
        "operator_breakdown": breakdown(r for r in requests if r.verb != "watch"),
        "cpu_s": cpu,
        "recovered_s": recovery.recovered,
    }
