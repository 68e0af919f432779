"""In-memory adapters: status, events, results and Jobs kept in the process.

Production uses two of them: a local session keeps its status in
``MemoryStatus`` (the results folder holds what must survive), and the
operator without ``--results-dir`` keeps each bayesian session's history in
``MemoryHistory``. The rest are the fakes unit tests drive: ``FakeJobs``
(tests move Jobs along with ``finish``), ``MemoryEvents`` and
``MemoryResults`` (a result store and mirror in one).

``MemoryHistory`` is the bayesian optimizer's memory when there is no
results folder: enough to suggest good trials while the operator runs, but
lost on a restart (the next suggestions then start from what was harvested
after the restart, like a fresh TPE; the session's status, counters and
leaderboard are unaffected). Sessions of other optimizers are not kept:
their trials are a pure function of the spec.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus
from tuneop.core.jobs.observed import JobState, ObservedJob
from tuneop.core.planning.planner import Event, JobToCreate
from tuneop.core.wire.contract import TrialResult
from tuneop.ports import Conflict, MirrorRecord

__all__ = ["FakeJobs", "MemoryEvents", "MemoryHistory", "MemoryResults", "MemoryStatus"]


@dataclass
class FakeJobs:
    """In-memory Jobs for unit tests: tests move them along with ``finish``."""

    jobs: dict[str, ObservedJob] = field(default_factory=dict)
    logs: dict[str, list[str] | None] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def list_jobs(self, ref: SessionRef) -> list[ObservedJob]:
        return sorted(self.jobs.values(), key=lambda j: j.index)

    def read_logs(self, ref: SessionRef, job: ObservedJob) -> Sequence[str] | None:
        return self.logs.get(job.name)

    def create_job(self, ref: SessionRef, job: JobToCreate) -> None:
        if job.name in self.jobs:
            return
        self.created.append(job.name)
        self.jobs[job.name] = ObservedJob(
            index=job.index,
            name=job.name,
            trials=job.trials,
            state=JobState.ACTIVE,
            params=job.params,
            retry=job.retry,
        )
        self.logs[job.name] = []

    def delete_job(self, ref: SessionRef, name: str) -> None:
        self.deleted.append(name)
        self.jobs.pop(name, None)

    def finish(self, name: str, log: str, state: JobState = JobState.SUCCEEDED) -> None:
        self.jobs[name] = replace(self.jobs[name], state=state)
        self.logs[name] = [log]


@dataclass
class MemoryStatus:
    status: SessionStatus = field(default_factory=SessionStatus)
    version: int = 0
    writes: int = 0

    def read(self, ref: SessionRef) -> tuple[SessionStatus, str | None]:
        return self.status, str(self.version)

    def write(self, ref: SessionRef, status: SessionStatus, version: str | None) -> None:
        if version is not None and version != str(self.version):
            raise Conflict(f"status of {ref.key} changed (version {self.version})")
        self.status = status
        self.version += 1
        self.writes += 1


@dataclass
class MemoryEvents:
    events: list[Event] = field(default_factory=list)

    def emit(self, ref: SessionRef, events: Sequence[Event]) -> None:
        self.events.extend(events)


@dataclass
class MemoryResults:
    results: dict[str, dict[int, TrialResult]] = field(default_factory=dict)
    statuses: list[SessionStatus] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    launched: list[str] = field(default_factory=list)

    def record(self, ref: SessionRef, spec: SessionSpec, change: MirrorRecord) -> None:
        self.launched.extend(j.name for j in change.launched)
        if change.status is not None:
            self.statuses.append(change.status)
        self.events.extend(change.events)

    def persist(self, ref: SessionRef, spec: SessionSpec, results: Sequence[TrialResult]) -> None:
        bucket = self.results.setdefault(ref.key, {})
        for r in results:
            bucket[r.trial] = r

    def history(self, ref: SessionRef) -> list[TrialResult]:
        return sorted(self.results.get(ref.key, {}).values(), key=lambda r: r.trial)


@dataclass
class MemoryHistory:
    _trials: dict[str, dict[int, TrialResult]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def persist(self, ref: SessionRef, spec: SessionSpec, results: Sequence[TrialResult]) -> None:
        if not spec.optimizer.learns or spec.trials is not None:
            return
        with self._lock:
            bucket = self._trials.setdefault(ref.key, {})
            for r in results:
                bucket[r.trial] = r

    def history(self, ref: SessionRef) -> list[TrialResult]:
        with self._lock:
            return sorted(self._trials.get(ref.key, {}).values(), key=lambda r: r.trial)

    def forget(self, key: str) -> None:
        with self._lock:
            self._trials.pop(key, None)
