"""``distribution: normal | logNormal``: drawn exactly as Katib's hyperopt service draws.

Katib v0.19.0 (``pkg/suggestion/v1beta1/hyperopt/base_service.py``) reads ``min`` and
``max`` as the mean -/+ 3 standard deviations (of the logarithm for ``logNormal``) and
rounds to ``step`` (hyperopt's ``q``). Random and quasi-random search must draw exactly
that distribution: a Kolmogorov-Smirnov test on 2,000 draws with fixed seeds; the
learning optimizers suggest through the same inverse CDF.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from builders import spec
from tuneop.api.distributions import EDGE, normal_of, probability_of, value_at
from tuneop.api.parameters import Parameter
from tuneop.api.spec import SpecError
from tuneop.core.suggest.bayesian import suggest
from tuneop.core.suggest.search import qmc_point, random_point
from tuneop.core.wire.contract import Outcome, TrialResult

N = 2000
SPACE = [
    {"name": "x", "type": "float", "distribution": "normal", "min": -2.0, "max": 4.0},
    {"name": "lr", "type": "float", "distribution": "logNormal", "min": 1e-4, "max": 1e-2},
]


def _draws(kind: str, seed: int) -> dict[str, list[Any]]:
    s = spec(searchSpace=SPACE, optimizer={"type": kind, "seed": seed}, totalTrials=N)
    draw = random_point if kind == "random" else qmc_point
    points = [draw(s, i) for i in range(N)]
    return {name: [p[name] for p in points] for name in ("x", "lr")}


@pytest.mark.parametrize("kind", ["random", "qmc"])
@pytest.mark.parametrize("seed", [0, 7])
def test_draws_follow_katibs_normal_and_log_normal(kind: str, seed: int) -> None:
    draws = _draws(kind, seed)
    # x: mean (min + max) / 2 = 1, sd (max - min) / 6 = 1
    assert stats.kstest(draws["x"], stats.norm(1.0, 1.0).cdf).pvalue > 0.01
    # log(lr): mean of log(1e-4) and log(1e-2), sd a sixth of their distance
    mu, sd = math.log(1e-3), (math.log(1e-2) - math.log(1e-4)) / 6
    logs = [math.log(v) for v in draws["lr"]]
    assert stats.kstest(logs, stats.norm(mu, sd).cdf).pvalue > 0.01
    # not cut at min and max: about 0.27% of the draws lie outside them
    outside = sum(not -2.0 <= v <= 4.0 for v in draws["x"])
    assert 0 < outside < 20


def test_a_uniform_draw_would_fail_the_same_test() -> None:
    """The KS test above can fail: uniform draws over [min, max] do."""
    s = spec(
        searchSpace=[{"name": "x", "type": "float", "min": -2.0, "max": 4.0}],
        optimizer={"type": "random", "seed": 0},
        totalTrials=N,
    )
    xs = [random_point(s, i)["x"] for i in range(N)]
    assert stats.kstest(xs, stats.norm(1.0, 1.0).cdf).pvalue < 1e-6


def test_a_step_rounds_the_draw_like_hyperopts_q() -> None:
    s = spec(
        searchSpace=[
            {
                "name": "q",
                "type": "float",
                "distribution": "normal",
                "min": 0,
                "max": 3,
                "step": 0.25,
            },
            {"name": "n", "type": "int", "distribution": "normal", "min": 1, "max": 7},
            {
                "name": "m",
                "type": "int",
                "distribution": "logNormal",
                "min": 8,
                "max": 512,
                "step": 8,
            },
        ],
        optimizer={"type": "random", "seed": 3},
        totalTrials=500,
    )
    points = [random_point(s, i) for i in range(500)]
    assert all(round(p["q"] / 0.25) * 0.25 == pytest.approx(p["q"]) for p in points)
    assert all(type(p["n"]) is int and type(p["m"]) is int for p in points)
    assert all(p["m"] % 8 == 0 for p in points)
    assert abs(statistics.mean(p["n"] for p in points) - 4) < 0.2


@given(st.floats(min_value=EDGE, max_value=1 - EDGE))
def test_the_cdf_undoes_the_inverse_cdf(u: float) -> None:
    p = Parameter.model_validate(SPACE[1])
    assert probability_of(p, float(value_at(p, u))) == pytest.approx(u, abs=1e-9, rel=1e-6)


@given(st.floats(min_value=0, max_value=1), st.floats(min_value=0, max_value=1))
def test_the_draw_is_monotone_in_its_probability(a: float, b: float) -> None:
    p = Parameter.model_validate(SPACE[0])
    low, high = sorted((a, b))
    assert value_at(p, low) <= value_at(p, high)
    assert math.isfinite(float(value_at(p, 0.0))) and math.isfinite(float(value_at(p, 1.0)))


def test_katibs_reading_of_min_and_max() -> None:
    n = normal_of(Parameter.model_validate(SPACE[0]))
    assert (n.mean, n.stdev) == (1.0, 1.0)


@pytest.mark.parametrize(
    ("optimizer", "words"),
    [
        ({"type": "grid"}, "not grid (x)"),
        ({"type": "cmaes"}, "not cmaes (x)"),
        ({"type": "gp"}, "not gp (x)"),
    ],
)
def test_optimizers_without_a_normal_draw_refuse_it(optimizer: dict[str, Any], words: str) -> None:
    with pytest.raises(SpecError) as err:
        spec(searchSpace=[SPACE[0]], optimizer=optimizer, totalTrials=5)
    rule = "searchSpace[0].distribution: normal and logNormal only with optimizer type random"
    assert any(rule in p and words in p for p in err.value.problems), err.value.problems


def _result(trial: int, params: dict[str, Any], value: float) -> TrialResult:
    return TrialResult(
        trial=trial, job_index=trial, params=params, outcome=Outcome.SUCCEEDED, value=value
    )


def test_tpe_suggests_through_the_normal_and_learns_from_values_past_min_and_max() -> None:
    s = spec(searchSpace=SPACE, optimizer={"type": "bayesian", "seed": 2}, totalTrials=80)
    drawn = spec(searchSpace=SPACE, optimizer={"type": "random", "seed": 2}, totalTrials=80)
    # 30 random draws (some past min and max: a normal draw's tail) as the history; the
    # best x is 2.5, 1.5 standard deviations out
    history = [
        _result(i, p, (p["x"] - 2.5) ** 2) for i in range(30) if (p := random_point(drawn, i))
    ]
    # one suggestion at a time, each seeded by its trial number, as with maxParallel 1
    out = [suggest(s, history, [], 30 + k, 1)[0] for k in range(30)]
    assert all(isinstance(p["x"], float) and math.isfinite(p["x"]) for p in out)
    assert all(p["lr"] > 0 for p in out)
    # it learned: suggestions nearer 2.5 than fresh draws of the prior, N(1, 1)
    prior = [random_point(drawn, 100 + k)["x"] for k in range(30)]
    learned = statistics.median(abs(p["x"] - 2.5) for p in out)
    assert learned < 0.5 * statistics.median(abs(x - 2.5) for x in prior)


def test_tpe_start_draws_the_normal() -> None:
    s = spec(searchSpace=SPACE, optimizer={"type": "bayesian", "seed": 2}, totalTrials=N)
    xs = [suggest(s, [], [], i, 1)[0]["x"] for i in range(300)]
    assert stats.kstest(xs, stats.norm(1.0, 1.0).cdf).pvalue > 0.01


def _experiment(algorithm: str, space: dict[str, Any], kind: str = "double") -> dict[str, Any]:
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": "e"},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {"algorithmName": algorithm},
            "maxTrialCount": 4,
            "parameters": [{"name": "lr", "parameterType": kind, "feasibleSpace": space}],
            "trialTemplate": {
                "primaryContainerName": "main",
                "trialParameters": [{"name": "lr", "reference": "lr"}],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {
                        "template": {
                            "spec": {
                                "containers": [
                                    {
                                        "name": "main",
                                        "image": "i",
                                        "args": ["${trialParameters.lr}"],
                                    }
                                ]
                            }
                        }
                    },
                },
            },
        },
    }


@pytest.mark.parametrize("algorithm", ["random", "tpe"])
@pytest.mark.parametrize(
    ("space", "kind", "expected"),
    [
        (
            {"min": "0.01", "max": "0.05", "distribution": "normal"},
            "double",
            {"type": "float", "min": 0.01, "max": 0.05, "distribution": "normal"},
        ),
        (
            {"min": "1", "max": "100", "step": "2", "distribution": "logNormal"},
            "int",
            {"type": "int", "min": 1, "max": 100, "step": 2, "distribution": "logNormal"},
        ),
    ],
)
def test_katib_normal_and_log_normal_import_where_katib_draws_them(
    algorithm: str, space: dict[str, Any], kind: str, expected: dict[str, Any]
) -> None:
    from tuneop.core.conversions.katib import convert_experiment

    doc, notes = convert_experiment(_experiment(algorithm, space, kind))
    assert doc["spec"]["searchSpace"][0] == {"name": "lr", **expected}
    assert not any("distribution" in n for n in notes), notes


@pytest.mark.parametrize("algorithm", ["cmaes", "sobol", "grid", "multivariate-tpe"])
def test_katib_algorithms_that_sample_uniformly_import_uniform_with_a_note(algorithm: str) -> None:
    from tuneop.core.conversions.katib import convert_experiment

    space = {"min": "0.01", "max": "0.05", "step": "0.01", "distribution": "normal"}
    doc, notes = convert_experiment(_experiment(algorithm, space))
    assert "distribution" not in doc["spec"]["searchSpace"][0]
    said = [n for n in notes if "distribution: normal sampled uniformly" in n]
    assert said and algorithm in said[0] and said[0].startswith("spec.parameters[0]"), notes
