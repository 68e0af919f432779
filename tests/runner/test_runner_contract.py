"""The result contract as a worker shows it: lines, statuses, exit codes.

Each test starts the runner as a subprocess with callable objectives (the
built-in testing ones, or a module written into the working directory) and
checks what the operator would read back from the pod log.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
from runner_harness import Run, runner_argv, runner_env, trials_json

from tuneop_runner.cli import EXIT_CONFIG
from tuneop_runner.contract import RESULT_PREFIX

Runner = Callable[[Mapping[str, str], Sequence[str]], Run]

TESTING = "tuneop_runner.objectives.testing"
QUADRATIC = "tuneop_runner.objectives.functions:quadratic"

USER_OBJECTIVES = """
import sys

def returns_number(params):
    return 1.5

def calls_exit(params):
    sys.exit(3)

def mixed_metrics(params):
    return {"loss": 0.5, "name": "abc", "ok": True, "inf": float("inf")}

def mutates(params):
    params["x"] = "changed"
    return {"value": 1}

def catches_everything(params):
    import time
    try:
        time.sleep(params.get("seconds", 0))
    except Exception:
        return {"value": -1}
    return {"value": 0}

class Model:
    @staticmethod
    def score(params):
        return {"value": params["x"] * 2}

not_callable = 42
"""


@pytest.fixture
def user_module(tmp_path: Path) -> str:
    (tmp_path / "user_objectives.py").write_text(textwrap.dedent(USER_OBJECTIVES))
    (tmp_path / "broken_objective.py").write_text("raise RuntimeError('broken at import')\n")
    return "user_objectives"


def env_for(objective: str, *params: Mapping[str, object], **extra: str) -> dict[str, str]:
    return {"TUNEOP_OBJECTIVE": objective, "TUNEOP_TRIALS": trials_json(*params), **extra}


def test_single_trial_prints_one_compact_sorted_line(runner: Runner) -> None:
    run = runner(env_for(QUADRATIC, {"x": 1.0, "y": 0.0}), [])

    assert run.returncode == 0, run.stderr
    assert len(run.result_lines) == 1
    body = run.result_lines[0][len(RESULT_PREFIX) :]
    result = json.loads(body)
    assert body == json.dumps(result, sort_keys=True, separators=(",", ":"))
    assert set(result) == {"trial", "params", "metrics", "status", "error", "durationSeconds"}
    assert result["trial"] == 0
    assert result["params"] == {"x": 1.0, "y": 0.0}
    assert result["metrics"] == {"loss": 5.0}
    assert result["status"] == "succeeded"
    assert result["error"] is None
    assert isinstance(result["durationSeconds"], float)
    assert result["durationSeconds"] >= 0


def test_packed_trials_report_every_trial_in_the_given_order(runner: Runner) -> None:
    trials = json.dumps(
        [
            {"trial": 7, "params": {"x": 3}},
            {"trial": 2, "params": {"x": 4}},
            {"trial": 5, "params": {"x": 0}},
        ]
    )
    run = runner({"TUNEOP_OBJECTIVE": QUADRATIC, "TUNEOP_TRIALS": trials}, [])

    assert run.returncode == 0, run.stderr
    assert [r["trial"] for r in run.results] == [7, 2, 5]
    assert [r["metrics"] for r in run.results] == [{"loss": 0}, {"loss": 1}, {"loss": 9}]


def test_exception_in_middle_trial_keeps_the_others_and_exits_1(runner: Runner) -> None:
    run = runner(
        env_for(f"{TESTING}:fail_when", {"x": 1}, {"fail": True}, {"x": 2}, TUNEOP_METRIC="value"),
        [],
    )

    assert run.returncode == 1
    assert [r["status"] for r in run.results] == ["succeeded", "failed", "succeeded"]
    assert run.results[1]["error"] == "ValueError: failing on purpose (fail is set)"
    assert run.results[1]["metrics"] == {}
    assert [r["metrics"] for r in (run.results[0], run.results[2])] == [
        {"value": 1.0},
        {"value": 2.0},
    ]
    # An unexpected exception is worth its traceback in the pod log.
    assert "Traceback" in run.stderr


@pytest.mark.parametrize(
    ("objective", "error_part"),
    [
        ("no_such_module:f", "ModuleNotFoundError: No module named 'no_such_module'"),
        (f"{TESTING}:no_such_function", "has no attribute 'no_such_function'"),
        ("user_objectives:not_callable", "is not callable"),
        ("no_colon_here", "must look like module:function"),
        ("broken_objective:f", "RuntimeError: broken at import"),
    ],
    ids=["missing-module", "missing-function", "not-callable", "bad-spec", "raises-on-import"],
)
def test_unloadable_objective_is_a_config_error_with_a_failure_line_per_trial(
    runner: Runner, user_module: str, objective: str, error_part: str
) -> None:
    run = runner(env_for(objective, {"x": 1}, {"x": 2}), [])

    assert run.returncode == EXIT_CONFIG
    assert [r["trial"] for r in run.results] == [0, 1]
    assert all(r["status"] == "failed" for r in run.results)
    assert all(error_part in str(r["error"]) for r in run.results)
    assert error_part in run.stderr


def test_bad_trials_exit_78_with_one_clear_line_and_no_traceback(runner: Runner) -> None:
    # The full table of bad inputs is in test_runner_config; this is the real process.
    run = runner({"TUNEOP_OBJECTIVE": QUADRATIC, "TUNEOP_TRIALS": "[{not json"}, [])

    assert run.returncode == EXIT_CONFIG
    assert run.result_lines == []
    assert run.stderr.strip().splitlines() == [
        "tuneop-runner: error: TUNEOP_TRIALS is not valid JSON: "
        "Expecting property name enclosed in double quotes: line 1 column 3 (char 2)"
    ]


def test_bad_settings_exit_78_and_still_report_each_trial(runner: Runner) -> None:
    env = {**env_for(QUADRATIC, {"x": 1}, {"x": 2}), "TUNEOP_OBJECTIVE_COMMAND": '["true"]'}
    run = runner(env, [])

    message = "both TUNEOP_OBJECTIVE and TUNEOP_OBJECTIVE_COMMAND are set; set exactly one"
    assert run.returncode == EXIT_CONFIG
    assert run.stderr.strip().splitlines() == [f"tuneop-runner: error: {message}"]
    assert [(r["trial"], r["status"], r["error"]) for r in run.results] == [
        (0, "failed", message),
        (1, "failed", message),
    ]


@pytest.mark.parametrize(
    ("metric_env", "returncode"),
    [({"TUNEOP_METRIC": "value"}, 1), ({}, 0)],
    ids=["metric-required", "metric-not-required"],
)
def test_nan_metric_is_written_as_null_and_named_in_error(
    runner: Runner, metric_env: dict[str, str], returncode: int
) -> None:
    run = runner(env_for(f"{TESTING}:nan", {}, **metric_env), [])

    assert run.returncode == returncode
    (result,) = run.results
    assert result["status"] == "succeeded"
    assert result["metrics"] == {"value": None}
    assert result["error"] == "metric 'value' is not finite (nan)"
    assert "NaN" not in run.result_lines[0]


def test_missing_objective_metric_exits_1_and_says_so(runner: Runner) -> None:
    run = runner(env_for(QUADRATIC, {"x": 3}, TUNEOP_METRIC="accuracy"), [])

    assert run.returncode == 1
    (result,) = run.results
    assert result["status"] == "succeeded"
    assert result["error"] == "metric 'accuracy' is missing (reported: loss)"


@pytest.mark.parametrize(
    ("function", "status", "metrics", "error"),
    [
        (
            "returns_number",
            "failed",
            {},
            "objective returned float, expected a mapping of metric names to numbers",
        ),
        ("calls_exit", "failed", {}, "SystemExit: 3"),
        (
            "mixed_metrics",
            "succeeded",
            {"loss": 0.5, "ok": True, "name": None, "inf": None},
            "metric 'name' is not a number (str); metric 'inf' is not finite (inf)",
        ),
        ("mutates", "succeeded", {"value": 1}, None),
        ("Model.score", "succeeded", {"value": 8}, None),
    ],
    ids=["bad-return-type", "sys-exit", "mixed-metrics", "mutated-params", "dotted-attribute"],
)
def test_callable_results_are_validated(
    runner: Runner,
    user_module: str,
    function: str,
    status: str,
    metrics: dict[str, object],
    error: str | None,
) -> None:
    run = runner(env_for(f"{user_module}:{function}", {"x": 4}, {"x": 4}), [])

    # Both trials report: even sys.exit in the first does not stop the second.
    assert len(run.results) == 2
    for result in run.results:
        assert result["status"] == status
        assert result["metrics"] == metrics
        assert result["error"] == error
        assert result["params"] == {"x": 4}


@pytest.mark.parametrize(
    ("objective", "first_params"),
    [
        (f"{TESTING}:sleep", {"seconds": 10}),
        ("user_objectives:catches_everything", {"seconds": 10}),
    ],
    ids=["sleeping", "catches-exception"],
)
def test_callable_past_its_timeout_is_reported_as_timeout(
    runner: Runner, user_module: str, objective: str, first_params: dict[str, object]
) -> None:
    started = time.monotonic()
    run = runner(
        env_for(objective, first_params, {}, TUNEOP_TRIAL_TIMEOUT_SECONDS="0.3"),
        [],
    )

    assert time.monotonic() - started < 5
    assert run.returncode == 1
    first, second = run.results
    assert first["status"] == "timeout"
    assert first["error"] == "timed out after 0.3 s"
    assert first["metrics"] == {}
    assert second["status"] == "succeeded"


def test_flags_override_the_environment(runner: Runner) -> None:
    env = {
        "TUNEOP_OBJECTIVE_COMMAND": '["false"]',
        "TUNEOP_TRIALS": "not even json",
        "TUNEOP_METRIC": "missing",
    }
    run = runner(
        env,
        [
            "--objective",
            QUADRATIC,
            "--trials",
            trials_json({"x": 2, "y": -1}),
            "--metric",
            "loss",
            "--timeout",
            "10",
        ],
    )

    assert run.returncode == 0, run.stderr
    assert run.results[0]["metrics"] == {"loss": 1}


def test_lines_already_printed_survive_a_killed_worker(tmp_path: Path) -> None:
    env = {
        "TUNEOP_OBJECTIVE": f"{TESTING}:sleep",
        "TUNEOP_TRIALS": trials_json({"seconds": 0}, {"seconds": 60}),
    }
    proc = subprocess.Popen(
        runner_argv(),
        env=runner_env(env),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    captured = b""
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            give_up = time.monotonic() + 15
            # Until trial 0's result (the frames' announcement comes first).
            while RESULT_PREFIX.encode() not in captured and time.monotonic() < give_up:
                if selector.select(timeout=0.5):
                    chunk = os.read(proc.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    captured += chunk
        os.kill(proc.pid, signal.SIGKILL)
        captured += proc.stdout.read()
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()

    assert proc.returncode == -signal.SIGKILL
    lines = [line for line in captured.decode().splitlines() if line.startswith(RESULT_PREFIX)]
    assert len(lines) == 1
    assert json.loads(lines[0][len(RESULT_PREFIX) :])["trial"] == 0
