"""Hyperband search through the operator's reconcile, over the fakes, restarts included.

The planner keeps no state of its own: each rung's trials are derived from the result
history, so an operator restarted after any reconcile (a fresh Reconciler over the same
Jobs, status and results) creates every trial once, waits for each rung before the next,
and relaunches the same configurations a run without restarts would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from builders import play_with_restarts
from tuneop.api.hyperband import rung_of, schedule
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec, parse_spec
from tuneop.core.jobs.observed import Params
from tuneop.testing import World

REF = SessionRef(namespace="ns", name="hb", uid="uid-1", generation=1)


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


def loss(p: Params) -> float:
    return abs(float(p["x"]) - 0.4) / float(p["epochs"])  # type: ignore[arg-type]


@dataclass
class Run:
    """A played session: its world, the trials each reconcile created, the trials in
    the order they ended (one Job finished between two reconciles)."""

    world: World = field(default_factory=lambda: World(ref=REF))
    ended: list[int] = field(default_factory=list)

    def play(self, restart_every: int | None) -> dict[int, dict[str, Any]]:
        play_with_restarts(
            self.world, spec(), loss, restart_every=restart_every, per_step=1, ended=self.ended
        )
        return {t: dict(x.params) for t, x in self.world.results.results[REF.key].items()}

    @property
    def launched(self) -> list[list[int]]:
        return [[t for c in p.create for t in c.trials] for p in self.world.plans]


@pytest.mark.parametrize("restart_every", [1, 2, 5])
def test_hyperband_runs_each_trial_once_and_the_same_through_restarts(restart_every: int) -> None:
    calm = Run().play(restart_every=None)
    run = Run()
    restarted = run.play(restart_every=restart_every)
    assert restarted == calm
    status = run.world.status
    assert status.phase == "Succeeded" and status.trials.succeeded == 23
    assert len(run.world.jobs.created) == len(set(run.world.jobs.created)) == 23


def test_a_rung_starts_only_once_the_rung_before_has_ended() -> None:
    run = Run()
    params = run.play(restart_every=None)
    rungs = schedule(spec().optimizer.hyperband)  # type: ignore[arg-type]
    for k, created in enumerate(run.launched):
        ended = set(run.ended[:k])  # one Job finished between two reconciles
        for t in created:
            r = rung_of(spec().optimizer.hyperband, t)  # type: ignore[arg-type]
            if r.rung > 0:
                before = rungs[rungs.index(r) - 1]
                assert set(before.trials) <= ended, (t, sorted(ended))
    waited = [k for k, created in enumerate(run.launched) if 9 in created]
    assert waited and waited[0] >= 9  # the first relaunch came after nine trials ended
    # the relaunched configurations are the best of their rung, with three times the epochs
    best = sorted(range(9), key=lambda t: abs(params[t]["x"] - 0.4))[:3]
    assert [params[t] for t in (9, 10, 11)] == [{**params[b], "epochs": 3} for b in best]
