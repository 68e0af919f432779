"""The worker pods of finished Jobs as the operator's pod watch shows them, so a harvest lists none.

Reading a finished Job's logs needs its pods' names (the Job controller names
them ``<job>-<random>``), and finding them cost a pod LIST per Job: one API
request per trial at one trial per Job, a fifth of everything the operator asks.
kopf watches the pods tuneop's Jobs create (server-side label selector
``app.kubernetes.io/managed-by=tuneop``) and feeds them here; ``finished_pods``
answers from memory when it can vouch for the answer, else the caller LISTs.

**When the cache vouches.** A Job's status counts every pod that ended
(``succeeded`` + ``failed``; with job-tracking finalizers each exactly once)
before the Job is marked finished. The cache vouches for a finished Job when it
holds at least that many ended pods of the Job's uid: the watch has then shown
every attempt's end, so no pod the LIST would return (and whose log could hold
a report) is missing. A lagging watch, a restarted operator whose watch has not
listed yet, or pods the Job controller deleted (a Job past its deadline) all
leave it short, and the caller LISTs as before. A pod that is terminating or
deleted leaves the cache (its log is going or gone); a stale entry whose
deletion the watch missed costs only a 404 on the log read, which the harvest
already treats as a pod gone.

**Bounded.** Only the fields the harvest and ``job_status.pod_problem`` read are
kept (``slim``); a Job's pods are dropped when this process deletes the Job,
and at most ``max_pods`` are held (the oldest seen go first), whatever the
watch brings. Thread-safe: kopf feeds it on the event loop, reconciles read it
in worker threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tuneop.adapters.kube.job_status import pod_job
from tuneop.api.vocabulary import ANN_CONTAINER, ANN_METRICS_CONTAINER

__all__ = ["CONTROLLER_UID_LABEL", "DEFAULT_MAX_PODS", "ENDED_PHASES", "PodCache", "slim_pod"]

Json = Mapping[str, Any]
JobKey = tuple[str, str]  # (namespace, Job name)

CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
LEGACY_UID_LABEL = "controller-uid"
ENDED_PHASES = frozenset({"Succeeded", "Failed"})
DEFAULT_MAX_PODS = 20_000
_KEPT_CONDITIONS = frozenset({"PodScheduled", "DisruptionTarget"})
_KEPT_LABELS = (CONTROLLER_UID_LABEL, LEGACY_UID_LABEL, "job-name", "batch.kubernetes.io/job-name")


def _container_status(cs: Json) -> dict[str, Any]:
    kept = {"waiting": ("reason", "message"), "terminated": ("reason", "exitCode"), "running": ()}
    state = cs.get("state") or {}
    return {
        "name": cs.get("name"),
        "state": {
            kind: {k: (state[kind] or {})[k] for k in keys if k in (state[kind] or {})}
            for kind, keys in kept.items()
            if kind in state
        },
    }


def slim_pod(pod: Json) -> dict[str, Any]:
    """The parts of a pod the harvest and the infrastructure diagnosis read."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    return {
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "creationTimestamp": meta.get("creationTimestamp"),
            "ownerReferences": [
                o for o in meta.get("ownerReferences") or [] if o.get("kind") == "Job"
            ],
            "labels": {k: labels[k] for k in _KEPT_LABELS if k in labels},
            "annotations": {
                k: annotations[k]
                for k in (ANN_CONTAINER, ANN_METRICS_CONTAINER)
                if k in annotations
            },
        },
        "status": {
            "phase": status.get("phase"),
            "reason": status.get("reason"),
            "message": status.get("message"),
            "conditions": [
                {k: c.get(k) for k in ("type", "status", "reason", "message")}
                for c in status.get("conditions") or []
                if c.get("type") in _KEPT_CONDITIONS
            ],
            "containerStatuses": [
                _container_status(cs) for cs in status.get("containerStatuses") or []
            ],
            "initContainerStatuses": [
                _container_status(cs) for cs in status.get("initContainerStatuses") or []
            ],
        },
    }


def _job_uid(pod: Json) -> str:
    meta = pod.get("metadata") or {}
    for owner in meta.get("ownerReferences") or []:
        if owner.get("kind") == "Job" and owner.get("controller"):
            return str(owner.get("uid") or "")
    labels = meta.get("labels") or {}
    return str(labels.get(CONTROLLER_UID_LABEL) or labels.get(LEGACY_UID_LABEL) or "")


@dataclass
class PodCache:
    max_pods: int = DEFAULT_MAX_PODS
    # (namespace, pod name) -> (Job key, slim pod); insertion order = oldest seen first.
    _pods: OrderedDict[tuple[str, str], tuple[JobKey, dict[str, Any]]] = field(
        default_factory=OrderedDict
    )
    _by_job: dict[JobKey, set[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- fed by the watch ---

    def seen(self, pod: Json) -> None:
        """A pod was added or changed (a terminating one is as good as gone)."""
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            self.gone(pod)
            return
        job = pod_job(pod)
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        if not job or not name:
            return
        key = (namespace, name)
        job_key = (namespace, job)
        with self._lock:
            self._pods[key] = (job_key, slim_pod(pod))
            self._pods.move_to_end(key)
            self._by_job.setdefault(job_key, set()).add(name)
            while len(self._pods) > self.max_pods:
                (_, old_name), (old_job, _) = self._pods.popitem(last=False)
                self._unindex(old_job, old_name)

    def gone(self, pod: Json) -> None:
        meta = pod.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        with self._lock:
            entry = self._pods.pop(key, None)
            if entry is not None:
                self._unindex(entry[0], key[1])

    def _unindex(self, job_key: JobKey, name: str) -> None:
        names = self._by_job.get(job_key)
        if names is not None:
            names.discard(name)
            if not names:
                del self._by_job[job_key]

    # --- fed by this process's own requests ---

    def job_deleted(self, namespace: str, job: str) -> None:
        """This process deleted the Job: its pods are going, and nothing will read them."""
        with self._lock:
            for name in self._by_job.pop((namespace, job), set()):
                self._pods.pop((namespace, name), None)

    # --- read by harvests ---

    def finished_pods(
        self, namespace: str, job: str, job_uid: str, ended: int
    ) -> list[dict[str, Any]] | None:
        """The pods of a finished Job (uid ``job_uid``) whose status counts ``ended`` pods
        that ended; None when the cache cannot vouch that it holds all of them."""
        if not job_uid or ended <= 0:
            return None
        with self._lock:
            pods = [
                self._pods[(namespace, n)][1]
                for n in self._by_job.get((namespace, job), ())
                if (namespace, n) in self._pods
            ]
        mine = [p for p in pods if _job_uid(p) == job_uid]
        done = sum(1 for p in mine if (p.get("status") or {}).get("phase") in ENDED_PHASES)
        return mine if done >= ended else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._pods)
