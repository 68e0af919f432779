"""An operator killed at every step of a reconcile: backpressure, exactly-once, mirrors.

The reconciler runs over ``tuneop.testing``'s fakes behind a fuse: every call it makes to
a port (list, read a log, create, delete, read or write the status, persist, mirror,
emit) burns one unit, and the call that finds the fuse spent raises ``Killed`` instead,
as a SIGKILL would land between two API requests. A new Reconciler (a new process, no
study in memory) then starts over the same world. Between kills, workers finish some of
the running Jobs (seeded). Checked at every create and after every kill:

- **backpressure**: the Jobs that exist for the session never exceed ``maxParallel``
  (plus the retry Jobs of one harvest batch, when trials are retried);
- once the kills stop, the session finishes with every trial launched in exactly one
  Job, every result stored, nothing lost;
- **the mirrors converge**: the last status the mirror was told is the final status.
"""

from __future__ import annotations

import contextlib
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import spec as make_spec
from tuneop.core.jobs.observed import JobState
from tuneop.core.planning.planner import HARVEST_BATCH
from tuneop.reconciler import Reconciler
from tuneop.testing import World, play, worker_log


class Killed(BaseException):
    """The process died here (a BaseException: no ``except Exception`` of the code catches it)."""


@dataclass
class Fuse:
    left: int = -1  # calls before the kill; -1: never

    def burn(self) -> None:
        if self.left == 0:
            raise Killed
        if self.left > 0:
            self.left -= 1


class Fused:
    """``target`` with every public method call burning the fuse first."""

    def __init__(self, target: Any, fuse: Fuse, after: Callable[[str], None] | None = None):
        self._target, self._fuse, self._after = target, fuse, after

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if name.startswith("_") or not callable(attr):
            return attr

        def call(*args: Any, **kw: Any) -> Any:
            self._fuse.burn()
            out = attr(*args, **kw)
            if self._after is not None:
                self._after(name)
            return out

        return call


def fused_reconciler(
    world: World, fuse: Fuse, check: Callable[[str], None], defer: bool = False
) -> Reconciler:
    return Reconciler(
        jobs=Fused(world.jobs, fuse, check),
        statuses=Fused(world.statuses, fuse),
        store=Fused(world.results, fuse),
        events=Fused(world.events, fuse),
        clock=world.clock,
        mirrors=[Fused(world.results, fuse)],
        defer_launch_writes=defer,  # the operator's: a launch-only round leaves its write
        batch_harvests=defer,  # and a later round harvests only a backlog
    )


def churn(
    seed: int, spec_overrides: dict[str, Any], fail_every: int = 0, defer: bool = False
) -> tuple[World, int]:
    """Kill reconciles at random steps for a while, then let the session finish; the world
    and the most Jobs that ever existed at once."""
    spec = make_spec(**spec_overrides)
    rng = random.Random(seed)
    world = World()
    most = 0
    bound = spec.max_parallel + (HARVEST_BATCH if spec.retries else 0)

    def check(_: str) -> None:
        nonlocal most
        most = max(most, len(world.jobs.jobs))
        assert len(world.jobs.jobs) <= bound, (
            f"seed {seed}: {len(world.jobs.jobs)} Jobs exist at maxParallel {spec.max_parallel}"
        )

    for _ in range(150):
        fuse = Fuse(rng.randint(0, 40))
        with contextlib.suppress(Killed):
            fused_reconciler(world, fuse, check, defer).reconcile(world.ref, spec)
        check("after")
        if world.status.terminal:
            break
        running = world.jobs.active()
        for j in rng.sample(running, k=rng.randint(0, len(running))):
            failed = fail_every and j.index % fail_every == 0 and j.retry is None
            state = JobState.FAILED if failed else JobState.SUCCEEDED
            said = "failed" if failed else "succeeded"
            world.jobs.finish(j.name, worker_log(spec, j, status=said), state)
        world.clock.advance(1.0)
    play(spec, world=world, check=lambda w: check("play"))
    return world, most


def assert_exactly_once(world: World, total: int) -> None:
    launched = [t for job in world.jobs.launched if job.retry is None for t in job.trials]
    assert sorted(launched) == list(range(total)), "a trial launched twice, or never"
    status = world.status
    assert status.phase == "Succeeded", status.message
    assert status.trials.lost == 0
    assert status.trials.succeeded + status.trials.failed == total
    assert sorted(world.results.results[world.ref.key]) == list(range(total))
    # The mirror was last told the status the session ended with.
    assert world.results.statuses[-1] == status


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), defer=st.booleans())
def test_jobs_stay_within_max_parallel_however_often_the_reconcile_is_killed(
    seed: int, defer: bool
) -> None:
    overrides = {"optimizer": {"type": "random"}, "totalTrials": 40, "maxParallel": 4}
    world, most = churn(seed, overrides, defer=defer)
    assert most <= 4
    assert_exactly_once(world, 40)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), defer=st.booleans())
def test_retried_trials_keep_the_bound_and_run_exactly_once_under_kills(
    seed: int, defer: bool
) -> None:
    overrides = {"optimizer": {"type": "random"}, "totalTrials": 30, "maxParallel": 3, "retries": 1}
    world, _ = churn(seed, overrides, fail_every=4, defer=defer)
    retried = [t for job in world.jobs.launched if job.retry is not None for t in job.trials]
    assert len(retried) == len(set(retried)), "a trial retried twice"
    assert_exactly_once(world, 30)


@pytest.mark.parametrize("cleanup", ["Keep", "KeepFailed", "Delete"])
def test_kept_jobs_free_their_slots_once_their_harvest_is_committed(cleanup: str) -> None:
    spec = make_spec(
        optimizer={"type": "random"}, totalTrials=12, maxParallel=3, jobCleanup=cleanup
    )
    played = play(spec)
    assert played.status.phase == "Succeeded"
    assert len(played.created) == 12


def test_the_first_status_write_after_a_start_comes_from_the_first_batch() -> None:
    spec = make_spec(optimizer={"type": "random"}, totalTrials=40, maxParallel=20)
    world = World()
    world.reconcile(spec)
    for j in world.jobs.active():
        world.jobs.finish(j.name, worker_log(spec, j))
    reads: list[int] = []
    writes_before = world.statuses.writes
    logs_read = 0

    def count(name: str) -> None:
        nonlocal logs_read
        logs_read += name == "read_logs"

    fuse = Fuse()
    reconciler = fused_reconciler(world, fuse, count)
    original = world.statuses.write

    def write(*args: Any) -> None:
        reads.append(logs_read)
        original(*args)

    world.statuses.write = write  # type: ignore[method-assign]
    reconciler.reconcile(world.ref, spec)
    assert world.statuses.writes > writes_before
    assert reads[0] == HARVEST_BATCH, "the first write waited for more than one batch"
    assert all(b - a <= HARVEST_BATCH for a, b in itertools.pairwise(reads))
    # The whole backlog was committed in that one reconcile, batch by batch.
    assert world.status.trials.succeeded == 20
