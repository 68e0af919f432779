"""Index ranges: the IndexSet behind the harvested-Jobs ledger, and the one range codec."""

from __future__ import annotations

import random

import pytest

from tuneop.core.jobs.manifests import format_trials, parse_trials
from tuneop.core.ranges import IndexSet, format_range, format_ranges, parse_range, parse_ranges


@pytest.mark.parametrize("seed", range(5))
def test_index_set_behaves_like_a_python_set(seed: int) -> None:
    rng = random.Random(seed)
    ours, reference = IndexSet(), set()
    for _ in range(2000):
        i = rng.randrange(400)
        ours.add(i)
        reference.add(i)
    assert len(ours) == len(reference)
    assert all((i in ours) == (i in reference) for i in range(-3, 405))
    assert ours.format() == format_ranges(reference)
    assert parse_ranges(ours.format()) == reference


@pytest.mark.parametrize(
    ("text", "adds", "expected"),
    [
        ("", [0, 1, 2], "0-2"),
        ("0-4,6", [5], "0-6"),
        ("0-4", [4, 3], "0-4"),
        ("2", [0], "0,2"),
        ("10-20", [9, 21], "9-21"),
    ],
    ids=["builds_a_run", "fills_a_gap", "ignores_members", "keeps_gaps", "extends_both_ends"],
)
def test_adding_merges_runs(text: str, adds: list[int], expected: str) -> None:
    s = IndexSet.parse(text)
    for i in adds:
        s.add(i)
    assert s.format() == expected


@pytest.mark.parametrize("bad", ["x", "3-1", "-1", "1-"])
def test_garbled_ranges_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        IndexSet.parse(bad)


@pytest.mark.parametrize(
    ("field", "value"),
    [("harvestedJobs", "0-3,x"), ("harvestedJobs", "1;2"), ("inflight", "5:7-9")],
)
def test_a_garbled_ledger_is_refused_not_crashed_on(field: str, value: str) -> None:
    from tuneop.api.crd import crd
    from tuneop.api.status import StatusUnreadable, status_from_wire

    with pytest.raises(StatusUnreadable, match=f"status.{field}"):
        status_from_wire({"phase": "Running", field: value})
    schema = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    import re

    pattern = schema["properties"]["status"]["properties"][field]["pattern"]
    assert re.match(pattern, value) is None  # the API server refuses to store it


# ---- one range codec: the ledger, the in-flight map and the trials annotation


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [("7", 7, 7), ("0", 0, 0), ("12-15", 12, 15), ("3-3", 3, 3)],
)
def test_a_range_reads_as_first_and_last(text: str, first: int, last: int) -> None:
    assert parse_range(text) == (first, last)
    assert parse_range(format_range(first, last)) == (first, last)


@pytest.mark.parametrize("bad", ["", "x", "5-2", "-1", "1-", "1-2-3", "1,"])
def test_a_garbled_range_is_refused_by_the_ledger_and_ignored_on_a_job(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_range(bad)
    assert parse_trials(bad) == ()


def test_a_trials_annotation_too_large_to_be_ours_is_ignored() -> None:
    assert parse_trials("0-999999999") == ()


@pytest.mark.parametrize(
    ("text", "trials"),
    [("7", (7,)), ("12-15", (12, 13, 14, 15)), ("1,3", (1, 3)), ("1,3-4", (1, 3, 4))],
    ids=["one", "range", "retry-of-scattered-trials", "retry-runs"],
)
def test_the_trials_annotation_is_runs_of_trials(text: str, trials: tuple[int, ...]) -> None:
    assert parse_trials(text) == trials
    assert format_trials(trials) == text
