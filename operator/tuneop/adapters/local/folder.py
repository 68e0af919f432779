"""A results folder: one JSON per trial, a session JSON and a CSV.

Layout under the session's folder (``<root>/<name>`` for local sessions,
``<root>/<namespace>/<name>`` for the operator)::

    trials/trial-000012.json   one per trial, the result contract's JSON
    logs/<job>.<attempt>.log   worker output (local sessions)
    session.json               totals, exit code, errors, job ids, best, leaderboard
    results.csv                one row per trial, written when the session ends

Trial files are written atomically (temp file + rename), so a crash never
leaves half a result, and a repeated write of a trial replaces it.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus, status_to_wire
from tuneop.core.contract import TrialResult
from tuneop.core.summary import session_record
from tuneop.ports import MirrorRecord

__all__ = [
    "MAX_ERRORS",
    "DirectoryResults",
    "csv_rows",
    "load_records",
    "write_atomic",
    "write_csv",
]

MAX_ERRORS = 50


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class DirectoryResults:
    root: Path
    nested: bool = False
    _cache: dict[str, dict[int, TrialResult]] = field(default_factory=dict)

    def session_dir(self, ref: SessionRef) -> Path:
        return self.root / ref.namespace / ref.name if self.nested else self.root / ref.name

    def _trials(self, ref: SessionRef) -> dict[int, TrialResult]:
        if ref.key not in self._cache:
            found: dict[int, TrialResult] = {}
            for path in sorted((self.session_dir(ref) / "trials").glob("trial-*.json")):
                try:
                    r = TrialResult.from_json(json.loads(path.read_text()))
                except (ValueError, KeyError):
                    continue  # a foreign or damaged file: not ours to interpret
                found[r.trial] = r
            self._cache[ref.key] = found
        return self._cache[ref.key]

    def persist(self, ref: SessionRef, spec: SessionSpec, results: Sequence[TrialResult]) -> None:
        trials = self._trials(ref)
        folder = self.session_dir(ref) / "trials"
        for r in results:
            doc = r.to_json(ref.key, spec.objective)
            write_atomic(folder / f"trial-{r.trial:06d}.json", json.dumps(doc, indent=1) + "\n")
            trials[r.trial] = r

    def history(self, ref: SessionRef) -> list[TrialResult]:
        return sorted(self._trials(ref).values(), key=lambda r: r.trial)

    def record(self, ref: SessionRef, spec: SessionSpec, change: MirrorRecord) -> None:
        """Mirror: each status written becomes ``session.json`` (and, at the end, the CSV)."""
        if change.status is not None:
            self.record_status(ref, spec, change.status)

    def record_status(self, ref: SessionRef, spec: SessionSpec, status: SessionStatus) -> None:
        results = self.history(ref)
        record = session_record(ref.key, spec, status, results, max_errors=MAX_ERRORS)
        record["status"] = status_to_wire(status)
        folder = self.session_dir(ref)
        write_atomic(folder / "session.json", json.dumps(record, indent=1) + "\n")
        if status.terminal:
            write_csv(folder / "results.csv", ref.key, spec, results)


def csv_rows(
    session: str, spec: SessionSpec, results: Sequence[TrialResult]
) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        row: dict[str, Any] = {
            "session": session,
            "trial": r.trial,
            "job_index": r.job_index,
            "outcome": str(r.outcome),
            spec.objective.metric: r.value,
        }
        row.update({f"param.{k}": v for k, v in r.params.items()})
        row.update({f"metric.{k}": v for k, v in r.metrics.items()})
        row["error"] = r.error or ""
        rows.append(row)
    return rows


def write_csv(path: Path, session: str, spec: SessionSpec, results: Sequence[TrialResult]) -> None:
    rows = csv_rows(session, spec, results)
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def _csv_record(row: dict[str, str]) -> dict[str, Any]:
    def num(v: str) -> Any:
        try:
            return int(v)
        except ValueError:
            try:
                return float(v)
            except ValueError:
                return v

    params = {k[6:]: num(v) for k, v in row.items() if k.startswith("param.") and v != ""}
    metrics = {k[7:]: num(v) for k, v in row.items() if k.startswith("metric.") and v != ""}
    return {
        "session": row.get("session", ""),
        "trial": int(row.get("trial") or 0),
        "jobIndex": int(row.get("job_index") or 0),
        "outcome": row.get("outcome", ""),
        "params": params,
        "metrics": metrics,
        "error": row.get("error") or None,
    }


def load_records(path: Path) -> list[dict[str, Any]]:
    """Result records from a results folder (any depth), a session folder or a CSV file."""
    if path.is_file():
        if path.suffix == ".csv":
            with path.open(newline="") as f:
                return [_csv_record(row) for row in csv.DictReader(f)]
        return [json.loads(path.read_text())]
    if not path.is_dir():
        raise FileNotFoundError(str(path))
    records = []
    for trial in sorted(path.rglob("trials/trial-*.json")):
        try:
            records.append(json.loads(trial.read_text()))
        except ValueError:
            continue
    return records
