"""The bayesian optimizer's memory when there is no results folder: results kept in memory.

The bayesian optimizer learns from every finished trial of its session. With
``--results-dir`` that history is the folder (``DirectoryResults``), which
survives restarts. Without one, this sink keeps the harvested results of each
bayesian session in the operator's memory: enough to suggest good trials
while the operator runs, but lost on a restart (the next suggestions then
start from what was harvested after the restart, like a fresh TPE; the
session's status, counters and leaderboard are unaffected). Sessions of
other optimizers are not kept: their trials are a pure function of the spec.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from tuneop.core.model import SessionSpec
from tuneop.core.observed import SessionRef
from tuneop.core.planner import Event, JobToCreate
from tuneop.core.results import TrialResult
from tuneop.core.status import SessionStatus


@dataclass
class MemoryHistory:
    _trials: dict[str, dict[int, TrialResult]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record_launch(
        self, ref: SessionRef, spec: SessionSpec, jobs: Sequence[JobToCreate]
    ) -> None:
        return None

    def persist(self, ref: SessionRef, spec: SessionSpec, results: Sequence[TrialResult]) -> None:
        if spec.optimizer.type != "bayesian" or spec.trials is not None:
            return
        with self._lock:
            bucket = self._trials.setdefault(ref.key, {})
            for r in results:
                bucket[r.trial] = r

    def record_status(
        self, ref: SessionRef, spec: SessionSpec, status: SessionStatus, events: Sequence[Event]
    ) -> None:
        return None

    def history(self, ref: SessionRef) -> list[TrialResult]:
        with self._lock:
            return sorted(self._trials.get(ref.key, {}).values(), key=lambda r: r.trial)

    def forget(self, key: str) -> None:
        with self._lock:
            self._trials.pop(key, None)
