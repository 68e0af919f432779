"""What a session gives back in Python: its progress while it runs, its trials when it ends.

``Progress`` is one reading of a session's status (phase, trials done of the budget,
running, failed, the best so far), what ``on_progress`` is called with and what
``ClusterSession.follow`` yields. ``Results`` holds the status a run ended with and
its trials as typed ``Trial`` records, read from the results folder (bounded, by
``tuneop.core.results.records``, as ``tuneop summary`` reads them) or from a
cluster session's leaderboard; ``to_dataframe`` gives them to pandas, when pandas
is installed (the ``dataframe`` extra), and names that extra when it is not.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneop.api.spec import Scalar
from tuneop.api.status import SessionStatus
from tuneop.core.extras import missing_module, needs
from tuneop.core.results.records import Record

__all__ = ["Progress", "Results", "SessionError", "Trial"]


class SessionError(Exception):
    """A session that cannot run or be reached, in one line that says what to do."""


@dataclass(frozen=True)
class Progress:
    """One reading of a session's status while it runs."""

    phase: str
    done: int
    total: int
    running: int
    failed: int
    best_value: float | None
    best_params: dict[str, Scalar] | None
    message: str
    status: SessionStatus

    @classmethod
    def of(cls, status: SessionStatus) -> Progress:
        t, best = status.trials, status.best
        return cls(
            phase=str(status.phase),
            done=t.done,
            total=t.total,
            running=t.running,
            failed=t.failed,
            best_value=best.value if best else None,
            best_params=dict(best.params or {}) if best else None,
            message=status.message,
            status=status,
        )

    @property
    def terminal(self) -> bool:
        return self.status.terminal


@dataclass(frozen=True)
class Trial:
    """One trial's record: its parameters, its objective's value and every metric."""

    trial: int
    params: dict[str, Scalar]
    value: float | None  # the objective's (the first objective's, with several)
    metrics: dict[str, float]
    outcome: str  # Succeeded, Failed, TimedOut, Pruned, ...
    error: str | None = None
    duration_seconds: float | None = None
    job_index: int = -1
    values: tuple[float | None, ...] = ()  # every objective's, with several

    @classmethod
    def of(cls, record: Record) -> Trial:
        """The typed trial of a record already read bounded (``normalize_record``)."""
        objective = record.get("objective") or {}
        several = record.get("objectives") or []
        return cls(
            trial=int(record["trial"]),
            params=dict(record.get("params") or {}),
            value=objective.get("value"),
            metrics=dict(record.get("metrics") or {}),
            outcome=str(record.get("outcome") or "Unknown"),
            error=record.get("error"),
            duration_seconds=record.get("durationSeconds"),
            job_index=int(record.get("jobIndex", -1)),
            values=tuple(o.get("value") for o in several),
        )

    @property
    def succeeded(self) -> bool:
        return self.outcome == "Succeeded"


def _columns(trial: Trial) -> dict[str, Any]:
    row: dict[str, Any] = {
        "trial": trial.trial,
        "outcome": trial.outcome,
        "value": trial.value,
        "duration_seconds": trial.duration_seconds,
        "error": trial.error,
    }
    # Prefixed: a parameter and a metric may share a name.
    row.update({f"params.{k}": v for k, v in trial.params.items()})
    row.update({f"metrics.{k}": v for k, v in trial.metrics.items()})
    return row


@dataclass
class Results:
    """How a session ended and its trials, in trial order."""

    session: str  # namespace/name
    status: SessionStatus
    trials: list[Trial]
    folder: Path | None = None  # the results folder (a local run; a cluster run given Redis)
    # What the run said before it started (a resumed session, a lowered maxParallel...).
    notices: list[str] = field(default_factory=list)
    # The session had finished before and had nothing left to do: nothing ran.
    already_finished: bool = False

    @classmethod
    def of(
        cls, session: str, status: SessionStatus, records: Sequence[Record], **more: Any
    ) -> Results:
        trials = sorted((Trial.of(r) for r in records), key=lambda t: t.trial)
        return cls(session, status, trials, **more)

    def __iter__(self) -> Iterator[Trial]:
        return iter(self.trials)

    def __len__(self) -> int:
        return len(self.trials)

    @property
    def phase(self) -> str:
        return str(self.status.phase)

    @property
    def exit_code(self) -> int:
        """As ``tuneop run``'s: 0 every trial succeeded, 1 some failed, 2 the session failed."""
        code = self.status.exit_code
        return code if code is not None else 2

    @property
    def best(self) -> Trial | None:
        """The best trial as the status ranks it (None with several objectives, or none
        succeeded)."""
        best = self.status.best
        if best is None:
            return None
        return next((t for t in self.trials if t.trial == best.trial), None)

    def to_dataframe(self) -> Any:
        """A pandas DataFrame, a row per trial: ``trial``, ``outcome``, ``value``,
        ``duration_seconds``, ``error``, then ``params.NAME`` and ``metrics.NAME``."""
        if missing_module("pandas") is not None:
            raise SessionError(needs("Results.to_dataframe()", "pandas"))
        import pandas

        return pandas.DataFrame([_columns(t) for t in self.trials])
