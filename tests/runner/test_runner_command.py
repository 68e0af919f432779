"""External-command objectives: how params go in, how metrics come out, cleanup.

Commands are small Python or shell programs run by the runner subprocess; the
process-cleanup tests record the PID of a background child and check that it is
gone once the trial is over.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
from runner_harness import Run, runner_argv, runner_env, trials_json

from tuneop_runner.command import last_json_object, param_env_name, param_env_value

Runner = Callable[[Mapping[str, str], Sequence[str]], Run]


def python_command(source: str) -> str:
    return json.dumps([sys.executable, "-c", textwrap.dedent(source)])


def command_env(command: str, *params: Mapping[str, object], **extra: str) -> dict[str, str]:
    return {"TUNEOP_OBJECTIVE_COMMAND": command, "TUNEOP_TRIALS": trials_json(*params), **extra}


def process_is_gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        # The state follows the parenthesised command name; a zombie is as dead
        # as it gets for a process that is not our child.
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state == "Z"


def wait_until_gone(pid: int, seconds: float = 3.0) -> bool:
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        if process_is_gone(pid):
            return True
        time.sleep(0.05)
    return process_is_gone(pid)


def test_command_gets_params_on_stdin_and_in_the_environment(runner: Runner) -> None:
    command = python_command(
        """
        import json, os, sys
        stdin = json.load(sys.stdin)
        env = json.loads(os.environ["TUNEOP_PARAMS"])
        print(json.dumps({
            "stdin_x": stdin["x"],
            "env_json_x": env["x"],
            "env_x": float(os.environ["TUNEOP_PARAM_X"]),
            "env_lr": float(os.environ["TUNEOP_PARAM_LEARNING_RATE"]),
            "env_flag_is_true": os.environ["TUNEOP_PARAM_USE_GPU"] == "true",
            "env_name_is_text": os.environ["TUNEOP_PARAM_OPTIMIZER"] == "adam",
            "session_passed_through": os.environ.get("TUNEOP_SESSION") == "s1",
        }))
        """
    )
    params = {"x": 2.5, "learning-rate": 0.01, "use_gpu": True, "optimizer": "adam"}
    run = runner(command_env(command, params, {**params, "x": -1}, TUNEOP_SESSION="s1"), [])

    assert run.returncode == 0, run.stderr
    first, second = run.results
    assert first["metrics"] == {
        "stdin_x": 2.5,
        "env_json_x": 2.5,
        "env_x": 2.5,
        "env_lr": 0.01,
        "env_flag_is_true": True,
        "env_name_is_text": True,
        "session_passed_through": True,
    }
    assert second["metrics"]["stdin_x"] == -1
    assert first["params"] == params


def test_last_json_object_line_of_stdout_wins(runner: Runner) -> None:
    command = python_command(
        """
        print('{"loss": 1}')
        print("epoch 2 done")
        print('{"loss": 2, "acc": 0.9}')
        print("[1, 2, 3]")
        print("{not json")
        print("bye")
        """
    )
    run = runner(command_env(command, {}, TUNEOP_METRIC="loss"), [])

    assert run.returncode == 0, run.stderr
    assert run.results[0]["metrics"] == {"loss": 2, "acc": 0.9}
    # The command's stdout is kept in the log, on stderr, not among contract lines.
    assert "epoch 2 done" in run.stderr
    assert "epoch 2 done" not in run.stdout


def test_large_output_is_drained_and_only_its_tail_parsed(runner: Runner) -> None:
    command = python_command(
        """
        import sys
        for i in range(4000):
            sys.stdout.write("noise " * 20 + "\\n")
        print('{"value": 42}')
        """
    )
    run = runner(command_env(command, {}), [])

    assert run.returncode == 0, run.stderr
    assert run.results[0]["metrics"] == {"value": 42}


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (["definitely-not-a-command-tuneop"], "command not found: definitely-not-a-command-tuneop"),
        (["sh", "-c", "echo hello there"], "objective output is not a JSON object: hello there"),
        (["sh", "-c", "true"], "objective output is not a JSON object: (no output)"),
        (["sh", "-c", "echo '{\"loss\": 1}'; exit 3"], "command exited with code 3"),
        (["sh", "-c", "kill -9 $$"], "command killed by SIGKILL"),
    ],
    ids=["not-found", "non-json-output", "no-output", "non-zero-exit", "killed-by-signal"],
)
def test_broken_commands_fail_their_trial_with_a_reason(
    runner: Runner, command: list[str], error: str
) -> None:
    run = runner(command_env(json.dumps(command), {"x": 1}, {"x": 2}), [])

    assert run.returncode == 1
    assert [r["status"] for r in run.results] == ["failed", "failed"]
    assert all(r["error"] == error for r in run.results)
    assert "Traceback" not in run.stderr


def test_command_past_its_timeout_is_killed_with_its_children(
    runner: Runner, tmp_path: Path
) -> None:
    pidfile = tmp_path / "child.pid"
    command = json.dumps(["sh", "-c", f"sleep 100 & echo $! > {pidfile}; sleep 100"])
    started = time.monotonic()
    run = runner(
        command_env(command, {}, {"x": 1}, TUNEOP_TRIAL_TIMEOUT_SECONDS="0.5"),
        [],
    )

    assert time.monotonic() - started < 10
    assert run.returncode == 1
    assert run.results[0]["status"] == "timeout"
    assert run.results[0]["error"] == "timed out after 0.5 s"
    assert run.results[1]["status"] == "timeout"
    assert wait_until_gone(int(pidfile.read_text()))


def test_background_children_do_not_outlive_a_finished_command(
    runner: Runner, tmp_path: Path
) -> None:
    pidfile = tmp_path / "child.pid"
    # The background sleep inherits stdout: without cleanup it would hold the
    # pipe open and the trial would never end.
    command = json.dumps(["sh", "-c", f"sleep 100 & echo $! > {pidfile}; echo '{{\"v\": 1}}'"])
    started = time.monotonic()
    run = runner(command_env(command, {}), [])

    assert time.monotonic() - started < 10
    assert run.returncode == 0, run.stderr
    assert run.results[0]["metrics"] == {"v": 1}
    assert wait_until_gone(int(pidfile.read_text()))


def test_flag_picks_command_over_an_objective_in_the_environment(runner: Runner) -> None:
    env = {"TUNEOP_OBJECTIVE": "no_such_module:f", "TUNEOP_TRIALS": trials_json({"x": 3})}
    run = runner(env, ["--command", json.dumps(["sh", "-c", "echo '{\"v\": 3}'"])])

    assert run.returncode == 0, run.stderr
    assert run.results[0]["metrics"] == {"v": 3}


@pytest.mark.parametrize(
    ("name", "env_name"),
    [
        ("x", "TUNEOP_PARAM_X"),
        ("learning-rate", "TUNEOP_PARAM_LEARNING_RATE"),
        ("model.layers[0]", "TUNEOP_PARAM_MODEL_LAYERS_0_"),
        ("CamelCase9", "TUNEOP_PARAM_CAMELCASE9"),
    ],
)
def test_param_names_become_environment_names(name: str, env_name: str) -> None:
    assert param_env_name(name) == env_name


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "true"), (False, "false"), (3, "3"), (0.25, "0.25"), ("adam", "adam"), (None, "null")],
)
def test_param_values_become_environment_text(value: object, text: str) -> None:
    assert param_env_value(value) == text


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ('{"a": 1}\n{"a": 2}\n', {"a": 2}),
        ('{"a": 1}\nplain\n', {"a": 1}),
        ('  {"a": 1}  \r\n[1]\n', {"a": 1}),
        ("nothing here\n", None),
        ("", None),
    ],
    ids=["later-wins", "noise-after", "whitespace-and-array", "no-json", "empty"],
)
def test_last_json_object(output: str, expected: dict[str, object] | None) -> None:
    assert last_json_object(output) == expected


def test_sigterm_to_the_runner_also_ends_the_running_command(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    command = json.dumps(["sh", "-c", f"sleep 100 & echo $! > {pidfile}; sleep 100"])
    env = {"TUNEOP_OBJECTIVE_COMMAND": command, "TUNEOP_TRIALS": trials_json({})}
    proc = subprocess.Popen(
        runner_argv(),
        env=runner_env(env),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Generous bounds on conditions, not sleeps: a busy machine starts Python slowly.
        give_up = time.monotonic() + 30
        while not (pidfile.exists() and pidfile.read_text().strip()):
            assert time.monotonic() < give_up, "the command never started"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()

    assert proc.returncode == 128 + signal.SIGTERM
    assert "terminated by SIGTERM" in stderr
    assert "Traceback" not in stderr
    assert wait_until_gone(int(pidfile.read_text()))


# The runner, told to stop (SIGTERM to itself) the moment its command's process exists:
# the window between starting the command and arming the cleanup that stops its group,
# which a busy machine hits by chance, made certain.
STOP_AS_THE_COMMAND_STARTS = """
import os, runpy, signal, subprocess, sys

