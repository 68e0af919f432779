"""What the command line reads: spec and plan files, bounded, as one-line errors.

A spec, a Katib Experiment, a JSONL plan or an observed-state file is untrusted:
it is read up to a size bound (``MAX_INPUT_BYTES`` for YAML, ``MAX_JOBS_BYTES``
for a JSONL plan) before anything parses it, must be UTF-8 text without NUL
bytes and, for YAML, stay within the node, text, depth and alias budget of
``tuneop.core.boundedyaml``. Every problem is a ``UsageError`` naming the file
(and the line, for YAML), which the command prints as its one error line. The
bounds are stated in docs/concepts.md, "Untrusted input".
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneop.api.errors import SpecError
from tuneop.cli.text import clean

# PyYAML and the API model (pydantic) load when a file is read, not when the command
# line is built: tuneop --help stays fast.
if TYPE_CHECKING:
    from tuneop.api.session import Session

__all__ = [
    "MAX_INPUT_BYTES",
    "MAX_JOBS_BYTES",
    "UsageError",
    "load_session",
    "read_text",
    "yaml_docs",
]

# A YAML file (a spec, a Katib Experiment, an observed state) larger than this is
# refused before it is parsed. The API server takes objects of up to 3 MiB (etcd
# stores 1.5 MiB); a session a cluster could hold fits with room to spare.
MAX_INPUT_BYTES = 4 * 1024 * 1024
# A JSONL job plan: a hundred thousand jobs (the explicit-trials bound) of 160 bytes.
MAX_JOBS_BYTES = 16 * 1024 * 1024


class UsageError(Exception):
    """A problem with the user's input, reported as one clear line."""


def read_text(path: str, limit: int = MAX_INPUT_BYTES) -> str:
    """A UTF-8 text file (or stdin) of at most ``limit`` bytes, or a one-line ``UsageError``."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(limit + 1)
    except OSError as err:
        raise UsageError(f"{clean(path)}: cannot read ({err.strerror})") from None
    if len(data) > limit:
        raise UsageError(f"{clean(path)}: larger than {limit // 2**20} MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{clean(path)}: not UTF-8 text") from None
    if "\x00" in text:
        raise UsageError(f"{clean(path)}: not a text file (it holds NUL bytes)")
    return text


# Where a spec past the node budget most likely went wrong, and what to do instead.
_TRIALS_HINT = " (a long list of explicit trials goes in a --jobs-file, one JSON line each)"


def yaml_docs(path: str, hint: str = "") -> list[Any]:
    """The non-empty documents of a YAML file, read within the YAML budget.

    ``hint`` follows the message when the file holds more values than the budget.
    """
    import yaml

    from tuneop.core.boundedyaml import YamlBudgetError, load_all

    text = read_text(path)
    try:
        return load_all(text)
    except YamlBudgetError as err:
        where = f":{err.line}" if err.line is not None else ""
        why = err.rule + (hint if err.rule.endswith(" values") else "")
        raise UsageError(f"{clean(path)}{where}: YAML past its bounds: {why}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None)
        why = f" ({clean(problem, 120)})" if problem else ""
        raise UsageError(f"{clean(path)}{where}: not valid YAML{why}") from None


def _not_one_session(path: str, docs: list[dict[str, Any]], found: int) -> str:
    """Why ``path`` is not a session file; a Katib Experiment names its converter."""
    katib = [d for d in docs if d.get("kind") == "Experiment"]
    if found == 0 and katib and str(katib[0].get("apiVersion", "")).startswith("kubeflow.org/"):
        return (
            f"{clean(path)}: a Katib Experiment, not a TuningSession; convert it with"
            f" tuneop import katib {shlex.quote(path)} -o session.yaml"
        )
    kinds = sorted({clean(d.get("kind"), 40) for d in docs if isinstance(d.get("kind"), str)})
    held = f" (it holds {', '.join(kinds)})" if found == 0 and kinds else ""
    return f"{clean(path)}: expected one TuningSession, found {found}{held}"


def load_session(
    path: str | None, jobs_file: str | None = None, namespace: str = "default"
) -> Session:
    """Read a TuningSession manifest (or build one from a JSONL job plan)."""
    from tuneop.core.imports import no_pydantic_plugins

    with no_pydantic_plugins():  # the API's models are built by these imports
        from tuneop.api.session import parse_manifest
        from tuneop.core.conversions.jobsfile import parse_jobs, session_from_jobs

    doc: Any = None
    if path is not None:
        docs = [d for d in yaml_docs(path, _TRIALS_HINT) if isinstance(d, dict)]
        sessions = [d for d in docs if d.get("kind") == "TuningSession"]
        if len(sessions) != 1:
            raise UsageError(_not_one_session(path, docs, len(sessions)))
        doc = sessions[0]
    if jobs_file is not None:
        trials = parse_jobs(read_text(jobs_file, MAX_JOBS_BYTES), source=jobs_file)
        doc = session_from_jobs(
            trials, name=Path(jobs_file).stem.lower().replace("_", "-"), template=doc
        )
    if doc is None:
        raise UsageError("give a session file, or --jobs-file")
    try:
        return parse_manifest(doc, default_namespace=namespace)
    except SpecError as err:
        where = path or jobs_file
        raise err.prefixed(f"{where}: ") from None
