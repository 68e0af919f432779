"""The result contract: how a worker reports a trial, and how we read it.

A worker prints one line per finished trial::

    TUNEOP_RESULT {"trial": 3, "params": {...}, "metrics": {...}, "status": "succeeded", ...}

``parse_log`` reads only such lines (one line's bounds and JSON are
``tuneop.core.wire.resultline``'s) into ``TrialReport``s, and skips anything
malformed (noise, truncated JSON, wrong shapes) while counting it, and the
intermediate lines of trials that report their progress
(``tuneop.core.wire.intermediate``); which lines count for which trial, in the
runner's frames and within per-trial budgets, is ``tuneop.core.wire.framing``'s.
The golden worker logs in tests/data/contract pin the parse.
``classify`` turns one report into a ``TrialResult`` whose outcome
separates a crash (Failed), a timeout (TimedOut) and a run whose objective
metric is missing or not a finite number (MetricsUnavailable), and a trial
early stopping ended (Pruned, with its last value). Trials that
never reported are classified by ``missing_result`` from what is known of
their Job. The full contract is in docs/result-contract.md.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from tuneop.api.spec import Objective, Scalar
from tuneop.core.untrusted import finite_number, magnitude_problem
from tuneop.core.wire.framing import LogReader, ParsedLog, split_lines
from tuneop.core.wire.intermediate import Curve, curve_from_json
from tuneop.core.wire.resultline import (
    LOG_TAIL_BYTES,
    MAX_DEPTH,
    MAX_ENTRIES,
    MAX_ERROR_CHARS,
    MAX_LINE_BYTES,
    MAX_NAME_CHARS,
    MAX_VALUE_CHARS,
    RESULT_PREFIX,
    TrialReport,
)

__all__ = [
    "LOG_TAIL_BYTES",
    "MAX_DEPTH",
    "MAX_ENTRIES",
    "MAX_ERROR_CHARS",
    "MAX_LINE_BYTES",
    "MAX_NAME_CHARS",
    "MAX_VALUE_CHARS",
    "RESULT_PREFIX",
    "TRIAL_FAILURES",
    "Outcome",
    "ParsedLog",
    "TrialReport",
    "TrialResult",
    "classify",
    "missing_result",
    "objective_value",
    "parse_log",
]


class Outcome(StrEnum):
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    TIMED_OUT = "TimedOut"
    METRICS_UNAVAILABLE = "MetricsUnavailable"
    RESULTS_LOST = "ResultsLost"
    INFRASTRUCTURE = "InfrastructureFailure"
    CANCELLED = "Cancelled"
    PRUNED = "Pruned"


# Outcomes that spend the maxFailedTrials budget: the trial itself went wrong.
TRIAL_FAILURES = frozenset({Outcome.FAILED, Outcome.TIMED_OUT, Outcome.METRICS_UNAVAILABLE})


@dataclass(frozen=True)
class TrialResult:
    """A trial's outcome: what is persisted as the trial's result JSON."""

    trial: int
    job_index: int
    params: dict[str, Scalar]
    outcome: Outcome
    value: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    duration_seconds: float | None = None
    # The objective metric's intermediate values, (step, value) in step order.
    intermediate: Curve = ()
    # Several objectives: each one's value, in the spec's order (``value`` is the first).
    values: tuple[float, ...] | None = None

    @property
    def succeeded(self) -> bool:
        return self.outcome is Outcome.SUCCEEDED

    def to_json(
        self, session: str, objective: Objective, objectives: Sequence[Objective] = ()
    ) -> dict[str, Any]:
        """The result record; with several ``objectives``, each one's value too."""
        doc = {
            "session": session,
            "trial": self.trial,
            "jobIndex": self.job_index,
            "params": self.params,
            "metrics": {k: _json_number(v) for k, v in self.metrics.items()},
            "objective": {
                "metric": objective.metric,
                "direction": objective.direction,
                "value": self.value,
            },
            "outcome": str(self.outcome),
            "error": self.error,
            "durationSeconds": self.duration_seconds,
        }
        if self.intermediate:  # only trials that reported steps carry the field
            doc["intermediate"] = [[step, value] for step, value in self.intermediate]
        if len(objectives) > 1:
            values = self.values or (None,) * len(objectives)
            doc["objectives"] = [
                {"metric": o.metric, "direction": o.direction, "value": v}
                for o, v in zip(objectives, values, strict=True)
            ]
        return doc

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrialResult:
        return cls(
            trial=int(data["trial"]),
            job_index=int(data.get("jobIndex", -1)),
            params=dict(data.get("params") or {}),
            outcome=Outcome(data["outcome"]),
            value=finite_number((data.get("objective") or {}).get("value")),
            metrics=dict(data.get("metrics") or {}),
            error=data.get("error"),
            duration_seconds=finite_number(data.get("durationSeconds")),
            intermediate=curve_from_json(data.get("intermediate")),
            values=_values(data.get("objectives")),
        )


