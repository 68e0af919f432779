"""The planner, reconcile by reconcile: launches, harvest, stops, phases and the ledger."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pytest

from builders import DROP, REF, T0, Session, launched, line, result, spec
from tuneop.api import vocabulary as C
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus, status_bytes
from tuneop.core.jobs.observed import JobState, Observed, Params
from tuneop.core.planning.planner import Plan, invalid_plan, needs_harvest, plan
from tuneop.core.ranges import parse_ranges
from tuneop.core.suggest.search import random_point
from tuneop.core.wire.contract import Outcome, TrialResult


def condition(status: SessionStatus, type_: str) -> tuple[str, str] | None:
    c = next((c for c in status.conditions if c.type == type_), None)
    return (c.status, c.reason) if c else None


def rand(total: int, **overrides: Any) -> SessionSpec:
    return spec(optimizer={"type": "random", "seed": 3}, totalTrials=total, **overrides)


def first_plan(s: SessionSpec) -> Plan:
    return plan(s, Observed(session=REF), T0)


# ---- the first reconcile


@pytest.mark.parametrize(
    ("overrides", "jobs"),
    [
        pytest.param({}, 4, id="default-maxParallel-4-of-10"),
        pytest.param({"maxParallel": 20}, 10, id="fewer-jobs-than-slots"),
        pytest.param({"maxParallel": 1}, 1, id="one-at-a-time"),
        pytest.param({"workers": 3}, 3, id="three-workers"),
        pytest.param({"trialsPerJob": 4, "maxParallel": 2}, 2, id="packed-2-of-3"),
    ],
)
def test_first_reconcile_creates_min_of_max_parallel_and_jobs(
    overrides: dict[str, Any], jobs: int
) -> None:
    p = first_plan(spec(**overrides))
    assert [c.index for c in p.create] == list(range(jobs))
    launched_trials = sum(len(c.trials) for c in p.create)
    st = p.status
    assert st.phase == "Running"
    assert (st.jobs.launched, st.jobs.active) == (jobs, jobs)
    assert (st.trials.running, st.trials.pending) == (launched_trials, 10 - launched_trials)
    assert (st.progress, st.start_time, st.exit_code) == ("0/10", T0, None)
    assert [e.reason for e in p.events].count("TrialsStarted") == jobs
    assert p.delete == () and p.persist == ()
    assert p.requeue_after is None  # no session deadline by default


def test_plan_is_pure_same_inputs_same_plan() -> None:
    s = Session(rand(12, maxParallel=3))
    s.reconcile()
    s.finish(0)
    obs = s.observed()
    assert plan(s.spec, obs, s.now) == plan(s.spec, obs, s.now)


# ---- playing whole sessions


PLAYS = [
    pytest.param({}, 1, False, id="grid-one-by-one"),
    pytest.param({"maxParallel": 3}, 3, False, id="grid-waves"),
    pytest.param({"maxParallel": 5}, 2, True, id="grid-out-of-order"),
    pytest.param({"maxParallel": 1}, 1, False, id="serial"),
    pytest.param({"workers": 3, "maxParallel": 2}, 1, True, id="workers"),
    pytest.param({"trialsPerJob": 4, "maxParallel": 2}, 2, False, id="trials-per-job"),
    pytest.param(
        {"optimizer": {"type": "random", "seed": 1}, "totalTrials": 10, "maxParallel": 4},
        3,
        True,
        id="random",
    ),
    pytest.param(
        {"searchSpace": DROP, "trials": [{"x": i} for i in range(10)], "maxParallel": 2},
        1,
        False,
        id="explicit",
    ),
]


@pytest.mark.parametrize(("overrides", "per_step", "newest_first"), PLAYS)
def test_a_session_plays_to_success_within_max_parallel_harvesting_each_trial_once(
    overrides: dict[str, Any], per_step: int, newest_first: bool
) -> None:
    s = Session(spec(**overrides))
    cap = s.spec.max_parallel

    def within_cap(sess: Session) -> None:
        assert len(sess.active()) <= cap
        assert sess.status.jobs.active <= cap

    final = s.play(per_step=per_step, newest_first=newest_first, check=within_cap)
    st = final.status
    assert (st.phase, st.exit_code) == ("Succeeded", 0)
    assert condition(st, C.COMPLETE) == ("True", C.BUDGET_EXHAUSTED)
    assert (st.trials.total, st.trials.succeeded, st.trials.failed) == (10, 10, 0)
    assert (st.trials.running, st.trials.pending, st.progress) == (0, 0, "10/10")
    # Every trial persisted exactly once; no Job index created twice; all Jobs cleaned up.
    assert sorted(r.trial for r in s.persisted) == list(range(10))
    assert sorted(s.created) == list(range(st.jobs.total)) == list(range(len(set(s.created))))
    assert st.jobs.harvested == st.jobs.launched == st.jobs.total
    assert parse_ranges(st.harvested_jobs) == set(range(st.jobs.total))
    assert st.inflight == ""
    assert s.jobs == {}
    best = min(s.persisted, key=lambda r: (r.value, r.trial))
    assert st.best is not None and (st.best.trial, st.best.value) == (best.trial, best.value)
    assert st.completion_time == s.now
    assert final.requeue_after is None


def test_reconciling_a_finished_session_changes_nothing() -> None:
    s = Session(spec(maxParallel=5))
    done = s.play(per_step=5)
    s.later(60)
    again = s.reconcile()
    assert again.create == () and again.delete == () and again.persist == ()
    assert again.events == ()
    assert again.status.completion_time == done.status.completion_time
    assert again.status.trials == done.status.trials


# ---- restarts re-derive the same trials


SEARCHES = [
    pytest.param({}, id="grid"),
    pytest.param({"optimizer": {"type": "random", "seed": 9}, "totalTrials": 10}, id="random"),
    pytest.param(
        {"optimizer": {"type": "random"}, "totalTrials": 10, "trialsPerJob": 3}, id="random-packed"
    ),
    pytest.param({"searchSpace": DROP, "trials": [{"x": -i} for i in range(10)]}, id="explicit"),
]


@pytest.mark.parametrize("overrides", SEARCHES)
def test_trials_launched_over_many_reconciles_equal_those_planned_at_once(
    overrides: dict[str, Any],
) -> None:
    at_once = first_plan(spec(**overrides, maxParallel=200))
    expected = {t: p for c in at_once.create for t, p in zip(c.trials, c.params, strict=True)}
    assert sorted(expected) == list(range(10))

    s = Session(spec(**overrides, maxParallel=2))
    s.play(per_step=1, newest_first=True)
    stepwise = {
        t: p for pl in s.plans for c in pl.create for t, p in zip(c.trials, c.params, strict=True)
    }
    assert stepwise == expected


def test_jobs_created_before_a_lost_status_write_are_adopted_not_recreated() -> None:
    s = spec(maxParallel=4)
    lost_write = first_plan(spec(maxParallel=2))  # created jobs 0 and 1, then crashed
    live = tuple(launched(c) for c in lost_write.create)
    p = plan(s, Observed(session=REF, jobs=live), T0)  # the old (empty) status, live Jobs
    assert [c.index for c in p.create] == [2, 3]
    assert [c.trials for c in p.create] == [(2,), (3,)]
    assert (p.status.next_job, p.status.next_trial) == (4, 4)
    assert p.status.inflight == "0=0,1=1,2=2,3=3"


# ---- harvest and deletion


def test_a_harvested_job_is_deleted_by_the_same_plan_that_records_its_harvest() -> None:
    # Deletion happens after the status write (the reconciler's order), so the plan that
    # folds a Job into the ledger also lists it for deletion.
    s = Session(spec(maxParallel=2))
    s.reconcile()
    s.finish(0)
    p = plan(s.spec, s.observed(), s.now)
    assert p.delete == ("demo-0",)
    assert 0 in parse_ranges(p.status.harvested_jobs)
    assert [r.trial for r in p.persist] == [0]
    assert p.status.trials.succeeded == 1


def test_a_finished_job_whose_logs_were_not_read_is_kept_and_holds_its_slot() -> None:
    s = Session(spec(maxParallel=2))
    s.reconcile()
    s.jobs[0] = replace(s.jobs[0], state=JobState.SUCCEEDED)  # finished, results not read
    assert [j.index for j in needs_harvest(s.status, list(s.jobs.values()))] == [0]
    p = s.reconcile()
    assert p.delete == () and p.create == () and p.persist == ()
    assert 0 not in parse_ranges(p.status.harvested_jobs)
    assert p.status.trials.running == 2
    s.finish(0)
    p = s.reconcile()
    assert p.delete == ("demo-0",) and [c.index for c in p.create] == [2]


def test_a_job_still_present_after_its_harvest_is_deleted_again_but_not_counted_again() -> None:
    s = Session(spec(maxParallel=1))
    s.reconcile()
    finished = s.finish(0)
    s.reconcile()
    s.jobs[0] = finished  # the delete did not go through; it is listed again, with results
    p = s.reconcile()
    assert "demo-0" in p.delete
    assert p.persist == ()
    assert p.status.trials.succeeded == 1
    assert needs_harvest(s.status, [finished]) == []


@pytest.mark.parametrize(
    ("policy", "deleted"),
    [
        pytest.param("Delete", {"demo-0", "demo-1"}, id="delete"),
        pytest.param("KeepFailed", {"demo-0"}, id="keep-failed"),
        pytest.param("Keep", set(), id="keep"),
    ],
)
def test_job_cleanup_policy_decides_which_harvested_jobs_are_deleted(
    policy: str, deleted: set[str]
) -> None:
    s = Session(spec(maxParallel=2, jobCleanup=policy))
    s.reconcile()
    s.finish(0)
    s.finish(1, state=JobState.FAILED, status="failed")
    p = s.reconcile()
    assert set(p.delete) == deleted
    assert (p.status.trials.succeeded, p.status.trials.failed) == (1, 1)
    # A kept Job is never harvested twice.
    assert s.reconcile().persist == ()


def test_a_job_that_vanished_before_harvest_counts_its_trials_as_lost() -> None:
    s = Session(spec(maxParallel=2, trialsPerJob=2, maxFailedTrials=0))
    s.reconcile()
    s.vanish(1)  # trials 2 and 3
    p = s.reconcile()
    lost = [r for r in p.persist if r.outcome is Outcome.RESULTS_LOST]
    assert [r.trial for r in lost] == [2, 3]
    assert [r.params for r in lost] == [{"x": 2}, {"x": 3}]
    assert (p.status.trials.lost, p.status.trials.failed, p.status.trials.succeeded) == (2, 0, 0)
    assert 1 in parse_ranges(p.status.harvested_jobs)
    assert any(e.reason == "TrialFailed" and "ResultsLost" in e.message for e in p.events)
    assert p.status.phase == "Running"  # lost results do not spend maxFailedTrials
    final = s.play(per_step=2)
    assert (final.status.phase, final.status.exit_code) == ("Succeeded", 1)
    assert (final.status.trials.succeeded, final.status.trials.lost) == (8, 2)


def test_a_job_whose_pods_were_gone_at_harvest_counts_as_lost() -> None:
    s = Session(spec(maxParallel=1))
    s.reconcile()
    s.finish(0, logs=None)
    p = s.reconcile()
    assert [r.outcome for r in p.persist] == [Outcome.RESULTS_LOST]
    assert (p.status.trials.lost, p.status.trials.succeeded) == (1, 0)


def test_infrastructure_failures_are_counted_apart_and_do_not_trip_max_failed() -> None:
    s = Session(spec(maxParallel=2, maxFailedTrials=0))
    s.reconcile()
    s.finish(0, logs=["pulling image\n"], state=JobState.FAILED, infra_reason="Evicted")
    p = s.reconcile()
    assert [r.outcome for r in p.persist] == [Outcome.INFRASTRUCTURE]
    assert (p.status.trials.infra_failed, p.status.trials.failed) == (1, 0)
    assert p.status.phase == "Running" and [c.index for c in p.create] == [2]


# ---- stopping: maxFailedTrials, deadline, cancel


@pytest.mark.parametrize(
    ("log_status", "value", "counter"),
    [
        pytest.param("failed", 1.0, "failed", id="failed"),
        pytest.param("timeout", 1.0, "timed_out", id="timed-out"),
        pytest.param("succeeded", math.nan, "metrics_unavailable", id="metrics-unavailable"),
    ],
)
def test_more_failures_than_max_failed_trials_fails_the_session(
    log_status: str, value: float, counter: str
) -> None:
    s = Session(spec(maxParallel=4, maxFailedTrials=1))
    s.reconcile()
    s.finish(0, status=log_status, value=lambda p: value)
    p = s.reconcile()  # one failure: allowed
    assert p.status.phase == "Running" and [c.index for c in p.create] == [4]
    assert getattr(p.status.trials, counter) == 1
    s.finish(1, status=log_status, value=lambda p: value)
    p = s.reconcile()  # two failures: more than 1
    st = p.status
    assert (st.phase, st.exit_code) == ("Failed", 1)
    assert condition(st, C.FAILED) == ("True", C.MAX_FAILED_REACHED)
    assert condition(st, C.PROGRESSING) == ("False", C.MAX_FAILED_REACHED)
    assert p.create == ()
    # Job 0 went with the previous plan; the failed job 1 and the stopped 2-4 go now.
    assert set(p.delete) == {"demo-1", "demo-2", "demo-3", "demo-4"}
    assert (st.trials.failed, st.trials.cancelled, st.jobs.active) == (2, 3, 0)
    assert st.completion_time == s.now


@pytest.mark.parametrize(
    ("elapsed", "phase"),
    [
        pytest.param(99, "Running", id="just-before"),
        pytest.param(100, "Failed", id="at-the-deadline"),
        pytest.param(5000, "Failed", id="long-after"),
    ],
)
def test_deadline_fails_a_session_with_work_left_and_stops_its_jobs(
    elapsed: int, phase: str
) -> None:
    s = Session(spec(maxParallel=3, deadlineSeconds=100))
    s.reconcile()
    s.finish(0)
    s.later(elapsed)
    p = s.reconcile()
    assert p.status.phase == phase
    if phase == "Running":
        assert [c.index for c in p.create] == [3]
        assert p.requeue_after == 1
        return
    assert p.status.exit_code == 2
    assert condition(p.status, C.FAILED) == ("True", C.DEADLINE_EXCEEDED)
    assert p.create == ()
    assert set(p.delete) == {"demo-0", "demo-1", "demo-2"}
    assert (p.status.trials.succeeded, p.status.trials.cancelled) == (1, 2)
    assert p.requeue_after is None


def test_a_finished_session_stays_succeeded_after_its_deadline() -> None:
    s = Session(spec(maxParallel=10, deadlineSeconds=100))
    done = s.play(per_step=10)
    assert done.status.phase == "Succeeded"
    s.later(10_000)
    p = s.reconcile()
    assert (p.status.phase, p.status.exit_code) == ("Succeeded", 0)
    assert condition(p.status, C.COMPLETE) == ("True", C.BUDGET_EXHAUSTED)


def test_jobs_stopped_by_an_earlier_reconcile_are_not_counted_again_while_they_linger() -> None:
    s = Session(spec(maxParallel=3, deadlineSeconds=100))
    first = s.reconcile()
    s.later(100)
    stop = s.reconcile()
    assert stop.status.trials.cancelled == 3
    # The deletes are still in progress: the Jobs are listed again, still active.
    for _ in range(2):
        s.jobs = {c.index: launched(c) for c in first.create}
        p = s.reconcile()
        assert p.persist == ()
        assert set(p.delete) == {"demo-0", "demo-1", "demo-2"}
        assert (p.status.trials.cancelled, p.status.trials.done) == (3, 3)
        assert p.status.phase == "Failed"


def test_a_cancelled_session_stops_its_jobs() -> None:
    s = Session(spec(maxParallel=2))
    s.reconcile()
    p = plan(s.spec, replace(s.observed(), cancelled=True), s.now)
    assert (p.status.phase, p.status.exit_code) == ("Cancelled", 2)
    assert set(p.delete) == {"demo-0", "demo-1"} and p.create == ()
    assert p.status.trials.cancelled == 2


# ---- goal


def value_is_x(params: Params) -> float:
    return float(params["x"])


@pytest.mark.parametrize(
    ("direction", "goal", "value", "reached"),
    [
        ("minimize", 0.5, 0.5, True),
        ("minimize", 0.5, 0.6, False),
        ("maximize", 8.0, 8.0, True),
        ("maximize", 8.0, 7.9, False),
        ("minimize", None, -1e9, False),
    ],
    ids=["min-at-goal", "min-short", "max-at-goal", "max-short", "no-goal"],
)
def test_goal_is_reached_at_or_beyond_its_value(
    direction: str, goal: float | None, value: float, reached: bool
) -> None:
    s = spec(objective={"metric": "loss", "direction": direction, "goal": goal})
    assert s.objective.reached(value) is reached


def test_goal_with_finish_launches_nothing_more_and_lets_running_jobs_finish() -> None:
    s = Session(spec(maxParallel=3, objective={"metric": "loss", "goal": 0.5}))
    s.reconcile()
    s.finish(0, value=value_is_x)  # x=0 reaches the goal
    p = s.reconcile()
    assert p.create == ()
    assert p.delete == ("demo-0",)
    assert p.status.phase == "Running"
    assert sorted(s.jobs) == [1, 2]
    s.finish(1, value=value_is_x)
    s.finish(2, value=value_is_x)
    p = s.reconcile()
    st = p.status
    assert (st.phase, st.exit_code) == ("Succeeded", 0)
    assert condition(st, C.COMPLETE) == ("True", C.GOAL_REACHED)
    assert (st.trials.succeeded, st.trials.pending, st.trials.cancelled) == (3, 7, 0)
    assert st.best is not None and st.best.trial == 0


def test_goal_with_stop_deletes_running_jobs() -> None:
    s = Session(spec(maxParallel=3, objective={"metric": "loss", "goal": 0.5, "onGoal": "Stop"}))
    s.reconcile()
    s.finish(0, value=value_is_x)
    p = s.reconcile()
    st = p.status
    assert p.create == ()
    assert set(p.delete) == {"demo-0", "demo-1", "demo-2"}
    assert (st.phase, st.exit_code) == ("Succeeded", 0)
    assert condition(st, C.COMPLETE) == ("True", C.GOAL_REACHED)
    assert (st.trials.succeeded, st.trials.cancelled, st.jobs.active) == (1, 2, 0)


# ---- suspend, resume, raise the budget


def test_suspend_creates_no_jobs_and_resume_continues() -> None:
    s = Session(spec(maxParallel=2, suspend=True))
    p = s.reconcile()
    assert p.create == ()
    assert p.status.phase == "Suspended"
    assert condition(p.status, C.SUSPENDED) == ("True", C.SUSPENDED_BY_USER)
    assert p.status.trials.pending == 10
    s.spec = spec(maxParallel=2)
    p = s.reconcile()
    assert [c.index for c in p.create] == [0, 1]
    assert p.status.phase == "Running"
    assert condition(p.status, C.SUSPENDED) == ("False", C.RESUMED)


def test_suspending_a_running_session_keeps_its_jobs_and_launches_no_more() -> None:
    s = Session(spec(maxParallel=2))
    s.reconcile()
    s.spec = spec(maxParallel=2, suspend=True)
    s.finish(0)
    p = s.reconcile()
    assert p.create == ()
    assert p.delete == ("demo-0",)  # harvested, so cleaned up; job 1 keeps running
    assert p.status.phase == "Suspended" and sorted(s.jobs) == [1]
    s.finish(1)
    p = s.reconcile()
    assert p.create == () and p.status.phase == "Suspended"
    s.spec = spec(maxParallel=2)
    assert [c.index for c in s.reconcile().create] == [2, 3]


def test_raising_total_trials_of_a_succeeded_session_continues_it() -> None:
    s = Session(rand(4, maxParallel=4))
    done = s.play(per_step=4)
    assert done.status.phase == "Succeeded"
    s.spec = rand(6, maxParallel=4)
    p = s.reconcile()
    assert p.status.phase == "Running"
    assert (p.status.exit_code, p.status.completion_time) == (None, None)
    assert [c.trials for c in p.create] == [(4,), (5,)]
    assert [c.params for c in p.create] == [(random_point(s.spec, 4),), (random_point(s.spec, 5),)]
    final = s.play(per_step=2)
    assert (final.status.phase, final.status.trials.succeeded) == ("Succeeded", 6)
    assert sorted(r.trial for r in s.persisted) == list(range(6))


# ---- bayesian trials packed into a Job are suggested together: a warning says so


@pytest.mark.parametrize(
    ("packing", "warned"),
    [
        pytest.param({"workers": 2}, "spec.workers: bayesian trials in one Job", id="workers"),
        pytest.param({"trialsPerJob": 3}, "up to 3 at once", id="packed"),
        pytest.param({}, None, id="one-per-job-learns-from-every-trial"),
        pytest.param(
            {"trialsPerJob": 5, "optimizer": {"type": "bayesian", "sampler": "nsga2"}},
            None,
            id="nsga2-jobs-within-a-generation-of-50",
        ),
        pytest.param(
            {"trialsPerJob": 3, "optimizer": {"type": "bayesian", "sampler": "nsga2"}},
            "up to 3 at once",
            id="nsga2-jobs-across-generations",
        ),
    ],
)
def test_bayesian_trials_packed_into_a_job_are_warned_about(
    packing: dict[str, Any], warned: str | None
) -> None:
    packing = {"optimizer": {"type": "bayesian"}, **packing}
    s = spec(totalTrials=30, **packing)
    found = [w for w in first_plan(s).warnings if "bayesian" in w]
    assert (found[0] if found else None) is None if warned is None else warned in found[0]


def test_random_trials_packed_into_a_job_are_not_warned_about() -> None:
    assert first_plan(rand(30, workers=2)).warnings == ()


# ---- fail fast: the first trials failing with one error stop the session


def _fail_with(s: Session, index: int, error: str) -> None:
    t = s.jobs[index].trials[0]
    s.finish(index, logs=line(t, 1.0, status="failed", error=error), state=JobState.FAILED)


@pytest.mark.parametrize(
    ("errors", "stopped"),
    [
        pytest.param(["No module named x"] * 3, True, id="same-error-three-times"),
        pytest.param(["No module named x"] * 2, False, id="twice-is-not-yet"),
        pytest.param(["a", "b", "c"], False, id="different-errors"),
        pytest.param(["a", "b", "b", "b"], True, id="the-streak-counts-in-trial-order"),
        pytest.param([None, "a", "a", "a"], False, id="after-a-success-never"),
    ],
)
def test_the_first_trials_failing_with_the_same_error_stop_the_session(
    errors: list[str | None], stopped: bool
) -> None:
    s = Session(rand(20, maxParallel=1))
    p = s.reconcile()
    for i, error in enumerate(errors):
        if error is None:
            s.finish(i)
        else:
            _fail_with(s, i, error)
        p = s.reconcile()
    st = p.status
    if not stopped:
        assert st.phase == "Running"
        return
    assert (st.phase, st.exit_code, p.create) == ("Failed", 2, ())
    assert condition(st, C.FAILED) == ("True", C.REPEATED_TRIAL_ERROR)
    assert st.message.endswith(
        "failed with the same error: b" if "b" in errors else ": No module named x"
    )
    assert st.trials.pending == 20 - len(errors)  # the budget is not spent on the error


# ---- the deadline counts running time: not suspended time; extending starts anew


@pytest.mark.parametrize(
    ("run_before", "suspended_for", "run_after", "phase"),
    [
        pytest.param(60, 10_000, 39, "Running", id="long-suspension-not-counted"),
        pytest.param(60, 10_000, 40, "Failed", id="running-time-adds-up-across-it"),
        pytest.param(0, 10_000, 99, "Running", id="suspended-from-the-start"),
    ],
)
def test_time_suspended_does_not_count_against_the_deadline(
    run_before: int, suspended_for: int, run_after: int, phase: str
) -> None:
    s = Session(rand(20, maxParallel=2, deadlineSeconds=100, suspend=run_before == 0))
    s.reconcile()
    s.later(run_before)
    s.spec = rand(20, maxParallel=2, deadlineSeconds=100, suspend=True)
    p = s.reconcile()
    assert p.status.phase == "Suspended" and p.requeue_after is None  # nothing comes due
    s.later(suspended_for)
    assert s.reconcile().status.phase == "Suspended"  # waiting for capacity is allowed
    s.spec = rand(20, maxParallel=2, deadlineSeconds=100)
    s.reconcile()
    s.later(run_after)
    p = s.reconcile()
    assert p.status.phase == phase
    if phase == "Failed":
        assert condition(p.status, C.FAILED) == ("True", C.DEADLINE_EXCEEDED)


@pytest.mark.parametrize(
    ("run_after", "phase"),
    [
        pytest.param(99, "Running", id="a-new-allowance"),
        pytest.param(100, "Failed", id="which-itself-runs-out"),
    ],
)
def test_extending_a_finished_session_past_its_deadline_starts_a_new_allowance(
    run_after: int, phase: str
) -> None:
    s = Session(rand(4, maxParallel=4, deadlineSeconds=100))
    assert s.play(per_step=4).status.phase == "Succeeded"
    s.later(10_000)
    s.spec = rand(8, maxParallel=1, deadlineSeconds=100)
    p = s.reconcile()
    assert p.status.phase == "Running" and [c.trials for c in p.create] == [(4,)]
    assert p.requeue_after == 100
    s.later(run_after)
    p = s.reconcile()
    assert p.status.phase == phase
    assert p.status.start_time == T0  # the session's start is still when it began


def test_a_session_failed_on_its_deadline_stays_failed_when_extended() -> None:
    s = Session(rand(4, maxParallel=1, deadlineSeconds=100))
    s.reconcile()
    s.later(100)
    assert s.reconcile().status.phase == "Failed"
    s.spec = rand(8, maxParallel=1, deadlineSeconds=100)
    p = s.reconcile()
    assert (p.status.phase, p.create) == ("Failed", ())


def test_a_session_without_a_deadline_never_fails_on_time() -> None:
    s = Session(rand(4, maxParallel=1))
    s.reconcile()
    s.later(30 * 24 * 3600)
    p = s.reconcile()
    assert p.status.phase == "Running" and p.requeue_after is None


def test_a_status_from_before_the_clock_counts_from_its_start_time() -> None:
    s = Session(rand(4, maxParallel=1, deadlineSeconds=100))
    s.reconcile()
    s.status = s.status.model_copy(update={"run_seconds": 0, "running_since": None})
    s.later(100)
    assert s.reconcile().status.phase == "Failed"


# ---- exit codes


def all_succeed() -> SessionStatus:
    return Session(spec(maxParallel=10)).play(per_step=10).status


def one_fails() -> SessionStatus:
    s = Session(spec(maxParallel=10))
    s.reconcile()
    s.finish(0, state=JobState.FAILED, status="failed")
    return s.play(per_step=10).status


def too_many_fail() -> SessionStatus:
    s = Session(spec(maxParallel=10, maxFailedTrials=0))
    s.reconcile()
    s.finish(0, state=JobState.FAILED, status="failed")
    return s.reconcile().status


def none_succeed() -> SessionStatus:
    return Session(spec(maxParallel=10)).play(per_step=10, value=lambda p: None).status


def deadline() -> SessionStatus:
    s = Session(spec(deadlineSeconds=10))
    s.reconcile()
    s.later(10)
    return s.reconcile().status


def cancelled() -> SessionStatus:
    s = Session(spec())
    s.reconcile()
    return plan(s.spec, replace(s.observed(), cancelled=True), s.now).status


def invalid() -> SessionStatus:
    return plan(spec(trialsPerJob=1001), Observed(session=REF), T0).status


@pytest.mark.parametrize(
    ("scenario", "phase", "reason", "code"),
    [
        pytest.param(all_succeed, "Succeeded", C.BUDGET_EXHAUSTED, 0, id="all-succeeded"),
        pytest.param(one_fails, "Succeeded", C.BUDGET_EXHAUSTED, 1, id="some-failed"),
        pytest.param(too_many_fail, "Failed", C.MAX_FAILED_REACHED, 1, id="max-failed"),
        pytest.param(none_succeed, "Failed", C.NO_TRIAL_SUCCEEDED, 1, id="none-succeeded"),
        pytest.param(deadline, "Failed", C.DEADLINE_EXCEEDED, 2, id="deadline"),
        pytest.param(cancelled, "Cancelled", C.CANCELLED, 2, id="cancelled"),
        pytest.param(invalid, "Failed", C.INVALID_SPEC, 2, id="invalid-spec"),
    ],
)
def test_exit_code_tells_success_trial_failures_and_session_failures_apart(
    scenario: Callable[[], SessionStatus], phase: str, reason: str, code: int
) -> None:
    st = scenario()
    assert (st.phase, st.exit_code) == (phase, code)
    done = C.COMPLETE if phase == "Succeeded" else C.FAILED
    assert condition(st, done) == ("True", reason)


# ---- leaderboard


VALUES = [5.0, 3.0, 9.0, 1.0, 7.0, 2.0, 8.0, 3.0, math.nan]


@pytest.mark.parametrize(
    ("direction", "top"),
    [
        # Ranked by value, ties by trial; trial 8 (NaN) never ranks.
        pytest.param("minimize", [3, 5, 1, 7, 0], id="minimize"),
        pytest.param("maximize", [2, 6, 4, 0, 1], id="maximize"),
    ],
)
def test_leaderboard_keeps_the_top_five_in_order(direction: str, top: list[int]) -> None:
    s = Session(
        spec(
            searchSpace=DROP,
            trials=[{"i": i} for i in range(len(VALUES))],
            objective={"metric": "loss", "direction": direction},
            maxParallel=3,
        )
    )
    final = s.play(per_step=1, newest_first=True, value=lambda p: VALUES[int(p["i"])])
    st = final.status
    assert [e.trial for e in st.leaderboard] == top
    assert [e.value for e in st.leaderboard] == [VALUES[t] for t in top]
    assert st.best == st.leaderboard[0]
    assert st.best.params == {"i": top[0]}
    assert (st.trials.succeeded, st.trials.metrics_unavailable) == (8, 1)


def test_new_best_event_only_when_the_best_changes() -> None:
    s = Session(spec(searchSpace=DROP, trials=[{"v": 2}, {"v": 1}, {"v": 3}], maxParallel=1))
    s.play(per_step=1, value=lambda p: p["v"])
    new_best = [e.message for pl in s.plans for e in pl.events if e.reason == "NewBest"]
    assert new_best == ["trial 0: loss=2", "trial 1: loss=1"]


# ---- the status stays small


def test_status_stays_under_16_kib_for_thousands_of_trials_finishing_out_of_order() -> None:
    s = Session(rand(1200, maxParallel=40))
    sizes: list[int] = []

    def record(sess: Session) -> None:
        sizes.append(status_bytes(sess.status))

    def sometimes_nan(p: Params) -> float:
        v = float(p["x"])
        return math.nan if v == 7 else v

    final = s.play(per_step=7, newest_first=True, value=sometimes_nan, check=record)
    assert final.status.trials.done == 1200
    assert final.status.trials.metrics_unavailable > 0
    assert max(sizes) < 16 * 1024


def test_status_stays_under_16_kib_with_32_wide_parameters() -> None:
    names = [f"p{i:02d}_" + "w" * 59 for i in range(32)]
    params = [{"name": n, "type": "float", "min": -1e6, "max": 1e6} for n in names]
    s = Session(
        spec(searchSpace=params, optimizer={"type": "random"}, totalTrials=200, maxParallel=50)
    )
    final = s.play(per_step=25, newest_first=True)
    st = final.status
    assert status_bytes(st) < 16 * 1024
    assert st.best is not None and st.best.params is not None and set(st.best.params) == set(names)
    assert len(st.leaderboard) == 5
    assert all(e.params is None and e.params_omitted for e in st.leaderboard[1:])


# ---- invalid specs keep the ledger


def test_invalid_plan_fails_with_invalid_spec_and_keeps_the_ledger() -> None:
    s = Session(spec(maxParallel=3))
    s.reconcile()
    s.finish(0)
    s.finish(1)
    prev = s.reconcile().status
    obs = s.observed()
    p = invalid_plan(obs, s.now, ["spec.workers: too few"])
    st = p.status
    assert (st.phase, st.exit_code, st.message) == ("Failed", 2, "spec.workers: too few")
    assert condition(st, C.SPEC_VALID) == ("False", C.INVALID_SPEC)
    assert condition(st, C.FAILED) == ("True", C.INVALID_SPEC)
    ledger = ("harvested_jobs", "next_job", "next_trial", "inflight", "trials", "leaderboard")
    assert {k: getattr(st, k) for k in ledger} == {k: getattr(prev, k) for k in ledger}
    assert p.create == () and p.delete == () and p.persist == ()
    assert [e.reason for e in p.events] == [C.INVALID_SPEC]
    # Already failed: the warning is not repeated.
    assert invalid_plan(replace(obs, status=st), s.now, ["spec.workers: too few"]).events == ()


def test_an_unplannable_spec_is_invalid_and_fixing_it_resumes_where_it_stopped() -> None:
    s = Session(spec(maxParallel=2))
    s.reconcile()
    s.spec = spec(maxParallel=2, trialsPerJob=1001)
    p = s.reconcile()
    assert p.status.phase == "Failed"
    assert p.status.message.startswith("spec.trialsPerJob: ")
    assert p.create == ()
    s.spec = spec(maxParallel=3)
    p = s.reconcile()
    assert p.status.phase == "Running"
    assert condition(p.status, C.SPEC_VALID) == ("True", C.VALID)
    assert condition(p.status, C.FAILED) is None
    assert [c.index for c in p.create] == [2]
    assert Counter(s.created) == Counter({0: 1, 1: 1, 2: 1})


# ---- bayesian: the planner asks a suggester for exactly the new trials


def test_bayesian_trials_come_from_the_suggester_with_history_and_pending() -> None:
    calls: list[tuple[list[int], list[Params], int, int]] = []

    def suggest(
        s: SessionSpec,
        history: Sequence[TrialResult],
        pending: Sequence[Params],
        first: int,
        count: int,
    ) -> list[Params]:
        calls.append((sorted(r.trial for r in history), list(pending), first, count))
        return [{"x": 100 + first + k} for k in range(count)]

    s = spec(optimizer={"type": "bayesian"}, totalTrials=6, maxParallel=2)
    p1 = plan(s, Observed(session=REF), T0, suggest=suggest)
    assert [c.params for c in p1.create] == [({"x": 100},), ({"x": 101},)]
    live = [launched(c) for c in p1.create]
    done = replace(
        live[0], state=JobState.SUCCEEDED, results=(replace(result(0, 1.0), params={"x": 100}),)
    )
    p2 = plan(s, Observed(session=REF, jobs=(done, live[1]), status=p1.status), T0, suggest)
    # The harvested Job holds its slot until it is deleted, after p2's status write.
    assert p2.create == () and p2.delete == (done.name,) and p2.again
    assert done.results is not None
    history = done.results
    p3 = plan(
        s, Observed(session=REF, jobs=(live[1],), status=p2.status, history=history), T0, suggest
    )
    assert calls == [([], [], 0, 2), ([0], [{"x": 101}], 2, 1)]
    assert [c.params for c in p3.create] == [({"x": 102},)]


def test_a_session_where_no_trial_succeeded_says_whose_fault_it_was() -> None:
    st = none_succeed()
    assert st.phase == "Failed"
    assert st.message == (
        f"no trial succeeded ({st.trials.total} of {st.trials.total} failed:"
        f" {st.trials.total} without the objective's metric)"
    )
