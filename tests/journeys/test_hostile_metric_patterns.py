"""A session's own metric regex (``metricsCollector.metricsFormat``) runs on RE2, as
Katib's Go regexp does, and so does Katib's default filter: a pattern that backtracks
exponentially in Python's ``re`` (or the default filter, quadratic there on long runs of
word characters) reads hostile lines in linear time, and the run ends as usual; what RE2
refuses (a backreference, a lookahead) is one line naming the field, exit 2."""

from __future__ import annotations

import json

import pytest
from user import User

SESSION = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata: {{name: hostile}}
spec:
  objective: {{metric: aaa, direction: minimize}}
  searchSpace: [{{name: x, type: int, min: 0, max: 1}}]
  optimizer: {{type: grid}}
  maxParallel: 1
  trialTimeoutSeconds: 60
  metricsCollector: {{kind: StdOut, metricsFormat: ['{pattern}']}}
  template:
    spec:
      containers:
        - name: trial
          image: registry.example.com/train:1
          command: [python, train.py, "${{params.x}}"]
"""

# Forty a's and no '=': Python's re takes 2^40 steps to give up on ((?:a+)+)=.
TRAIN = """\
import sys
x = int(sys.argv[1])
print("a" * 40 + "!", flush=True)
print(f"aaa={x + 5}", flush=True)
"""


def values(user: User) -> dict[int, float]:
    """Each trial's objective value, from the session's results folder."""
    folder = user.path("tuneop-results/hostile/trials")
    docs = (json.loads(p.read_text()) for p in folder.glob("trial-*.json"))
    return {doc["trial"]: doc["objective"]["value"] for doc in docs}


def test_a_pattern_that_backtracks_reads_a_hostile_line_in_linear_time(user: User) -> None:
    user.write("s.yaml", SESSION.format(pattern="((?:a+)+)=([0-9]+)"))
    user.write("train.py", TRAIN)

    seen = user.tuneop("run", "s.yaml", "--local", "--no-report", timeout=120)

    assert seen.code == 0, seen
    assert values(user) == {0: 5, 1: 6}


@pytest.mark.parametrize(
    ("pattern", "why"),
    [(r"(a+)=(\1)", "invalid escape sequence"), ("(?=a)(a+)=(\\d+)", "invalid perl operator")],
    ids=["backreference", "lookahead"],
)
def test_a_pattern_go_would_refuse_is_refused_naming_the_field(
    user: User, pattern: str, why: str
) -> None:
    user.write("s.yaml", SESSION.format(pattern=pattern))
    user.write("train.py", TRAIN)

    seen = user.tuneop("plan", "s.yaml")

    assert seen.code == 2, seen
    (line,) = seen.err.splitlines()
    assert line.startswith(
        "error: s.yaml: spec.metricsCollector.metricsFormat[0]: not a valid RE2"
    ), line
    assert why in line, line


# A thousand 4 KiB lines that Python's re took 0.2 s each to give up on, then the metric.
FLOOD = """\
import sys
x = int(sys.argv[1])
line = "a" * 4090 + "!=\\n"
sys.stdout.write(line * 1000)
print(f"aaa={x + 5}", flush=True)
"""


def test_the_default_filter_reads_long_hostile_lines_in_linear_time(user: User) -> None:
    spec = SESSION.format(pattern="x").replace(", metricsFormat: ['x']", "")
    user.write("s.yaml", spec)
    user.write("train.py", FLOOD)

    seen = user.tuneop("run", "s.yaml", "--local", "--no-report", timeout=120)

    assert seen.code == 0, seen
    assert values(user) == {0: 5, 1: 6}
