"""The optimizers cmaes, gp and qmc: which sampler each gets, and what each is promised."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import pytest

from builders import DROP, REF, T0, spec
from tuneop.api.errors import SpecError
from tuneop.api.spec import SessionSpec
from tuneop.cli.preflight import preflight
from tuneop.core.jobs.observed import Observed
from tuneop.core.planning.planner import plan
from tuneop.core.suggest.bayesian import SessionStudies, suggest
from tuneop.core.suggest.samplers import GP_NEEDS, CmaState, gp_available, make_sampler
from tuneop.core.suggest.search import known_point, point, random_point
from tuneop.core.wire.contract import Outcome, TrialResult

SPACE: list[dict[str, Any]] = [
    {"name": "x", "type": "float", "min": -5, "max": 10},
    {"name": "n", "type": "int", "min": 1, "max": 8},
]
MIXED = [
    *SPACE,
    {"name": "lr", "type": "float", "min": 1e-4, "max": 1.0, "log": True},
    {"name": "w", "type": "float", "min": 0.0, "max": 1.0, "step": 0.25},
    {"name": "c", "type": "categorical", "values": ["a", "b", 3]},
]


def searching(kind: str, seed: int = 1, space: list[dict[str, Any]] = SPACE) -> SessionSpec:
    return spec(searchSpace=space, optimizer={"type": kind, "seed": seed}, totalTrials=64)


def history(s: SessionSpec, n: int, first: int = 0) -> list[TrialResult]:
    """``n`` completed trials at the random search's points, valued (x-2)^2 + n."""
    out = []
    for t in range(first, first + n):
        params = random_point(s, t)
        value = (float(params["x"]) - 2) ** 2 + float(params["n"])
        out.append(TrialResult(t, t, params, Outcome.SUCCEEDED, value=value))
    return out


@pytest.mark.parametrize(
    ("kind", "sampler"),
    [("bayesian", "TPESampler"), ("cmaes", "CmaEsSampler"), ("gp", "GPSampler")],
)
def test_each_learning_optimizer_gets_its_optuna_sampler(kind: str, sampler: str) -> None:
    s = searching(kind)
    assert s.optimizer.learns
    assert type(make_sampler(s, 0)).__name__ == sampler


@pytest.mark.parametrize("kind", ["cmaes", "gp", "qmc"])
def test_an_optimizer_that_searches_needs_a_search_space_not_trials(kind: str) -> None:
    with pytest.raises(SpecError, match=f"optimizer.type: {kind} needs a searchSpace"):
        spec(searchSpace=DROP, trials=[{"x": 1}], optimizer={"type": kind})


def test_qmc_trials_are_a_pure_function_of_seed_and_index_and_never_suggested() -> None:
    s = searching("qmc", space=MIXED)
    assert not s.optimizer.learns
    first = [point(s, i) for i in range(32)]
    assert first == [point(s, i) for i in range(32)] == [known_point(s, i) for i in range(32)]
    assert first != [point(searching("qmc", 2, MIXED), i) for i in range(32)]
    for p in first:
        assert -5 <= p["x"] <= 10 and p["n"] in range(1, 9) and 1e-4 <= p["lr"] <= 1.0
        assert p["w"] in (0.0, 0.25, 0.5, 0.75, 1.0) and p["c"] in ("a", "b", 3)
        assert isinstance(p["n"], int) and isinstance(p["x"], float)
    assert {p["c"] for p in first} == {"a", "b", 3}


def test_qmc_points_fill_the_space_evenly_where_random_ones_clump() -> None:
    """Sobol's promise: the first 2^k points put one in each 1/2^k of every dimension."""
    one = [{"name": "u", "type": "float", "min": 0.0, "max": 1.0}]
    for kind, sample in (("qmc", point), ("random", random_point)):
        s = searching(kind, space=one)
        cells = {math.floor(float(sample(s, i)["u"]) * 16) for i in range(16)}
        assert (len(cells) == 16) is (kind == "qmc"), kind


