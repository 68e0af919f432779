"""What the command line reads: spec and plan files, bounded, as one-line errors.

A spec, a JSONL plan or an observed-state file is untrusted: it is read up to
a size bound, must be UTF-8 text without NUL bytes and, for YAML, parse within
the parser's nesting limit. Every problem is a ``UsageError`` naming the file
(and the line, for YAML), which the command prints as its one error line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneop.api.errors import SpecError
from tuneop.cli.text import clean

# PyYAML and the API model (pydantic) load when a file is read, not when the command
# line is built: tuneop --help stays fast.
if TYPE_CHECKING:
    from tuneop.api.session import Session

__all__ = ["MAX_INPUT_BYTES", "UsageError", "load_session", "read_text", "yaml_docs"]

# A spec or plan file larger than this is refused before it is parsed.
MAX_INPUT_BYTES = 16 * 1024 * 1024


class UsageError(Exception):
    """A problem with the user's input, reported as one clear line."""


def read_text(path: str) -> str:
    """A UTF-8 text file (or stdin) of bounded size, or a one-line ``UsageError``."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(MAX_INPUT_BYTES + 1)
    except OSError as err:
        raise UsageError(f"{clean(path)}: cannot read ({err.strerror})") from None
    if len(data) > MAX_INPUT_BYTES:
        raise UsageError(f"{clean(path)}: larger than {MAX_INPUT_BYTES // 2**20} MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{clean(path)}: not UTF-8 text") from None
    if "\x00" in text:
        raise UsageError(f"{clean(path)}: not a text file (it holds NUL bytes)")
    return text


def yaml_docs(path: str) -> list[Any]:
    import yaml

    try:
        return [d for d in yaml.safe_load_all(read_text(path)) if d is not None]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise UsageError(f"{clean(path)}{where}: not valid YAML") from None
    except RecursionError:
        raise UsageError(f"{clean(path)}: YAML nested too deeply") from None


def load_session(
    path: str | None, jobs_file: str | None = None, namespace: str = "default"
) -> Session:
    """Read a TuningSession manifest (or build one from a JSONL job plan)."""
    from tuneop.core.jobsfile import parse_jobs, session_from_jobs

    doc: Any = None
    if path is not None:
        docs = [d for d in yaml_docs(path) if isinstance(d, dict)]
        sessions = [d for d in docs if d.get("kind") == "TuningSession"]
        if len(sessions) != 1:
            raise UsageError(f"{path}: expected one TuningSession, found {len(sessions)}")
        doc = sessions[0]
    if jobs_file is not None:
        trials = parse_jobs(read_text(jobs_file), source=jobs_file)
        doc = session_from_jobs(
            trials, name=Path(jobs_file).stem.lower().replace("_", "-"), template=doc
        )
    if doc is None:
        raise UsageError("give a session file, or --jobs-file")
    try:
        from tuneop.api.session import parse_manifest

        return parse_manifest(doc, default_namespace=namespace)
    except SpecError as err:
        where = path or jobs_file
        raise SpecError([f"{where}: {p}" for p in err.problems]) from None
