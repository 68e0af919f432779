"""A results folder: one JSON per trial, a session JSON and a CSV.

Layout under the session's folder (``<root>/<name>`` for local sessions,
``<root>/<namespace>/<name>`` for the operator)::

    trials/trial-000012.json   one per trial, the result contract's JSON
    logs/<job>.<attempt>.log   worker output (local sessions)
    jobs/<job>.job.json        a local Job's trials, manifest and pid, for resuming
    spec.json                  the spec the results belong to, and its fingerprint
    session.json               totals, exit code, errors, job ids, best, leaderboard
    results.csv                one row per trial, written when the session ends

Every file is written atomically (temp file, fsync, rename, fsync of the folder), so
a crash never leaves half a result and a result the reconciler was told is stored
survives a power cut; a repeated write of a trial replaces it. A local run's folder
is its own ledger (``local=True``): there ``session.json`` is what a rerun resumes
from, so the names of the trial files are made durable with it (one fsync of
``trials/`` before each durable ``session.json``, not one per trial), and while
trials end faster than ``STATUS_SYNC_SECONDS`` apart, ``session.json`` is made
durable at most once in that time and always when the session ends (each write is
still atomic). A power cut then takes the run back at most that far: the trials
since ran again, as after a kill. The operator's folder keeps every write durable
before its status (in the cluster) counts it. Files are created with mode 0644 (less
the umask) and never through a symbolic link (``adapters.results_folder.safefs``:
below the results root every folder and file is opened relative to its folder,
without following links): a link, FIFO or device planted where a file or one of the
session's folders goes is refused with ``UnsafePath`` naming it, and nothing is
written. Reading passes over such a file as it passes over any file that is not a
result record, and never waits on it. JSON is strict (a non-finite number is written
as null).
"""

from __future__ import annotations

import csv
import io
import json
import math
import stat
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneop.adapters.results_folder.csvread import CSV_FILE_BYTES, csv_records
from tuneop.adapters.results_folder.safefs import (
    FILE_MODE,
    UnsafePath,
    check_entries,
    check_tree,
    read_capped,
    sync_folder,
    write_atomic,
)
from tuneop.adapters.results_folder.tree import trial_files
from tuneop.api import hyperband, pbt
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus, status_to_wire
from tuneop.core.clock import SYSTEM_CLOCK
from tuneop.core.results.records import MAX_RECORD_BYTES, Record, read_record
from tuneop.core.results.summary import session_record
from tuneop.core.wire.contract import TrialResult
from tuneop.ports import MirrorRecord

__all__ = [
    "CSV_FILE_BYTES",
    "FILE_MODE",
    "MAX_ERRORS",
    "SESSION_FILE_BYTES",
    "STATUS_SYNC_SECONDS",
    "DirectoryResults",
    "UnsafePath",
    "check_session_folder",
    "csv_rows",
    "dump_json",
    "load_records",
    "recorded_objective",
    "recorded_session",
    "session_folders",
    "session_records",
    "strict_json",
    "write_atomic",
    "write_csv",
    "write_records_csv",
    "write_session_folder",
]

MAX_ERRORS = 50
# session.json holds a bounded status and at most MAX_ERRORS bounded error texts.
SESSION_FILE_BYTES = 4 * MAX_RECORD_BYTES
# What a session folder holds: folders, then files (the early-stopping journal among them).
SESSION_FOLDERS = ("trials", "logs", "params", "jobs")
SESSION_FILES = ("spec.json", "session.json", "results.csv", "report.html", "pruning.journal")


def strict_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None: JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value


def dump_json(value: Any) -> str:
    return json.dumps(strict_json(value), indent=1, allow_nan=False) + "\n"


# A local run's session.json is made durable at most once in this time while its trials
# end faster (each fsync is 2-10 ms: a run of short trials spent a third of its time in
# them), and always at the end; a trial that runs longer than this changes nothing.
STATUS_SYNC_SECONDS = 1.0


