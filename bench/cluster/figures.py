"""What the measurements share: snapshots, a window's figures, and a Job's stage times.

A measurement takes a ``snapshot`` (wall and monotonic time, CPU per process, the
apiserver's request counter) before and after what it times; ``window_figures`` turns two
into seconds, CPU, counter growth and the audit log's requests by client. ``lifecycle``
reads the histories of a Job watch and a pod watch into median stage times.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any

from bench.cluster.cluster import TS, BenchCluster, totals_delta
from bench.cluster.machine import cpu_delta, cpu_seconds
from minicluster.audit import Request
from minicluster.kube import Json
from minicluster.watch import JobWatch, Watcher, job_done
from tuneop.api.vocabulary import LABEL_MANAGED_BY, MANAGED_BY

MANAGED = f"{LABEL_MANAGED_BY}={MANAGED_BY}"


def nearest_rank(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def mb(kib: int | None) -> float:
    return (kib or 0) / 1024


def first_after(requests: list[Request], start: float, pred: Callable[[Request], bool]) -> float:
    """Seconds from ``start`` to the first request matching ``pred`` (NaN if none)."""
    times = [r.when for r in requests if r.when >= start and pred(r)]
    return min(times) - start if times else float("nan")


def snapshot(bc: BenchCluster, extra: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "wall": time.time(),
        "mono": time.monotonic(),
        "cpu": cpu_seconds({**bc.pids(), **(extra or {})}),
        "metrics": bc.request_totals(),
    }


def window_figures(bc: BenchCluster, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    requests = bc.audit.window(a["wall"], b["wall"])
    by_who: dict[str, int] = {}
    watches: dict[str, int] = {}
    controllers: dict[str, int] = {}
    for r in requests:
        if r.verb == "watch":
            watches[r.who] = watches.get(r.who, 0) + 1
        else:
            by_who[r.who] = by_who.get(r.who, 0) + 1
            if r.who == "controller-manager":
                user = r.user.rsplit(":", 1)[-1]
                controllers[user] = controllers.get(user, 0) + 1
    return {
        "seconds": b["mono"] - a["mono"],
        "cpu_s": cpu_delta(a["cpu"], b["cpu"]),
        "metrics": totals_delta(a["metrics"], b["metrics"]),
        "audit_by_client": by_who,
        "audit_watches_by_client": watches,
        # Each controller has its own client (--use-service-account-credentials), each
        # limited to the controller-manager's --kube-api-qps (20 by default).
        "audit_controllers": dict(sorted(controllers.items(), key=lambda kv: -kv[1])),
    }


def stage(obj: Json) -> Json:
    """What ``lifecycle`` needs of an event: phase, done condition, job-name label."""
    return {
        "phase": (obj.get("status") or {}).get("phase"),
        "done": job_done(obj),
        "job": ((obj.get("metadata") or {}).get("labels") or {}).get("job-name"),
    }


def jobs_watch(bc: BenchCluster, ns: str, history: bool = False) -> JobWatch:
    """The operator's (or the floor's) Jobs of ``ns``, watched as ``tuneop-bench``."""
    watch = JobWatch(bc.bench_kubeconfig, ns, MANAGED, summarize=stage if history else None)
    return watch.start()


def sessions_watch(bc: BenchCluster, ns: str) -> Watcher:
    return Watcher(bc.bench_kubeconfig, f"{TS}/namespaces/{ns}/tuningsessions").start()


def lifecycle_watchers(bc: BenchCluster, ns: str) -> tuple[JobWatch, Watcher]:
    """A Job watch and a pod watch that keep every event's ``stage``."""
    pods = Watcher(bc.bench_kubeconfig, f"/api/v1/namespaces/{ns}/pods", MANAGED, summarize=stage)
    return jobs_watch(bc, ns, history=True), pods.start()


def median_ms(pairs: Iterable[tuple[float | None, float | None]]) -> float | None:
    gaps = [b - a for a, b in pairs if a is not None and b is not None]
    return round(sorted(gaps)[len(gaps) // 2] * 1000, 1) if gaps else None


def first_times(watch: Watcher, test: Callable[[str, Json], bool]) -> dict[str, float]:
    """When each name first had an event passing ``test(type, stage)``."""
    out: dict[str, float] = {}
    for t, kind, name, summary in watch.history:
        if test(kind, summary):
            out.setdefault(name, t)
    return out


def lifecycle(jobs: Watcher, pods: Watcher, parallel: int) -> dict[str, Any]:
    """Median stage times (ms) of the Jobs and their first pods, from two watchers' histories."""
    job_added = first_times(jobs, lambda kind, _s: kind == "ADDED")
    job_finished = first_times(jobs, lambda _k, s: bool(s["done"]))
    job_deleted = first_times(jobs, lambda kind, _s: kind == "DELETED")
    pod_added = first_times(pods, lambda kind, _s: kind == "ADDED")
    pod_running = first_times(pods, lambda _k, s: s["phase"] == "Running")
    pod_finished = first_times(pods, lambda _k, s: s["phase"] in {"Succeeded", "Failed"})
    first_pod: dict[str, str] = {}
    for _t, _kind, name, summary in pods.history:
        if summary["job"]:
            first_pod.setdefault(summary["job"], name)

    jobs_in_order = sorted(job_added, key=lambda n: job_added[n])
    pod_of = {j: first_pod.get(j) or "" for j in jobs_in_order}
    finishes = sorted(job_finished.values())
    refill = []
    for name in jobs_in_order[parallel:]:
        before = [f for f in finishes if f <= job_added[name]]
        if before:
            refill.append((before[-1], job_added[name]))
    return {
        "jobs": len(jobs_in_order),
        "job_created_to_pod_created": median_ms(
            (job_added[j], pod_added.get(p)) for j, p in pod_of.items()
        ),
        "pod_created_to_running": median_ms(
            (pod_added.get(p), pod_running.get(p)) for p in pod_of.values()
        ),
        "pod_running_to_finished": median_ms(
            (pod_running.get(p), pod_finished.get(p)) for p in pod_of.values()
        ),
        "pod_finished_to_job_complete": median_ms(
            (pod_finished.get(p), job_finished.get(j)) for j, p in pod_of.items()
        ),
        "job_created_to_complete": median_ms(
            (job_added[j], job_finished.get(j)) for j in jobs_in_order
        ),
        "job_complete_to_deleted": median_ms(
            (job_finished.get(j), job_deleted.get(j)) for j in jobs_in_order
        ),
        "completion_to_next_job": median_ms(refill),
    }
