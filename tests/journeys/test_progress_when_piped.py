"""A local run whose output is not a terminal (CI, ``nohup``, ``| tee``) prints plain
progress lines while it runs, flushed as they are written, and wraps no line of its own;
at a terminal the live bar stays as it was."""

from __future__ import annotations

import re
import select
import time

from toy_sessions import session_yaml, with_toy
from user import User

NAME = "a-session-with-a-name-long-enough-to-pass-eighty-columns-on-its-own"
SPEC = {
    "objective": {"metric": "loss", "direction": "minimize"},
    "trials": [{"x": x, "sleep": 0.8} for x in range(6)],
    "maxParallel": 1,
}


def lines_as_they_come(user: User, *args: str, timeout: float = 120) -> list[tuple[float, str]]:
    """Each stdout line with the second it arrived at, read through a pipe."""
    proc = user.start(*args)
    assert proc.stdout is not None
    t0 = time.monotonic()
    seen: list[tuple[float, str]] = []
    while True:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append((time.monotonic() - t0, line.rstrip("\n")))
        assert time.monotonic() - t0 < timeout, seen
    assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
    return seen


def test_a_piped_run_prints_progress_lines_while_it_runs(user: User) -> None:
    with_toy(user)
    user.write("slow.yaml", session_yaml(NAME, "slow_bowl", SPEC))
    seen = lines_as_they_come(user, "run", "slow.yaml", "--local", "--no-report")
    progress = [(t, line) for t, line in seen if line.startswith("progress: ")]
    end = seen[-1][0]
    # Lines arrive during the run (flushed as written), not all at the end.
    during = [t for t, _ in progress if t < end - 1.0]
    assert len(during) >= 2, seen
    assert len(progress) <= 2 + len(SPEC["trials"]), seen  # bounded: not one per reconcile
    assert any(re.search(r"\b[1-5]/6 trials\b", line) for _, line in progress), progress


def test_a_piped_run_wraps_no_line_of_its_own(user: User) -> None:
    with_toy(user)
    user.write("slow.yaml", session_yaml(NAME, "bowl", {**SPEC, "maxParallel": 6}))
    seen = user.tuneop("run", "slow.yaml", "--local", "--no-report")
    assert seen.code == 0, seen
    lines = seen.out.splitlines()
    status = [line for line in lines if line.startswith(f"session {NAME}: Succeeded (")]
    assert len(status) == 1 and status[0].endswith(")"), seen.out
    assert len(status[0]) > 80
    summary = [line for line in lines if line.startswith("6 trials (Succeeded 6)")]
    assert len(summary) == 1 and summary[0].endswith(f"default/{NAME}"), seen.out


def test_plan_piped_keeps_its_heading_on_one_line(user: User) -> None:
    seen = user.tuneop("plan", "examples/quickstart.yaml")
    assert seen.code == 0, seen
    heading = seen.out.splitlines()[0]
    assert heading.startswith("default/quickstart: grid search")
    assert heading.endswith("objective minimize loss"), seen.out


def test_at_a_terminal_the_live_bar_stays_and_no_plain_lines_appear(user: User) -> None:
    with_toy(user)
    user.write("slow.yaml", session_yaml("slow", "slow_bowl", SPEC))
    seen = user.terminal("run", "slow.yaml", "--local", "--no-report", columns=120)
    assert seen.code == 0, seen
    assert "progress: " not in seen.out
    assert "━" in seen.out and "6/6" in seen.out  # rich's bar, redrawn in place
    assert "\r" in seen.out or "\x1b[" in seen.out
