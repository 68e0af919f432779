"""Normal and log-normal parameters through the operator's reconcile, over the fakes.

Random trials are a pure function of (spec, seed, i): each Job the operator creates holds
the draw ``search.point`` gives, so an operator restarted midway creates the same trials
and none twice. A TPE session suggests through the inverse CDF and runs to Succeeded,
restarts included (a fresh Reconciler and a fresh study, rebuilt from the results).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec, parse_spec
from tuneop.core.jobs.observed import JobState, ObservedJob
from tuneop.core.suggest.bayesian import SessionStudies
from tuneop.core.suggest.search import point
from tuneop.core.wire.contract import RESULT_PREFIX
from tuneop.reconciler import Reconciler
from tuneop.testing import FakeJobs, FakeStatus, FrozenClock, MemoryEvents, MemoryResults

REF = SessionRef(namespace="ns", name="drawn", uid="uid-1", generation=1)
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SPACE = [
    {"name": "x", "type": "float", "distribution": "normal", "min": -2, "max": 4},
    {"name": "lr", "type": "float", "distribution": "logNormal", "min": 1e-4, "max": 1e-2},
    {"name": "depth", "type": "int", "distribution": "normal", "min": 1, "max": 7, "step": 2},
]


def spec(**overrides: Any) -> SessionSpec:
    data: dict[str, Any] = {
        "objective": {"metric": "loss"},
        "searchSpace": SPACE,
        "optimizer": {"type": "random", "seed": 9},
        "totalTrials": 12,
        "maxParallel": 3,
        "runner": {"image": "example/runner:1"},
    }
    data.update(overrides)
    return parse_spec(data)


def report(job: ObservedJob) -> str:
    lines = []
    for t, p in zip(job.trials, job.params, strict=True):
        loss = (float(p["x"]) - 1.5) ** 2  # type: ignore[arg-type]
        body = {"trial": t, "params": p, "metrics": {"loss": loss}, "status": "succeeded"}
        lines.append(RESULT_PREFIX + json.dumps(body))
    return "\n".join(lines) + "\n"


@dataclass
class World:
    jobs: FakeJobs = field(default_factory=FakeJobs)
    status: FakeStatus = field(default_factory=FakeStatus)
    results: MemoryResults = field(default_factory=MemoryResults)
    events: MemoryEvents = field(default_factory=MemoryEvents)
    clock: FrozenClock = field(default_factory=lambda: FrozenClock(T0, step=1))

    def reconciler(self) -> Reconciler:
        """A fresh Reconciler (an operator restart) with a fresh study."""
        r = Reconciler(
            jobs=self.jobs,
            statuses=self.status,
            store=self.results,
            mirrors=[self.results],
            events=self.events,
            clock=self.clock,
        )
        r.suggester = SessionStudies()
        return r

    def finish_all(self) -> None:
        for job in list(self.jobs.jobs.values()):
            if job.state is JobState.ACTIVE:
                self.jobs.finish(job.name, report(job))

    def run(self, s: SessionSpec, restart_every: int) -> None:
        r = self.reconciler()
        for n in range(100):
            if r.reconcile(REF, s).status.terminal:
                return
            self.finish_all()
            if n % restart_every == restart_every - 1:
                r = self.reconciler()
        raise AssertionError("the session did not end")


def _params(world: World) -> dict[int, dict[str, Any]]:
    return {t: dict(r.params) for t, r in world.results.results[REF.key].items()}


def test_random_normal_trials_are_the_planned_draws_through_restarts() -> None:
    world, s = World(), spec()
    world.run(s, restart_every=2)
    assert world.status.status.phase == "Succeeded"
    assert len(world.jobs.created) == len(set(world.jobs.created)) == 12
    params = _params(world)
    assert params == {i: point(s, i) for i in range(12)}
    assert all(isinstance(p["depth"], int) and p["depth"] % 2 == 0 for p in params.values())


def test_a_tpe_session_of_normal_parameters_runs_to_succeeded_through_restarts() -> None:
    world = World()
    s = spec(optimizer={"type": "bayesian", "seed": 4}, totalTrials=15)
    world.run(s, restart_every=3)
    st = world.status.status
    assert st.phase == "Succeeded" and st.trials.succeeded == 15
    assert len(world.jobs.created) == len(set(world.jobs.created)) == 15
    params = _params(world).values()
    assert all(math.isfinite(p["x"]) and p["lr"] > 0 for p in params)
