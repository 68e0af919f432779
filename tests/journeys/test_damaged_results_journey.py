"""Reading a results folder someone else could write to: damaged rows, hostile values, deep trees.

A user runs a session, then reads its results with ``summary``, ``report`` and ``export``
(and starts another session warm from them) after the folder was tampered with: a row of
``results.csv`` with more or fewer cells than its header, a parameter value holding
commas, newlines and terminal escapes, a tree of 1500 nested folders below the session.
Every command ends as it would on a clean folder, exit 0, reading what is readable:
a damaged row is passed over as a damaged trial file is, printed text is escaped, and
no tree is too deep. Never a traceback.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from toy_sessions import session_yaml, with_toy
from user import Seen, User

from deep_trees import plant_deep_tree

GRID = {
    "objective": {"metric": "loss", "direction": "minimize"},
    "searchSpace": [{"name": "x", "type": "int", "min": 0, "max": 5}],
    "optimizer": {"type": "grid"},
    "maxParallel": 3,
}
# A learning session warm-started from the first one's results.csv.
WARM = {
    **GRID,
    "optimizer": {"type": "bayesian", "seed": 5},
    "totalTrials": 2,
    "warmStart": {"from": {"results": "tuneop-results/bowl/results.csv"}},
}
CSV = "tuneop-results/bowl/results.csv"


@pytest.fixture
def bowl(user: User) -> User:
    """A finished six-trial grid session in tuneop-results/bowl."""
    with_toy(user)
    user.write("bowl.yaml", session_yaml("bowl", "bowl", GRID))
    seen = user.tuneop("run", "bowl.yaml", "--local", "--no-report")
    assert seen.code == 0, seen
    return user


def clean_exit(seen: Seen) -> Seen:
    assert seen.code == 0, seen
    assert "Traceback" not in seen.both and "Error" not in seen.err, seen
    return seen


# Rows appended to results.csv: a cell more than the header (the CSV reader gave a None
# key), a cell less (None values), a lone cell, and quoted cells holding commas.
RAGGED = {
    "a-cell-more": "default/bowl,90,90,Succeeded,0.5,1,0.5,,extra",
    "a-cell-less": "default/bowl,91,91,Succeeded,0.5,1",
    "a-lone-cell": "oops",
    "commas-in-quoted-cells-a-cell-more": '"default/bowl",92,92,Succeeded,"0,5","1,2",0.5,,x',
}


@pytest.mark.parametrize("row", sorted(RAGGED))
def test_a_results_csv_row_with_more_or_fewer_cells_is_passed_over_by_every_reader(
    bowl: User, row: str
) -> None:
    path = bowl.path(CSV)
    assert path.read_text().splitlines()[0].split(",")[:5] == [
        "session",
        "trial",
        "job_index",
        "outcome",
        "loss",
    ]
    path.write_text(path.read_text() + RAGGED[row] + "\n")

    assert "6 trials" in clean_exit(bowl.tuneop("summary", CSV)).out
    ranked = clean_exit(bowl.tuneop("summary", CSV, "--csv")).out
    assert len(ranked.strip().splitlines()) == 7  # the header and the six good rows
    report = clean_exit(bowl.tuneop("report", CSV, "-o", "r.html"))
    assert "(6 trials)" in report.out, report
    exported = clean_exit(bowl.tuneop("export", CSV, "--optuna-storage", "sqlite:///s.db"))
    assert "exported 6 trials" in exported.out, exported

    bowl.write("warm.yaml", session_yaml("warm", "bowl", WARM))
    warm = clean_exit(bowl.tuneop("run", "warm.yaml", "--local", "--no-report"))
    assert "session warm: Succeeded" in warm.out, warm


HOSTILE_VALUE = "a,b\nrank,session,trial\x1b]0;pwned\x07\x1b[2J\u202e"
HOSTILE_NAME = 'p,"q"\nr'


def test_summary_csv_quotes_its_cells_and_escapes_control_characters(bowl: User) -> None:
    trial = bowl.path("tuneop-results/bowl/trials/trial-000003.json")  # x=3: the best
    doc = json.loads(trial.read_text())
    doc["params"] = {"x": HOSTILE_VALUE, HOSTILE_NAME: 1}
    trial.write_text(json.dumps(doc))

    seen = clean_exit(bowl.tuneop("summary", "tuneop-results/bowl", "--csv"))

    assert not any(c in seen.out for c in "\x1b\x07\u202e"), seen
    rows = list(csv.reader(io.StringIO(seen.out, newline="")))
    assert len(rows) == 7 and {len(r) for r in rows} == {6}, rows
    header, best = rows[0], rows[1]
    assert header == ["rank", "session", "trial", "loss", 'p,"q"\\x0ar', "x"], header
    assert best[:4] == ["1", "default/bowl", "3", "0.0"], best
    assert best[5] == "a,b\\x0arank,session,trial\\x1b]0;pwned\\x07\\x1b[2J\\u202e", best


def test_summary_csv_keeps_a_long_value_whole(bowl: User) -> None:
    # Output for programs: a prompt of 3,000 characters (a record keeps 4,096) is not cut
    # to the 2,000 a terminal line shows.
    trial = bowl.path("tuneop-results/bowl/trials/trial-000003.json")  # x=3: the best
    doc = json.loads(trial.read_text())
    doc["params"] = {"x": 3, "prompt": "p" * 3000}
    trial.write_text(json.dumps(doc))
    seen = clean_exit(bowl.tuneop("summary", "tuneop-results/bowl", "--csv"))
    rows = list(csv.reader(io.StringIO(seen.out, newline="")))
    assert rows[0][4] == "prompt" and rows[1][4] == "p" * 3000, rows[1][:4]


@pytest.mark.parametrize(
    "where", ["tuneop-results/bowl/junk", "tuneop-results/bowl/logs", "tuneop-results/junk"]
)
def test_a_deep_tree_in_a_results_folder_leaves_summary_report_and_export_working(
    request: pytest.FixtureRequest, bowl: User, where: str
) -> None:
    plant_deep_tree(request, bowl.path(where))
    for source in ("tuneop-results", "tuneop-results/bowl"):
        assert "6 trials" in clean_exit(bowl.tuneop("summary", source)).out
        report = clean_exit(bowl.tuneop("report", source, "-o", "r.html"))
        assert "(6 trials)" in report.out, report
        exported = clean_exit(
            bowl.tuneop("export", source, "--optuna-storage", f"sqlite:///{len(source)}.db")
        )
        assert "exported 6 trials" in exported.out, exported
