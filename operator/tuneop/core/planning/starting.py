"""Worker pods that never start: an infrastructure failure, not the trials'.

A pod waiting on its image (``ImagePullBackOff``, ``ErrImagePull``, an invalid
image name), on its configuration (a missing Secret) or on a node
(``Unschedulable``) would otherwise wait until the Job's
``activeDeadlineSeconds``, days later, and its trials would then count as
TimedOut, spending ``maxFailedTrials``. Instead, a Job whose pod is not ready
``spec.podStartTimeoutSeconds`` after the Job started, and whose adapter found
why (``ObservedJob.not_started``), is ended: its trials are
InfrastructureFailure (no failure budget spent, not retried: the same image
would fail the same way), the session gets the ``InfrastructureDegraded``
condition and a Warning event, both with the pod's reason.

``recheck_after`` is when the planner should look again: the first Job not
ready yet reaches its start timeout then (no Job event would wake it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tuneop.api import vocabulary as V
from tuneop.api.spec import SessionSpec
from tuneop.api.status import MAX_MESSAGE
from tuneop.core.jobs.observed import JobState, ObservedJob
from tuneop.core.planning import events
from tuneop.core.planning.events import Event

__all__ = ["RECHECK_SECONDS", "InfraIssue", "not_started", "reason_word", "recheck_after"]

RECHECK_SECONDS = 60.0

# A condition or event reason is one CamelCase word (metav1.Condition's rule); what the
# API server reports of a pod is untrusted, so anything else becomes POD_NOT_STARTED.
_REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]{0,126}[A-Za-z0-9_])?$")


def reason_word(text: str) -> str:
    return text if _REASON.match(text) else V.POD_NOT_STARTED


@dataclass(frozen=True)
class InfraIssue:
    """Why a worker pod did not start: the pod's reason (one word) and what it said."""

    reason: str
    problem: str

    def event(self, job_index: int, seconds: int) -> Event:
        return events.pod_not_started(self.reason, job_index, self.problem, seconds)


def not_started(spec: SessionSpec, job: ObservedJob, now: datetime) -> InfraIssue | None:
    """The issue of an active Job whose pod has not started in time; None otherwise."""
    if job.state is not JobState.ACTIVE or job.pods_ready or job.not_started is None:
        return None
    if job.started_at is None:
        return None
    if (now - job.started_at).total_seconds() < spec.pod_start_timeout_seconds:
        return None
    reason, detail = job.not_started
    return InfraIssue(reason_word(reason), f"{reason}: {detail}"[:MAX_MESSAGE])


def recheck_after(spec: SessionSpec, jobs: Sequence[ObservedJob], now: datetime) -> float | None:
    """Seconds until the first active Job without a ready pod reaches its start timeout;
    past it, every ``RECHECK_SECONDS`` while the pod is only slow (no reason found yet)."""
    waits = [
        spec.pod_start_timeout_seconds - (now - j.started_at).total_seconds()
        for j in jobs
        if j.state is JobState.ACTIVE and not j.pods_ready and j.started_at is not None
    ]
    ahead = [max(w, 1.0) for w in waits if w > 0]
    if len(ahead) < len(waits):
        return min([RECHECK_SECONDS, *ahead])
    return min(ahead) if ahead else None
