"""The cached suggester gives exactly what a fresh rebuild gives: TPE's kept study, and
CMA-ES's replayed state (``core.samplers.CmaState``) grown call after call."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tuneop.api.spec import parse_spec
from tuneop.core.bayesian import CachedSuggester, suggest
from tuneop.core.contract import Outcome, TrialResult


def bayes_spec(seed: int = 1, categorical: bool = False, kind: str = "bayesian") -> Any:
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
            "optimizer": {"type": kind, "seed": seed},
            "totalTrials": 1000,
            "runner": {"image": "tuneop/runner:0.1.0", "objective": "m:f"},
        }
    )


@pytest.mark.parametrize(
    ("kind", "seed", "categorical", "parallel", "fail_rate"),
    [
        ("bayesian", 1, False, 1, 0.0),
        ("bayesian", 2, True, 3, 0.2),
        ("bayesian", 3, False, 4, 0.5),
        ("cmaes", 1, False, 1, 0.0),
        ("cmaes", 2, True, 3, 0.2),
        ("cmaes", 3, False, 4, 0.5),
    ],
    ids=[
        "sequential",
        "parallel_with_failures",
        "half_failing",
        "cmaes_sequential",
        "cmaes_parallel_with_failures",
        "cmaes_half_failing",
    ],
)
def test_cached_suggestions_equal_a_fresh_rebuild(
    kind: str, seed: int, categorical: bool, parallel: int, fail_rate: float
) -> None:
    spec, cached = bayes_spec(seed, categorical, kind), CachedSuggester()
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


@pytest.mark.parametrize("kind", ["bayesian", "cmaes"])
def test_a_history_that_does_not_extend_the_cache_rebuilds(kind: str) -> None:
    spec, cached = bayes_spec(kind=kind), CachedSuggester()
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
