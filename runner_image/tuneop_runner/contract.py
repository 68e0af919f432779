"""The result contract: the one line a worker prints for each finished trial.

The operator learns what happened to a trial only from the pod log, so every
trial ends in exactly one line on stdout::

    TUNEOP_RESULT {"durationSeconds":0.014,"error":null,"metrics":{"loss":0.12},...}

The JSON is compact, key-sorted and on a single line after the literal prefix.
``status`` says whether the objective ran to completion ("succeeded"), broke
("failed") or ran out of time ("timeout"); ``error`` says why in a short string.
Metrics are numbers or booleans only: JSON has no NaN, so a non-finite value
is written as null and named in ``error``, and so is a value that is not a
number. A succeeded trial can therefore still carry an
error; the operator decides whether its objective metric is usable.

Names: an objective's run ends in an ``Evaluation`` (its ``ReportStatus``,
the metrics it returned, an error); ``build_report`` validates it into the
``TrialReport`` that ``format_result_line`` prints. The operator reads the line
back as its own ``TrialReport`` and classifies it into an outcome
(``tuneop.core.wire.contract.Outcome``); the runner never speaks of outcomes.
``RESULT_PREFIX`` is the operator's ``tuneop.core.wire.contract.RESULT_PREFIX``
too (this package cannot import the operator; a test holds them equal), and
the golden worker logs in ``tests/data/contract`` pin the line for both.

A trial that reports its progress (``tuneop_runner.trial.report``) also
prints intermediate lines, one per step, compact and key-sorted like the
result line::

    TUNEOP_INTERMEDIATE {"metrics":{"accuracy":0.91},"step":3,"trial":7}

A trial early stopping ended reports ``status`` "pruned", with the metrics it
reported last.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "INTERMEDIATE_PREFIX",
    "MAX_ERROR_CHARS",
    "MAX_INTERMEDIATE_METRICS",
    "MAX_MAGNITUDE",
    "MAX_STEP",
    "RESULT_PREFIX",
    "Evaluation",
    "MetricValue",
    "ReportStatus",
    "TrialReport",
    "build_report",
    "describe_exception",
    "format_intermediate_line",
    "format_result_line",
    "objective_metric_problem",
    "parse_result_line",
    "sane_text",
    "sanitize_metrics",
    "truncate_error",
]

RESULT_PREFIX = "TUNEOP_RESULT "
MAX_ERROR_CHARS = 2000
# The operator's tuneop.core.wire.intermediate holds the same prefix and bounds (a test checks).
INTERMEDIATE_PREFIX = "TUNEOP_INTERMEDIATE "
MAX_INTERMEDIATE_METRICS = 16
MAX_STEP = 2**31 - 1

MetricValue = int | float | bool | None
# The operator's tuneop.core.untrusted.MAX_MAGNITUDE (a test holds them equal): a metric
# past it in magnitude is written as null, with the reason in ``error``.
MAX_MAGNITUDE = 1e300
_SURROGATE = re.compile("[\ud800-\udfff]")


class ReportStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMEOUT = "timeout"
    PRUNED = "pruned"


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation of the objective produced, before validation.

    ``metrics`` is whatever the objective handed back (a callable's return
    value, a command's parsed JSON); ``build_report`` checks its shape.
    """

    status: ReportStatus
    metrics: object = None
    error: str | None = None

    @classmethod
    def succeeded(cls, metrics: object) -> Evaluation:
        return cls(ReportStatus.SUCCEEDED, metrics=metrics)

    @classmethod
    def failed(cls, error: str) -> Evaluation:
        return cls(ReportStatus.FAILED, error=error)

    @classmethod
    def timeout(cls, seconds: float) -> Evaluation:
        return cls(ReportStatus.TIMEOUT, error=f"timed out after {float(seconds)} s")

    @classmethod
    def pruned(cls, metrics: Mapping[str, object], why: str) -> Evaluation:
        """Early stopping ended the trial; ``metrics`` are the ones it reported last."""
        return cls(ReportStatus.PRUNED, metrics=dict(metrics), error=why)


@dataclass(frozen=True)
class TrialReport:
    """One trial's validated report, exactly what goes on the contract line."""

    trial: int
    params: Mapping[str, object]
    status: ReportStatus
    metrics: dict[str, MetricValue] = field(default_factory=dict)
    error: str | None = None
    duration_seconds: float = 0.0
    # Whether the objective metric (TUNEOP_METRIC) is present, numeric and finite;
    # it decides the exit code but is not part of the line.
    objective_metric_ok: bool = True

    @property
    def ok(self) -> bool:
        # A pruned trial ended as asked: no failure, so its Job is not retried.
        if self.status is ReportStatus.PRUNED:
            return True
        return self.status is ReportStatus.SUCCEEDED and self.objective_metric_ok

    def to_json(self) -> dict[str, object]:
        return {
            "trial": self.trial,
            "params": dict(self.params),
            "metrics": dict(self.metrics),
            "status": str(self.status),
            "error": self.error,
            "durationSeconds": round(self.duration_seconds, 6),
        }


def format_result_line(report: TrialReport) -> str:
    """The contract line for ``report``, without a trailing newline."""
    # allow_nan=False: sanitising already replaced non-finite metrics, so a NaN
    # reaching here (e.g. inside params) must fail loudly rather than emit
    # invalid JSON the operator would count as a malformed line.
    body = json.dumps(
        report.to_json(),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=str,
    )
    # Any lone surrogate left (a param's text): replaced, so printing cannot fail.
    return RESULT_PREFIX + sane_text(body)


