"""The ports: every protocol the reconciler talks through, and the domain errors.

The reconciler (``tuneop.reconciler``) knows the world only through these
small protocols; adapters implement them for Kubernetes
(``tuneop.adapters.kube``), Redis (``tuneop.adapters.redis_mirror``), local
processes and folders (``tuneop.adapters.local``) and memory
(``tuneop.adapters.memory``, also the fakes unit tests drive).

- ``JobBackend``: where worker Jobs live; lists them as ``ObservedJob``
  values, reads a finished Job's logs (None when its pods are gone), creates
  Jobs idempotently (an existing name is success) and deletes them.
- ``StatusStore``: where the session's status lives; ``write`` succeeds only
  if the version read with it is unchanged, else raises ``Conflict``.
- ``EventSink``: where the session's events go (Kubernetes Events, a log).
- ``ResultStore``: where harvested results are kept, and the history the
  bayesian optimizer learns from. There is exactly one per session. When
  ``persist`` returns, the results are durable (a results folder written and
  fsynced, Redis acknowledged) or the store says it keeps them only in
  memory (no folder, no Redis); when it cannot store them now it raises
  ``TransientError`` and their Jobs wait.
- ``Mirror``: copies of the session for people and tools (Redis, the
  ``<session>-best`` ConfigMap, the results folder's ``session.json``). A
  mirror never decides anything; losing one loses no data.
- ``WarmStartSource``: where an earlier session's results come from for
  ``spec.warmStart.from`` (Redis on a cluster; a folder or Redis locally),
  as history for the sampler (``core.suggest.warmstart.prior_trials``). A source
  that cannot serve the reference here raises ``SpecError`` (the session
  fails as InvalidSpec, naming the field); one that cannot read it now
  raises ``TransientError``.

Errors say what the caller should do, whichever adapter raised them:
``TransientError`` try again on a later reconcile; ``Conflict`` re-observe
and plan again now; ``Rejected`` the request itself is invalid and repeating
it cannot help; ``SessionGone`` the session was deleted, nothing is left to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus
from tuneop.core.jobs.observed import ObservedJob
from tuneop.core.planning.planner import Event, JobToCreate
from tuneop.core.wire.contract import TrialResult

__all__ = [
    "Conflict",
    "EventSink",
    "JobBackend",
    "Mirror",
    "MirrorRecord",
    "Rejected",
    "ResultStore",
    "SessionGone",
    "StatusStore",
    "TransientError",
    "WarmStartSource",
]


class TransientError(Exception):
    """An I/O failure worth retrying on the next reconcile."""


class Conflict(Exception):
    """The status changed since it was read."""


class Rejected(Exception):
    """The API server refused the request as invalid; retrying it unchanged cannot help."""


class SessionGone(Exception):
    """The TuningSession no longer exists."""


class JobBackend(Protocol):
    def list_jobs(self, ref: SessionRef) -> list[ObservedJob]: ...

    def read_logs(self, ref: SessionRef, job: ObservedJob) -> Sequence[str] | None: ...

    def create_job(self, ref: SessionRef, job: JobToCreate) -> None: ...

    def delete_job(self, ref: SessionRef, name: str) -> None: ...


class StatusStore(Protocol):
    def read(self, ref: SessionRef) -> tuple[SessionStatus, str | None]: ...

    def write(self, ref: SessionRef, status: SessionStatus, version: str | None) -> None: ...


class EventSink(Protocol):
    def emit(self, ref: SessionRef, events: Sequence[Event]) -> None: ...


class ResultStore(Protocol):
    """Keeps each harvested trial's result, idempotently (the same trial twice is one record);
    durable when ``persist`` returns, else it raises ``TransientError``."""

    def persist(
        self, ref: SessionRef, spec: SessionSpec, results: Sequence[TrialResult]
    ) -> None: ...

    def history(self, ref: SessionRef) -> list[TrialResult]: ...


@dataclass(frozen=True)
class MirrorRecord:
    """One change to mirror: Jobs launched, results harvested, or a status written."""

    launched: Sequence[JobToCreate] = ()
    results: Sequence[TrialResult] = ()
    status: SessionStatus | None = None
    events: Sequence[Event] = ()


class Mirror(Protocol):
    def record(self, ref: SessionRef, spec: SessionSpec, change: MirrorRecord) -> None: ...


class WarmStartSource(Protocol):
    def prior(self, ref: SessionRef, spec: SessionSpec) -> Sequence[TrialResult]: ...
