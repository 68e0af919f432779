"""Trials as resources of any kind on the cluster: the ``JobBackend``'s calls for one kind.

``KubeJobs`` hands a session whose spec names ``spec.trialResource`` to ``ResourceTrials``:
the same four calls as for a worker Job, over the kind's collection (its path found by
``Discovery``), so the planner, the ledger, retries, timeouts and cleanup are the Job's
own; only where the object lives and how it says it ended differ:

- **create** POSTs the rendered manifest (``tuneop.core.jobs.manifests``: the Job's name,
  labels, annotations and owner reference). A 409 is the resource a killed operator
  created before it could write the status (the name is deterministic): it is adopted
  when it is this session's, waited out when an earlier session's of the same name.
- **observe** reads the session's resources by tuneop's labels (no watch: a session of
  another kind is polled, ``reconciler.RESOURCE_POLL_SECONDS``) and each one's state
  from the session's CEL conditions (``trial_resources.observed_resource``). Pods are
  listed, in one call, only for the resources that failed (the infrastructure split:
  unschedulable, image pull, eviction) or run past the pod start timeout (pods that do
  not start); the kind's own label naming the resource on its pods picks them.
- **read_logs** reads the primary pod's container log (the selector and container of the
  kind's defaults or the session's ``primaryPodLabels``/``primaryContainer``), every
  attempt of it oldest first, streamed through ``tuneop.core.wire.logscan`` as a Job's.
  No primary pod → None (ResultsLost), except a timed-out resource, whose pods may be gone.
- A kind the cluster does not serve, or a manifest the API server refuses to create
  (its schema, a kind the operator may not create), fails the session in one line
  naming it (a ``SpecError``: phase Failed, InvalidSpec), as a Job path's invalid spec.
- **delete** deletes the resource after its harvest, its pods with it (background).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tuneop.adapters.kube import paths
from tuneop.adapters.kube.job_status import Json, creation_order, disruptions, owned_by_other
from tuneop.adapters.kube.metrics import TRIALS_STARTED
from tuneop.adapters.kube.transport import Kube, Reply
from tuneop.adapters.kube.trial_resources import (
    Discovery,
    observed_resource,
    primary_pod_selector,
)
from tuneop.api.errors import SpecError
from tuneop.api.session import SessionRef
from tuneop.api.trial_resource import ResolvedTrialResource
from tuneop.api.vocabulary import ANN_START_TIMEOUT, LABEL_JOB_INDEX, LABEL_SESSION
from tuneop.core.jobs.manifests import selector, session_label
from tuneop.core.jobs.observed import JobState, ObservedJob
from tuneop.core.planning.planner import JobToCreate
from tuneop.core.results.harvest import JobLogs
from tuneop.core.wire.logscan import scan
from tuneop.ports import Rejected, TransientError

__all__ = ["ResourceTrials"]

log = logging.getLogger(__name__)


@dataclass
class ResourceTrials:
    kube: Kube
    discovery: Discovery
    clock: Callable[[], datetime]
    log_limit_bytes: int
    job_log_budget_bytes: int

    def _path(self, ref: SessionRef, kind: ResolvedTrialResource, name: str | None = None) -> str:
        try:
            return self.discovery.path(kind.api_version, kind.kind, ref.namespace, name)
        except Rejected as err:  # the session names a kind this cluster cannot hold
            raise SpecError([f"spec.trialResource.manifest: {err}"]) from err

    def observe(self, ref: SessionRef, kind: ResolvedTrialResource) -> list[ObservedJob]:
        query = [("labelSelector", selector(ref.name))]
        reply = self.kube.request("list_trials", "GET", self._path(ref, kind), query=query)
        items = [o for o in _items(reply) if not owned_by_other(o, ref)]
        now = self.clock()
        first = {_name(o): observed_resource(o, kind, (), now) for o in items}
        look = [j for j in first.values() if j is not None and _worth_pods(j, items, now)]
        pods = self._pods_of(ref, kind, look)
        out = []
        for obj in items:
            name = _name(obj)
            job = observed_resource(obj, kind, pods.get(name, ()), now) if name in pods else None
            job = job or first[name]
            if job is None:
                log.warning("%s: ignoring %s %s: no job index or trials", ref.key, kind.kind, name)
                continue
            out.append(job)
        return sorted(out, key=lambda j: j.index)

    def _pods_of(
        self, ref: SessionRef, kind: ResolvedTrialResource, jobs: Sequence[ObservedJob]
    ) -> dict[str, list[Json]]:
        """The pods of these resources, by resource name, in one LIST."""
        if not jobs:
            return {}
        key = kind.pod_label or LABEL_JOB_INDEX
        if kind.pod_label is not None:
            label_selector = f"{key} in ({','.join(sorted(j.name for j in jobs))})"
        else:  # a custom kind's pods carry tuneop's labels, copied from the resource
            label_selector = f"{LABEL_SESSION}={session_label(ref.name)}"
        by_index = {str(j.index): j.name for j in jobs}
        out: dict[str, list[Json]] = {j.name: [] for j in jobs}
        for pod in self._pods(ref, label_selector):
            value = str(((pod.get("metadata") or {}).get("labels") or {}).get(key, ""))
            owner = value if kind.pod_label is not None else by_index.get(value)
            if owner in out:
                out[owner].append(pod)
        return out

    def _pods(self, ref: SessionRef, label_selector: str) -> list[Json]:
        query = [("labelSelector", label_selector)]
        return _items(self.kube.request("list_pods", "GET", paths.pods(ref.namespace), query=query))

    def read_logs(
        self, ref: SessionRef, job: ObservedJob, kind: ResolvedTrialResource
    ) -> JobLogs | None:
        chosen = primary_pod_selector(kind, ref.name, job.index, job.name)
        pods = creation_order(self._pods(ref, chosen))
        logs: list[str] = []
        budget = self.job_log_budget_bytes
        for pod in reversed(pods):  # newest first: the last attempt matters most
            if budget <= 0:
                break
            text = self._pod_log(ref, pod, kind, min(budget, self.log_limit_bytes), job.trials)
            if text is not None:
                budget -= len(text)
                logs.append(text)
        if not logs:
            return JobLogs() if job.reason == "DeadlineExceeded" else None
        return JobLogs(tuple(reversed(logs)), disruptions(pods))

    def _pod_log(
        self,
        ref: SessionRef,
        pod: Json,
        kind: ResolvedTrialResource,
        limit: int,
        trials: Sequence[int],
    ) -> str | None:
        """The primary container's log (result lines and last ``limit`` bytes); None if gone."""
        name = str((pod.get("metadata") or {}).get("name", ""))
        container = kind.primary_container or _first_container(pod)
        query = [("container", container)] if container else []
        reply = self.kube.request(
            "read_log",
            "GET",
            paths.pod_log(ref.namespace, name),
            query=query,
            expect=(400, 404),
            read=lambda chunks: scan(chunks, tail_bytes=limit, trials=trials or None),
        )
        if reply.status == 404:
            return None
        return "" if reply.status == 400 else str(reply.body)  # 400: never started

    def create(self, ref: SessionRef, job: JobToCreate, kind: ResolvedTrialResource) -> None:
        path = self._path(ref, kind)
        try:
            reply = self.kube.request(
                "create_trial",
                "POST",
                path,
                job.manifest,
                query=[("fieldValidation", "Strict")],
                expect=(409,),
            )
        except Rejected as err:
            # The session's own manifest the API server refused (its schema, a forbidden
            # kind): the session fails naming why, as an invalid spec does.
            problem = f"spec.trialResource.manifest: {kind.kind} {job.name}: {err}"
            raise SpecError([problem]) from err
        if reply.status == 409:
            self._check_existing(ref, job.name, kind)
        else:
            TRIALS_STARTED.inc(len(job.trials))

    def _check_existing(self, ref: SessionRef, name: str, kind: ResolvedTrialResource) -> None:
        """409: the name exists. Ours is adopted; an earlier session's must be waited out."""
        path = self._path(ref, kind, name)
        reply = self.kube.request("read_trial", "GET", path, expect=(404,))
        if reply.status == 404:
            raise TransientError(f"{kind.kind} {name} is being deleted; creating it later")
        if not isinstance(reply.body, dict):
            raise TransientError(f"{kind.kind} {name}: the API server's answer is no object")
        if owned_by_other(reply.body, ref):
            raise TransientError(
                f"{kind.kind} {name} still belongs to an earlier session named {ref.name};"
                " waiting for its garbage collection"
            )

    def delete(self, ref: SessionRef, name: str, kind: ResolvedTrialResource) -> None:
        self.kube.request(
            "delete_trial",
            "DELETE",
            self._path(ref, kind, name),
            query=[("propagationPolicy", "Background")],
            expect=(404,),
        )


def _worth_pods(job: ObservedJob, items: Sequence[Json], now: datetime) -> bool:
    """Whether to look at a resource's pods: it failed, or it runs past its start timeout."""
    if job.state is JobState.FAILED:
        return True
    if job.state is not JobState.ACTIVE or job.queued or job.started_at is None:
        return False
    obj = next((o for o in items if _name(o) == job.name), {})
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(ANN_START_TIMEOUT)
    if not isinstance(text, str) or not text.isdigit() or len(text) > 9:
        return False
    return now >= job.started_at + timedelta(seconds=int(text))


def _first_container(pod: Json) -> str:
    containers = (pod.get("spec") or {}).get("containers") or []
    first = containers[0] if containers and isinstance(containers[0], dict) else {}
    return str(first.get("name") or "")


def _items(reply: Reply) -> list[Json]:
    """The objects of a list answer; an answer that is no list is not taken for an empty one."""
    body = reply.body
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(body, dict) or (items is not None and not isinstance(items, list)):
        raise TransientError("the API server's answer to a list has no list of items")
    return [item for item in items or () if isinstance(item, dict)]


def _name(obj: Json) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")
