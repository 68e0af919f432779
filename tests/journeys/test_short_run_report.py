"""A local run of a few seconds writes its report only when asked; a longer one always.

The report (plotly and Optuna's visualization imported, every figure drawn) costs a
short run most of its time, and its summary is on the screen already: a run under
``REPORT_MIN_SECONDS`` ends with the command that writes the report instead, and that
command, pasted as printed, writes it where the run would have. ``--report`` writes it
however short the run; a run that took longer writes it without being asked.
"""

from __future__ import annotations

import shlex

import pytest
from user import Seen, User

from tuneop.cli.run_command import REPORT_MIN_SECONDS

# One quick trial: the run takes well under REPORT_MIN_SECONDS even on a loaded machine.
QUICK = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata: {name: quick}
spec:
  objective: {metric: loss}
  searchSpace: [{name: x, type: int, min: 0, max: 0}]
  optimizer: {type: grid}
  runner:
    image: tuneop/runner:0.1.0
    objective: tuneop_runner.objectives.functions:quadratic
"""

# Two trials one after the other, each sleeping past half of REPORT_MIN_SECONDS.
SLOW = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata: {name: slow}
spec:
  objective: {metric: loss}
  searchSpace: [{name: x, type: int, min: 0, max: 1}]
  optimizer: {type: grid}
  maxParallel: 1
  runner:
    image: tuneop/runner:0.1.0
    objective: slow:objective
"""
SLOW_OBJECTIVE = f"""\
import time

def objective(params):
    time.sleep({REPORT_MIN_SECONDS / 2 + 0.2})
    return {{"loss": float(params["x"])}}
"""


def last_line(seen: Seen) -> str:
    return seen.out.strip().splitlines()[-1]


def run(user: User, name: str, *flags: str) -> Seen:
    user.write(f"{name}.yaml", {"quick": QUICK, "slow": SLOW}[name])
    user.write("slow.py", SLOW_OBJECTIVE)
    seen = user.tuneop("run", f"{name}.yaml", "--local", "--results-dir", "my results", *flags)
    assert seen.code == 0, seen
    assert "Traceback" not in seen.both, seen
    return seen


def test_a_short_run_prints_the_command_that_writes_its_report_and_that_command_writes_it(
    user: User,
) -> None:
    seen = run(user, "quick")
    assert "Succeeded" in seen.out, seen
    page = user.path("my results/quick/report.html")
    assert not page.exists()
    line = last_line(seen)
    assert line.startswith(f"report: not written for a run under {REPORT_MIN_SECONDS:g} s"), line
    assert "--report" in line
    command = shlex.split(line.split("to write it now: ", 1)[1])
    assert command[:2] == ["tuneop", "report"], line
    wrote = user.tuneop(*command[1:])
    assert wrote.code == 0, wrote
    assert page.is_file() and page.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("name", "flags", "why"),
    [
        ("quick", ("--report",), "asked for"),
        ("slow", (), "a run that took longer than REPORT_MIN_SECONDS"),
    ],
)
def test_the_report_is_written_and_named_last(
    user: User, name: str, flags: tuple[str, ...], why: str
) -> None:
    seen = run(user, name, *flags)
    assert last_line(seen) == f"report: my results/{name}/report.html", (why, seen)
    assert user.path(f"my results/{name}/report.html").is_file(), why


def test_report_and_no_report_together_are_refused(user: User) -> None:
    user.write("quick.yaml", QUICK)
    seen = user.tuneop("run", "quick.yaml", "--local", "--report", "--no-report")
    assert seen.code == 2, seen
    assert "not allowed with argument --report" in seen.err, seen
    assert not user.path("tuneop-results").exists()


EXTENDED = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata: {{name: extended}}
spec:
  objective: {{metric: loss}}
  searchSpace: [{{name: x, type: float, min: 0, max: 1}}]
  optimizer: {{type: random, seed: 1}}
  totalTrials: {trials}
  runner:
    image: tuneop/runner:0.1.0
    objective: tuneop_runner.objectives.functions:quadratic
"""


def test_a_short_run_extending_a_session_says_its_report_is_from_an_earlier_run(
    user: User,
) -> None:
    user.write("extended.yaml", EXTENDED.format(trials=1))
    argv = ("run", "extended.yaml", "--local", "--results-dir", "my results")
    first = user.tuneop(*argv, "--report")
    assert last_line(first) == "report: my results/extended/report.html", first
    user.write("extended.yaml", EXTENDED.format(trials=2))  # raised: the session goes on
    seen = user.tuneop(*argv)
    assert seen.code == 0, seen
    assert "(the report.html there is from an earlier run)" in last_line(seen), seen
