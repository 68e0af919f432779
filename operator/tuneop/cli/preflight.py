"""Before a local session launches any worker: does the runner run, does the objective load?

A missing runner package or an objective that does not import would fail
every trial the same way, each with the cause buried in a log file. The
checks here find it once, up front, and name what to do: the package to
install, or the objective that failed and the last line of its error. The
objective is loaded the way a worker loads it (``tuneop_runner.objective``),
with the session's environment, in a separate process so its import cannot
disturb this one. Only the runner's own command is checked; a custom
``runner.command`` is the user's to vouch for.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

from tuneop.api.spec import SessionSpec
from tuneop.core.planner import plannable
from tuneop.core.samplers import missing_extra

__all__ = ["PREFLIGHT_TIMEOUT_SECONDS", "preflight"]

PREFLIGHT_TIMEOUT_SECONDS = 120.0
_LOAD = (
    "import sys\n"
    "from tuneop_runner.objective import load_callable\n"
    "try:\n"
    "    load_callable(sys.argv[1])\n"
    "except Exception as err:\n"
    "    print(f'{type(err).__name__}: {err}', file=sys.stderr)\n"
    "    sys.exit(3)\n"
)


def preflight(spec: SessionSpec) -> str | None:
    """The one-line problem that would fail every trial, or None."""
    needed = missing_extra(spec)
    if needed is not None:
        return needed
    if spec.runner.command != ["tuneop-runner"] or plannable(spec):
        return None  # not the runner's command, or a spec the run reports as invalid
    if (
        spec.runner.objective is None
        and spec.runner.objective_command is None
        and not any(
            e.name in ("TUNEOP_OBJECTIVE", "TUNEOP_OBJECTIVE_COMMAND") for e in spec.runner.env
        )
    ):
        return (
            "spec.runner: no objective (set runner.objective to module:function or"
            " runner.objectiveCommand; with --jobs-file, give a session file as the template)"
        )
    if importlib.util.find_spec("tuneop_runner") is None:
        if shutil.which("tuneop-runner") is None:
            return (
                "spec.runner: the runner is not installed (No module named tuneop_runner);"
                " install the tuneop-runner package (pip install -e ./runner_image)"
            )
        return None  # a runner of another environment: its own worker logs will tell
    if spec.runner.objective is None:
        return None
    env = dict(os.environ)
    env.update({e.name: e.value for e in spec.runner.env})
    try:
        done = subprocess.run(
            [sys.executable, "-c", _LOAD, spec.runner.objective],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=PREFLIGHT_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"spec.runner.objective: {spec.runner.objective} took too long to load"
    if done.returncode == 0:
        return None
    lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
    why = lines[-1][:300] if lines else f"exit code {done.returncode}"
    return f"spec.runner.objective: {spec.runner.objective} does not load: {why}"
