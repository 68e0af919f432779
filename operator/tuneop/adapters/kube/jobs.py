"""Worker Jobs on Kubernetes: the ``JobBackend`` over the batch/v1 and core/v1 APIs.

``list_jobs`` lists the session's Jobs with a server-side label selector (or
takes them from the operator's ``JobCache`` when it can vouch for them) and
maps each to an ``ObservedJob``: its index from the ``tuneop.dev/job-index``
label, its trials from the ``tuneop.dev/trials`` annotation, their params from
the container's ``TUNEOP_TRIALS`` env, and its state from the Job's
conditions (``Complete`` → Succeeded; ``Failed`` → Failed with the condition's
reason, e.g. BackoffLimitExceeded or DeadlineExceeded; neither → Active).
Jobs owned by another TuningSession uid (an earlier session of the same name,
still being garbage-collected) are not this session's and are skipped.

A session whose spec names ``spec.trialResource`` (told by ``use_trial_resource``
before each observe) has its trials as resources of that kind: the same four calls go
to ``tuneop.adapters.kube.resource_trials`` instead, and none of the caches below.

Every Job carries a ``podFailurePolicy`` (``tuneop.core.jobs.manifests``), GA since
Kubernetes 1.31, the oldest supported release; no Indexed Jobs, and ``suspend``
only for Kueue, with ``spec.queueName``.

How a Job and its pods are read (state, owner, infrastructure failures) is
in ``tuneop.adapters.kube.job_status``.

**Logs.** ``read_logs`` finds the Job's pods in the operator's ``PodCache``
when it can vouch for them (it saw every pod the Job's status counts end), else
lists them (``job-name=<job>``), and reads
the ``runner`` container's log of each, oldest first, because a later
attempt's report for a trial replaces an earlier one. Each log is streamed
whole through ``tuneop.core.wire.logscan``: every result line is kept wherever it
stands, plus the last ``LOG_LIMIT_BYTES`` of other output, so no report is
lost to objective chatter however long the log, in bounded memory. A Job's
pods share a 16 MiB budget of kept output, newest pods first. A pod whose container never
started (the API answers 400) contributes an empty log; a pod deleted between
the listing and the read is skipped. No pods at all → None (ResultsLost),
except after DeadlineExceeded: the Job controller itself deletes the pods of
a Job past its deadline, so that is an empty harvest (TimedOut), not a loss.
API errors raise ``TransientError`` and the harvest is retried on the next
reconcile; after ``MAX_LOG_ATTEMPTS`` failures in a row the unreadable pods
are given up on (a node gone for good must not pin a Job forever).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tuneop.adapters.kube import paths
from tuneop.adapters.kube.job_cache import JobCache
from tuneop.adapters.kube.job_deletes import BatchDeletes
from tuneop.adapters.kube.job_status import (
    Json,
    creation_order,
    disruptions,
    job_state,
    needs_pod_check,
    observed_job,
    owned_by_other,
    pod_job,
)
from tuneop.adapters.kube.metrics import TRIALS_STARTED
from tuneop.adapters.kube.pod_cache import PodCache
from tuneop.adapters.kube.resource_trials import ResourceTrials
from tuneop.adapters.kube.transport import Kube, Reply, read_capped
from tuneop.adapters.kube.trial_resources import Discovery
from tuneop.api.session import SessionRef
from tuneop.api.trial_resource import ResolvedTrialResource, TrialResource
from tuneop.api.vocabulary import (
    ANN_CONTAINER,
    ANN_METRICS_CONTAINER,
    LABEL_SESSION,
)
from tuneop.core.clock import SYSTEM_CLOCK
from tuneop.core.jobs.manifests import CONTAINER, selector, session_label
from tuneop.core.jobs.observed import JobState, ObservedJob
from tuneop.core.planning.planner import JobToCreate
from tuneop.core.results.harvest import JobLogs
from tuneop.core.wire.logscan import scan
from tuneop.ports import TransientError

__all__ = [
    "JOB_LOG_BUDGET_BYTES",
    "LOG_LIMIT_BYTES",
    "MAX_LOG_ATTEMPTS",
    "KubeJobs",
]

log = logging.getLogger(__name__)


LOG_LIMIT_BYTES = 4 * 1024 * 1024  # of other output kept beside the result lines, per pod
JOB_LOG_BUDGET_BYTES = 16 * 1024 * 1024
MAX_LOG_ATTEMPTS = 5


@dataclass
class KubeJobs:
    kube: Kube
    log_limit_bytes: int = LOG_LIMIT_BYTES
    job_log_budget_bytes: int = JOB_LOG_BUDGET_BYTES
    # What the operator's watch shows; without one, every reconcile LISTs the Jobs.
    cache: JobCache | None = None
    # What the operator's pod watch shows; without one, each harvest LISTs the Job's pods.
    pods: PodCache | None = None
    # When a pod that has not started is stuck is judged against this clock.
    clock: Callable[[], datetime] = SYSTEM_CLOCK.now
    # Per session, per finished Job: its uid and how many pods its status counts as ended.
    _ended: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    _log_failures: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Per session of another kind (spec.trialResource): its kind, resolved.
    _kinds: dict[str, ResolvedTrialResource] = field(default_factory=dict)
    _resources: ResourceTrials | None = None
    _batches: BatchDeletes = field(init=False)

    def __post_init__(self) -> None:
        self._batches = BatchDeletes(self.kube)

    def use_trial_resource(self, ref: SessionRef, resource: TrialResource | None) -> None:
        with self._lock:
            if resource is None:
                self._kinds.pop(ref.key, None)
            else:
                self._kinds[ref.key] = resource.resolved()

    def _kind(self, ref: SessionRef) -> tuple[ResourceTrials, ResolvedTrialResource] | None:
        """The session's trial kind and its calls, or None for worker Jobs."""
        with self._lock:
            kind = self._kinds.get(ref.key)
            if kind is None:
                return None
            if self._resources is None:
                self._resources = ResourceTrials(
                    self.kube,
                    Discovery(self.kube),
                    self.clock,
                    self.log_limit_bytes,
                    self.job_log_budget_bytes,
                )
            return self._resources, kind

    def list_jobs(self, ref: SessionRef) -> list[ObservedJob]:
        if other := self._kind(ref):
            return other[0].observe(ref, other[1])
        cached = self.cache.snapshot(ref) if self.cache is not None else None
        listed = cached if cached is not None else self._list(ref)
        items = [j for j in listed if not owned_by_other(j, ref)]
        ended = {_name(j): _ended(j) for j in items if job_state(j)[0] is not JobState.ACTIVE}
        with self._lock:
            self._ended[ref.key] = ended
        now = self.clock()
        # Pods are looked at only for a failed Job or a Job whose pod has not started in
        # time: a session whose workers run costs no pod listing.
        look = [
            _name(j) for j in items if job_state(j)[0] is JobState.FAILED or needs_pod_check(j, now)
        ]
        pods_by_job = self._pods_of(ref, look)
        out = []
        for item in items:
            name = (item.get("metadata") or {}).get("name", "")
            job = observed_job(item, pods_by_job.get(name, ()))
            if job is None:
                log.warning("%s: ignoring Job %s: no job index or trials", ref.key, name)
                continue
            out.append(job)
        return sorted(out, key=lambda j: j.index)

    def _pods_of(self, ref: SessionRef, names: list[str]) -> dict[str, list[Json]]:
        """The pods of these Jobs: from the pod cache when it vouches for every one (only
        finished Jobs), else one LIST of the session's pods."""
        pods_by_job: dict[str, list[Json]] = {}
        if not names:
            return pods_by_job
        cached = [self._cached_pods(ref, name) for name in names]
        if all(pods is not None for pods in cached):
            return {name: list(pods or ()) for name, pods in zip(names, cached, strict=True)}
        for pod in self._pods(ref, f"{LABEL_SESSION}={session_label(ref.name)}"):
            pods_by_job.setdefault(pod_job(pod) or "", []).append(pod)
        return pods_by_job

    def _cached_pods(self, ref: SessionRef, job: str) -> list[Json] | None:
        if self.pods is None:
            return None
        with self._lock:
            uid, ended = self._ended.get(ref.key, {}).get(job, ("", 0))
        found = self.pods.finished_pods(ref.namespace, job, uid, ended)
        return list(found) if found is not None else None

    def forget(self, key: str) -> None:
        """Drop a deleted session (``namespace/name``)."""
        with self._lock:
            self._ended.pop(key, None)
            self._kinds.pop(key, None)

    def _list(self, ref: SessionRef) -> list[Json]:
        since = self.cache.mark() if self.cache is not None else None
        query = [("labelSelector", selector(ref.name))]
        reply = self.kube.request("list_jobs", "GET", paths.jobs(ref.namespace), query=query)
        items = _items(reply)
        if self.cache is not None:
            self.cache.listed(ref, items, since)
        return items

    def _pods(self, ref: SessionRef, label_selector: str) -> list[Json]:
        query = [("labelSelector", label_selector)]
        return _items(self.kube.request("list_pods", "GET", paths.pods(ref.namespace), query=query))

    def read_logs(self, ref: SessionRef, job: ObservedJob) -> JobLogs | None:
        if other := self._kind(ref):
            return other[0].read_logs(ref, job, other[1])
        attempt_key = f"{ref.key}/{job.name}"
        cached = self._cached_pods(ref, job.name)
        pods = creation_order(
            cached
            if cached is not None
            else self._pods(ref, f"job-name={job.name},{LABEL_SESSION}={session_label(ref.name)}")
        )
        if not pods:
            self._forget(attempt_key)
            # The Job controller deletes the pods of a Job past its deadline itself.
            return JobLogs() if job.reason == "DeadlineExceeded" else None
        with self._lock:
            give_up = self._log_failures.get(attempt_key, 0) >= MAX_LOG_ATTEMPTS - 1
        logs: list[list[str]] = []
        budget = self.job_log_budget_bytes
        read_any = False
        for pod in reversed(pods):  # newest first: the last attempt matters most
            if budget <= 0:
                break
            try:
                parts = self._pod_log(ref, pod, min(budget, self.log_limit_bytes), job.trials)
            except TransientError:
                if not give_up:
                    with self._lock:
                        self._log_failures[attempt_key] = self._log_failures.get(attempt_key, 0) + 1
                    raise
                log.warning("%s: giving up on the log of a pod of %s", ref.key, job.name)
                continue
            if parts is None:
                continue  # deleted since the listing
            read_any = True
            budget -= sum(len(p) for p in parts)
            logs.append(parts)
        self._forget(attempt_key)
        if not read_any:
            return JobLogs() if job.reason == "DeadlineExceeded" else None
        return JobLogs(tuple(part for parts in reversed(logs) for part in parts), disruptions(pods))

    def first_output(self, ref: SessionRef, job: ObservedJob, limit: int) -> str | None:
        """The beginning of the running Job's newest pod's trial output (its metrics
        sidecar's, for a file collector): ``limitBytes``, never the whole log."""
        cached = self._cached_pods(ref, job.name)
        pods = creation_order(
            cached
            if cached is not None
            else self._pods(ref, f"job-name={job.name},{LABEL_SESSION}={session_label(ref.name)}")
        )
        if not pods:
            return None
        meta = pods[-1].get("metadata") or {}
        ann = meta.get("annotations") or {}
        container = ann.get(ANN_METRICS_CONTAINER) or ann.get(ANN_CONTAINER) or CONTAINER
        reply = self.kube.request(
            "read_log_head",
            "GET",
            paths.pod_log(ref.namespace, str(meta.get("name", ""))),
            query=[("container", str(container)), ("limitBytes", str(limit))],
            expect=(400, 404),
            read=lambda chunks: read_capped(chunks, limit + 1),
        )
        if reply.status in (400, 404) or not isinstance(reply.body, bytes):
            return None  # not started yet, or gone
        return reply.body[:limit].decode("utf-8", errors="replace")

    def _forget(self, key: str) -> None:
        with self._lock:
            self._log_failures.pop(key, None)

    def _pod_log(
        self, ref: SessionRef, pod: Json, limit: int, trials: Sequence[int] = ()
    ) -> list[str] | None:
        """The container log's result lines and last ``limit`` bytes; None if the pod is gone.

        The whole log is streamed through ``tuneop.core.wire.logscan`` (each of the Job's
        ``trials`` keeps its result wherever it stands, in memory bounded per trial,
        whatever the log's size); only its transfer grows with the log.
        """
        meta = pod.get("metadata") or {}
        name = meta.get("name", "")
        # The trial container is named on the pod (pods of older operators lack it); a file
        # collector's follower sidecar, when there is one, prints the metrics instead.
        ann = meta.get("annotations") or {}
        container = ann.get(ANN_METRICS_CONTAINER) or ann.get(ANN_CONTAINER) or CONTAINER
        reply = self.kube.request(
            "read_log",
            "GET",
            paths.pod_log(ref.namespace, str(name)),
            query=[("container", str(container))],
            expect=(400, 404),
            read=lambda chunks: scan(chunks, tail_bytes=limit, trials=trials or None),
        )
        if reply.status == 404:
            return None
        if reply.status == 400:
            # The container never started (waiting on its image, say): there is no log.
            return [""]
        return [reply.body]

    def create_job(self, ref: SessionRef, job: JobToCreate) -> None:
        if other := self._kind(ref):
            other[0].create(ref, job, other[1])
            return
        reply = self.kube.request(
            "create_job",
            "POST",
            paths.jobs(ref.namespace),
            job.manifest,
            query=[("fieldValidation", "Strict")],
            expect=(409,),
        )
        if reply.status == 409:
            created: object = self._check_existing(ref, job.name)
        else:
            created = reply.body
            TRIALS_STARTED.inc(len(job.trials))
        if self.cache is not None:
            self.cache.created(ref, created if isinstance(created, dict) else job.manifest)

    def _check_existing(self, ref: SessionRef, name: str) -> Json:
        """409: the name exists. Ours is success; an earlier session's must be waited out."""
        reply = self.kube.request("read_job", "GET", paths.jobs(ref.namespace, name), expect=(404,))
        existing = reply.body
        if reply.status == 404:
            raise TransientError(f"Job {name} is being deleted; creating it later")
        if not isinstance(existing, dict):
            raise TransientError(f"Job {name}: the API server's answer is no object")
        if owned_by_other(existing, ref):
            raise TransientError(
                f"Job {name} still belongs to an earlier session named {ref.name};"
                " waiting for its garbage collection"
            )
        return dict(existing)

    def delete_job(self, ref: SessionRef, name: str) -> None:
        if other := self._kind(ref):
            other[0].delete(ref, name, other[1])
            return
        self.kube.request(
            "delete_job",
            "DELETE",
            paths.jobs(ref.namespace, name),
            query=[("propagationPolicy", "Background")],
            expect=(404,),
        )
        self._deleted(ref, name)

    def delete_jobs(self, ref: SessionRef, names: Sequence[str]) -> None:
        """Delete these Jobs of the session: one DELETE of the collection for several (by
        their session and index labels, ``job_deletes``), the Job itself for one."""
        one = functools.partial(self.delete_job, ref)
        if self._kind(ref):  # another kind: each resource alone
            for name in names:
                one(name)
            return
        self._batches.delete(ref, names, one, functools.partial(self._deleted, ref))

    def _deleted(self, ref: SessionRef, name: str) -> None:
        if self.cache is not None:
            self.cache.deleted(ref, name)
        if self.pods is not None:
            self.pods.job_deleted(ref.namespace, name)
        with self._lock:
            self._ended.get(ref.key, {}).pop(name, None)


def _items(reply: Reply) -> list[Json]:
    """The objects of a list answer; an answer that is no list is not taken for an empty one
    (the planner would think the Jobs gone)."""
    items = reply.body.get("items") if isinstance(reply.body, dict) else None
    if items is not None and not isinstance(items, list):
        raise TransientError("the API server's list has no list of items")
    if not isinstance(reply.body, dict):
        raise TransientError("the API server's answer to a list is no object")
    return [item for item in items or () if isinstance(item, dict)]


def _name(job: Json) -> str:
    return str((job.get("metadata") or {}).get("name") or "")


def _ended(job: Json) -> tuple[str, int]:
    """A finished Job's uid and the number of its pods its status counts as ended."""
    status = job.get("status") or {}
    counts = [status.get("succeeded"), status.get("failed")]
    uid = str((job.get("metadata") or {}).get("uid") or "")
    return uid, sum(c for c in counts if isinstance(c, int) and not isinstance(c, bool) and c > 0)
