"""Running a local session again: what it resumes, what it keeps, what it refuses.

One rule for Ctrl-C, SIGTERM and ``kill -9``: the trials an interrupted run stopped are run (or,
when their worker had already printed a complete result, collected) by the next run of
the same session, whose first line says what it resumes. A finished session run again
says so and runs nothing; a raised ``totalTrials`` extends it; an edited spec or
objective file is refused, naming ``--fresh`` and ``--results-dir``; ``--fresh`` starts
over with the old results moved aside.

Each trial appends its number to ``ran.txt`` when it starts, so a journey can tell a
trial run again from one whose result was kept or collected.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from user import Seen, User

SESSION = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata:
  name: rerun
spec:
  objective:
    metric: loss
    direction: minimize
  searchSpace:
    - name: x
      type: int
      min: 0
      max: {top}
  optimizer:
    type: grid
  maxParallel: 2
  trialTimeoutSeconds: 300
  runner:
    image: example/runner:1
{runner}
"""

# A trial with x >= 2 hangs while the file ``hang`` exists: the first run is interrupted there.
OBJECTIVE = """\
import os, time

def f(params):
    with open("ran.txt", "a") as fh:
        fh.write(f"{params['x']}\\n")
    if params["x"] >= 2 and os.path.exists("hang"):
        with open("hung.txt", "a") as fh:
            fh.write(f"{params['x']}\\n")
        time.sleep(240)
    if params["x"] == 5 and os.path.exists("fail5"):
        raise RuntimeError("x=5 is broken")
    return {"loss": (params["x"] - 2) ** 2}
"""

# A worker of its own: prints each trial's complete result, then hangs while ``hang``
# exists (uploading a checkpoint, say). Its result is in the log before it is stopped.
WORKER = """\
import json, os, time

for t in json.loads(os.environ["TUNEOP_TRIALS"]):
    with open("ran.txt", "a") as fh:
        fh.write(f"{t['trial']}\\n")
    x = t["params"]["x"]
    line = {"trial": t["trial"], "status": "succeeded", "params": t["params"],
            "metrics": {"loss": (x - 2) ** 2}}
    print("TUNEOP_RESULT " + json.dumps(line), flush=True)
    if os.path.exists("hang"):
        time.sleep(240)
"""

FUNCTION_RUNNER = "    objective: obj:f"
WORKER_RUNNER = '    command: ["python", "work.py"]'
RESULTS = Path("tuneop-results/rerun")


def session(user: User, top: int = 5, runner: str = FUNCTION_RUNNER, extra: str = "") -> None:
    user.write("s.yaml", SESSION.format(top=top, runner=runner) + extra)
    user.write("obj.py", OBJECTIVE)
    user.write("work.py", WORKER)


def ran(user: User) -> Counter[int]:
    path = user.path("ran.txt")
    return Counter(int(n) for n in path.read_text().split()) if path.exists() else Counter()


def hung(user: User) -> set[int]:
    path = user.path("hung.txt")
    return {int(n) for n in path.read_text().split()} if path.exists() else set()


