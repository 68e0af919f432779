"""Folder commands (``summary``, ``report``, ``export``) work on one session at a time.

A user who ran two sessions into the default ``tuneop-results`` and then asks for the
summary of ``tuneop-results`` must not get one table that ranks one session's ``loss``
beside the other's ``f1``: the folder is refused, naming the sessions it holds, and
``--session NAME`` picks one.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from toy_sessions import session_yaml, with_toy
from user import User

BOWL = {
    "objective": {"metric": "loss", "direction": "minimize"},
    "trials": [{"x": 1}, {"x": 2}, {"x": 3}],
    "maxParallel": 3,
}
LINE = {
    "objectives": [
        {"metric": "f1", "direction": "minimize"},
        {"metric": "f2", "direction": "minimize"},
    ],
    "trials": [{"x": 5}, {"x": 7}],
    "maxParallel": 2,
}


@pytest.fixture
def two_sessions(user: User) -> User:
    with_toy(user)
    user.write("bowl.yaml", session_yaml("bowl", "bowl", BOWL))
    user.write("line.yaml", session_yaml("line", "line", LINE))
    for name in ("bowl", "line"):
        seen = user.tuneop("run", f"{name}.yaml", "--local", "--no-report")
        assert seen.code == 0, seen
    return user


def test_summary_of_a_folder_of_two_sessions_names_them_and_merges_nothing(
    two_sessions: User,
) -> None:
    seen = two_sessions.tuneop("summary", "tuneop-results")
    assert seen.code == 2, seen
    assert seen.out == ""
    assert "Traceback" not in seen.err
    lines = seen.err.strip().splitlines()
    assert len(lines) == 1, seen
    assert "2 sessions" in lines[0] and "bowl" in lines[0] and "line" in lines[0]
    assert "--session" in lines[0]


def test_session_picks_one_session_of_the_folder_for_summary_report_and_export(
    two_sessions: User,
) -> None:
    seen = two_sessions.tuneop("summary", "tuneop-results", "--session", "bowl")
    assert seen.code == 0, seen
    assert "3 trials" in seen.out and "default/bowl" in seen.out
    assert "line" not in seen.out and "f1" not in seen.out

    seen = two_sessions.tuneop("report", "tuneop-results", "--session", "line", "-o", "line.html")
    assert seen.code == 0, seen
    page = two_sessions.path("line.html").read_text()
    assert "tuneop report: default/line" in page and "default/bowl" not in page

    seen = two_sessions.tuneop(
        "export",
        "tuneop-results",
        "--session",
        "default/bowl",
        "--optuna-storage",
        "sqlite:///studies.db",
    )
    assert seen.code == 0, seen
    assert "exported 3 trials" in seen.out and "'default/bowl'" in seen.out


def test_report_and_export_refuse_a_folder_of_several_sessions_and_write_nothing(
    two_sessions: User,
) -> None:
    seen = two_sessions.tuneop("report", "tuneop-results", "-o", "mixed.html")
    assert seen.code == 2, seen
    assert "2 sessions" in seen.err and "--session" in seen.err
    assert not two_sessions.path("mixed.html").exists()

    seen = two_sessions.tuneop("export", "tuneop-results", "--optuna-storage", "sqlite:///s.db")
    assert seen.code == 2, seen
    assert "2 sessions" in seen.err
    db = two_sessions.path("s.db")
    if db.exists():  # the storage may be opened; it must hold no study
        with sqlite3.connect(db) as conn:
            assert conn.execute("select count(*) from studies").fetchone() == (0,)


def test_a_folder_of_many_sessions_lists_a_few_and_counts_the_rest(user: User) -> None:
    with_toy(user)
    user.write("bowl.yaml", session_yaml("bowl", "bowl", BOWL))
    assert user.tuneop("run", "bowl.yaml", "--local", "--no-report").code == 0
    # Copies of a session's folder, as --fresh leaves archived runs beside the current one.
    user.sh("for n in 1 2 3 4 5 6 7 8 9; do cp -r tuneop-results/bowl tuneop-results/bowl-$n; done")
    seen = user.tuneop("summary", "tuneop-results")
    assert seen.code == 2, seen
    line = seen.err.strip()
    assert "10 sessions" in line and "… and 5 more" in line, line
    assert len(line) < 300

    seen = user.tuneop("summary", "tuneop-results", "--session", "bowl-4", "--csv")
    assert seen.code == 0, seen
    assert len(seen.out.strip().splitlines()) == 4  # the header and bowl-4's 3 trials


def test_an_unknown_session_name_lists_the_ones_there(two_sessions: User) -> None:
    seen = two_sessions.tuneop("summary", "tuneop-results", "--session", "nope")
    assert seen.code == 2, seen
    assert "nope" in seen.err and "bowl" in seen.err and "line" in seen.err


def test_a_session_folder_of_its_own_needs_no_session_option(two_sessions: User) -> None:
    seen = two_sessions.tuneop("summary", "tuneop-results/line")
    assert seen.code == 0, seen
    assert "Pareto front" in seen.out
    record = json.loads(two_sessions.path("tuneop-results/line/session.json").read_text())
    assert record["session"] == "default/line"


@pytest.mark.parametrize("session_json", ["kept", "removed"])
def test_a_trial_file_of_another_session_copied_in_is_left_out(
    two_sessions: User, session_json: str
) -> None:
    """One of line's trial files copied into bowl's folder: bowl's commands read bowl's."""
    bowl = two_sessions.path("tuneop-results/bowl")
    stranger = sorted(two_sessions.path("tuneop-results/line/trials").glob("trial-*.json"))[0]
    (bowl / "trials" / "trial-000099.json").write_text(stranger.read_text())
    if session_json == "removed":
        (bowl / "session.json").unlink()

    seen = two_sessions.tuneop("summary", "tuneop-results/bowl")
    assert seen.code == 0, seen
    assert "3 trials" in seen.out and "1 session(s): default/bowl" in seen.out, seen
    exported = two_sessions.tuneop(
        "export", "tuneop-results/bowl", "--optuna-storage", "sqlite:///s.db"
    )
    assert exported.code == 0, exported
    assert "default/bowl" in exported.out and "line" not in exported.out, exported
    with sqlite3.connect(two_sessions.path("s.db")) as db:
        assert db.execute("select count(*) from trials").fetchone() == (3,)
