"""Slips a user makes on the command line, each answered in one line, exit 2: a flag
that breaks a spec rule names the flag, a negative ``--top-n`` is refused, a Katib
Experiment given to ``run`` or ``plan`` names ``tuneop import katib``, and a Ctrl-C
before a local session started says that nothing ran."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from user import REPO, User

QUICKSTART = "examples/quickstart.yaml"
KATIB = REPO / "tests" / "journeys" / "katib_v0.19.0" / "median-stop.yaml"


@pytest.mark.parametrize(
    ("flag", "line"),
    [
        (
            ["--max-parallel", "0"],
            "error: --max-parallel 0: Input should be greater than or equal to 1"
            " (it sets spec.maxParallel)",
        ),
        (
            ["--trial-timeout", "0"],
            "error: --trial-timeout 0: Input should be greater than or equal to 1"
            " (it sets spec.trialTimeoutSeconds)",
        ),
        (
            ["--retries", "1000"],
            "error: --retries 1000: Input should be less than or equal to 100"
            " (it sets spec.retries)",
        ),
        (["--top-n", "-1"], "error: --top-n: must be 0 or more"),
    ],
    ids=["max-parallel", "trial-timeout", "retries", "top-n"],
)
def test_a_flag_that_breaks_a_rule_is_named_in_one_line(
    user: User, flag: list[str], line: str
) -> None:
    seen = user.tuneop("run", QUICKSTART, "--local", *flag)
    assert seen.code == 2, seen
    assert seen.err.splitlines() == [line], seen
    assert not user.path("tuneop-results").exists()


def test_summary_refuses_a_negative_top_n(user: User) -> None:
    ran = user.tuneop("run", QUICKSTART, "--local", "--no-report")
    assert ran.code == 0, ran
    seen = user.tuneop("summary", "tuneop-results/quickstart", "--top-n", "-3")
    assert (seen.code, seen.err.splitlines()) == (2, ["error: --top-n: must be 0 or more"])


EMPTY = [
    pytest.param(["run", QUICKSTART, "--local", "--results-dir", ""], "--results-dir", id="run"),
    pytest.param(["summary", "r", "--metric", ""], "--metric", id="summary-metric"),
    pytest.param(["report", "r", "-o", ""], "-o/--output", id="report-output"),
    pytest.param(["report", "r", "--metric", " "], "--metric", id="report-metric"),
    pytest.param(
        ["export", "r", "--optuna-storage", "sqlite:///s.db", "--study-name", ""],
        "--study-name",
        id="export-study-name",
    ),
    pytest.param(["results", "a/b", "-o", ""], "-o/--results-dir", id="results-dir"),
]


@pytest.mark.parametrize(("args", "option"), EMPTY)
def test_an_empty_option_is_refused_not_read_as_its_default(
    user: User, args: list[str], option: str
) -> None:
    # An empty value is a slip (an unset variable in a script): the default folder,
    # metric or name read in its place would be a silent surprise.
    seen = user.tuneop(*args)
    assert seen.code == 2, seen
    assert seen.err.splitlines()[-1].endswith(f"error: argument {option}: must not be empty")
    assert not user.path("tuneop-results").exists() and not user.path("s.db").exists()


def test_an_optuna_storage_in_memory_is_refused_by_export_as_by_run(user: User) -> None:
    ran = user.tuneop("run", QUICKSTART, "--local", "--no-report")
    assert ran.code == 0, ran
    url = "sqlite:///:memory:"
    for args in (
        ["export", "tuneop-results/quickstart", "--optuna-storage", url],
        ["run", QUICKSTART, "--local", "--optuna-storage", url],
    ):
        seen = user.tuneop(*args)
        assert seen.code == 2 and len(seen.err.splitlines()) == 1, seen
        assert "a SQLite database in memory: gone when tuneop exits" in seen.err, seen


@pytest.mark.parametrize("command", ["run", "plan"])
def test_a_katib_experiment_given_as_a_session_names_its_converter(
    user: User, command: str
) -> None:
    local = ["--local"] if command == "run" else []
    seen = user.tuneop(command, str(KATIB), *local)
    assert seen.code == 2, seen
    assert seen.err.splitlines() == [
        f"error: {KATIB}: a Katib Experiment, not a TuningSession; convert it with"
        f" tuneop import katib {KATIB} -o session.yaml"
    ], seen


def _reading_stdin(pid: int, timeout: float = 60) -> None:
    """Wait until ``pid`` sleeps with its CPU time still for half a second: blocked,
    its imports done, on the standard input nobody writes to."""
    deadline = time.monotonic() + timeout
    last, still = -1, 0
    while time.monotonic() < deadline:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        state, ticks = fields[0], int(fields[11]) + int(fields[12])  # utime + stime
        still = still + 1 if (state == "S" and ticks == last) else 0
        if still >= 5:
            return
        last = ticks
        time.sleep(0.1)
    raise AssertionError("tuneop never settled reading its standard input")


def test_a_ctrl_c_before_the_session_started_says_nothing_ran(user: User) -> None:
    # The session comes on standard input, which the user has not finished typing.
    proc = user.start("run", "-", "--local", stdin=subprocess.PIPE)
    try:
        _reading_stdin(proc.pid)
        seen = user.ctrl_c(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert seen.code == 2, seen
    assert seen.err.splitlines() == ["error: interrupted before the session started: nothing ran"]
    assert not user.path("tuneop-results").exists()
