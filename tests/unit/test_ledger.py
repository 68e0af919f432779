"""The status ledger: its encodings, its ranking, conditions, and reading a stored status."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from core_builders import T0, result

from builders import spec
from tuneop.api import vocabulary as C
from tuneop.api.spec import Objective
from tuneop.api.status import (
    LEADERBOARD_SIZE,
    MAX_MESSAGE,
    SessionStatus,
    StatusUnreadable,
    set_condition,
    status_from_wire,
    status_to_wire,
)
from tuneop.core.planning.ledger import fold_leaderboard
from tuneop.core.ranges import (
    IndexSet,
    format_inflight,
    format_ranges,
    parse_inflight,
    parse_ranges,
)
from tuneop.core.results.ranking import rank_by
from tuneop.core.results.summary import rank

RANGES = [
    pytest.param("", set(), id="empty"),
    pytest.param("7", {7}, id="one"),
    pytest.param("0-4", {0, 1, 2, 3, 4}, id="run"),
    pytest.param("0-4,7,9-11", {0, 1, 2, 3, 4, 7, 9, 10, 11}, id="runs-and-singles"),
    pytest.param("0-1,3", {0, 1, 3}, id="short-run"),
]


@pytest.mark.parametrize(("text", "indexes"), RANGES)
def test_ranges_read_and_write_like_completed_indexes(text: str, indexes: set[int]) -> None:
    assert parse_ranges(text) == indexes
    assert format_ranges(indexes) == text
    s = IndexSet.parse(text)
    assert {i for i in range(20) if i in s} == indexes
    assert len(s) == len(indexes)
    assert s.format() == text


@pytest.mark.parametrize("text", ["a", "3-1", "-1", "1-b", "1,,2x"], ids=repr)
def test_malformed_ranges_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ranges(text)
    with pytest.raises(ValueError):
        IndexSet.parse(text)


@pytest.mark.parametrize(
    "order",
    [
        pytest.param([3, 1, 2, 0, 9, 8, 5], id="shuffled"),
        pytest.param([0, 2, 4, 1, 3], id="gaps-filled"),
        pytest.param([5, 5, 4, 6, 4], id="repeats"),
        pytest.param(list(range(100, 0, -1)), id="descending"),
    ],
)
def test_index_set_add_merges_runs_like_a_set(order: list[int]) -> None:
    s = IndexSet()
    for i in order:
        s.add(i)
    assert s.format() == format_ranges(order)
    assert len(s) == len(set(order))


def test_index_set_holds_a_huge_contiguous_ledger_as_one_run() -> None:
    s = IndexSet.parse("0-99999")
    s.add(100_000)
    assert s.format() == "0-100000"
    assert 50_000 in s and 100_001 not in s and -1 not in s


@pytest.mark.parametrize(
    ("text", "jobs"),
    [
        ("", {}),
        ("5=12-15,6=16", {5: (12, 13, 14, 15), 6: (16,)}),
        ("0=0,1=1,2=2", {0: (0,), 1: (1,), 2: (2,)}),
        ("5=12-13,9=1,9=3", {5: (12, 13), 9: (1, 3)}),
    ],
    ids=["empty", "runs", "singles", "retry-of-scattered-trials"],
)
def test_inflight_reads_and_writes_each_jobs_trials(
    text: str, jobs: dict[int, tuple[int, ...]]
) -> None:
    assert parse_inflight(text) == jobs
    assert format_inflight(jobs) == text


def test_a_condition_s_transition_time_moves_only_when_its_status_changes() -> None:
    t1, t2, t3 = T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    conds = set_condition([], C.PROGRESSING, True, C.LAUNCHING, "a", t1, 1)
    conds = set_condition(conds, C.PROGRESSING, True, C.WAITING, "b", t2, 2)
    (c,) = conds
    assert (c.reason, c.message, c.last_transition_time, c.observed_generation) == (
        C.WAITING,
        "b",
        t1,
        2,
    )
    (c,) = set_condition(conds, C.PROGRESSING, False, C.BUDGET_EXHAUSTED, "c", t3, 2)
    assert (c.status, c.last_transition_time) == ("False", t3)


def test_conditions_are_kept_in_a_stable_order_and_messages_are_bounded() -> None:
    conds: list[Any] = []
    for type_ in (C.FAILED, C.SUSPENDED, C.PROGRESSING, C.SPEC_VALID, C.COMPLETE):
        conds = set_condition(conds, type_, True, "R", "m" * 1000, T0, 1)
    assert [c.type for c in conds] == [
        C.SPEC_VALID,
        C.PROGRESSING,
        C.SUSPENDED,
        C.COMPLETE,
        C.FAILED,
    ]
    assert all(len(c.message) == MAX_MESSAGE for c in conds)


def test_no_stored_status_reads_as_a_fresh_one() -> None:
    assert status_from_wire(None) == SessionStatus()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ("Running", "status"),
        ([], "status"),
        ({"phase": "Exploded"}, "status.phase"),
        ({"trials": {"succeeded": "many"}}, "status.trials.succeeded"),
    ],
    ids=["string", "list", "bad-phase", "bad-counter"],
)
def test_an_unreadable_stored_status_is_an_error_naming_the_field(data: Any, field: str) -> None:
    with pytest.raises(StatusUnreadable) as err:
        status_from_wire(data)
    assert str(err.value).startswith(f"{field}:")


def test_a_stored_status_reads_back_as_written() -> None:
    st = SessionStatus(
        phase="Running",
        start_time=T0,
        harvested_jobs="0-4,6",
        next_job=8,
        next_trial=8,
        inflight="5=5,7=7",
    )
    wire = status_to_wire(st)
    assert wire["harvestedJobs"] == "0-4,6" and wire["nextJob"] == 8
    assert "exitCode" not in wire  # unset optionals are not written as null
    assert status_from_wire(wire) == st
    assert status_from_wire({**wire, "futureField": 1}) == st  # newer fields are ignored


# ---- one ranking, for the leaderboard and for result summaries

RANKED = [
    pytest.param(
        "minimize", [(4, 1.0), (2, 1.0), (0, 3.0), (7, -2.0)], [7, 2, 4, 0], id="minimize"
    ),
    pytest.param(
        "maximize", [(4, 1.0), (2, 1.0), (0, 3.0), (7, -2.0)], [0, 2, 4, 7], id="maximize"
    ),
    pytest.param(
        "minimize",
        [(1, math.nan), (2, math.inf), (3, 0.5), (5, -math.inf), (6, None)],
        [3],
        id="only-finite-values-rank",
    ),
]


@pytest.mark.parametrize(("direction", "values", "order"), RANKED)
def test_rank_by_puts_the_best_first_and_breaks_ties_by_the_tie_key(
    direction: str, values: list[tuple[int, float | None]], order: list[int]
) -> None:
    ranked = rank_by(values, lambda tv: tv[1], direction, lambda tv: (tv[0],))
    assert [t for t, _ in ranked] == order


@pytest.mark.parametrize(("direction", "values", "order"), RANKED)
def test_the_leaderboard_and_a_summary_rank_the_same_trials_alike(
    direction: str, values: list[tuple[int, float | None]], order: list[int]
) -> None:
    objective = {"metric": "loss", "direction": direction}
    finite = [(t, v) for t, v in values if v is not None and math.isfinite(v)]
    results = [result(t, v) for t, v in finite]
    board = fold_leaderboard(spec(objective=objective), [], results)
    records = [r.to_json("ns/demo", Objective(**objective)) for r in results]
    assert [e.trial for e in board] == [r["trial"] for r in rank(records, "loss", direction)]
    assert [e.trial for e in board] == order[:LEADERBOARD_SIZE]
