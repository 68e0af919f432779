"""Each trial of a Job of several its own MLflow run: the runner sets ``MLFLOW_RUN_ID`` from
``TUNEOP_MLFLOW_RUN_IDS`` while the trial runs, for a command and for a Python objective, and
leaves it as it was otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runner_harness import run_runner, trials_json

SAYS_RUN = [
    "python",
    "-c",
    "import json, os; run = os.environ.get('MLFLOW_RUN_ID', '-');"
    " print(json.dumps({'value': 1.0, 'run': run}))",
]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TUNEOP_MLFLOW_RUN_IDS": json.dumps({"0": "aa11", "1": "bb22"})}, ["aa11", "bb22"]),
        ({"TUNEOP_MLFLOW_RUN_IDS": json.dumps({"1": "bb22"})}, ["-", "bb22"]),
        ({"TUNEOP_MLFLOW_RUN_IDS": "not json", "MLFLOW_RUN_ID": "job"}, ["job", "job"]),
        ({"TUNEOP_MLFLOW_RUN_IDS": json.dumps({"0": "../x"})}, ["-", "-"]),
        ({"MLFLOW_RUN_ID": "job"}, ["job", "job"]),
    ],
)
def test_each_trial_of_a_packed_job_sees_its_own_run(
    tmp_path: Path, env: dict[str, str], expected: list[str]
) -> None:
    run = run_runner(
        tmp_path,
        {
            **env,
            "TUNEOP_TRIALS": trials_json({"x": 1}, {"x": 2}),
            "TUNEOP_OBJECTIVE_COMMAND": json.dumps(SAYS_RUN),
        },
    )
    assert run.returncode == 0, run.stderr
    # A string metric is not a number: the runner drops it, so read the command's own line.
    said = [json.loads(line)["run"] for line in run.stderr.splitlines() if '"run"' in line]
    assert said == expected
