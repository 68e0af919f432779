"""What ``tuneop run --local`` prints of paths and of ``session.json`` is text, never markup.

A user's ``--results-dir`` may hold brackets (``[/]``, ``[red]``) or colons
(``:thumbs_up:``), and a results folder's ``session.json`` is untrusted: rich would take
them for markup or emoji codes, and once crashed with a ``MarkupError`` after the
session had completed (every rerun too) or printed a path that does not exist. The run,
its rerun (the "already finished" line) and ``--fresh`` print them as written.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from toy_sessions import session_yaml, with_toy
from user import Seen, User

# Two trials that succeed and one that fails (x is no number): the failed trials' logs
# line is printed too.
TRIALS = {
    "objective": {"metric": "loss", "direction": "minimize"},
    "trials": [{"x": 1}, {"x": 3}, {"x": "oops"}],
    "maxParallel": 3,
    "maxFailedTrials": 3,
}
DIRS = ["out/[/]", "out/[red]y", "out/[bold]z[/bold]", "out/:thumbs_up:", "out/[link=x]w"]


@pytest.fixture
def bowl(user: User) -> User:
    with_toy(user)
    user.write("bowl.yaml", session_yaml("bowl", "bowl", TRIALS))
    return user


def run(user: User, results_dir: str, *more: str) -> Seen:
    seen = user.tuneop(
        "run", "bowl.yaml", "--local", "--no-report", "--results-dir", results_dir, *more
    )
    assert "Traceback" not in seen.both, seen
    assert seen.code in (0, 1), seen  # 1: a trial failed, as the session records
    return seen


@pytest.mark.parametrize("results_dir", DIRS)
def test_a_results_dir_with_brackets_or_colons_is_printed_as_given(
    bowl: User, results_dir: str
) -> None:
    folder = f"{results_dir}/bowl"
    seen = run(bowl, results_dir)
    assert bowl.path(folder).is_dir()
    assert f"results: {folder}\n" in seen.out, seen
    assert f"logs of the failed trials: {folder}/logs\n" in seen.out, seen

    again = run(bowl, results_dir)  # finished: one line naming the same folder
    assert f"Results: {folder};" in again.out, again
    assert again.code == seen.code, again


def test_a_status_message_in_session_json_is_printed_as_text(bowl: User) -> None:
    run(bowl, "tuneop-results")
    record = bowl.path("tuneop-results/bowl/session.json")
    doc = json.loads(record.read_text())
    doc["status"]["message"] = "[red]pwned[/red] [/] :thumbs_up: \x1b[2J"
    record.write_text(json.dumps(doc))

    again = run(bowl, "tuneop-results")
    assert "already finished" in again.out, again
    assert "([red]pwned[/red] [/] :thumbs_up: \\x1b[2J)" in again.out, again
    assert "\x1b" not in again.out


def test_fresh_twice_within_a_second_keeps_both_earlier_runs(bowl: User) -> None:
    results_dir = "out/[/]"
    run(bowl, results_dir)
    # Archives already named for the coming seconds, as runs started over a moment ago
    # leave them: kept as they are, while the runs take other names.
    now = datetime.now(UTC)
    planted = []
    for s in range(120):
        archived = bowl.path(
            f"{results_dir}/bowl.archived-{now + timedelta(seconds=s):%Y%m%dT%H%M%SZ}"
        )
        archived.mkdir()
        (archived / "kept.txt").write_text("an earlier run")
        planted.append(archived)

    for _ in range(2):
        seen = run(bowl, results_dir, "--fresh")
        moved = [line for line in seen.out.splitlines() if "previous results moved to" in line]
        assert len(moved) == 1 and f"{results_dir}/bowl.archived-" in moved[0], seen
        target = bowl.path(moved[0].rsplit(" moved to ", 1)[1])
        assert (target / "trials").is_dir(), (seen, target)

    assert all([p.name for p in f.iterdir()] == ["kept.txt"] for f in planted)
    runs = [a for a in bowl.path(results_dir).glob("bowl.archived-*") if (a / "trials").is_dir()]
    assert len(runs) == 2
