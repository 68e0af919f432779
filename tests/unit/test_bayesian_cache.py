"""The cached bayesian suggester gives exactly what a fresh rebuild gives."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tuneop.api.spec import parse_spec
from tuneop.core.bayesian import CachedSuggester, suggest
from tuneop.core.contract import Outcome, TrialResult


def bayes_spec(seed: int = 1, categorical: bool = False) -> Any:
    space: list[dict[str, Any]] = [
        {"name": "x1", "type": "float", "min": -5, "max": 10},
        {"name": "x2", "type": "int", "min": 0, "max": 15},
    ]
    if categorical:
        space.append({"name": "c", "type": "categorical", "values": ["a", "b", 3]})
    return parse_spec(
        {
            "objective": {"metric": "value"},
            "searchSpace": space,
            "optimizer": {"type": "bayesian", "seed": seed},
            "totalTrials": 1000,
            "runner": {"image": "tuneop/runner:0.1.0", "objective": "m:f"},
        }
    )


@pytest.mark.parametrize(
    ("seed", "categorical", "parallel", "fail_rate"),
    [(1, False, 1, 0.0), (2, True, 3, 0.2), (3, False, 4, 0.5)],
    ids=["sequential", "parallel_with_failures", "half_failing"],
)
def test_cached_suggestions_equal_a_fresh_rebuild(
    seed: int, categorical: bool, parallel: int, fail_rate: float
) -> None:
    spec, cached = bayes_spec(seed, categorical), CachedSuggester()
    rng = random.Random(seed)
    history: list[TrialResult] = []
    pending: list[tuple[int, dict[str, Any]]] = []
    next_trial = 0
    for _ in range(25):
        want = parallel - len(pending)
        args = (spec, history, [p for _, p in pending], next_trial, want)
        fresh = suggest(*args)
        assert cached(*args) == fresh
        pending += [(next_trial + i, p) for i, p in enumerate(fresh)]
        next_trial += want
        trial, params = pending.pop(0)  # the oldest finishes
        ok = rng.random() >= fail_rate
        history.append(
            TrialResult(
                trial=trial,
                job_index=trial,
                params=params,
                outcome=Outcome.SUCCEEDED if ok else Outcome.FAILED,
                value=float(params["x1"]) ** 2 + params["x2"] if ok else None,
            )
        )


def test_a_history_that_does_not_extend_the_cache_rebuilds() -> None:
    spec, cached = bayes_spec(), CachedSuggester()
    first = [
        TrialResult(
            trial=i,
            job_index=i,
            params={"x1": float(i), "x2": i},
            outcome=Outcome.SUCCEEDED,
            value=float(i),
        )
        for i in range(12)
    ]
    cached(spec, first, [], 12, 1)
    changed = [
        *first[:5],
        TrialResult(
            trial=5, job_index=5, params={"x1": 9.0, "x2": 1}, outcome=Outcome.SUCCEEDED, value=-3.0
        ),
    ]
    assert cached(spec, changed, [], 12, 2) == suggest(spec, changed, [], 12, 2)


@pytest.mark.parametrize(
    ("outcome", "value", "curve", "state", "intermediate"),
    [
        (Outcome.SUCCEEDED, 1.5, (), "COMPLETE", {}),
        (Outcome.PRUNED, 0.4, ((1, 0.2), (2, 0.4)), "PRUNED", {1: 0.2, 2: 0.4}),
        (Outcome.PRUNED, None, (), "FAIL", {}),  # no curve: nothing for TPE to rank it by
        (Outcome.FAILED, None, (), "FAIL", {}),
    ],
)
def test_tpe_sees_a_pruned_trial_as_pruned_with_its_curve(
    outcome: Outcome,
    value: float | None,
    curve: tuple[tuple[int, float], ...],
    state: str,
    intermediate: dict[int, float],
) -> None:
    from tuneop.core.bayesian import distribution, frozen_trial

    spec = bayes_spec()
    dists = {p.name: distribution(p) for p in spec.search_space}
    r = TrialResult(0, 0, {"x1": 1.0, "x2": 3}, outcome, value=value, intermediate=curve)
    frozen = frozen_trial(r, dists)
    assert (frozen.state.name, frozen.intermediate_values) == (state, intermediate)
