"""Kubernetes Events on the TuningSession: the ``EventSink`` over core/v1.

Each planner event becomes a core/v1 Event whose involvedObject is the
session (with its uid, so ``kubectl describe ts NAME`` lists it), with the
planner's type, reason and message, and source component ``tuneop``. core/v1
Events (not events.k8s.io/v1) are used because every API server back to 1.20
serves them and ``kubectl describe`` reads them.

Events are a courtesy, never a reason to fail a reconcile: a failed create is
logged and counted, not raised. A reconcile of a large session can produce
many routine events at once (one ``TrialsStarted`` per Job launched), so at
most ``MAX_EVENTS_PER_EMIT`` are posted per reconcile, warnings and phase
changes first; the rest are summed up in one ``EventsSuppressed`` event.
Every create waits for the write limiter.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tuneop.adapters.kube_client import REQUEST_TIMEOUT, Kube, api_error
from tuneop.core.model import API_GROUP, API_VERSION, KIND
from tuneop.core.observed import SessionRef
from tuneop.core.planner import Event

log = logging.getLogger(__name__)

COMPONENT = "tuneop"
MAX_EVENTS_PER_EMIT = 10
MAX_EVENT_MESSAGE = 1024
# Routine per-Job events: the first to be left out of a crowded reconcile.
ROUTINE = frozenset({"TrialsStarted", "TrialsFinished"})


def _utcnow() -> datetime:
    return datetime.now(UTC)


def event_body(ref: SessionRef, event: Event, now: datetime, instance: str) -> dict[str, Any]:
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        # generateName: the API server makes each name unique; names stay within 253 chars.
        "metadata": {"generateName": f"{ref.name[:200]}.", "namespace": ref.namespace},
        "involvedObject": {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": KIND,
            "name": ref.name,
            "namespace": ref.namespace,
            "uid": ref.uid,
        },
        "type": event.type,
        "reason": event.reason,
        "message": event.message[:MAX_EVENT_MESSAGE],
        "source": {"component": COMPONENT, "host": instance},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def select(events: Sequence[Event], limit: int = MAX_EVENTS_PER_EMIT) -> list[Event]:
    """At most ``limit`` events, important ones first, in their original order."""
    if len(events) <= limit:
        return list(events)
    ranked = sorted(range(len(events)), key=lambda i: (events[i].reason in ROUTINE, i))
    keep = sorted(ranked[: limit - 1])
    dropped = len(events) - len(keep)
    summary = Event("Normal", "EventsSuppressed", f"{dropped} more routine events not posted")
    return [*(events[i] for i in keep), summary]


@dataclass
class KubeEvents:
    kube: Kube
    instance: str = field(default_factory=socket.gethostname)
    clock: Callable[[], datetime] = _utcnow
    limit: int = MAX_EVENTS_PER_EMIT

    def emit(self, ref: SessionRef, events: Sequence[Event]) -> None:
        now = self.clock()
        for event in select(events, self.limit):
            try:
                self.kube.write()
                self.kube.core.create_namespaced_event(
                    ref.namespace,
                    event_body(ref, event, now, self.instance),
                    _preload_content=False,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            except Exception as err:  # an Event is never worth failing a reconcile for
                api_error("create_event", err)
                log.warning("%s: could not post event %s: %s", ref.key, event.reason, err)