def format_intermediate_line(trial: int, step: int, metrics: Mapping[str, MetricValue]) -> str:
    """The intermediate line of ``trial`` at ``step``, without a trailing newline."""
    doc = {"metrics": dict(metrics), "step": step, "trial": trial}
    body = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return INTERMEDIATE_PREFIX + sane_text(body)


def parse_result_line(line: str) -> dict[str, object] | None:
    """The JSON object of a contract line, or None for any other line."""
    if not line.startswith(RESULT_PREFIX):
        return None
    try:
        data = json.loads(line[len(RESULT_PREFIX) :])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def sane_text(text: str) -> str:
    """``text`` with each lone surrogate (not encodable as UTF-8) replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def truncate_error(message: str) -> str:
    """``message`` on one line and within the contract's length limit."""
    flat = " ".join(sane_text(message).split())
    if len(flat) <= MAX_ERROR_CHARS:
        return flat
    return flat[: MAX_ERROR_CHARS - 3] + "..."


def describe_exception(exc: BaseException) -> str:
    """``"ExcType: message"``, the short form an error field carries."""
    name = type(exc).__name__
    text = str(exc)
    return f"{name}: {text}" if text else name


def sanitize_metrics(raw: Mapping[object, object]) -> tuple[dict[str, MetricValue], list[str]]:
    """Keep the JSON-safe metrics of ``raw`` and describe every problem found.

    Integral and real numbers from other libraries (numpy scalars register
    with ``numbers``) are converted to plain int/float so JSON can hold them.
    """
    metrics: dict[str, MetricValue] = {}
    problems: list[str] = []
    for key, value in raw.items():
        if not isinstance(key, str):
            problems.append(f"metric name {key!r} is not a string")
            continue
        key = sane_text(key)
        if isinstance(value, bool):
            metrics[key] = value
        elif isinstance(value, numbers.Real):
            number, problem = _number(value)
            metrics[key] = number
            if problem:
                problems.append(f"metric {key!r} {problem}")
        else:
            # Kept as null, like a non-finite value, so the reader knows it was reported
            # and takes the reason from ``error`` instead of calling it missing.
            metrics[key] = None
            problems.append(f"metric {key!r} is not a number ({type(value).__name__})")
    return metrics, problems


def _number(value: numbers.Real) -> tuple[int | float | None, str | None]:
    """A real number as JSON can hold it, or None and why (not finite, or too large)."""
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None, f"is too large (more than {MAX_MAGNITUDE:g} in magnitude)"
    if not math.isfinite(number):
        return None, f"is not finite ({number})"
    if abs(number) > MAX_MAGNITUDE:
        return None, f"is too large (more than {MAX_MAGNITUDE:g} in magnitude)"
    # Integral numbers (numpy's too) stay ints on the line.
    return (int(value) if isinstance(value, numbers.Integral) else number), None


def objective_metric_problem(
    metrics: Mapping[str, MetricValue], raw_names: set[str], metric: str
) -> str | None:
    """Why ``metric`` is unusable as the objective value, or None when it is fine.

    Returns an empty string when the problem was already described by
    ``sanitize_metrics`` (the metric was there but not finite or not a number),
    so the error does not name it twice.
    """
    value = metrics.get(metric)
    if isinstance(value, bool):
        return f"metric {metric!r} is a boolean, not a number"
    if isinstance(value, int | float):
        return None
    if metric in raw_names:
        return ""
    reported = ", ".join(sorted(metrics)) or "none"
    return f"metric {metric!r} is missing (reported: {reported})"


def build_report(
    trial: int,
    params: Mapping[str, object],
    evaluation: Evaluation,
    duration_seconds: float,
    objective_metric: str | None = None,
) -> TrialReport:
    """Validate ``evaluation`` into the report that is printed for ``trial``."""
    if evaluation.status is ReportStatus.PRUNED and isinstance(evaluation.metrics, Mapping):
        metrics, _ = sanitize_metrics(evaluation.metrics)
        return TrialReport(
            trial=trial,
            params=params,
            status=ReportStatus.PRUNED,
            metrics=metrics,
            error=truncate_error(evaluation.error or "pruned"),
            duration_seconds=duration_seconds,
        )
    if evaluation.status is not ReportStatus.SUCCEEDED:
        return TrialReport(
            trial=trial,
            params=params,
            status=evaluation.status,
            error=truncate_error(evaluation.error or str(evaluation.status)),
            duration_seconds=duration_seconds,
            objective_metric_ok=False,
        )
    raw = evaluation.metrics
    if not isinstance(raw, Mapping):
        return TrialReport(
            trial=trial,
            params=params,
            status=ReportStatus.FAILED,
            error=(
                f"objective returned {type(raw).__name__}, "
                "expected a mapping of metric names to numbers"
            ),
            duration_seconds=duration_seconds,
            objective_metric_ok=False,
        )
    metrics, problems = sanitize_metrics(raw)
    metric_ok = True
    if objective_metric is not None:
        raw_names = {key for key in raw if isinstance(key, str)}
        problem = objective_metric_problem(metrics, raw_names, objective_metric)
        if problem is not None:
            metric_ok = False
            if problem:
                problems.append(problem)
    return TrialReport(
        trial=trial,
        params=params,
        status=ReportStatus.SUCCEEDED,
        metrics=metrics,
        error=truncate_error("; ".join(problems)) if problems else None,
        duration_seconds=duration_seconds,
        objective_metric_ok=metric_ok,
    )
