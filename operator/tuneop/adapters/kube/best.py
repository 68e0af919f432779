"""The best parameters as a ConfigMap: ``<session>-best``, for whatever consumes the result.

A deployment, a CI job or a person can mount or ``kubectl get`` the winning
parameters without parsing the session's status. The ConfigMap holds
``params.json`` (just the best trial's params, ready to load) and
``best.json`` (session, trial, objective metric, direction, value, Job index,
params). It carries the session as its controlling ownerReference, so it is
garbage-collected with the session.

This is a ``Mirror`` that acts only on status records, which the
reconciler calls after every successful status write. It writes only when
the best changes: the last content written per session is remembered, so a
reconcile whose best is unchanged costs nothing; after a restart the first
reconcile of a session reads the ConfigMap once and skips the write if it is
already current. Create on 404, otherwise replace (at the read
resourceVersion). A failure is logged and counted, never raised: the status
is already written, and the next change of best (or the next restart) writes
again.

In the operator the writes *yield* (``yielding.Yielding``): a running session's new
best is written after its reconcile's own writes and everyone else's queued ones,
coalesced per session, so the mirror never delays a Job (a restart over 50 sessions
made 50 ConfigMap creates before the last sessions' next Jobs). A finished session's
best is written at once: it is the result, and whoever waits for the session's end
reads it next.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from tuneop.adapters.kube import paths
from tuneop.adapters.kube.transport import Kube
from tuneop.adapters.kube.yielding import Yielding
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus, TrialRef
from tuneop.api.vocabulary import LABEL_MANAGED_BY, LABEL_SESSION, MANAGED_BY
from tuneop.core.jobs.manifests import owner_reference, session_label
from tuneop.ports import MirrorRecord, Rejected, TransientError

__all__ = [
    "MAX_NAME",
    "SUFFIX",
    "BestConfigMap",
    "ForeignConfigMap",
    "best_data",
    "best_name",
    "config_map",
]

log = logging.getLogger(__name__)

SUFFIX = "-best"
MAX_NAME = 253


def best_name(session: str) -> str:
    """``<session>-best``, cut and hashed when that would pass 253 characters."""
    if len(session) + len(SUFFIX) <= MAX_NAME:
        return session + SUFFIX
    digest = hashlib.sha256(session.encode()).hexdigest()[:8]
    return f"{session[: MAX_NAME - len(SUFFIX) - 9].rstrip('-.')}-{digest}{SUFFIX}"


def best_data(ref: SessionRef, spec: SessionSpec, best: TrialRef) -> dict[str, str]:
    record = {
        "session": ref.key,
        "trial": best.trial,
        "metric": spec.objective.metric,
        "direction": spec.objective.direction,
        "value": best.value,
        "jobIndex": best.job_index,
        "params": best.params or {},
    }
    return {
        "params.json": json.dumps(best.params or {}, indent=1, sort_keys=True) + "\n",
        "best.json": json.dumps(record, indent=1, sort_keys=True) + "\n",
    }


def config_map(ref: SessionRef, data: dict[str, str]) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": best_name(ref.name),
        "namespace": ref.namespace,
        "labels": {LABEL_SESSION: session_label(ref.name), LABEL_MANAGED_BY: MANAGED_BY},
    }
    if ref.uid:
        metadata["ownerReferences"] = [owner_reference(ref)]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


class ForeignConfigMap(Exception):
    """A ConfigMap of the name exists and is someone else's."""


@dataclass
class BestConfigMap:
    kube: Kube
    # None: every write is made at once, in the reconcile's thread.
    yielding: Yielding | None = None
    _written: dict[str, str] = field(default_factory=dict)
    # Per session, the newest best seen: an older one still on its way (the deferred
    # writer's, popped before a terminal write came) is never written after it.
    _latest: dict[str, str] = field(default_factory=dict)
    # Per session, held across a write's GET and PUT: two writes of one ConfigMap (the
    # deferred writer's and a terminal one at once) go one after the other.
    _writing: dict[str, threading.Lock] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, ref: SessionRef, spec: SessionSpec, change: MirrorRecord) -> None:
        if change.status is not None:
            self.record_status(ref, spec, change.status)

    def record_status(self, ref: SessionRef, spec: SessionSpec, status: SessionStatus) -> None:
        if status.best is None:
            return
        data = best_data(ref, spec, status.best)
        stamp = ref.uid + json.dumps(data, sort_keys=True)
        with self._lock:
            current = self._written.get(ref.key) == stamp
            self._latest[ref.key] = stamp
        if self.yielding is not None:
            if not current and not status.terminal:
                self.yielding.submit(ref.key, lambda: self._write(ref, data, stamp))
                return
            self.yielding.discard(ref.key)  # written, or written now: nothing left to copy
        if not current:
            self._write(ref, data, stamp)

    def _write(self, ref: SessionRef, data: dict[str, str], stamp: str) -> None:
        with self._lock:
            writing = self._writing.setdefault(ref.key, threading.Lock())
        with writing:
            with self._lock:
                if self._written.get(ref.key) == stamp or self._latest.get(ref.key) != stamp:
                    return  # written already, or a newer best came: that one is written
            try:
                self._put(ref, data)
            except Exception as err:  # the status is written: a mirror's failure is logged
                if not isinstance(err, TransientError | Rejected):  # the transport counted
                    self.kube.count("write_best", None)
                name = best_name(ref.name)
                log.warning("%s: could not write ConfigMap %s: %s", ref.key, name, err)
                return
            with self._lock:
                self._written[ref.key] = stamp

    def _put(self, ref: SessionRef, data: dict[str, str]) -> None:
        name = best_name(ref.name)
        body = config_map(ref, data)
        strict = [("fieldValidation", "Strict")]
        path = paths.config_maps(ref.namespace, name)
        reply = self.kube.request("write_best", "GET", path, expect=(404,))
        if reply.status == 404:
            self.kube.request(
                "write_best", "POST", paths.config_maps(ref.namespace), body, query=strict
            )
            return
        current = reply.body if isinstance(reply.body, dict) else {}
        labels = (current.get("metadata") or {}).get("labels") or {}
        if labels.get(LABEL_MANAGED_BY) != MANAGED_BY:
            # Someone else's ConfigMap of that name: never overwrite it.
            raise ForeignConfigMap(f"ConfigMap {name} exists and is not managed by tuneop")
        if current.get("data") == data:
            return
        body["metadata"]["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
        self.kube.request("write_best", "PUT", path, body, query=strict)

    def forget(self, key: str) -> None:
        if self.yielding is not None:
            self.yielding.discard(key)
        with self._lock:
            self._written.pop(key, None)
            self._latest.pop(key, None)
            self._writing.pop(key, None)

    def start(self) -> None:
        """Write the yielding writes in the background from now on."""
        if self.yielding is not None:
            self.yielding.start()

    def close(self) -> None:
        """Write what is still pending (the process is stopping)."""
        if self.yielding is not None:
            self.yielding.close()
