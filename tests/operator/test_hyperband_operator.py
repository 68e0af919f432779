"""Hyperband search through the operator's reconcile, over the fakes, restarts included.

The planner keeps no state of its own: each rung's trials are derived from the result
history, so an operator restarted after any reconcile (a fresh Reconciler over the same
Jobs, status and results) creates every trial once, waits for each rung before the next,
and relaunches the same configurations a run without restarts would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from tuneop.api.hyperband import rung_of, schedule
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec, parse_spec
from tuneop.core.jobs.observed import JobState, ObservedJob
from tuneop.core.wire.contract import RESULT_PREFIX
from tuneop.reconciler import Reconciler
from tuneop.testing import FakeJobs, FakeStatus, FrozenClock, MemoryEvents, MemoryResults

REF = SessionRef(namespace="ns", name="hb", uid="uid-1", generation=1)
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def spec() -> SessionSpec:
    return parse_spec(
        {
            "objective": {"metric": "loss"},
            "searchSpace": [
                {"name": "x", "type": "float", "min": 0, "max": 1},
                {"name": "epochs", "type": "int", "min": 1, "max": 9},
            ],
            "optimizer": {
                "type": "hyperband",
                "seed": 5,
                "hyperband": {"resource": "epochs", "maxResource": 9, "eta": 3},
            },
            "maxParallel": 4,
            "runner": {"image": "example/runner:1"},
        }
    )


def report(job: ObservedJob) -> str:
    lines = []
    for t, p in zip(job.trials, job.params, strict=True):
        loss = abs(float(p["x"]) - 0.4) / float(p["epochs"])  # type: ignore[arg-type]
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
    launched: list[list[int]] = field(default_factory=list)  # trials created per reconcile
    ended: list[int] = field(default_factory=list)  # the trial each finish_one ended

    def reconciler(self) -> Reconciler:
        return Reconciler(
            jobs=self.jobs,
            statuses=self.status,
            store=self.results,
            mirrors=[self.results],
            events=self.events,
            clock=self.clock,
        )

    def finish_one(self) -> bool:
        """Finish the oldest running Job (trials end one at a time, in launch order)."""
        active = [j for j in self.jobs.jobs.values() if j.state is JobState.ACTIVE]
        if not active:
            return False
        job = min(active, key=lambda j: j.index)
        self.jobs.finish(job.name, report(job))
        self.ended.extend(job.trials)
        return True

    def run(self, restart_every: int | None) -> dict[int, dict[str, Any]]:
        r = self.reconciler()
        for n in range(200):
            plan = r.reconcile(REF, spec())
            self.launched.append([t for c in plan.create for t in c.trials])
            if plan.status.terminal:
                return {t: dict(x.params) for t, x in self.results.results[REF.key].items()}
            self.finish_one()
            if restart_every and n % restart_every == restart_every - 1:
                r = self.reconciler()
        raise AssertionError("the session did not end")


@pytest.mark.parametrize("restart_every", [1, 2, 5])
def test_hyperband_runs_each_trial_once_and_the_same_through_restarts(restart_every: int) -> None:
    calm = World().run(restart_every=None)
    world = World()
    restarted = world.run(restart_every=restart_every)
    assert restarted == calm
    assert world.status.status.phase == "Succeeded" and world.status.status.trials.succeeded == 23
    assert len(world.jobs.created) == len(set(world.jobs.created)) == 23


def test_a_rung_starts_only_once_the_rung_before_has_ended() -> None:
    world = World()
    params = world.run(restart_every=None)
    rungs = schedule(spec().optimizer.hyperband)  # type: ignore[arg-type]
    for k, created in enumerate(world.launched):
        ended = set(world.ended[:k])  # one Job finished between two reconciles
        for t in created:
            r = rung_of(spec().optimizer.hyperband, t)  # type: ignore[arg-type]
            if r.rung > 0:
                before = rungs[rungs.index(r) - 1]
                assert set(before.trials) <= ended, (t, sorted(ended))
    waited = [k for k, created in enumerate(world.launched) if 9 in created]
    assert waited and waited[0] >= 9  # the first relaunch came after nine trials ended
    # the relaunched configurations are the best of their rung, with three times the epochs
    best = sorted(range(9), key=lambda t: abs(params[t]["x"] - 0.4))[:3]
    assert [params[t] for t in (9, 10, 11)] == [{**params[b], "epochs": 3} for b in best]
