"""A round's log reads: at most ``HARVEST_BATCH`` read, the operator's at once.

Over ``tuneop.testing``'s world: a Job whose log cannot be read yet (``TransientError``)
lets the next finished Job in, so a batch still holds ``HARVEST_BATCH`` results when some
reads fail, read one after another or ``log_readers`` at a time alike; and with
``log_readers`` above one the reads of a batch are in flight together (a barrier that
only opens when all five wait at once).
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass

import pytest

from builders import spec as make_spec
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.core.jobs.observed import JobState, ObservedJob
from tuneop.core.planning.planner import HARVEST_BATCH
from tuneop.core.ranges import parse_ranges
from tuneop.core.results.harvest import JobLogs
from tuneop.testing import FakeJobs, World, worker_log


def backlog_world(unreadable: int, total: int = 8) -> tuple[World, SessionSpec]:
    spec = make_spec(optimizer={"type": "random"}, totalTrials=total, maxParallel=total)
    world = World()
    world.reconcile(spec)
    for job in world.jobs.active():
        if job.index < unreadable:  # finished, its log not readable yet
            world.jobs.jobs[job.name] = dataclasses.replace(job, state=JobState.SUCCEEDED)
        else:
            world.jobs.finish(job.name, worker_log(spec, job))
    return world, spec


@pytest.mark.parametrize("readers", [1, HARVEST_BATCH])
def test_a_read_that_fails_lets_the_next_finished_job_into_the_batch(readers: int) -> None:
    world, spec = backlog_world(unreadable=2)
    reconciler = dataclasses.replace(world.reconciler(), log_readers=readers)
    reconciler.commit_round(world.ref, spec)
    harvested = sorted(parse_ranges(world.status.harvested_jobs))
    assert harvested == [2, 3, 4, 5, 6]
    assert world.status.trials.succeeded == HARVEST_BATCH


@dataclass
class TogetherJobs(FakeJobs):
    """Logs readable only when a whole batch of reads waits at once."""

    barrier: threading.Barrier = dataclasses.field(
        default_factory=lambda: threading.Barrier(HARVEST_BATCH, timeout=5)
    )

    def read_logs(self, ref: SessionRef, job: ObservedJob) -> JobLogs | None:
        self.barrier.wait()  # BrokenBarrierError when read one after another
        return super().read_logs(ref, job)


def test_the_operator_reads_a_batch_of_logs_at_once() -> None:
    world, spec = backlog_world(unreadable=0, total=HARVEST_BATCH)
    together = TogetherJobs(jobs=world.jobs.jobs, logs=world.jobs.logs)
    reconciler = dataclasses.replace(world.reconciler(), jobs=together, log_readers=HARVEST_BATCH)
    reconciler.commit_round(world.ref, spec)
    assert world.status.trials.succeeded == HARVEST_BATCH
