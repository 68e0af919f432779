"""Trial resources of any kind on the cluster: where they live, and what one says.

The first pieces of issue 29's operator path, over the one transport:

- ``Discovery`` turns a manifest's ``apiVersion`` and ``kind`` into the API path
  of its collection, from the API server's discovery document of that group
  version (``GET /apis/GROUP/VERSION``, which every authenticated client may
  read), cached per group version: a session's trials of one kind cost one
  discovery call for the operator's lifetime. A kind the cluster does not serve
  (its CRD not installed) is ``Rejected``, naming it; a cluster-scoped kind too
  (a trial lives in its session's namespace).
- ``observed_resource`` reads one resource as the reconciler reads a Job: its
  index, trials, params and retry from the metadata tuneop wrote (the Job's, and
  the params annotation), its state from the session's CEL conditions on the
  object (``tuneop.core.jobs.trialresource.outcome``), an infrastructure failure
  and pods that do not start from its pods as for a Job, queued for Kueue while
  suspended (``tuneop.core.jobs.trialresource.suspended``: the kinds Kueue admits), and
  timed out (``DeadlineExceeded``, as a Job's deadline says) once past its
  ``tuneop.dev/timeout-seconds`` annotation.
- ``primary_pod_selector``: the label selector of the pod whose log holds the
  metrics: the primary pod labels and, for a well-known kind, the kind's own
  label naming the resource, else the resource's own tuneop labels (which a
  custom kind's controller copies onto its pods).

``tuneop.adapters.kube.resource_trials`` creates, lists, harvests and deletes them
through these.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import quote

from tuneop.adapters.kube.job_status import Json, infra_reason, not_started, parse_time
from tuneop.adapters.kube.transport import Kube
from tuneop.api.trial_resource import ResolvedTrialResource
from tuneop.api.vocabulary import ANN_TIMEOUT, LABEL_JOB_INDEX, LABEL_SESSION
from tuneop.core.jobs.manifests import decode_job, session_label
from tuneop.core.jobs.observed import JobState, ObservedJob
from tuneop.core.jobs.trialresource import outcome, suspended
from tuneop.ports import Rejected

__all__ = ["Discovery", "observed_resource", "primary_pod_selector"]


def _seg(name: str) -> str:
    return quote(name, safe="")


class Discovery:
    """The collection path of each kind a session names, found once and kept."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._plurals: dict[str, dict[str, tuple[str, bool]]] = {}
        self._lock = threading.Lock()

    def _group_version(self, api_version: str) -> dict[str, tuple[str, bool]]:
        with self._lock:
            known = self._plurals.get(api_version)
        if known is not None:
            return known
        path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        reply = self.kube.request("discovery", "GET", path, expect=(404,))
        doc = reply.body if reply.status != 404 else None
        found: dict[str, tuple[str, bool]] = {}
        for r in (doc.get("resources") if isinstance(doc, dict) else None) or []:
            name = r.get("name") if isinstance(r, dict) else None
            if isinstance(name, str) and "/" not in name and isinstance(r.get("kind"), str):
                found[r["kind"]] = (name, r.get("namespaced") is True)
        with self._lock:
            self._plurals[api_version] = found
        return found

    def path(self, api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
        """The API path of ``kind``'s collection in ``namespace`` (or of one object)."""
        plural, namespaced = self._group_version(api_version).get(kind, ("", False))
        if not plural:
            raise Rejected(f"{api_version} {kind}: the cluster does not serve this kind")
        if not namespaced:
            raise Rejected(f"{api_version} {kind}: cluster-scoped; a trial lives in a namespace")
        root = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        out = f"{root}/namespaces/{_seg(namespace)}/{plural}"
        return out if name is None else f"{out}/{_seg(name)}"


def _finished_at(obj: Json) -> str | None:
    """When the resource ended: the newest transition among its conditions, if any."""
    conditions = (obj.get("status") or {}).get("conditions") or []
    times = [
        str(c["lastTransitionTime"])
        for c in conditions
        if isinstance(c, dict) and isinstance(c.get("lastTransitionTime"), str)
    ]
    return max(times) if times else None


def _timed_out(obj: Json, now: datetime | None) -> bool:
    """Past the seconds its ``tuneop.dev/timeout-seconds`` annotation gives, counted from its
    creation (a Job's deadline is its own ``activeDeadlineSeconds``; another kind has none)."""
    meta = obj.get("metadata") or {}
    text = (meta.get("annotations") or {}).get(ANN_TIMEOUT)
    created = parse_time(meta.get("creationTimestamp"))
    if now is None or created is None or not isinstance(text, str):
        return False
    if not text.isdigit() or len(text) > 9:
        return False
    return now >= created + timedelta(seconds=int(text))


def observed_resource(
    obj: Json,
    resolved: ResolvedTrialResource,
    pods: Sequence[Json] = (),
    now: datetime | None = None,
) -> ObservedJob | None:
    """An ``ObservedJob`` for one trial resource; None if tuneop did not write it.

    ``pods`` are the resource's pods, when they were looked at: a failed resource's for the
    infrastructure-vs-trial split, a running one's for pods that do not start."""
    wire = decode_job(obj)
    if wire is None:
        return None
    ended = outcome(resolved, obj)
    state = {None: JobState.ACTIVE, "Succeeded": JobState.SUCCEEDED}.get(ended, JobState.FAILED)
    reason = "FailureCondition" if state is JobState.FAILED else None
    finished_at = parse_time(_finished_at(obj)) if ended else None
    queued = state is JobState.ACTIVE and suspended(obj)
    meta = obj.get("metadata") or {}
    if state is JobState.ACTIVE and not queued and _timed_out(obj, now):
        state, reason, finished_at = JobState.FAILED, "DeadlineExceeded", now
    active = state is JobState.ACTIVE
    return ObservedJob(
        index=wire.index,
        name=wire.name,
        trials=wire.trials,
        state=state,
        params=wire.params,
        reason=reason,
        infra_reason=infra_reason(pods) if state is JobState.FAILED else None,
        started_at=parse_time(meta.get("creationTimestamp")),
        finished_at=finished_at,
        retry=wire.retry,
        queued=queued,
        queued_since=parse_time(meta.get("creationTimestamp")) if queued else None,
        not_started=not_started(pods) if active and pods else None,
    )


def primary_pod_selector(
    resolved: ResolvedTrialResource, session: str, index: int, name: str
) -> str:
    """The label selector of resource ``name``'s primary pod (session ``session``)."""
    labels = dict(resolved.primary_pod_labels)
    if resolved.pod_label is not None:
        labels[resolved.pod_label] = name
    else:
        labels[LABEL_SESSION] = session_label(session)
        labels[LABEL_JOB_INDEX] = str(index)
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
