"""Where worker Jobs live: the ``JobBackend`` protocol and its in-memory fake.

A backend lists a session's Jobs as ``ObservedJob`` values, reads a finished
Job's logs (None when its pods are gone), creates Jobs idempotently (an
existing name is success) and deletes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from tuneop.core.observed import JobState, ObservedJob, SessionRef
from tuneop.core.planner import JobToCreate


class TransientError(Exception):
    """An I/O failure worth retrying on the next reconcile."""


class JobBackend(Protocol):
    def list_jobs(self, ref: SessionRef) -> list[ObservedJob]: ...

    def read_logs(self, ref: SessionRef, job: ObservedJob) -> Sequence[str] | None: ...

    def create_job(self, ref: SessionRef, job: JobToCreate) -> None: ...

    def delete_job(self, ref: SessionRef, name: str) -> None: ...


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
        )
        self.logs[job.name] = []

    def delete_job(self, ref: SessionRef, name: str) -> None:
        self.deleted.append(name)
        self.jobs.pop(name, None)

    def finish(self, name: str, log: str, state: JobState = JobState.SUCCEEDED) -> None:
        self.jobs[name] = replace(self.jobs[name], state=state)
        self.logs[name] = [log]
