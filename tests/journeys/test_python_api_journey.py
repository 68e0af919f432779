"""docs/python-api.md as a notebook: its Python cells run in order, in one namespace.

A notebook keeps one namespace across cells, names it ``__main__`` and has its folder on
``sys.path``; the cells here run that way, in a Python process of the suite's venv started
in a fresh folder holding ``examples/``, each cell the text the page shows. Then the
command line reads what the Python API left: the same results folder a
``tuneop run --local`` writes.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time

import pytest
from user import REPO, Seen, User, notebook_argv, python_blocks

DOC = REPO / "docs" / "python-api.md"


def notebook_cells() -> list[str]:
    """The page's cells a notebook runs here: every Python block but the marked ones
    (the cluster's, run against an API server by the e2e tier)."""
    return [b.text for b in python_blocks(DOC) if b.kind is None]


def run_cells(user: User, cells: list[str]) -> tuple[Seen, list[str]]:
    seen = user.run(notebook_argv(), stdin=json.dumps(cells), timeout=600)
    outputs = re.split(r"^--- cell \d+\n", seen.out, flags=re.M)[1:]
    return seen, outputs


@pytest.fixture(scope="module")
def notebook(tmp_path_factory: pytest.TempPathFactory) -> tuple[User, Seen, list[str]]:
    home = tmp_path_factory.mktemp("notebook")
    user = User(home)
    seen, outputs = run_cells(user, notebook_cells())
    return user, seen, outputs


def cell_saying(outputs: list[str], text: str) -> str:
    found = [o for o in outputs if text in o]
    assert found, f"no cell printed {text!r}: {outputs}"
    return found[0]


def test_every_cell_of_the_page_runs_in_one_namespace(
    notebook: tuple[User, Seen, list[str]],
) -> None:
    _, seen, outputs = notebook
    assert seen.code == 0, seen
    assert "Traceback" not in seen.err, seen
    assert len(outputs) == len(notebook_cells()) >= 9


@pytest.mark.parametrize(
    "shown",
    [
        # The Python session is the YAML file's, and says so as YAML.
        "Session('default/quickstart', grid, objective='loss')",
        "objective: tuneop_runner.objectives.functions:quadratic",
        # A change is a new session, checked again.
        "1200 False",
        # The quickstart ran here to its end, its best where the quadratic's minimum is.
        "Succeeded 30 trials, exit code 0",
        "best {'x': 3, 'y': -1.0} 0.0",
        "Succeeded: 30/30, best 0.0",
        # Run again: finished, nothing ran, and the Python word for starting over.
        "True session quickstart already finished: Succeeded (30/30 trials succeeded",
        "or fresh=True to start over",
        # A notebook's own function is refused, saying where to put it.
        "objective: inline is defined in __main__",
        # One in a module next to the notebook runs in the workers.
        "objectives:shifted",
        # A refused spec names the field and the rule.
        "searchSpace[x].min: must be <= max (3 > 0)",
    ],
)
def test_the_page_shows_what_the_session_did(
    notebook: tuple[User, Seen, list[str]], shown: str
) -> None:
    _, seen, outputs = notebook
    assert cell_saying(outputs, shown), seen


def test_the_results_are_a_dataframe_of_every_trial(
    notebook: tuple[User, Seen, list[str]],
) -> None:
    _, seen, outputs = notebook
    frame = cell_saying(outputs, "params.x")
    rows = frame.strip().splitlines()[1:]
    assert len(rows) == 3, seen
    _, _, x, y, value = rows[0].split()  # index, trial, x, y, value: the best first
    assert (int(x), float(y), float(value)) == (3, -1.0, 0.0), seen


def test_the_command_line_reads_the_folder_the_python_run_wrote(
    notebook: tuple[User, Seen, list[str]],
) -> None:
    user, seen, _ = notebook
    assert seen.code == 0, seen
    assert len(list(user.path("tuneop-results/quickstart/trials").glob("trial-*.json"))) == 30
    summary = user.tuneop("summary", "tuneop-results/quickstart")
    assert summary.code == 0, summary
    assert 'best parameters: {"x": 3, "y": -1.0}' in summary.out, summary
    shifted = user.tuneop("summary", "tuneop-results/shifted")
    assert shifted.code == 0 and "12 trials" in shifted.out, shifted


def test_an_interrupted_python_run_resumes_where_it_stopped(user: User) -> None:
    # The first cell, then a run stopped after 4 trials (as Ctrl-C stops it), then again.
    build = notebook_cells()[0]
    stop = (
        "def stop_after_four(progress):\n"
        "    if progress.done >= 4 and progress.phase == 'Running':\n"
        "        raise KeyboardInterrupt\n"
        "first = session.run(max_parallel=1, on_progress=stop_after_four)\n"
        "print('first', first.phase, first.status.trials.succeeded)\n"
    )
    rerun = "second = session.run()\nprint('second', second.phase, len(second.trials))\n"
    notice = "print(second.notices[0])\n"
    seen, outputs = run_cells(user, [build, stop, rerun, notice])
    assert seen.code == 0, seen
    assert re.search(r"first Cancelled [4-9]\b", outputs[1]), seen
    assert "second Succeeded 30" in outputs[2], seen
    # A trial whose complete result was already in a stopped worker's log is collected,
    # not run again: the notice then says how many (it depends on when the stop came).
    resumed = re.match(
        r"resuming quickstart: (\d+) of 30 trials kept"
        r"(?: \((\d+) collected from the logs of stopped workers\))?, (\d+) to run",
        outputs[3],
    )
    assert resumed, seen
    kept, collected, to_run = resumed.groups()
    assert int(kept) + int(to_run) == 30 and int(collected or 0) <= int(kept), seen


SLOW = "import time\n\n\ndef slow(params):\n    time.sleep(0.5)\n    return {'loss': params['x']}\n"
SLOW_SESSION = (
    "import slow\n"
    "from tuneop.sdk import Int, Session\n"
    "session = Session('slow', objective='loss', space=[Int('x', 0, 19)], optimizer='grid',\n"
    "                  function=slow.slow, max_parallel=2)\n"
    "results = session.run()\n"
    "print('ended', results.phase, results.status.trials.succeeded, results.notices)\n"
)


def test_a_notebooks_interrupt_cancels_the_run_and_the_next_run_resumes(user: User) -> None:
    user.write("slow.py", SLOW)
    cells = user.write("cells.json", json.dumps([SLOW_SESSION]))
    with cells.open() as stdin:
        proc = subprocess.Popen(
            notebook_argv(),
            cwd=user.cwd,
            env=user.env,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    trials = user.path("tuneop-results/slow/trials")
    deadline = time.monotonic() + 120
    while len(list(trials.glob("trial-*.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)  # the notebook's interrupt button
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    ended = re.search(r"^ended Cancelled (\d+) (.*)$", out, flags=re.M)
    assert ended and 2 <= int(ended[1]) < 20, out + err
    assert "Cancelled: cancelled by the user" in ended[2], out + err
    seen, outputs = run_cells(user, [SLOW_SESSION])
    assert seen.code == 0, seen
    assert re.search(r"ended Succeeded 20 \['resuming slow: \d+ of 20 trials kept", outputs[0]), (
        seen
    )