def wait_for(what: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert proc.poll() is None, f"tuneop ended early: {proc.communicate()}"
        assert time.monotonic() < deadline, "timed out waiting for the trials"
        time.sleep(0.1)


def results(user: User) -> dict[int, dict[str, object]]:
    found = {}
    for p in (user.path(str(RESULTS)) / "trials").glob("trial-*.json"):
        doc = json.loads(p.read_text())
        found[doc["trial"]] = doc
    return found


def logged_results(user: User) -> int:
    logs = user.path(str(RESULTS)) / "logs"
    return sum(p.read_text().count("TUNEOP_RESULT ") for p in logs.glob("*.log"))


def interrupt(user: User, proc: subprocess.Popen[str], how: str) -> Seen:
    if how == "ctrl-c":
        return user.ctrl_c(proc)
    # SIGTERM as timeout(1), systemd or a CI runner send it; SIGKILL as `kill -9` does
    # (to tuneop alone: its workers are left behind).
    os.kill(proc.pid, signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    return Seen(proc.returncode, out, err, 0.0)


def first_line(seen: Seen) -> str:
    return seen.out.splitlines()[0] if seen.out else ""


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "kill-9"])
def test_a_rerun_after_an_interruption_runs_the_stopped_trials_and_says_what_it_resumes(
    user: User, how: str
) -> None:
    session(user)
    user.write("hang", "")
    proc = user.start("run", "s.yaml", "--local", "--no-report")
    # Trials 0 and 1 finish; 2 and 3 hang. Wait until both are inside the hang: a worker
    # still between its first line and the test of ``hang`` would, once ``hang`` is gone,
    # finish its trial after tuneop was killed (kill -9 leaves workers behind), and the
    # rerun would rightly collect it.
    wait_for(lambda: len(results(user)) >= 2 and len(hung(user)) >= 2, proc)
    stopped = interrupt(user, proc, how)
    assert stopped.code != 0, stopped
    user.path("hang").unlink()

    again = user.tuneop("run", "s.yaml", "--local", "--no-report")

    assert again.code == 0, again
    assert first_line(again) == "resuming rerun: 2 of 6 trials kept, 4 to run", again
    assert "Succeeded (6/6 trials succeeded" in again.out, again
    assert "Cancelled" not in again.out, again
    counts = ran(user)
    assert counts[0] == counts[1] == 1, counts  # kept, not run again
    assert counts[2] == counts[3] == 2, counts  # stopped, then run again
    assert counts[4] == counts[5] == 1, counts
    assert {d["outcome"] for d in results(user).values()} == {"Succeeded"}


@pytest.mark.parametrize("how", ["ctrl-c", "kill-9"])
def test_a_trial_stopped_after_printing_its_result_is_collected_not_run_again(
    user: User, how: str
) -> None:
    session(user, top=3, runner=WORKER_RUNNER)
    user.write("hang", "")
    proc = user.start("run", "s.yaml", "--local", "--no-report")
    # Trials 0 and 1 printed their complete results and are still busy.
    wait_for(lambda: logged_results(user) >= 2, proc)
    interrupt(user, proc, how)
    user.path("hang").unlink()

    again = user.tuneop("run", "s.yaml", "--local", "--no-report")

    assert again.code == 0, again
    assert first_line(again) == (
        "resuming rerun: 2 of 4 trials kept (2 collected from the logs of stopped workers),"
        " 2 to run"
    ), again
    assert ran(user) == Counter({0: 1, 1: 1, 2: 1, 3: 1})
    found = results(user)
    assert [found[t]["outcome"] for t in range(4)] == ["Succeeded"] * 4
    assert found[0]["objective"]["value"] == 4  # type: ignore[index]


def test_a_rerun_of_a_finished_session_says_so_runs_nothing_and_exits_with_its_outcome(
    user: User,
) -> None:
    session(user)
    user.write("fail5", "")  # one failed trial: the session succeeds with exit code 1
    first = user.tuneop("run", "s.yaml", "--local", "--no-report")
    assert first.code == 1, first
    assert "Succeeded (5/6 trials succeeded" in first.out, first
    before = ran(user)
    files = sorted(p.name for p in user.path(str(RESULTS)).rglob("*"))
    session_json = (user.path(str(RESULTS)) / "session.json").read_bytes()

    again = user.tuneop("run", "s.yaml", "--local", "--no-report")

    assert again.code == 1, again
    assert again.out.splitlines() == [
        "session rerun already finished: Succeeded (5/6 trials succeeded; best loss=0);"
        f" nothing ran. Results: {RESULTS}; raise totalTrials to extend it,"
        " or --fresh to start over"
    ], again
    assert ran(user) == before
    assert sorted(p.name for p in user.path(str(RESULTS)).rglob("*")) == files
    assert (user.path(str(RESULTS)) / "session.json").read_bytes() == session_json


