"""spec.warmStart: its validation, the points as the first trials, an earlier session's
records as history (bounded, numbered below 0), and the sources that cannot serve it."""

from __future__ import annotations

from typing import Any

import pytest
from core_builders import REF, T0

from builders import spec
from tuneop.adapters.redis_mirror.warmstart import (
    FOLDER_ON_CLUSTER,
    NO_REDIS,
    NoRedisWarmStart,
    RedisWarmStart,
)
from tuneop.api.errors import SpecError
from tuneop.api.spec import SessionSpec
from tuneop.core.jobs.observed import Observed
from tuneop.core.planning.planner import plan
from tuneop.core.suggest.bayesian import CachedSuggester
from tuneop.core.suggest.samplers import gp_available
from tuneop.core.suggest.search import known_point
from tuneop.core.suggest.warmstart import prior_trials

SPACE: list[dict[str, Any]] = [
    {"name": "x", "type": "float", "min": -5, "max": 10},
    {"name": "n", "type": "int", "min": 0, "max": 8, "step": 2},
    {"name": "c", "type": "categorical", "values": ["a", "b"]},
]
POINT = {"x": 1.5, "n": 4, "c": "a"}


def warm(kind: str = "bayesian", **warm_start: Any) -> SessionSpec:
    return spec(
        searchSpace=SPACE,
        optimizer={"type": kind, "seed": 1},
        totalTrials=20,
        warmStart=warm_start,
    )


@pytest.mark.parametrize(
    ("warm_start", "kind"),
    [
        ({"points": [POINT]}, "bayesian"),
        ({"points": [{**POINT, "x": 10, "n": 8.0}]}, "cmaes"),
        ({"from": {"session": "default/earlier"}}, "gp"),
        ({"from": {"results": "tuneop-results/earlier", "maxTrials": 10_000}}, "bayesian"),
        ({"points": [POINT], "from": {"session": "earlier"}}, "bayesian"),
    ],
    ids=["points", "points-at-bounds", "from-session", "from-results", "both"],
)
def test_a_warm_start_that_fits_the_session_is_accepted(
    warm_start: dict[str, Any], kind: str
) -> None:
    assert warm(kind, **warm_start).warm_start is not None


@pytest.mark.parametrize(
    ("warm_start", "kind", "words"),
    [
        ({"points": [POINT]}, "random", "warmStart: needs an optimizer that learns"),
        ({"points": [POINT]}, "qmc", "warmStart: needs an optimizer that learns"),
        ({"points": [{"x": 1.0, "n": 4}]}, "bayesian", "warmStart.points[0].c: missing"),
        ({"points": [{**POINT, "y": 1}]}, "bayesian", "points[0].y: not a searchSpace parameter"),
        ({"points": [{**POINT, "x": 11}]}, "bayesian", "points[0].x: must be within [-5, 10]"),
        ({"points": [{**POINT, "n": 3}]}, "bayesian", "points[0].n: must be on the grid of step 2"),
        ({"points": [{**POINT, "n": 2.5}]}, "bayesian", "points[0].n: must be a whole number"),
        ({"points": [{**POINT, "c": "z"}]}, "bayesian", "points[0].c: must be one of"),
        ({"points": [{**POINT, "x": "1"}]}, "bayesian", "points[0].x: must be a finite number"),
        ({"points": [POINT, {**POINT, "x": True}]}, "bayesian", "points[1].x: must be a finite"),
        ({}, "bayesian", "warmStart.points or from: set at least one"),
        ({"points": []}, "bayesian", "warmStart.points: List should have at least 1 item"),
        ({"from": {}}, "bayesian", "warmStart.from.results and session: set one, not both"),
        (
            {"from": {"results": "r", "session": "s"}},
            "bayesian",
            "warmStart.from.results and session: set one, not both",
        ),
        ({"from": {"session": "Bad/Name"}}, "bayesian", "from.session: must be NAMESPACE/NAME"),
        ({"from": {"results": "a\x1b[2Jb"}}, "bayesian", "from.results: must not contain control"),
        ({"from": {"session": "s", "maxTrials": 0}}, "bayesian", "from.maxTrials: Input should be"),
        ({"from": {"session": "s", "maxTrials": 10_001}}, "bayesian", "from.maxTrials: Input"),
    ],
)
def test_a_warm_start_that_does_not_fit_is_one_line_naming_the_field(
    warm_start: dict[str, Any], kind: str, words: str
) -> None:
    with pytest.raises(SpecError) as err:
        warm(kind, **warm_start)
    assert len(err.value.problems) == 1 and words in err.value.problems[0], err.value.problems


