"""Conditional parameters (``when``): the rules a condition must meet, and every optimizer
drawing exactly the active parameters of each trial.

The property: whatever the optimizer, seed and trial, a trial's params are exactly the
set its own values make active (``project`` of them is themselves, nothing active is
missing), and a grid holds each active combination once, as a brute-force enumeration of
the full product, projected and deduplicated, says.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from builders import spec, spec_data
from tuneop.api.conditions import (
    active_set_problem,
    evaluation_order,
    is_active,
    placeholder_values,
    project,
)
from tuneop.api.hyperband import schedule
from tuneop.api.session import SessionRef
from tuneop.api.spec import SpecError, parse_spec
from tuneop.core.jobs.manifests import job_manifest
from tuneop.core.results.study import build_study, study_data
from tuneop.core.suggest.bayesian import suggest
from tuneop.core.suggest.hyperband import params as hyperband_params
from tuneop.core.suggest.samplers import gp_available
from tuneop.core.suggest.search import budget, grid_point, grid_size, point
from tuneop.core.wire.contract import Outcome, TrialResult

OPT = {"name": "opt", "type": "categorical", "values": ["sgd", "adam", "none"]}
LR = {"name": "lr", "type": "float", "min": 0.001, "max": 0.1, "log": True}
MOMENTUM = {"name": "momentum", "type": "float", "min": 0.0, "max": 1.0, "when": {"opt": "sgd"}}
NESTEROV = {"name": "nesterov", "type": "categorical", "values": [True, False]}
BETA = {"name": "beta", "type": "float", "min": 0.8, "max": 0.99, "when": {"opt": ["adam"]}}
DEPTH = {"name": "depth", "type": "int", "min": 1, "max": 3, "when": {"opt": ["sgd", "adam"]}}
# A chain: width exists when depth (itself conditional) is 2 or 3.
WIDTH = {"name": "width", "type": "int", "min": 8, "max": 64, "step": 8, "when": {"depth": [2, 3]}}
SPACE = [OPT, LR, {**NESTEROV, "when": {"opt": "sgd"}}, MOMENTUM, BETA, DEPTH, WIDTH]


def _grid_space() -> list[dict[str, Any]]:
    """SPACE with a step on every float, so it has a grid."""
    out = [dict(p) for p in SPACE]
    out[1] = {"name": "lr", "type": "float", "min": 0.01, "max": 0.03, "step": 0.01}
    out[3] = {**MOMENTUM, "step": 0.5}
    out[4] = {**BETA, "min": 0.8, "max": 0.9, "step": 0.1}
    return out


def _exactly_active(s: Any, params: dict[str, Any]) -> bool:
    return (
        project(s.search_space, params) == params
        and active_set_problem(params, s.search_space) is None
    )


@pytest.mark.parametrize(
    ("space", "message"),
    [
        pytest.param(
            [OPT, {**MOMENTUM, "when": {"optimizer": "sgd"}}],
            "searchSpace[1].when.optimizer: must name a parameter of searchSpace",
            id="unknown-parent",
        ),
        pytest.param(
            [OPT, {**MOMENTUM, "when": {"opt": "sgdd"}}],
            'searchSpace[1].when.opt: "sgdd" is not a value of opt',
            id="value-not-a-choice",
        ),
        pytest.param(
            [OPT, DEPTH, {**WIDTH, "when": {"depth": [2, 4]}}],
            "searchSpace[2].when.depth: 4 is not a value of depth",
            id="int-value-out-of-range",
        ),
        pytest.param(
            [OPT, DEPTH, {**WIDTH, "when": {"depth": "2"}}],
            'searchSpace[2].when.depth: "2" is not a value of depth',
            id="text-for-an-int",
        ),
        pytest.param(
            [OPT, {**NESTEROV, "when": {"opt": "sgd"}}, {**MOMENTUM, "when": {"nesterov": 1}}],
            "searchSpace[2].when.nesterov: 1 is not a value of nesterov",
            id="number-for-a-boolean",
        ),
        pytest.param(
            [LR, {**MOMENTUM, "when": {"lr": 0.01}}],
            "searchSpace[1].when.lr: the parent must be categorical or an int of at most"
            " 1024 values (lr is continuous)",
            id="continuous-parent",
        ),
        pytest.param(
            [{"name": "n", "type": "int", "min": 0, "max": 5000}, {**LR, "when": {"n": 1}}],
            "searchSpace[1].when.n: the parent must be categorical or an int of at most 1024"
            " values (n has 5,001 values)",
            id="int-parent-too-wide",
        ),
        pytest.param(
            [{**OPT, "when": {"depth": 1}}, {**DEPTH, "when": {"opt": "sgd"}}],
            "searchSpace[0].when: parents form a cycle (opt -> depth -> opt)",
            id="cycle",
        ),
        pytest.param(
            [OPT, {**DEPTH, "when": {"w": 8}}, {**WIDTH, "name": "w", "when": {"depth": 2}}],
            "searchSpace[1].when: parents form a cycle (depth -> w -> depth)",
            id="cycle-behind-a-parent",
        ),
        pytest.param(
            [{**OPT, "when": {"opt": "sgd"}}],
            "searchSpace[0].when.opt: a parameter cannot be its own parent",
            id="own-parent",
        ),
        pytest.param(
            [OPT, {**MOMENTUM, "when": {"opt": []}}],
            "searchSpace[1].when.opt: 1 to 1024 values",
            id="no-values",
        ),
        pytest.param(
            [OPT, {**MOMENTUM, "when": {}}],
            "searchSpace[1].when: 1 to 8 parents",
            id="no-parents",
        ),
        pytest.param(
            [OPT, {**MOMENTUM, "when": {"opt": "s\x1bgd"}}],
            "searchSpace[1].when.opt: must not contain control characters",
            id="control-characters",
        ),
    ],
)
def test_a_condition_that_cannot_hold_is_refused_naming_the_field(
    space: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(SpecError) as err:
        spec(searchSpace=space, optimizer={"type": "random"}, totalTrials=4)
    assert len(err.value.problems) == 1 and message in err.value.problems[0], err.value.problems


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param(
            {"resource": "depth"},
            "searchSpace[5].when: the hyperband resource is in every trial, not conditional",
            id="conditional-resource",
        ),
        pytest.param(
            {"resource": "epochs", "when_on": "epochs"},
            "when.epochs: the hyperband resource cannot be a parent",
            id="resource-as-parent",
        ),
    ],
)
def test_hyperbands_resource_is_neither_conditional_nor_a_parent(
    extra: dict[str, str], message: str
) -> None:
    epochs = {"name": "epochs", "type": "int", "min": 1, "max": 9}
    space = [*SPACE, epochs]
    if "when_on" in extra:
        space = [OPT, epochs, {**MOMENTUM, "when": {"epochs": 3}}]
    hb = {"type": "hyperband", "hyperband": {"resource": extra["resource"], "maxResource": 9}}
    with pytest.raises(SpecError) as err:
        spec(searchSpace=space, optimizer=hb)
    assert message in err.value.problems[0], err.value.problems


@pytest.mark.parametrize(
    ("when", "params", "active"),
    [
        ({"opt": "sgd"}, {"opt": "sgd"}, True),
        ({"opt": "sgd"}, {"opt": "adam"}, False),
        ({"opt": ["sgd", "adam"]}, {"opt": "adam"}, True),
        ({"opt": "sgd"}, {}, False),  # the parent itself inactive
        ({"depth": [2, 3]}, {"depth": 2.0}, True),  # a record may say 2.0 for an int
        ({"nesterov": True}, {"nesterov": 1}, False),  # a boolean is no number
        ({"opt": "sgd", "depth": 2}, {"opt": "sgd", "depth": 1}, False),  # every parent holds
    ],
)
def test_a_parameter_is_active_when_every_parent_holds_a_value_named(
    when: dict[str, Any], params: dict[str, Any], active: bool
) -> None:
    space = [OPT, NESTEROV, DEPTH, {**MOMENTUM, "when": when}]
    s = spec(searchSpace=space, optimizer={"type": "random"}, totalTrials=1)
    assert is_active(s.search_space[-1], params) is active


def test_parents_are_asked_before_their_dependants_otherwise_as_written() -> None:
    s = spec(searchSpace=[WIDTH, MOMENTUM, DEPTH, OPT], optimizer={"type": "random"},
             totalTrials=1)  # fmt: skip
    assert [p.name for p in evaluation_order(s.search_space)] == [
        "opt",
        "momentum",
        "depth",
        "width",
    ]


def test_an_unconditional_space_keeps_its_trials_and_its_wire_form() -> None:
    """Specs without ``when`` draw as before and serialize without the field (their
    fingerprints do not change)."""
    s = spec(searchSpace=[OPT, LR], optimizer={"type": "random", "seed": 3}, totalTrials=5)
    assert "when" not in json.dumps(s.model_dump(by_alias=True, exclude_none=True))
    assert [set(point(s, i)) for i in range(5)] == [{"opt", "lr"}] * 5  # every parameter


def _brute_force(s: Any) -> list[dict[str, Any]]:
    """Every combination of the full product, projected, first seen kept, in odometer
    order over the evaluation order."""
    order = evaluation_order(s.search_space)
    axes = [[p.grid_value(k) for k in range(p.grid_size() or 0)] for p in order]
    seen: dict[str, dict[str, Any]] = {}
    for values in itertools.product(*axes):
        full = {p.name: v for p, v in zip(order, values, strict=True)}
        kept = project(s.search_space, full)
        seen.setdefault(json.dumps(kept, sort_keys=True), kept)
    return list(seen.values())


def test_a_conditional_grid_holds_each_active_combination_once_in_odometer_order() -> None:
    s = spec(searchSpace=_grid_space())
    expected = _brute_force(s)
    assert grid_size(s) == len(expected) == budget(s)[0]
    assert [grid_point(s, i) for i in range(grid_size(s))] == expected
    # 3 opts: sgd (2 nesterov x 3 momentum x depth 1 + 2 x (8 widths)), adam, none; x 3 lr
    assert len(expected) == 3 * (2 * 3 * (1 + 8 + 8) + 2 * (1 + 8 + 8) + 1)


def test_a_grid_too_large_in_full_is_run_whole_when_its_active_combinations_fit() -> None:
    big = {"name": "big", "type": "int", "min": 1, "max": 1_000_000, "when": {"opt": "sgd"}}
    also = {**big, "name": "also", "when": {"opt": "adam"}}
    s = spec(searchSpace=[OPT, big, also])  # in full 3e12 points; 2,000,001 active ones
    assert grid_size(s) == 2_000_001
    assert grid_point(s, 1_999_999) == {"opt": "adam", "also": 1_000_000}
    assert grid_point(s, 2_000_000) == {"opt": "none"}


def first_rungs(s: Any) -> set[int]:
    """The trials of hyperband's first rungs: drawn at random."""
    assert s.optimizer.hyperband is not None
    return {t for r in schedule(s.optimizer.hyperband) if r.rung == 0 for t in r.trials}


