"""Normal and log-normal parameters, as a user meets them: plan, run, report, export, import.

The user runs ``examples/sphere-normal.yaml`` (a normal, a log-normal and a stepped int
normal parameter), reads in ``tuneop plan`` what each one is drawn from, finds trials
whose values spread as Katib's hyperopt service spreads them (past ``min`` and ``max``
too), reads the draw in the report and the exported Optuna study; an optimizer that
cannot draw them refuses in one line; and a Katib Experiment with ``distribution:
normal`` imports to a session that runs locally.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import optuna
import yaml
from user import User

EXAMPLE = "examples/sphere-normal.yaml"


def _params(user: User, name: str) -> list[dict[str, float]]:
    folder = user.path(f"tuneop-results/{name}/trials")
    return [json.loads(f.read_text())["params"] for f in sorted(folder.glob("trial-*.json"))]


def test_plan_says_what_each_normal_parameter_is_drawn_from(user: User) -> None:
    seen = user.tuneop("plan", EXAMPLE)
    assert seen.code == 0, seen
    assert "x: normal: value ~ N(mean 1, sd 1); min and max are the mean -/+ 3 sd" in seen.out
    assert "lr: logNormal: log(value) ~ N(mean -6.90776, sd 0.767528)" in seen.out
    assert "depth: normal: value ~ N(mean 4, sd 1), rounded to a multiple of 2" in seen.out


def test_a_session_of_normal_parameters_runs_locally_and_draws_them(user: User) -> None:
    seen = user.tuneop("run", EXAMPLE, "--local", "--no-report")
    assert seen.code == 0, seen
    params = _params(user, "sphere-normal")
    assert len(params) == 40
    xs = [p["x"] for p in params]
    assert abs(statistics.mean(xs) - 1) < 0.5 and 0.6 < statistics.stdev(xs) < 1.4
    logs = [math.log(p["lr"]) for p in params]
    assert abs(statistics.mean(logs) - math.log(1e-3)) < 0.4
    assert all(isinstance(p["depth"], int) and p["depth"] % 2 == 0 for p in params)


def test_tpe_runs_a_normal_parameter_locally(user: User) -> None:
    doc = yaml.safe_load(user.path(EXAMPLE).read_text())
    doc["metadata"]["name"] = "sphere-normal-tpe"
    doc["spec"].update(optimizer={"type": "bayesian", "seed": 3}, totalTrials=16)
    user.write("tpe.yaml", yaml.safe_dump(doc))
    seen = user.tuneop("run", "tpe.yaml", "--local", "--no-report")
    assert seen.code == 0, seen
    params = _params(user, "sphere-normal-tpe")
    assert len(params) == 16 and all(p["lr"] > 0 for p in params)


def test_the_report_and_the_export_say_the_draw(user: User) -> None:
    assert user.tuneop("run", EXAMPLE, "--local", "--no-report").code == 0
    seen = user.tuneop("report", "tuneop-results/sphere-normal", "-o", "report.html")
    assert seen.code == 0, seen
    page = user.path("report.html").read_text()
    assert "x: normal: value ~ N(mean 1, sd 1)" in page
    seen = user.tuneop(
        "export", "tuneop-results/sphere-normal", "--optuna-storage", "sqlite:///s.db"
    )
    assert seen.code == 0, seen
    study = optuna.load_study(
        study_name="default/sphere-normal", storage=f"sqlite:///{user.path('s.db')}"
    )
    drawn = study.user_attrs["tuneop.distributions"]
    assert drawn["lr"].startswith("logNormal: log(value) ~ N(mean -6.90776")
    assert len(study.trials) == 40


def test_grid_with_a_normal_parameter_is_refused_in_one_line(user: User) -> None:
    text = user.path(EXAMPLE).read_text().replace("type: random", "type: grid")
    user.write("grid.yaml", text)
    for command in (("plan", "grid.yaml"), ("run", "grid.yaml", "--local")):
        seen = user.tuneop(*command)
        assert seen.code == 2, seen
        lines = seen.err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in seen.err, seen
        assert (
            "searchSpace[0].distribution: normal and logNormal only with optimizer type random,"
            " qmc, bayesian or hyperband, not grid (x)"
        ) in lines[0]
    assert not Path(user.path("tuneop-results/sphere-normal")).exists()


KATIB = """
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata:
  name: normal-lr
spec:
  objective:
    type: minimize
    objectiveMetricName: loss
  algorithm:
    algorithmName: random
    algorithmSettings:
      - name: random_state
        value: "4"
  parallelTrialCount: 2
  maxTrialCount: 6
  parameters:
    - name: lr
      parameterType: double
      feasibleSpace:
        min: "0.01"
        max: "0.07"
        distribution: normal
    - name: width
      parameterType: int
      feasibleSpace:
        min: "16"
        max: "256"
        step: "16"
        distribution: logNormal
  trialTemplate:
    primaryContainerName: main
    trialParameters:
      - name: lr
        reference: lr
      - name: width
        reference: width
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
                    import sys; assert int(sys.argv[2]) % 16 == 0;
                    print('loss=%s' % abs(float(sys.argv[1]) - 0.03))
                  - ${trialParameters.lr}
                  - ${trialParameters.width}
            restartPolicy: Never
"""


def test_a_katib_experiment_with_normal_parameters_imports_and_runs(user: User) -> None:
    user.write("katib.yaml", KATIB)
    seen = user.tuneop("import", "katib", "katib.yaml", "-o", "session.yaml")
    assert seen.code == 0, seen
    assert "distribution" not in seen.err, seen
    space = yaml.safe_load(user.path("session.yaml").read_text())["spec"]["searchSpace"]
    assert [p.get("distribution") for p in space] == ["normal", "logNormal"]
    seen = user.tuneop("run", "session.yaml", "--local", "--no-report")
    assert seen.code == 0, seen
    params = _params(user, "normal-lr")
    assert len(params) == 6 and all(p["width"] % 16 == 0 for p in params)
