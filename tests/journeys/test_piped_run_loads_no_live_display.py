"""A local run whose output is not a terminal never loads rich's live display.

Issue 24 times ``tuneop run --local`` of a 20-trial toy beside Optuna's own loop
(bench/optuna_side_by_side.py; a journey never times). Piped (CI, ``| tee``, ``nohup``)
a run prints plain progress lines, so importing rich's progress bar and live display
was start-up spent on nothing. The user pipes a run: its lines are there, and Python's
own import report shows no ``rich.progress``; at a terminal the bar is drawn as before.
"""

from __future__ import annotations

from test_plan_skips_package_metadata import imported_modules
from toy_sessions import session_yaml, with_toy
from user import User

SPEC = {
    "objective": {"metric": "loss", "direction": "minimize"},
    "searchSpace": [{"name": "x", "type": "float", "min": -10, "max": 10}],
    "optimizer": {"type": "random"},
    "totalTrials": 4,
    "maxParallel": 2,
}


def test_a_piped_run_prints_its_lines_without_rich_progress(user: User) -> None:
    with_toy(user)
    user.write("toy.yaml", session_yaml("toy", "bowl", SPEC))
    user.env["PYTHONPROFILEIMPORTTIME"] = "1"
    seen = user.sh("tuneop run toy.yaml --local --results-dir r --no-report | cat")
    assert seen.code == 0, seen
    assert "Succeeded (4/4 trials succeeded" in seen.out, seen.out
    loaded = imported_modules(seen.err)
    assert {"rich.console", "tuneop.cli.run"} <= loaded
    assert "rich.progress" not in loaded
    assert "rich.live" not in loaded
