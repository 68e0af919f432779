"""A folder that holds no session is said to hold none, in one line, exit 2, by every
command that reads results: never an empty table, a report of 0 trials or an empty Optuna
study under a made-up name. A ``trials`` folder that is a link is named, not followed; a
session none of whose trials has ended yet (its ``session.json`` alone) is one of 0 trials.
"""

from __future__ import annotations

import json

import pytest
from user import User

COMMANDS = [
    pytest.param(["summary"], id="summary"),
    pytest.param(["report", "-o", "page.html"], id="report"),
    pytest.param(["export", "--optuna-storage", "sqlite:///s.db"], id="export"),
]
SESSION = {"session": "default/s", "phase": "Running", "objective": {"metric": "loss"}}


def one_line(user: User, args: list[str], folder: str, words: str) -> None:
    seen = user.tuneop(args[0], folder, *args[1:])
    assert seen.code == 2 and "Traceback" not in seen.err, seen
    assert seen.err.splitlines() == [f"error: {words}"], seen
    assert not user.path("page.html").exists() and not user.path("s.db").exists()


@pytest.mark.parametrize("args", COMMANDS)
def test_a_folder_with_no_session_says_so(user: User, args: list[str]) -> None:
    user.path("empty").mkdir()
    words = "empty: no session here (no session.json, no trials/trial-*.json below it)"
    one_line(user, args, "empty", words)


@pytest.mark.parametrize("args", COMMANDS)
def test_a_trials_folder_that_is_a_link_is_named_not_read_as_empty(
    user: User, args: list[str]
) -> None:
    user.write("s/session.json", json.dumps(SESSION))
    user.path("elsewhere").mkdir()
    user.path("s/trials").symlink_to(user.path("elsewhere"))
    one_line(user, args, "s", "s/trials: a link; tuneop reads no results through a link")


@pytest.mark.parametrize("where", ["s", "root/default/s"])
def test_a_session_whose_trials_have_not_ended_is_one_of_none(user: User, where: str) -> None:
    # Given itself, or a results root above it (an operator's --results-dir).
    user.write(f"{where}/session.json", json.dumps(SESSION))
    seen = user.tuneop("summary", where.split("/")[0])
    assert seen.code == 0 and "Traceback" not in seen.err, seen
