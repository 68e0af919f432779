"""A trial's pod as a local process: what ``tuneop run --local`` runs of it, and what not.

A local run runs the trial container only: its ``command`` and ``args`` (the
``${params.NAME}`` placeholders replaced as the operator's pod has them), its
env, its ``workingDir``. Everything else of the pod is the cluster's: the
image (the command runs with this machine's programs), volumes, Secrets and
ConfigMaps, init containers and sidecars. ``local_trial`` reads what will
run; ``local_notices`` says, one line each, what of the pod will not (the
run goes on). ``script_of`` finds the script file an interpreter is given
(``python train.py``), so a check before the run can name a missing one.

GPUs: ``gpus_per_trial`` is what the trial container's limits ask for
(``nvidia.com/gpu``); ``gpu_slots`` how many trials may run at once on the
GPUs a machine has, each with its own devices.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tuneop.api.spec import SessionSpec
from tuneop.api.template import trial_container_index
from tuneop.core.jobs.podtemplate import CONTAINER, short_form_template

__all__ = [
    "GPU_RESOURCE",
    "LocalTrial",
    "gpu_slots",
    "gpus_per_trial",
    "is_runner",
    "local_notices",
    "local_trial",
    "script_of",
]

GPU_RESOURCE = "nvidia.com/gpu"
# Interpreters whose first operand is a script file to check before the run.
_INTERPRETER = re.compile(
    r"(python[0-9.]*|pypy[0-9.]*|bash|sh|zsh|dash|ksh|node|perl|ruby|Rscript|julia|tuneop-python)"
)
# Options of those interpreters that take the next word as their value.
_OPTION_WITH_VALUE = {"-W", "-X", "-O", "--rcfile", "--init-file", "-r", "--require", "-e"}
# Options after which no script file follows: the program comes inline or from a module.
_NO_SCRIPT = {"-c", "-m", "-e", "--eval", "-p", "--print", "-"}
_MAX_NAMED = 80


@dataclass(frozen=True)
class LocalTrial:
    """The trial container a local run runs: where it is in the spec, and what it runs."""

    path: str  # spec.template.spec.containers[i], or spec.runner
    container: Mapping[str, Any]
    words: tuple[str, ...]  # command then args, as written
    working_dir: str | None
    gpus: int


def gpus_per_trial(container: Mapping[str, Any]) -> int:
    """The GPUs the container's limits (else requests) ask for; 0 when none or unreadable."""
    resources = container.get("resources") or {}
    for key in ("limits", "requests"):
        value = (resources.get(key) or {}).get(GPU_RESOURCE)
        if value is None:
            continue
        try:
            return max(int(str(value)), 0)
        except ValueError:
            return 0
    return 0


def local_trial(spec: SessionSpec) -> LocalTrial:
    """The trial container of ``spec`` (its template's, or the short form's)."""
    if spec.template:
        template: Mapping[str, Any] = spec.template
        name = spec.runner.container
    else:
        template, name = short_form_template(spec), CONTAINER
    containers = (template.get("spec") or {}).get("containers") or [{}]
    index = trial_container_index(dict(template), name) or 0
    container = containers[index] if index < len(containers) else {}
    path = f"spec.template.spec.containers[{index}]" if spec.template else "spec.runner"
    words = (*(container.get("command") or []), *(container.get("args") or []))
    return LocalTrial(
        path=path,
        container=container,
        words=tuple(str(w) for w in words),
        working_dir=container.get("workingDir") or None,
        gpus=gpus_per_trial(container),
    )


def is_runner(words: Sequence[str]) -> bool:
    """Whether a command runs the tuneop runner (its console script or its module)."""
    if not words:
        return False
    if words[0].rsplit("/", 1)[-1] == "tuneop-runner":
        return True
    return len(words) >= 3 and words[1] == "-m" and words[2] == "tuneop_runner"


def script_of(words: Sequence[str]) -> str | None:
    """The script file an interpreter is given (``python train.py`` → ``train.py``);
    None when the program is no interpreter, or runs inline code or a module."""
    if not words or not _INTERPRETER.fullmatch(words[0].rsplit("/", 1)[-1]):
        return None
    skip = False
    for word in words[1:]:
        if skip:
            skip = False
            continue
        if word in _NO_SCRIPT:
            return None
        if word in _OPTION_WITH_VALUE:
            skip = True
            continue
        if word.startswith("-"):
            continue
        return word
    return None


def _short(text: object) -> str:
    s = str(text)
    return s if len(s) <= _MAX_NAMED else s[:_MAX_NAMED] + "…"


def _volume_kind(volume: Mapping[str, Any]) -> str:
    kinds = [k for k in volume if k != "name"]
    if not kinds:
        return "volume"
    kind = kinds[0]
    source = volume.get(kind) or {}
    named = ""
    if isinstance(source, Mapping):
        named = source.get("claimName") or source.get("secretName") or source.get("name") or ""
    return f"{kind} {_short(named)}".rstrip()


def _env_notices(container: Mapping[str, Any], environ: Collection[str]) -> list[str]:
    out = []
    for entry in container.get("env") or []:
        source = entry.get("valueFrom")
        if "value" in entry or not isinstance(source, Mapping) or not source:
            continue
        kind = next(iter(source))
        ref = source.get(kind) or {}
        named = "/".join(
            str(ref[k]) for k in ("name", "key") if isinstance(ref, Mapping) and k in ref
        )
        had = "set" if entry.get("name") in environ else "not set"
        out.append(
            f"env {_short(entry.get('name'))} ({kind} {_short(named)}) cannot be read locally:"
            f" trials get this shell's {_short(entry.get('name'))} ({had} here)"
        )
    for entry in container.get("envFrom") or []:
        kind = next((k for k in entry if k != "prefix"), "source")
        ref = entry.get(kind) or {}
        named = ref.get("name", "") if isinstance(ref, Mapping) else ""
        out.append(
            f"envFrom {kind} {_short(named)} cannot be read locally: its variables are not set"
        )
    return out


def local_notices(spec: SessionSpec, environ: Collection[str] = ()) -> list[str]:
    """One line for each part of the trial's pod a local run cannot give it; ``environ``
    names the variables set in the shell (which trials inherit)."""
    if not spec.template:
        return []
    trial = local_trial(spec)
    pod = spec.template.get("spec") or {}
    out = []
    if trial.container.get("image"):
        out.append(
            f"image {_short(trial.container['image'])} is not used locally: the trial runs"
            f" {_short(' '.join(trial.words))} with this machine's programs"
        )
    mounts = {m.get("name"): m.get("mountPath") for m in trial.container.get("volumeMounts") or []}
    for volume in pod.get("volumes") or []:
        where = (
            f", mounted at {_short(mounts[volume.get('name')])}"
            if volume.get("name") in mounts
            else ""
        )
        out.append(
            f"volume {_short(volume.get('name'))} ({_volume_kind(volume)}{where}) does not exist"
            " locally: trials run without it"
        )
    out += _env_notices(trial.container, environ)
    for init in pod.get("initContainers") or []:
        out.append(f"init container {_short(init.get('name'))} is not run locally")
    for other in pod.get("containers") or []:
        if other is not trial.container and other.get("name") != trial.container.get("name"):
            out.append(f"container {_short(other.get('name'))} is not run locally (a sidecar)")
    return out


def gpu_slots(per_trial: int, available: int, max_parallel: int) -> int:
    """How many trials may run at once, each on ``per_trial`` GPUs of its own."""
    if per_trial <= 0:
        return max_parallel
    return min(max_parallel, available // per_trial)
