"""What one trial prints cannot crash a run, nor stand for another trial's result.

Issue 25, items 1 and 2, walked as a user: a session of two trials in one worker
(``trialsPerJob: 2``) whose objective, a Python function or a command, misbehaves in
its second trial: returns or prints a number too large for a float, a lone surrogate,
a result line for its sibling, or a flood of result lines. The run ends with its
documented exit code and no traceback, the misbehaving trial gets its own outcome, and
the sibling's real result is the one recorded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from user import User

SPEC = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata:
  name: {name}
spec:
  objective: {{metric: loss, direction: minimize}}
  searchSpace:
    - {{name: x, type: int, min: 0, max: 1}}
  optimizer: {{type: grid}}
  maxParallel: 1
  trialsPerJob: 2
  trialTimeoutSeconds: 60
  runner:
    image: tuneop/runner:0.1.0
    {objective}
"""

# Trial 0 (x=0) is honest: loss 10. Trial 1 (x=1) does what its test says, then returns 11.
OBJECTIVES = """\
import json, sys
from tuneop_runner import report

def forged(x):
    return "TUNEOP_RESULT " + json.dumps(
        {"trial": 0, "params": {"x": 0}, "metrics": {"loss": -1000000}, "status": "succeeded"})

def forge(params):
    if params["x"] == 1:
        print(forged(0), flush=True)
    return {"loss": 10 + params["x"]}

def flood(params):
    if params["x"] == 1:
        line = forged(0) + "\\n"
        sys.stdout.write(line * (6 * 1024 * 1024 // len(line) + 1))
        sys.stdout.flush()
    return {"loss": 10 + params["x"]}

def malformed(params):
    if params["x"] == 1:
        line = "TUNEOP_RESULT {" + "x" * 100_000 + "\\n"
        for _ in range(500):  # 50 MB
            sys.stdout.write(line)
        sys.stdout.flush()
    return {"loss": 10 + params["x"]}

def huge(params):
    return {"loss": 10**400 if params["x"] == 1 else 10}

def huge_step(params):
    if params["x"] == 1:
        report(1, 10**400)
    return {"loss": 10 + params["x"]}

def unended(params):
    # Output left without a newline before each line of the contract, on both streams.
    print(f"epoch 1 of {params['x']}:", end="")
    report(1, 20 + params["x"])
    print("almost", end="", file=sys.stderr, flush=True)
    print(f"done with {params['x']}.", end="")
    return {"loss": 10 + params["x"]}

def surrogate(params):
    if params["x"] == 1:
        raise RuntimeError("bad \\ud800 input")
    return {"loss": 10, "m\\ud800": 2.0}
"""

COMMAND = """\
import json, sys
params = json.loads(sys.stdin.read())
if params["x"] == 1:
    print("TUNEOP_RESULT " + json.dumps({"trial": 0, "params": {"x": 0},
          "metrics": {"loss": -1000000}, "status": "succeeded"}), flush=True)
    print('{"loss": 1' + "0" * 400 + '}')
else:
    print('{"loss": 10, "m\\\\ud800": 1}')
"""


def session(user: User, name: str, objective: str) -> str:
    user.write("objectives.py", OBJECTIVES)
    user.write("command.py", COMMAND)
    user.write(f"{name}.yaml", SPEC.format(name=name, objective=objective))
    return f"{name}.yaml"


def trials(user: User, name: str) -> dict[int, dict[str, Any]]:
    folder = user.path(f"tuneop-results/{name}/trials")
    docs = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    return {d["trial"]: d for d in docs}


def test_a_sibling_cannot_forge_a_python_trials_result(user: User) -> None:
    seen = user.tuneop("run", session(user, "forge", "objective: objectives:forge"), "--local")
    assert seen.code == 0, seen
    assert "Traceback" not in seen.both
    got = trials(user, "forge")
    assert got[0]["metrics"] == {"loss": 10}, got[0]
    assert got[0]["objective"]["value"] == 10
    assert got[1]["objective"]["value"] == 11
    assert "-1e+06" not in seen.out


def test_a_command_cannot_forge_its_siblings_result_nor_crash_with_a_huge_number(
    user: User,
) -> None:
    spec = session(user, "cmd", 'objectiveCommand: ["python", "command.py"]')
    seen = user.tuneop("run", spec, "--local")
    assert seen.code == 1, seen  # one trial failed: MetricsUnavailable
    assert "Traceback" not in seen.both
    got = trials(user, "cmd")
    assert got[0]["outcome"] == "Succeeded", got[0]
    assert got[0]["objective"]["value"] == 10
    assert got[1]["outcome"] == "MetricsUnavailable", got[1]
    assert "finite" in got[1]["error"] or "large" in got[1]["error"], got[1]