def _history(s: Any, n: int) -> list[TrialResult]:
    out = []
    for i in range(n):
        params = suggest(s, out, [], i, 1)[0]
        value = float(len(params)) + (params.get("lr") or 0.0)
        out.append(TrialResult(i, i, params, Outcome.SUCCEEDED, value=value))
    return out


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(["random", "qmc", "grid", "hyperband"]),
    seed=st.integers(0, 2**32 - 1),
    trial=st.integers(0, 200),
)
def test_every_drawn_trial_holds_exactly_its_active_parameters(
    kind: str, seed: int, trial: int
) -> None:
    space = _grid_space() if kind == "grid" else [*SPACE]
    optimizer: dict[str, Any] = {"type": kind, "seed": seed}
    if kind == "hyperband":
        space = [*space, {"name": "epochs", "type": "int", "min": 1, "max": 27}]
        optimizer["hyperband"] = {"resource": "epochs", "maxResource": 27}
    total = None if kind in ("grid", "hyperband") else 300
    s = spec(searchSpace=space, optimizer=optimizer, totalTrials=total)
    i = trial % budget(s)[0]
    if kind == "hyperband":
        first = first_rungs(s)
        assume(i in first)  # a later rung relaunches an earlier trial's params
        params = hyperband_params(s, i, {})
    else:
        params = point(s, i)
    assert _exactly_active(s, params), params


