"""Where a command's results come from: a results folder, or a session in Redis.

``summary``, ``report``, ``export`` and ``results`` take the same SOURCE: a
path that exists (a results folder at any depth, a session folder, a trial
file or ``results.csv``) is read from disk; anything else is a session
reference, ``NAMESPACE/NAME`` (or a ``NAME`` unique among the mirrored
sessions), read from Redis (``--redis-url``, default ``$TUNEOP_REDIS_URL``)
through the ``ResultsReader`` port (``tuneop.assembly.cli_clients``).
What either holds is untrusted and read with the bounded reader of
``tuneop.core.results.records``. Every problem is a ``UsageError``: one line, never a
traceback, and never the Redis URL (it may hold a password). Every Redis
request waits at most ``READ_TIMEOUT`` seconds (to connect, and for each
answer), so a hung Redis ends the command, exit 2, instead of hanging it.

These commands work on one session (``read_session``): a folder holding
several sessions' folders (the default ``tuneop-results``, an operator's
``--results-dir``, runs archived by ``--fresh``) is refused with a line naming
a few of them, and ``--session NAME`` picks one: its folder's path below the
given folder, or its ``NAMESPACE/NAME`` or ``NAME`` when only one folder holds
it. A session read from its folder also gives its search space as the spec
declared it (``recorded_space``, from the ``spec.json`` a run records).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tuneop.cli.inputs import UsageError
from tuneop.cli.text import clean
from tuneop.core.results.records import MAX_RECORD_BYTES, Record

if TYPE_CHECKING:
    from tuneop.api.parameters import Parameter
    from tuneop.ports import ResultsReader

__all__ = [
    "BAD_REDIS_URL",
    "MAX_LISTED",
    "READ_TIMEOUT",
    "Mirrored",
    "OneSession",
    "UsageError",
    "is_reference",
    "mirrored_session",
    "read_session",
    "read_source",
    "recorded_space",
    "results_reader",
]

# A refusal names at most this many sessions, then counts the rest.
MAX_LISTED = 5
BAD_REDIS_URL = "--redis-url: not a Redis URL (redis://, rediss:// or unix://)"
# Seconds a reading command waits to connect to Redis, and for each answer: a hung Redis
# (it accepts connections and never answers) is one line and exit 2, never a hang.
READ_TIMEOUT = 5.0
# NAMESPACE/NAME or NAME, each a DNS label or subdomain, as Kubernetes names them.
_NAME = r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?"
_REFERENCE = re.compile(rf"({_NAME}/)?{_NAME}")


def is_reference(source: str) -> bool:
    return _REFERENCE.fullmatch(source) is not None


@contextmanager
def results_reader(url: str, prefix: str, doing: str) -> Iterator[ResultsReader]:
    """A reader of the Redis mirror whose failures become one-line usage errors (never
    the URL: it may hold a password)."""
    from tuneop.assembly.cli_clients import redis_results
    from tuneop.cli.watch import UnknownSession
    from tuneop.ports import TransientError

    try:
        reader = redis_results(url, prefix, READ_TIMEOUT)
    except ValueError:
        raise UsageError(BAD_REDIS_URL) from None
    try:
        yield reader
    except UnknownSession as err:
        raise UsageError(str(err)) from None
    except TransientError as err:  # it names the failure: a timeout, or the client's error
        raise UsageError(f"{err}: cannot {doing}") from None
    finally:
        reader.close()


@dataclass
class Mirrored:
    """A session as its Redis mirror holds it: its id, hash fields and result records."""

    session: str
    fields: dict[str, str]
    records: list[Record]


def mirrored_session(url: str, prefix: str, target: str) -> Mirrored:
    """Everything Redis holds of one session (``target``: NAMESPACE/NAME or a unique NAME)."""
    from tuneop.cli.watch import resolve

    with results_reader(url, prefix, "read the session") as reader:
        session = resolve(reader, target)
        return Mirrored(session, reader.fields(session), reader.records(session))


def read_source(source: str, redis_url: str | None, prefix: str) -> list[Record]:
    """The result records of SOURCE: a path on disk, else a session reference in Redis."""
    from tuneop.assembly.folders import load_records

    path = Path(source)
    if path.exists() or not is_reference(source):
        try:
            return load_records(path)
        except FileNotFoundError:
            raise UsageError(f"{clean(source)}: no such results folder or file") from None
        except (ValueError, KeyError) as err:
            raise UsageError(f"{clean(source)}: not a results file ({err})") from None
    if not redis_url:
        raise UsageError(
            f"{clean(source)}: no such results folder; for a session in Redis"
            " give --redis-url URL (or $TUNEOP_REDIS_URL)"
        )
    return mirrored_session(redis_url, prefix, source).records


@dataclass
class OneSession:
    """The records of one session, and its folder on disk when it has one."""

    records: list[Record]
    folder: Path | None


def _listing(labels: list[str]) -> str:
    shown = ", ".join(clean(label, 100) for label in labels[:MAX_LISTED])
    more = len(labels) - MAX_LISTED
    return f"{shown}, … and {more} more" if more > 0 else shown


def _pick(source: str, names: dict[str, set[str]], pick: str | None) -> str:
    """The label of the one session to read: the only one, or the one ``pick`` names."""
    labels = sorted(names)
    if pick is None:
        if len(labels) == 1:
            return labels[0]
        raise UsageError(
            f"{clean(source)}: holds {len(labels)} sessions ({_listing(labels)});"
            " pick one with --session NAME, or give its own folder"
        )
    if pick in names:
        return pick
    matches = [label for label in labels if pick in names[label]]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UsageError(
            f"--session {clean(pick, 300)}: {len(matches)} sessions of {clean(source)} have"
            f" that name ({_listing(matches)}); give the folder's path below {clean(source)}"
        )
    raise UsageError(
        f"--session {clean(pick, 300)}: no such session in {clean(source)};"
        f" it holds {_listing(labels)}"
    )


def _aliases(label: str, session: object) -> set[str]:
    """What a session may be called by: its folder's path, its last part, and the
    ``NAMESPACE/NAME`` and ``NAME`` its records give."""
    names = {label, label.rsplit("/", 1)[-1]}
    if isinstance(session, str) and session:
        names.update({session, session.rsplit("/", 1)[-1]})
    return names


def _no_trials_here(path: Path, source: str) -> None:
    """A folder with no trial file below it is a session only when its ``session.json`` says
    so (none of its trials has ended yet); a ``trials`` folder that is a link or cannot be
    read, or a folder that is no session at all, is said in one line, never read as one
    that is empty."""
    import os

    from tuneop.assembly.folders import holds_file

    trials = path / "trials"
    if trials.is_symlink():
        raise UsageError(f"{clean(trials)}: a link; tuneop reads no results through a link")
    if trials.is_dir():
        try:
            os.scandir(trials).close()
        except OSError as err:
            raise UsageError(f"{clean(trials)}: cannot read it ({err.strerror})") from None
    if not holds_file(path, "session.json"):  # here, or a session's below, none ended yet
        raise UsageError(
            f"{clean(source)}: no session here (no session.json, no trials/trial-*.json below it)"
        )


def _folder_session(path: Path, pick: str | None, source: str) -> OneSession:
    from tuneop.assembly.folders import session_folders, session_records

    folders = session_folders(path)
    if not folders:
        _no_trials_here(path, source)
        return OneSession([], path)  # a session none of whose trials has ended yet
    labels = {(f.relative_to(path).as_posix() if f != path else f.name): f for f in folders}
    names: dict[str, set[str]] = {}
    for label, folder in labels.items():
        first = session_records(folder, limit=1)
        names[label] = _aliases(label, first[0].get("session") if first else None)
    folder = labels[_pick(source, names, pick)]
    return OneSession(session_records(folder), folder)


def _file_session(path: Path, pick: str | None, source: str) -> OneSession:
    """A results CSV, a trial file or a session's own JSON: one session, or the one
    picked among those a CSV holds."""
    records = read_source(source, None, "")
    by_session: dict[str, list[Record]] = {}
    for r in records:
        by_session.setdefault(str(r.get("session") or "-"), []).append(r)
    folder = path.parent.parent if path.parent.name == "trials" else path.parent
    if len(by_session) <= 1 and pick is None:
        return OneSession(records, folder)
    names = {label: _aliases(label, label) for label in by_session}
    chosen = _pick(source, names, pick)
    return OneSession(by_session[chosen], folder if len(by_session) == 1 else None)


def read_session(
    source: str, redis_url: str | None, prefix: str, pick: str | None = None
) -> OneSession:
    """The records of the one session SOURCE holds, or of the one ``pick`` names."""
    path = Path(source)
    if not (path.exists() or not is_reference(source)):
        if pick is not None:
            raise UsageError(
                f"--session: picks a session of a results folder; {clean(source)} is a"
                " session in Redis already"
            )
        return OneSession(read_source(source, redis_url, prefix), None)
    if path.is_dir():
        return _folder_session(path, pick, source)
    return _file_session(path, pick, source)


def recorded_space(folder: Path | None) -> list[Parameter]:
    """The search space the session's ``spec.json`` declares; [] when the folder records
    none (a folder ``tuneop results`` wrote, or a spec of explicit trials)."""
    import json

    from pydantic import ValidationError

    from tuneop.api.parameters import Parameter

    if folder is None:
        return []
    from tuneop.assembly.folders import UnsafePath, read_capped

    where = folder / "spec.json"
    try:
        # Never through a link, never waiting on a FIFO planted there (results_folder.safefs).
        data = read_capped(where, MAX_RECORD_BYTES, folder)
    except (FileNotFoundError, UnsafePath):
        return []  # no spec recorded, or not a file a run wrote: the space of the values tried
    except OSError as err:
        raise UsageError(f"{clean(where)}: cannot read it ({err.strerror})") from None
    try:
        if len(data) > MAX_RECORD_BYTES:
            raise ValueError(f"larger than {MAX_RECORD_BYTES} bytes")
        doc = json.loads(data)
    except (ValueError, RecursionError) as err:
        raise UsageError(f"{clean(where)}: not a recorded spec ({clean(err, 200)})") from None
    spec = doc.get("spec") if isinstance(doc, dict) else None
    space = spec.get("searchSpace") if isinstance(spec, dict) else None
    if not isinstance(space, list):
        return []
    out = []
    for n, raw in enumerate(space[:64]):
        try:
            out.append(Parameter.model_validate(raw))
        except ValidationError as err:
            problem = err.errors()[0]
            field = ".".join(str(x) for x in problem["loc"])
            at = f"spec.searchSpace[{n}]" + (f".{field}" if field else "")
            raise UsageError(f"{clean(where)}: {at}: {clean(problem['msg'], 200)}") from None
    return out
