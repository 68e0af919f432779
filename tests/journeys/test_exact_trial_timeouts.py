"""`trialTimeoutSeconds` is exact for a script trial too: SIGTERM at the timeout, SIGKILL
2 s later for a script that ignores it (docs/spec.md), not the timeout plus 30 s."""

from __future__ import annotations

import json

from user import User

SESSION = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata: {{name: {name}}}
spec:
  objective: {{metric: loss}}
  searchSpace: [{{name: x, type: int, min: 0, max: 0}}]
  optimizer: {{type: grid}}
  trialTimeoutSeconds: 3
  metricsCollector: {{kind: StdOut}}
  template:
    spec:
      containers:
        - name: trial
          image: python:3.11-slim
          command: [python, train.py]
"""


def only_record(user: User, name: str) -> dict[str, object]:
    (path,) = user.path(f"tuneop-results/{name}/trials").glob("*.json")
    doc: dict[str, object] = json.loads(path.read_text())
    return doc


def test_a_script_is_stopped_at_its_timeout(user: User) -> None:
    user.write("train.py", "import time\nprint('loss=5', flush=True)\ntime.sleep(60)\n")
    user.write("s.yaml", SESSION.format(name="sleepy"))
    seen = user.tuneop("run", "s.yaml", "--local", "--no-report")
    assert seen.code == 1, seen
    r = only_record(user, "sleepy")
    assert r["outcome"] == "TimedOut"
    assert 3.0 <= float(str(r["durationSeconds"])) <= 4.0, r
    assert seen.seconds < 3 + 20, seen  # the run itself, start-up included: not 33 s


def test_a_script_that_ignores_sigterm_is_killed_after_the_grace(user: User) -> None:
    script = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)\n"
    user.write("train.py", script)
    user.write("s.yaml", SESSION.format(name="stubborn"))
    seen = user.tuneop("run", "s.yaml", "--local", "--no-report")
    assert seen.code == 1, seen
    r = only_record(user, "stubborn")
    assert r["outcome"] == "TimedOut"
    assert 3.0 + 2.0 <= float(str(r["durationSeconds"])) <= 3.0 + 2.0 + 1.0, r
