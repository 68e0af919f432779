"""The cached suggester gives exactly what a fresh rebuild gives: TPE's kept study, and
CMA-ES's replayed state (``core.suggest.samplers.CmaState``) grown call after call."""

from __future__ import annotations

import random
from functools import partial
from typing import Any

import pytest

from tuneop.api.session import SessionRef
from tuneop.api.spec import parse_spec
from tuneop.core.suggest.bayesian import SessionStudies, suggest
from tuneop.core.wire.contract import Outcome, TrialResult

REF = SessionRef("ns", "s", uid="u1")


def bayes_spec(
    seed: int = 1,
    categorical: bool = False,
    sampler: str = "",
    kind: str = "bayesian",
    conditional: bool = False,
) -> Any:
    """A spec of optimizer ``kind``; with a ``sampler`` (tpe, nsga2), of two objectives;
    ``conditional``: with ``y``, a parameter only when the categorical ``c`` is ``a``."""
    space: list[dict[str, Any]] = [
        {"name": "x1", "type": "float", "min": -5, "max": 10},
        {"name": "x2", "type": "int", "min": 0, "max": 15},
    ]
    if categorical or conditional:
        space.append({"name": "c", "type": "categorical", "values": ["a", "b", 3]})
    if conditional:
        space.append({"name": "y", "type": "float", "min": 0, "max": 1, "when": {"c": "a"}})
    data: dict[str, Any] = {
        "objective": {"metric": "value"},
        "searchSpace": space,
        "optimizer": {"type": kind, "seed": seed},
        "totalTrials": 1000,
        "runner": {"image": "tuneop/runner:0.1.0", "objective": "m:f"},
    }
    if sampler:
        del data["objective"]
        data["objectives"] = [
            {"metric": "value", "direction": "minimize"},
            {"metric": "size", "direction": "maximize"},
        ]
        data["optimizer"]["sampler"] = sampler
        if sampler == "nsga2":
            data["optimizer"]["populationSize"] = 4  # generations turn over within the test
    return parse_spec(data)


@pytest.mark.parametrize(
    ("kind", "seed", "categorical", "parallel", "fail_rate", "sampler"),
    [
        ("bayesian", 1, False, 1, 0.0, ""),
        ("bayesian", 2, True, 3, 0.2, ""),
        ("bayesian", 3, False, 4, 0.5, ""),
        ("bayesian", 4, True, 2, 0.2, "tpe"),
        ("bayesian", 5, False, 1, 0.0, "nsga2"),
        ("bayesian", 6, True, 3, 0.2, "nsga2"),
        ("cmaes", 1, False, 1, 0.0, ""),
        ("cmaes", 2, True, 3, 0.2, ""),
        ("cmaes", 3, False, 4, 0.5, ""),
    ],
    ids=[
        "sequential",
        "parallel_with_failures",
        "half_failing",
        "two_objectives_mo_tpe",
        "two_objectives_nsga2_sequential",
        "two_objectives_nsga2_parallel_with_failures",
        "cmaes_sequential",
        "cmaes_parallel_with_failures",
        "cmaes_half_failing",
    ],
)
def test_cached_suggestions_equal_a_fresh_rebuild(
    kind: str, seed: int, categorical: bool, parallel: int, fail_rate: float, sampler: str
) -> None:
    _play(bayes_spec(seed, categorical, sampler, kind), seed, parallel, fail_rate, sampler)


@pytest.mark.parametrize(
    ("kind", "sampler"),
    [("bayesian", ""), ("bayesian", "tpe"), ("bayesian", "nsga2"), ("cmaes", "")],
    ids=["tpe", "two_objectives_mo_tpe", "two_objectives_nsga2", "cmaes"],
)
def test_cached_suggestions_equal_a_fresh_rebuild_in_a_conditional_space(
    kind: str, sampler: str
) -> None:
    _play(bayes_spec(8, sampler=sampler, kind=kind, conditional=True), 8, 3, 0.2, sampler)


def _play(spec: Any, seed: int, parallel: int, fail_rate: float, sampler: str) -> None:
    """25 rounds of a session: the kept study asks what a fresh rebuild asks each time."""
    cached = partial(SessionStudies().suggest, REF)
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
        value = float(params["x1"]) ** 2 + params["x2"]
        history.append(
            TrialResult(
                trial=trial,
                job_index=trial,
                params=params,
                outcome=Outcome.SUCCEEDED if ok else Outcome.FAILED,
                value=value if ok else None,
                values=(value, float(params["x1"])) if ok and sampler else None,
            )
        )


@pytest.mark.parametrize("kind", ["bayesian", "cmaes"])
def test_a_history_that_does_not_extend_the_cache_rebuilds(kind: str) -> None:
    spec, cached = bayes_spec(kind=kind), partial(SessionStudies().suggest, REF)
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
    from tuneop.core.suggest.bayesian import distribution, frozen_trial

    spec = bayes_spec()
    dists = {p.name: distribution(p) for p in spec.search_space}
    r = TrialResult(0, 0, {"x1": 1.0, "x2": 3}, outcome, value=value, intermediate=curve)
    frozen = frozen_trial(r, dists, spec)
    assert (frozen.state.name, frozen.intermediate_values) == (state, intermediate)


class Ticks:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("max_sessions", "idle_seconds", "ask_at", "kept_after"),
    [
        pytest.param(256, None, [0, 1, 2, 500], 4, id="no-bounds-all-kept"),
        pytest.param(2, None, [0, 1, 2, 3], 2, id="at-most-max-sessions-the-latest"),
        pytest.param(256, 60.0, [0, 10, 100, 130], 2, id="idle-ones-dropped-at-the-next-ask"),
        pytest.param(256, 60.0, [0, 10, 20, 30], 4, id="none-idle-none-dropped"),
    ],
)
def test_kept_studies_are_bounded_in_number_and_dropped_when_idle(
    max_sessions: int, idle_seconds: float | None, ask_at: list[float], kept_after: int
) -> None:
    ticks = Ticks()
    studies = SessionStudies(max_sessions, idle_seconds, monotonic=ticks)
    spec = bayes_spec()
    for i, at in enumerate(ask_at):
        ticks.now = at
        studies.suggest(SessionRef("ns", f"s{i}", uid=f"u{i}"), spec, [], [], 0, 1)
    assert (
        sum(
            studies.study(SessionRef("ns", f"s{i}", uid=f"u{i}")) is not None
            for i in range(len(ask_at))
        )
        == kept_after
    )


def test_a_dropped_study_suggests_what_the_kept_one_would() -> None:
    ticks = Ticks()
    spec = bayes_spec(seed=7)
    rng = random.Random(7)
    history: list[TrialResult] = []
    kept, dropping = SessionStudies(), SessionStudies(idle_seconds=1.0, monotonic=ticks)
    for first in range(0, 24, 4):
        ticks.now += 10.0  # every study idle by the next ask
        dropping.suggest(SessionRef("ns", "other", uid="o"), spec, [], [], 0, 1)
        assert dropping.study(REF) is None  # the session's own study went
        a = kept.suggest(REF, spec, history, [], first, 4)
        b = dropping.suggest(REF, spec, history, [], first, 4)
        assert a == b
        history += [
            TrialResult(first + k, first, p, Outcome.SUCCEEDED, value=rng.random())
            for k, p in enumerate(a)
        ]
