"""The leader election's Lease (``coordination.k8s.io/v1``): read, create, update, announce.

Every write carries the resourceVersion the record was read at (optimistic concurrency):
of two candidates that read the same version and both try to take the Lease, the API
server accepts one and answers the other 409, which is ``Conflict``; that candidate reads
again and stands by. The decisions are ``tuneop.core.election``'s; this is only the wire.

The Lease is another process's writing, so it is read bounded: a holder identity longer
than ``MAX_IDENTITY`` or a field of the wrong type reads as no holder / a zero count,
never as an exception. Lease calls do not wait on the operator's write limiter (a
renewal queued behind a burst of status writes could miss its deadline); they are one
small write every retry period. ``announce`` posts an Event on the Lease when the leader
changes, as client-go's elector does; a failed Event costs nothing but the Event.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from tuneop.adapters.kube.client import body_json, raise_api_error, status_code
from tuneop.core.election import LeaseRecord
from tuneop.ports import Conflict

__all__ = ["LEASE_TIMEOUT", "MAX_IDENTITY", "KubeLease", "lease_body", "parse_lease"]

log = logging.getLogger(__name__)

# (connect, read) seconds: a Lease call that takes longer than a retry period is worth
# less than the next attempt; the renew deadline is enforced by a watchdog, not by these.
LEASE_TIMEOUT = (2.0, 2.0)
# Kubernetes names and the identities tuneop writes are far shorter.
MAX_IDENTITY = 253
_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def _time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime(_TIME) if value is not None else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    for fmt in (_TIME, "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_lease(obj: Any) -> LeaseRecord:
    """The election's record from a Lease object as the API server sent it (bounded)."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    spec = obj.get("spec") if isinstance(obj, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    spec = spec if isinstance(spec, dict) else {}
    holder = spec.get("holderIdentity")
    if not isinstance(holder, str) or not holder or len(holder) > MAX_IDENTITY:
        holder = None
    version = meta.get("resourceVersion")
    return LeaseRecord(
        holder=holder,
        lease_seconds=_int(spec.get("leaseDurationSeconds")),
        acquire_time=_parse_time(spec.get("acquireTime")),
        renew_time=_parse_time(spec.get("renewTime")),
        transitions=_int(spec.get("leaseTransitions")),
        resource_version=version if isinstance(version, str) else None,
    )


def lease_body(name: str, namespace: str, record: LeaseRecord) -> dict[str, Any]:
    """The Lease object that holds ``record`` (with its resourceVersion, when it has one)."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {"app.kubernetes.io/managed-by": "tuneop"},
    }
    if record.resource_version is not None:
        metadata["resourceVersion"] = record.resource_version
    spec = {
        "holderIdentity": record.holder,
        "leaseDurationSeconds": record.lease_seconds,
        "acquireTime": _time(record.acquire_time),
        "renewTime": _time(record.renew_time),
        "leaseTransitions": record.transitions,
    }
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {key: value for key, value in spec.items() if value is not None},
    }


class KubeLease:
    """One named Lease, over its own ``ApiClient`` (not the reconciles' pool)."""

    def __init__(self, api: Any, namespace: str, name: str) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self.coordination = client.CoordinationV1Api(api)
        self.core = client.CoreV1Api(api)
        self._uid: str | None = None

    def read(self) -> LeaseRecord | None:
        """The Lease as it is (None when there is none)."""
        try:
            resp = self.coordination.read_namespaced_lease(
                self.name, self.namespace, _preload_content=False, _request_timeout=LEASE_TIMEOUT
            )
        except Exception as err:
            if status_code(err) == 404:
                return None
            raise_api_error("read lease", err)
        return self._parsed(body_json(resp))

    def create(self, record: LeaseRecord) -> LeaseRecord:
        """Create the Lease holding ``record``; ``Conflict`` if it exists by now."""
        body = lease_body(self.name, self.namespace, record)
        try:
            resp = self.coordination.create_namespaced_lease(
                self.namespace, body, _preload_content=False, _request_timeout=LEASE_TIMEOUT
            )
        except Exception as err:
            if status_code(err) == 409:
                raise Conflict("lease: created meanwhile by another candidate") from err
            raise_api_error("create lease", err)
        return self._parsed(body_json(resp))

    def update(self, record: LeaseRecord) -> LeaseRecord:
        """Write ``record`` if the Lease is still at its resourceVersion, else ``Conflict``."""
        body = lease_body(self.name, self.namespace, record)
        try:
            resp = self.coordination.replace_namespaced_lease(
                self.name,
                self.namespace,
                body,
                _preload_content=False,
                _request_timeout=LEASE_TIMEOUT,
            )
        except Exception as err:
            if status_code(err) == 409:
                raise Conflict("lease: written meanwhile by another candidate") from err
            raise_api_error("update lease", err)
        return self._parsed(body_json(resp))

    def announce(self, reason: str, message: str, now: datetime) -> None:
        """An Event on the Lease (``kubectl describe lease``), best effort."""
        stamp = _time(now)
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{self.name}.", "namespace": self.namespace},
            "involvedObject": {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "name": self.name,
                "namespace": self.namespace,
                **({"uid": self._uid} if self._uid else {}),
            },
            "reason": reason,
            "message": message[:1024],
            "type": "Normal",
            "source": {"component": "tuneop-operator"},
            "firstTimestamp": stamp[:19] + "Z" if stamp else None,
            "lastTimestamp": stamp[:19] + "Z" if stamp else None,
            "count": 1,
        }
        try:
            self.core.create_namespaced_event(
                self.namespace, event, _preload_content=False, _request_timeout=LEASE_TIMEOUT
            )
        except Exception as err:  # an Event is a courtesy; the Lease and the log say it too
            log.debug("lease %s: event %s not posted: %s", self.name, reason, err)

    def _parsed(self, obj: Any) -> LeaseRecord:
        uid = (obj.get("metadata") or {}).get("uid") if isinstance(obj, dict) else None
        self._uid = uid if isinstance(uid, str) else self._uid
        return parse_lease(obj)
