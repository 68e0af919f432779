"""Per-trial retries and worker pods that never start, decided by the pure planner.

A failed trial runs again alone, in a retry Job, until ``retries`` is spent; the
trials that succeeded are counted at once and never run again. A Job the reserved
exit code failed (PodFailurePolicy) is not retried. A Job whose pod has not
started within ``podStartTimeoutSeconds`` is ended as an infrastructure failure.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from builders import T0, Session, line, spec
from tuneop.api import vocabulary as V
from tuneop.core.jobs.manifests import ENV_ATTEMPT, decode_job
from tuneop.core.jobs.observed import JobState
from tuneop.core.planning.planner import plan
from tuneop.core.planning.retry import BROKEN_REASON, MAX_RETRY_RUNS
from tuneop.core.wire.contract import Outcome


def _log(trials: tuple[int, ...], failing: set[int]) -> str:
    out = [
        line(t, None, status="failed", error="boom") if t in failing else line(t, float(t))
        for t in trials
    ]
    return "\n".join(out) + "\n"


def _fail(s: Session, index: int, failing: set[int], **kw: Any) -> None:
    j = s.jobs[index]
    state = JobState.FAILED if failing & set(j.trials) else JobState.SUCCEEDED
    s.finish(index, logs=_log(j.trials, failing), state=state, **kw)


def _retry_of(manifest: dict[str, Any]) -> int | None:
    wire = decode_job(manifest)
    assert wire is not None
    return wire.retry.of if wire.retry is not None else None


def _env(manifest: dict[str, Any]) -> dict[str, str]:
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container["env"]}


def test_in_a_three_trial_job_whose_second_trial_fails_once_only_it_runs_again() -> None:
    s = Session(spec(trialsPerJob=3, totalTrials=3, retries=1))
    (first,) = s.reconcile().create
    assert first.trials == (0, 1, 2)
    _fail(s, 0, {1})
    p = s.reconcile()
    (retry,) = p.create
    assert retry.trials == (1,) and retry.params == ({"x": 1},)
    wire = decode_job(retry.manifest)
    assert wire is not None and wire.retry is not None
    assert (wire.retry.of, wire.retry.attempt) == (0, 1)
    assert _env(retry.manifest)[ENV_ATTEMPT] == "1"
    assert [r.trial for r in p.persist] == [0, 2]  # the failed attempt is not a result yet
    t = p.status.trials
    assert (t.succeeded, t.failed, t.retried, t.running) == (2, 0, 1, 1)
    assert p.status.inflight == "1=1" and p.status.retry_jobs == 1
    assert any(e.reason == V.TRIAL_RETRIED for e in p.events)
    s.finish(retry.index)
    p = s.reconcile()
    assert p.status.phase == "Succeeded" and p.status.trials.succeeded == 3
    runs = Counter(t for c in (first, retry) for t in c.trials)
    assert runs == {0: 1, 1: 2, 2: 1}
    assert sorted(r.trial for r in s.persisted) == [0, 1, 2]


@pytest.mark.parametrize(("retries", "jobs"), [(0, 1), (1, 2), (3, 4)])
def test_a_trial_that_always_fails_runs_retries_plus_one_times_then_counts_once(
    retries: int, jobs: int
) -> None:
    s = Session(spec(totalTrials=1, retries=retries))
    s.reconcile()
    while s.active():
        _fail(s, s.active()[0].index, {0})
        s.reconcile()
    assert len(s.created) == jobs
    assert (s.status.trials.failed, s.status.trials.retried) == (1, retries)
    assert [r.outcome for r in s.persisted] == [Outcome.FAILED]


def test_the_reserved_exit_code_fails_the_trial_at_once_without_retries() -> None:
    s = Session(spec(totalTrials=1, retries=3))
    s.reconcile()
    _fail(s, 0, {0}, reason=BROKEN_REASON)
    p = s.reconcile()
    assert p.create == () and p.status.trials.failed == 1 and p.status.trials.retried == 0


@pytest.mark.parametrize(
    ("outcome_line", "retried"),
    [
        (line(0, None, status="failed", error="x"), True),
        (line(0, None, status="timeout"), True),
        (line(0, float("nan")), True),
        ("", True),  # the worker died without reporting (OOMKilled)
    ],
    ids=["failed", "timed-out", "metrics-unavailable", "no-report"],
)
def test_trial_failures_of_any_kind_are_retried(outcome_line: str, retried: bool) -> None:
    s = Session(spec(totalTrials=1, retries=1))
    s.reconcile()
    s.finish(0, logs=outcome_line + "\n", state=JobState.FAILED)
    assert bool(s.reconcile().create) is retried


RETRY_ON = [
    pytest.param(["Failed"], (True, False, False), id="failed-only-as-a-job-backoffLimit"),
    pytest.param(["TimedOut"], (False, True, False), id="timed-out-only"),
    pytest.param(["MetricsUnavailable", "TimedOut"], (False, True, True), id="two-of-three"),
]


@pytest.mark.parametrize(("retry_on", "expected"), RETRY_ON)
def test_retry_on_names_the_failures_that_run_again(
    retry_on: list[str], expected: tuple[bool, bool, bool]
) -> None:
    outcomes = (
        line(0, None, status="failed", error="x"),
        line(0, None, status="timeout"),
        line(0, float("nan")),
    )
    for outcome_line, retried in zip(outcomes, expected, strict=True):
        s = Session(spec(totalTrials=1, retries=3, retryOn=retry_on))
        s.reconcile()
        s.finish(0, logs=outcome_line + "\n", state=JobState.FAILED)
        p = s.reconcile()
        assert bool(p.create) is retried, (retry_on, outcome_line)
        if not retried:  # counted at once, as with no retries left
            assert p.status.trials.failed == 1 and p.status.trials.retried == 0


def test_infrastructure_failures_and_lost_results_are_not_retried() -> None:
    s = Session(spec(totalTrials=2, retries=2, maxParallel=2))
    s.reconcile()
    s.finish(0, logs=[""], state=JobState.FAILED, infra_reason="pod x Evicted")
    s.vanish(1)
    p = s.reconcile()
    assert p.create == ()
    assert (p.status.trials.infra_failed, p.status.trials.lost) == (1, 1)


def test_a_retry_created_before_a_lost_status_write_is_taken_over_not_created_again() -> None:
    s = Session(spec(totalTrials=1, retries=2))
    s.reconcile()
    _fail(s, 0, {0})
    before, failed_job = s.status, s.jobs[0]
    p = s.reconcile()  # creates the retry Job...
    s.status = before  # ...but its status write was lost, so nothing was deleted either
    s.jobs[0] = failed_job
    again = plan(s.spec, s.observed(), s.now)
    assert again.create == ()
    assert again.status.inflight == p.status.inflight == "1=0"
    assert again.status.retry_jobs == 1 and again.status.next_job == 2
    t = again.status.trials
    assert (t.failed, t.lost, t.retried) == (0, 0, 1)


def test_retry_jobs_leave_the_split_over_workers_as_it_was() -> None:
    s = Session(spec(workers=4, totalTrials=8, retries=1, maxParallel=2))
    s.reconcile()
    _fail(s, 0, {0})
    s.finish(1)
    s.reconcile()
    s.play()
    created = [c for p in s.plans for c in p.create]
    fresh = [c for c in created if _retry_of(c.manifest) is None]
    assert [len(c.trials) for c in fresh] == [2, 2, 2, 2]
    assert s.status.jobs.total == 5 and s.status.phase == "Succeeded"


def test_a_session_that_launches_nothing_more_counts_the_waiting_retries_as_failed() -> None:
    s = Session(
        spec(totalTrials=3, retries=2, maxParallel=3, objective={"metric": "loss", "goal": 0})
    )
    s.reconcile()
    s.finish(0)  # loss 0: the goal
    _fail(s, 1, {1})
    p = s.reconcile()
    assert p.create == ()
    assert p.status.trials.failed == 1 and p.status.trials.retried == 0


def test_a_retry_of_a_packed_job_holds_only_its_failed_trials_in_its_slot() -> None:
    s = Session(spec(trialsPerJob=4, totalTrials=8, retries=1, maxParallel=1))
    s.reconcile()
    _fail(s, 0, {0, 2})
    p = s.reconcile()
    assert [c.trials for c in p.create] == [(0, 2)]  # the retry takes the slot; no new Job
    assert p.status.inflight == "1=0,1=2"
    assert _retry_of(p.create[0].manifest) == 0


# ---- pods that never start


def _stuck(s: Session, seconds: float, ready: bool = False) -> None:
    s.jobs[0] = replace(
        s.jobs[0],
        started_at=T0,
        pods_ready=ready,
        not_started=("ImagePullBackOff", "pod demo-0-x container runner: no such image"),
    )
    s.now = T0 + timedelta(seconds=seconds)


def test_a_job_whose_pod_never_starts_is_an_infrastructure_failure_with_its_reason() -> None:
    s = Session(spec(totalTrials=2, maxParallel=1, maxFailedTrials=0, podStartTimeoutSeconds=60))
    s.reconcile()
    _stuck(s, 60)
    p = s.reconcile()
    assert "demo-0" in p.delete
    assert [r.outcome for r in p.persist] == [Outcome.INFRASTRUCTURE]
    assert (p.status.trials.infra_failed, p.status.trials.failed) == (1, 0)
    assert p.status.infrastructure.pods_not_started == 1
    assert p.status.phase == "Running" and [c.trials for c in p.create] == [(1,)]
    (cond,) = [c for c in p.status.conditions if c.type == V.INFRASTRUCTURE_DEGRADED]
    assert (cond.status, cond.reason) == ("True", "ImagePullBackOff")
    assert "no such image" in cond.message
    (event,) = [e for e in p.events if e.reason == "ImagePullBackOff"]
    assert event.type == "Warning" and "60s" in event.message


@pytest.mark.parametrize(
    ("seconds", "ready", "ended", "requeue"),
    [(59, False, False, 1.0), (30, False, False, 30.0), (600, True, False, None)],
    ids=["just-before", "halfway", "ready"],
)
def test_a_job_is_ended_only_when_its_pod_is_not_ready_past_the_timeout(
    seconds: float, ready: bool, ended: bool, requeue: float | None
) -> None:
    s = Session(spec(totalTrials=2, maxParallel=1, podStartTimeoutSeconds=60))
    s.reconcile()
    _stuck(s, seconds, ready)
    p = s.reconcile()
    assert ("demo-0" in p.delete) is ended
    assert p.requeue_after == requeue


def test_a_job_ended_for_not_starting_is_deleted_again_but_not_counted_again() -> None:
    s = Session(spec(totalTrials=2, maxParallel=1, podStartTimeoutSeconds=60))
    s.reconcile()
    _stuck(s, 61)
    lingering = s.jobs[0]
    s.reconcile()
    s.jobs[0] = lingering
    p = s.reconcile()
    assert "demo-0" in p.delete and p.persist == ()
    assert p.status.trials.infra_failed == 1 and p.status.infrastructure.pods_not_started == 1


def test_disruptions_seen_at_harvest_are_counted_apart_from_trial_failures() -> None:
    s = Session(spec(totalTrials=1))
    s.reconcile()
    s.finish(0, disruptions=2)
    p = s.reconcile()
    assert p.status.infrastructure.evictions == 2
    assert (p.status.trials.failed, p.status.trials.succeeded) == (0, 1)


@pytest.mark.parametrize(
    ("reason", "word"),
    [
        ("ErrImagePull", "ErrImagePull"),
        ("Unschedulable", "Unschedulable"),
        ("not a word", V.POD_NOT_STARTED),
        ("\x1b[2Jowned", V.POD_NOT_STARTED),
        ("A" * 200, V.POD_NOT_STARTED),
    ],
    ids=["image", "unschedulable", "spaces", "escape", "too-long"],
)
def test_the_pods_reason_becomes_the_conditions_only_when_it_is_one_word(
    reason: str, word: str
) -> None:
    s = Session(spec(totalTrials=1, podStartTimeoutSeconds=1))
    s.reconcile()
    _stuck(s, 5)
    s.jobs[0] = replace(s.jobs[0], not_started=(reason, "detail"))
    p = s.reconcile()
    (cond,) = [c for c in p.status.conditions if c.type == V.INFRASTRUCTURE_DEGRADED]
    assert cond.reason == word
    assert next(e.reason for e in p.events if e.type == "Warning") == word


def test_a_retry_takes_at_most_max_retry_runs_runs_the_rest_keep_their_failure() -> None:
    n = 2 * MAX_RETRY_RUNS + 2
    s = Session(
        spec(
            trialsPerJob=n,
            totalTrials=n,
            retries=1,
            maxParallel=1,
            searchSpace=[{"name": "x", "type": "int", "min": 0, "max": n}],
        )
    )
    s.reconcile()
    failing = set(range(0, n, 2))  # every other trial: MAX_RETRY_RUNS + 1 runs
    _fail(s, 0, failing)
    p = s.reconcile()
    retried = tuple(range(0, 2 * MAX_RETRY_RUNS, 2))
    assert [c.trials for c in p.create] == [retried]
    assert p.status.inflight == ",".join(f"1={t}" for t in retried)
    assert [r.trial for r in p.persist if r.outcome is Outcome.FAILED] == [2 * MAX_RETRY_RUNS]