def test_a_flood_of_forged_lines_from_one_trial_keeps_the_siblings_result(user: User) -> None:
    seen = user.tuneop("run", session(user, "flood", "objective: objectives:flood"), "--local")
    assert seen.code == 0, seen
    got = trials(user, "flood")
    assert got[0]["objective"]["value"] == 10, got[0]
    assert got[1]["objective"]["value"] == 11, got[1]


def test_fifty_megabytes_of_malformed_result_lines_lose_no_result_and_stay_in_memory(
    user: User,
) -> None:
    spec = session(user, "bad", "objective: objectives:malformed")
    # The peak resident size of the biggest process of the run (tuneop itself).
    probe = (
        "import resource, subprocess, sys\n"
        "code = subprocess.run(sys.argv[1:]).returncode\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    user.write("probe.py", probe)
    seen = user.run([sys.executable, "probe.py", str(_tuneop()), "run", spec, "--local"])
    assert seen.code == 0, seen
    assert "Traceback" not in seen.both
    peak_kib = int(seen.err.strip().splitlines()[-1])
    assert peak_kib < 200 * 1024, f"peak RSS {peak_kib} KiB"
    got = trials(user, "bad")
    assert got[0]["objective"]["value"] == 10, got[0]
    assert got[1]["objective"]["value"] == 11, got[1]


def test_a_number_too_large_for_a_float_is_that_trials_malformed_metric(user: User) -> None:
    seen = user.tuneop("run", session(user, "huge", "objective: objectives:huge"), "--local")
    assert seen.code == 1, seen
    assert "Traceback" not in seen.both
    got = trials(user, "huge")
    assert got[0]["outcome"] == "Succeeded", got[0]
    assert got[1]["outcome"] == "MetricsUnavailable", got[1]
    assert "session huge: Succeeded" in seen.out, seen


def test_a_huge_intermediate_value_costs_only_a_point_of_the_curve(user: User) -> None:
    seen = user.tuneop("run", session(user, "step", "objective: objectives:huge_step"), "--local")
    assert "Traceback" not in seen.both
    assert seen.code == 0, seen
    got = trials(user, "step")
    assert got[0]["objective"]["value"] == 10
    assert got[1]["objective"]["value"] == 11
    assert "intermediate" not in got[1]


def test_a_lone_surrogate_in_a_metric_name_or_an_error_is_replaced_not_a_crash(
    user: User,
) -> None:
    seen = user.tuneop("run", session(user, "sur", "objective: objectives:surrogate"), "--local")
    assert seen.code == 1, seen
    assert "Traceback" not in seen.both
    got = trials(user, "sur")
    assert got[0]["outcome"] == "Succeeded", got[0]
    assert got[0]["metrics"]["loss"] == 10
    assert any(name.startswith("m") and name != "m\ud800" for name in got[0]["metrics"])
    assert got[1]["outcome"] == "Failed", got[1]
    assert "RuntimeError: bad" in got[1]["error"]
    assert "\ud800" not in got[1]["error"]
    again = user.tuneop("summary", "tuneop-results/sur")
    assert "Traceback" not in again.both, again


def test_huge_numbers_in_a_results_folder_are_no_crash_for_the_reading_commands(
    user: User,
) -> None:
    seen = user.tuneop("run", session(user, "read", "objective: objectives:forge"), "--local")
    assert seen.code == 0, seen
    path = user.path("tuneop-results/read/trials/trial-000001.json")
    doc = path.read_text().replace('"loss": 11', '"loss": 1' + "0" * 400)
    doc = doc.replace('"value": 11.0', '"value": 1' + "0" * 400)
    doc = doc.replace('"durationSeconds": ', '"durationSeconds": 1' + "0" * 400 + ', "x": ')
    path.write_text(doc)
    for command in (("summary",), ("report",), ("export", "--optuna-storage", "sqlite:///o.db")):
        got = user.tuneop(*command, "tuneop-results/read")
        assert "Traceback" not in got.both, (command, got)
        assert got.code in (0, 1), (command, got)


def _tuneop() -> Path:
    return Path(sys.executable).parent / "tuneop"


@pytest.mark.parametrize("per_job", [1, 2], ids=["a worker per trial", "two trials per worker"])
def test_output_left_without_a_newline_loses_no_result(user: User, per_job: int) -> None:
    spec = session(user, "unended", "objective: objectives:unended")
    user.write(
        spec, user.path(spec).read_text().replace("trialsPerJob: 2", f"trialsPerJob: {per_job}")
    )
    seen = user.tuneop("run", spec, "--local", "--no-report")
    assert seen.code == 0, seen
    got = trials(user, "unended")
    assert {t: got[t]["objective"]["value"] for t in got} == {0: 10, 1: 11}, got
    assert {t: got[t].get("intermediate") for t in got} == {0: [[1, 20]], 1: [[1, 21]]}, got
    logs = "".join(p.read_text() for p in user.path("tuneop-results/unended/logs").glob("*.log"))
    assert "done with 0." in logs and "done with 1." in logs
