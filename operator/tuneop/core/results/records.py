"""Result records read back from files and Redis: untrusted, so read with bounds.

A result record is the per-trial JSON a results folder (``trials/*.json``),
a ``results.csv`` row or the Redis mirror holds (its layout is in
docs/result-contract.md). Anything on disk or in Redis may have been
written by another program, damaged, or planted, so ``read_record`` checks
the shape and the size before summaries and reports use a record: a record
that is not a JSON object with an integer trial is refused (None), fields of
the wrong type are dropped, texts are cut to a stated length, and the maps
of params and metrics are bounded, and so is a learning curve. Reading never
raises for bad content.
"""

from __future__ import annotations

import json
from typing import Any

from tuneop.core.untrusted import finite_number, sane_text
from tuneop.core.wire.intermediate import curve_from_json

__all__ = [
    "MAX_ENTRIES",
    "MAX_RECORD_BYTES",
    "MAX_RECORD_OBJECTIVES",
    "MAX_TEXT",
    "Record",
    "normalize_record",
    "read_record",
]

Record = dict[str, Any]

MAX_RECORD_BYTES = 1 << 20  # a trial file larger than this is not a result record
MAX_ENTRIES = 256  # params or metrics kept per record
MAX_TEXT = 4096  # characters kept of a text field (an error message, a name)
MAX_RECORD_OBJECTIVES = 8  # entries kept of a record's objectives (spec.objectives' bound)
DIRECTIONS = ("minimize", "maximize")


def read_record(text: str | bytes) -> Record | None:
    """Parse and normalize one record; None when it is not one."""
    if len(text) > MAX_RECORD_BYTES:
        return None
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return normalize_record(doc)


def _text(v: Any) -> str | None:
    return sane_text(v[:MAX_TEXT]) if isinstance(v, str) else None


def _number(v: Any) -> float | int | None:
    # An int keeps its type (a count stays a count) when it is within the bound.
    return v if finite_number(v) is not None else None


def _scalar(v: Any) -> Any:
    if isinstance(v, bool) or _number(v) is not None:
        return v
    return _text(v)


def _mapping(v: Any, value: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        return {}
    out: dict[str, Any] = {}
    for k, item in v.items():
        if len(out) >= MAX_ENTRIES:
            break
        kept = value(item)
        if isinstance(k, str) and len(k) <= 256 and kept is not None:
            out[sane_text(k)] = kept
    return out


def normalize_record(doc: Any) -> Record | None:
    """The record with every field of the documented type, or None without a trial number."""
    if not isinstance(doc, dict):
        return None
    trial = doc.get("trial")
    if isinstance(trial, bool) or not isinstance(trial, int) or trial < 0:
        return None
    job = doc.get("jobIndex")
    record: Record = {
        "session": _text(doc.get("session")) or "",
        "trial": trial,
        "jobIndex": job if isinstance(job, int) and not isinstance(job, bool) else -1,
        "params": _mapping(doc.get("params"), _scalar),
        "metrics": _mapping(doc.get("metrics"), _number),
        "outcome": _text(doc.get("outcome")) or "Unknown",
        "error": _text(doc.get("error")),
        "durationSeconds": _number(doc.get("durationSeconds")),
    }
    objective = doc.get("objective")
    if isinstance(objective, dict):
        direction = objective.get("direction")
        record["objective"] = {
            "metric": _text(objective.get("metric")),
            "direction": direction if direction in DIRECTIONS else None,
            "value": _number(objective.get("value")),
        }
    curve = curve_from_json(doc.get("intermediate"))  # at most MAX_STEPS finite points
    if curve:
        record["intermediate"] = [list(point) for point in curve]
    objectives = doc.get("objectives")
    if isinstance(objectives, list):
        record["objectives"] = [
            _objective(o) for o in objectives[:MAX_RECORD_OBJECTIVES] if isinstance(o, dict)
        ]
    return record


def _objective(o: dict[str, Any]) -> Record:
    """One entry of a record's ``objectives`` (several objectives), every field checked."""
    direction = o.get("direction")
    return {
        "metric": _text(o.get("metric")),
        "direction": direction if direction in DIRECTIONS else None,
        "value": _number(o.get("value")),
    }
