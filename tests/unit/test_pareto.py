"""The Pareto front: what it keeps, and the status's copy bounded at any trial count."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from core_builders import Session
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import DROP, TWO_OBJECTIVES, spec
from tuneop.api.spec import SessionSpec
from tuneop.api.status import PARETO_FRONT_SIZE, ParetoEntry, SessionStatus, status_bytes
from tuneop.core.results.pareto import dominates, fold_front, front
from tuneop.core.wire.contract import Outcome, TrialResult

MIN_MAX = ["minimize", "maximize"]


def two(**overrides: Any) -> SessionSpec:
    """A session of two objectives: loss (minimize) and score (maximize)."""
    return spec(objective=DROP, objectives=TWO_OBJECTIVES, **overrides)


def ok(trial: int, *values: float) -> TrialResult:
    return TrialResult(
        trial, trial, {"x": trial}, Outcome.SUCCEEDED, values[0], values=tuple(values)
    )


def brute_front(points: dict[int, tuple[float, ...]], signs: tuple[float, ...]) -> list[int]:
    """The front by its definition: each point against every other; equal points, earliest."""
    loss = {t: tuple(s * v for s, v in zip(signs, p, strict=True)) for t, p in points.items()}
    finite = {t: v for t, v in loss.items() if all(math.isfinite(x) for x in v)}
    return sorted(
        t
        for t, v in finite.items()
        if not any(dominates(w, v) or (w == v and u < t) for u, w in finite.items() if u != t)
    )


# (directions, {trial: values}, the trials on the front in the front's order)
FRONTS = [
    pytest.param(
        MIN_MAX,
        {0: (1.0, 1.0), 1: (2.0, 5.0), 2: (3.0, 4.0), 3: (0.5, 0.5)},
        [3, 0, 1],
        id="dominated-points-drop-out",
    ),
    pytest.param(
        MIN_MAX, {0: (1.0, 2.0), 1: (1.0, 2.0), 2: (0.0, 0.0)}, [2, 0], id="ties-keep-the-earliest"
    ),
    pytest.param(
        MIN_MAX,
        {0: (math.nan, 9.0), 1: (1.0, math.inf), 2: (2.0, 1.0), 3: (-math.inf, 0.0)},
        [2],
        id="nan-and-inf-take-no-part",
    ),
    pytest.param(
        ["maximize", "maximize"], {0: (1.0, 1.0), 1: (2.0, 2.0), 2: (3.0, 0.0)}, [2, 1], id="max"
    ),
    pytest.param(
        ["minimize"] * 3,
        {0: (1.0, 2.0, 3.0), 1: (3.0, 2.0, 1.0), 2: (2.0, 2.0, 2.0), 3: (2.0, 2.0, 2.5)},
        [0, 2, 1],
        id="three-objectives",
    ),
    pytest.param(MIN_MAX, {0: (1.0, 1.0, 1.0)}, [], id="wrong-count-of-values-ignored"),
]


@pytest.mark.parametrize(("directions", "points", "want"), FRONTS)
def test_front_keeps_the_trials_no_other_beats_on_every_objective(
    directions: list[str], points: dict[int, tuple[float, ...]], want: list[int]
) -> None:
    got = front(points.items(), lambda item: item[1], directions, lambda item: (item[0],))
    assert [t for t, _ in got] == want


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
value = st.one_of(finite, finite, finite, st.sampled_from([math.nan, math.inf, -math.inf]))
# A few distinct values, so ties and exact duplicates are common.
coarse = st.sampled_from([0.0, 1.0, 2.0, 3.0])
point = st.tuples(st.one_of(value, coarse), st.one_of(value, coarse))
batches = st.lists(st.lists(point, max_size=40), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(batches=batches)
def test_the_status_front_is_bounded_non_dominated_and_exact_while_it_fits(
    batches: list[list[tuple[float, float]]],
) -> None:
    s = two()
    kept: list[ParetoEntry] = []
    seen: dict[int, tuple[float, float]] = {}
    trial = 0
    for batch in batches:
        new = []
        for values in batch:
            new.append(ok(trial, *values))
            seen[trial] = values
            trial += 1
        kept = fold_front(s, kept, new)
        assert len(kept) <= PARETO_FRONT_SIZE
        losses = [(e.values[0], -e.values[1]) for e in kept]
        assert all(math.isfinite(v) for e in kept for v in e.values)
        assert not any(dominates(a, b) or (a == b and a is not b) for a in losses for b in losses)
        assert all(tuple(e.values) == seen[e.trial] for e in kept)
    # Folded at once, the status holds the whole front when it fits, else 10 of it.
    whole = brute_front(seen, (1.0, -1.0))
    at_once = fold_front(s, [], [ok(t, *v) for t, v in seen.items()])
    if len(whole) <= PARETO_FRONT_SIZE:
        assert sorted(e.trial for e in at_once) == whole
    else:
        assert len(at_once) == PARETO_FRONT_SIZE and {e.trial for e in at_once} <= set(whole)


def test_a_wide_front_keeps_both_extremes_and_spreads_the_rest() -> None:
    # 101 points on the front score = loss (a lower loss costs score); the cut keeps the ends.
    results = [ok(t, t / 100, t / 100) for t in range(101)]
    kept = fold_front(two(), [], results)
    trials = [e.trial for e in kept]
    assert len(trials) == PARETO_FRONT_SIZE
    assert trials[0] == 0 and trials[-1] == 100
    gaps = [b - a for a, b in itertools.pairwise(trials)]
    assert max(gaps) <= 3 * min(gaps), trials


def test_failed_and_valueless_results_never_enter_the_front() -> None:
    failed = TrialResult(5, 5, {}, Outcome.FAILED)
    lonely = TrialResult(6, 6, {}, Outcome.SUCCEEDED, 0.0)  # one value, not each objective's
    assert [e.trial for e in fold_front(two(), [], [ok(1, 1.0, 1.0), failed, lonely])] == [1]


def test_front_entries_drop_wide_params_so_the_status_stays_small() -> None:
    wide = TrialResult(0, 0, {"p": "w" * 5000}, Outcome.SUCCEEDED, 1.0, values=(1.0, 1.0))
    (entry,) = fold_front(two(), [], [wide])
    assert entry.params is None and entry.params_omitted


# ---- played through the planner


def every_sixth(params: dict[str, Any]) -> dict[str, float]:
    """Two objectives in tension: score costs loss, and only every sixth x pays (a front of
    ten trials, 0, 6, ..., 54; the others are beaten by x = 0 or a lower sixth)."""
    x = float(params["x"])
    return {"loss": x, "score": x if int(x) % 6 == 0 else -1.0}


def test_a_two_objective_session_keeps_a_front_instead_of_a_best() -> None:
    s = Session(two(searchSpace=[{"name": "x", "type": "int", "min": 0, "max": 59}], maxParallel=4))
    final = s.play(per_step=3, newest_first=True, value=every_sixth)
    st_ = final.status
    assert st_.phase == "Succeeded" and st_.trials.succeeded == 60
    assert st_.best is None and st_.leaderboard == []
    points = {r.trial: (r.metrics["loss"], r.metrics["score"]) for r in s.persisted}
    want = brute_front(points, (1.0, -1.0))
    assert want == list(range(0, 60, 6))
    assert [e.trial for e in st_.pareto_front] == sorted(want, key=lambda t: points[t][0])
    assert st_.front_size == len(want)
    # A front as wide as the status's cap may be wider: the message says only what it kept.
    assert f"Pareto front: {len(want)} trials kept here (at most 10;" in st_.message
    assert all(r.values == (r.metrics["loss"], r.metrics["score"]) for r in s.persisted)


@pytest.mark.parametrize(
    ("metrics", "why"),
    [
        pytest.param({"loss": 1.0}, "metric 'score' is missing", id="second-missing"),
        pytest.param({"loss": 1.0, "score": "high"}, "'score' is not a number", id="text"),
        pytest.param({"loss": 1.0, "score": math.inf}, "'score' is not finite", id="inf"),
    ],
)
def test_a_trial_without_every_objective_is_metrics_unavailable(
    metrics: dict[str, Any], why: str
) -> None:
    s = Session(two(searchSpace=[{"name": "x", "type": "int", "min": 0, "max": 0}]))
    s.play(value=lambda p: metrics)
    (r,) = s.persisted
    assert r.outcome is Outcome.METRICS_UNAVAILABLE and why in (r.error or "")
    assert s.status.pareto_front == [] and s.status.front_size == 0


def test_single_objective_sessions_have_no_front_in_their_status() -> None:
    final = Session(spec()).play()
    assert final.status.pareto_front == [] and final.status.front_size is None
    assert "paretoFront" not in final.status.model_dump(by_alias=True, exclude_defaults=True)


def test_status_stays_under_16_kib_for_thousands_of_trials_of_eight_objectives() -> None:
    names = [f"p{i:02d}_" + "w" * 59 for i in range(32)]
    objectives = [{"metric": f"m{i}", "direction": MIN_MAX[i % 2]} for i in range(8)]
    s = Session(
        spec(
            objective=DROP,
            objectives=objectives,
            searchSpace=[{"name": n, "type": "float", "min": -1e6, "max": 1e6} for n in names],
            optimizer={"type": "random"},
            totalTrials=1500,
            maxParallel=50,
        )
    )
    sizes: list[int] = []

    def eight(params: dict[str, Any]) -> dict[str, float]:
        # Each objective a different mix of the params: a wide front of 8 dimensions.
        xs = [float(params[n]) for n in names]
        return {f"m{i}": sum(xs[(i + k) % 32] * (k + 1) for k in range(4)) for i in range(8)}

    def record(sess: Session) -> None:
        sizes.append(status_bytes(sess.status))

    final = s.play(per_step=25, newest_first=True, value=eight, check=record)
    status: SessionStatus = final.status
    assert status.trials.succeeded == 1500
    assert len(status.pareto_front) == PARETO_FRONT_SIZE == status.front_size
    assert max(sizes) < 16 * 1024
