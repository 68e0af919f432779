"""The result contract: how a worker reports a trial, and how we read it.

A worker prints one line per finished trial::

    TUNEOP_RESULT {"trial": 3, "params": {...}, "metrics": {...}, "status": "succeeded", ...}

``parse_log`` reads only such lines, from a bounded tail of the log, into
``TrialReport``s, and skips anything malformed (noise, truncated JSON, wrong
shapes) while counting it, and the intermediate lines of trials that report
their progress (``tuneop.core.intermediate``). ``RESULT_PREFIX`` is defined again by the runner,
which cannot import the operator; a test holds the two equal, and the golden
worker logs in tests/data/contract pin the parse.
``classify`` turns one report into a ``TrialResult`` whose outcome
separates a crash (Failed), a timeout (TimedOut) and a run whose objective
metric is missing or not a finite number (MetricsUnavailable), and a trial
early stopping ended (Pruned, with its last value). Trials that
never reported are classified by ``missing_result`` from what is known of
their Job. The full contract is in docs/result-contract.md.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from tuneop.api.spec import Objective, Scalar
from tuneop.core.untrusted import finite_number, magnitude_problem, sane_text
from tuneop.core.intermediate import (
    INTERMEDIATE_PREFIX,
    Curve,
    Curves,
    curve_from_json,
    parse_intermediate,
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

RESULT_PREFIX = "TUNEOP_RESULT "
_LINE_BREAK = re.compile(r"\r\n?|\n")
LOG_TAIL_BYTES = 4 * 1024 * 1024
MAX_ERROR_CHARS = 2000
# Bounds of one result line (docs/result-contract.md): a line past any of them is
# malformed, and its trial is classified as one that did not report.
MAX_LINE_BYTES = 1024 * 1024
MAX_DEPTH = 32  # nesting of JSON arrays and objects in a line
MAX_ENTRIES = 256  # params, and metrics, of one trial
MAX_NAME_CHARS = 256  # a param's or a metric's name
MAX_VALUE_CHARS = 64 * 1024  # a text param or metric value


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
class TrialReport:
    """One well-formed contract line as the worker reported it, before classification.

    The runner (``tuneop_runner.contract.TrialReport``) writes the same fields.
    """

    trial: int
    params: dict[str, Scalar]
    metrics: dict[str, Any]
    status: str
    error: str | None
    duration_seconds: float | None


@dataclass(frozen=True)
class ParsedLog:
    reports: dict[int, TrialReport] = field(default_factory=dict)
    malformed: int = 0
    first_problem: str | None = None
    truncated: bool = False
    curves: Curves = field(default_factory=Curves)
    intermediate_malformed: int = 0


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


def _constant(name: str) -> float:
    # Python writers emit NaN/Infinity; accept them so the classifier can name them.
    return float(name.replace("Infinity", "inf"))


def _depth_ok(text: str) -> bool:
    """Whether JSON ``text`` nests at most ``MAX_DEPTH`` deep (brackets in strings aside)."""
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def _bounded_map(value: Any, what: str) -> dict[str, Any]:
    """The map within its bounds, names and texts normalised (``sane_text``)."""
    if not isinstance(value, dict):
        raise ValueError(f"{what}: must be an object")
    if len(value) > MAX_ENTRIES:
        raise ValueError(f"{what}: more than {MAX_ENTRIES} entries")
    out: dict[str, Any] = {}
    for name, v in value.items():
        if len(name) > MAX_NAME_CHARS:
            raise ValueError(f"{what}: a name longer than {MAX_NAME_CHARS} characters")
        if isinstance(v, str) and len(v) > MAX_VALUE_CHARS:
            raise ValueError(f"{what}.{name[:64]}: longer than {MAX_VALUE_CHARS} characters")
        out[sane_text(name)] = sane_text(v) if isinstance(v, str) else v
    return out


def _sane_metrics(metrics: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Metrics with every number past the magnitude bound as null, and what was wrong
    (the writers' convention: null, and the reason in ``error``). Non-finite floats
    (NaN/Infinity tokens) stay, for the classifier to name."""
    out: dict[str, Any] = {}
    problems = []
    for name, v in metrics.items():
        problem = magnitude_problem(v)
        if problem is not None and not (isinstance(v, float) and not math.isfinite(v)):
            problems.append(f"metric {name[:64]!r} {problem}")
            v = None
        out[name] = v
    return out, problems


