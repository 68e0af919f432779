"""Reading a worker Job and its pods: state, owner, and infrastructure failures.

Plain functions over the API's JSON, tested without a cluster. A Job's state
comes from its conditions (``Complete`` → Succeeded; ``Failed`` → Failed
with the condition's reason, e.g. BackoffLimitExceeded or DeadlineExceeded;
neither → Active); its index, trials and params from the Job wire format
(``tuneop.core.jobs.manifests.decode_job``). Jobs owned by another TuningSession
uid (an earlier session of the same name, still being garbage-collected) are
not this session's.

**Infrastructure failures.** For a failed Job, the pods still present are
examined and the *newest* one decides (with retries, earlier attempts may
have failed differently): a pod the platform killed (status.reason Evicted,
NodeLost, Preempting, Shutdown, UnexpectedAdmissionError, OutOf*…), a
container stuck waiting on its image or config (ImagePullBackOff,
ErrImagePull, InvalidImageName, CreateContainerConfigError,
CreateContainerError) or a pod never scheduled (PodScheduled=False,
Unschedulable) sets ``infra_reason``; unreported trials then count as
InfrastructureFailure, not as the trial's fault. OOMKilled is the trial's own
doing and stays a Failed trial. Pods deleted before harvest are not
guessed at here: ``read_logs`` returns None and the core records ResultsLost.

**Pods that do not start.** An active Job with no ready pod
(``status.ready``) past its ``tuneop.dev/pod-start-timeout-seconds`` is worth
a look at its pods (``needs_pod_check``): when its newest pod waits on its
image or configuration or is unschedulable, ``not_started`` says why, and the
planner ends the Job (``tuneop.core.planning.starting``). Only such Jobs cost a pod
listing; a session whose pods start costs none. **Disruptions.** Pods with a
``DisruptionTarget`` condition (evicted, preempted, a drained node) are
counted at harvest (``disruptions``): the Job's ``podFailurePolicy`` had
Kubernetes replace them without counting them as failures.
**Queued Jobs.** A Job created suspended for Kueue (``spec.queueName``) and
not admitted yet is active and *queued*, with the time it began to wait.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from tuneop.api.session import SessionRef
from tuneop.api.spec import KIND
from tuneop.api.vocabulary import ANN_START_TIMEOUT
from tuneop.core.jobs.manifests import decode_job
from tuneop.core.jobs.observed import JobState, ObservedJob

__all__ = [
    "INFRA_POD_REASONS",
    "INFRA_WAITING_REASONS",
    "Json",
    "creation_order",
    "disruptions",
    "infra_reason",
    "job_state",
    "needs_pod_check",
    "not_started",
    "observed_job",
    "owned_by_other",
    "parse_time",
    "pod_job",
    "pod_problem",
    "queued_since",
]

Json = Mapping[str, Any]

INFRA_POD_REASONS = frozenset(
    {
        "Evicted",
        "NodeLost",
        "Preempting",
        "Shutdown",
        "Terminated",
        "UnexpectedAdmissionError",
        "NodeAffinity",
    }
)
INFRA_WAITING_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def job_state(job: Json) -> tuple[JobState, str | None, datetime | None]:
    """State, reason and finish time from the Job's conditions."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") != "True":
            continue
        when = parse_time(cond.get("lastTransitionTime"))
        if cond.get("type") == "Complete":
            done = parse_time((job.get("status") or {}).get("completionTime")) or when
            return JobState.SUCCEEDED, None, done
        if cond.get("type") == "Failed":
            return JobState.FAILED, cond.get("reason") or "Failed", when
    return JobState.ACTIVE, None, None


def owned_by_other(job: Json, ref: SessionRef) -> bool:
    """True when the Job's controller is a TuningSession other than ``ref`` (by uid)."""
    if not ref.uid:
        return False
    for owner in (job.get("metadata") or {}).get("ownerReferences") or []:
        if owner.get("kind") == KIND and owner.get("controller"):
            return bool(owner.get("uid") != ref.uid)
    return False


def _ready(job: Json) -> bool:
    status = job.get("status") or {}
    ready = status.get("ready")
    return isinstance(ready, int) and ready > 0


def needs_pod_check(job: Json, now: datetime) -> bool:
    """An active Job with no ready pod past its start timeout: are its pods stuck?"""
    if job_state(job)[0] is not JobState.ACTIVE or _ready(job):
        return False
    started = parse_time((job.get("status") or {}).get("startTime"))
    text = ((job.get("metadata") or {}).get("annotations") or {}).get(ANN_START_TIMEOUT)
    if started is None or not isinstance(text, str) or not text.isdigit() or len(text) > 9:
        return False
    return now - started >= timedelta(seconds=int(text))


