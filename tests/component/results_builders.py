"""Result records for the report, results and export tests: one shared builder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuneop.adapters.local.folder import write_session_folder
from tuneop.core.results.records import Record, normalize_record

SESSION = "default/demo"
# Names and texts a hostile objective could report: markup for HTML, for plotly's
# pseudo-HTML and for rich, a closing script tag, terminal escapes and bidi overrides.
HOSTILE = '</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2"><b>'
HOSTILE_NAME = "lr<b>\x1b[2J\u202e"


def record(
    trial: int,
    outcome: str = "Succeeded",
    value: float | None = None,
    session: str = SESSION,
    duration: float | None = 0.5,
    error: str | None = None,
    curve: list[list[float]] | None = None,
    **params: Any,
) -> Record:
    """A normalized trial record; a succeeded one's value defaults from its params."""
    params = params or {"x": trial % 4, "y": trial * 0.25, "kind": ["a", "b"][trial % 2]}
    if value is None and outcome == "Succeeded":
        value = float(sum(v for v in params.values() if isinstance(v, int | float)))
    doc = {
        "session": session,
        "trial": trial,
        "jobIndex": trial,
        "params": params,
        "metrics": {"loss": value} if value is not None else {},
        "objective": {"metric": "loss", "direction": "minimize", "value": value},
        "outcome": outcome,
        "error": error,
        "durationSeconds": duration,
    }
    if curve is not None:
        doc["intermediate"] = curve
    normalized = normalize_record(doc)
    assert normalized is not None
    return normalized


def mixed_session(n: int = 12) -> list[Record]:
    """Succeeded trials, a few failures of each kind, and one hostile trial."""
    out = [record(t) for t in range(n)]
    out[3] = record(3, "Failed", error="ZeroDivisionError: division by zero")
    out[5] = record(5, "TimedOut", error="trial took longer than 30s")
    out[7] = record(7, "MetricsUnavailable", error="loss is NaN")
    out.append(record(n, "Failed", error=HOSTILE, **{HOSTILE_NAME: 1.0, "x": 1}))
    out.append(record(n + 1, "Succeeded", 9.0, **{HOSTILE_NAME: 2.0, "x": 2}))
    return out


def results_folder(root: Path, records: list[Record], name: str = "demo") -> Path:
    folder = root / name
    session = {"session": SESSION, "phase": "Succeeded", "objective": {"metric": "loss"}}
    write_session_folder(folder, "loss", records, session)
    return folder