def _values(objectives: Any) -> tuple[float, ...] | None:
    """The values of a record's ``objectives`` list, when every one is a finite number."""
    if not isinstance(objectives, list) or len(objectives) < 2:
        return None
    out = []
    for o in objectives:
        v = finite_number(o.get("value") if isinstance(o, dict) else None)
        if v is None:
            return None
        out.append(v)
    return tuple(out)


def _json_number(v: Any) -> Any:
    if isinstance(v, int | float) and not isinstance(v, bool) and finite_number(v) is None:
        return None
    return v


def parse_log(log: str | bytes, trials: Collection[int] | None = None) -> ParsedLog:
    """The reports a worker log holds (``tuneop.core.wire.framing``: inside their trials' frames
    when the log is framed, else the last line for a trial), read line by line in memory
    bounded per trial; with ``trials``, only those trials' lines are kept."""
    text = log.decode("utf-8", errors="replace") if isinstance(log, bytes) else log
    reader = LogReader(trials)
    for line in split_lines(text):
        reader.add(line)
    return reader.parsed()


def objective_value(metrics: dict[str, Any], metric: str) -> tuple[float | None, str | None]:
    """The objective's value, or None and why it is unusable."""
    if metric not in metrics or metrics[metric] is None:
        return None, f"metric {metric!r} is missing"
    v = metrics[metric]
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None, f"metric {metric!r} is not a number ({str(v)[:64]!r})"
    number = finite_number(v)
    if number is None:
        return None, f"metric {metric!r} {magnitude_problem(v)}"
    return number, None


def classify(
    rep: TrialReport,
    job_index: int,
    objective: Objective,
    curve: Curve = (),
    objectives: Sequence[Objective] = (),
) -> TrialResult:
    """The outcome of a report; with several ``objectives`` each metric must be usable."""
    base = TrialResult(
        trial=rep.trial,
        job_index=job_index,
        params=rep.params,
        outcome=Outcome.SUCCEEDED,
        metrics=rep.metrics,
        duration_seconds=rep.duration_seconds,
        intermediate=curve,
    )
    if rep.status == "failed":
        return replace(base, outcome=Outcome.FAILED, error=rep.error or "trial failed")
    if rep.status == "timeout":
        return replace(base, outcome=Outcome.TIMED_OUT, error=rep.error or "timed out")
    value, problem = objective_value(rep.metrics, objective.metric)
    if rep.status == "pruned":
        # Its last value is kept (the line's, else the curve's last point); being
        # pruned, it is no candidate for the best.
        last = value if value is not None else (curve[-1][1] if curve else None)
        return replace(base, outcome=Outcome.PRUNED, value=last, error=rep.error)
    if value is None:
        # Writers put non-finite values as null and say why in error: keep their words.
        said = rep.error if rep.metrics.get(objective.metric, 0) is None and rep.error else None
        return replace(base, outcome=Outcome.METRICS_UNAVAILABLE, error=said or problem)
    if len(objectives) > 1:
        values = []
        for o in objectives:
            v, problem = objective_value(rep.metrics, o.metric)
            if v is None:
                return replace(base, outcome=Outcome.METRICS_UNAVAILABLE, error=problem)
            values.append(v)
        return replace(base, value=values[0], values=tuple(values), error=rep.error)
    return replace(base, value=value, error=rep.error)


def missing_result(
    trial: int, job_index: int, params: dict[str, Scalar], outcome: Outcome, why: str
) -> TrialResult:
    """A trial of a finished Job that printed no result line."""
    return TrialResult(trial=trial, job_index=job_index, params=params, outcome=outcome, error=why)