def not_started(pods: Sequence[Json]) -> tuple[str, str] | None:
    """(reason, detail) when the newest pod waits on its image or a node; None otherwise."""
    ordered = creation_order(pods)
    if not ordered:
        return None
    status = ordered[-1].get("status") or {}
    if status.get("phase") not in (None, "Pending"):
        return None
    problem = pod_problem(ordered[-1])
    if problem is None:
        return None
    for cs in [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]:
        reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
        if reason in INFRA_WAITING_REASONS:
            return str(reason), problem
    return "Unschedulable", problem


def disruptions(pods: Sequence[Json]) -> int:
    """Pods the platform disrupted (their DisruptionTarget condition is True)."""
    return sum(
        1
        for pod in pods
        if any(
            c.get("type") == "DisruptionTarget" and c.get("status") == "True"
            for c in (pod.get("status") or {}).get("conditions") or []
        )
    )


def observed_job(job: Json, pods: Sequence[Json] = ()) -> ObservedJob | None:
    """An ``ObservedJob`` from a Job's JSON (and its pods, for failures and pods that do
    not start); None if not ours."""
    wire = decode_job(job)
    if wire is None:
        return None
    state, reason, finished = job_state(job)
    return ObservedJob(
        index=wire.index,
        name=wire.name,
        trials=wire.trials,
        state=state,
        params=wire.params,
        reason=reason,
        infra_reason=infra_reason(pods) if state is JobState.FAILED else None,
        started_at=parse_time((job.get("status") or {}).get("startTime")),
        finished_at=finished,
        retry=wire.retry,
        pods_ready=state is not JobState.ACTIVE or _ready(job),
        not_started=not_started(pods) if state is JobState.ACTIVE and pods else None,
        queued=state is JobState.ACTIVE and _suspended(job),
        queued_since=queued_since(job) if state is JobState.ACTIVE else None,
    )


def _suspended(job: Json) -> bool:
    return (job.get("spec") or {}).get("suspend") is True


def queued_since(job: Json) -> datetime | None:
    """When a suspended Job began to wait for admission; None when it is not suspended.

    The Job controller's ``Suspended`` condition says when (Kueue suspends an admitted
    Job again when it preempts it); a Job not yet seen by the controller has only its
    creation time.
    """
    if not _suspended(job):
        return None
    for cond in (job.get("status") or {}).get("conditions") or []:
        when = parse_time(cond.get("lastTransitionTime"))
        if cond.get("type") == "Suspended" and cond.get("status") == "True" and when:
            return when
    return parse_time((job.get("metadata") or {}).get("creationTimestamp"))


def creation_order(pods: Sequence[Json]) -> list[Json]:
    def key(pod: Json) -> tuple[str, str]:
        meta = pod.get("metadata") or {}
        return str(meta.get("creationTimestamp") or ""), str(meta.get("name") or "")

    return sorted(pods, key=key)


def pod_problem(pod: Json) -> str | None:
    """Why the platform, not the trial, ended this pod; None if nothing points there."""
    name = (pod.get("metadata") or {}).get("name", "?")
    status = pod.get("status") or {}
    reason = status.get("reason")
    if reason in INFRA_POD_REASONS or (isinstance(reason, str) and reason.startswith("OutOf")):
        return f"pod {name} {reason}: {status.get('message') or ''}".rstrip(": ")
    for cs in [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in INFRA_WAITING_REASONS:
            msg = waiting.get("message") or ""
            return f"pod {name} container {cs.get('name')} {waiting['reason']}: {msg}".rstrip(": ")
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return f"pod {name} not scheduled ({cond.get('reason')}): {cond.get('message') or ''}"
    return None


def infra_reason(pods: Sequence[Json]) -> str | None:
    """The platform's failure, judged on the Job's newest pod."""
    ordered = creation_order(pods)
    return pod_problem(ordered[-1]) if ordered else None


def pod_job(pod: Json) -> str | None:
    """The name of the Job a pod belongs to (its controller reference, else the label)."""
    meta = pod.get("metadata") or {}
    for owner in meta.get("ownerReferences") or []:
        if owner.get("kind") == "Job" and owner.get("controller"):
            return str(owner.get("name"))
    return (meta.get("labels") or {}).get("job-name")


# --- the backend ---