@settings(max_examples=6, deadline=None)
@given(kind=st.sampled_from(["bayesian", "cmaes"]), seed=st.integers(0, 2**32 - 1))
def test_every_suggested_trial_holds_exactly_its_active_parameters(kind: str, seed: int) -> None:
    """Define-by-run: TPE past its random start, and CMA-ES, over their own history."""
    s = spec(searchSpace=SPACE, optimizer={"type": kind, "seed": seed}, totalTrials=30)
    history = _history(s, 14)
    assert all(_exactly_active(s, r.params) for r in history)
    pending = [r.params for r in history[-3:]]
    more = suggest(s, history[:-3], pending, 14, 4)
    assert all(_exactly_active(s, p) for p in more), more


@pytest.mark.skipif(not gp_available(), reason="PyTorch is not installed: pip install '.[gp]'")
def test_gp_asks_define_by_run_past_its_random_start() -> None:
    s = spec(searchSpace=SPACE, optimizer={"type": "gp", "seed": 5}, totalTrials=20)
    history = _history(s, 12)  # GP's model leads from trial 10
    assert all(_exactly_active(s, r.params) for r in history)
    assert all(_exactly_active(s, p) for p in suggest(s, history, [], 12, 3))


def test_nsga2_and_multi_objective_tpe_ask_define_by_run_too() -> None:
    two = [{"metric": "loss", "direction": "minimize"}, {"metric": "t", "direction": "minimize"}]
    for sampler in ("tpe", "nsga2"):
        data = spec_data(
            searchSpace=SPACE,
            optimizer={"type": "bayesian", "sampler": sampler, "populationSize": 4},
            totalTrials=20,
            objective=None,
            objectives=two,
        )
        data.pop("objective")
        if sampler == "tpe":
            data["optimizer"].pop("populationSize")
        s = parse_spec(data)
        out: list[TrialResult] = []
        for i in range(10):
            params = suggest(s, out, [], i, 1)[0]
            assert _exactly_active(s, params), params
            out.append(TrialResult(i, i, params, Outcome.SUCCEEDED, value=1.0, values=(1.0, 2.0)))