class Popen(subprocess.Popen):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        with open(os.environ["COMMAND_PIDFILE"], "w") as f:
            f.write(str(self.pid))
        os.kill(os.getpid(), signal.SIGTERM)

subprocess.Popen = Popen
sys.argv = ["tuneop-runner"]
runpy.run_module("tuneop_runner", run_name="__main__", alter_sys=True)
"""


def test_a_stop_while_the_command_starts_still_ends_the_command(tmp_path: Path) -> None:
    pidfile = tmp_path / "command.pid"
    env = command_env(json.dumps(["sleep", "100"]), {}, COMMAND_PIDFILE=str(pidfile))
    with open(tmp_path / "stderr", "w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", STOP_AS_THE_COMMAND_STARTS],
            env=runner_env(env),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            code = proc.wait(timeout=60)
            pid = int(pidfile.read_text())
            gone = wait_until_gone(pid, 10)
        finally:
            proc.kill()
            proc.wait()
            if pidfile.exists():  # the command this test started, should it have survived
                with contextlib.suppress(OSError):
                    os.killpg(int(pidfile.read_text()), signal.SIGKILL)
        err.seek(0)
        stderr = err.read()

    assert code == 128 + signal.SIGTERM, stderr
    assert "terminated by SIGTERM" in stderr
    assert "Traceback" not in stderr
    assert gone, f"the command (pid {pid}) outlived the runner\n{stderr}"


def test_an_ended_commands_output_is_read_to_its_end_while_its_echo_is_held_back() -> None:
    # On a loaded machine the log behind the runner's stderr takes its time: the reader,
    # blocked echoing, had not reached the command's last line when its grace ran out, and
    # the trial failed with "not a JSON object". While the command's pipe still holds
    # bytes (or its end of file) the reader is waited for.
    from tuneop_runner.command import CommandObjective

    held, echo = os.pipe()
    command = [
        sys.executable,
        "-c",
        "import sys; sys.stdout.write('y' * 100000 + '\\n{\"v\": 7}\\n')",
    ]
    objective = CommandObjective(command, grace=0.3, echo_stdout_fd=echo)

    def read_the_echo_later() -> None:
        time.sleep(2.0)  # several graces: the command has long ended
        while os.read(held, 65536):
            pass

    reader = threading.Thread(target=read_the_echo_later, daemon=True)
    reader.start()
    try:
        evaluation = objective.evaluate({}, timeout=30)
    finally:
        os.close(echo)
        reader.join(10)
        os.close(held)
    assert evaluation.metrics == {"v": 7}, evaluation


def test_a_timed_out_commands_output_is_not_waited_for_past_the_grace(tmp_path: Path) -> None:
    # A process that escaped the command's group keeps writing to its pipe: for a command
    # that ended by itself its output is waited for while it flows, but a timeout (or a
    # stop) must not keep the runner up for the drain's whole minute.
    from tuneop_runner.command import DRAIN_LIMIT_SECONDS, CommandObjective

    pid_file = tmp_path / "escaped.pid"
    source = textwrap.dedent(
        f"""
        import subprocess, time
        child = subprocess.Popen(
            ["sh", "-c", "while true; do echo y; sleep 0.05; done"], start_new_session=True
        )
        open({str(pid_file)!r}, "w").write(str(child.pid))
        time.sleep(60)
        """
    )
    objective = CommandObjective([sys.executable, "-c", source], grace=0.3, echo_stdout_fd=None)
    started = time.monotonic()
    try:
        evaluation = objective.evaluate({}, timeout=1.0)
        took = time.monotonic() - started
    finally:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert str(evaluation.error).startswith("timed out after 1.0 s"), evaluation
    assert took < DRAIN_LIMIT_SECONDS / 4, took
