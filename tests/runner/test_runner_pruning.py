"""The runner's intermediate reports and early stopping, as a real worker process.

An objective reports with ``report(step, value)`` and asks ``should_prune()``;
a command reports through its output in either metric format. With
``TUNEOP_EARLY_STOPPING`` and a journal file as the storage, the worker's
trials meet in one Optuna study and the pruner ends the hopeless ones.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
from runner_harness import Run, trials_json

from tuneop_runner.cli import EXIT_CONFIG
from tuneop_runner.contract import INTERMEDIATE_PREFIX, format_intermediate_line

Runner = Callable[[Mapping[str, str], Sequence[str]], Run]
CURVE = "tuneop_runner.objectives.curves:learning_curve"
OBJECTIVES = textwrap.dedent(
    """
    import optuna
    from tuneop_runner import TrialPruned, report, should_prune

    def steps(params):
        for s in range(1, 4):
            report(s, {"acc": s / 10, "loss": 1 - s / 10})
        return {"acc": 0.3}

    def ours(params):
        report(1, 0.1)
        report(2, 0.2)
        raise TrialPruned()

    def optunas(params):
        report(5, 0.5)
        raise optuna.TrialPruned()

    def bad_step(params):
        report(-1, 0.5)
        return {"acc": 1.0}
    """
)


def early(kind: str = "median", **settings: int) -> str:
    doc = {
        "type": kind,
        "settings": settings,
        "metric": "accuracy",
        "direction": "maximize",
        "study": "tuneop:default/test:-:0",
    }
    return json.dumps(doc)


def intermediate(run: Run) -> list[dict[str, object]]:
    lines = [x for x in run.stdout.splitlines() if x.startswith(INTERMEDIATE_PREFIX)]
    return [json.loads(x[len(INTERMEDIATE_PREFIX) :]) for x in lines]


@pytest.fixture
def objectives(tmp_path: Path) -> None:
    (tmp_path / "objs.py").write_text(OBJECTIVES)


def test_each_report_is_one_intermediate_line_before_the_result(
    runner: Runner, objectives: None
) -> None:
    run = runner(
        {"TUNEOP_TRIALS": trials_json({}), "TUNEOP_OBJECTIVE": "objs:steps", "TUNEOP_METRIC": "acc"}
    )
    assert run.returncode == 0, run.stderr
    expected = [
        format_intermediate_line(0, s, {"acc": s / 10, "loss": 1 - s / 10}) for s in (1, 2, 3)
    ]
    assert [x for x in run.stdout.splitlines() if x.startswith(INTERMEDIATE_PREFIX)] == expected
    # The result, then the end of the trial's frame (tuneop_runner.frames).
    assert run.stdout.splitlines()[-2].startswith("TUNEOP_RESULT ")
    assert run.stdout.splitlines()[-1].startswith("TUNEOP_END ")


@pytest.mark.parametrize(
    ("objective", "metrics", "error"),
    [
        pytest.param("objs:ours", {"acc": 0.2}, "pruned at step 2 by early stopping", id="ours"),
        pytest.param(
            "objs:optunas", {"acc": 0.5}, "pruned at step 5 by early stopping", id="optuna"
        ),
    ],
)
def test_trial_pruned_ends_the_trial_as_pruned_with_its_last_metrics(
    runner: Runner, objectives: None, objective: str, metrics: dict[str, float], error: str
) -> None:
    env = {
        "TUNEOP_TRIALS": trials_json({}, {}),
        "TUNEOP_OBJECTIVE": objective,
        "TUNEOP_METRIC": "acc",
    }
    run = runner(env)
    assert run.returncode == 0, run.stderr  # pruned is no failure: the Job is not retried
    assert [(r["status"], r["metrics"], r["error"]) for r in run.results] == [
        ("pruned", metrics, error)
    ] * 2
    assert "Traceback" not in run.stderr


def test_a_bad_step_fails_its_trial(runner: Runner, objectives: None) -> None:
    env = {"TUNEOP_TRIALS": trials_json({}), "TUNEOP_OBJECTIVE": "objs:bad_step"}
    run = runner(env)
    assert run.returncode == 1
    assert "step must be an integer" in str(run.results[0]["error"])


COMMAND = textwrap.dedent(
    """
    import json, sys, time
    print("TUNEOP_INTERMEDIATE " + json.dumps({"step": 1, "metrics": {"accuracy": 0.2}}))
    print("epoch=2 accuracy=0.4 loss=0.9")
    print("accuracy=0.5")
    print("TUNEOP_INTERMEDIATE {broken")
    sys.stdout.flush()
    time.sleep(float(json.load(sys.stdin).get("pause", 0)))
    print(json.dumps({"accuracy": 0.6}))
    """
)


def test_a_command_reports_in_either_format(runner: Runner, tmp_path: Path) -> None:
    (tmp_path / "cmd.py").write_text(COMMAND)
    env = {
        "TUNEOP_TRIALS": trials_json({}),
        "TUNEOP_OBJECTIVE_COMMAND": json.dumps(["python3", "cmd.py"]),
        "TUNEOP_METRIC": "accuracy",
    }
    run = runner(env)
    assert run.returncode == 0, run.stderr
    got = [(x["trial"], x["step"], x["metrics"]) for x in intermediate(run)]
    assert got == [(0, 1, {"accuracy": 0.2}), (0, 2, {"accuracy": 0.4}), (0, 3, {"accuracy": 0.5})]
    assert run.results[0]["metrics"] == {"accuracy": 0.6}


@pytest.mark.parametrize(
    ("kind", "settings"),
    [
        pytest.param("median", {"n_startup_trials": 2, "n_warmup_steps": 3}, id="median"),
        pytest.param(
            "successiveHalving", {"min_resource": 1, "reduction_factor": 2}, id="successive-halving"
        ),
        pytest.param(
            "hyperband",
            {"min_resource": 1, "max_resource": 10, "reduction_factor": 2},
            id="hyperband",
        ),
    ],
)
def test_a_worker_prunes_against_its_earlier_trials_in_a_journal_file(
    runner: Runner, tmp_path: Path, kind: str, settings: dict[str, int]
) -> None:
    good, fair, bad = ({"x": x, "steps": 10} for x in (0.3, 0.2, -1.0))
    env = {
        "TUNEOP_TRIALS": trials_json(good, fair, bad, good, bad, bad),
        "TUNEOP_OBJECTIVE": CURVE,
        "TUNEOP_METRIC": "accuracy",
        "TUNEOP_EARLY_STOPPING": early(kind, **settings),
        "TUNEOP_PRUNING_STORAGE": str(tmp_path / "pruning.journal"),
    }
    run = runner(env)
    assert run.returncode == 0, run.stderr
    statuses = [r["status"] for r in run.results]
    # The first trial has nothing to be judged against; a bad one is stopped (Hyperband
    # judges a trial only within its bracket, so not every bad one need be).
    assert statuses[0] == "succeeded" and "pruned" in {statuses[i] for i in (2, 4, 5)}
    first = statuses.index("pruned", 2)
    steps = [x["step"] for x in intermediate(run) if x["trial"] == first]
    assert run.results[first]["error"] == f"pruned at step {steps[-1]} by early stopping"
    assert len(steps) < 10
    if kind == "median":  # no trial is stopped before its warm-up step
        assert statuses == ["succeeded", "succeeded", "pruned", "succeeded", "pruned", "pruned"]
        assert steps == [1, 2, 3]


def test_a_command_is_stopped_when_pruned(runner: Runner, tmp_path: Path) -> None:
    (tmp_path / "cmd.py").write_text(COMMAND)
    journal = str(tmp_path / "pruning.journal")
    common = {
        "TUNEOP_OBJECTIVE_COMMAND": json.dumps(["python3", "cmd.py"]),
        "TUNEOP_METRIC": "accuracy",
        "TUNEOP_EARLY_STOPPING": early(n_startup_trials=1),
        "TUNEOP_PRUNING_STORAGE": journal,
    }
    # A finished trial whose curve is far above the command's: the command is below its median.
    first = runner(
        {
            **common,
            "TUNEOP_TRIALS": trials_json({"x": 0.3}),
            "TUNEOP_OBJECTIVE": CURVE,
            "TUNEOP_OBJECTIVE_COMMAND": "",
        }
    )
    assert first.results[0]["status"] == "succeeded", first.stderr
    started = time.monotonic()
    run = runner({**common, "TUNEOP_TRIALS": trials_json({"pause": 20}, first=1)})
    assert time.monotonic() - started < 15, "the pruned command was not stopped"
    assert run.returncode == 0, run.stderr
    assert run.results[0]["status"] == "pruned"
    assert run.results[0]["metrics"] == {"accuracy": 0.2}


@pytest.mark.parametrize(
    ("env", "says"),
    [
        pytest.param({"TUNEOP_EARLY_STOPPING": "{oops"}, "is not a pruner's JSON", id="not-json"),
        pytest.param({"TUNEOP_EARLY_STOPPING": early("asha")}, "unknown type", id="unknown-type"),
        pytest.param(
            {"TUNEOP_EARLY_STOPPING": early(max_resource=3)}, "bad settings", id="foreign-setting"
        ),
    ],
)
def test_a_bad_pruner_is_a_configuration_error(
    runner: Runner, env: dict[str, str], says: str
) -> None:
    run = runner({"TUNEOP_TRIALS": trials_json({"x": 0.3}), "TUNEOP_OBJECTIVE": CURVE, **env})
    assert run.returncode == EXIT_CONFIG  # the reserved code: the Job fails at once
    assert says in run.stderr and "Traceback" not in run.stderr


def test_without_a_storage_trials_report_and_are_never_pruned(runner: Runner) -> None:
    env = {
        "TUNEOP_TRIALS": trials_json({"x": 0.3, "steps": 3}, {"x": -1.0, "steps": 3}),
        "TUNEOP_OBJECTIVE": CURVE,
        "TUNEOP_METRIC": "accuracy",
        "TUNEOP_EARLY_STOPPING": early(n_startup_trials=0),
    }
    run = runner(env)
    assert [r["status"] for r in run.results] == ["succeeded", "succeeded"]
    assert run.stderr.count("TUNEOP_PRUNING_STORAGE is not set") == 1
    assert len(intermediate(run)) == 6
