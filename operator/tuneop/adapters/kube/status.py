"""The TuningSession's status on the API server: the ``StatusStore`` over the custom objects API.

``read`` GETs the session and returns its status and ``metadata.resourceVersion``.
``write`` PATCHes the status subresource with a JSON merge patch that
carries that resourceVersion, so the API server refuses (409) a write based on
a stale read; that becomes ``Conflict`` and the reconciler re-observes.

The whole ``.status`` is replaced, not merged: a merge patch leaves keys it
does not mention in place, so the patch names every key of the new status
and sets to null every key of the status last read that the new one drops,
recursively (``best.paramsOmitted`` disappearing, a parameter leaving
``best.params``, a field some other writer put there). Lists (conditions,
leaderboard) are replaced whole by any merge patch. ``status_patch`` builds
that body from the status read at the same resourceVersion, which ``read``
keeps; if the write's version is not the one last read, the object is read
again first, and a different version is already a ``Conflict``.

A write that would change nothing (the same status at the same
resourceVersion: a timer tick on a quiet session) is skipped. Every PATCH
waits for the write limiter.

**Reads come from memory.** The newest version of each session this process
has seen is kept: from the operator's watch (``observe``, fed by kopf for
every event), from each GET, and from each PATCH's answer. ``read`` and
``fetch`` answer from it and GET only for a session not seen yet, so a
reconcile costs no read request. That is safe because every write carries the
resourceVersion it was planned from: if the kept version is stale (someone
else wrote the session since, or an event was missed), the API server
answers 409, the kept copy is dropped, and the reconciler's retry GETs a
fresh one. A version never replaces a newer one (resourceVersions compared as
the integers the API server hands out), so a late watch event cannot undo
what this process's own write returned. resourceVersions are opaque (the API
says so), so they are compared only for equality: a version this process has
already seen replaced (the one a write started from, an earlier watch event)
is old news and ignored; any version not seen before replaces the kept one.
If that was a late event from before our own write, the next write carries
the older version, the API server answers 409, and the retry reads afresh.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tuneop.adapters.kube import paths
from tuneop.adapters.kube.transport import MERGE_PATCH, Kube
from tuneop.api.session import SessionRef
from tuneop.api.status import (
    SessionStatus,
    StatusUnreadable,
    set_condition,
    status_from_wire,
    status_to_wire,
)
from tuneop.api.vocabulary import PROGRESSING, STATUS_UNREADABLE
from tuneop.core.clock import SYSTEM_CLOCK
from tuneop.ports import Conflict, Rejected, SessionGone, TransientError

__all__ = [
    "OMIT_WHEN_EMPTY",
    "SUPERSEDED_KEPT",
    "KubeStatus",
    "replace_patch",
    "status_patch",
    "wire_status",
]

# Status strings whose empty value means "nothing" (the model's default): left out of the
# wire form, they read back the same, the status is smaller, and no empty string reaches the
# API server (some older builds stored "" in custom resources as null).
OMIT_WHEN_EMPTY = frozenset({"message", "harvestedJobs", "inflight"})


def wire_status(status: SessionStatus) -> dict[str, Any]:
    """The status as stored: ``status_to_wire`` without empty ledger strings and messages."""
    wire = {
        k: v for k, v in status_to_wire(status).items() if not (k in OMIT_WHEN_EMPTY and v == "")
    }
    if "conditions" in wire:
        wire["conditions"] = [
            {k: v for k, v in c.items() if not (k == "message" and v == "")}
            for c in wire["conditions"]
        ]
    return wire


def replace_patch(old: Any, new: dict[str, Any]) -> dict[str, Any]:
    """A merge patch that turns ``old`` into exactly ``new`` (removed keys set to None)."""
    prev = old if isinstance(old, dict) else {}
    out: dict[str, Any] = {}
    for key, value in new.items():
        before = prev.get(key)
        out[key] = replace_patch(before, value) if isinstance(value, dict) else value
    for key in prev:
        if key not in new:
            out[key] = None
    return out


def status_patch(old: Any, status: SessionStatus, version: str | None) -> dict[str, Any]:
    """The PATCH body: the whole new status over ``old``, guarded by ``version``."""
    body: dict[str, Any] = {"status": replace_patch(old, wire_status(status))}
    if version is not None:
        body["metadata"] = {"resourceVersion": version}
    return body


@dataclass(frozen=True)
class _Seen:
    version: str
    status: dict[str, Any]
    obj: dict[str, Any]


# How many replaced versions of a session are remembered as old news.
SUPERSEDED_KEPT = 16


def _uid(obj: Any) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


def _object(body: Any, ref: SessionRef) -> dict[str, Any]:
    """The session the API server answered with; what is no object is no answer."""
    if not isinstance(body, dict) or not isinstance(body.get("metadata") or {}, dict):
        raise TransientError(f"{ref.key}: the API server's answer is no TuningSession")
    return body


@dataclass
class KubeStatus:
    kube: Kube
    clock: Callable[[], datetime] = SYSTEM_CLOCK.now
    _seen: dict[str, _Seen] = field(default_factory=dict)
    # Versions of each session already replaced by a later one (bounded).
    _superseded: dict[str, deque[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, obj: dict[str, Any]) -> None:
        """A version of a session from the watch: kept unless a newer one is."""
        meta = obj.get("metadata") or {}
        ref = SessionRef(str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        self._remember(ref, obj)

    def fetch(self, ref: SessionRef) -> dict[str, Any] | None:
        """The whole TuningSession object (the newest seen), or None when it is gone."""
        seen = self._cached(ref)
        if seen is not None:
            return copy.deepcopy(seen.obj)
        return self._get(ref)

    def _cached(self, ref: SessionRef) -> _Seen | None:
        with self._lock:
            seen = self._seen.get(ref.key)
        if seen is None or (ref.uid and _uid(seen.obj) != ref.uid):
            return None  # never seen, or an earlier session of the same name
        return seen

    def _get(self, ref: SessionRef) -> dict[str, Any] | None:
        reply = self.kube.request(
            "get_session", "GET", paths.session(ref.namespace, ref.name), expect=(404,)
        )
        if reply.status == 404:
            self.forget(ref.key)
            return None
        obj = _object(reply.body, ref)
        self._remember(ref, obj, force=True)
        return copy.deepcopy(obj)

    def _remember(self, ref: SessionRef, obj: Any, force: bool = False) -> None:
        """Keep ``obj`` unless a newer version of the same session is kept (``force``: a
        GET, the server's word on what is current now)."""
        raw = obj.get("status")
        kept = {k: v for k, v in obj.items() if k != "metadata"}
        kept["metadata"] = {
            k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"
        }
        seen = _Seen(
            version=str(kept["metadata"].get("resourceVersion") or ""),
            status=dict(raw) if isinstance(raw, dict) else {},
            obj=kept,
        )
        with self._lock:
            current = self._seen.get(ref.key)
            old = self._superseded.setdefault(ref.key, deque(maxlen=SUPERSEDED_KEPT))
            if current is not None and _uid(current.obj) == _uid(obj):
                if not force and (seen.version == current.version or seen.version in old):
                    return  # the version kept, or one it already replaced
                if seen.version != current.version:
                    old.append(current.version)
            self._seen[ref.key] = seen

    def read(self, ref: SessionRef) -> tuple[SessionStatus, str | None]:
        seen = self._cached(ref)
        obj = seen.obj if seen is not None else self._get(ref)
        if obj is None:
            raise SessionGone(f"TuningSession {ref.key} is gone")
        if ref.uid and _uid(obj) not in ("", ref.uid):
            raise SessionGone(f"TuningSession {ref.key} was deleted and created again")
        try:
            status = status_from_wire(obj.get("status"))
        except StatusUnreadable as err:
            self._flag_unreadable(ref, obj, str(err))
            raise Rejected(f"{ref.key}: its status cannot be read ({err}); left as it is") from err
        return status, str(obj["metadata"]["resourceVersion"])

    def _flag_unreadable(self, ref: SessionRef, obj: dict[str, Any], why: str) -> None:
        """Say on the session that its status cannot be read, touching nothing else of it
        (its ledger is what keeps trials from running twice: a person decides)."""
        conditions = set_condition(
            [], PROGRESSING, False, STATUS_UNREADABLE, why, self.clock(), ref.generation
        )
        wire = [c.model_dump(by_alias=True, exclude_none=True, mode="json") for c in conditions]
        shown = (
            (obj.get("status") or {}).get("conditions")
            if isinstance(obj.get("status"), dict)
            else None
        )
        if isinstance(shown, list) and any(
            isinstance(c, dict) and c.get("reason") == STATUS_UNREADABLE and c.get("message") == why
            for c in shown
        ):
            return  # already said
        # A failure is counted; the Rejected that follows is logged either way.
        with contextlib.suppress(TransientError, Rejected):
            self.kube.request(
                "write_status",
                "PATCH",
                paths.session_status(ref.namespace, ref.name),
                {"status": {"conditions": wire}},
                content_type=MERGE_PATCH,
            )
        self._drop(ref.key)

    def write(self, ref: SessionRef, status: SessionStatus, version: str | None) -> None:
        seen = self._cached(ref)
        if seen is None or (version is not None and seen.version != version):
            obj = self._get(ref)
            if obj is None:
                raise SessionGone(f"TuningSession {ref.key} is gone")
            with self._lock:
                seen = self._seen[ref.key]
            if version is not None and seen.version != version:
                raise Conflict(
                    f"{ref.key} changed (resourceVersion {seen.version}, read {version})"
                )
        new = wire_status(status)
        if version is not None and seen.status == new:
            return  # the stored status already is this one
        reply = self.kube.request(
            "write_status",
            "PATCH",
            paths.session_status(ref.namespace, ref.name),
            status_patch(seen.status, status, version),
            query=[("fieldValidation", "Strict")],
            content_type=MERGE_PATCH,
            expect=(404, 409),
        )
        if reply.status == 409:
            self.kube.count("write_status", 409)
            self._drop(ref.key)  # stale: the retry reads the session afresh
            raise Conflict(f"status of {ref.key} changed since it was read")
        if reply.status == 404:
            self.forget(ref.key)
            raise SessionGone(f"TuningSession {ref.key} is gone")
        self._remember(ref, _object(reply.body, ref))

    def _drop(self, key: str) -> None:
        """Drop the kept copy; what it replaced stays old news."""
        with self._lock:
            self._seen.pop(key, None)

    def forget(self, key: str) -> None:
        """The session is gone: drop everything kept about it."""
        with self._lock:
            self._seen.pop(key, None)
            self._superseded.pop(key, None)
