"""Queueing with Kueue: Jobs that wait for admission, and a wait that lasts too long.

With ``spec.queueName`` every worker Job is created suspended with Kueue's
queue label (``tuneop.core.jobs.manifests``); Kueue admits a Job by unsuspending it
when its ClusterQueue has quota. A Job waiting for admission is *queued*: it
holds one of the session's ``maxParallel`` slots (so at most ``maxParallel``
Jobs are ever admitted at once, whatever the queue's quota), it has no pod, its
trials are counted as queued rather than running, and its deadline does not
tick (Kubernetes starts a Job's ``activeDeadlineSeconds`` when the Job is
unsuspended).

Nothing admits a Job when Kueue is not installed or serves no such LocalQueue,
and a busy queue can hold one for hours: the two look the same from here. So a
session whose Job has waited past ``spec.admissionWarningSeconds`` says so
rather than hang silently: its ``Admitted`` condition turns False (reason
``NotAdmitted``, with a Warning event), and True again (``Admitted``) once no
Job has waited that long. The session keeps running either way. The planner
asks to be called again when the oldest wait will pass the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tuneop.api import vocabulary as V
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus, set_condition
from tuneop.core.jobs.observed import ObservedJob
from tuneop.core.planning.events import Event

__all__ = ["admission", "admission_due", "overdue"]


def overdue(spec: SessionSpec, jobs: Sequence[ObservedJob], now: datetime) -> list[ObservedJob]:
    """The queued Jobs that have waited for admission past the warning time."""
    limit = spec.admission_warning_seconds
    return [
        j
        for j in jobs
        if j.queued
        and j.queued_since is not None
        and (now - j.queued_since).total_seconds() >= limit
    ]


def admission_due(spec: SessionSpec, jobs: Sequence[ObservedJob], now: datetime) -> float | None:
    """Seconds until the next queued Job's wait passes the warning time; None if none will."""
    waits = [
        spec.admission_warning_seconds - (now - j.queued_since).total_seconds()
        for j in jobs
        if j.queued and j.queued_since is not None
    ]
    ahead = [w for w in waits if w > 0]
    return min(ahead) if ahead else None


def admission(
    spec: SessionSpec,
    prev: SessionStatus,
    status: SessionStatus,
    jobs: Sequence[ObservedJob],
    now: datetime,
) -> tuple[SessionStatus, list[Event]]:
    """``status`` with its ``Admitted`` condition, and the event of a wait gone too long.

    The condition appears once a session queues (or had it before). A session that
    ends while its Jobs wait too long (its deadline passed, say) keeps it False: that
    is why it ended.
    """
    had = any(c.type == V.ADMITTED for c in prev.conditions)
    if spec.queue_name is None and not had:
        return status, []
    late = overdue(spec, jobs, now)
    gen = status.observed_generation or 0
    if late:
        # The queue may have been taken off the spec since: the Jobs keep their label.
        queue = f"LocalQueue {spec.queue_name}" if spec.queue_name else "their LocalQueue"
        message = (
            f"{len(late)} Job(s) waited over {spec.admission_warning_seconds}s for admission"
            f" to {queue}: the queue may be busy, or Kueue is not"
            " installed or serves no such LocalQueue in this namespace"
        )
        reason, ok = V.NOT_ADMITTED, False
    else:
        message, reason, ok = "no Job waits for admission past the warning time", V.ADMITTED, True
    conds = set_condition(status.conditions, V.ADMITTED, ok, reason, message, now, gen)
    was_late = any(c.type == V.ADMITTED and c.status == "False" for c in prev.conditions)
    events = [Event("Warning", V.NOT_ADMITTED, message)] if late and not was_late else []
    return status.model_copy(update={"conditions": conds}), events