def test_raising_total_trials_extends_a_finished_session(user: User) -> None:
    spec = "  totalTrials: {n}\n"
    session(user, top=9, extra=spec.format(n=4))
    first = user.tuneop("run", "s.yaml", "--local", "--no-report")
    assert first.code == 0, first
    session(user, top=9, extra=spec.format(n=7))

    again = user.tuneop("run", "s.yaml", "--local", "--no-report")

    assert again.code == 0, again
    assert first_line(again) == "resuming rerun: 4 of 7 trials kept, 3 to run", again
    assert "Succeeded (7/7 trials succeeded" in again.out, again
    assert ran(user) == Counter(range(7))


def test_an_edited_spec_or_objective_file_is_refused_naming_fresh_and_results_dir(
    user: User,
) -> None:
    session(user)
    first = user.tuneop("run", "s.yaml", "--local", "--no-report")
    assert first.code == 0, first
    before = ran(user)

    session(user, top=6)  # another search space
    refused = user.tuneop("run", "s.yaml", "--local", "--no-report")
    assert refused.code == 2, refused
    assert len(refused.err.splitlines()) == 1, refused
    assert "--fresh" in refused.err and "--results-dir" in refused.err, refused

    session(user)
    user.write("obj.py", OBJECTIVE.replace("** 2}", "** 2 + 1}"))  # the objective edited
    refused = user.tuneop("run", "s.yaml", "--local", "--no-report")
    assert refused.code == 2, refused
    assert refused.err.splitlines() == [
        f"error: obj.py changed since the results in {RESULTS} were recorded; run with"
        f" --fresh to start over (the old results move to {RESULTS}.archived-<time>),"
        " or give another --results-dir"
    ], refused
    assert "Traceback" not in refused.both
    assert ran(user) == before


def test_an_edited_script_of_the_objective_command_is_refused(user: User) -> None:
    runner = '    objectiveCommand: ["python", "scripts/train.py"]'
    session(user, top=2, runner=runner)
    train = 'import json, sys\nx = json.load(sys.stdin)["x"]\nprint(json.dumps({"loss": x}))\n'
    user.write("scripts/train.py", train)
    first = user.tuneop("run", "s.yaml", "--local", "--no-report")
    assert first.code == 0, first

    user.write("scripts/train.py", train.replace('{"loss": x}', '{"loss": -x}'))
    refused = user.tuneop("run", "s.yaml", "--local", "--no-report")

    assert refused.code == 2, refused
    assert refused.err.startswith("error: scripts/train.py changed since the results"), refused
    assert "--fresh" in refused.err and "--results-dir" in refused.err, refused


def test_fresh_starts_over_and_moves_the_old_results_aside(user: User) -> None:
    session(user)
    assert user.tuneop("run", "s.yaml", "--local", "--no-report").code == 0
    user.write("obj.py", OBJECTIVE.replace("** 2}", "** 2 + 1}"))
    assert user.tuneop("run", "s.yaml", "--local", "--no-report").code == 2

    fresh = user.tuneop("run", "s.yaml", "--local", "--no-report", "--fresh")

    assert fresh.code == 0, fresh
    archived = sorted(user.path("tuneop-results").glob("rerun.archived-*"))
    assert len(archived) == 1, archived
    assert first_line(fresh) == (
        f"starting rerun over: the previous results moved to tuneop-results/{archived[0].name}"
    ), fresh
    assert "Succeeded (6/6 trials succeeded; best loss=1)" in fresh.out, fresh
    assert ran(user) == Counter({n: 2 for n in range(6)})
    assert len(list((archived[0] / "trials").glob("trial-*.json"))) == 6
    again = user.tuneop("run", "s.yaml", "--local", "--no-report")
    assert again.code == 0 and "already finished" in again.out, again