@pytest.mark.parametrize(
    ("point_", "message"),
    [
        ({"opt": "sgd", "lr": 0.01, "momentum": 0.5}, None),
        ({"opt": "adam", "lr": 0.01, "beta": 0.9}, None),
        ({"opt": "adam", "lr": 0.01}, "beta: missing (active here, so it needs a value)"),
        (
            {"opt": "adam", "lr": 0.01, "beta": 0.9, "momentum": 0.5},
            "momentum: inactive here (its when does not hold), so it takes no value",
        ),
        ({"opt": "sgd", "lr": 0.01, "momentum": 2.0}, "momentum: must be within [0, 1]"),
    ],
)
def test_warm_start_points_hold_exactly_their_active_parameters(
    point_: dict[str, Any], message: str | None
) -> None:
    data = spec_data(
        searchSpace=[OPT, LR, MOMENTUM, BETA],
        optimizer={"type": "bayesian"},
        totalTrials=4,
        warmStart={"points": [point_]},
    )
    if message is None:
        assert parse_spec(data).warm_start is not None
        return
    with pytest.raises(SpecError) as err:
        parse_spec(data)
    assert f"warmStart.points[0].{message}" in err.value.problems[0], err.value.problems


def test_an_inactive_parameters_placeholder_is_empty_and_it_is_absent_from_the_env() -> None:
    template = {
        "spec": {
            "containers": [
                {
                    "name": "trial",
                    "image": "trainer:1",
                    "args": ["--opt=${params.opt}", "--momentum=${params.momentum}"],
                }
            ]
        }
    }
    s = spec(searchSpace=[OPT, MOMENTUM], template=template, runner={}, totalTrials=2,
             optimizer={"type": "random"}, metricsCollector={"kind": "StdOut"})  # fmt: skip
    job = job_manifest(s, SessionRef("ns", "demo", "uid-1"), 0, (0,), [{"opt": "adam"}])
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["--opt=adam", "--momentum="]
    names = {e["name"] for e in container["env"]}
    assert "TUNEOP_PARAM_OPT" in names and "TUNEOP_PARAM_MOMENTUM" not in names
    assert placeholder_values(s.search_space, {"opt": "sgd", "momentum": 0.5}) == {
        "opt": "sgd",
        "momentum": 0.5,
    }


def test_the_export_holds_each_trial_with_its_own_distributions_and_the_conditions() -> None:
    s = spec(searchSpace=[OPT, LR, MOMENTUM, BETA], optimizer={"type": "random"},
             totalTrials=12)  # fmt: skip
    records = [
        {"trial": i, "params": point(s, i), "outcome": "Succeeded",
         "objective": {"metric": "loss", "value": float(i)}}
        for i in range(12)
    ]  # fmt: skip
    study = build_study(study_data(records, "loss", "minimize", s.search_space))
    assert study.user_attrs["tuneop.conditions"] == {
        "momentum": "only when opt is sgd",
        "beta": "only when opt is adam",
    }
    for t in study.trials:
        assert set(t.distributions) == set(t.params) and _exactly_active(s, t.params)
