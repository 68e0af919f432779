"""Before a local session launches any worker: will what it runs run here?

A local run runs the trial container's ``command`` and ``args`` on this
machine (``tuneop.core.jobs.localpod``): the short form's ``tuneop-runner``, or
whatever a ``spec.template`` says. A missing program, script file, runner
package or an objective that does not import would fail every trial the same
way, each with the cause buried in a log file. The checks here find it once,
up front, and name what to do, in words valid as written: the file that is
missing, the package to install, the field to set, or the objective that
failed and the last line of its error. The objective is loaded the way a
worker loads it (``tuneop_runner.objective``), with the session's
environment, in a separate process so its import cannot disturb this one.
A program found on ``PATH`` (or a script file that exists) is the user's to
vouch for beyond that.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tuneop.api.spec import SessionSpec
from tuneop.api.worker import FILE_KINDS
from tuneop.assembly.local import Gpus, detect_gpus
from tuneop.cli.text import clean
from tuneop.core.jobs.localpod import (
    GPU_RESOURCE,
    LocalTrial,
    gpu_slots,
    is_runner,
    local_notices,
    local_trial,
    script_of,
)
from tuneop.core.planning.planner import plannable
from tuneop.core.suggest.samplers import missing_extra

__all__ = ["PREFLIGHT_TIMEOUT_SECONDS", "LocalSetup", "local_setup", "local_workdir", "preflight"]

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
_OBJECTIVE_ENV = ("TUNEOP_OBJECTIVE", "TUNEOP_OBJECTIVE_COMMAND")
_OBJECTIVE_FLAGS = ("--objective", "--command")
# Programs a local run replaces by tuneop's own interpreter (tuneop.adapters.processes).
_OWN_PYTHON = {"python", "python3"}


def local_workdir(trial: LocalTrial, cwd: Path) -> Path:
    """Where the trial's process runs: its ``workingDir`` when that folder exists here,
    else the current folder."""
    if trial.working_dir and (cwd / trial.working_dir).is_dir():
        return cwd / trial.working_dir
    return cwd


def _env_of(trial: LocalTrial) -> dict[str, str]:
    return {
        str(e["name"]): str(e["value"])
        for e in trial.container.get("env") or []
        if isinstance(e, dict) and "name" in e and "value" in e
    }


def _missing(trial: LocalTrial, cwd: Path, environ: Mapping[str, str]) -> str | None:
    """The program or script file of the trial's command that does not exist here."""
    if not trial.container.get("command"):
        return (
            f"{trial.path}: no command; a local run cannot run the image's entrypoint: give"
            " the container a command (for example command: [python, train.py])"
        )
    return _missing_in(list(trial.words), trial.path, local_workdir(trial, cwd), environ)


def _missing_in(
    words: list[str], path: str, where: Path, environ: Mapping[str, str], own: bool = True
) -> str | None:
    """The program or script file of ``words`` (a command at ``path``) not found here;
    ``own``: a ``python`` program is tuneop's own interpreter (a trial container's is)."""
    if not words:
        return None
    program = words[0]
    expanded_later = "$(" in program or "${" in program  # the kubelet's $(VAR), a param
    known = (own and program in _OWN_PYTHON) or is_runner(words) or expanded_later
    if not known:
        if "/" in program:
            found = (where / program).is_file() and os.access(where / program, os.X_OK)
        else:
            found = shutil.which(program, path=environ.get("PATH")) is not None
        if not found:
            return (
                f"{path}: the program {clean(program, 200)} does not exist here"
                f" ({'no such executable file' if '/' in program else 'not found on PATH'});"
                " a local run runs the command on this machine, not in the image"
            )
    script = script_of(words)
    checkable = script is not None and "${" not in script and "$(" not in script
    if script is not None and checkable and not (where / script).is_file():
        return (
            f"{path}: the script file {clean(script, 200)} does not exist here"
            f" (looked in {clean(where, 200)}); a local run runs the command on this"
            " machine, not in the image"
        )
    return None


def _no_objective(spec: SessionSpec, trial: LocalTrial) -> bool:
    if spec.runner.objective is not None or spec.runner.objective_command is not None:
        return False
    if any(name in _env_of(trial) for name in _OBJECTIVE_ENV):
        return False
    if any(e.name in _OBJECTIVE_ENV for e in spec.runner.env):
        return False
    return not any(w.split("=", 1)[0] in _OBJECTIVE_FLAGS for w in trial.words)