def test_a_finished_session_run_again_from_another_folder_is_recognised(user: User) -> None:
    """The objective's module on PYTHONPATH below the folder of the first run (a project's
    ``src/``): named relative to it then, by its full path from a sub-folder."""
    home = user.cwd
    user.write("s.yaml", SESSION.format(top=3, runner="    objective: mine:f"))
    user.write("src/mine.py", "def f(params):\n    return {'loss': params['x']}\n")
    user.env["PYTHONPATH"] = str(home / "src")
    first = user.tuneop("run", "s.yaml", "--local", "--no-report")
    assert first.code == 0, first
    (home / "sub").mkdir()
    user.cwd = home / "sub"

    again = user.tuneop(
        "run", "../s.yaml", "--local", "--no-report", "--results-dir", "../tuneop-results"
    )

    assert again.code == 0, again
    assert again.out.startswith("session rerun already finished: Succeeded (4/4"), again

    user.cwd = home
    user.write("src/mine.py", "def f(params):\n    return {'loss': -params['x']}\n")
    user.cwd = home / "sub"
    refused = user.tuneop(
        "run", "../s.yaml", "--local", "--no-report", "--results-dir", "../tuneop-results"
    )
    assert refused.code == 2, refused
    assert refused.err.startswith(f"error: {home / 'src' / 'mine.py'} changed since"), refused


@pytest.mark.parametrize("damage", ["garbled", "removed", "wrong shape"])
def test_a_damaged_session_json_is_refused_not_run_again_over_its_results(
    user: User, damage: str
) -> None:
    session(user, top=3)
    first = user.tuneop("run", "s.yaml", "--local", "--no-report")
    assert first.code == 0, first
    status = user.path(str(RESULTS)) / "session.json"
    if damage == "removed":
        status.unlink()
    else:
        status.write_text("{garbled" if damage == "garbled" else '{"status": {"trials": 3}}')
    before, kept = ran(user), results(user)

    refused = user.tuneop("run", "s.yaml", "--local", "--no-report")

    assert refused.code == 2, refused
    (line,) = refused.err.splitlines()
    why = "is missing" if damage == "removed" else "cannot be read"
    assert line.startswith(f"error: {RESULTS}/session.json {why}"), line
    assert "--fresh" in line and "--results-dir" in line, line
    assert ran(user) == before and results(user) == kept


@pytest.mark.parametrize("streams", ["", "2>&1"], ids=["stdout", "stdout and stderr"])
def test_a_run_whose_output_reader_ends_early_runs_to_its_end(user: User, streams: str) -> None:
    """``tuneop run ... | head -1`` (and ``2>&1 | head -1``): the pager's end is not the
    session's."""
    session(user, top=5)
    user.write(
        "slow.py",
        "import time\n\ndef f(params):\n    time.sleep(0.3)\n    assert params['x'] != 5\n"
        "    return {'loss': params['x']}\n",
    )
    user.write(
        "s.yaml", user.path("s.yaml").read_text().replace("objective: obj:f", "objective: slow:f")
    )

    seen = user.sh(
        f"set +e; tuneop run s.yaml --local --no-report {streams} | head -1;"
        ' echo "tuneop exited ${PIPESTATUS[0]}"'
    )

    assert seen.code == 0, seen
    lines = seen.out.splitlines()
    assert len(lines) == 2 and lines[-1] == "tuneop exited 1", seen  # one trial failed
    if not streams:  # (with 2>&1 the notice went down the closed pipe too: lost)
        assert "standard output was closed" in seen.err, seen
    assert "Traceback" not in seen.both, seen
    doc = json.loads((user.path(str(RESULTS)) / "session.json").read_text())
    assert doc["status"]["phase"] == "Succeeded" and doc["status"]["trials"]["succeeded"] == 5


def test_a_session_extended_from_another_namespace_counts_every_trial(user: User) -> None:
    """A local folder is the session's name: a rerun with ``-n team`` resumes it, and its
    summary, ``tuneop summary`` and the CSV count the trials of both runs."""
    spec = "  totalTrials: {n}\n"
    session(user, top=9, extra=spec.format(n=4))
    assert user.tuneop("run", "s.yaml", "--local", "--no-report").code == 0
    session(user, top=9, extra=spec.format(n=7))

    again = user.tuneop("run", "s.yaml", "--local", "--no-report", "-n", "team")

    assert again.code == 0, again
    assert "7 trials (Succeeded 7)" in again.out, again
    summary = user.tuneop("summary", str(RESULTS))
    assert summary.code == 0 and "7 trials (Succeeded 7)" in summary.out, summary
    rows = (user.path(str(RESULTS)) / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 7, rows
