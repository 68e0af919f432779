"""``PodCache``: a finished Job's pods from the pod watch, so a harvest needs no pod LIST."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from operator_fakes import FakeApi, fake_kube, grid_spec

from tuneop.adapters.kube.jobs import KubeJobs
from tuneop.adapters.kube.pod_cache import PodCache, slim_pod
from tuneop.api.session import SessionRef
from tuneop.core.jobs.observed import Observed
from tuneop.core.planning.planner import plan

REF = SessionRef(namespace="ns", name="demo", uid="uid-1")


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 1, 1, tzinfo=UTC)


def pod(
    name: str, job: str = "demo-0", uid: str = "u0", phase: str = "Succeeded", **meta: Any
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "creationTimestamp": f"2026-01-01T12:00:{len(name):02d}Z",
            "labels": {"job-name": job, "unrelated": "x"},
            "ownerReferences": [{"kind": "Job", "name": job, "uid": uid, "controller": True}],
            **meta,
        },
        "spec": {"containers": [{"name": "runner", "image": "big" * 100}]},
        "status": {"phase": phase},
    }


@pytest.mark.parametrize(
    ("pods", "uid", "ended", "vouches"),
    [
        ([pod("a")], "u0", 1, True),
        ([pod("a", phase="Failed"), pod("b")], "u0", 2, True),
        ([pod("a", phase="Running")], "u0", 1, False),  # the watch has not shown the end
        ([pod("a")], "u0", 2, False),  # an attempt the watch never showed
        ([pod("a", uid="older")], "u0", 1, False),  # a same-named Job's leftover pod
        ([], "u0", 1, False),
        ([pod("a")], "", 1, False),  # uid unknown: cannot tell whose pods
        ([pod("a")], "u0", 0, False),  # nothing counted (pods deleted at the deadline)
    ],
    ids=[
        "one-ended-pod",
        "every-attempt-ended",
        "end-not-yet-watched",
        "attempt-missing",
        "other-uid",
        "no-pods",
        "no-uid",
        "none-counted",
    ],
)
def test_the_cache_vouches_only_when_it_saw_every_ended_pod(
    pods: list[dict[str, Any]], uid: str, ended: int, vouches: bool
) -> None:
    cache = PodCache()
    for p in pods:
        cache.seen(p)
    found = cache.finished_pods("ns", "demo-0", uid, ended)
    assert (found is not None) is vouches
    if found is not None:
        assert sorted(p["metadata"]["name"] for p in found) == sorted(
            p["metadata"]["name"] for p in pods
        )


@pytest.mark.parametrize(
    "removal",
    ["deleted", "terminating", "job-deleted"],
)
def test_a_pod_that_is_going_leaves_the_cache(removal: str) -> None:
    cache = PodCache()
    cache.seen(pod("a"))
    if removal == "deleted":
        cache.gone(pod("a"))
    elif removal == "terminating":
        cache.seen(pod("a", deletionTimestamp="2026-01-01T12:01:00Z"))
    else:
        cache.job_deleted("ns", "demo-0")
    assert len(cache) == 0
    assert cache.finished_pods("ns", "demo-0", "u0", 1) is None


def test_the_cache_holds_at_most_max_pods_dropping_the_oldest_seen() -> None:
    cache = PodCache(max_pods=3)
    for i in range(10):
        cache.seen(pod(f"p{i}", job=f"demo-{i}"))
    assert len(cache) == 3
    assert cache.finished_pods("ns", "demo-0", "u0", 1) is None
    assert cache.finished_pods("ns", "demo-9", "u0", 1) is not None


def test_a_slim_pod_keeps_what_the_harvest_and_diagnosis_read_and_nothing_else() -> None:
    full = pod("a", annotations={"tuneop.dev/container": "train", "big": "x" * 1000})
    full["status"] = {
        "phase": "Failed",
        "reason": "Evicted",
        "message": "disk pressure",
        "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"},
            {"type": "Ready", "status": "False"},
            {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"},
        ],
        "containerStatuses": [
            {"name": "runner", "state": {"waiting": {"reason": "ImagePullBackOff"}}, "image": "i"},
            {"name": "side", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}},
        ],
    }
    slim = slim_pod(full)
    assert "spec" not in slim
    assert slim["metadata"]["labels"] == {"job-name": "demo-0"}
    assert slim["metadata"]["annotations"] == {"tuneop.dev/container": "train"}
    assert slim["status"]["conditions"] == [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": None},
        {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "EvictionByEvictionAPI",
            "message": None,
        },
    ]
    assert slim["status"]["containerStatuses"] == [
        {"name": "runner", "state": {"waiting": {"reason": "ImagePullBackOff"}}},
        {"name": "side", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}},
    ]
    assert slim["status"]["reason"] == "Evicted"


# --- the harvest with the cache ---


def launched(api: FakeApi, trials_per_job: int = 1) -> tuple[KubeJobs, PodCache]:
    cache = PodCache()
    jobs = KubeJobs(fake_kube(api), pods=cache)
    for c in plan(grid_spec(trialsPerJob=trials_per_job), Observed(session=REF), now=_now()).create[
        :1
    ]:
        jobs.create_job(REF, c)
    return jobs, cache


def watch_all(api: FakeApi, cache: PodCache) -> None:
    for p in api.pods.values():
        cache.seen(copy.deepcopy(p))


def test_a_harvest_the_cache_vouches_for_reads_logs_without_listing_pods() -> None:
    api = FakeApi()
    jobs, cache = launched(api)
    api.finish("ns", "demo-0")
    watch_all(api, cache)
    job = next(j for j in jobs.list_jobs(REF) if j.name == "demo-0")
    logs = jobs.read_logs(REF, job)
    assert logs and "TUNEOP_RESULT" in logs[0]
    assert api.names("list_namespaced_pod") == []
    assert len(api.names("read_namespaced_pod_log")) == 1


def test_a_harvest_lists_pods_when_the_watch_lags() -> None:
    api = FakeApi()
    jobs, cache = launched(api)
    watch_all(api, cache)  # seen while running
    api.finish("ns", "demo-0")  # the end not yet watched
    job = next(j for j in jobs.list_jobs(REF) if j.name == "demo-0")
    logs = jobs.read_logs(REF, job)
    assert logs and "TUNEOP_RESULT" in logs[0]
    assert len(api.names("list_namespaced_pod")) == 1


def test_failed_jobs_are_diagnosed_from_the_cache_when_it_vouches() -> None:
    api = FakeApi()
    jobs, cache = launched(api)
    api.finish("ns", "demo-0", "", state="Failed", reason="BackoffLimitExceeded")
    p = api.job_pods("ns", "demo-0")[-1]
    p["status"].update(reason="Evicted", message="disk pressure")
    watch_all(api, cache)
    (job,) = jobs.list_jobs(REF)
    assert job.infra_reason is not None and "Evicted" in job.infra_reason
    assert api.names("list_namespaced_pod") == []


def test_deleting_a_job_drops_its_pods_from_the_cache() -> None:
    api = FakeApi()
    jobs, cache = launched(api)
    api.finish("ns", "demo-0")
    watch_all(api, cache)
    jobs.list_jobs(REF)
    jobs.delete_job(REF, "demo-0")
    assert len(cache) == 0
