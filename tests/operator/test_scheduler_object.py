"""The ``Scheduler``: an object of its own, handed what it calls, owning its requeues and
the time of each session's last reconcile (no runtime, no kopf memo needed)."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime
from typing import Any

from builders import session_doc
from tuneop.adapters.memory import MemoryStatus
from tuneop.api.session import SessionRef
from tuneop.controller.metrics import PhaseTracker
from tuneop.controller.scheduling import Scheduler
from tuneop.core.clock import FrozenClock
from tuneop.core.suggest.bayesian import SessionStudies
from tuneop.reconciler import Reconciler
from tuneop.testing import FakeJobs, MemoryEvents, MemoryResults

LOG = logging.getLogger("test")
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def body(**spec: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "objective": {"metric": "loss"},
        "searchSpace": [{"name": "x", "type": "int", "min": 0, "max": 3}],
        "optimizer": {"type": "grid"},
        "maxParallel": 2,
        "runner": {"image": "example/runner:1"},
    }
    data.update(spec)
    return session_doc("demo", data, namespace="ns", uid="uid-demo", generation=1)


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def scheduler(gone: list[str]) -> tuple[Scheduler, Ticks, FakeJobs]:
    jobs = FakeJobs()
    reconciler = Reconciler(
        jobs=jobs,
        statuses=MemoryStatus(),
        store=MemoryResults(),
        mirrors=[],
        events=MemoryEvents(),
        clock=FrozenClock(T0),
        suggester=SessionStudies(),
    )
    ticks = Ticks()
    fetched: dict[str, Any] = {"ns/demo": body()}
    s = Scheduler(
        reconciler=reconciler,
        fetch=lambda ref: fetched.get(ref.key),
        phases=PhaseTracker(),
        on_gone=gone.append,
        monotonic=ticks,
    )
    return s, ticks, jobs


def test_the_scheduler_reconciles_and_times_a_session_on_its_own_clock() -> None:
    s, ticks, jobs = scheduler([])
    plan = asyncio.run(s.reconcile_session(body(), LOG))
    assert plan is not None and len(jobs.jobs) == 2  # maxParallel Jobs created
    assert s.last_reconciled == {"ns/demo": 100.0}
    ticks.now = 130.0
    assert s.quiet_for("ns/demo") == 30.0
    assert s.quiet_for("ns/other") == float("inf")
    assert s.serial.runs == 1


def test_a_session_known_by_name_is_read_then_reconciled() -> None:
    s, _ticks, jobs = scheduler([])
    assert asyncio.run(s.reconcile_named("ns", "demo", LOG)) is not None
    assert len(jobs.jobs) == 2
    assert asyncio.run(s.reconcile_named("ns", "missing", LOG)) is None


def test_forgetting_a_session_cancels_its_requeue_and_drops_its_time() -> None:
    s, _ticks, _jobs = scheduler([])

    async def scenario() -> tuple[bool, bool]:
        await s.reconcile_session(body(deadlineSeconds=5), LOG)
        handle = s.requeues.get("ns/demo")
        s.forget("ns/demo")
        return handle is not None, handle is not None and handle.cancelled()

    assert asyncio.run(scenario()) == (True, True)
    assert s.requeues == {} and s.last_reconciled == {}


def test_a_session_found_gone_is_handed_to_on_gone() -> None:
    from tuneop.ports import SessionGone

    gone: list[str] = []
    s, _ticks, _jobs = scheduler(gone)

    def vanish(ref: SessionRef, spec: Any, **_: Any) -> Any:
        raise SessionGone(f"{ref.key} is gone")

    s.reconciler.reconcile = vanish  # type: ignore[method-assign]
    assert asyncio.run(s.reconcile_session(body(), LOG)) is None
    assert gone == ["ns/demo"]


async def _finishes(s: Scheduler, count: int) -> tuple[int, float]:
    """``count`` Jobs of the session finish together: reconciles run, seconds taken."""
    loop = asyncio.get_running_loop()
    runs, start = s.serial.runs, loop.time()
    await asyncio.gather(*(s.reconcile_finished("ns", "demo", LOG) for _ in range(count)))
    return s.serial.runs - runs, loop.time() - start


def test_jobs_finishing_within_the_harvest_window_share_one_reconcile_at_its_end() -> None:
    s, ticks, _ = scheduler([])
    s.harvest_window = 0.3

    async def scenario() -> tuple[int, float]:
        await s.reconcile_session(body(), LOG)
        ticks.now += 0.1  # the last reconcile ended 0.1 s ago: 0.2 s of the window left
        return await _finishes(s, 3)

    runs, waited = asyncio.run(scenario())
    assert runs == 1
    assert 0.15 <= waited < 2.0
    assert s._batched == {}


def test_a_job_finishing_after_a_quiet_spell_is_reconciled_at_once() -> None:
    s, ticks, _ = scheduler([])
    s.harvest_window = 5.0

    async def scenario() -> tuple[int, float]:
        await s.reconcile_session(body(), LOG)
        ticks.now += 60.0
        return await _finishes(s, 1)

    runs, waited = asyncio.run(scenario())
    assert runs == 1 and waited < 2.0


def test_without_a_window_each_finish_is_reconciled_at_once() -> None:
    s, _, _ = scheduler([])

    async def scenario() -> tuple[int, float]:
        await s.reconcile_session(body(), LOG)
        return await _finishes(s, 1)

    runs, waited = asyncio.run(scenario())
    assert runs == 1 and waited < 2.0


def test_a_job_finishing_while_a_reconcile_runs_waits_the_window_after_it() -> None:
    """The running reconcile may already take that Job; if not, the window gathers more."""
    s, ticks, _ = scheduler([])
    s.harvest_window = 0.3
    gate = threading.Event()
    real = s.reconciler.reconcile

    def slow(*args: Any, **kwargs: Any) -> Any:
        gate.wait(5.0)
        return real(*args, **kwargs)

    async def scenario() -> tuple[int, float]:
        await s.reconcile_session(body(), LOG)
        ticks.now += 60.0  # a quiet spell: a finish now would be reconciled at once
        s.reconciler.reconcile = slow  # type: ignore[method-assign]
        running = asyncio.ensure_future(s.reconcile_session(body(), LOG))
        await asyncio.sleep(0.05)
        finished = asyncio.ensure_future(_finishes(s, 1))
        await asyncio.sleep(0.05)
        gate.set()
        await running
        return await finished

    runs, waited = asyncio.run(scenario())
    assert runs == 1
    assert 0.25 <= waited < 2.0
