"""The built-in objectives: known optima, determinism, and the backtest's shape."""

from __future__ import annotations

import math
import time

import pytest

from tuneop_runner.objectives import arbitrage, functions, testing

ARBITRAGE_BASE = {"slippage_bps": 2.0, "max_position_krw": 10_000_000.0}


@pytest.mark.parametrize(
    ("x1", "x2"),
    [(-math.pi, 12.275), (math.pi, 2.275), (9.42478, 2.475)],
    ids=["left", "middle", "right"],
)
def test_branin_reaches_its_minimum_at_each_known_optimum(x1: float, x2: float) -> None:
    value = functions.branin({"x1": x1, "x2": x2})["value"]
    assert value == pytest.approx(functions.BRANIN_MINIMUM, abs=1e-5)


def test_branin_is_higher_away_from_the_optima() -> None:
    assert functions.branin({"x1": 0.0, "x2": 0.0})["value"] > 50


def test_hartmann6_reaches_its_minimum_at_the_known_optimum() -> None:
    params = {f"x{i}": x for i, x in enumerate(functions.HARTMANN6_ARGMIN, start=1)}
    value = functions.hartmann6(params)["value"]
    assert value == pytest.approx(functions.HARTMANN6_MINIMUM, abs=1e-4)
    assert functions.hartmann6({f"x{i}": 0.5 for i in range(1, 7)})["value"] > value


@pytest.mark.parametrize(
    ("params", "metrics"),
    [
        ({"x": 3}, {"loss": 0.0}),
        ({"x": 3, "y": -1}, {"loss": 0.0}),
        ({"x": 1, "y": 1}, {"loss": 8.0}),
    ],
)
def test_quadratic(params: dict[str, object], metrics: dict[str, float]) -> None:
    assert functions.quadratic(params) == metrics


@pytest.mark.parametrize(
    ("params", "value"),
    [({}, 0.0), ({"a": 3, "b": -4}, 25.0), ({"a": 0.5}, 0.25)],
)
def test_sphere_sums_squares(params: dict[str, object], value: float) -> None:
    assert functions.sphere(params) == {"value": value}


@pytest.mark.parametrize(
    ("params", "loss"),
    [
        ({"optimizer": "adam", "lr": 0.01, "beta1": 0.95}, 0.0),
        ({"optimizer": "sgd", "lr": 0.01, "momentum": 0.9}, 0.1),
        ({"optimizer": "sgd", "lr": 0.1, "momentum": 0.4}, 1.0 + 1.0 + 0.1),
    ],
    ids=["adam-minimum", "sgd-best", "sgd-away"],
)
def test_conditional_scores_each_optimizer_on_its_own_parameter(
    params: dict[str, object], loss: float
) -> None:
    assert functions.conditional(params)["loss"] == pytest.approx(loss)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: functions.branin({"x1": 1.0}), "parameter 'x2' is missing"),
        (lambda: functions.quadratic({"x": "three"}), "parameter 'x' must be a number"),
        (lambda: functions.quadratic({"x": True}), "parameter 'x' must be a number"),
        (lambda: functions.sphere({"a": "b"}), "parameter 'a' must be a number"),
        (lambda: arbitrage.backtest({**ARBITRAGE_BASE}), "'min_spread_pct' is missing"),
        (
            lambda: arbitrage.backtest({**ARBITRAGE_BASE, "min_spread_pct": 1, "seed": 1.5}),
            "parameter 'seed' must be an integer",
        ),
        (
            lambda: functions.conditional({"optimizer": "adam", "lr": 0.01, "momentum": 0.9}),
            "parameter 'momentum' is not used with optimizer adam",
        ),
        (
            lambda: functions.conditional({"optimizer": "sgd", "lr": 0.01}),
            "parameter 'momentum' is missing",
        ),
        (
            lambda: functions.conditional({"optimizer": "rmsprop", "lr": 0.01}),
            "parameter 'optimizer' must be sgd or adam",
        ),
    ],
    ids=[
        "missing",
        "string",
        "bool",
        "sphere-string",
        "arbitrage-missing",
        "non-integer-seed",
        "conditional-inactive-given",
        "conditional-active-missing",
        "conditional-unknown-optimizer",
    ],
)
def test_bad_params_raise_value_errors_naming_the_param(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=message):
        call()


def test_testing_objectives_misbehave_as_documented() -> None:
    assert testing.sleep({"seconds": 0.01}) == {"value": 0.01}
    assert testing.fail_when({"x": 2}) == {"value": 2.0}
    assert testing.fail_when({"fail": "false"}) == {"value": 0.0}
    with pytest.raises(ValueError):
        testing.fail_when({"fail": True})
    assert math.isnan(testing.nan({})["value"])


def backtest(min_spread_pct: float, **extra: object) -> dict[str, float | int]:
    return arbitrage.backtest({**ARBITRAGE_BASE, "min_spread_pct": min_spread_pct, **extra})


def test_arbitrage_is_deterministic() -> None:
    first = backtest(0.5)
    arbitrage.generate_market.cache_clear()
    assert backtest(0.5) == first
    assert backtest(0.5, seed=8) != first


def test_arbitrage_reports_every_documented_metric() -> None:
    metrics = backtest(0.5)
    assert set(metrics) == {
        "pnl",
        "trades",
        "total_fees",
        "circuit_breaker_active",
        "safety_violations",
        "max_drawdown",
    }
    assert isinstance(metrics["trades"], int)
    assert metrics["circuit_breaker_active"] in (0, 1)
    assert all(math.isfinite(v) for v in metrics.values())


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_arbitrage_pnl_peaks_at_a_middle_spread_threshold(seed: int) -> None:
    too_low = backtest(0.05, seed=seed)
    middle = backtest(0.6, seed=seed)
    too_high = backtest(5.0, seed=seed)

    assert middle["pnl"] > 0
    assert middle["pnl"] > too_low["pnl"]
    assert middle["pnl"] > too_high["pnl"]
    # Over-trading into fees trips the breaker; a threshold above every spike never trades.
    assert too_low["circuit_breaker_active"] == 1
    assert too_low["total_fees"] > middle["total_fees"]
    assert too_high["trades"] == 0


def test_arbitrage_costs_lower_pnl() -> None:
    assert backtest(0.6, slippage_bps=0.0)["pnl"] > backtest(0.6, slippage_bps=10.0)["pnl"]


def test_arbitrage_is_fast() -> None:
    started = time.perf_counter()
    backtest(0.6, seed=12345)  # a seed no other test used: the series is generated
    # The budget is 50 ms; the bound leaves room for a slow CI machine.
    assert time.perf_counter() - started < 0.5
