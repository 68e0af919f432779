"""In-memory fakes of the ports (``tuneop.ports``) and a frozen clock.

Each fake keeps what the reconciler did to it, for a test to read back:
``FakeJobs`` the Jobs created and deleted (a test finishes them with
``finish``), ``FakeStatus`` every status written (``conflicts`` makes the
next writes raise ``Conflict``), ``MemoryEvents`` the events, and
``MemoryResults`` the results persisted (a result store and a mirror in one;
``unavailable`` makes the next persists raise ``TransientError``), and
``FakeWarmStart`` an earlier session's results for ``spec.warmStart.from``.
``FrozenClock`` (``tuneop.core.clock``'s, re-exported) tells the time a test
sets: it moves only when told (``advance``), or by ``step`` seconds at each reading.

They hold no locks and no I/O: one test, one thread. The production
in-memory stores (``tuneop.adapters.memory``) are not these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus
from tuneop.api.trial_resource import TrialResource
from tuneop.core.clock import FrozenClock
from tuneop.core.jobs.observed import JobState, ObservedJob
from tuneop.core.planning.planner import Event, JobToCreate
from tuneop.core.results.harvest import JobLogs
from tuneop.core.wire.contract import TrialResult
from tuneop.ports import Conflict, MirrorRecord, TransientError

__all__ = [
    "T0",
    "FakeJobs",
    "FakeStatus",
    "FakeWarmStart",
    "FrozenClock",
    "MemoryEvents",
    "MemoryResults",
]

# Where a FrozenClock starts unless told otherwise.
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@dataclass
class FakeJobs:
    """Jobs in memory, by name. A test moves them along with ``finish``.

    A Job finished without ``finish`` (its state set directly) has logs that cannot be
    read yet (``TransientError``), as when the API server times out: it stays unharvested.
    """

    jobs: dict[str, ObservedJob] = field(default_factory=dict)
    # A finished Job's log lines; None: its pods are gone.
    logs: dict[str, list[str] | None] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    launched: list[JobToCreate] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    # The trial resource each session said its trials are (None: worker Jobs).
    kinds: dict[str, TrialResource | None] = field(default_factory=dict)

    def use_trial_resource(self, ref: SessionRef, resource: TrialResource | None) -> None:
        self.kinds[ref.key] = resource

    def list_jobs(self, ref: SessionRef) -> list[ObservedJob]:
        return sorted(self.jobs.values(), key=lambda j: j.index)

    def read_logs(self, ref: SessionRef, job: ObservedJob) -> JobLogs | None:
        if job.name not in self.logs:
            raise TransientError(f"{job.name}: logs not readable yet")
        lines = self.logs[job.name]
        return None if lines is None else JobLogs(tuple(lines), job.disruptions)

    def create_job(self, ref: SessionRef, job: JobToCreate) -> None:
        if job.name in self.jobs:
            return  # idempotent, as the API server's "already exists"
        self.created.append(job.name)
        self.launched.append(job)
        self.jobs[job.name] = ObservedJob(
            index=job.index,
            name=job.name,
            trials=job.trials,
            state=JobState.ACTIVE,
            params=job.params,
            retry=job.retry,
        )

    def delete_job(self, ref: SessionRef, name: str) -> None:
        self.deleted.append(name)
        self.jobs.pop(name, None)
        self.logs.pop(name, None)

    def delete_jobs(self, ref: SessionRef, names: Sequence[str]) -> None:
        for name in names:
            self.delete_job(ref, name)

    def finish(
        self, name: str, log: str | Sequence[str] | None, state: JobState = JobState.SUCCEEDED
    ) -> None:
        """Job ``name`` ends in ``state`` with ``log`` (one pod's log, several, or None:
        its pods are gone)."""
        self.jobs[name] = replace(self.jobs[name], state=state)
        self.logs[name] = [log] if isinstance(log, str) else None if log is None else list(log)

    def active(self) -> list[ObservedJob]:
        """The Jobs still running, by index."""
        return sorted(
            (j for j in self.jobs.values() if j.state is JobState.ACTIVE), key=lambda j: j.index
        )


@dataclass
class FakeStatus:
    """The session's status with a version, as the API server keeps it."""

    status: SessionStatus = field(default_factory=SessionStatus)
    version: int = 0
    written: list[SessionStatus] = field(default_factory=list)
    # How many of the next writes find the status changed (raise Conflict).
    conflicts: int = 0

    def read(self, ref: SessionRef) -> tuple[SessionStatus, str | None]:
        return self.status, str(self.version)

    def write(self, ref: SessionRef, status: SessionStatus, version: str | None) -> None:
        if self.conflicts > 0:
            self.conflicts -= 1
            self.version += 1  # someone else wrote
            raise Conflict(f"status of {ref.key} changed (version {self.version})")
        if version is not None and version != str(self.version):
            raise Conflict(f"status of {ref.key} changed (version {self.version})")
        self.status = status
        self.version += 1
        self.written.append(status)

    @property
    def writes(self) -> int:
        return len(self.written)

    def replace(self, status: SessionStatus) -> None:
        """Another writer sets the status (a lost write, a hand edit)."""
        self.status = status
        self.version += 1


@dataclass
class MemoryEvents:
    events: list[Event] = field(default_factory=list)

    def emit(self, ref: SessionRef, events: Sequence[Event]) -> None:
        self.events.extend(events)


@dataclass
class MemoryResults:
    """A result store (by session and trial: the same trial twice is one record) and a
    mirror; ``persisted`` lists every persist call's results in order."""

    results: dict[str, dict[int, TrialResult]] = field(default_factory=dict)
    persisted: list[TrialResult] = field(default_factory=list)
    statuses: list[SessionStatus] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    launched: list[str] = field(default_factory=list)
    # How many of the next persists cannot store now (raise TransientError).
    unavailable: int = 0

    def record(self, ref: SessionRef, spec: SessionSpec, change: MirrorRecord) -> None:
        self.launched.extend(j.name for j in change.launched)
        if change.status is not None:
            self.statuses.append(change.status)
        self.events.extend(change.events)

    def persist(self, ref: SessionRef, spec: SessionSpec, results: Sequence[TrialResult]) -> None:
        if self.unavailable > 0:
            self.unavailable -= 1
            raise TransientError("the result store is unavailable")
        bucket = self.results.setdefault(ref.key, {})
        for r in results:
            bucket[r.trial] = r
        self.persisted.extend(results)

    def history(self, ref: SessionRef) -> list[TrialResult]:
        return sorted(self.results.get(ref.key, {}).values(), key=lambda r: r.trial)


@dataclass
class FakeWarmStart:
    """An earlier session's results, served for any ``spec.warmStart.from`` (numbered below
    0, as ``core.suggest.warmstart.prior_trials`` gives them); ``asked`` counts the reads."""

    trials: list[TrialResult] = field(default_factory=list)
    asked: int = 0

    def prior(self, ref: SessionRef, spec: SessionSpec) -> Sequence[TrialResult]:
        self.asked += 1
        return list(self.trials)
