"""One result line: its bounds, and its JSON read into a ``TrialReport``.

A worker prints one line per finished trial::

    TUNEOP_RESULT {"trial": 3, "params": {...}, "metrics": {...}, "status": "succeeded", ...}

``parse_result`` reads the JSON after the prefix within the line's bounds
(its length, nesting, entries, names and texts: docs/result-contract.md) and
raises ``ValueError`` naming the first problem otherwise. Numbers and text are
checked where they enter (``tuneop.core.untrusted``): a metric past the
magnitude bound is null with the reason added to ``error``, a duration that
is not a finite non-negative number is none, a lone surrogate is replaced.
Which lines of a log count, and for which trial, is ``tuneop.core.wire.framing``'s.
``RESULT_PREFIX`` is defined again by the runner, which cannot import the
operator; a test holds the two equal.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from tuneop.api.spec import Scalar
from tuneop.core.untrusted import finite_number, magnitude_problem, sane_text

__all__ = [
    "LOG_TAIL_BYTES",
    "MAX_DEPTH",
    "MAX_ENTRIES",
    "MAX_ERROR_CHARS",
    "MAX_LINE_BYTES",
    "MAX_NAME_CHARS",
    "MAX_VALUE_CHARS",
    "RESULT_PREFIX",
    "TrialReport",
    "parse_result",
]

RESULT_PREFIX = "TUNEOP_RESULT "
LOG_TAIL_BYTES = 4 * 1024 * 1024
MAX_ERROR_CHARS = 2000
# Bounds of one result line (docs/result-contract.md): a line past any of them is
# malformed, and its trial is classified as one that did not report.
MAX_LINE_BYTES = 1024 * 1024
MAX_DEPTH = 32  # nesting of JSON arrays and objects in a line
MAX_ENTRIES = 256  # params, and metrics, of one trial
MAX_NAME_CHARS = 256  # a param's or a metric's name
MAX_VALUE_CHARS = 64 * 1024  # a text param or metric value


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


def _constant(name: str) -> float:
    # Python writers emit NaN/Infinity; accept them so the classifier can name them.
    return float(name.replace("Infinity", "inf"))


def _depth_ok(text: str) -> bool:
    """Whether JSON ``text`` nests at most ``MAX_DEPTH`` deep (brackets in strings aside)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return True  # cannot nest deeper: no need to walk a long line character by character
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


def parse_result(body: str) -> TrialReport:
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
