"""``JobCache``: the watch's view of each session's Jobs, with this process's own writes on top."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from operator_fakes import FakeApi, condition, fake_kube, grid_spec, job_json

from tuneop.adapters.kube.job_cache import JobCache, session_of, slim
from tuneop.adapters.kube.job_status import observed_job
from tuneop.adapters.kube.jobs import KubeJobs
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.core.jobs.manifests import job_manifest
from tuneop.core.jobs.observed import JobState
from tuneop.core.planning.planner import JobToCreate

REF = SessionRef(namespace="ns", name="demo", uid="uid-1")


def spec() -> SessionSpec:
    return grid_spec()


def job(index: int, version: int = 1, done: bool = False) -> dict[str, Any]:
    doc = job_json(
        spec(), REF, index, (index,), conditions=[condition("Complete")] if done else None
    )
    doc["metadata"]["resourceVersion"] = str(version)
    return doc


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def names(cache: JobCache) -> list[str] | None:
    jobs = cache.snapshot(REF)
    return None if jobs is None else sorted(j["metadata"]["name"] for j in jobs)


def listed_cache(*jobs: dict[str, Any]) -> tuple[JobCache, Clock]:
    clock = Clock()
    cache = JobCache(clock=clock, resync_seconds=30)
    cache.listed(REF, list(jobs))
    return cache, clock


# What happens after a LIST showing demo-0 → the names a reconcile sees.
STEPS = [
    pytest.param([], ["demo-0"], id="the-list-itself"),
    pytest.param([("seen", job(1))], ["demo-0", "demo-1"], id="the-watch-adds-a-job"),
    pytest.param(
        [("created", job(1))], ["demo-0", "demo-1"], id="a-created-job-shows-before-the-watch"
    ),
    pytest.param(
        [("created", job(1)), ("seen", job(1, 2))],
        ["demo-0", "demo-1"],
        id="then-the-watch-takes-over",
    ),
    pytest.param([("deleted", "demo-0")], [], id="a-deleted-job-is-gone-at-once"),
    pytest.param(
        [("deleted", "demo-0"), ("seen", job(0, 2, done=True))],
        [],
        id="a-late-event-does-not-revive-it",
    ),
    pytest.param([("gone", job(0))], [], id="the-watch-reports-a-deletion"),
    pytest.param([("elapse", 29.0)], ["demo-0"], id="trusted-within-the-resync-window"),
    pytest.param([("elapse", 30.0)], None, id="listed-again-after-the-window"),
]


@pytest.mark.parametrize(("steps", "expected"), STEPS)
def test_a_reconcile_sees_the_watch_and_its_own_writes(
    steps: list[tuple[str, Any]], expected: list[str] | None
) -> None:
    cache, clock = listed_cache(job(0))
    for what, arg in steps:
        if what == "seen":
            cache.seen(arg)
        elif what == "gone":
            cache.gone(arg)
        elif what == "created":
            cache.created(REF, arg)
        elif what == "deleted":
            cache.deleted(REF, arg)
        else:
            clock.now += arg
    assert names(cache) == expected


def test_a_session_never_listed_is_not_vouched_for() -> None:
    cache = JobCache()
    cache.seen(job(0))
    assert cache.snapshot(REF) is None


def test_a_new_list_replaces_the_view_and_clears_what_this_process_did() -> None:
    cache, _ = listed_cache(job(0), job(1))
    cache.created(REF, job(2))
    cache.deleted(REF, "demo-0")
    cache.listed(REF, [job(0), job(3)])
    assert names(cache) == ["demo-0", "demo-3"]


def test_a_watch_event_that_arrived_while_the_list_was_on_its_way_is_kept() -> None:
    cache, _ = listed_cache(job(0, 1))
    sent = cache.mark()  # a LIST sent before the Job finished
    cache.seen(job(0, 5, done=True))
    cache.listed(REF, [job(0, 3)], sent)
    (only,) = cache.snapshot(REF) or []
    mapped = observed_job(only)
    assert mapped is not None and mapped.state is JobState.SUCCEEDED


def test_a_list_sent_after_a_watch_event_wins_whatever_the_versions_look_like() -> None:
    # resourceVersions are opaque: a larger-looking one on the watch is no reason to keep it.
    cache, _ = listed_cache(job(0, 1))
    cache.seen(job(0, 900))
    sent = cache.mark()
    cache.listed(REF, [job(0, 30, done=True)], sent)
    (only,) = cache.snapshot(REF) or []
    mapped = observed_job(only)
    assert mapped is not None and mapped.state is JobState.SUCCEEDED


def test_only_the_operators_own_deletions_count_as_its_own() -> None:
    cache, _ = listed_cache(job(0), job(1))
    cache.deleted(REF, "demo-0")
    assert cache.gone(job(0)) is True
    assert cache.gone(job(1)) is False  # someone else deleted it: worth a reconcile


def test_a_forgotten_session_is_listed_again() -> None:
    cache, _ = listed_cache(job(0))
    cache.forget(REF.key)
    assert cache.snapshot(REF) is None


def test_slim_keeps_what_the_job_mapping_reads() -> None:
    full = job(3, done=True)
    full["metadata"]["managedFields"] = [{"manager": "x"}]
    small = slim(full)
    assert observed_job(small) == observed_job(full)
    assert "managedFields" not in small["metadata"]
    assert len(str(small)) < len(str(full))


def test_the_owner_reference_names_the_session() -> None:
    doc = job(0)
    assert session_of(doc) == ("ns", "demo")
    doc["metadata"]["ownerReferences"] = [
        {"kind": "Deployment", "name": "x", "controller": False},
        {"kind": "TuningSession", "name": "a-very-long-name", "controller": True},
    ]
    assert session_of(doc) == ("ns", "a-very-long-name")
    del doc["metadata"]["ownerReferences"]
    assert session_of(doc) == ("ns", "demo")  # the session label


def to_create(index: int) -> JobToCreate:
    trials = (index,)
    manifest = job_manifest(spec(), REF, index, trials, [{"x": index}])
    return JobToCreate(
        index=index, name=f"demo-{index}", trials=trials, params=({"x": index},), manifest=manifest
    )


def test_kube_jobs_lists_once_then_answers_from_the_cache() -> None:
    api = FakeApi()
    jobs = KubeJobs(fake_kube(api), cache=JobCache())
    jobs.create_job(REF, to_create(0))
    jobs.list_jobs(REF)  # never listed: a LIST
    jobs.create_job(REF, to_create(1))
    jobs.delete_job(REF, "demo-0")
    seen = jobs.list_jobs(REF)
    assert [j.name for j in seen] == ["demo-1"]
    assert seen[0].state is JobState.ACTIVE
    assert len(api.names("list_namespaced_job")) == 1


def test_without_a_cache_every_reconcile_lists() -> None:
    api = FakeApi()
    jobs = KubeJobs(fake_kube(api))
    jobs.list_jobs(REF)
    jobs.list_jobs(REF)
    assert len(api.names("list_namespaced_job")) == 2


def test_an_existing_job_of_ours_is_cached_from_its_read() -> None:
    api = FakeApi()
    cache = JobCache()
    jobs = KubeJobs(fake_kube(api), cache=cache)
    jobs.list_jobs(REF)
    api.create_namespaced_job("ns", copy.deepcopy(to_create(0).manifest))  # a retried create
    jobs.create_job(REF, to_create(0))
    assert [j.name for j in jobs.list_jobs(REF)] == ["demo-0"]
