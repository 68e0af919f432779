"""The ports: every protocol the reconciler talks through, and the domain errors.

The reconciler (``tuneop.reconciler``) knows the world only through these
small protocols; adapters implement them for Kubernetes
(``tuneop.adapters.kube``), Redis (``tuneop.adapters.redis_mirror``), local
processes (``tuneop.adapters.processes``), the results folder
(``tuneop.adapters.results_folder``) and memory (``tuneop.adapters.memory``);
``tuneop.testing`` has the fakes tests drive.

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
- ``TrialTracker``: an experiment tracker (MLflow) that makes each trial's run
  before its Job is created and gives the Job the variables that name it; it
  answers within a short budget, and a tracker that cannot answer now hands the
  Jobs back with what it has (never an error: tracking is a mirror).
- ``Suggester``: where a learning optimizer's suggestions come from, keeping
  each session's study between reconciles (``core.suggest.bayesian.SessionStudies``).
  Keyed by the session reference: a study is one session object's (its
  namespace/name and uid), never shared by sessions with the same spec; it
  may be asked for different sessions from several threads at once;
  ``release`` forgets a session that ended or was deleted.
- ``Clock``: the time, read through one object passed in where the run is
  wired (``core.clock``).
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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus
from tuneop.api.trial_resource import TrialResource
from tuneop.core.clock import Clock
from tuneop.core.election import LeaseRecord
from tuneop.core.jobs.observed import ObservedJob, Params
from tuneop.core.planning.planner import Event, JobToCreate
from tuneop.core.results.harvest import JobLogs
from tuneop.core.wire.contract import TrialResult

__all__ = [
    "Clock",
    "ClusterSessions",
    "ConfigMaps",
    "Conflict",
    "EventSink",
    "JobBackend",
    "JobsOnly",
    "Lease",
    "Mirror",
    "MirrorRecord",
    "Rejected",
    "ResultStore",
    "ResultsReader",
    "RunningLogs",
    "SessionGone",
    "StatusStore",
    "Suggester",
    "TransientError",
    "TrialTracker",
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
    def use_trial_resource(self, ref: SessionRef, resource: TrialResource | None) -> None:
        """The kind the session's trials are (``spec.trialResource``; None: worker Jobs), told
        before each observe: the calls below act on resources of that kind."""
        ...

    def list_jobs(self, ref: SessionRef) -> list[ObservedJob]: ...

    def read_logs(self, ref: SessionRef, job: ObservedJob) -> JobLogs | None: ...

    def create_job(self, ref: SessionRef, job: JobToCreate) -> None: ...

    def delete_jobs(self, ref: SessionRef, names: Sequence[str]) -> None:
        """Delete these Jobs of the session (a backend may do it in one request)."""
        ...


class JobsOnly:
    """A ``JobBackend`` that runs worker Jobs only (local processes, whose ``run --local``
    turns a trial resource into its primary container's pod before any Job exists)."""

    def use_trial_resource(self, ref: SessionRef, resource: TrialResource | None) -> None:
        if resource is not None:
            raise Rejected(f"spec.trialResource: {resource.kind} trials run on a cluster only")


class RunningLogs(Protocol):
    """The beginning of a running Job's trial output (its metrics container's, for a file
    collector), at most ``limit`` bytes: what early stopping judges a running trial on
    (``earlyStopping.type: medianStop``). None when there is nothing to read yet."""

    def first_output(self, ref: SessionRef, job: ObservedJob, limit: int) -> str | None: ...


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
    # The end of each harvested Job's log (Job index → text, bounded): the trials' excerpts.
    logs: Mapping[int, str] = field(default_factory=dict)


class Mirror(Protocol):
    def record(self, ref: SessionRef, spec: SessionSpec, change: MirrorRecord) -> None: ...


class TrialTracker(Protocol):
    def prepare(
        self, ref: SessionRef, spec: SessionSpec, jobs: Sequence[JobToCreate]
    ) -> list[JobToCreate]: ...


class WarmStartSource(Protocol):
    def prior(self, ref: SessionRef, spec: SessionSpec) -> Sequence[TrialResult]: ...


class Suggester(Protocol):
    """Suggestions for a session's next trials from its history, the session's study
    kept between calls; safe to call for different sessions from several threads."""

    def suggest(
        self,
        ref: SessionRef,
        spec: SessionSpec,
        history: Sequence[TrialResult],
        pending: Sequence[Params],
        first_trial: int,
        count: int,
    ) -> list[Params]: ...

    def release(self, ref: SessionRef) -> None: ...


# --- the command line's clients (built by ``tuneop.assembly.cli_clients``) ---


class ClusterSessions(Protocol):
    """TuningSessions on a cluster, as ``tuneop run`` applies, follows and suspends them.

    Failures are the errors above: ``SessionGone`` (no such session), ``Rejected``
    (the API server refused the request), ``TransientError`` (anything worth retrying).
    """

    def apply(
        self, manifest: Mapping[str, Any], *, manager: str, dry_run: bool = False
    ) -> dict[str, Any]: ...

    def read(self, ref: SessionRef) -> dict[str, Any]: ...

    def suspend(self, ref: SessionRef, *, manager: str) -> None: ...

    def close(self) -> None: ...


class ConfigMaps(Protocol):
    """ConfigMaps read from a cluster, as ``tuneop import katib --from-cluster`` reads a
    trial template: the object, or None when there is no such ConfigMap. The object is
    untrusted (bounded by the transport, checked by its reader)."""

    def read(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def close(self) -> None: ...


class ResultsReader(Protocol):
    """A session mirror read back (Redis): sessions are ``namespace/name`` ids; what comes
    back is untrusted, already bounded; a failure to read is ``TransientError``."""

    prefix: str  # of the mirror's keys, named when a session is not found

    def sessions(self) -> list[str]: ...

    def fields(self, session: str) -> dict[str, str]: ...

    def records(
        self, session: str, trials: Sequence[int] | None = None
    ) -> list[dict[str, Any]]: ...

    def running(self, session: str) -> list[str]: ...

    def leaderboard(self, session: str, n: int, descending: bool) -> list[tuple[str, float]]: ...

    def events(
        self, session: str, after: str, *, count: int = 500, block_ms: int = 500
    ) -> list[tuple[str, dict[str, str]]]: ...

    def close(self) -> None: ...


class Lease(Protocol):
    """The leader election's Lease (``tuneop.core.election`` decides; this is the wire).

    Writes carry the record's resourceVersion: a write over a newer version, or a create
    of a Lease that exists, is ``Conflict``; other failures are ``TransientError``."""

    name: str  # the Lease's, for the log lines

    def read(self) -> LeaseRecord | None: ...

    def create(self, record: LeaseRecord) -> LeaseRecord: ...

    def update(self, record: LeaseRecord) -> LeaseRecord: ...

    def announce(self, reason: str, message: str, now: datetime) -> None: ...
