"""Trial parameters: grid odometer order, exact float grids, seeded random, explicit."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal
from typing import Any

import pytest
from core_builders import REF, T0, Session

from builders import DROP, spec
from tuneop.api import vocabulary as C
from tuneop.core.jobs.observed import Observed
from tuneop.core.planning.planner import plan
from tuneop.core.suggest.search import budget, grid_point, point, random_point


def grid(*params: dict[str, Any], **overrides: Any) -> Any:
    return spec(searchSpace=list(params), optimizer={"type": "grid"}, **overrides)


def test_grid_runs_in_odometer_order_last_parameter_fastest() -> None:
    s = grid(
        {"name": "a", "type": "int", "min": 0, "max": 1},
        {"name": "b", "type": "categorical", "values": ["p", "q", "r"]},
        {"name": "c", "type": "float", "min": 0.0, "max": 0.5, "step": 0.5},
    )
    expected = [
        {"a": a, "b": b, "c": c}
        for a, b, c in itertools.product([0, 1], ["p", "q", "r"], [0.0, 0.5])
    ]
    assert budget(s) == (12, False)
    assert [grid_point(s, i) for i in range(12)] == expected


def test_grid_params_keep_the_order_of_the_search_space() -> None:
    s = grid(
        {"name": "z", "type": "int", "min": 0, "max": 1},
        {"name": "a", "type": "int", "min": 0, "max": 1},
    )
    assert list(grid_point(s, 0)) == ["z", "a"]


def decimal_grid(lo: str, step: str, n: int) -> list[float]:
    """The grid as written in decimal, computed exactly, then turned into floats."""
    return [float(Decimal(lo) + k * Decimal(step)) for k in range(n)]


@pytest.mark.parametrize(
    ("lo", "hi", "step", "expected"),
    [
        pytest.param("0", "1", "0.1", decimal_grid("0", "0.1", 11), id="tenths-0-to-1"),
        pytest.param("0.1", "1.0", "0.3", [0.1, 0.4, 0.7, 1.0], id="arbitrage-spreads"),
        pytest.param("-2.0", "0.0", "0.5", [-2.0, -1.5, -1.0, -0.5, 0.0], id="negative"),
        pytest.param("0", "1", "0.3", [0.0, 0.3, 0.6, 0.9], id="max-off-the-grid"),
        pytest.param("0", "0.3", "0.1", [0.0, 0.1, 0.2, 0.3], id="three-tenths"),
        pytest.param("1", "1", "0.1", [1.0], id="single-point"),
        pytest.param("0", "100", "0.01", decimal_grid("0", "0.01", 10001), id="hundredths"),
        pytest.param("0.7", "2.1", "0.7", [0.7, 1.4, 2.1], id="sevenths"),
    ],
)
def test_float_grid_values_are_the_decimal_points_without_drift(
    lo: str, hi: str, step: str, expected: list[float]
) -> None:
    s = grid(
        {"name": "f", "type": "float", "min": float(lo), "max": float(hi), "step": float(step)}
    )
    assert budget(s) == (len(expected), False)
    assert [grid_point(s, i)["f"] for i in range(len(expected))] == expected


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        pytest.param({"min": 0, "max": 10, "step": 3}, [0, 3, 6, 9], id="step-3"),
        pytest.param({"min": -2, "max": 2}, [-2, -1, 0, 1, 2], id="default-step-1"),
        pytest.param({"min": 5, "max": 5}, [5], id="single"),
    ],
)
def test_int_grid_values_are_ints_on_the_step_grid(
    param: dict[str, Any], expected: list[int]
) -> None:
    s = grid({"name": "n", "type": "int", **param})
    values = [grid_point(s, i)["n"] for i in range(budget(s)[0])]
    assert values == expected
    assert all(type(v) is int for v in values)


def test_grid_larger_than_budget_runs_its_first_points() -> None:
    s = grid(
        {"name": "a", "type": "int", "min": 0, "max": 4},
        {"name": "b", "type": "int", "min": 0, "max": 4},
        totalTrials=7,
        maxParallel=20,
    )
    assert budget(s) == (7, False)
    p = plan(s, Observed(session=REF), T0)
    launched = [params for c in p.create for params in c.params]
    assert launched == [{"a": a, "b": b} for a, b in itertools.product(range(5), range(5))][:7]
    assert not any(C.SEARCH_SPACE_EXHAUSTED in w for w in p.warnings)


def test_grid_smaller_than_budget_caps_the_budget_and_warns() -> None:
    s = grid({"name": "a", "type": "int", "min": 0, "max": 5}, totalTrials=10, maxParallel=20)
    assert budget(s) == (6, True)
    p = plan(s, Observed(session=REF), T0)
    assert len(p.create) == 6
    assert p.status.trials.total == 6
    assert any(C.SEARCH_SPACE_EXHAUSTED in w and "spec.totalTrials" in w for w in p.warnings)
    final = Session(s).play(per_step=6).status
    assert (final.phase, final.trials.succeeded) == ("Succeeded", 6)
    assert any(
        c.type == C.COMPLETE and c.reason == C.SEARCH_SPACE_EXHAUSTED for c in final.conditions
    )


def test_grid_without_total_trials_runs_the_whole_grid() -> None:
    s = grid({"name": "a", "type": "int", "min": 0, "max": 5})
    assert budget(s) == (6, False)


# ---- random search

WIDE = [
    {"name": "f", "type": "float", "min": -5.0, "max": 10.0},
    {"name": "stepped", "type": "int", "min": 0, "max": 20, "step": 5},
    {"name": "n", "type": "int", "min": -3, "max": 3},
    {"name": "lr", "type": "float", "min": 1e-5, "max": 1.0, "log": True},
    {"name": "units", "type": "int", "min": 1, "max": 1024, "log": True},
    {"name": "fs", "type": "float", "min": 0.0, "max": 1.0, "step": 0.25},
    {"name": "act", "type": "categorical", "values": ["relu", "tanh", 3, False]},
]


def rand(seed: int = 7, params: list[dict[str, Any]] = WIDE) -> Any:
    return spec(searchSpace=params, optimizer={"type": "random", "seed": seed}, totalTrials=1000)


def test_random_trial_is_a_pure_function_of_spec_seed_and_index() -> None:
    first = [random_point(rand(), i) for i in range(50)]
    # A separately parsed spec, points asked in another order: the same trials.
    again = {i: random_point(rand(), i) for i in reversed(range(50))}
    assert first == [again[i] for i in range(50)]


def test_random_trials_differ_by_seed_and_by_index() -> None:
    a = [random_point(rand(seed=1), i) for i in range(20)]
    b = [random_point(rand(seed=2), i) for i in range(20)]
    assert sum(x != y for x, y in zip(a, b, strict=True)) >= 19
    assert len({x["f"] for x in a}) == 20


def test_random_values_respect_type_bounds_step_and_log() -> None:
    s = rand()
    for i in range(400):
        v = random_point(s, i)
        assert type(v["f"]) is float and -5.0 <= v["f"] <= 10.0
        assert type(v["stepped"]) is int and v["stepped"] in {0, 5, 10, 15, 20}
        assert type(v["n"]) is int and -3 <= v["n"] <= 3
        assert type(v["lr"]) is float and 1e-5 <= v["lr"] <= 1.0
        assert type(v["units"]) is int and 1 <= v["units"] <= 1024
        assert v["fs"] in {0.0, 0.25, 0.5, 0.75, 1.0}
        assert any(v["act"] == c and type(v["act"]) is type(c) for c in ["relu", "tanh", 3, False])


def test_log_scale_samples_spread_over_the_decades() -> None:
    s = rand(params=[{"name": "lr", "type": "float", "min": 1e-6, "max": 1.0, "log": True}])
    decades = {math.floor(math.log10(random_point(s, i)["lr"])) for i in range(300)}
    # Uniform sampling would put almost everything in [0.1, 1]; log sampling hits each decade.
    assert decades >= {-6, -5, -4, -3, -2, -1}


def test_random_search_runs_exactly_total_trials() -> None:
    assert budget(rand()) == (1000, False)


# ---- explicit trials


def test_explicit_trials_run_as_written_in_order() -> None:
    trials = [{"a": 1, "b": "x"}, {"a": 2, "b": "$(rm -rf /)"}, {"a": 3.5, "b": True}]
    s = spec(searchSpace=DROP, trials=trials, maxParallel=10)
    assert budget(s) == (3, False)
    assert [point(s, i) for i in range(3)] == trials
    p = plan(s, Observed(session=REF), T0)
    assert [c.params for c in p.create] == [(t,) for t in trials]


def test_explicit_trials_with_a_smaller_total_run_the_first_ones() -> None:
    s = spec(searchSpace=DROP, trials=[{"a": i} for i in range(5)], totalTrials=2)
    assert budget(s) == (2, False)


def test_explicit_trials_with_a_larger_total_are_capped() -> None:
    s = spec(searchSpace=DROP, trials=[{"a": i} for i in range(5)], totalTrials=9)
    assert budget(s) == (5, True)


def test_point_refuses_bayesian_trials() -> None:
    s = spec(optimizer={"type": "bayesian"}, totalTrials=5)
    with pytest.raises(ValueError, match="bayesian"):
        point(s, 0)
