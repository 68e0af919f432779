"""In-memory adapters: a status and a bayesian history kept in the process.

A local session keeps its status in ``MemoryStatus`` (the results folder
holds what must survive), and the operator without ``--results-dir`` keeps
each bayesian session's history in ``MemoryHistory``. The fakes tests drive
(Jobs, events, results, a frozen clock) are in ``tuneop.testing``.

``MemoryHistory`` is the bayesian optimizer's memory when there is no
results folder: enough to suggest good trials while the operator runs, but
lost on a restart (the next suggestions then start from what was harvested
after the restart, like a fresh TPE; the session's status, counters and
leaderboard are unaffected). Sessions of other optimizers are not kept:
their trials are a pure function of the spec.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus
from tuneop.core.wire.contract import TrialResult
from tuneop.ports import Conflict

__all__ = ["MemoryHistory", "MemoryStatus"]


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


@dataclass
class MemoryHistory:
    _trials: dict[str, dict[int, TrialResult]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def persist(self, ref: SessionRef, spec: SessionSpec, results: Sequence[TrialResult]) -> None:
        if not spec.learns_from_history:
            return
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
