"""Kubernetes Events on the TuningSession: the ``EventSink`` over core/v1.

Each planner event becomes a core/v1 Event whose involvedObject is the
session (with its uid, so ``kubectl describe ts NAME`` lists it), with the
planner's type, reason and message, and source component ``tuneop``. core/v1
Events (not events.k8s.io/v1) are used because every supported API server
serves them and ``kubectl describe`` reads them.

Events are a courtesy, never a reason to fail a reconcile: a failed create is
logged and counted, not raised. Every create waits for the write limiter.

**Routine events are sampled.** Warnings (a trial failed, a stop) and phase
changes are always posted. The routine ones (``TrialsStarted``,
``TrialsFinished``, ``NewBest``) come once or more per Job, which would make
Events the largest share of the operator's API requests, so each session
posts at most one of each routine reason per ``routine_interval`` (60 s): the
first one, then the latest after the interval has passed, its message ending
with how many like it were not posted in between. When the session ends, the
newest one still held back of each reason is posted with the phase change,
so the last ``NewBest`` Event names the status's best. Every one of them is still
in the session's status counters and, with Redis, in its event stream.

A reconcile that still has many events to post (a large first wave) posts at
most ``MAX_EVENTS_PER_EMIT``, warnings and phase changes first; the rest are
summed up in one ``EventsSuppressed`` event.

**A session adopted at start-up posts no routine Event at once.** A new operator
process (a restart, a takeover by the standby) knows nothing of what the one before
it posted, so without more it would post the first routine Event of each reason of
every running session at once: with 50 sessions, 150 Events queued behind the write
limiter before the status writes that recover them. ``adopt`` marks a session that
was already running when this process first saw it: its routine reasons count as
posted at the adoption, so they are sampled from there (the next one after the
interval says how many were held, the held-back ones are posted at the end, as
above). Warnings and phase changes are posted as always.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tuneop.adapters.kube import paths
from tuneop.adapters.kube.transport import Kube
from tuneop.api.session import SessionRef
from tuneop.api.spec import API_GROUP, API_VERSION, KIND
from tuneop.api.vocabulary import TERMINAL_PHASES
from tuneop.core.clock import SYSTEM_CLOCK
from tuneop.core.planning.planner import Event
from tuneop.ports import Rejected, TransientError

__all__ = [
    "COMPONENT",
    "MAX_EVENTS_PER_EMIT",
    "MAX_EVENT_MESSAGE",
    "ROUTINE",
    "ROUTINE_INTERVAL",
    "KubeEvents",
    "event_body",
    "select",
]

log = logging.getLogger(__name__)

COMPONENT = "tuneop"
MAX_EVENTS_PER_EMIT = 10
MAX_EVENT_MESSAGE = 1024
# Routine per-Job events: sampled per session, and the first left out of a crowded reconcile.
ROUTINE = frozenset({"TrialsStarted", "TrialsFinished", "NewBest"})
ROUTINE_INTERVAL = timedelta(seconds=60)


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
class _Sampled:
    posted_at: datetime | None = None
    held: int = 0
    latest: Event | None = None  # the newest one held back


@dataclass
class KubeEvents:
    kube: Kube
    instance: str = field(default_factory=socket.gethostname)
    clock: Callable[[], datetime] = SYSTEM_CLOCK.now
    limit: int = MAX_EVENTS_PER_EMIT
    routine_interval: timedelta = ROUTINE_INTERVAL
    _sampled: dict[tuple[str, str], _Sampled] = field(default_factory=dict)
    # Every session this process has seen a version of (``observe``).
    _known: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sample(self, ref: SessionRef, events: Sequence[Event], now: datetime) -> list[Event]:
        """The events to post now: all but routine ones whose reason was posted lately."""
        last = {e.reason: i for i, e in enumerate(events) if e.reason in ROUTINE}
        out = []
        with self._lock:
            for i, event in enumerate(events):
                if event.reason not in ROUTINE:
                    out.append(event)
                    continue
                state = self._sampled.setdefault((ref.key, event.reason), _Sampled())
                due = state.posted_at is None or now - state.posted_at >= self.routine_interval
                if not due or i != last[event.reason]:
                    # Held: posted lately, or a later one of this reason comes in this batch.
                    state.held += 1
                    state.latest = event
                    continue
                if state.held:
                    event = Event(
                        event.type, event.reason, f"{event.message} (+{state.held} more not posted)"
                    )
                state.posted_at, state.held, state.latest = now, 0, None
                out.append(event)
            end = next((i for i, e in enumerate(out) if e.reason in TERMINAL_PHASES), None)
            if end is not None:  # the held-back ones first: the phase change stays the last word
                out[end:end] = self._held_back(ref.key)
        return out

    def _held_back(self, key: str) -> list[Event]:
        """At the session's end, the newest routine event of each reason still held back:
        ``kubectl describe`` then shows the final best, not an older one."""
        out = []
        for (session, _reason), state in self._sampled.items():
            if session != key or state.latest is None:
                continue
            more = f" (+{state.held - 1} more not posted)" if state.held > 1 else ""
            latest = state.latest
            out.append(Event(latest.type, latest.reason, f"{latest.message}{more}"))
            state.held, state.latest = 0, None
        return out

    def observe(self, obj: Mapping[str, Any]) -> None:
        """A version of a session from the watch: the first one this process sees of a
        session that already has a phase (it ran before this process) adopts it."""
        meta = obj.get("metadata") or {}
        key = f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"
        status = obj.get("status")
        with self._lock:
            first = key not in self._known
            self._known.add(key)
        if first and isinstance(status, dict) and status.get("phase"):
            self.adopt(key)

    def adopt(self, key: str) -> None:
        """A session already running before this process saw it: its routine Events count
        as posted now (sampled from here), unless this process has posted some already."""
        now = self.clock()
        with self._lock:
            for reason in ROUTINE:
                self._sampled.setdefault((key, reason), _Sampled(posted_at=now))

    def forget(self, key: str) -> None:
        with self._lock:
            self._known.discard(key)
            for sampled in [k for k in self._sampled if k[0] == key]:
                del self._sampled[sampled]

    def emit(self, ref: SessionRef, events: Sequence[Event]) -> None:
        now = self.clock()
        for event in select(self.sample(ref, events, now), self.limit):
            try:
                self.kube.request(
                    "create_event",
                    "POST",
                    paths.events(ref.namespace),
                    event_body(ref, event, now, self.instance),
                    query=[("fieldValidation", "Strict")],
                )
            except Exception as err:  # an Event is never worth failing a reconcile for
                if not isinstance(err, TransientError | Rejected):  # the transport counted those
                    self.kube.count("create_event", None)
                log.warning("%s: could not post event %s: %s", ref.key, event.reason, err)
