"""Worker Jobs as local processes: the executor behind ``tuneop run --local``.

Each Job becomes one process running the Job manifest's container command with
its environment, in its own process group, its stdout and stderr captured to a
log file the way a pod log would be. The Job's ``activeDeadlineSeconds`` and
``backoffLimit`` are honoured like the Kubernetes Job controller does: past the
deadline the whole process group is killed (reason DeadlineExceeded); a failed
attempt is retried with a fresh log until the retries are spent
(BackoffLimitExceeded), except that an exit code the ``podFailurePolicy`` fails
the Job on ends it at once (PodFailurePolicy). The operator's Jobs have
``backoffLimit: 0``: retries are per trial, by the planner. A Job of a Python
objective runs on a warm worker instead (``warm``: one process per slot). Deleting a Job
stops its process group and every process below it, ``setsid`` children
included (``proctree``); ``shutdown`` stops whatever is still below this process.

Each Job is recorded in a ``jobs`` folder beside ``logs`` (``<job>.job.json``: its trials, their
parameters, its manifest and its worker's pid), so a later run of the same
session can ``resume`` the Jobs an interrupted run left in flight: it stops
any worker of theirs still alive, keeps the results their logs already hold,
and starts a new attempt for only the trials without one.

A worker's output is untrusted and may be huge, so a log file keeps the
first ``LOG_CAP_BYTES`` of it, then a visible marker, then only the result
lines (which the harvest needs), and at the end how much was not kept. The
harvest reads a log by streaming it: every result line plus the last
``LOG_TAIL_BYTES`` of other output, so a Job's trials are all found
whatever its log's size, in bounded memory.

Of a pod template, a local run runs only the trial container (the one the
``tuneop.dev/container`` annotation names): init containers, sidecars and
volumes are the cluster's. Its env entries with a ``value`` are passed (with
the kubelet's ``$(VAR)`` expansion, also in ``command`` and ``args``);
``valueFrom`` and ``envFrom`` need the cluster and are left out. A command
``python`` or ``python3`` runs with tuneop's own interpreter. The params
file is written to ``params/<job>.json`` beside the ``logs`` folder, and
``TUNEOP_PARAMS_FILE`` points to it. With early stopping, the trials meet in
the journal file ``pruning.journal`` beside ``logs`` (``tuneop.core.pruning``):
a local run needs no Redis for it.

Files are opened through ``adapters.local.safefs`` (no link followed, no FIFO
waited on). A log that cannot be written (ENOSPC, EFBIG) stops the session:
``list_jobs`` raises that error, naming the log; a rerun resumes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from tuneop.adapters.local.folder import dump_json, write_atomic
from tuneop.adapters.local.proctree import (
    KILL_GRACE_SECONDS,
    descendants,
    kill_group,
    process_start,
    stop_tree,
)
from tuneop.adapters.local.safefs import ensure_regular, open_new, open_read, read_capped
from tuneop.adapters.local.warm import WarmPool, WarmRun, job_env, runs_warm
from tuneop.api.session import SessionRef
from tuneop.api.vocabulary import ANN_CONTAINER, ANN_PARAMS
from tuneop.core.contract import LOG_TAIL_BYTES, RESULT_PREFIX, parse_log
from tuneop.core.framing import FRAME_PREFIXES
from tuneop.core.logscan import scan
from tuneop.core.manifests import ENV_TRIALS, decode_job
from tuneop.core.observed import JobState, ObservedJob
from tuneop.core.planner import JobToCreate
from tuneop.core.podtemplate import kube_expand
from tuneop.core.pruning import ENV_EARLY_STOPPING, ENV_PRUNING_STORAGE, JOURNAL_FILE

__all__ = [
    "KILL_GRACE_SECONDS",
    "LOG_CAP_BYTES",
    "LocalJobs",
    "copy_capped",
    "harvestable",
    "kill_group",
]

LOG_CAP_BYTES = 16 * 1024 * 1024
# Lines are read in pieces of at most this size; a result line is far shorter.
READ_LINE_BYTES = 1024 * 1024
READ_CHUNK_BYTES = 256 * 1024
RESULT = RESULT_PREFIX.encode()
# Kept in a log past its cap: result lines, and the runner's frames they stand in.
KEPT_PAST_CAP = (RESULT, *(p.encode() for p in FRAME_PREFIXES))
# A Job record holds its trials' parameters: at most 1000 trials of bounded params.
JOB_RECORD_BYTES = 16 * 1024 * 1024


def copy_capped(src: IO[bytes], dst: IO[bytes], cap: int = LOG_CAP_BYTES) -> int:
    """Copy a worker's output into its log: all of it up to ``cap`` bytes, then only the
    result lines and the frames they stand in; returns how many bytes were not kept (also
    noted at the end)."""
    written = dropped = 0
    capped = False
    for line in iter(lambda: src.readline(READ_LINE_BYTES), b""):
        if written + len(line) > cap and not capped:
            capped = True
            dst.write(
                f"\n[tuneop: output past {cap} bytes is not kept; result lines are]\n".encode()
            )
        if capped and not line.startswith(KEPT_PAST_CAP):
            dropped += len(line)
            continue
        written += len(line)
        dst.write(line)
        dst.flush()
    if dropped:
        dst.write(f"\n[tuneop: {dropped} bytes of output were not kept]\n".encode())
    return dropped


def harvestable(
    path: Path,
    tail: int = LOG_TAIL_BYTES,
    trials: Sequence[int] | None = None,
    below: Path | None = None,
) -> str:
    """What the harvest needs of a log of any size (``core.logscan``), of ``trials`` only
    when given, read via ``safefs``."""
    with open_read(path, below) as f:
        return scan(iter(lambda: f.read(READ_CHUNK_BYTES), b""), tail, trials)


@dataclass
class _Job:
    spec: JobToCreate
    argv: list[str]
    env: dict[str, str]
    deadline: float
    retries_left: int
    logs: list[Path] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | WarmRun | None = None
    warm: bool = False  # runs on a warm worker (tuneop.adapters.local.warm)
    state: JobState = JobState.ACTIVE
    reason: str | None = None


def _argv(container: dict[str, Any], env: dict[str, str]) -> list[str]:
    words = [*container.get("command", []), *container.get("args", [])]
    argv = [kube_expand(w, env) for w in words]
    if argv and argv[0] == "tuneop-runner" and shutil.which("tuneop-runner") is None:
        # The runner is installed with tuneop; run it with this interpreter when the
        # console script is not on PATH (a venv used without activating it).
        argv = [sys.executable, "-m", "tuneop_runner", *argv[1:]]
    elif argv and argv[0] in {"python", "python3"}:
        # A container's python is the image's; locally it is tuneop's own, so the
        # packages installed beside tuneop (an example's scikit-learn) are there.
        argv = [sys.executable, *argv[1:]]
    return argv


def _fail_job_codes(manifest: dict[str, Any]) -> set[int]:
    """The exit codes the Job's podFailurePolicy fails the Job on at once."""
    rules = ((manifest.get("spec") or {}).get("podFailurePolicy") or {}).get("rules") or []
    return {
        code
        for rule in rules
        if rule.get("action") == "FailJob"
        for code in (rule.get("onExitCodes") or {}).get("values") or []
    }


