"""The leader election's Lease (``coordination.k8s.io/v1``): read, create, update, announce.

Every write carries the resourceVersion the record was read at (optimistic concurrency):
of two candidates that read the same version and both try to take the Lease, the API
server accepts one and answers the other 409, which is ``Conflict``; that candidate reads
again and stands by. The decisions are ``tuneop.core.election``'s; this is only the wire.

The Lease is another process's writing, so it is read bounded: a holder identity longer
than ``MAX_IDENTITY`` or a field of the wrong type reads as no holder / a zero count,
never as an exception. Lease calls do not wait on the operator's write limiter (a
renewal queued behind a burst of status writes could miss its deadline); they are one
small write every retry period (the ``Kube`` handed in is the elector's own, with a
limiter of its own). ``announce`` posts an Event on the Lease when the leader
changes, as client-go's elector does; a failed Event costs nothing but the Event.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from tuneop.adapters.kube.transport import Kube
from tuneop.core.election import LeaseRecord
from tuneop.ports import Conflict

__all__ = ["LEASE_TIMEOUT", "MAX_IDENTITY", "KubeLease", "lease_body", "lease_path", "parse_lease"]

log = logging.getLogger(__name__)

# (connect, read) seconds: a Lease call that takes longer than a retry period is worth
# less than the next attempt; the renew deadline is enforced by a watchdog, not by these.
LEASE_TIMEOUT = (2.0, 2.0)
# Kubernetes names and the identities tuneop writes are far shorter.
MAX_IDENTITY = 253
_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def lease_path(namespace: str, name: str | None = None) -> str:
    """The Leases of ``namespace``, or one of them (each name quoted as a path segment)."""
    leases = f"/apis/coordination.k8s.io/v1/namespaces/{quote(namespace, safe='')}/leases"
    return leases if name is None else f"{leases}/{quote(name, safe='')}"


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
    """One named Lease, over the elector's own ``Kube`` (not the reconciles' connection)."""

    def __init__(self, kube: Kube, namespace: str, name: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self._uid: str | None = None

    def read(self) -> LeaseRecord | None:
        """The Lease as it is (None when there is none)."""
        reply = self.kube.request(
            "read lease",
            "GET",
            lease_path(self.namespace, self.name),
            expect=(404,),
            timeout=LEASE_TIMEOUT,
        )
        return None if reply.status == 404 else self._parsed(reply.body)

    def create(self, record: LeaseRecord) -> LeaseRecord:
        """Create the Lease holding ``record``; ``Conflict`` if it exists by now."""
        reply = self.kube.request(
            "create lease",
            "POST",
            lease_path(self.namespace),
            lease_body(self.name, self.namespace, record),
            expect=(409,),
            timeout=LEASE_TIMEOUT,
        )
        if reply.status == 409:
            raise Conflict("lease: created meanwhile by another candidate")
        return self._parsed(reply.body)

    def update(self, record: LeaseRecord) -> LeaseRecord:
        """Write ``record`` if the Lease is still at its resourceVersion, else ``Conflict``."""
        reply = self.kube.request(
            "update lease",
            "PUT",
            lease_path(self.namespace, self.name),
            lease_body(self.name, self.namespace, record),
            expect=(409,),
            timeout=LEASE_TIMEOUT,
        )
        if reply.status == 409:
            raise Conflict("lease: written meanwhile by another candidate")
        return self._parsed(reply.body)

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
        path = f"/api/v1/namespaces/{quote(self.namespace, safe='')}/events"
        try:
            self.kube.request("lease event", "POST", path, event, timeout=LEASE_TIMEOUT)
        except Exception as err:  # an Event is a courtesy; the Lease and the log say it too
            log.debug("lease %s: event %s not posted: %s", self.name, reason, err)

    def _parsed(self, obj: Any) -> LeaseRecord:
        uid = (obj.get("metadata") or {}).get("uid") if isinstance(obj, dict) else None
        self._uid = uid if isinstance(uid, str) else self._uid
        return parse_lease(obj)
