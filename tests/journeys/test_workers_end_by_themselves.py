"""At the end of a local run its idle warm workers end by themselves, together.

Issue 24 times ``tuneop run --local`` of a 20-trial toy beside Optuna's own loop
(bench/optuna_side_by_side.py; a journey never times). The run used to stop its idle
warm workers one after another, each with a SIGTERM and a poll of its process tree (at
least a tenth of a second at the end of every run). Now each is told the session is
over (the end of its input) and exits at once. The user runs the toy under ``strace``
(every signal a process sends): the run succeeds, no worker was sent a signal, and no
worker is left behind.
"""

from __future__ import annotations

import re
import shutil

import pytest
from toy_sessions import session_yaml, with_toy
from user import User

SPEC = {
    "objective": {"metric": "loss", "direction": "minimize"},
    "searchSpace": [{"name": "x", "type": "float", "min": -10, "max": 10}],
    "optimizer": {"type": "random"},
    "totalTrials": 6,
    "maxParallel": 2,
}
SENT = re.compile(r"^\d+\s+(?:kill|tgkill)\((\d+), (SIG[A-Z]+)\)", re.MULTILINE)


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_a_finished_runs_idle_workers_end_without_a_signal(user: User) -> None:
    with_toy(user)
    user.write("toy.yaml", session_yaml("toy", "bowl", SPEC))
    seen = user.sh(
        "strace -f -e trace=kill,tgkill -o signals.txt"
        " tuneop run toy.yaml --local --results-dir r --no-report"
    )
    assert seen.code == 0, seen
    assert "Succeeded (6/6 trials succeeded" in seen.out, seen.out
    sent = SENT.findall(user.path("signals.txt").read_text())
    assert [s for s in sent if s[1] in ("SIGTERM", "SIGKILL")] == [], sent
    # strace follows every process below tuneop until it ends: each exited by itself
    text = user.path("signals.txt").read_text()
    ends = re.findall(r"^\d+\s+\+\+\+ (.*) \+\+\+$", text, re.MULTILINE)
    assert len(ends) >= 3 and all(e.startswith("exited with") for e in ends), ends
