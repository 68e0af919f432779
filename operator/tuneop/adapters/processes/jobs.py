"""Worker Jobs as local processes: the executor behind ``tuneop run --local``.

Each Job becomes one process (``tuneop.adapters.processes.spawn``) running its trial container's
command with its env, in its ``workingDir`` when that folder exists here, in its own session and
process group, its output in a log file (``tuneop.adapters.results_folder.logs``). Of a pod
template only that container runs (``tuneop.core.jobs.localpod``): env entries with a ``value`` are
passed (with the kubelet's ``$(VAR)`` expansion, also in ``command`` and ``args``); ``valueFrom``,
``envFrom``, volumes, init containers and sidecars are the cluster's. A command ``python`` or
``python3`` runs with tuneop's own interpreter. The params file is written to ``params/<job>.json``
beside ``logs``; with early stopping the trials meet in ``pruning.journal`` there. A trial
container that asks for GPUs gets its own (``gpus``). ``first_output`` reads the beginning of a
running worker's log (Katib's median stop).

Time limits are the trials' own: a worker runs at most ``trialTimeoutSeconds`` per trial (no pod
start-up to allow for, unlike the cluster's ``activeDeadlineSeconds``; a runner worker gets
``RUNNER_SLACK_SECONDS`` more, as the runner times its trials out itself), then its process tree
gets SIGTERM and, ``KILL_GRACE_SECONDS`` later, SIGKILL. The Job's ``backoffLimit`` and
``podFailurePolicy`` are honoured as Kubernetes would (the operator's Jobs have ``backoffLimit:
0``: retries are per trial, by the planner), and a failed Job says what happened in local words
("exited with code 1", "was killed after the 3 s trial timeout") with its stderr's last lines.
Deleting a Job stops its process group and every process below it, ``setsid`` children included
(``proctree``); ``shutdown`` stops whatever is still below this process. If tuneop itself is
killed, workers die by their parent-death signal and the watchdog stops what they started.

A Job of a Python objective runs on a warm worker (``warm``, one per slot, watched like any
worker). Files open through ``results_folder.safefs`` (no link followed, no FIFO waited on). An
unwritable log (ENOSPC, EFBIG) stops the session; a rerun resumes.
Each Job is recorded in a ``jobs`` folder beside ``logs`` (``<job>.job.json``: its trials, their
parameters, its manifest and its worker's pid), so a later run of the same session can ``resume``
the Jobs an interrupted run left in flight: it stops any worker of theirs still alive, keeps the
results their logs already hold, and starts a new attempt for only the trials without one.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneop.adapters.processes.gpus import GpuPool
from tuneop.adapters.processes.proctree import (
    KILL_GRACE_SECONDS,
    descendants,
    kill_group,
    process_start,
    stop_tree,
)
from tuneop.adapters.processes.spawn import Attempt, exit_words, start_attempt
from tuneop.adapters.processes.warm import WarmPool, WarmRun, job_env, runs_warm
from tuneop.adapters.processes.watchdog_client import Watchdog
from tuneop.adapters.results_folder.folder import dump_json, write_atomic
from tuneop.adapters.results_folder.jobrecords import (
    attempt_logs,
    fail_job_codes,
    recorded_jobs,
    worker_argv,
)
from tuneop.adapters.results_folder.logs import LOG_CAP_BYTES as LOG_CAP_BYTES
from tuneop.adapters.results_folder.logs import copy_capped, harvestable, head_text
from tuneop.adapters.results_folder.safefs import ensure_regular, open_new
from tuneop.api.session import SessionRef
from tuneop.api.vocabulary import ANN_CONTAINER, ANN_PARAMS
from tuneop.core.clock import SYSTEM_CLOCK
from tuneop.core.jobs.localpod import gpus_per_trial, is_runner
from tuneop.core.jobs.manifests import ENV_TRIALS, JOB_START_SLACK_SECONDS
from tuneop.core.jobs.observed import JobState, ObservedJob
from tuneop.core.jobs.podtemplate import kube_expand
from tuneop.core.jobs.pruning import ENV_EARLY_STOPPING, ENV_PRUNING_STORAGE, JOURNAL_FILE
from tuneop.core.planning.planner import JobToCreate
from tuneop.core.results.harvest import JobLogs
from tuneop.core.wire.contract import parse_log
from tuneop.ports import JobsOnly

__all__ = [
    "KILL_GRACE_SECONDS",
    "LOG_CAP_BYTES",
    "RUNNER_SLACK_SECONDS",
    "LocalJobs",
    "copy_capped",
    "harvestable",
    "kill_group",
]

# The runner times each trial out itself and reports it; its worker's own limit comes
# this much later, so the runner's report (with what the trial printed) wins.
RUNNER_SLACK_SECONDS = 1.0


@dataclass
class _Job:
    spec: JobToCreate
    argv: list[str]
    env: dict[str, str]
    cwd: Path | None
    limit: float  # seconds an attempt may run
    retries_left: int
    gpus: int = 0
    deadline: float = float("inf")
    logs: list[Path] = field(default_factory=list)
    attempt: Attempt | None = None
    warm: bool = False  # runs on a warm worker (tuneop.adapters.processes.warm)
    run: WarmRun | None = None  # its Job on that worker
    state: JobState = JobState.ACTIVE
    reason: str | None = None
    words: str | None = None  # what happened, in local words


@dataclass
class LocalJobs(JobsOnly):
    """A JobBackend of local processes; ``wakeup`` is set whenever a process exits."""

    logs_dir: Path
    wakeup: threading.Event = field(default_factory=threading.Event)
    cwd: Path | None = None
    monotonic: Callable[[], float] = SYSTEM_CLOCK.monotonic
    log_cap_bytes: int = LOG_CAP_BYTES
    gpus: GpuPool = field(default_factory=GpuPool)
    watchdog: Watchdog = field(default_factory=Watchdog)
    # Trials whose results ``resume`` found in the logs of the Jobs it took back.
    collected: int = 0
    # A Python objective's Jobs run on warm workers, one per slot (tuneop.adapters.processes.warm).
    warm_workers: bool = True
    # Made at the first warm Job, or handed in with its workers started early.
    pool: WarmPool | None = None
    _jobs: dict[str, _Job] = field(default_factory=dict)
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
        argv = worker_argv(container, own, job.manifest["spec"]["template"])
        # No pod to schedule nor image to pull here: the trials' own time is the limit.
        limit = float(spec["activeDeadlineSeconds"]) - JOB_START_SLACK_SECONDS
        if is_runner(argv):
            limit += RUNNER_SLACK_SECONDS
        return _Job(
            spec=job,
            argv=argv,
            env={**os.environ, **own},
            cwd=self._workdir(container),
            limit=max(limit, 1.0),
            retries_left=int(spec.get("backoffLimit", 0)),
            gpus=gpus_per_trial(container),
            # A warm worker's environment is the slot's: a trial that asks for GPUs gets
            # its own process, and with it its own devices.
            warm=self.warm_workers and runs_warm(container, own) and not gpus_per_trial(container),
        )

    def _workdir(self, container: dict[str, Any]) -> Path | None:
        """The container's workingDir when it exists here (else the run's own folder)."""
        wanted = container.get("workingDir")
        if not wanted:
            return self.cwd
        path = (self.cwd or Path.cwd()) / str(wanted)
        return path if path.is_dir() else self.cwd

    def _record(self, entry: _Job) -> None:
        """The Job beside its logs, for a later run to resume it."""
        job, pid = entry.spec, _pid(entry)
        doc = {
            "index": job.index,
            "name": job.name,
            "trials": list(job.trials),
            "params": list(job.params),
            "manifest": job.manifest,
            "pid": pid,
            "pidStart": process_start(pid) if pid is not None else None,
        }
        # Not fsynced: a kill loses no written file; a machine's crash, its log too (rerun)
        write_atomic(self.records_dir / f"{job.name}.job.json", dump_json(doc), self.anchor, False)

    @property
    def records_dir(self) -> Path:
        return self.logs_dir.with_name("jobs")

    @property
    def anchor(self) -> Path:
        """The results root: below it, no link is followed (the session folder is ours)."""
        return self.logs_dir.parent.parent

    def recorded(self, wanted: set[int]) -> set[int]:
        """The Jobs of ``wanted`` recorded well enough for ``resume`` to take them back."""
        return {job.index for job, _ in recorded_jobs(self.records_dir, wanted, self.anchor)}

    def resume(self, inflight: set[int]) -> list[int]:
        """Take back the Jobs of ``inflight`` an interrupted run recorded; their indexes."""
        taken = []
        for job, old in recorded_jobs(self.records_dir, inflight, self.anchor):
            pid, start = old.get("pid"), old.get("pidStart")
            if isinstance(pid, int) and pid > 1 and start and process_start(pid) == start:
                stop_tree(pid, KILL_GRACE_SECONDS, include_root=True)  # a worker left running
            entry = self._entry(job)
            entry.logs = attempt_logs(self.logs_dir, job.name)
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
            env["TUNEOP_PARAMS_FILE"] = str(path.absolute())  # the trial may run elsewhere
        if ENV_EARLY_STOPPING in env:
            journal = self.logs_dir.with_name(JOURNAL_FILE)
            # The runner's Optuna opens it by name: make sure it is a regular file of ours.
            ensure_regular(journal, self.anchor)
            env[ENV_PRUNING_STORAGE] = str(journal.absolute())  # the trial may run elsewhere
        return container, env

    def _start(self, entry: _Job) -> None:
        path = self.logs_dir / f"{entry.spec.name}.{len(entry.logs)}.log"
        entry.logs.append(path)
        if entry.warm:
            entry.run = self._warm_pool().start(job_env(entry.env), open_new(path, self.anchor))
            entry.deadline = self.monotonic() + entry.limit
            self.watchdog.announce(entry.run.pid, process_start(entry.run.pid))
            self._record(entry)
            return
        env = {**entry.env, **self.gpus.take(entry.spec.name, entry.gpus)}
        try:
            attempt = start_attempt(
                entry.argv,
                env,
                entry.cwd,
                path,
                self.monotonic,
                self.wakeup.set,
                self.log_cap_bytes,
                below=self.anchor,
            )
        except OSError as err:
            self.gpus.give_back(entry.spec.name)
            entry.state, entry.reason = JobState.FAILED, "StartError"
            entry.words = f"could not start {entry.argv[0]!r}: {err}"
            self.wakeup.set()
            return
        entry.attempt = attempt
        entry.deadline = attempt.started + entry.limit
        self.watchdog.announce(attempt.proc.pid, process_start(attempt.proc.pid))
        self._record(entry)

    def _poll(self, entry: _Job) -> None:
        if entry.state is not JobState.ACTIVE:
            return
        ended = _ended(entry)
        if ended is None:
            if _pid(entry) is not None and self.monotonic() >= entry.deadline:
                self._stop(entry)
                entry.state, entry.reason = JobState.FAILED, "DeadlineExceeded"
                entry.words = f"was killed after {_timeout_words(entry)}"
            return
        code, crash = ended
        self.gpus.give_back(entry.spec.name)
        entry.words = crash or (exit_words(code) if code is not None else "ended")
        if code == 0:
            entry.state = JobState.SUCCEEDED
        elif code in fail_job_codes(entry.spec.manifest):
            entry.state, entry.reason = JobState.FAILED, "PodFailurePolicy"
            entry.words += " (the runner found the session's configuration broken)"
        elif entry.retries_left > 0:
            entry.retries_left -= 1
            self._start(entry)
        else:
            entry.state, entry.reason = JobState.FAILED, "BackoffLimitExceeded"

    def _warm_pool(self) -> WarmPool:
        if self.pool is None:
            self.pool = WarmPool(dict(os.environ), self.cwd, self.wakeup.set, self.log_cap_bytes)
        return self.pool

    def _stop(self, entry: _Job) -> None:
        """Stop the Job's worker (its whole tree) and give its GPUs back."""
        if entry.run is not None:
            self._warm_pool().stop(entry.run)
        elif entry.attempt is not None:
            kill_group(entry.attempt.proc)
            entry.attempt.done.wait()
        self.gpus.give_back(entry.spec.name)

    def list_jobs(self, ref: SessionRef) -> list[ObservedJob]:
        for entry in self._jobs.values():
            fault = entry.attempt.fault if entry.attempt is not None else None
            if fault is not None:
                raise fault  # a full disk: the log is incomplete, so the session stops
        out = []
        for entry in self._jobs.values():
            self._poll(entry)
            worker = entry.run if entry.run is not None else entry.attempt
            finished = entry.state is not JobState.ACTIVE and worker is not None
            out.append(
                ObservedJob(
                    index=entry.spec.index,
                    name=entry.spec.name,
                    trials=entry.spec.trials,
                    state=entry.state,
                    params=entry.spec.params,
                    reason=entry.reason,
                    retry=entry.spec.retry,
                    detail=entry.words if entry.state is JobState.FAILED else None,
                    stderr_tail=worker.tail.lines() if finished and worker else (),
                    seconds=tuple(worker.seconds(entry.spec.trials).items())
                    if finished and worker
                    else (),
                )
            )
        return sorted(out, key=lambda j: j.index)

    def read_logs(self, ref: SessionRef, job: ObservedJob) -> JobLogs | None:
        entry = self._jobs.get(job.name)
        if entry is None:
            return None
        return JobLogs(
            tuple(
                harvestable(path, trials=job.trials, below=self.anchor)
                for path in entry.logs
                if path.exists()
            )
        )

    def first_output(self, ref: SessionRef, job: ObservedJob, limit: int) -> str | None:
        entry = self._jobs.get(job.name)
        return head_text(entry.logs[-1], limit, self.anchor) if entry and entry.logs else None

    def delete_jobs(self, ref: SessionRef, names: Sequence[str]) -> None:
        for entry in filter(None, (self._jobs.pop(name, None) for name in names)):
            self._stop(entry)

    def seconds_to_next_deadline(self) -> float | None:
        active = [e.deadline for e in self._jobs.values() if e.state is JobState.ACTIVE]
        return max(min(active) - self.monotonic(), 0.0) if active else None

    def active(self) -> int:
        return sum(e.state is JobState.ACTIVE for e in self._jobs.values())

    def shutdown(self) -> None:
        """Stop every worker, then every process still below this one (orphans re-parented
        here: this process is their subreaper during a local session); then the watchdog."""
        self.delete_jobs(SessionRef("", ""), list(self._jobs))
        if self.pool is not None:
            self.pool.close()
        stop_tree(os.getpid(), KILL_GRACE_SECONDS, keep=self._before | self.watchdog.pids())
        self.watchdog.close()


def _ended(entry: _Job) -> tuple[int | None, str | None] | None:
    """How the Job's worker ended (exit code, how a warm worker died), or None: running."""
    if entry.run is not None:
        return (entry.run.code, entry.run.crash) if entry.run.done.is_set() else None
    if entry.attempt is not None and entry.attempt.done.is_set():
        return entry.attempt.proc.returncode, None
    return None


def _pid(entry: _Job) -> int | None:
    if entry.run is not None:
        return entry.run.pid
    return entry.attempt.proc.pid if entry.attempt is not None else None


def _timeout_words(entry: _Job) -> str:
    trials = len(entry.spec.trials)
    each = entry.env.get("TUNEOP_TRIAL_TIMEOUT_SECONDS", "?")
    if trials == 1:
        return f"the {each} s trial timeout"
    return f"the {each} s trial timeout of each of its {trials} trials"
