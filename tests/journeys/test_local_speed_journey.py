"""What a short local run spends its time on: what it must, not more.

Issue 24 measures ``tuneop run --local`` of a 20-trial toy against Optuna's own loop
(bench/optuna_side_by_side.py times it; a journey never does). A run of 1 ms trials
spent a third of its time in fsync: five per trial, two of them for the record of each
Job it starts, which serves only a rerun after a kill (and a kill loses no written
file). The user runs the toy as the README says, under ``strace`` (which shows every
fsync and the file it made durable): each trial's result is still synced before the
run goes on, the Job records are not, and everything a rerun needs is in the folder.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter

import pytest
from toy_sessions import session_yaml, with_toy
from user import User

SPEC = {
    "objective": {"metric": "loss", "direction": "minimize"},
    "searchSpace": [{"name": "x", "type": "float", "min": -10, "max": 10}],
    "optimizer": {"type": "bayesian"},
    "totalTrials": 20,
    "maxParallel": 2,
}
SYNCED = re.compile(r"fsync\(\d+<([^>]*)>\)")


def _kind(path: str) -> str:
    """What a synced file or folder is: ``trial``, ``session``, ``job``, ``folder``."""
    name = path.rsplit("/", 1)[-1]
    if name.startswith(".trial-"):
        return "trial"
    if name.startswith(".session.json") or name.startswith(".results.csv"):
        return "session"
    if ".job.json" in name:
        return "job"
    return "folder"


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_a_short_local_run_syncs_each_result_and_not_its_job_records(user: User) -> None:
    with_toy(user)
    user.write("toy.yaml", session_yaml("toy", "bowl", SPEC))
    seen = user.sh(
        "strace -f -y -e trace=fsync -o fsyncs.txt"
        " tuneop run toy.yaml --local --results-dir r --no-report"
    )
    assert seen.code == 0, seen
    assert "Succeeded (20/20 trials succeeded" in seen.out, seen.out
    synced = Counter(_kind(p) for p in SYNCED.findall(user.path("fsyncs.txt").read_text()))
    assert synced["trial"] == 20, synced  # every result made durable, once
    assert synced["job"] == 0, synced
    # the Job records are there all the same, whole, for a rerun after a kill
    records = sorted(user.path("r/toy/jobs").glob("*.job.json"))
    assert len(records) == 20
    assert sorted(json.loads(p.read_text())["index"] for p in records) == list(range(20))
    again = user.tuneop("run", "toy.yaml", "--local", "--results-dir", "r", "--no-report")
    assert again.code == 0 and "already finished" in again.out, again


TRIAL_SCRIPT = """\
import os, sys
x = float(sys.argv[-1].split("=")[1])
with open(f"blas-{os.environ['TUNEOP_TRIAL']}.txt", "w") as f:
    f.write(os.environ.get("OPENBLAS_NUM_THREADS", "unset"))
print(f"loss={(x - 2) ** 2}")
"""
TEMPLATE_SESSION = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata: {name: blas}
spec:
  objective: {metric: loss}
  searchSpace: [{name: x, type: float, min: 0, max: 4}]
  optimizer: {type: bayesian}
  totalTrials: 4
  maxParallel: 2
  metricsCollector: {kind: StdOut}
  template:
    spec:
      containers:
        - name: trial
          image: registry.example.com/trainer:1
          command: [python, train.py, "--x=${params.x}"]
"""


def test_the_runs_one_blas_thread_is_not_its_trials(user: User) -> None:
    # tuneop loads numpy's OpenBLAS with one thread for its own TPE (core.imports):
    # the trials it starts afterwards get the machine's default, as the user set it.
    user.write("train.py", TRIAL_SCRIPT)
    user.write("blas.yaml", TEMPLATE_SESSION)
    seen = user.sh("tuneop run blas.yaml --local --results-dir r --no-report")
    assert seen.code == 0 and "Succeeded (4/4 trials succeeded" in seen.out, seen
    assert sorted(p.read_text() for p in user.cwd.glob("blas-*.txt")) == ["unset"] * 4
    user.env["OPENBLAS_NUM_THREADS"] = "3"  # a user's own setting reaches every trial
    again = user.sh("tuneop run blas.yaml --local --results-dir r2 --no-report")
    assert again.code == 0, again
    assert sorted(p.read_text() for p in user.cwd.glob("blas-*.txt")) == ["3"] * 4
