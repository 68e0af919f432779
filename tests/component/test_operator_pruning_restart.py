"""The operator judging StdOut trials with Optuna's pruners keeps nothing between
reconciles: an operator restarted in the middle of a session (a fresh ``Reconciler``
over the same Jobs and result store) prunes the same trials at the same steps as one
that ran throughout, and a fresh one shown the same running trials decides the same."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from tests.builders import epochs_output, stdout_spec

from tuneop.api.session import SessionRef
from tuneop.api.spec import parse_spec
from tuneop.core.jobs.observed import ObservedJob
from tuneop.reconciler import Reconciler
from tuneop.testing import World

EPOCHS = 8
XS = [1.0, 5.0, 1.1, 6.0, 0.9, 4.0, 0.95, 7.0]


@dataclass
class Printed:
    """What each running trial has printed so far (``RunningLogs``)."""

    epochs: dict[str, int] = field(default_factory=dict)

    def first_output(self, ref: SessionRef, job: ObservedJob, limit: int) -> str | None:
        return epochs_output(_losses(job)[: self.epochs.get(job.name, 0)])[:limit]


def _losses(job: ObservedJob) -> list[float]:
    x = float(job.params[0]["x"])
    return [(x - 1) ** 2 + 1 / epoch for epoch in range(1, EPOCHS + 1)]


def _spec(es: dict[str, Any]) -> Any:
    data = stdout_spec(es).model_dump(by_alias=True, exclude_none=True)
    data.pop("searchSpace", None)
    data.pop("optimizer", None)
    return parse_spec({**data, "trials": [{"x": x} for x in XS], "maxParallel": 3})


def _reconciler(world: World, printed: Printed) -> Reconciler:
    # The world's own reconciler (a new one: nothing carried over), judging every reconcile
    # (the verdicts, not their pace, are tested).
    return replace(world.reconciler(), running_logs=printed, judge_share=1.0)


def _play(es: dict[str, Any], restart_every: int | None) -> dict[int, tuple[str, int]]:
    """The session to its end, each running trial printing an epoch between reconciles;
    each trial's outcome and how many values it recorded."""
    spec, world, printed = _spec(es), World(), Printed()
    r = _reconciler(world, printed)
    for n in range(200):
        plan = r.reconcile(world.ref, spec)
        if plan.status.terminal:
            break
        for job in world.jobs.active():
            printed.epochs[job.name] = printed.epochs.get(job.name, 0) + 1
            if printed.epochs[job.name] == EPOCHS:
                world.jobs.finish(job.name, epochs_output(_losses(job)))
        world.clock.advance(1)
        if restart_every and n % restart_every == restart_every - 1:
            r = _reconciler(world, printed)  # the operator restarted: nothing carried over
    got = world.results.history(world.ref)
    return {t.trial: (t.outcome.value, len(t.intermediate)) for t in got}


@pytest.mark.parametrize(
    "es",
    [
        {"type": "successiveHalving", "minResource": 1, "reductionFactor": 2},
        {"type": "hyperband", "minResource": 1, "maxResource": 8, "reductionFactor": 2},
        {"type": "median", "startupTrials": 1},
    ],
    ids=lambda es: es["type"],
)
def test_a_restarted_operator_prunes_the_same_trials_at_the_same_steps(
    es: dict[str, Any],
) -> None:
    throughout = _play(es, restart_every=None)
    assert len(throughout) == len(XS)
    assert any(outcome == "Pruned" for outcome, _ in throughout.values()), throughout
    for every in (1, 2, 3):
        assert _play(es, restart_every=every) == throughout
