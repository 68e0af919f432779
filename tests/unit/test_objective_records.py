"""Result records of several objectives: every value kept, read back bounded, summarized."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from builders import DROP, TWO_OBJECTIVES, spec
from tuneop.core.results.records import MAX_RECORD_OBJECTIVES, read_record
from tuneop.core.results.summary import objectives_of, pareto_records, summarize
from tuneop.core.wire.contract import Outcome, TrialResult

MULTI = spec(objective=DROP, objectives=TWO_OBJECTIVES)


def result(trial: int, loss: float, score: float) -> TrialResult:
    return TrialResult(
        trial,
        0,
        {"x": trial},
        Outcome.SUCCEEDED,
        loss,
        {"loss": loss, "score": score},
        values=(loss, score),
    )


def test_a_record_of_two_objectives_keeps_each_value_and_reads_back() -> None:
    doc = result(3, 0.5, 7.0).to_json("ns/s", MULTI.objective, MULTI.all_objectives)
    assert doc["objectives"] == [
        {"metric": "loss", "direction": "minimize", "value": 0.5},
        {"metric": "score", "direction": "maximize", "value": 7.0},
    ]
    assert doc["objective"] == {"metric": "loss", "direction": "minimize", "value": 0.5}
    assert TrialResult.from_json(json.loads(json.dumps(doc))).values == (0.5, 7.0)


def test_single_objective_records_are_as_before() -> None:
    s = spec()
    r = TrialResult(0, 0, {}, Outcome.SUCCEEDED, 1.0, {"loss": 1.0})
    doc = r.to_json("ns/s", s.objective, s.all_objectives)
    assert "objectives" not in doc and TrialResult.from_json(doc).values is None


def test_a_failed_trial_of_two_objectives_records_null_values() -> None:
    r = TrialResult(1, 0, {}, Outcome.FAILED, error="boom")
    doc = r.to_json("ns/s", MULTI.objective, MULTI.all_objectives)
    assert [o["value"] for o in doc["objectives"]] == [None, None]
    assert TrialResult.from_json(doc).values is None


@pytest.mark.parametrize(
    ("objectives", "kept"),
    [
        pytest.param(
            [{"metric": "a", "direction": "up", "value": "high"}],
            [{"metric": "a", "direction": None, "value": None}],
            id="wrong-types-dropped",
        ),
        pytest.param(
            [{"metric": f"m{i}", "direction": "minimize", "value": i} for i in range(50)],
            [{"metric": f"m{i}", "direction": "minimize", "value": i} for i in range(8)],
            id="bounded",
        ),
        pytest.param(["a", 3, None], [], id="not-objects"),
        pytest.param({"metric": "a"}, None, id="not-a-list"),
    ],
)
def test_record_objectives_are_read_bounded(objectives: Any, kept: Any) -> None:
    record = read_record(json.dumps({"trial": 1, "objectives": objectives}))
    assert record is not None
    assert record.get("objectives") == kept
    assert len(record.get("objectives") or []) <= MAX_RECORD_OBJECTIVES


def records(points: dict[int, tuple[float, float]]) -> list[dict[str, Any]]:
    return [
        result(t, loss, score).to_json("ns/s", MULTI.objective, MULTI.all_objectives)
        for t, (loss, score) in points.items()
    ]


def test_summary_of_two_objectives_holds_the_whole_front() -> None:
    # 12 trials on the front (more than the status keeps), 2 dominated, 1 NaN.
    points = {t: (float(t), float(t)) for t in range(12)}
    points |= {20: (5.0, 1.0), 21: (11.0, 0.0), 22: (math.nan, 99.0)}
    s = summarize(records(points))
    assert s.objectives == [("loss", "minimize"), ("score", "maximize")]
    assert [r["trial"] for r in s.front] == list(range(12))
    assert s.metric == "loss"  # the ranking is by the first objective


def test_records_of_one_objective_have_no_front() -> None:
    rec = TrialResult(0, 0, {}, Outcome.SUCCEEDED, 1.0, {"loss": 1.0}).to_json(
        "ns/s", spec().objective
    )
    assert objectives_of([rec]) == [] and summarize([rec]).front == []


def test_objectives_come_from_a_record_that_names_them_completely() -> None:
    broken = {"trial": 0, "objectives": [{"metric": "a", "direction": "sideways"}, {}]}
    good = records({1: (1.0, 1.0)})[0]
    assert objectives_of([broken, good]) == [("loss", "minimize"), ("score", "maximize")]
    assert pareto_records([broken, good], objectives_of([good])) == [good]
