"""Katib's median stop (`earlyStopping.type: medianStop`) for trials that print their
metrics (`metricsCollector.kind: StdOut`): a local run reads the first values of each
running trial and stops one whose best first values are worse than the succeeded
trials' mean, recording it Pruned with its curve; and Katib's own median-stop example
(vendored, v0.19.0) imports to it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from user import User

KATIB = Path(__file__).parent / "katib_v0.19.0"

SESSION = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata: {name: median}
spec:
  objective: {metric: loss, direction: minimize}
  trials: [{x: 1.0}, {x: 1.1}, {x: 5.0}, {x: 0.9}, {x: 6.0}]
  maxParallel: 1
  trialTimeoutSeconds: 120
  metricsCollector: {kind: StdOut}
  earlyStopping: {type: medianStop, minTrialsRequired: 2, startStep: 2}
  template:
    spec:
      containers:
        - name: trial
          image: registry.example.com/train:1
          command: [python, train.py, "${params.x}"]
"""

# Eight epochs of a second each: a trial that runs to its end takes eight seconds.
TRAIN = """\
import sys, time
x = float(sys.argv[1])
for epoch in range(1, 9):
    print(f"epoch {epoch}: loss={(x - 1) ** 2 + 1 / epoch}", flush=True)
    time.sleep(1)
"""


def test_a_trial_worse_than_the_succeeded_ones_is_stopped_early_and_pruned(user: User) -> None:
    user.write("train.py", TRAIN)
    user.write("s.yaml", SESSION)
    seen = user.tuneop("run", "s.yaml", "--local", "--no-report")
    assert seen.code == 0, seen
    folder = user.path("tuneop-results/median/trials")
    got = {r["params"]["x"]: r for r in (json.loads(p.read_text()) for p in folder.glob("*.json"))}
    outcomes = {x: r["outcome"] for x, r in got.items()}
    assert outcomes == {
        1.0: "Succeeded",
        1.1: "Succeeded",
        5.0: "Pruned",
        0.9: "Succeeded",
        6.0: "Pruned",
    }, outcomes
    for x in (5.0, 6.0):
        pruned = got[x]
        assert 2 <= len(pruned["intermediate"]) < 8, pruned  # stopped after its second epoch
        assert pruned["durationSeconds"] is None or pruned["durationSeconds"] < 7, pruned
        assert "medianStop" in (pruned["error"] or ""), pruned
    assert len(got[0.9]["intermediate"]) == 8  # judged and kept: it ran to its end


def test_katibs_median_stop_example_imports_to_median_stop(user: User) -> None:
    shutil.copy(KATIB / "median-stop.yaml", user.path("median-stop.yaml"))
    seen = user.tuneop("import", "katib", "median-stop.yaml", "-o", "s.yaml")
    assert seen.code == 0, seen
    assert "earlyStopping" not in seen.err  # carried over, not a note
    spec = yaml.safe_load(user.path("s.yaml").read_text())["spec"]
    assert spec["earlyStopping"] == {"type": "medianStop", "minTrialsRequired": 1, "startStep": 2}
    assert user.tuneop("plan", "s.yaml").code == 0
