"""``tuneop.testing``: its fakes behave as the ports promise, and ``play`` tells what the
real reconciler did."""

from __future__ import annotations

from datetime import timedelta

import pytest
from setuptools import find_packages

from builders import spec
from tuneop.core.wire.contract import Outcome, TrialResult
from tuneop.testing import T0, FakeWarmStart, FrozenClock, World, play


def test_play_returns_the_jobs_trials_and_events_of_the_whole_session() -> None:
    played = play(spec(maxParallel=3), finish=lambda p: float(p["x"]) - 4)
    assert played.status.phase == "Succeeded"
    assert sorted(r.trial for r in played.trials) == list(range(10))
    names = [c.name for c in played.created]
    assert len(names) == len(set(names)) == 10
    assert sorted(played.deleted) == sorted(names)  # jobCleanup Delete: every Job went
    started = [e for e in played.events if e.reason == "TrialsStarted"]
    assert len(started) == 10
    assert played.best is not None and (played.best.trial, played.best.value) == (0, -4.0)
    assert played.last.status == played.status


def test_a_conflict_on_the_status_write_is_retried_and_creates_each_job_once() -> None:
    world = World()
    world.statuses.conflicts = 2
    p = world.reconcile(spec(maxParallel=2))
    assert world.jobs.created == ["demo-0", "demo-1"]
    assert world.statuses.writes == 1 and p.status.next_job == 2


def test_results_the_store_cannot_take_wait_in_their_jobs_and_are_counted_once_later() -> None:
    s = spec(maxParallel=1)
    world = World()
    world.reconcile(s)
    (job,) = world.jobs.active()
    world.jobs.finish(job.name, "no result line\n")
    world.results.unavailable = 1
    p = world.reconcile(s)
    assert p.persist == () and world.jobs.deleted == []  # kept, with its logs
    assert world.status.harvested_jobs == ""
    p = world.reconcile(s)
    assert [r.trial for r in p.persist] == [0] and world.jobs.deleted == ["demo-0"]
    assert world.status.trials.failed == 1  # counted once, though read twice


def test_a_job_finished_without_a_log_is_not_harvested_until_its_log_can_be_read() -> None:
    s = spec(maxParallel=1)
    world = World()
    world.reconcile(s)
    (job,) = world.jobs.active()
    world.jobs.finish(job.name, None)  # its pods are gone: the trial's result is lost
    p = world.reconcile(s)
    assert [r.outcome.value for r in p.persist] == ["ResultsLost"]


def test_the_frozen_clock_moves_only_when_told_or_by_its_step() -> None:
    clock = FrozenClock(T0)
    assert clock.now() == clock.now() == T0
    clock.advance(90)
    assert clock.now() == T0 + timedelta(seconds=90)
    assert clock.monotonic() == 90
    stepping = FrozenClock(T0, step=1)
    one, two = T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)
    assert [stepping.now(), stepping.now()] == [one, two]


def test_play_sees_every_reconcile_and_gives_up_loudly_on_a_session_that_never_ends() -> None:
    seen: list[int] = []
    play(spec(maxParallel=5), check=lambda w: seen.append(len(w.jobs.active())))
    assert max(seen) == 5 and seen[-1] == 0
    with pytest.raises(RuntimeError, match="not finished after 3 reconciles"):
        play(spec(suspend=True), max_reconciles=3)


def test_tuneop_testing_is_a_package_the_wheel_ships() -> None:
    assert "tuneop.testing" in find_packages(where="operator")


def test_a_warm_started_session_learns_from_what_the_fake_source_serves() -> None:
    # The earlier session found x=7 best; TPE sees it as history (trial -1) from the start.
    earlier = [TrialResult(-1, -1, {"x": 7}, Outcome.SUCCEEDED, 0.0)]
    source = FakeWarmStart(earlier)
    s = spec(
        optimizer={"type": "bayesian", "seed": 3},
        totalTrials=4,
        maxParallel=1,
        warmStart={"from": {"session": "earlier"}},
    )
    played = play(s, finish=lambda p: abs(float(p["x"]) - 7), world=World(warm_start=source))
    # Read once per committed round: a reconcile that harvests commits it, then launches.
    assert played.status.phase == "Succeeded" and source.asked >= len(played.plans)
    assert all(r.trial >= 0 for r in played.trials)  # the history is read, never persisted
