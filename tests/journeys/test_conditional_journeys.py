"""Conditional parameters (``when``), as a user meets them: plan, run, report, export.

The user plans ``examples/conditional-optimizer.yaml`` (``momentum`` only for ``sgd``,
``beta1`` only for ``adam``) and reads when each one is active; runs it locally and
finds every trial holding exactly the parameters its optimizer uses (its objective fails
a trial that breaks the condition, so a run where every trial succeeds honoured it);
runs the same space as a grid, a random and a quasi-random search; sees an inactive
parameter's ``${params.NAME}`` become empty in a command; reads the conditions in the
report and the export; and a condition that cannot hold is refused in one line.
"""

from __future__ import annotations

import json
from typing import Any

import optuna
import pytest
import yaml
from user import User

EXAMPLE = "examples/conditional-optimizer.yaml"
USES = {"sgd": "momentum", "adam": "beta1"}


def _params(user: User, name: str) -> list[dict[str, Any]]:
    folder = user.path(f"tuneop-results/{name}/trials")
    docs = [json.loads(f.read_text()) for f in sorted(folder.glob("trial-*.json"))]
    assert all(d["outcome"] == "Succeeded" for d in docs), docs
    return [d["params"] for d in docs]


def _honoured(params: dict[str, Any]) -> bool:
    """Exactly the parameters the trial's optimizer uses."""
    return set(params) == {"optimizer", "lr", USES[params["optimizer"]]}


def _variant(user: User, name: str, **spec: Any) -> str:
    doc = yaml.safe_load(user.path(EXAMPLE).read_text())
    doc["metadata"]["name"] = name
    doc["spec"].update(spec)
    user.write(f"{name}.yaml", yaml.safe_dump(doc))
    return f"{name}.yaml"


def test_plan_says_when_each_conditional_parameter_is_active(user: User) -> None:
    seen = user.tuneop("plan", EXAMPLE)
    assert seen.code == 0, seen
    assert "momentum: only when optimizer is sgd" in seen.out
    assert "beta1: only when optimizer is adam" in seen.out
    shown = [json.loads(t) for t in seen.out.split("│") if t.strip().startswith('{"optimizer"')]
    assert len(shown) == 4 and all(_honoured(p) for p in shown), seen.out


def test_a_conditional_session_runs_locally_with_the_condition_in_every_trial(
    user: User,
) -> None:
    seen = user.tuneop("run", EXAMPLE, "--local", "--no-report")
    assert seen.code == 0, seen
    params = _params(user, "conditional-optimizer")
    assert len(params) == 16 and all(_honoured(p) for p in params), params
    assert {p["optimizer"] for p in params} == {"sgd", "adam"}


@pytest.mark.parametrize("kind", ["random", "qmc"])
def test_random_and_quasi_random_searches_honour_the_condition(user: User, kind: str) -> None:
    path = _variant(user, f"cond-{kind}", optimizer={"type": kind, "seed": 1})
    seen = user.tuneop("run", path, "--local", "--no-report")
    assert seen.code == 0, seen
    params = _params(user, f"cond-{kind}")
    assert len(params) == 16 and all(_honoured(p) for p in params), params


def test_a_conditional_grid_runs_each_active_combination_once(user: User) -> None:
    space = yaml.safe_load(user.path(EXAMPLE).read_text())["spec"]["searchSpace"]
    space[1].update(min=0.001, max=0.067, step=0.033, log=False)  # 3 values each
    for p in space[2:]:
        p.update(min=0.5, max=0.9, step=0.2)
    grid = {"searchSpace": space, "optimizer": {"type": "grid"}, "totalTrials": None}
    path = _variant(user, "cond-grid", **grid)  # its budget: the grid
    seen = user.tuneop("plan", path)
    assert seen.code == 0, seen
    # 3 lr x (3 momentum + 3 beta1), not 3 x 2 x 3 x 3
    assert "grid search, 18 trials in 18 Jobs" in seen.out, seen.out
    seen = user.tuneop("run", path, "--local", "--no-report")
    assert seen.code == 0, seen
    params = _params(user, "cond-grid")
    assert len(params) == 18 and all(_honoured(p) for p in params), params
    assert len({json.dumps(p, sort_keys=True) for p in params}) == 18


