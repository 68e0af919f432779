"""Normal and log-normal parameters through the operator's reconcile, over the fakes.

Random trials are a pure function of (spec, seed, i): each Job the operator creates holds
the draw ``search.point`` gives, so an operator restarted midway creates the same trials
and none twice. A TPE session suggests through the inverse CDF and runs to Succeeded,
restarts included (a fresh Reconciler and a fresh study, rebuilt from the results).
"""

from __future__ import annotations

import math
from typing import Any

from builders import play_with_restarts
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec, parse_spec
from tuneop.core.jobs.observed import Params
from tuneop.core.suggest.bayesian import SessionStudies
from tuneop.core.suggest.search import point
from tuneop.testing import World

REF = SessionRef(namespace="ns", name="drawn", uid="uid-1", generation=1)
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


def loss(p: Params) -> float:
    return (float(p["x"]) - 1.5) ** 2  # type: ignore[arg-type]


def run(s: SessionSpec, restart_every: int) -> World:
    """The session played to its end, every Job finished between two reconciles; a
    fresh Reconciler with a fresh study (an operator restart) every few reconciles."""
    world = World(ref=REF)
    play_with_restarts(world, s, loss, restart_every=restart_every, study=SessionStudies)
    return world


def _params(world: World) -> dict[int, dict[str, Any]]:
    return {t: dict(r.params) for t, r in world.results.results[REF.key].items()}


def test_random_normal_trials_are_the_planned_draws_through_restarts() -> None:
    s = spec()
    world = run(s, restart_every=2)
    assert world.status.phase == "Succeeded"
    assert len(world.jobs.created) == len(set(world.jobs.created)) == 12
    params = _params(world)
    assert params == {i: point(s, i) for i in range(12)}
    assert all(isinstance(p["depth"], int) and p["depth"] % 2 == 0 for p in params.values())


def test_a_tpe_session_of_normal_parameters_runs_to_succeeded_through_restarts() -> None:
    s = spec(optimizer={"type": "bayesian", "seed": 4}, totalTrials=15)
    world = run(s, restart_every=3)
    st = world.status
    assert st.phase == "Succeeded" and st.trials.succeeded == 15
    assert len(world.jobs.created) == len(set(world.jobs.created)) == 15
    params = _params(world).values()
    assert all(math.isfinite(p["x"]) and p["lr"] > 0 for p in params)