def test_cmaes_learns_from_a_replayed_history_generation_after_generation() -> None:
    """CMA-ES (2 params: 6 per generation) tells a generation once 6 of its trials are in."""
    from optuna.distributions import FloatDistribution, IntDistribution

    s = searching("cmaes")
    dists = {"x": FloatDistribution(-5, 10), "n": IntDistribution(1, 8)}
    state = CmaState(s, dists)
    state.add(history(s, 19))
    done = state.study.get_trials(deepcopy=False)
    generations = {t.system_attrs.get("cma:generation") for t in done}
    assert generations == {None, 0, 1, 2}  # the first trial is the startup one
    assert any(k.startswith("cma:optimizer") for k in done[-6].system_attrs)


@pytest.mark.skipif(not gp_available(), reason="PyTorch is not installed: pip install '.[gp]'")
def test_gp_suggestions_asked_together_spread_out() -> None:
    s = searching("gp")
    asked = SessionStudies().suggest(REF, s, history(s, 12), [], 12, 2)
    assert len({(p["x"], p["n"]) for p in asked}) == 2


def test_gp_without_pytorch_is_one_line_naming_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tuneop.core.suggest.bayesian.gp_available", lambda: False)
    monkeypatch.setattr("tuneop.core.suggest.samplers.gp_available", lambda: False)
    s = searching("gp")
    with pytest.raises(SpecError) as err:
        SessionStudies().suggest(REF, s, history(s, 3), [], 3, 1)
    assert err.value.problems == [GP_NEEDS] and GP_NEEDS.startswith("spec.optimizer.type: gp")
    assert preflight(s) == GP_NEEDS


NEEDS_GP = pytest.mark.skipif(not gp_available(), reason="PyTorch is not installed")


@pytest.mark.parametrize("kind", ["cmaes", pytest.param("gp", marks=NEEDS_GP)])
def test_a_planned_session_of_a_new_sampler_launches_suggested_trials(kind: str) -> None:
    s = searching(kind)
    first = plan(s, Observed(REF, ()), T0, partial(SessionStudies().suggest, REF))
    params = [p for job in first.create for p in job.params]
    assert len(params) == s.max_parallel and all(-5 <= p["x"] <= 10 for p in params)


GROUPED = [
    {"name": "opt", "type": "categorical", "values": ["sgd", "adam"]},
    {"name": "momentum", "type": "float", "min": 0.0, "max": 0.9, "when": {"opt": "sgd"}},
]


@pytest.mark.parametrize(
    ("kind", "space"),
    [
        ("bayesian", SPACE),
        ("bayesian", GROUPED),
        ("cmaes", SPACE),
        pytest.param("gp", SPACE, marks=NEEDS_GP),
    ],
    ids=["tpe", "tpe grouped", "cmaes", "gp"],
)
def test_asking_a_learning_sampler_warns_nothing(kind: str, space: list[dict[str, Any]]) -> None:
    """A warning from Optuna is printed on every trial of a run: none, whatever the
    installed Optuna deprecates (scripts/test-bounds.sh runs this on the newest)."""
    import warnings

    s = searching(kind, space=space)
    done = [
        TrialResult(t, t, random_point(s, t), Outcome.SUCCEEDED, value=float(t % 5))
        for t in range(12)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_sampler(s, 0)
        assert len(suggest(s, done, [], 12, 3)) == 3


class _NewestTpe:
    """Optuna 4.9's TPESampler signature: ``warn_independent_sampling`` deprecated (its
    default None; passing it at all warns)."""

    taken: dict[str, Any] = {}

    def __init__(self, *, warn_independent_sampling: bool | None = None, **kw: Any) -> None:
        type(self).taken = {**kw, **({} if warn_independent_sampling is None else {"w": 1})}


@pytest.mark.parametrize("space", [SPACE, GROUPED], ids=["flat", "grouped"])
def test_an_optuna_that_deprecates_warn_independent_sampling_is_not_passed_it(
    monkeypatch: pytest.MonkeyPatch, space: list[dict[str, Any]]
) -> None:
    import optuna

    monkeypatch.setattr(optuna.samplers, "TPESampler", _NewestTpe)
    make_sampler(searching("bayesian", space=space), 0)
    assert "w" not in _NewestTpe.taken
    assert _NewestTpe.taken["constant_liar"] is True
