"""Worker Jobs as local processes: the executor behind ``tuneop run --local``.

Each Job becomes one process running the Job manifest's container command with
its environment, in its own process group, its stdout and stderr captured to a
log file the way a pod log would be. The Job's ``activeDeadlineSeconds`` and
``backoffLimit`` are honoured like the Kubernetes Job controller does: past the
deadline the whole process group is killed (reason DeadlineExceeded); a failed
attempt is retried with a fresh log until the retries are spent
(BackoffLimitExceeded). Deleting a Job kills its process group.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneop.api.session import SessionRef
from tuneop.core.contract import LOG_TAIL_BYTES
from tuneop.core.observed import JobState, ObservedJob
from tuneop.core.planner import JobToCreate

__all__ = ["KILL_GRACE_SECONDS", "LocalJobs", "kill_group"]

KILL_GRACE_SECONDS = 2.0


@dataclass
class _Job:
    spec: JobToCreate
    argv: list[str]
    env: dict[str, str]
    deadline: float
    retries_left: int
    logs: list[Path] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    state: JobState = JobState.ACTIVE
    reason: str | None = None


def _argv(container: dict[str, Any]) -> list[str]:
    argv = [*container.get("command", []), *container.get("args", [])]
    if argv and argv[0] == "tuneop-runner" and shutil.which("tuneop-runner") is None:
        # The runner is installed with tuneop; run it with this interpreter when the
        # console script is not on PATH (a venv used without activating it).
        argv = [sys.executable, "-m", "tuneop_runner", *argv[1:]]
    return argv


def kill_group(proc: subprocess.Popen[bytes], grace: float = KILL_GRACE_SECONDS) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


@dataclass
class LocalJobs:
    """A JobBackend of local processes; ``wakeup`` is set whenever a process exits."""

    logs_dir: Path
    wakeup: threading.Event = field(default_factory=threading.Event)
    cwd: Path | None = None
    monotonic: Callable[[], float] = time.monotonic
    _jobs: dict[str, _Job] = field(default_factory=dict)

    def create_job(self, ref: SessionRef, job: JobToCreate) -> None:
        if job.name in self._jobs:
            return  # like "already exists": a repeated create is harmless
        spec = job.manifest["spec"]
        container = spec["template"]["spec"]["containers"][0]
        env = dict(os.environ)
        env.update({e["name"]: e.get("value", "") for e in container.get("env", [])})
        entry = _Job(
            spec=job,
            argv=_argv(container),
            env=env,
            deadline=self.monotonic() + float(spec["activeDeadlineSeconds"]),
            retries_left=int(spec.get("backoffLimit", 0)),
        )
        self._jobs[job.name] = entry
        self._start(entry)

    def _start(self, entry: _Job) -> None:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        path = self.logs_dir / f"{entry.spec.name}.{len(entry.logs)}.log"
        entry.logs.append(path)
        with path.open("wb") as out:
            try:
                proc = subprocess.Popen(
                    entry.argv,
                    env=entry.env,
                    cwd=self.cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as err:
                out.write(f"cannot start {entry.argv[0]!r}: {err.strerror}\n".encode())
                entry.state, entry.reason = JobState.FAILED, "StartError"
                self.wakeup.set()
                return
        entry.proc = proc
        threading.Thread(target=self._wait, args=(proc,), daemon=True).start()

    def _wait(self, proc: subprocess.Popen[bytes]) -> None:
        proc.wait()
        self.wakeup.set()

    def _poll(self, entry: _Job) -> None:
        if entry.state is not JobState.ACTIVE or entry.proc is None:
            return
        code = entry.proc.poll()
        if code is None:
            if self.monotonic() >= entry.deadline:
                kill_group(entry.proc)
                entry.state, entry.reason = JobState.FAILED, "DeadlineExceeded"
            return
        if code == 0:
            entry.state = JobState.SUCCEEDED
        elif entry.retries_left > 0:
            entry.retries_left -= 1
            self._start(entry)
        else:
            entry.state, entry.reason = JobState.FAILED, "BackoffLimitExceeded"

    def list_jobs(self, ref: SessionRef) -> list[ObservedJob]:
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
                )
            )
        return sorted(out, key=lambda j: j.index)

    def read_logs(self, ref: SessionRef, job: ObservedJob) -> Sequence[str] | None:
        entry = self._jobs.get(job.name)
        if entry is None:
            return None
        logs = []
        for path in entry.logs:
            with path.open("rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(size - LOG_TAIL_BYTES, 0))
                logs.append(f.read().decode("utf-8", errors="replace"))
        return logs

    def delete_job(self, ref: SessionRef, name: str) -> None:
        entry = self._jobs.pop(name, None)
        if entry is not None and entry.proc is not None:
            kill_group(entry.proc)

    def seconds_to_next_deadline(self) -> float | None:
        active = [e.deadline for e in self._jobs.values() if e.state is JobState.ACTIVE]
        return max(min(active) - self.monotonic(), 0.0) if active else None

    def active(self) -> int:
        return sum(e.state is JobState.ACTIVE for e in self._jobs.values())

    def shutdown(self) -> None:
        for name in list(self._jobs):
            self.delete_job(SessionRef("", ""), name)
