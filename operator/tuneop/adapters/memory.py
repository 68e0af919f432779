"""In-memory adapters: a status and a bayesian history kept in the process.

A local session keeps its status in ``MemoryStatus`` (the results folder
holds what must survive), and the operator without ``--results-dir`` keeps
each bayesian session's history in ``MemoryHistory``. The fakes tests drive
(Jobs, events, results, a frozen clock) are in ``tuneop.testing``.

``MemoryHistory`` is the bayesian optimizer's memory when there is no
results folder: enough to suggest good trials while the operator runs, but
lost on a restart unless read back (with Redis, ``assembly.stores.RedisStore``
reads a session's finished trials back once). Early stopping judged by the
operator compares running trials with finished ones, so those sessions are kept
too (``needs_history``). Sessions of other optimizers are not kept: their trials
are a pure function of the spec.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus
from tuneop.core.jobs.pruning import operator_prunes
from tuneop.core.wire.contract import TrialResult
from tuneop.ports import Conflict

__all__ = ["MemoryHistory", "MemoryStatus", "needs_history"]


@dataclass
class MemoryStatus:
    status: SessionStatus = field(default_factory=SessionStatus)
    version: int = 0
    writes: int = 0

    def read(self, ref: SessionRef) -> tuple[SessionStatus, str | None]:
        return self.status, str(self.version)

    def write(self, ref: SessionRef, status: SessionStatus, version: str | None) -> None:
        if version is not None and version != str(self.version):
            raise Conflict(f"status of {ref.key} changed (version {self.version})")
        self.status = status
        self.version += 1
        self.writes += 1


def needs_history(spec: SessionSpec) -> bool:
    """Whether a session's finished trials are read again: a learning optimizer, or early
    stopping that the operator judges against the finished trials."""
    return spec.learns_from_history or operator_prunes(spec)


@dataclass
class MemoryHistory:
    _trials: dict[str, dict[int, TrialResult]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def persist(self, ref: SessionRef, spec: SessionSpec, results: Sequence[TrialResult]) -> None:
        if needs_history(spec):
            self.seed(ref, results)

    def seed(self, ref: SessionRef, results: Sequence[TrialResult]) -> None:
        """Keep ``results`` for the session (its history read back after a restart)."""
        with self._lock:
            bucket = self._trials.setdefault(ref.key, {})
            for r in results:
                bucket[r.trial] = r

    def history(self, ref: SessionRef) -> list[TrialResult]:
        with self._lock:
            return sorted(self._trials.get(ref.key, {}).values(), key=lambda r: r.trial)

    def forget(self, key: str) -> None:
        with self._lock:
            self._trials.pop(key, None)