@dataclass
class DirectoryResults:
    root: Path
    nested: bool = False
    # A local run's own ledger (module doc): trial names made durable with session.json.
    local: bool = False
    monotonic: Callable[[], float] = SYSTEM_CLOCK.monotonic
    _cache: dict[str, dict[int, TrialResult]] = field(default_factory=dict)
    _synced: dict[str, float] = field(default_factory=dict)  # when session.json last was

    def session_dir(self, ref: SessionRef) -> Path:
        return self.root / ref.namespace / ref.name if self.nested else self.root / ref.name

    def _trials(self, ref: SessionRef) -> dict[int, TrialResult]:
        if ref.key not in self._cache:
            found: dict[int, TrialResult] = {}
            for path in sorted((self.session_dir(ref) / "trials").glob("trial-*.json")):
                record = _read_file(path, self.root)
                if record is not None and not _of_session(record, ref.name, path):
                    continue  # a trial file of another session (or trial) copied in
                try:
                    r = TrialResult.from_json(record) if record is not None else None
                except (ValueError, KeyError, TypeError):
                    r = None
                if r is None:
                    continue  # a foreign or damaged file: not ours to interpret
                found[r.trial] = r
            self._cache[ref.key] = found
        return self._cache[ref.key]

    def persist(self, ref: SessionRef, spec: SessionSpec, results: Sequence[TrialResult]) -> None:
        trials = self._trials(ref)
        folder = self.session_dir(ref) / "trials"
        for r in results:
            doc = r.to_json(ref.key, spec.objective, spec.all_objectives)
            doc.update(hyperband.record_fields(spec.optimizer.hyperband, r.trial))
            doc.update(pbt.record_fields(spec.optimizer.pbt, r.trial))
            path = folder / f"trial-{r.trial:06d}.json"
            write_atomic(path, dump_json(doc), self.root, folder_too=not self.local)
            trials[r.trial] = r

    def forget(self, ref: SessionRef) -> None:
        """Drop what was read of ``ref``'s folder (it was moved aside)."""
        self._cache.pop(ref.key, None)

    def history(self, ref: SessionRef) -> list[TrialResult]:
        return sorted(self._trials(ref).values(), key=lambda r: r.trial)

    def record(self, ref: SessionRef, spec: SessionSpec, change: MirrorRecord) -> None:
        """Mirror: each status written becomes ``session.json`` (and, at the end, the CSV)."""
        if change.status is not None:
            self.record_status(ref, spec, change.status)

    def _durable_now(self, ref: SessionRef, status: SessionStatus) -> bool:
        """Whether this ``session.json`` is made durable (module doc): always but in a
        local run while its last durable one is younger than ``STATUS_SYNC_SECONDS``."""
        now = self.monotonic()
        last = self._synced.get(ref.key)
        soon = last is not None and now - last < STATUS_SYNC_SECONDS
        if self.local and not status.terminal and soon:
            return False
        self._synced[ref.key] = now
        return True

    def record_status(self, ref: SessionRef, spec: SessionSpec, status: SessionStatus) -> None:
        results = self.history(ref)
        record = session_record(ref.key, spec, status, results, max_errors=MAX_ERRORS)
        record["status"] = status_to_wire(status)
        folder = self.session_dir(ref)
        durable = self._durable_now(ref, status)
        if durable and self.local:  # the trials it counts first, then the status
            sync_folder(folder / "trials", self.root)
        write_atomic(folder / "session.json", dump_json(record), self.root, durable=durable)
        if status.terminal:
            write_csv(folder / "results.csv", ref.key, spec, results, self.root)


def csv_rows(metric: str, records: Sequence[Record]) -> list[dict[str, Any]]:
    """One row per result record: its ids, outcome, objective value, params and metrics."""
    rows = []
    for r in records:
        row: dict[str, Any] = {
            "session": r.get("session", ""),
            "trial": r["trial"],
            "job_index": r.get("jobIndex", -1),
            "outcome": str(r.get("outcome", "")),
            metric: (r.get("objective") or {}).get("value"),
        }
        row.update({f"param.{k}": v for k, v in (r.get("params") or {}).items()})
        row.update({f"metric.{k}": v for k, v in (r.get("metrics") or {}).items()})
        row["error"] = r.get("error") or ""
        rows.append(row)
    return rows


def write_csv(
    path: Path,
    session: str,
    spec: SessionSpec,
    results: Sequence[TrialResult],
    below: Path | None = None,
) -> None:
    docs = [r.to_json(session, spec.objective, spec.all_objectives) for r in results]
    write_records_csv(path, spec.objective.metric, docs, below)


def write_records_csv(
    path: Path, metric: str, records: Sequence[Record], below: Path | None = None
) -> None:
    rows = csv_rows(metric, records)
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(strict_json(rows))
    write_atomic(path, out.getvalue(), below)


def write_session_folder(
    folder: Path, metric: str, records: Sequence[Record], session: Record
) -> None:
    """A session folder in the layout above from records read elsewhere (Redis):
    one file per trial, ``session.json`` and ``results.csv``, each written atomically;
    no link in ``folder`` is followed (the folder above it is the user's)."""
    below = folder.parent
    for r in records:
        name = f"trial-{int(r['trial']):06d}.json"
        write_atomic(folder / "trials" / name, dump_json(r), below)
    write_atomic(folder / "session.json", dump_json(session), below)
    write_records_csv(folder / "results.csv", metric, records, below)


def check_session_folder(folder: Path, below: Path) -> None:
    """Refuse (``UnsafePath``, naming it) a session folder with a link, FIFO or other
    stranger where one of its folders or files goes, before anything is written there."""
    check_tree(folder, below, SESSION_FOLDERS, SESSION_FILES)
    check_entries(folder / "trials", below, "trial-")


