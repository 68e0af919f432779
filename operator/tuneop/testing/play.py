"""``play``: a whole session through the real reconciler, over the in-memory fakes.

``play(spec, finish=...)`` reconciles (``tuneop.reconciler.Reconciler``, the
operator's and the local run's loop) until the session is terminal. Between
reconciles it finishes the running Jobs as a worker would, printing a result
line per trial with the metrics ``finish`` returns for its params, and moves
the frozen clock on. It returns what happened: the final status, every trial
persisted, the Jobs created and deleted, the events and each reconcile's plan.

A ``World`` holds the fakes between reconciles, so a test can also step by
hand (``world.reconcile(spec)``), change the world (finish a Job its own way,
raise a Conflict, move the clock) and then ``play`` on from there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus, TrialRef
from tuneop.core.jobs.observed import ObservedJob, Params
from tuneop.core.planning.planner import Event, JobToCreate, Plan
from tuneop.core.wire.contract import RESULT_PREFIX, TrialResult
from tuneop.ports import Suggester
from tuneop.reconciler import Reconciler
from tuneop.testing.fakes import (
    T0,
    FakeJobs,
    FakeStatus,
    FakeWarmStart,
    FrozenClock,
    MemoryEvents,
    MemoryResults,
)

__all__ = ["REF", "Finish", "Played", "World", "loss", "play", "worker_log"]

REF = SessionRef(namespace="ns", name="demo", uid="uid-1", generation=1)

# A trial's params -> its metrics: a number (the objective's metric), a dict (every
# metric: several objectives), or None (the trial reports no metric).
Finish = Callable[[Params], Any]


def loss(params: Params) -> float:
    """The default objective: the sum of the numeric params."""
    return float(sum(v for v in params.values() if isinstance(v, int | float)))


def worker_log(
    spec: SessionSpec, job: ObservedJob, finish: Finish = loss, status: str = "succeeded"
) -> str:
    """The log a worker prints for ``job``: a result line per trial, with noise around."""
    out = ["starting worker"]
    for trial, params in zip(job.trials, job.params, strict=True):
        value = finish(params)
        metrics = value if isinstance(value, dict) else {spec.objective.metric: value}
        if value is None:
            metrics = {}
        body = {"trial": trial, "params": params, "metrics": metrics, "status": status}
        out += [f"trial {trial}: running", RESULT_PREFIX + json.dumps(body)]
    return "\n".join([*out, "done"]) + "\n"


@dataclass
class World:
    """The fakes one session runs over, kept between reconciles (and Reconcilers)."""

    ref: SessionRef = REF
    jobs: FakeJobs = field(default_factory=FakeJobs)
    statuses: FakeStatus = field(default_factory=FakeStatus)
    results: MemoryResults = field(default_factory=MemoryResults)
    events: MemoryEvents = field(default_factory=MemoryEvents)
    clock: FrozenClock = field(default_factory=lambda: FrozenClock(T0))
    # Bayesian suggestions; kept here so a study lives as long as the world.
    suggester: Suggester | None = None
    # An earlier session's results for spec.warmStart.from (None: that field is unused).
    warm_start: FakeWarmStart | None = None
    plans: list[Plan] = field(default_factory=list)

    def reconciler(self) -> Reconciler:
        return Reconciler(
            jobs=self.jobs,
            statuses=self.statuses,
            store=self.results,
            events=self.events,
            clock=self.clock,
            suggester=self.suggester,
            mirrors=[self.results],
            warm_start=self.warm_start,
        )

    def reconcile(self, spec: SessionSpec, cancelled: bool = False) -> Plan:
        p = self.reconciler().reconcile(self.ref, spec, cancelled)
        self.plans.append(p)
        return p

    @property
    def status(self) -> SessionStatus:
        return self.statuses.status


@dataclass(frozen=True)
class Played:
    """What happened in a played session."""

    status: SessionStatus
    # Every result persisted, in the order persisted.
    trials: tuple[TrialResult, ...]
    created: tuple[JobToCreate, ...]
    deleted: tuple[str, ...]
    events: tuple[Event, ...]
    plans: tuple[Plan, ...]

    @property
    def best(self) -> TrialRef | None:
        return self.status.best

    @property
    def last(self) -> Plan:
        return self.plans[-1]


def play(
    spec: SessionSpec,
    finish: Finish = loss,
    *,
    world: World | None = None,
    per_step: int | None = None,
    newest_first: bool = False,
    step_seconds: float = 1.0,
    status: str = "succeeded",
    check: Callable[[World], None] | None = None,
    max_reconciles: int = 10_000,
) -> Played:
    """Reconcile ``spec`` until terminal, finishing ``per_step`` running Jobs (all: None)
    between reconciles, oldest first unless ``newest_first``, ``step_seconds`` apart.
    ``check`` sees the world after each reconcile."""
    w = world if world is not None else World()
    p = w.reconcile(spec)
    for _ in range(max_reconciles):
        if check is not None:
            check(w)
        if p.status.terminal:
            return _played(w)
        running = w.jobs.active()
        running.sort(key=lambda j: j.index, reverse=newest_first)
        for j in running[:per_step]:
            w.jobs.finish(j.name, worker_log(spec, j, finish, status))
        w.clock.advance(step_seconds)
        p = w.reconcile(spec)
    raise RuntimeError(f"{w.ref.key}: not finished after {max_reconciles} reconciles")


def _played(w: World) -> Played:
    return Played(
        status=w.statuses.status,
        trials=tuple(w.results.persisted),
        created=tuple(w.jobs.launched),
        deleted=tuple(w.jobs.deleted),
        events=tuple(w.events.events),
        plans=tuple(w.plans),
    )
