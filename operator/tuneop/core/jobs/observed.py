"""What a reconcile observed: the session's identity, its Jobs and their results.

Adapters (Kubernetes, local processes) translate what they see into these
plain values; the planner reads nothing else. ``JobState`` is deliberately
smaller than a Kubernetes Job: active, succeeded or failed, plus why, and
what the platform did to its pods (not started, disrupted); an active Job
may be *queued* (held suspended until Kueue admits it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from tuneop.api.session import SessionRef
from tuneop.api.spec import Scalar
from tuneop.api.status import SessionStatus
from tuneop.core.wire.contract import TrialResult

__all__ = ["JobState", "Observed", "ObservedJob", "Params", "Retry"]

Params = dict[str, Scalar]


class JobState(StrEnum):
    ACTIVE = "Active"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True)
class Retry:
    """What makes a Job a retry: the Job whose failed trials it runs again, and the attempt."""

    of: int
    attempt: int


@dataclass(frozen=True)
class ObservedJob:
    index: int
    name: str
    trials: tuple[int, ...]
    state: JobState
    # Params of the Job's trials, in order (recorded on the Job; bayesian needs them).
    params: tuple[Params, ...] = ()
    reason: str | None = None
    # Set when the failure was the platform's (eviction, image pull, deleted pod).
    infra_reason: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # Created suspended for Kueue (spec.queueName) and not admitted yet: no pod, no
    # running trial, no deadline ticking. ``queued_since``: when it last began to wait.
    queued: bool = False
    queued_since: datetime | None = None
    # Results read from the Job's logs in this reconcile; None when not harvested.
    results: tuple[TrialResult, ...] | None = None
    # Set on a retry Job (``tuneop.core.planning.retry``).
    retry: Retry | None = None
    # Whether a pod of the Job is ready (running); an adapter without pods says True.
    pods_ready: bool = True
    # Why the Job's pod has not started, as (reason, detail): ("ImagePullBackOff", "pod
    # x-0-abc container runner: ..."); set when an adapter looked because the Job was not
    # ready past spec.podStartTimeoutSeconds.
    not_started: tuple[str, str] | None = None
    # Pods of the Job the platform disrupted (evicted, preempted), seen at harvest.
    disruptions: int = 0
    # An adapter that runs the worker itself (local processes) says what happened to a
    # failed one in its own words ("exited with code 1"), with its stderr's last lines,
    # and each trial's wall time in the worker, as (trial, seconds).
    detail: str | None = None
    stderr_tail: tuple[str, ...] = ()
    seconds: tuple[tuple[int, float], ...] = ()

    @property
    def finished(self) -> bool:
        return self.state is not JobState.ACTIVE


@dataclass(frozen=True)
class Observed:
    session: SessionRef
    jobs: tuple[ObservedJob, ...] = ()
    status: SessionStatus = field(default_factory=SessionStatus)
    # Results known beyond this reconcile (bayesian history); from the result stores.
    history: tuple[TrialResult, ...] = ()
    cancelled: bool = False
