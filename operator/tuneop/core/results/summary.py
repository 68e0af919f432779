"""Summaries of trial results: totals, rankings and the best parameters.

Works on result records (the per-trial result JSON of docs/result-contract.md,
as dicts), so the same code ranks a results folder, a CSV or what Redis holds.
Ranking is ``core.results.ranking``'s, the same order as the status leaderboard.

Also builds the session record, ``session.json`` in a results folder: one
JSON object per session with its phase and exit code, the trial totals
(total, attempted, succeeded, failed, skipped), the last errors, the names of
its worker Jobs, the objective, the best trial and the leaderboard. Its
layout is documented in docs/result-contract.md ("The session record").

Records of a session with several objectives carry each one's value
(``objectives``); the summary then also holds the whole Pareto front of the
records (``core.results.pareto``), not only the status's bounded copy.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus
from tuneop.core.jobs.manifests import job_name
from tuneop.core.results.pareto import front
from tuneop.core.results.ranking import rank_by
from tuneop.core.wire.contract import Outcome, TrialResult

__all__ = [
    "Record",
    "Summary",
    "best_params",
    "default_direction",
    "metric_value",
    "mirrored_session_record",
    "objectives_of",
    "pareto_records",
    "rank",
    "reports_metric",
    "session_record",
    "summarize",
]

Record = dict[str, Any]


def metric_value(record: Record, metric: str) -> float | None:
    """The record's finite numeric value for ``metric``, else None."""
    objective = record.get("objective") or {}
    v = (record.get("metrics") or {}).get(metric)
    if v is None and objective.get("metric") == metric:
        v = objective.get("value")
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def reports_metric(records: Iterable[Record], metric: str) -> bool:
    """Whether any record carries ``metric`` at all (a value, or the objective's name)."""
    return any(
        metric in (r.get("metrics") or {}) or (r.get("objective") or {}).get("metric") == metric
        for r in records
    )


def default_direction(records: Sequence[Record], metric: str) -> str:
    for r in records:
        objective = r.get("objective") or {}
        if objective.get("metric") == metric and objective.get("direction"):
            return str(objective["direction"])
    return "minimize"


def rank(records: Iterable[Record], metric: str, direction: str = "minimize") -> list[Record]:
    """Succeeded records with a usable ``metric``, best first; ties by session and trial."""
    return rank_by(
        (r for r in records if r.get("outcome") == Outcome.SUCCEEDED),
        lambda r: metric_value(r, metric),
        direction,
        lambda r: (str(r.get("session")), r.get("trial", 0)),
    )


def objectives_of(records: Iterable[Record]) -> list[tuple[str, str]]:
    """The (metric, direction) of each objective, from the first record that names several
    complete ones; [] for records of a single objective."""
    for r in records:
        found = r.get("objectives")
        if not isinstance(found, list) or len(found) < 2:
            continue
        pairs = [(o.get("metric"), o.get("direction")) for o in found if isinstance(o, dict)]
        if len(pairs) == len(found) and all(m and d in ("minimize", "maximize") for m, d in pairs):
            return [(str(m), str(d)) for m, d in pairs]
    return []


def pareto_records(
    records: Iterable[Record], objectives: Sequence[tuple[str, str]]
) -> list[Record]:
    """The succeeded records no other beats on every objective, by the first objective."""

    def values(r: Record) -> tuple[float, ...] | None:
        found = [metric_value(r, m) for m, _ in objectives]
        kept = tuple(v for v in found if v is not None)
        return kept if len(kept) == len(found) else None

    return front(
        (r for r in records if r.get("outcome") == Outcome.SUCCEEDED),
        values,
        [d for _, d in objectives],
        lambda r: (str(r.get("session")), r.get("trial", 0)),
    )


def best_params(records: Iterable[Record], metric: str, direction: str) -> dict[str, Any] | None:
    ranked = rank(records, metric, direction)
    return dict(ranked[0].get("params") or {}) if ranked else None


@dataclass(frozen=True)
class Summary:
    total: int
    outcomes: dict[str, int]
    sessions: list[str]
    workers: int
    metrics: list[str]
    params: list[str]
    metric: str
    direction: str
    top: list[Record] = field(default_factory=list)
    best_params: dict[str, Any] | None = None
    # Several objectives: each (metric, direction), and the whole Pareto front.
    objectives: list[tuple[str, str]] = field(default_factory=list)
    front: list[Record] = field(default_factory=list)


def summarize(
    records: Sequence[Record],
    metric: str | None = None,
    direction: str | None = None,
    top_n: int = 10,
) -> Summary:
    objective_metrics = [(r.get("objective") or {}).get("metric") for r in records]
    metric = metric or next((m for m in objective_metrics if m), None) or "value"
    direction = direction or default_direction(records, metric)
    ranked = rank(records, metric, direction)
    objectives = objectives_of(records)
    return Summary(
        total=len(records),
        outcomes=dict(Counter(str(r.get("outcome", "Unknown")) for r in records)),
        sessions=sorted({str(r.get("session", "")) for r in records}),
        workers=len({(r.get("session"), r.get("jobIndex")) for r in records}),
        metrics=sorted({k for r in records for k in (r.get("metrics") or {})}),
        params=sorted({k for r in records for k in (r.get("params") or {})}),
        metric=metric,
        direction=direction,
        top=ranked[:top_n],
        best_params=dict(ranked[0].get("params") or {}) if ranked else None,
        objectives=objectives,
        front=pareto_records(records, objectives) if objectives else [],
    )


