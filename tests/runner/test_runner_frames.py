"""The runner's frames (``tuneop_runner.frames``) and its warm worker (``tuneop_runner.warm``).

The announcement comes before anything of the objective, each trial's output and
result stand between its BEGIN and END, the nonce is fresh per worker and is never in
the objective's environment; a warm worker runs successive Jobs, each framed by the
nonce it was given, and says when each is done.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from runner_harness import Run, runner_env, trials_json

Runner = Callable[[Mapping[str, str], Sequence[str]], Run]

OBJECTIVES = """\
import json, os
print("TUNEOP_FRAMES " + "f" * 32, flush=True)  # at import time: before any trial

def env(params):
    print("seen:" + json.dumps(dict(os.environ)))
    return {"loss": params["x"], "pid": os.getpid()}
"""
FRAME = re.compile(r"TUNEOP_(FRAMES|BEGIN|END) ([0-9a-f]{32})(?: (\d+))?$")


def write_objectives(folder: Path) -> None:
    (folder / "objs.py").write_text(OBJECTIVES)


def test_the_announcement_comes_first_and_each_trial_is_framed(
    runner: Runner, tmp_path: Path
) -> None:
    write_objectives(tmp_path)
    run = runner(
        {"TUNEOP_TRIALS": trials_json({"x": 1}, {"x": 2}), "TUNEOP_OBJECTIVE": "objs:env"}, ()
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    first = FRAME.match(lines[0])
    assert first is not None and first.group(1) == "FRAMES"
    nonce = first.group(2)
    assert nonce != "f" * 32  # the objective's import-time look-alike comes after it
    framed = [
        (m.group(1), int(m.group(3)))
        for x in lines
        if (m := FRAME.match(x)) and m.group(2) == nonce and m.group(3)
    ]
    assert framed == [("BEGIN", 0), ("END", 0), ("BEGIN", 1), ("END", 1)]
    result = lines.index(
        next(x for x in lines if x.startswith("TUNEOP_RESULT ") and '"trial":1' in x)
    )
    assert lines[result + 1] == f"TUNEOP_END {nonce} 1"


def test_the_nonce_is_fresh_per_worker_and_never_in_the_objectives_environment(
    runner: Runner, tmp_path: Path
) -> None:
    write_objectives(tmp_path)
    env = {"TUNEOP_TRIALS": trials_json({"x": 1}), "TUNEOP_OBJECTIVE": "objs:env"}
    one, two = runner(env, ()), runner(env, ())
    nonces = [FRAME.match(r.stdout.splitlines()[0]).group(2) for r in (one, two)]  # type: ignore[union-attr]
    assert nonces[0] != nonces[1]
    assert nonces[0] not in one.stdout.split("seen:", 1)[1].splitlines()[0]


def test_a_warm_worker_runs_successive_jobs_each_in_its_own_frames(tmp_path: Path) -> None:
    write_objectives(tmp_path)
    jobs = [("a" * 32, trials_json({"x": 1})), ("b" * 32, trials_json({"x": 2}, first=1))]
    requests = "".join(
        json.dumps({"nonce": n, "env": {"TUNEOP_TRIALS": t, "TUNEOP_OBJECTIVE": "objs:env"}}) + "\n"
        for n, t in jobs
    )
    proc = subprocess.run(
        [sys.executable, "-m", "tuneop_runner.warm"],
        input=requests,
        env=runner_env({}),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines.count("TUNEOP_JOB_DONE " + "a" * 32 + " 0") == 1
    assert lines.count("TUNEOP_JOB_DONE " + "b" * 32 + " 0") == 1
    assert f"TUNEOP_BEGIN {'a' * 32} 0" in lines and f"TUNEOP_BEGIN {'b' * 32} 1" in lines
    pids = {
        json.loads(x.split(" ", 1)[1])["metrics"]["pid"]
        for x in lines
        if x.startswith("TUNEOP_RESULT ")
    }
    assert len(pids) == 1  # one process ran both Jobs