def recorded_objective(path: Path) -> tuple[str, str] | None:
    """The (metric, direction) the session folder at ``path`` (or holding the file at
    ``path``) recorded in its ``session.json``; None when there is none to read."""
    folder = path if path.is_dir() else path.parent
    record = _read_json_object(folder / "session.json", folder)
    objective = record.get("objective") if record else None
    if not isinstance(objective, dict):
        return None
    metric, direction = objective.get("metric"), objective.get("direction")
    if isinstance(metric, str) and direction in ("minimize", "maximize"):
        return metric[:256], str(direction)
    return None


def _read_json_object(path: Path, below: Path) -> dict[str, Any] | None:
    try:
        data = read_capped(path, SESSION_FILE_BYTES, below)
        doc = json.loads(data) if len(data) <= SESSION_FILE_BYTES else None
    except (OSError, ValueError, RecursionError):
        return None  # a FIFO, a link or a damaged file: no recorded objective
    return doc if isinstance(doc, dict) else None


def _read_file(path: Path, below: Path | None) -> Record | None:
    """The record in the trial file ``path`` (nothing below ``below`` followed); None for
    a file that is not one: too large, damaged, a link, a FIFO, a device."""
    try:
        data = read_capped(path, MAX_RECORD_BYTES, below)
    except OSError:
        return None
    return read_record(data)


def _kind_of(path: Path, follow: bool) -> int:
    """The mode of ``path``; its link followed when it is the user's own argument."""
    try:
        return (path.stat() if follow else path.lstat()).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(str(path)) from None


def load_records(path: Path, below: Path | None = None) -> list[Record]:
    """Result records from a results folder (sessions at any depth up to ``tree.MAX_DEPTH``),
    a session folder or a CSV file.

    Every file is untrusted (``tuneop.core.results.records``): one that is not a result record
    (a link or a FIFO among them: never followed, never waited on) is passed over; a
    single file given by name that is not one is a ``ValueError``. ``path`` is followed
    when it is a link, as the user's own argument, unless it was found below ``below``.
    """
    mode = _kind_of(path, below is None)
    if stat.S_ISREG(mode) and path.name in ("session.json", "spec.json"):
        path, mode = path.parent, stat.S_IFDIR  # a session's own record: rank its trials
    if stat.S_ISREG(mode):
        if path.suffix == ".csv":
            return csv_records(path)
        record = _read_file(path, below)
        if record is None:
            raise ValueError("not a trial result record")
        return [record]
    if not stat.S_ISDIR(mode):
        raise ValueError("not a regular file or a folder")
    found = (_read_file(p, path) for p in trial_files(path))
    return [r for r in found if r is not None]


def session_folders(root: Path) -> list[Path]:
    """The session folders at or below ``root`` (``tree.MAX_DEPTH`` folders down at most):
    each folder holding ``trials/trial-*``."""
    return sorted({p.parent.parent for p in trial_files(root)})


def recorded_session(folder: Path) -> str | None:
    """The ``namespace/name`` the session folder's ``session.json`` records, or None."""
    record = _read_json_object(folder / "session.json", folder)
    session = record.get("session") if record else None
    return session if isinstance(session, str) and session else None


def _name_of(session: object) -> str:
    """A record's session by its name alone: a local folder is the session's name, and
    a run in another namespace (``-n``) resumes it."""
    return str(session or "").rsplit("/", 1)[-1]


def _of_session(record: Record, name: str, path: Path) -> bool:
    """Whether the trial file ``path`` holds a record of session ``name`` (or one that
    names no session) for the trial its file name says."""
    own = _name_of(record.get("session"))
    return own in ("", name) and path.name == f"trial-{record.get('trial', -1):06d}.json"


def session_records(folder: Path, limit: int | None = None) -> list[Record]:
    """The result records of one session folder, not of the folders below it (at most
    ``limit`` of them, in trial order); files that are no record are passed over, and so
    are records of another session or of another trial than their file's name (a trial
    file copied in from elsewhere): the folder's session is the one its ``session.json``
    names, else the one most of its records do."""
    recorded = recorded_session(folder)
    own = _name_of(recorded) if recorded is not None else None
    out: list[tuple[Path, Record]] = []
    for p in sorted((folder / "trials").glob("trial-*.json")):
        if own is not None and limit is not None and len(out) >= limit:
            break
        record = _read_file(p, folder)
        if record is not None and (own is None or _of_session(record, own, p)):
            out.append((p, record))
    if own is None:  # no session.json to say: the session most of them name
        named = Counter(_name_of(r.get("session")) for _, r in out)
        most = max(named.items(), key=lambda kv: (kv[0] != "", kv[1]))[0] if named else ""
        out = [(p, r) for p, r in out if _of_session(r, most, p)]
    records = [r for _, r in out]
    return records if limit is None else records[:limit]
