"""Claiming a session's results folder: resume the same spec, refuse another.

A local session's folder records the spec it belongs to in ``spec.json``
(its fingerprint, ``tuneop.core.fingerprint``, the spec itself, and the
fingerprint of each file its workers run, ``adapters.results_folder.runfiles``).
Running the session again with the same fingerprint and unchanged files
resumes it: the status in ``session.json`` is the ledger to go on from, so
trials with a result are not run again and a raised ``totalTrials`` extends
the session. A folder holding results of another spec, of an edited file (or
of an unknown spec: results written before folders recorded their spec) is
refused, naming both ways out: ``--fresh`` moves the old folder aside
(``<name>.archived-<UTC time>``, beside it; ``-2``, ``-3``... added when a folder
archived in the same second has that name) and starts over; another
``--results-dir`` keeps both. A folder written before files were recorded
has them recorded by its next run. A budget below the trials the folder
already ran is refused too: those results would not belong to the session.
Everything read from the folder is untrusted and read bounded.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any

from tuneop.adapters.results_folder.folder import dump_json, write_atomic
from tuneop.adapters.results_folder.safefs import UnsafePath, read_capped
from tuneop.api.spec import SessionSpec, spec_to_wire
from tuneop.api.status import SessionStatus, StatusUnreadable, status_from_wire
from tuneop.core.fingerprint import spec_hash
from tuneop.core.results.records import MAX_RECORD_BYTES
from tuneop.core.suggest.search import budget

__all__ = ["SPEC_FILE", "Claim", "ForeignResults", "archive", "claim_folder", "claim_for_object"]

SPEC_FILE = "spec.json"
# Names an archive may take within one second (``archive``): runs started over in a loop.
MAX_ARCHIVES_PER_SECOND = 1000
# session.json holds a bounded status plus at most MAX_ERRORS error texts.
MAX_SESSION_FILE_BYTES = 4 * MAX_RECORD_BYTES


class ForeignResults(Exception):
    """The folder holds results that do not belong to this spec."""


@dataclass(frozen=True)
class Claim:
    """A claimed folder: the status to resume from (empty when starting anew) and, when
    ``--fresh`` moved earlier results aside, where they went."""

    status: SessionStatus
    archived: Path | None = None


def _read_json(path: Path, cap: int) -> Any:
    """The JSON of a file of the session folder ``path.parent``, read without following a
    link or waiting on a FIFO: such a file is refused (``UnsafePath``), not passed over."""
    try:
        data = read_capped(path, cap, path.parent.parent)
    except UnsafePath:
        raise
    except OSError:
        return None
    if len(data) > cap:
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _recorded(folder: Path, key: str) -> str | None:
    doc = _read_json(folder / SPEC_FILE, MAX_RECORD_BYTES)
    value = doc.get(key) if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None


def _recorded_hash(folder: Path) -> str | None:
    return _recorded(folder, "specHash")


def archive(folder: Path, now: datetime) -> Path:
    """Move ``folder`` aside, beside it; where it went. Its name holds the time to the
    second, and a counter when that name is taken (``--fresh`` twice within a second):
    an earlier archive is never replaced nor merged into."""
    stamp = f"{folder.name}.archived-{now:%Y%m%dT%H%M%SZ}"
    for n in range(1, MAX_ARCHIVES_PER_SECOND + 1):
        target = folder.with_name(stamp if n == 1 else f"{stamp}-{n}")
        if os.path.lexists(target):  # rename would replace an empty folder there
            continue
        try:
            folder.rename(target)
        except OSError as err:
            if err.errno in (errno.EEXIST, errno.ENOTEMPTY):
                continue  # taken meanwhile, by another run started over
            raise
        return target
    raise OSError(errno.EEXIST, f"{MAX_ARCHIVES_PER_SECOND} archives this second", str(folder))


def claim_for_object(
    folder: Path, spec: SessionSpec | None, uid: str, now: datetime
) -> Path | None:
    """The operator's claim: the folder belongs to one TuningSession object (its uid).
    A new object under an old name starts with an empty ledger, so the old object's
    results are moved aside rather than mixed in; where they went, or None. A folder
    that names no object (written before folders recorded one) is adopted as it is."""
    moved = None
    recorded = _recorded(folder, "uid")
    if uid and recorded is not None and recorded != uid:
        moved = archive(folder, now)
    if uid and recorded != uid:
        doc: dict[str, object] = {"uid": uid}
        if spec is not None:
            doc.update(specHash=spec_hash(spec), spec=spec_to_wire(spec))
        write_atomic(folder / SPEC_FILE, dump_json(doc), folder.parent)
    return moved


def _holds_results(folder: Path) -> bool:
    return (folder / "session.json").exists() or any((folder / "trials").glob("trial-*.json"))


def _ways_out(folder: Path) -> str:
    return (
        f"run with --fresh to start over (the old results move to {folder}.archived-<time>),"
        " or give another --results-dir"
    )


def _changed_file(folder: Path, files: Mapping[str, str]) -> str | None:
    """What became of the first file the folder's results were run with that is not the
    same now (or None; also when the folder recorded no files: it predates that). A file
    found now but not then is not compared: it did not exist at the session's first run,
    so it is something a run wrote (``--log train.log``), not what the trials ran."""
    doc = _read_json(folder / SPEC_FILE, MAX_RECORD_BYTES)
    recorded = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(recorded, dict):
        return None
    # A file is named as the run that recorded it saw it (relative to the folder it
    # started in, when below it): a run started in another folder names the same file
    # by its full path (or relative, the other way round), one name ending the other.
    unnamed = [n for n in files if n not in recorded]
    for name in sorted(recorded):
        fingerprint = recorded[name]
        if name in files:
            if fingerprint != files[name]:
                return f"{name} changed"
            continue
        same = [n for n in unnamed if _same_file(n, name)]
        if not same:
            return f"{name} is gone"
        if files[same[0]] != fingerprint:
            return f"{same[0]} changed"
        unnamed.remove(same[0])
    return None


def _same_file(one: str, other: str) -> bool:
    """Whether two names of a file, each relative to where a run started or full, can
    name the same file: the shorter one ends the longer one, part for part."""
    a, b = PurePath(one).parts, PurePath(other).parts
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return long[len(long) - len(short) :] == short


def _ledger(folder: Path) -> SessionStatus:
    """The status to resume from, in ``session.json``. One that cannot be read while
    trials' results are there is refused: a fresh ledger would run those trials again
    over their results."""
    path = folder / "session.json"
    record = _read_json(path, MAX_SESSION_FILE_BYTES)
    status = record.get("status") if isinstance(record, dict) else None
    try:
        if status is not None or not any((folder / "trials").glob("trial-*.json")):
            return status_from_wire(status)
        why = "cannot be read" if path.exists() else "is missing"
    except StatusUnreadable as err:
        why = f"cannot be read ({err})"
    raise ForeignResults(
        f"{path} {why}, so the results in {folder} cannot be resumed; {_ways_out(folder)}"
    )


def _record(folder: Path, spec: SessionSpec, digest: str, files: Mapping[str, str]) -> None:
    doc = {"specHash": digest, "spec": spec_to_wire(spec), "files": dict(files)}
    write_atomic(folder / SPEC_FILE, dump_json(doc), folder.parent)


def claim_folder(
    folder: Path,
    spec: SessionSpec,
    fresh: bool,
    now: datetime,
    files: Mapping[str, str] | None = None,
) -> Claim:
    """Make ``folder`` this spec's (run with ``files``, by fingerprint): the status to
    resume from, empty when starting anew."""
    digest = spec_hash(spec)
    files = files or {}
    archived = archive(folder, now) if fresh and folder.exists() else None
    recorded = _recorded_hash(folder)
    if recorded is None and _holds_results(folder):
        why = f"{SPEC_FILE} damaged" if os.path.lexists(folder / SPEC_FILE) else f"no {SPEC_FILE}"
        raise ForeignResults(
            f"{folder}: holds results of an unknown spec ({why}); {_ways_out(folder)}"
        )
    if recorded is not None and recorded != digest:
        raise ForeignResults(
            f"{folder}: holds results of another spec of this session (spec {recorded},"
            f" this one {digest}); {_ways_out(folder)}"
        )
    if recorded is None:
        _record(folder, spec, digest, files)
        return Claim(SessionStatus(), archived)
    changed = _changed_file(folder, files)
    if changed is not None:
        raise ForeignResults(
            f"{changed} since the results in {folder} were recorded; {_ways_out(folder)}"
        )
    prev = _ledger(folder)
    total, _ = budget(spec)
    if prev.next_trial > total:
        raise ForeignResults(
            f"spec.totalTrials: {total} is below the {prev.next_trial} trials {folder} already"
            f" ran for this session; raise it, {_ways_out(folder)}"
        )
    doc = _read_json(folder / SPEC_FILE, MAX_RECORD_BYTES)
    if isinstance(doc, dict) and "files" not in doc:
        _record(folder, spec, digest, files)  # written before files were recorded
    return Claim(prev, archived)
