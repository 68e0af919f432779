"""What a local worker Job is made of and what it leaves on disk to be resumed.

A Job's manifest says what its worker runs (``worker_argv``: the trial container's
command and args, ``python`` and ``tuneop-runner`` taken as tuneop's own, run by the
metrics file's follower when the pod has one: ``tuneop.core.jobs.metricsfile``) and which exit
codes end it at once (``fail_job_codes``: its ``podFailurePolicy``). Each Job is
recorded beside its logs (``<job>.job.json``), read back bounded and without following
links (``recorded_jobs``), and its attempts' logs are found by name (``attempt_logs``)
so a later run of the session can take the Job back.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from tuneop.adapters.results_folder.safefs import read_capped
from tuneop.core.jobs.manifests import decode_job
from tuneop.core.jobs.metricsfile import FOLLOWER, follower_words
from tuneop.core.jobs.podtemplate import kube_expand
from tuneop.core.planning.planner import JobToCreate

__all__ = [
    "JOB_RECORD_BYTES",
    "attempt_logs",
    "fail_job_codes",
    "recorded_jobs",
    "worker_argv",
]

# A Job record holds its trials' parameters: at most 1000 trials of bounded params.
JOB_RECORD_BYTES = 16 * 1024 * 1024


def worker_argv(
    container: dict[str, Any], env: dict[str, str], template: dict[str, Any] | None = None
) -> list[str]:
    words = [*container.get("command", []), *container.get("args", [])]
    argv = [kube_expand(w, env) for w in words]
    follower = follower_words(template or {})
    if follower:
        # The follower runs the trial as its child; like the runner, it is tuneop's own.
        head = (
            [FOLLOWER]
            if shutil.which(FOLLOWER)
            else [sys.executable, "-m", "tuneop_runner.metricsfile"]
        )
        return [*head, *follower[1:], *worker_argv(container, env)]
    if argv and argv[0] == "tuneop-runner" and shutil.which("tuneop-runner") is None:
        # The runner is installed with tuneop; run it with this interpreter when the
        # console script is not on PATH (a venv used without activating it).
        argv = [sys.executable, "-m", "tuneop_runner", *argv[1:]]
    elif argv and argv[0] in {"python", "python3"}:
        # A container's python is the image's; locally it is tuneop's own, so the
        # packages installed beside tuneop (an example's scikit-learn) are there.
        argv = [sys.executable, *argv[1:]]
    return argv


def fail_job_codes(manifest: dict[str, Any]) -> set[int]:
    """The exit codes the Job's podFailurePolicy fails the Job on at once."""
    rules = ((manifest.get("spec") or {}).get("podFailurePolicy") or {}).get("rules") or []
    return {
        code
        for rule in rules
        if rule.get("action") == "FailJob"
        for code in (rule.get("onExitCodes") or {}).get("values") or []
    }


def attempt_logs(folder: Path, name: str) -> list[Path]:
    """The logs of ``name``'s attempts, in attempt order."""
    found = []
    for path in folder.glob(f"{name}.*.log"):
        attempt = path.name[len(name) + 1 : -len(".log")]
        if attempt.isdigit() and not path.is_symlink():
            found.append((int(attempt), path))
    return [p for _, p in sorted(found)]


def recorded_jobs(
    folder: Path, wanted: set[int], below: Path
) -> list[tuple[JobToCreate, dict[str, Any]]]:
    """The recorded Jobs whose index is in ``wanted``; a file that is not one is passed over."""
    out = []
    for path in sorted(folder.glob("*.job.json")):
        try:
            doc = json.loads(read_capped(path, JOB_RECORD_BYTES, below)[:JOB_RECORD_BYTES])
            job = JobToCreate(
                index=int(doc["index"]),
                name=str(doc["name"]),
                trials=tuple(int(t) for t in doc["trials"]),
                params=tuple(dict(p) for p in doc["params"]),
                manifest=dict(doc["manifest"]),
            )
            job.manifest["spec"]["template"]["spec"]["containers"][0]
            wire = decode_job(job.manifest)
            job = replace(job, retry=wire.retry if wire is not None else None)
        except (OSError, ValueError, TypeError, KeyError, IndexError, RecursionError):
            continue
        if job.index in wanted and len(job.params) == len(job.trials):
            out.append((job, doc))
    return out
