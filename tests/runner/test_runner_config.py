"""Configuration errors, the whole table, through ``cli.main`` in-process.

The subprocess tests in test_runner_contract show one case of each kind in a
real process; here every bad input is checked quickly for the same promises:
exit code 78 (EX_CONFIG, reserved), one clear stderr line, no traceback, and a failure
line per trial
once the trials are known.
"""

from __future__ import annotations

import json

import pytest
from runner_harness import trials_json

from tuneop_runner import cli
from tuneop_runner.cli import EXIT_CONFIG
from tuneop_runner.config import ConfigError, parse_command, parse_timeout, resolve_settings
from tuneop_runner.contract import RESULT_PREFIX

QUADRATIC = "tuneop_runner.objectives.functions:quadratic"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "TUNEOP_TRIALS",
        "TUNEOP_OBJECTIVE",
        "TUNEOP_OBJECTIVE_COMMAND",
        "TUNEOP_METRIC",
        "TUNEOP_TRIAL_TIMEOUT_SECONDS",
        "TUNEOP_SESSION",
        "TUNEOP_JOB_INDEX",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def run_main(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    argv: list[str] | None = None,
) -> tuple[int, list[dict[str, object]], list[str]]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = cli.main(argv or [])
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.startswith(RESULT_PREFIX)]
    results = [json.loads(line[len(RESULT_PREFIX) :]) for line in lines]
    return code, results, err.strip().splitlines()


@pytest.mark.parametrize(
    ("trials", "message"),
    [
        ("[{not json", "TUNEOP_TRIALS is not valid JSON"),
        ('{"trial": 0}', "TUNEOP_TRIALS must be a JSON array"),
        ("[]", "TUNEOP_TRIALS is an empty array"),
        ("[1]", "TUNEOP_TRIALS[0] must be an object"),
        ('[{"trial": -1, "params": {}}]', "TUNEOP_TRIALS[0].trial must be a non-negative integer"),
        ('[{"trial": true, "params": {}}]', "TUNEOP_TRIALS[0].trial must be a non-negative"),
        ('[{"trial": 0, "params": []}]', "TUNEOP_TRIALS[0].params must be an object"),
        ('[{"trial": 0, "params": {"x": NaN}}]', "TUNEOP_TRIALS is not valid JSON: NaN"),
        ("", "no trials given: set TUNEOP_TRIALS or pass --trials"),
        ("   ", "no trials given"),
    ],
    ids=[
        "not-json",
        "not-array",
        "empty",
        "entry-not-object",
        "negative-index",
        "bool-index",
        "params-not-object",
        "nan",
        "empty-string",
        "blank",
    ],
)
def test_bad_trials_exit_with_the_reserved_code_with_one_line_and_no_result_lines(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    trials: str,
    message: str,
) -> None:
    code, results, err = run_main(
        monkeypatch, capsys, {"TUNEOP_OBJECTIVE": QUADRATIC, "TUNEOP_TRIALS": trials}
    )

    assert code == EXIT_CONFIG
    assert results == []
    assert len(err) == 1
    assert err[0].startswith("tuneop-runner: error: ")
    assert message in err[0]


