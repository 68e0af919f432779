"""Running ``python -m tuneop_runner`` as a real worker would, for the runner tests.

The contract is about what a separate process prints and how it exits, so most
tests start the runner as a subprocess with a controlled environment (no
inherited ``TUNEOP_*`` variables) and a scratch working directory, which is on
the objective import path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

RUNNER_DIR = Path(__file__).resolve().parents[2] / "runner_image"


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def result_lines(self) -> list[str]:
        # Imported here: conftest puts the runner package on the path after importing us.
        from tuneop_runner.contract import RESULT_PREFIX

        return [line for line in self.stdout.splitlines() if line.startswith(RESULT_PREFIX)]

    @property
    def results(self) -> list[dict[str, object]]:
        from tuneop_runner.contract import RESULT_PREFIX

        # json.loads, not the lenient parse_result_line: a malformed line must fail the test.
        return [json.loads(line[len(RESULT_PREFIX) :]) for line in self.result_lines]


def runner_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNEOP_")}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(RUNNER_DIR), env.get("PYTHONPATH", "")) if p
    )
    env.update(extra)
    return env


def runner_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "tuneop_runner", *args]


def trials_json(*params: Mapping[str, object], first: int = 0) -> str:
    return json.dumps([{"trial": first + i, "params": dict(p)} for i, p in enumerate(params)])


def run_runner(
    cwd: Path, env: Mapping[str, str], args: Sequence[str] = (), timeout: float = 30.0
) -> Run:
    proc = subprocess.run(
        runner_argv(*args),
        env=runner_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)
