"""A short local run makes its status durable once in a while, with the trials it counts.

Issue 24 times ``tuneop run --local`` of a 20-trial toy beside Optuna's own loop
(bench/optuna_side_by_side.py; a journey never times). A run of 1 ms trials made
``session.json`` and its folder durable at every reconcile, and the ``trials/`` folder
once per trial: two thirds of its 74 fsyncs, each 2-10 ms on its critical path. In a
local run the folder is its own ledger: each trial's file is still synced as it is
written, and the names in ``trials/`` are made durable together, right before each
durable ``session.json``, which is made durable at most once a second while trials end
faster, and always at the end. The user runs the toy under ``strace`` (every fsync and
the file it made durable), then runs it again: it is finished, nothing runs.
"""

from __future__ import annotations

import json
import math
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
    """What a synced file or folder is, by its name."""
    name = path.rsplit("/", 1)[-1]
    if name.startswith(".trial-"):
        return "trial"
    if name.startswith(".session.json"):
        return "session.json"
    if name == "trials":
        return "trials folder"
    if name == "toy":
        return "session folder"
    return "other"


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_a_short_run_syncs_its_status_with_its_trials_not_per_trial(user: User) -> None:
    with_toy(user)
    user.write("toy.yaml", session_yaml("toy", "bowl", SPEC))
    seen = user.sh(
        "strace -f -y -e trace=fsync -o fsyncs.txt"
        " tuneop run toy.yaml --local --results-dir r --no-report"
    )
    assert seen.code == 0, seen
    assert "Succeeded (20/20 trials succeeded" in seen.out, seen.out
    synced = Counter(_kind(p) for p in SYNCED.findall(user.path("fsyncs.txt").read_text()))
    assert synced["trial"] == 20, synced  # every result's content synced as it is written
    # the trials' names are made durable with each durable status, never alone
    assert 1 <= synced["trials folder"] <= synced["session.json"], synced
    # at most one durable status a second while trials end faster, and the last one
    assert synced["session.json"] <= math.ceil(seen.seconds) + 2, (synced, seen.seconds)
    record = json.loads(user.path("r/toy/session.json").read_text())
    assert record["status"]["phase"] == "Succeeded", record["status"]
    assert len(list(user.path("r/toy/trials").glob("trial-*.json"))) == 20
    again = user.tuneop("run", "toy.yaml", "--local", "--results-dir", "r", "--no-report")
    assert again.code == 0 and "already finished" in again.out, again
