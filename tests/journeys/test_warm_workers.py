"""A local run of a Python objective keeps one warm worker per slot (issue 24, local speed).

Walked as a user: ``tuneop run session.yaml --local`` with ``runner.objective`` naming a
function in the user's folder. Successive trials run in the same few processes (one per
slot), and everything a user relies on still holds: a trial cannot stand in for
another's result, a trial past its timeout is TimedOut, a retry runs with its attempt
number, a worker that dies fails only its trial (in local words) and the next trial gets
a fresh worker, and Ctrl-C leaves no worker behind.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from user import User

SPEC = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata:
  name: {name}
spec:
  objective: {{metric: loss, direction: minimize}}
  searchSpace:
    - {{name: x, type: int, min: 0, max: {top}}}
  optimizer: {{type: grid}}
  maxParallel: {parallel}
  trialTimeoutSeconds: {timeout}
  retries: {retries}
  runner:
    image: tuneop/runner:0.1.0
    objective: objectives:{function}
"""

OBJECTIVES = """\
import json, os, time

def pid(params):
    return {"loss": params["x"], "pid": os.getpid()}

def forge(params):
    if params["x"] == 1:
        print("TUNEOP_RESULT " + json.dumps({"trial": 0, "params": {"x": 0},
              "metrics": {"loss": -1000000}, "status": "succeeded"}), flush=True)
    return {"loss": 10 + params["x"], "pid": os.getpid()}

def dies(params):
    if params["x"] == 1:
        os._exit(3)
    return {"loss": params["x"], "pid": os.getpid()}

def slow(params):
    if params["x"] == 1:
        time.sleep(30)
    return {"loss": params["x"]}

def flaky(params):
    if params["x"] == 1 and not os.environ.get("TUNEOP_ATTEMPT"):
        raise RuntimeError("first attempt fails")
    return {"loss": params["x"], "attempt": int(os.environ.get("TUNEOP_ATTEMPT") or 0)}

def sleeper(params):
    with open(f"pid-{params['x']}", "w") as f:
        f.write(str(os.getpid()))
    time.sleep(120)
    return {"loss": 0}
"""


def session(
    user: User,
    name: str,
    function: str,
    top: int = 5,
    parallel: int = 2,
    timeout: int = 60,
    retries: int = 0,
) -> str:
    user.write("objectives.py", OBJECTIVES)
    spec = SPEC.format(
        name=name, function=function, top=top, parallel=parallel, timeout=timeout, retries=retries
    )
    user.write(f"{name}.yaml", spec)
    return f"{name}.yaml"


def trials(user: User, name: str) -> dict[int, dict[str, Any]]:
    folder = user.path(f"tuneop-results/{name}/trials")
    docs = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    return {d["trial"]: d for d in docs}


def test_a_python_objective_runs_its_trials_in_one_warm_process_per_slot(user: User) -> None:
    seen = user.tuneop("run", session(user, "warm", "pid", top=7), "--local")
    assert seen.code == 0, seen
    got = trials(user, "warm")
    assert len(got) == 8
    pids = {t["metrics"]["pid"] for t in got.values()}
    assert len(pids) <= 2, pids  # maxParallel 2: two warm workers, not one process per trial


def test_trials_sharing_a_warm_worker_cannot_forge_each_others_results(user: User) -> None:
    seen = user.tuneop("run", session(user, "forge", "forge", top=2, parallel=1), "--local")
    assert seen.code == 0, seen
    got = trials(user, "forge")
    assert len({t["metrics"]["pid"] for t in got.values()}) == 1  # one worker ran all three
    assert [got[t]["objective"]["value"] for t in range(3)] == [10, 11, 12]


def test_a_worker_that_dies_fails_its_trial_and_the_next_trial_gets_a_fresh_one(
    user: User,
) -> None:
    seen = user.tuneop("run", session(user, "dies", "dies", top=3, parallel=1), "--local")
    assert seen.code == 1, seen
    assert "Traceback" not in seen.both
    got = trials(user, "dies")
    assert got[1]["outcome"] == "Failed", got[1]
    assert "exited with code 3" in got[1]["error"], got[1]
    assert "BackoffLimitExceeded" not in got[1]["error"]
    assert [got[t]["outcome"] for t in (0, 2, 3)] == ["Succeeded"] * 3
    assert got[0]["metrics"]["pid"] != got[2]["metrics"]["pid"]
    assert got[2]["metrics"]["pid"] == got[3]["metrics"]["pid"]


def test_a_trial_past_its_timeout_on_a_warm_worker_is_timed_out_and_the_rest_go_on(
    user: User,
) -> None:
    spec = session(user, "slow", "slow", top=2, parallel=1, timeout=2)
    seen = user.tuneop("run", spec, "--local")
    assert seen.code == 1, seen
    got = trials(user, "slow")
    assert got[1]["outcome"] == "TimedOut", got[1]
    assert got[1]["error"] == "timed out after 2.0 s", got[1]
    assert [got[t]["outcome"] for t in (0, 2)] == ["Succeeded", "Succeeded"]


def test_a_retry_on_a_warm_worker_runs_with_its_attempt_number(user: User) -> None:
    seen = user.tuneop("run", session(user, "flaky", "flaky", top=2, retries=1), "--local")
    assert seen.code == 0, seen
    got = trials(user, "flaky")
    assert got[1]["outcome"] == "Succeeded" and got[1]["metrics"]["attempt"] == 1, got[1]
    assert got[0]["metrics"]["attempt"] == 0


def test_ctrl_c_leaves_no_warm_worker_behind(user: User) -> None:
    proc = user.start("run", session(user, "stop", "sleeper", top=1), "--local")
    files = [user.path("pid-0"), user.path("pid-1")]
    give_up = time.monotonic() + 60
    while not all(f.exists() and f.read_text() for f in files) and time.monotonic() < give_up:
        time.sleep(0.2)
    pids = [int(f.read_text()) for f in files]
    seen = user.ctrl_c(proc)
    assert "Traceback" not in seen.both, seen
    for pid in pids:
        assert not _alive(pid), f"warm worker {pid} outlived Ctrl-C"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[-1].split()[0] not in "ZX"


def test_a_run_refused_before_its_first_trial_leaves_no_warm_worker_behind(user: User) -> None:
    spec = session(user, "gone", "pid")
    user.path("objectives.py").unlink()  # the warm workers start before the check says so
    seen = user.tuneop("run", spec, "--local")
    assert seen.code == 2, seen
    assert "objectives" in seen.err and "Traceback" not in seen.both, seen
    assert _warm_workers_in(user.cwd) == []


def _warm_workers_in(folder: Path) -> list[int]:
    """Live warm worker processes whose working folder is ``folder``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            here = Path(os.readlink(proc / "cwd"))
        except OSError:
            continue
        if b"tuneop_runner.warm" in argv and here == folder and _alive(int(proc.name)):
            found.append(int(proc.name))
    return found