def test_warm_start_with_an_explicit_trials_list_is_refused() -> None:
    with pytest.raises(SpecError, match="warmStart: needs a searchSpace, not trials"):
        spec(
            searchSpace=[],
            trials=[{"x": 1}],
            optimizer={"type": "random"},
            warmStart={"points": [{"x": 1}]},
        )


# gp plans only where PyTorch is installed (the gp extra; scripts/test.sh installs it).
NEEDS_GP = pytest.mark.skipif(not gp_available(), reason="PyTorch is not installed")


@pytest.mark.parametrize("kind", ["bayesian", "cmaes", pytest.param("gp", marks=NEEDS_GP)])
def test_the_points_are_the_first_trials_and_the_sampler_asks_the_rest(kind: str) -> None:
    other = {**POINT, "x": -2, "n": 8.0, "c": "b"}
    s = warm(kind, points=[POINT, other])
    first = plan(s, Observed(REF, ()), T0, CachedSuggester())
    params = [p for job in first.create for p in job.params]
    assert params[:2] == [POINT, {**other, "x": -2.0, "n": 8}]
    assert isinstance(params[1]["x"], float) and isinstance(params[1]["n"], int)
    assert len(params) == s.max_parallel and params[2] not in (POINT, other)
    assert [known_point(s, t) for t in range(3)] == [POINT, params[1], {}]


def record(trial: int, value: Any, outcome: str = "Succeeded", **params: Any) -> dict[str, Any]:
    return {
        "trial": trial,
        "params": {**POINT, **params},
        "metrics": {"loss": value},
        "objective": {"metric": "loss", "value": value},
        "outcome": outcome,
    }


def test_an_earlier_sessions_records_become_history_below_trial_zero() -> None:
    s = warm(**{"from": {"session": "earlier", "maxTrials": 3}})
    records = [
        record(0, 5.0),
        record(1, 4.0, x=2),
        record(2, 1.0, outcome="Failed"),
        record(3, float("nan")),
        record(4, 3.0, x=99),  # outside this session's space
        record(5, None),
        record(6, 2.0, n=6.0),
        {**record(7, 0.5), "objective": {"metric": "other", "value": 9}},  # metric by name
        record(8, "1"),
    ]
    prior = prior_trials(s, records)
    assert [(r.trial, r.value) for r in prior] == [(-3, 4.0), (-2, 2.0), (-1, 0.5)]
    assert all(r.succeeded and r.job_index == -1 for r in prior)
    assert prior[1].params == {"x": 1.5, "n": 6, "c": "a"} and isinstance(prior[1].params["n"], int)
    assert prior_trials(warm(points=[POINT]), records) == []


class BrokenRedis:
    """A Redis client the operator must not reach for a spec it refuses anyway."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Redis was asked: {name}")


@pytest.mark.parametrize(
    ("source", "source_from", "problem"),
    [
        (RedisWarmStart(BrokenRedis(), "tuneop"), {"results": "r"}, FOLDER_ON_CLUSTER),  # type: ignore[arg-type]
        (NoRedisWarmStart(), {"results": "r"}, FOLDER_ON_CLUSTER),
        (NoRedisWarmStart(), {"session": "default/earlier"}, NO_REDIS),
    ],
    ids=["folder-on-cluster", "folder-without-redis", "session-without-redis"],
)
def test_the_operator_refuses_a_warm_start_it_cannot_read_naming_the_field(
    source: Any, source_from: dict[str, str], problem: str
) -> None:
    s = warm(**{"from": source_from})
    with pytest.raises(SpecError) as err:
        source.prior(REF, s)
    assert err.value.problems == [problem] and problem.startswith("spec.warmStart.from.")
    assert source.prior(REF, warm(points=[POINT])) == []