@dataclass
class LocalJobs:
    """A JobBackend of local processes; ``wakeup`` is set whenever a process exits."""

    logs_dir: Path
    wakeup: threading.Event = field(default_factory=threading.Event)
    cwd: Path | None = None
    monotonic: Callable[[], float] = time.monotonic
    log_cap_bytes: int = LOG_CAP_BYTES
    # Trials whose results ``resume`` found in the logs of the Jobs it took back.
    collected: int = 0
    # A Python objective's Jobs run on warm workers, one per slot (tuneop.adapters.local.warm).
    warm_workers: bool = True
    _pool: WarmPool | None = None
    _jobs: dict[str, _Job] = field(default_factory=dict)
    # A log that could not be written (a full disk): the session stops at the next look.
    _fault: OSError | None = None
    # Processes below this one before the session began (a caller's own children, such
    # as a test's redis-server): not the session's, so never stopped by it.
    _before: frozenset[int] = field(default_factory=lambda: frozenset(descendants(os.getpid())))

    def create_job(self, ref: SessionRef, job: JobToCreate) -> None:
        if job.name in self._jobs:
            return  # like "already exists": a repeated create is harmless
        entry = self._entry(job)
        self._jobs[job.name] = entry
        self._start(entry)

    def _entry(self, job: JobToCreate) -> _Job:
        spec = job.manifest["spec"]
        container, own = self._trial_container(job)
        return _Job(
            spec=job,
            argv=_argv(container, own),
            env={**os.environ, **own},
            deadline=self.monotonic() + float(spec["activeDeadlineSeconds"]),
            retries_left=int(spec.get("backoffLimit", 0)),
            warm=self.warm_workers and runs_warm(container, own),
        )

    def _record(self, entry: _Job) -> None:
        """The Job beside its logs, for a later run to resume it."""
        job, proc = entry.spec, entry.proc
        doc = {
            "index": job.index,
            "name": job.name,
            "trials": list(job.trials),
            "params": list(job.params),
            "manifest": job.manifest,
            "pid": proc.pid if proc is not None else None,
            "pidStart": process_start(proc.pid) if proc is not None else None,
        }
        write_atomic(self.records_dir / f"{job.name}.job.json", dump_json(doc), self.anchor)

    @property
    def records_dir(self) -> Path:
        return self.logs_dir.with_name("jobs")

    def recorded(self, wanted: set[int]) -> set[int]:
        """The Jobs of ``wanted`` recorded well enough for ``resume`` to take them back."""
        return {job.index for job, _ in _recorded_jobs(self.records_dir, wanted, self.anchor)}

    @property
    def anchor(self) -> Path:
        """The results root: below it, no link is followed (the session folder is ours)."""
        return self.logs_dir.parent.parent

    def resume(self, inflight: set[int]) -> list[int]:
        """Take back the Jobs of ``inflight`` an interrupted run recorded; their indexes."""
        taken = []
        for job, old in _recorded_jobs(self.records_dir, inflight, self.anchor):
            pid, start = old.get("pid"), old.get("pidStart")
            if isinstance(pid, int) and pid > 1 and start and process_start(pid) == start:
                stop_tree(pid, KILL_GRACE_SECONDS, include_root=True)  # a worker left running
            entry = self._entry(job)
            entry.logs = _attempt_logs(self.logs_dir, job.name)
            logs = [harvestable(path, trials=job.trials, below=self.anchor) for path in entry.logs]
            done = {t for log in logs for t in parse_log(log).reports}
            left = [(t, p) for t, p in zip(job.trials, job.params, strict=True) if t not in done]
            self.collected += len(job.trials) - len(left)
            self._jobs[job.name] = entry
            taken.append(job.index)
            if not left:
                entry.state = JobState.SUCCEEDED
                continue
            payload = [{"trial": t, "params": p} for t, p in left]
            entry.env[ENV_TRIALS] = json.dumps(payload, separators=(",", ":"))
            self._start(entry)
        return taken

    def _trial_container(self, job: JobToCreate) -> tuple[dict[str, Any], dict[str, str]]:
        """The trial container of ``job``'s pod and the env it defines (expanded)."""
        template = job.manifest["spec"]["template"]
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        containers = template["spec"]["containers"]
        name = annotations.get(ANN_CONTAINER)
        container = next((c for c in containers if c.get("name") == name), containers[0])
        env: dict[str, str] = {}
        for e in container.get("env") or []:
            if "value" in e or "valueFrom" not in e:
                env[e["name"]] = kube_expand(str(e.get("value", "")), env)
        if ANN_PARAMS in annotations and "TUNEOP_PARAMS_FILE" in env:
            path = self.logs_dir.with_name("params") / f"{job.name}.json"  # beside logs/
            with open_new(path, self.anchor) as f:
                f.write(str(annotations[ANN_PARAMS]).encode())
            env["TUNEOP_PARAMS_FILE"] = str(path)
        if ENV_EARLY_STOPPING in env:
            journal = self.logs_dir.with_name(JOURNAL_FILE)
            # The runner's Optuna opens it by name: make sure it is a regular file of ours.
            ensure_regular(journal, self.anchor)
            env[ENV_PRUNING_STORAGE] = str(journal)
        return container, env

    def _start(self, entry: _Job) -> None:
        path = self.logs_dir / f"{entry.spec.name}.{len(entry.logs)}.log"
        out = open_new(path, self.anchor)
        entry.logs.append(path)
        if entry.warm:
            entry.proc = self._warm_pool().start(job_env(entry.env), out)
            self._record(entry)
            return
        try:
            proc = subprocess.Popen(
                entry.argv,
                env=entry.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as err:
            out.write(f"cannot start {entry.argv[0]!r}: {err.strerror}\n".encode())
            out.close()
            entry.state, entry.reason = JobState.FAILED, "StartError"
            self.wakeup.set()
            return
        entry.proc = proc
        threading.Thread(target=self._wait, args=(proc, out, path), daemon=True).start()
        self._record(entry)

    def _wait(self, proc: subprocess.Popen[bytes], out: IO[bytes], path: Path) -> None:
        stdout = proc.stdout
        assert stdout is not None
        try:
            with out:
                copy_capped(stdout, out, self.log_cap_bytes)
        except OSError as err:
            # ENOSPC, EFBIG: the log is incomplete, so the session stops (``list_jobs``);
            # the output is drained meanwhile, so the worker never blocks on the pipe.
            self._fault = OSError(err.errno, err.strerror, str(path))
            while stdout.read(READ_CHUNK_BYTES):
                pass
        stdout.close()
        proc.wait()
        self.wakeup.set()

    def _poll(self, entry: _Job) -> None:
        if entry.state is not JobState.ACTIVE or entry.proc is None:
            return
        code = entry.proc.poll()
        if code is None:
            if self.monotonic() >= entry.deadline:
                self._stop(entry.proc)
                entry.state, entry.reason = JobState.FAILED, "DeadlineExceeded"
            return
        if code == 0:
            entry.state = JobState.SUCCEEDED
        elif code in _fail_job_codes(entry.spec.manifest):
            entry.state, entry.reason = JobState.FAILED, "PodFailurePolicy"
        elif entry.retries_left > 0:
            entry.retries_left -= 1
            self._start(entry)
        else:
            crash = entry.proc.crash if isinstance(entry.proc, WarmRun) else None
            entry.state, entry.reason = JobState.FAILED, crash or "BackoffLimitExceeded"

    def _warm_pool(self) -> WarmPool:
        if self._pool is None:
            self._pool = WarmPool(dict(os.environ), self.cwd, self.wakeup.set, self.log_cap_bytes)
        return self._pool

    def _stop(self, proc: subprocess.Popen[bytes] | WarmRun) -> None:
        if isinstance(proc, WarmRun):
            self._warm_pool().stop(proc)
        else:
            kill_group(proc)

    def list_jobs(self, ref: SessionRef) -> list[ObservedJob]:
        if self._fault is not None:
            raise self._fault
        out = []
        for entry in self._jobs.values():
            self._poll(entry)
            out.append(
                ObservedJob(
                    index=entry.spec.index,
                    name=entry.spec.name,
                    trials=entry.spec.trials,
                    state=entry.state,
                    params=entry.spec.params,
                    reason=entry.reason,
                    retry=entry.spec.retry,
                )
            )
        return sorted(out, key=lambda j: j.index)

    def read_logs(self, ref: SessionRef, job: ObservedJob) -> Sequence[str] | None:
        entry = self._jobs.get(job.name)
        if entry is None:
            return None
        return [harvestable(path, trials=job.trials, below=self.anchor) for path in entry.logs]

    def delete_job(self, ref: SessionRef, name: str) -> None:
        entry = self._jobs.pop(name, None)
        if entry is not None and entry.proc is not None:
            self._stop(entry.proc)

    def seconds_to_next_deadline(self) -> float | None:
        active = [e.deadline for e in self._jobs.values() if e.state is JobState.ACTIVE]
        return max(min(active) - self.monotonic(), 0.0) if active else None

    def active(self) -> int:
        return sum(e.state is JobState.ACTIVE for e in self._jobs.values())

    def shutdown(self) -> None:
        """Stop every worker, then every process still below this one (orphans re-parented
        here: this process is their subreaper during a local session)."""
        for name in list(self._jobs):
            self.delete_job(SessionRef("", ""), name)
        if self._pool is not None:
            self._pool.close()
        stop_tree(os.getpid(), KILL_GRACE_SECONDS, keep=self._before)


def _attempt_logs(folder: Path, name: str) -> list[Path]:
    """The logs of ``name``'s attempts, in attempt order."""
    found = []
    for path in folder.glob(f"{name}.*.log"):
        attempt = path.name[len(name) + 1 : -len(".log")]
        if attempt.isdigit() and not path.is_symlink():
            found.append((int(attempt), path))
    return [p for _, p in sorted(found)]


def _recorded_jobs(
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
