"""optuna-dashboard shows a local session's finished trials while it runs.

The user starts ``tuneop run --local --optuna-storage`` on a SQLite storage, then
``optuna-dashboard`` on the same URL (it opens a storage without making its tables). The
trials from x = 3 on wait for a gate the test opens (a file): while the session is
Running with trials 0-2 finished, those three are in the dashboard (read through its
HTTP API, as its pages read them: ``/api/studies`` and ``/api/studies/<id>``), each as
its result record in the results folder says: state, params with the spec's
distributions, value, learning curve and duration. Killed with ``kill -9`` mid-run and
run again, the session goes on and the study ends with every trial exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from toy_sessions import session_yaml, with_toy
from user import User, doc_block

from dashboard_support import Dashboard, attrs, has_study, wait_for

SLOW = '''
import os
import time
from pathlib import Path

from tuneop_runner.trial import report


def slow(params):
    """Three steps of a learning curve; x = 5 fails. From x = 3 on, a trial waits for the
    test to open its gate: the session is Running, with trials 0-2 finished, until then."""
    x = int(params["x"])
    gate = Path(os.environ["GATE"])
    for step in range(1, 4):
        report(step, float((x - 3) ** 2 + 3 - step))
        time.sleep(0.2)
    waited = 0.0
    while x >= 3 and not gate.exists() and waited < 120:
        time.sleep(0.1)
        waited += 0.1
    if x == 5:
        raise ValueError("x too far")
    return {"loss": float((x - 3) ** 2)}
'''
SPEC = {
    "objective": {"metric": "loss", "direction": "minimize"},
    "searchSpace": [{"name": "x", "type": "int", "min": 0, "max": 5}],
    "optimizer": {"type": "grid"},
    "maxParallel": 1,
}
STORAGE = "sqlite:///live.db"
RUN = ("run", "live.yaml", "--local", "--results-dir", "r", "--no-report")
NAME = "default/live"  # the study: the session's namespace/name
STATES = {"Succeeded": "Complete", "Pruned": "Pruned"}  # every other outcome is Fail


@pytest.fixture
def live(user: User) -> Iterator[tuple[subprocess.Popen[str], Dashboard]]:
    """``tuneop run --local --optuna-storage`` started, then optuna-dashboard on its storage."""
    with_toy(user)
    user.write("slow.py", SLOW)
    user.env["GATE"] = str(user.path("gate"))
    user.write("live.yaml", session_yaml("live", "slow", SPEC).replace("toy:slow", "slow:slow"))
    run = user.start(*RUN, "--optuna-storage", STORAGE)
    board = None
    try:
        wait_for(lambda: has_study(user.path("live.db")), 60, "the run to make its study")
        board = Dashboard(user.cwd, user.env, STORAGE)
        yield run, board
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=30)
        if board is not None:
            board.stop()


def records(folder: Path) -> dict[int, dict[str, Any]]:
    """The result records of the results folder, by tuneop trial."""
    out = {}
    for path in folder.glob("trials/trial-*.json"):
        doc = json.loads(path.read_text())
        out[int(doc["trial"])] = doc
    return out


def check_against_records(shown: list[dict[str, Any]], folder: Path) -> set[int]:
    """Every trial the dashboard shows is its result record; the tuneop trials shown."""
    recorded = records(folder)
    seen: list[int] = []
    for t in shown:
        trial = int(attrs(t)["tuneop.trial"])
        seen.append(trial)
        r = recorded[trial]  # written to the results folder before the storage
        assert t["state"] == STATES.get(r["outcome"], "Fail"), (t, r)
        assert {p["name"]: json.loads(p["param_external_value"]) for p in t["params"]} == (
            r["params"]
        )
        dist = t["params"][0]["distribution"]
        assert (dist["type"], dist["low"], dist["high"]) == ("IntDistribution", 0, 5)
        if r["outcome"] == "Succeeded":
            assert t["values"] == [r["objective"]["value"]], (t, r)
        curve = [[v["step"], v["value"]] for v in t["intermediate_values"]]
        assert curve == r["intermediate"], (t, r)
        assert float(attrs(t)["tuneop.durationSeconds"]) == r["durationSeconds"]
    assert len(seen) == len(set(seen)), f"a trial written twice: {sorted(seen)}"
    return set(seen)


def test_the_dashboard_lists_finished_trials_while_the_session_runs(
    user: User, live: tuple[subprocess.Popen[str], Dashboard]
) -> None:
    run, dashboard = live
    shown = wait_for(lambda: dashboard.at_least(NAME, 3), 60, "3 trials shown")
    assert run.poll() is None, "the session ended before the dashboard showed 3 trials"
    status = json.loads(user.path("r/live/session.json").read_text())["status"]
    assert status["phase"] == "Running", status
    assert check_against_records(shown, user.path("r/live")) == {0, 1, 2}
    user.write("gate", "")  # the rest of the trials may finish
    out, err = run.communicate(timeout=120)
    assert run.returncode == 1, (out, err)  # one trial failed
    # The dashboard caches a study's trials for 2 s: wait for the last ones.
    final = wait_for(lambda: dashboard.at_least(NAME, 6), 30, "6 trials shown")
    assert check_against_records(final, user.path("r/live")) == set(range(6))
    assert [attrs(t)["tuneop.trial"] for t in final if t["state"] == "Fail"] == ["5"]


def test_a_killed_run_resumed_writes_every_trial_once(
    user: User, live: tuple[subprocess.Popen[str], Dashboard]
) -> None:
    run, dashboard = live
    wait_for(lambda: dashboard.at_least(NAME, 2), 60, "2 trials shown")
    os.killpg(run.pid, signal.SIGKILL)  # tuneop and its workers, no goodbye
    run.wait(timeout=30)
    user.write("gate", "")
    again = user.tuneop(*RUN, "--optuna-storage", STORAGE)
    assert again.code == 1, again
    final = wait_for(lambda: dashboard.at_least(NAME, 6), 30, "6 trials shown")
    assert check_against_records(final, user.path("r/live")) == set(range(6))
    assert len(final) == 6, [attrs(t)["tuneop.trial"] for t in final]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqlite://", "--optuna-storage: a SQLite database in memory"),
        ("nosuchdb://host/x", "--optuna-storage: no database of that name"),
        ("not a url", "--optuna-storage: not a database URL"),
    ],
)
def test_a_storage_url_that_cannot_work_is_refused_before_any_trial(
    user: User, url: str, says: str
) -> None:
    user.write("q.yaml", (Path(user.cwd) / "examples/quickstart.yaml").read_text())
    seen = user.tuneop("run", "q.yaml", "--local", "--optuna-storage", url)
    assert seen.code == 2, seen
    assert says in seen.err and len(seen.err.strip().splitlines()) == 1, seen
    assert not user.path("tuneop-results/quickstart/trials").exists()


def test_the_docs_local_run_leaves_its_study_in_the_storage(user: User) -> None:
    seen = user.sh(doc_block("docs/dashboard.md", "dashboard-local-run"))
    assert seen.code == 0, seen
    import optuna

    storage = f"sqlite:///{user.path('tuneop.db')}"
    done = optuna.load_study(study_name="default/quickstart", storage=storage)
    assert sorted(t.user_attrs["tuneop.trial"] for t in done.trials) == list(range(30))
    best = json.loads(seen.out.split("best parameters: ", 1)[1].splitlines()[0])
    assert done.best_params == best, seen.out


def test_the_docs_local_run_after_the_readme_s_writes_the_finished_session(user: User) -> None:
    """The README's run first (no storage), then the dashboard page's: the session had
    finished, so nothing runs, and its trials are written to the storage all the same."""
    first = user.tuneop("run", "examples/quickstart.yaml", "--local", "--no-report")
    assert first.code == 0, first

    seen = user.sh(doc_block("docs/dashboard.md", "dashboard-local-run"))

    assert seen.code == 0, seen
    assert "already finished" in seen.out and "nothing ran" in seen.out, seen
    import optuna

    storage = f"sqlite:///{user.path('tuneop.db')}"
    done = optuna.load_study(study_name="default/quickstart", storage=storage)
    assert sorted(t.user_attrs["tuneop.trial"] for t in done.trials) == list(range(30))
    again = user.sh(doc_block("docs/dashboard.md", "dashboard-local-run"))  # written once
    assert again.code == 0, again
    assert len(optuna.load_study(study_name="default/quickstart", storage=storage).trials) == 30