def _seconds(value: Any) -> float | None:
    seconds = finite_number(value)
    return seconds if seconds is not None and seconds >= 0 else None


def _reported(obj: Any) -> TrialReport:
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    trial = obj.get("trial")
    if not isinstance(trial, int) or isinstance(trial, bool) or trial < 0:
        raise ValueError("trial: must be a non-negative integer")
    params = _bounded_map(obj.get("params", {}), "params")
    metrics, problems = _sane_metrics(_bounded_map(obj.get("metrics", {}), "metrics"))
    status = obj.get("status")
    if status not in {"succeeded", "failed", "timeout", "pruned"}:
        raise ValueError(f"status: must be succeeded, failed, timeout or pruned, not {status!r}")
    error = obj.get("error")
    said = [str(error)[:MAX_ERROR_CHARS]] if error is not None else []
    text = "; ".join([*said, *problems])[:MAX_ERROR_CHARS]
    return TrialReport(
        trial=trial,
        params=params,
        metrics=metrics,
        status=status,
        error=sane_text(text) if text else None,
        duration_seconds=_seconds(obj.get("durationSeconds")),
    )


def _parse_line(body: str) -> TrialReport:
    """One result line's JSON, within the bounds, as a report; ``ValueError`` otherwise."""
    if len(body) > MAX_LINE_BYTES:
        raise ValueError(f"longer than {MAX_LINE_BYTES} bytes")
    if not _depth_ok(body):
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    try:
        doc = json.loads(body, parse_constant=_constant)
    except RecursionError:  # unreachable past the depth check; kept as the last guard
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    return _reported(doc)


def parse_log(log: str | bytes, max_bytes: int = LOG_TAIL_BYTES) -> ParsedLog:
    """Parse the contract lines of a worker log; the last line for a trial wins."""
    data = log.encode("utf-8", errors="replace") if isinstance(log, str) else log
    truncated = len(data) > max_bytes
    if truncated:
        cut_at_line_start = data[-max_bytes - 1 : -max_bytes] == b"\n"
        data = data[-max_bytes:]
        # The first line of a cut tail is partial (unless the cut fell on a line start): drop it.
        if not cut_at_line_start:
            data = data.split(b"\n", 1)[1] if b"\n" in data else b""
    reports: dict[int, TrialReport] = {}
    malformed = bad_steps = 0
    first_problem: str | None = None
    curves = Curves()
    # Only CR/LF end a line: str.splitlines would also split inside a JSON string that
    # holds a raw U+2028, U+0085 or similar (legal JSON, which non-Python writers emit).
    for raw in _LINE_BREAK.split(data.decode("utf-8", errors="replace")):
        line = raw.rstrip("\r")
        if line.startswith(INTERMEDIATE_PREFIX):
            try:
                curves.add(parse_intermediate(line[len(INTERMEDIATE_PREFIX) :]))
            except (ValueError, RecursionError):
                bad_steps += 1  # spoils no trial: only a point of its curve is missing
            continue
        if not line.startswith(RESULT_PREFIX):
            continue
        try:
            rep = _parse_line(line[len(RESULT_PREFIX) :])
        except ValueError as err:  # json.JSONDecodeError is a ValueError
            malformed += 1
            first_problem = first_problem or f"malformed {RESULT_PREFIX.strip()} line: {err}"
            continue
        reports[rep.trial] = rep
    return ParsedLog(reports, malformed, first_problem, truncated, curves, bad_steps)


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
