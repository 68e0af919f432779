"""Population-based training through the operator's reconcile, over the fakes, restarts
included: each generation is derived from the results of the one before, so an operator
restarted after any reconcile creates every trial once, starts a generation only once the
one before has ended, and hands each trial the same params and parent checkpoint as a run
without restarts."""

from __future__ import annotations

from typing import Any

import pytest

from builders import play_with_restarts
from tuneop.api.pbt import ENV_CHECKPOINT_DIR, ENV_PARENT_CHECKPOINT_DIR
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec, parse_spec
from tuneop.core.jobs.observed import Params
from tuneop.testing import World

REF = SessionRef(namespace="ns", name="pop", uid="uid-1", generation=1)


def spec() -> SessionSpec:
    return parse_spec(
        {
            "objective": {"metric": "loss"},
            "searchSpace": [{"name": "x", "type": "float", "min": 0, "max": 1}],
            "optimizer": {
                "type": "pbt",
                "seed": 4,
                "pbt": {"population": 4, "truncation": 0.25, "checkpointDir": "/ckpt"},
            },
            "totalTrials": 12,
            "maxParallel": 3,
            "runner": {"image": "example/runner:1"},
        }
    )


def loss(p: Params) -> float:
    return abs(float(p["x"]) - 0.3)  # type: ignore[arg-type]


def checkpoints(world: World) -> dict[int, dict[str, str]]:
    """Each trial's checkpoint folders, as its Job's trial container is told them."""
    out = {}
    for job in world.jobs.launched:
        (container,) = job.manifest["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e["value"] for e in container["env"] if "CHECKPOINT" in e["name"]}
        out[job.trials[0]] = env
    return out


def played(
    restart_every: int | None, ended: list[int] | None = None
) -> tuple[World, dict[int, dict[str, Any]]]:
    world = World(ref=REF)
    play_with_restarts(world, spec(), loss, restart_every=restart_every, per_step=1, ended=ended)
    params = {t: dict(r.params) for t, r in world.results.results[REF.key].items()}
    return world, params


@pytest.mark.parametrize("restart_every", [1, 2, 5])
def test_pbt_runs_each_trial_once_and_the_same_through_restarts(restart_every: int) -> None:
    calm, calm_params = played(None)
    world, params = played(restart_every)
    assert params == calm_params
    assert checkpoints(world) == checkpoints(calm)
    assert world.status.phase == "Succeeded" and world.status.trials.succeeded == 12
    assert len(world.jobs.created) == len(set(world.jobs.created)) == 12


def test_a_generation_waits_for_the_one_before_and_each_trial_knows_its_parent() -> None:
    ended: list[int] = []
    world, _ = played(None, ended)
    for k, plan in enumerate(world.plans):
        done = set(ended[:k])  # one Job finished between two reconciles
        for c in plan.create:
            (t,) = c.trials
            before = range(4 * (t // 4 - 1), 4 * (t // 4)) if t >= 4 else range(0)
            assert set(before) <= done, (t, sorted(done))
    folders = checkpoints(world)
    assert folders[0] == {ENV_CHECKPOINT_DIR: "/ckpt/pop/trial-0"}
    for t in range(4, 12):
        parent = folders[t][ENV_PARENT_CHECKPOINT_DIR]
        assert parent.startswith("/ckpt/pop/trial-")
        assert (t // 4 - 1) * 4 <= int(parent.rsplit("-", 1)[1]) < (t // 4) * 4