def session_record(
    session: str,
    spec: SessionSpec,
    status: SessionStatus,
    results: Sequence[TrialResult],
    max_errors: int = 50,
) -> Record:
    """The session record (``session.json``): totals, errors, Jobs, best and leaderboard."""
    t = status.trials
    errors = [
        {"trial": r.trial, "outcome": str(r.outcome), "error": r.error}
        for r in results
        if not r.succeeded and r.outcome is not Outcome.PRUNED
    ][-max_errors:]
    name = session.split("/", 1)[-1]
    record: Record = {
        "session": session,
        "phase": status.phase,
        "total": t.total,
        "attempted": t.done,
        "succeeded": t.succeeded,
        "failed": t.failed + t.lost + t.infra_failed,
        "skipped": t.pending + t.cancelled if status.terminal else t.cancelled,
        "pruned": t.pruned,
        "exit_code": status.exit_code,
        "errors": errors,
        "job_ids": [job_name(name, i) for i in range(status.next_job)],
        "objective": {"metric": spec.objective.metric, "direction": spec.objective.direction},
        "best": status.best.model_dump(by_alias=True, exclude_none=True) if status.best else None,
        "leaderboard": [e.model_dump(by_alias=True, exclude_none=True) for e in status.leaderboard],
    }
    if spec.multi_objective:
        record["objectives"] = [
            {"metric": o.metric, "direction": o.direction} for o in spec.all_objectives
        ]
        record["paretoFront"] = [
            e.model_dump(by_alias=True, exclude_none=True) for e in status.pareto_front
        ]
    return record


def _count(fields: dict[str, str], key: str) -> int:
    """A counter from a mirrored session's hash: untrusted, so what is no whole number is 0."""
    value = fields.get(key) or "0"
    return int(value) if value.isdigit() and len(value) < 12 else 0


def mirrored_session_record(
    session: str, fields: dict[str, str], records: Sequence[Record], max_errors: int = 50
) -> Record:
    """The session record (the layout of ``session_record``) of a session read back from
    its Redis mirror: counters and phase from the session hash, the rest from the records."""
    metric, direction = _mirrored_objective(fields, records)
    board = [
        {
            "trial": r["trial"],
            "value": metric_value(r, metric),
            "jobIndex": r.get("jobIndex"),
            "params": r.get("params") or {},
        }
        for r in rank(records, metric, direction)[:5]
    ]
    failed = [r for r in records if r.get("outcome") not in (Outcome.SUCCEEDED, Outcome.PRUNED)]
    code = fields.get("exit_code") or ""
    name = session.split("/", 1)[-1]
    out: Record = {
        "session": session,
        "phase": (fields.get("phase") or "Unknown")[:64],
        "total": _count(fields, "total"),
        "attempted": len(records),
        "succeeded": _count(fields, "succeeded"),
        "failed": sum(_count(fields, k) for k in ("failed", "lost", "infra_failed")),
        "skipped": _count(fields, "cancelled"),
        "pruned": _count(fields, "pruned"),
        "exit_code": int(code) if code in ("0", "1", "2") else None,
        "errors": [
            {"trial": r["trial"], "outcome": r.get("outcome"), "error": r.get("error")}
            for r in failed
        ][-max_errors:],
        "job_ids": [
            job_name(name, i) for i in sorted({r.get("jobIndex", -1) for r in records}) if i >= 0
        ],
        "objective": {"metric": metric, "direction": direction},
        "best": board[0] if board else None,
        "leaderboard": board,
    }
    _add_front(out, records)
    return out


def _mirrored_objective(fields: dict[str, str], records: Sequence[Record]) -> tuple[str, str]:
    """The metric and direction the mirror names, else what the records say."""
    found = [(r.get("objective") or {}).get("metric") for r in records]
    metric = fields.get("metric") or next((m for m in found if m), None) or "value"
    direction = fields.get("direction") or ""
    if direction not in ("minimize", "maximize"):
        direction = default_direction(records, metric)
    return metric, direction


def _add_front(out: Record, records: Sequence[Record]) -> None:
    """Several objectives: each one, and the records' Pareto front."""
    objectives = objectives_of(records)
    if objectives:
        out["objectives"] = [{"metric": m, "direction": d} for m, d in objectives]
        out["paretoFront"] = [
            {
                "trial": r["trial"],
                "values": [metric_value(r, m) for m, _ in objectives],
                "jobIndex": r.get("jobIndex"),
                "params": r.get("params") or {},
            }
            for r in pareto_records(records, objectives)
        ]
