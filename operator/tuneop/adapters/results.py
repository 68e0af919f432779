"""Where trial results go: the ``ResultSink`` protocol and its in-memory fake.

A sink records the Jobs launched, persists each harvested trial's result JSON
(idempotently: the same trial written twice gives the same record), mirrors
the session's status, and returns the history the bayesian optimizer learns
from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tuneop.core.model import SessionSpec
from tuneop.core.observed import SessionRef
from tuneop.core.planner import Event, JobToCreate
from tuneop.core.results import TrialResult
from tuneop.core.status import SessionStatus


class ResultSink(Protocol):
    def record_launch(
        self, ref: SessionRef, spec: SessionSpec, jobs: Sequence[JobToCreate]
    ) -> None: ...

    def persist(
        self, ref: SessionRef, spec: SessionSpec, results: Sequence[TrialResult]
    ) -> None: ...

    def record_status(
        self, ref: SessionRef, spec: SessionSpec, status: SessionStatus, events: Sequence[Event]
    ) -> None: ...

    def history(self, ref: SessionRef) -> list[TrialResult]: ...


@dataclass
class MemoryResults:
    results: dict[str, dict[int, TrialResult]] = field(default_factory=dict)
    statuses: list[SessionStatus] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    launched: list[str] = field(default_factory=list)

    def record_launch(
        self, ref: SessionRef, spec: SessionSpec, jobs: Sequence[JobToCreate]
    ) -> None:
        self.launched.extend(j.name for j in jobs)

    def persist(self, ref: SessionRef, spec: SessionSpec, results: Sequence[TrialResult]) -> None:
        bucket = self.results.setdefault(ref.key, {})
        for r in results:
            bucket[r.trial] = r

    def record_status(
        self, ref: SessionRef, spec: SessionSpec, status: SessionStatus, events: Sequence[Event]
    ) -> None:
        self.statuses.append(status)
        self.events.extend(events)

    def history(self, ref: SessionRef) -> list[TrialResult]:
        return sorted(self.results.get(ref.key, {}).values(), key=lambda r: r.trial)
