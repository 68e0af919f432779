"""The operator's status writes: a round that only launched Jobs leaves its write to the next.

On the cluster each status write is an API request. A reconcile that harvests commits
its batch (a write) and then launches into the freed slots; with
``defer_launch_writes`` that launch round writes nothing, and the next write (the next
harvest's) carries its Jobs, recomputed from the live Jobs. The session runs the same:
the same trials, each once, the same final status, at about half the writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from builders import spec as make_spec
from tuneop.api.session import SessionRef
from tuneop.core.planning.ledger import HARVEST_BATCH
from tuneop.reconciler import Reconciler
from tuneop.testing import World, worker_log

SPEC = make_spec(optimizer={"type": "random", "seed": 5}, totalTrials=60, maxParallel=6)


def run(defer: bool, per_step: int) -> World:
    """The session to its end, ``per_step`` Jobs finishing between reconciles."""
    world = World()
    reconciler = replace(world.reconciler(), defer_launch_writes=defer)
    assert isinstance(reconciler, Reconciler)
    plan = reconciler.reconcile(world.ref, SPEC)
    for _ in range(1000):
        if plan.status.terminal:
            return world
        for j in world.jobs.active()[:per_step]:
            world.jobs.finish(j.name, worker_log(SPEC, j))
        world.clock.advance(1.0)
        plan = reconciler.reconcile(world.ref, SPEC)
    raise AssertionError("the session did not finish")


@pytest.mark.parametrize(
    ("per_step", "most_writes_per_trial_deferred"),
    [
        pytest.param(1, 1.1, id="one-job-finishing-at-a-time"),
        pytest.param(3, 0.5, id="three-jobs-finishing-together"),
    ],
)
def test_deferred_launch_writes_run_the_same_session_at_about_half_the_writes(
    per_step: int, most_writes_per_trial_deferred: float
) -> None:
    plain, deferred = run(False, per_step), run(True, per_step)
    assert deferred.status == plain.status
    assert [j.trials for j in deferred.jobs.launched] == [j.trials for j in plain.jobs.launched]
    assert deferred.results.results == plain.results.results
    assert deferred.statuses.writes / 60 <= most_writes_per_trial_deferred
    assert deferred.statuses.writes < 0.6 * plain.statuses.writes


def test_the_next_write_carries_the_jobs_a_deferred_round_launched() -> None:
    world = World()
    reconciler = replace(world.reconciler(), defer_launch_writes=True)
    reconciler.reconcile(world.ref, SPEC)
    first = world.jobs.active()[0]
    world.jobs.finish(first.name, worker_log(SPEC, first))
    reconciler.reconcile(world.ref, SPEC)  # harvest (written), then launch (deferred)
    written = world.status
    assert written.next_job == 6  # the write was the harvest's: the launch is not in it
    world.clock.advance(1.0)
    reconciler.reconcile(world.ref, SPEC)  # nothing new: a first round writes what is due
    assert world.status.next_job == 7
    assert world.status.trials.running == 6


@pytest.mark.parametrize(
    ("quiet", "writes"),
    [
        pytest.param(True, 0, id="asked-by-a-finished-job-already-harvested-writes-nothing"),
        pytest.param(False, 1, id="asked-by-the-timer-writes-what-is-due"),
    ],
)
def test_a_reconcile_finding_its_finished_job_harvested_writes_only_when_not_quiet(
    quiet: bool, writes: int
) -> None:
    """Two Jobs finish together: the first one's reconcile harvests both (written); the
    second one's event then finds nothing left, and a quiet reconcile leaves its seconds
    to the next write. The session ends the same either way."""
    world = World()
    reconciler = replace(world.reconciler(), defer_launch_writes=True)
    reconciler.reconcile(world.ref, SPEC)
    for j in world.jobs.active()[:2]:
        world.jobs.finish(j.name, worker_log(SPEC, j))
    reconciler.reconcile(world.ref, SPEC, quiet=True)  # harvests both: written
    harvested, before = world.status.trials.succeeded, world.statuses.writes
    world.clock.advance(1.0)
    reconciler.reconcile(world.ref, SPEC, quiet=quiet)
    assert harvested == 2
    assert world.statuses.writes - before == writes


def finishing_during_round_one(world: World, reconciler: Reconciler) -> tuple[int, int]:
    """One Job finished; another finishes while its harvest is being deleted (after the
    round's observe). Trials harvested and status writes by this reconcile."""
    first, second = world.jobs.active()[:2]
    world.jobs.finish(first.name, worker_log(SPEC, first))
    delete = world.jobs.delete_jobs

    def delete_then_finish(ref: SessionRef, names: Sequence[str]) -> None:
        delete(ref, names)
        if second.name in {j.name for j in world.jobs.active()}:
            world.jobs.finish(second.name, worker_log(SPEC, second))

    world.jobs.delete_jobs = delete_then_finish  # type: ignore[method-assign]
    before = world.statuses.writes
    reconciler.reconcile(world.ref, SPEC, quiet=True)
    return world.status.trials.succeeded, world.statuses.writes - before


@pytest.mark.parametrize(
    ("batch", "harvested", "writes"),
    [
        pytest.param(False, 2, 2, id="each-round-harvests-what-finished"),
        pytest.param(True, 1, 1, id="later-rounds-leave-it-to-its-own-event"),
    ],
)
def test_a_job_finishing_while_a_reconcile_runs_waits_for_its_own_reconcile_with_batching(
    batch: bool, harvested: int, writes: int
) -> None:
    world = World()
    reconciler = replace(world.reconciler(), defer_launch_writes=True, batch_harvests=batch)
    reconciler.reconcile(world.ref, SPEC)
    assert finishing_during_round_one(world, reconciler) == (harvested, writes)
    world.clock.advance(1.0)
    reconciler.reconcile(world.ref, SPEC, quiet=True)  # its event's reconcile
    assert world.status.trials.succeeded == 2


def test_a_backlog_past_one_batch_is_still_harvested_in_one_reconcile_with_batching() -> None:
    wide = make_spec(optimizer={"type": "random", "seed": 5}, totalTrials=60, maxParallel=12)
    world = World()
    reconciler = replace(world.reconciler(), defer_launch_writes=True, batch_harvests=True)
    reconciler.reconcile(world.ref, wide)
    for j in world.jobs.active():
        world.jobs.finish(j.name, worker_log(wide, j))
    reconciler.reconcile(world.ref, wide, quiet=True)
    assert HARVEST_BATCH < 12
    assert world.status.trials.succeeded == 12
