"""Hyperband as a search algorithm, as a user meets it: plan, run locally, import from Katib.

The user runs ``examples/curve-hyperband.yaml`` (Katib's hyperband: brackets of random
configurations at a small budget, the best third relaunched with three times the budget),
reads the brackets in ``tuneop plan``, finds each trial's record saying its bracket, rung
and budget, and the relaunched trials being the best of their rung; and a Katib
Experiment with ``algorithmName: hyperband`` imports to a session that runs locally.
"""

from __future__ import annotations

import json
import time
from typing import Any

import yaml
from user import User, doc_block

EXAMPLE = "examples/curve-hyperband.yaml"


def _records(user: User, name: str) -> dict[int, dict[str, Any]]:
    folder = user.path(f"tuneop-results/{name}/trials")
    docs = (json.loads(f.read_text()) for f in folder.glob("trial-*.json"))
    return {d["trial"]: d for d in docs}


def test_plan_prints_the_brackets(user: User) -> None:
    seen = user.tuneop("plan", EXAMPLE)
    assert seen.code == 0, seen
    assert "hyperband search, 23 trials in 23 Jobs" in seen.out
    assert (
        "hyperband bracket 2: trials 0-8 drawn at random, steps=1; then trials 9-11 the best 3"
        " of the rung before, steps=3; then trial 12 the best 1 of the rung before, steps=9"
    ) in seen.out
    assert "hyperband bracket 0: trials 20-22 drawn at random, steps=9" in seen.out


def test_the_docs_plan_block_prints_the_brackets(user: User) -> None:
    seen = user.sh(doc_block("docs/spec.md", "hyperband-plan"))
    assert seen.code == 0, seen
    assert "hyperband bracket 1: trials 13-17 drawn at random, steps=3" in seen.out


def test_hyperband_runs_locally_relaunching_the_best_of_each_rung(user: User) -> None:
    seen = user.tuneop("run", EXAMPLE, "--local", "--no-report")
    assert seen.code == 0, seen
    records = _records(user, "curve-hyperband")
    assert sorted(records) == list(range(23))
    assert records[0]["hyperband"] == {"bracket": 2, "rung": 0, "resource": 1}
    assert records[12]["hyperband"] == {"bracket": 2, "rung": 2, "resource": 9}
    assert records[20]["hyperband"] == {"bracket": 0, "rung": 0, "resource": 9}

    def value(t: int) -> float:
        return float(records[t]["objective"]["value"])

    # accuracy is maximized: the three best of trials 0-8, relaunched with 3 steps
    best = sorted(range(9), key=value, reverse=True)[:3]
    assert [records[t]["params"] for t in (9, 10, 11)] == [
        {**records[b]["params"], "steps": 3} for b in best
    ]
    top = max((9, 10, 11), key=value)
    assert records[12]["params"] == {**records[top]["params"], "steps": 9}
    assert all(records[t]["params"]["steps"] == 9 for t in (12, 18, 19, 20, 21, 22))


KATIB = """
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata:
  name: hb-katib
spec:
  objective:
    type: minimize
    objectiveMetricName: loss
  algorithm:
    algorithmName: hyperband
    algorithmSettings:
      - name: resource_name
        value: num-epochs
      - name: eta
        value: "2"
      - name: r_l
        value: "4"
  parallelTrialCount: 4
  maxFailedTrialCount: 2
  parameters:
    - name: lr
      parameterType: double
      feasibleSpace:
        min: "0.01"
        max: "0.05"
    - name: num-epochs
      parameterType: int
      feasibleSpace:
        min: "1"
        max: "1"
  trialTemplate:
    primaryContainerName: main
    trialParameters:
      - name: lr
        reference: lr
      - name: epochs
        reference: num-epochs
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            containers:
              - name: main
                image: python:3.12
                command:
                  - python3
                  - -c
                  - >-
                    import sys;
                    print('loss=%s' % (abs(float(sys.argv[1]) - 0.03) / int(sys.argv[2])))
                  - ${trialParameters.lr}
                  - ${trialParameters.epochs}
            restartPolicy: Never
"""


def test_a_katib_hyperband_experiment_imports_and_runs(user: User) -> None:
    user.write("katib.yaml", KATIB)
    seen = user.tuneop("import", "katib", "katib.yaml", "-o", "session.yaml")
    assert seen.code == 0, seen
    assert "algorithmSettings" not in seen.err, seen
    optimizer = yaml.safe_load(user.path("session.yaml").read_text())["spec"]["optimizer"]
    assert optimizer["hyperband"] == {"resource": "num-epochs", "maxResource": 4.0, "eta": 2.0}
    seen = user.tuneop("run", "session.yaml", "--local", "--no-report")
    assert seen.code == 0, seen
    records = _records(user, "hb-katib")
    # r_l 4, eta 2 (Katib's s_max 2): brackets of 4 at 1 epoch, 2 at 2, 1 at 4;
    # 3 at 2, 2 at 4; 3 at 4
    assert len(records) == 15
    epochs = [records[t]["params"]["num-epochs"] for t in range(15)]
    assert epochs == [1, 1, 1, 1, 2, 2, 4, 2, 2, 2, 4, 4, 4, 4, 4]


def test_a_hyperband_run_cut_short_by_ctrl_c_resumes_to_the_same_trials(user: User) -> None:
    """Nothing of the schedule is kept but the results: a rerun after Ctrl-C mid-bracket
    derives the rungs still to run from them, and ends with the trials an uninterrupted
    run has, each once."""
    doc = yaml.safe_load(user.path(EXAMPLE).read_text())
    # each step sleeps: a trial of 9 steps lasts about a second
    doc["spec"]["searchSpace"].append(
        {"name": "stepSeconds", "type": "categorical", "values": [0.12]}
    )
    doc["spec"]["maxParallel"] = 2
    user.write("hb.yaml", yaml.safe_dump(doc))
    proc = user.start("run", "hb.yaml", "--local", "--no-report")
    folder = user.path("tuneop-results/curve-hyperband/trials")
    deadline = time.monotonic() + 120
    while len(list(folder.glob("trial-*.json"))) < 10:  # past the first rung
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the first rung never ended"
        time.sleep(0.1)
    stopped = user.ctrl_c(proc)
    assert stopped.code != 0, stopped
    cut = len(list(folder.glob("trial-*.json")))
    assert cut < 23, "the run ended before Ctrl-C"
    seen = user.tuneop("run", "hb.yaml", "--local", "--no-report")
    assert seen.code == 0, seen
    resumed = _records(user, "curve-hyperband")
    assert sorted(resumed) == list(range(23))
    # the same trials as a run never cut short
    user.write("calm.yaml", yaml.safe_dump({**doc, "metadata": {"name": "calm"}}))
    assert user.tuneop("run", "calm.yaml", "--local", "--no-report").code == 0
    calm = _records(user, "calm")
    assert [resumed[t]["params"] for t in range(23)] == [calm[t]["params"] for t in range(23)]