TEMPLATE_SESSION = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata: {name: cond-command}
spec:
  objective: {metric: loss}
  searchSpace:
    - {name: opt, type: categorical, values: [sgd, adam]}
    - {name: momentum, type: float, min: 0.5, max: 0.9, step: 0.4, when: {opt: sgd}}
  optimizer: {type: grid}
  trialTimeoutSeconds: 60
  metricsCollector: {kind: StdOut}
  template:
    spec:
      containers:
        - name: trial
          image: registry.example.com/ml/trainer:1
          command: [python, train.py]
          args: ["--opt=${params.opt}", "--momentum=${params.momentum}"]
"""

TRAIN = """\
import json, os, sys
os.makedirs("seen", exist_ok=True)
with open(f"seen/{os.environ['TUNEOP_TRIAL']}.json", "w") as f:
    json.dump({"args": sys.argv[1:], "params": json.loads(os.environ["TUNEOP_PARAMS"])}, f)
print("loss=1")
"""


def test_an_inactive_parameters_placeholder_is_empty_in_the_command(user: User) -> None:
    user.write("cond.yaml", TEMPLATE_SESSION)
    user.write("train.py", TRAIN)
    seen = user.tuneop("run", "cond.yaml", "--local", "--no-report")
    assert seen.code == 0, seen
    runs = [json.loads(p.read_text()) for p in sorted(user.path("seen").glob("*.json"))]
    got = sorted((r["args"], sorted(r["params"])) for r in runs)
    assert got == [
        (["--opt=adam", "--momentum="], ["opt"]),
        (["--opt=sgd", "--momentum=0.5"], ["momentum", "opt"]),
        (["--opt=sgd", "--momentum=0.9"], ["momentum", "opt"]),
    ]


def test_the_report_and_the_export_say_the_conditions(user: User) -> None:
    assert user.tuneop("run", EXAMPLE, "--local", "--no-report").code == 0
    folder = "tuneop-results/conditional-optimizer"
    seen = user.tuneop("report", folder, "-o", "report.html")
    assert seen.code == 0, seen
    page = user.path("report.html").read_text()
    assert "momentum: only when optimizer is sgd" in page
    seen = user.tuneop("export", folder, "--optuna-storage", "sqlite:///s.db")
    assert seen.code == 0, seen
    study = optuna.load_study(
        study_name="default/conditional-optimizer", storage=f"sqlite:///{user.path('s.db')}"
    )
    assert study.user_attrs["tuneop.conditions"] == {
        "momentum": "only when optimizer is sgd",
        "beta1": "only when optimizer is adam",
    }
    assert len(study.trials) == 16
    assert all(_honoured(t.params) for t in study.trials)
    assert all(set(t.distributions) == set(t.params) for t in study.trials)


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ({"optimiser": "sgd"}, "searchSpace[2].when.optimiser: must name a parameter of"),
        ({"optimizer": "sgdd"}, 'searchSpace[2].when.optimizer: "sgdd" is not a value of'),
        ({"lr": 0.01}, "searchSpace[2].when.lr: the parent must be categorical or an int"),
        ({"beta1": 0.9}, "searchSpace[2].when.beta1: the parent must be categorical"),
    ],
    ids=["unknown-parent", "not-a-choice", "continuous-parent", "continuous-chain"],
)
def test_a_condition_that_cannot_hold_is_refused_in_one_line(
    user: User, when: dict[str, Any], message: str
) -> None:
    space = yaml.safe_load(user.path(EXAMPLE).read_text())["spec"]["searchSpace"]
    space[2]["when"] = when
    path = _variant(user, "cond-bad", searchSpace=space)
    for command in (("plan", path), ("run", path, "--local")):
        seen = user.tuneop(*command)
        assert seen.code == 2, seen
        lines = seen.err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in seen.err, seen
        assert message in lines[0], lines[0]
    assert not user.path("tuneop-results/cond-bad").exists()