def _runner_problem(
    spec: SessionSpec, trial: LocalTrial, where: Path, environ: Mapping[str, str]
) -> str | None:
    if _no_objective(spec, trial):
        return (
            "spec.runner: no objective; set runner.objective: module:function (a Python"
            ' function) or runner.objectiveCommand: ["python", "train.py"] (a program);'
            " with --jobs-file, give a session file as the template"
        )
    if spec.runner.objective_command:
        # The runner's command runs here too: its program or script must be here.
        command = [str(w) for w in spec.runner.objective_command]
        path = "spec.runner.objectiveCommand"
        missing = _missing_in(command, path, where, environ, own=False)
        if missing is not None:
            return missing
    if importlib.util.find_spec("tuneop_runner") is None:
        if shutil.which("tuneop-runner") is None:
            return (
                "spec.runner: the runner is not installed (No module named tuneop_runner);"
                " install the tuneop-runner package (pip install -e ./runner_image)"
            )
        return None  # a runner of another environment: its own worker logs will tell
    if spec.runner.objective is None:
        return None
    own = {**_env_of(trial), **{e.name: e.value for e in spec.runner.env}}
    return _objective_problem(spec, {**environ, **own}, where)


def _objective_problem(spec: SessionSpec, env: Mapping[str, str], where: Path) -> str | None:
    assert spec.runner.objective is not None
    try:
        done = subprocess.run(
            [sys.executable, "-c", _LOAD, spec.runner.objective],
            env=env,
            cwd=where,
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


def preflight(
    spec: SessionSpec, cwd: Path | None = None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The one-line problem that would fail every trial, or None. ``environ``: this
    process's environment as it was before the caller went on (a copy: it may change it
    meanwhile, as ``core.imports`` does for an import)."""
    needed = missing_extra(spec)  # gp's PyTorch, qmc's scipy
    if needed is not None:
        return needed
    if plannable(spec):
        return None  # a spec the run reports as invalid
    trial = local_trial(spec)
    here = cwd or Path.cwd()
    environ = dict(os.environ) if environ is None else environ
    missing = _missing(trial, here, environ)
    if missing is not None:
        return missing
    if is_runner(trial.words):
        return _runner_problem(spec, trial, local_workdir(trial, here), environ)
    return None


@dataclass(frozen=True)
class LocalSetup:
    """What a local run says before it starts, and how it runs: the notices (one line
    each), the GPUs to hand out, and maxParallel when the GPUs bound it."""

    notices: list[str] = field(default_factory=list)
    gpus: Gpus = field(default_factory=Gpus)
    max_parallel: int | None = None


def _one_metrics_file(spec: SessionSpec) -> str | None:
    """The notice that trials run one at a time here, when they write their metrics to one
    file (or folder) that is theirs alone only in a pod: on this machine, trials running
    at once would read each other's metrics."""
    collector = spec.metrics_collector
    if collector.kind not in FILE_KINDS or spec.max_parallel <= 1:
        return None
    return (
        f"maxParallel {spec.max_parallel} lowered to 1 here: every trial writes its metrics"
        f" to {clean(collector.path, 200)} (metricsCollector), one {collector.kind.lower()}"
        " on this machine; on a cluster each trial's pod has its own"
    )


def local_setup(
    spec: SessionSpec, environ: Mapping[str, str], cwd: Path | None = None
) -> LocalSetup | str:
    """The setup of a local run of ``spec``, or the one-line reason it cannot run here."""
    trial = local_trial(spec)
    notices = local_notices(spec, environ.keys())
    here = cwd or Path.cwd()
    if trial.working_dir and local_workdir(trial, here) == here:
        notices.append(
            f"workingDir {clean(trial.working_dir, 200)} does not exist here: trials run in"
            f" {clean(here, 200)}"
        )
    shared = _one_metrics_file(spec)
    if shared is not None:
        notices.append(shared)
    if trial.gpus <= 0:
        return LocalSetup(notices, max_parallel=1 if shared else None)
    gpus = detect_gpus(environ)
    found = f"{len(gpus.ids)} ({gpus.source}{': ' + ','.join(gpus.ids) if gpus.ids else ''})"
    slots = gpu_slots(trial.gpus, len(gpus.ids), 1 if shared else spec.max_parallel)
    if slots < 1:
        return (
            f"{trial.path}.resources.limits: each trial asks for {trial.gpus} {GPU_RESOURCE}"
            f" and this machine has {found}; a local run gives each trial GPUs of its own:"
            f" lower or remove the {GPU_RESOURCE} limit to run here"
        )
    if slots < spec.max_parallel and not shared:
        notices.append(
            f"maxParallel {spec.max_parallel} lowered to {slots} here: each trial gets"
            f" {trial.gpus} GPU(s) of its own and this machine has {found}"
        )
        return LocalSetup(notices, gpus, slots)
    return LocalSetup(notices, gpus, 1 if shared else None)
