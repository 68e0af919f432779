"""A ``--metric`` no trial reports is one line and exit 2 from every command that reads a
session's results, as ``summary`` says it: a report or an Optuna study of it would rank
nothing and count every trial as failed."""

from __future__ import annotations

import pytest
from toy_sessions import session_yaml, with_toy
from user import User

SPEC = {
    "objective": {"metric": "loss"},
    "searchSpace": [{"name": "x", "type": "float", "min": 0, "max": 5}],
    "optimizer": {"type": "random"},
    "totalTrials": 3,
}


@pytest.mark.parametrize(
    "args",
    [
        ["summary", "r/bowl"],
        ["report", "r/bowl", "-o", "page.html"],
        ["export", "r/bowl", "--optuna-storage", "sqlite:///study.db"],
    ],
    ids=lambda a: a[0],
)
def test_a_metric_no_trial_reports_is_refused_in_one_line(user: User, args: list[str]) -> None:
    with_toy(user)
    user.write("bowl.yaml", session_yaml("bowl", "bowl", SPEC))
    assert user.tuneop("run", "bowl.yaml", "--local", "--results-dir", "r", "--no-report").code == 0
    seen = user.tuneop(*args, "--metric", "accuracy")
    assert seen.code == 2 and "Traceback" not in seen.err, seen
    lines = seen.err.strip().splitlines()
    assert lines == [
        "error: r/bowl: no trial reports the metric 'accuracy' (metrics: loss);"
        " choose one with --metric"
    ], seen
    assert not user.path("page.html").exists() and not user.path("study.db").exists()
