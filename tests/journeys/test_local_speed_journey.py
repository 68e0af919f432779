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