def test_bad_trials_flag_is_named_in_the_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(
        monkeypatch, capsys, {"TUNEOP_OBJECTIVE": QUADRATIC}, ["--trials", "nope"]
    )
    assert code == EXIT_CONFIG
    assert "--trials is not valid JSON" in err[0]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TUNEOP_OBJECTIVE_COMMAND": '["true"]'}, "both TUNEOP_OBJECTIVE and"),
        ({"TUNEOP_OBJECTIVE": ""}, "no objective given"),
        ({"TUNEOP_OBJECTIVE": "  "}, "no objective given"),
        ({"TUNEOP_TRIAL_TIMEOUT_SECONDS": "soon"}, "must be a positive number of seconds"),
        ({"TUNEOP_TRIAL_TIMEOUT_SECONDS": "-1"}, "must be a positive number of seconds"),
        ({"TUNEOP_TRIAL_TIMEOUT_SECONDS": "0"}, "must be a positive number of seconds"),
        ({"TUNEOP_TRIAL_TIMEOUT_SECONDS": "inf"}, "must be a positive number of seconds"),
        (
            {"TUNEOP_OBJECTIVE": "", "TUNEOP_OBJECTIVE_COMMAND": "python x.py"},
            "TUNEOP_OBJECTIVE_COMMAND is not valid JSON",
        ),
        (
            {"TUNEOP_OBJECTIVE": "", "TUNEOP_OBJECTIVE_COMMAND": "[]"},
            "TUNEOP_OBJECTIVE_COMMAND must be a non-empty JSON array of strings",
        ),
        (
            {"TUNEOP_OBJECTIVE": "", "TUNEOP_OBJECTIVE_COMMAND": '["python", 3]'},
            "TUNEOP_OBJECTIVE_COMMAND must be a non-empty JSON array of strings",
        ),
        ({"TUNEOP_OBJECTIVE": "no_such_module_xyz:f"}, "cannot import objective"),
    ],
    ids=[
        "both-objectives",
        "no-objective",
        "blank-objective",
        "timeout-not-a-number",
        "timeout-negative",
        "timeout-zero",
        "timeout-infinite",
        "command-not-json",
        "command-empty",
        "command-not-strings",
        "unimportable",
    ],
)
def test_bad_settings_exit_with_the_reserved_code_and_report_a_failure_line_per_trial(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    message: str,
) -> None:
    base = {"TUNEOP_OBJECTIVE": QUADRATIC, "TUNEOP_TRIALS": trials_json({"x": 1}, {"x": 2})}
    code, results, err = run_main(monkeypatch, capsys, {**base, **env})

    assert code == EXIT_CONFIG
    assert len(err) == 1
    assert message in err[0]
    assert [(r["trial"], r["status"]) for r in results] == [(0, "failed"), (1, "failed")]
    assert all(message in str(r["error"]) for r in results)


def test_worker_identity_is_logged_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {
        "TUNEOP_OBJECTIVE": QUADRATIC,
        "TUNEOP_TRIALS": trials_json({"x": 3}),
        "TUNEOP_SESSION": "demo",
        "TUNEOP_JOB_INDEX": "4",
    }
    code, results, err = run_main(monkeypatch, capsys, env)

    assert code == 0
    assert results[0]["metrics"] == {"loss": 0.0}
    assert err == [f"tuneop-runner 0.1.0: session=demo job=4: 1 trial(s) with {QUADRATIC}"]


def test_settings_resolve_flags_over_environment() -> None:
    env = {
        "TUNEOP_OBJECTIVE_COMMAND": '["x"]',
        "TUNEOP_METRIC": "a",
        "TUNEOP_TRIAL_TIMEOUT_SECONDS": "5",
    }
    settings = resolve_settings(env, objective="m:f", metric="b", timeout="2.5")
    assert (settings.objective, settings.command, settings.metric, settings.timeout) == (
        "m:f",
        None,
        "b",
        2.5,
    )
    settings = resolve_settings(env)
    assert (settings.objective, settings.command, settings.metric, settings.timeout) == (
        None,
        ("x",),
        "a",
        5.0,
    )


@pytest.mark.parametrize("text", ['""', '[""]', "{}", "[1]"])
def test_parse_command_rejects_non_argv(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_command(text)


@pytest.mark.parametrize(("text", "seconds"), [("1", 1.0), ("0.25", 0.25), (" 3 ", 3.0)])
def test_parse_timeout(text: str, seconds: float) -> None:
    assert parse_timeout(text) == seconds


def test_the_config_exit_code_is_the_one_the_worker_jobs_failure_policy_reserves() -> None:
    from tuneop.api.vocabulary import EXIT_TRIAL_BROKEN

    assert EXIT_CONFIG == EXIT_TRIAL_BROKEN == 78
