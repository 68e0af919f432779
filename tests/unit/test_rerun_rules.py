"""Running a session again (``tuneop.core.planning.resume``): stopped trials reopened, finished
sessions left alone, and the lines that say so."""

from __future__ import annotations

from builders import REF, T0
from tuneop.api import vocabulary as V
from tuneop.api.spec import SessionSpec, parse_spec
from tuneop.api.status import SessionStatus, TrialCounts
from tuneop.core.planning.resume import (
    finished_line,
    has_work,
    reopen,
    resume_line,
    stopped_by_user,
    user_stopped_jobs,
)
from tuneop.core.planning.stop import stop_why
from tuneop.core.wire.contract import Outcome, TrialResult, missing_result


def spec(total: int = 4, **more: object) -> SessionSpec:
    return parse_spec(
        {
            "objective": {"metric": "loss", "direction": "minimize"},
            "searchSpace": [{"name": "x", "type": "float", "min": 0, "max": 1}],
            "optimizer": {"type": "bayesian", "seed": 1},
            "totalTrials": total,
            "maxParallel": 2,
            "runner": {"image": "r:1", "objective": "m:f"},
            **more,
        }
    )


def stopped(trial: int, job: int, reason: str = V.CANCELLED) -> TrialResult:
    return missing_result(trial, job, {"x": 0.5}, Outcome.CANCELLED, stop_why(reason))


def ok(trial: int, job: int) -> TrialResult:
    return TrialResult(
        trial=trial, job_index=job, params={"x": 0.1}, outcome=Outcome.SUCCEEDED, value=1.0
    )


def test_only_trials_a_stop_signal_cut_short_are_the_users_to_run_again() -> None:
    results = [
        ok(0, 0),
        stopped(2, 1),
        stopped(1, 1),
        stopped(3, 2, V.DEADLINE_EXCEEDED),  # the session stopped it on purpose
        stopped(4, 3, V.GOAL_REACHED),
        stopped(5, 4),
    ]
    assert [stopped_by_user(r) for r in results] == [False, True, True, False, False, True]
    assert user_stopped_jobs(results) == {1: (1, 2), 4: (5,)}


def cancelled_status() -> SessionStatus:
    return SessionStatus(
        phase=V.Phase.CANCELLED,
        harvested_jobs="0-3",
        inflight="",
        next_job=4,
        next_trial=5,
        trials=TrialCounts(total=8, succeeded=2, cancelled=3),
        exit_code=2,
    )


def test_reopened_jobs_are_in_flight_again_and_no_longer_cancelled() -> None:
    prev = cancelled_status()

    again = reopen(prev, {1: (1, 2), 3: (4,)})

    assert again.harvested_jobs == "0,2"
    assert again.inflight == "1=1-2,3=4"
    assert again.trials.cancelled == 0
    assert again.trials.succeeded == 2
    assert (again.next_job, again.next_trial) == (4, 5)


def test_only_harvested_jobs_are_reopened_so_a_job_is_counted_once() -> None:
    prev = cancelled_status().model_copy(update={"harvested_jobs": "0-2", "inflight": "3=4"})

    assert reopen(prev, {3: (4,), 7: (9,)}) == prev  # in flight already; never launched
    assert reopen(prev, {}) == prev


def finished(total: int = 4, **update: object) -> SessionStatus:
    status = SessionStatus(
        phase=V.Phase.SUCCEEDED,
        message="4/4 trials succeeded; best loss=1",
        harvested_jobs="0-3",
        next_job=4,
        next_trial=4,
        trials=TrialCounts(total=total, succeeded=4),
        exit_code=0,
    )
    return status.model_copy(update=update)


def test_a_finished_session_has_no_work_unless_its_spec_gives_it_some() -> None:
    assert not has_work(spec(4), REF, finished(), T0)
    assert has_work(spec(6), REF, finished(), T0)  # totalTrials raised: extended
    assert not has_work(spec(4, maxParallel=5), REF, finished(), T0)
    # Trials a Ctrl-C stopped in a session that then finished (before reruns ran them
    # again), reopened: in flight, to be run.
    reopened = reopen(finished(harvested_jobs="0-4", next_job=5), {4: (3,)})
    assert has_work(spec(4), REF, reopened, T0)


def test_a_session_failed_by_its_failure_budget_has_work_once_the_budget_is_raised() -> None:
    failed = finished(
        phase=V.Phase.FAILED,
        trials=TrialCounts(total=8, succeeded=1, failed=3),
        next_job=4,
        next_trial=4,
        exit_code=1,
    )
    assert not has_work(spec(8, maxFailedTrials=2), REF, failed, T0)
    assert has_work(spec(8, maxFailedTrials=5), REF, failed, T0)


def test_what_a_rerun_says_first() -> None:
    assert resume_line("demo", 14, 16, 0) == "resuming demo: 14 of 16 trials kept, 2 to run"
    assert resume_line("demo", 3, 4, 2) == (
        "resuming demo: 3 of 4 trials kept (2 collected from the logs of stopped workers), 1 to run"
    )
    assert resume_line("demo", 5, 4, 0).endswith(", 0 to run")


def test_what_a_rerun_of_a_finished_session_says() -> None:
    assert finished_line("demo", finished(), "out/demo") == (
        "session demo already finished: Succeeded (4/4 trials succeeded; best loss=1);"
        " nothing ran. Results: out/demo; raise totalTrials to extend it, or --fresh to"
        " start over"
    )
    failed = finished(phase=V.Phase.FAILED, message="no trial succeeded (4 of 4 failed)")
    assert finished_line("demo", failed, "out/demo").endswith(
        "nothing ran. Results: out/demo; --fresh to start over"
    )
