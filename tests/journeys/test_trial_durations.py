"""Every trial records its wall time, from its process's start to its exit, script or
runner; the report's duration chart and the Optuna export use it."""

from __future__ import annotations

import json
import re

import optuna
from user import User

SCRIPT_SESSION = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata: {name: script-time}
spec:
  objective: {metric: loss}
  searchSpace: [{name: x, type: int, min: 0, max: 1}]
  optimizer: {type: grid}
  maxParallel: 2
  metricsCollector: {kind: StdOut}
  template:
    spec:
      containers:
        - name: trial
          image: python:3.11-slim
          command: [python, train.py]
"""

# The objective itself is quick; the worker is not (its module takes 0.8 s to import,
# as a training script's imports of torch or sklearn do).
RUNNER_SESSION = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata: {name: runner-time}
spec:
  objective: {metric: loss}
  searchSpace: [{name: x, type: int, min: 0, max: 1}]
  optimizer: {type: grid}
  maxParallel: 2
  runner:
    image: tuneop/runner:0.1.0
    objective: slowimport:objective
"""


def records(user: User, name: str) -> list[dict[str, object]]:
    folder = user.path(f"tuneop-results/{name}/trials")
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def test_a_script_trial_records_its_wall_time(user: User) -> None:
    user.write("train.py", "import time\ntime.sleep(0.8)\nprint('loss=1.0')\n")
    user.write("s.yaml", SCRIPT_SESSION)
    seen = user.tuneop("run", "s.yaml", "--local")
    assert seen.code == 0, seen
    for r in records(user, "script-time"):
        assert isinstance(r["durationSeconds"], float), r
        assert 0.8 <= r["durationSeconds"] < 0.8 + 10, r


def test_a_runner_trial_records_its_workers_wall_time_not_only_the_call(user: User) -> None:
    user.write(
        "slowimport.py",
        "import time\ntime.sleep(0.8)\n\ndef objective(params):\n    return {'loss': 1.0}\n",
    )
    user.write("s.yaml", RUNNER_SESSION)
    seen = user.tuneop("run", "s.yaml", "--local")
    assert seen.code == 0, seen
    for r in records(user, "runner-time"):
        assert isinstance(r["durationSeconds"], float), r
        assert 0.8 <= r["durationSeconds"] < 0.8 + 10, r


def test_the_report_and_the_export_show_those_durations(user: User) -> None:
    user.write("train.py", "import time\ntime.sleep(0.8)\nprint('loss=1.0')\n")
    user.write("s.yaml", SCRIPT_SESSION)
    assert user.tuneop("run", "s.yaml", "--local", "--report").code == 0
    folder = "tuneop-results/script-time"
    durations = {r["trial"]: r["durationSeconds"] for r in records(user, "script-time")}

    page = user.path(f"{folder}/report.html").read_text()
    assert "no trial reported its duration" not in page
    chart = re.search(r'data-plot="durations"', page)
    assert chart is not None

    seen = user.tuneop("export", folder, "--optuna-storage", "sqlite:///s.db")
    assert seen.code == 0, seen
    storage = f"sqlite:///{user.path('s.db')}"
    study = optuna.load_study(study_name=optuna.get_all_study_names(storage)[0], storage=storage)
    for t in study.trials:
        trial = t.user_attrs["tuneop.trial"]
        assert t.user_attrs["tuneop.durationSeconds"] == durations[trial]
        assert t.duration is not None
        assert abs(t.duration.total_seconds() - float(durations[trial])) < 0.01  # the timeline
