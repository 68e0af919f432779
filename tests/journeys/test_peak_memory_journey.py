"""The peak RSS a hostile-input journey holds ``tuneop`` to is tuneop's own (issue 25).

The adversarial tier once saw a ``tuneop run`` "peak" at 224 MB that a replay showed at
47 MB. The figure was the forking pytest's: ``ru_maxrss`` of a child starts at its
parent's RSS when forked and is carried across ``exec``, and pytest grows past 500 MB
over a long Hypothesis run. The suite's capped runner (``capped_run``) reads the
command's own ``VmHWM`` instead; these journeys pin that down: a flooded run measured
from a pytest bigger than the bound stays within it, a command's own allocation is
counted, and a hang ends with its process group.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import pytest
from capped import PEAK_MB, capped
from user import User

from capped_run import run_capped

# Two trials in one worker, each printing four 3 MB lines before its result: the most
# output the adversarial trial-output property draws (tests/adversarial).
WORKER = (
    "import json, sys\n"
    "n = json.loads(sys.stdin.read())['x']\n"
    "sys.stdout.write(('y' * (3 * 1024 * 1024) + '\\n') * 4)\n"
    "print(json.dumps({'loss': 10 + n}), flush=True)\n"
)
SPEC = {
    "apiVersion": "tuneop.dev/v1alpha1",
    "kind": "TuningSession",
    "metadata": {"name": "flooded"},
    "spec": {
        "objective": {"metric": "loss"},
        "trials": [{"x": 0}, {"x": 1}],
        "trialsPerJob": 2,
        "maxParallel": 1,
        "trialTimeoutSeconds": 120,
        "runner": {"image": "tuneop/runner:0.1.0", "objectiveCommand": ["python", "-c", WORKER]},
    },
}
MB = 1024 * 1024


def _ballast(mb: int) -> bytearray:
    """``mb`` MB this process really holds (every page written)."""
    ballast = bytearray(mb * MB)
    for at in range(0, len(ballast), 4096):
        ballast[at] = 1
    return ballast


def test_a_flooded_run_started_by_a_big_pytest_is_held_to_its_own_peak(user: User) -> None:
    user.write("flooded.yaml", json.dumps(SPEC))  # JSON is YAML
    ballast = _ballast(PEAK_MB + 50)  # pytest, late in a long run: bigger than the bound
    try:
        seen = capped(user, "run", "flooded.yaml", "--local", "--no-report", "--no-progress")
        parent_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        del ballast

    assert seen.seen.code == 0, seen
    assert "Traceback" not in seen.seen.err, seen
    # The forking process really was over the bound (what ru_maxrss would have reported)...
    assert parent_mb > PEAK_MB
    # ...and the run, which read 24 MB of its trials' output, is measured at its own peak.
    assert 20 < seen.peak_mb < PEAK_MB, seen
    results = user.path("tuneop-results/flooded/trials")
    for n in (0, 1):
        doc = json.loads((results / f"trial-{n:06d}.json").read_text())
        assert doc["objective"]["value"] == 10 + n, doc


def test_what_the_command_itself_holds_is_its_peak(user: User) -> None:
    # 150 MB written, then an exit at once: the high-water mark keeps it after it is freed.
    hold = "b = bytearray(150 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\n"
    ran = run_capped(
        sys.executable,
        ["-c", hold],
        cwd=user.cwd,
        env=user.env,
        address_space=1 << 30,
        timeout=120,
    )
    assert ran.code == 0, ran
    assert 150 <= ran.peak_mb < 200, ran


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_command_past_its_timeout_fails_and_its_group_is_gone(user: User) -> None:
    script = f"sleep 300 & echo $! > {user.path('child.pid')}; sleep 300"
    t0 = time.monotonic()
    with pytest.raises(AssertionError, match="still running after 10"):
        run_capped(
            "sh", ["-c", script], cwd=user.cwd, env=user.env, address_space=1 << 30, timeout=10
        )
    assert time.monotonic() - t0 < 60
    child = int(user.path("child.pid").read_text())
    give_up = time.monotonic() + 10  # SIGKILL was sent: wait for it to land, not a sleep
    while _running(child) and time.monotonic() < give_up:
        time.sleep(0.05)
    assert not _running(child), f"the command's background child {child} outlived the timeout"
