"""The worker Jobs of each session as the operator's watch shows them, so a reconcile lists none.

kopf already watches the Jobs tuneop manages (for their events); ``JobCache``
keeps what that watch shows, per session, so ``KubeJobs.list_jobs`` can answer
from memory instead of a LIST request per reconcile. A watch lags the
operator's own writes, so what this process did itself is layered on top
until the watch catches up:

- a Job it **created** is listed (from the create's answer: Active) until the
  watch shows it; without that, a reconcile right after the create would see
  a launched Job missing and record its trials as ResultsLost;
- a Job it **deleted** is left out until the watch reports the deletion;
  without that, a harvested Job would be deleted again.

Watches also miss things (a deletion during a reconnect is never replayed),
so the cache vouches for a session only for ``resync_seconds`` after the last
real LIST of its Jobs: ``snapshot`` returns None when the session was never
listed by this process or was listed too long ago, and the caller LISTs and
hands the answer to ``listed``, which replaces the session's view and clears
the overlays. With the operator's 30-second session timer, that is about one
LIST per running session per 30 s, whatever the number of trials.

Only the fields ``kube_jobs.observed_job`` reads are kept (``slim``): a Job's
pod template is dropped except the runner's ``TUNEOP_TRIALS``, and of its
spec only ``suspend`` is kept (a Job queued for Kueue). Thread-safe:
kopf feeds it on the event loop, reconciles read it in worker threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tuneop.api.session import SessionRef
from tuneop.api.spec import KIND
from tuneop.api.vocabulary import LABEL_SESSION
from tuneop.core.clock import SYSTEM_CLOCK

__all__ = [
    "DEFAULT_RESYNC_SECONDS",
    "KEPT_METADATA",
    "JobCache",
    "Json",
    "Key",
    "session_of",
    "slim",
]

Json = Mapping[str, Any]
Key = tuple[str, str]  # (namespace, session name)

DEFAULT_RESYNC_SECONDS = 30.0
KEPT_METADATA = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "labels",
    "annotations",
    "ownerReferences",
    "creationTimestamp",
    "deletionTimestamp",
)


def session_of(job: Json) -> Key | None:
    """(namespace, name) of the TuningSession that controls a Job."""
    meta = job.get("metadata") or {}
    namespace = str(meta.get("namespace") or "")
    for owner in meta.get("ownerReferences") or []:
        if owner.get("kind") == KIND and owner.get("controller"):
            return namespace, str(owner.get("name"))
    # No owner (created without a uid): the label is the name unless it was cut to 63.
    label = (meta.get("labels") or {}).get(LABEL_SESSION)
    return (namespace, str(label)) if label else None


def slim(job: Json) -> dict[str, Any]:
    """The parts of a Job that say which trials it runs and how it ended."""
    meta = job.get("metadata") or {}
    pod = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = [
        {
            "name": c.get("name"),
            "env": [e for e in c.get("env") or [] if e.get("name") == "TUNEOP_TRIALS"],
        }
        for c in pod.get("containers") or []
    ]
    spec: dict[str, Any] = {"template": {"spec": {"containers": containers}}}
    if (job.get("spec") or {}).get("suspend") is True:
        spec["suspend"] = True  # waiting for Kueue's admission (spec.queueName)
    return {
        "metadata": {k: meta[k] for k in KEPT_METADATA if k in meta},
        "spec": spec,
        "status": dict(job.get("status") or {}),
    }


def _name(job: Json) -> str:
    return str((job.get("metadata") or {}).get("name") or "")


@dataclass
class _Session:
    watched: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    listed_at: float | None = None
    # When the watch last brought each Job, on the cache's own update counter.
    updated: dict[str, int] = field(default_factory=dict)


@dataclass
class JobCache:
    clock: Callable[[], float] = SYSTEM_CLOCK.monotonic
    resync_seconds: float = DEFAULT_RESYNC_SECONDS
    _sessions: dict[Key, _Session] = field(default_factory=dict)
    # Counts watch updates; a LIST notes it when sent (``mark``), so a watch update that
    # arrived while the LIST was on its way wins over it (resourceVersions are opaque).
    _updates: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _entry(self, key: Key) -> _Session:
        entry = self._sessions.get(key)
        if entry is None:
            entry = self._sessions[key] = _Session()
        return entry

    # --- fed by the watch ---

    def seen(self, job: Json) -> None:
        """A Job was added or changed."""
        key = session_of(job)
        if key is None:
            return
        name = _name(job)
        with self._lock:
            entry = self._entry(key)
            entry.watched[name] = slim(job)
            entry.created.pop(name, None)
            self._updates += 1
            entry.updated[name] = self._updates

    def gone(self, job: Json) -> bool:
        """A Job was deleted; True when this process deleted it (nothing to react to)."""
        key = session_of(job)
        if key is None:
            return False
        name = _name(job)
        with self._lock:
            entry = self._sessions.get(key)
            if entry is None:
                return False
            entry.watched.pop(name, None)
            entry.created.pop(name, None)
            ours = name in entry.deleted
            entry.deleted.discard(name)
            return ours

    # --- fed by this process's own requests ---

    def created(self, ref: SessionRef, job: Json) -> None:
        name = _name(job)
        with self._lock:
            entry = self._entry((ref.namespace, ref.name))
            if name not in entry.watched:
                entry.created[name] = slim(job)
            entry.deleted.discard(name)

    def deleted(self, ref: SessionRef, name: str) -> None:
        with self._lock:
            entry = self._entry((ref.namespace, ref.name))
            entry.created.pop(name, None)
            entry.deleted.add(name)

    def mark(self) -> int:
        """Note the moment a LIST is sent; hand the mark to ``listed``."""
        with self._lock:
            return self._updates

    def listed(self, ref: SessionRef, jobs: list[Json], since: int | None = None) -> None:
        """A fresh LIST of the session's Jobs: it replaces what the cache holds, except a
        Job the watch brought while the LIST was on its way (after the ``since`` mark)."""
        with self._lock:
            entry = self._entry((ref.namespace, ref.name))
            fresh = {_name(j): slim(j) for j in jobs}
            for name in fresh:
                watched = entry.watched.get(name)
                if (
                    watched is not None
                    and since is not None
                    and entry.updated.get(name, -1) > since
                ):
                    fresh[name] = watched
            entry.updated = {n: u for n, u in entry.updated.items() if n in fresh}
            entry.watched = fresh
            entry.created.clear()
            entry.deleted.clear()
            entry.listed_at = self.clock()

    # --- read by reconciles ---

    def snapshot(self, ref: SessionRef) -> list[dict[str, Any]] | None:
        """The session's Jobs, or None when the cache cannot vouch for them (LIST instead)."""
        with self._lock:
            entry = self._sessions.get((ref.namespace, ref.name))
            if entry is None or entry.listed_at is None:
                return None
            if self.clock() - entry.listed_at >= self.resync_seconds:
                return None
            jobs = [j for n, j in entry.watched.items() if n not in entry.deleted]
            jobs.extend(j for n, j in entry.created.items() if n not in entry.watched)
            return jobs

    def forget(self, key: str) -> None:
        """Drop a deleted session (``namespace/name``)."""
        namespace, _, name = key.partition("/")
        with self._lock:
            self._sessions.pop((namespace, name), None)
