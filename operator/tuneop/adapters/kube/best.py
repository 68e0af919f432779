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
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from tuneop.adapters.kube.client import (
    REQUEST_TIMEOUT,
    Kube,
    api_error,
    body_json,
    status_code,
)
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus, TrialRef
from tuneop.api.vocabulary import LABEL_MANAGED_BY, LABEL_SESSION, MANAGED_BY
from tuneop.core.jobs.manifests import owner_reference, session_label
from tuneop.ports import MirrorRecord

__all__ = ["MAX_NAME", "SUFFIX", "BestConfigMap", "best_data", "best_name", "config_map"]

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


@dataclass
class BestConfigMap:
    kube: Kube
    _written: dict[str, str] = field(default_factory=dict)
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
            if self._written.get(ref.key) == stamp:
                return
        try:
            self._put(ref, data)
        except Exception as err:
            api_error("write_best", err)
            log.warning("%s: could not write ConfigMap %s: %s", ref.key, best_name(ref.name), err)
            return
        with self._lock:
            self._written[ref.key] = stamp

    def _put(self, ref: SessionRef, data: dict[str, str]) -> None:
        name = best_name(ref.name)
        body = config_map(ref, data)
        try:
            resp = self.kube.core.read_namespaced_config_map(
                name, ref.namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
            )
            current = body_json(resp)
        except Exception as err:
            if status_code(err) != 404:
                raise
            self.kube.write()
            self.kube.core.create_namespaced_config_map(
                ref.namespace,
                body,
                field_validation="Strict",
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
            return
        labels = (current.get("metadata") or {}).get("labels") or {}
        if labels.get(LABEL_MANAGED_BY) != MANAGED_BY:
            # Someone else's ConfigMap of that name: never overwrite it.
            raise RuntimeError(f"ConfigMap {name} exists and is not managed by tuneop")
        if current.get("data") == data:
            return
        body["metadata"]["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
        self.kube.write()
        self.kube.core.replace_namespaced_config_map(
            name,
            ref.namespace,
            body,
            field_validation="Strict",
            _preload_content=False,
            _request_timeout=REQUEST_TIMEOUT,
        )

    def forget(self, key: str) -> None:
        with self._lock:
            self._written.pop(key, None)
