"""JSONL job plans: one trial's parameters per line, turned into a session.

Each non-blank line (``#`` starts a comment line) is a JSON object: either
``{"params": {...}}`` or the parameters themselves. A ``job_id`` beside
``params`` (a string or a number) is kept as the trial's ``job_id``
parameter, so it shows in each result, the CSV and summaries; other keys are
ignored. ``session_from_jobs`` builds an explicit-trials
TuningSession around them, optionally from a template manifest.

A plan is untrusted: a line longer than ``MAX_JOB_LINE_BYTES``, nested past
what the JSON parser takes, or holding an integer past CPython's digit limit is
one problem naming its line; reading stops past ``MAX_EXPLICIT_TRIALS`` jobs,
and only the first problems are kept (the rest are counted).
"""

from __future__ import annotations

import io
import json
from typing import Any

from tuneop.api.errors import MAX_SHOWN_PROBLEMS
from tuneop.api.spec import API_GROUP, API_VERSION, KIND, MAX_EXPLICIT_TRIALS, Scalar, SpecError

__all__ = ["MAX_JOB_LINE_BYTES", "parse_jobs", "session_from_jobs"]

MAX_JOB_LINE_BYTES = 1024 * 1024  # as a result line (docs/result-contract.md)


def _params(line: str) -> tuple[dict[str, Scalar] | None, str]:
    """One line's params, or None and why not."""
    if len(line) > MAX_JOB_LINE_BYTES:
        return None, f"longer than {MAX_JOB_LINE_BYTES // 1024} KiB"
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:
        return None, f"not JSON ({err.msg})"
    except RecursionError:
        return None, "not JSON (nested too deeply)"
    except ValueError:  # an integer past CPython's 4,300 digits
        return None, "not JSON (a number too long)"
    params = obj.get("params", obj) if isinstance(obj, dict) else None
    if not isinstance(params, dict) or not params:
        return None, "params must be a non-empty JSON object"
    bad = [k for k, v in params.items() if not isinstance(v, int | float | str | bool)]
    if bad:
        return None, f"params.{bad[0][:63]}: must be a number, string or bool"
    job_id = obj.get("job_id") if "params" in obj else None
    if isinstance(job_id, str | int) and not isinstance(job_id, bool):
        params = {**params, "job_id": job_id} if "job_id" not in params else params
    return params, ""


def parse_jobs(text: str, source: str = "jobs file") -> list[dict[str, Scalar]]:
    trials: list[dict[str, Scalar]] = []
    problems: list[str] = []
    more = 0
    # Line by line, not splitlines(): a file of sixteen million newlines is no list.
    for n, line in enumerate(io.StringIO(text, newline=None), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if len(trials) + len(problems) + more >= MAX_EXPLICIT_TRIALS:
            raise SpecError([f"{source}: more than {MAX_EXPLICIT_TRIALS:,} jobs"])
        params, why = _params(stripped)
        if params is not None:
            trials.append(params)
        elif len(problems) < MAX_SHOWN_PROBLEMS:
            problems.append(f"{source}:{n}: {why}")
        else:
            more += 1  # counted, not kept: a file of bad lines costs no memory per line
    if not trials and not problems:
        problems.append(f"{source}: no jobs in the file")
    if problems:
        raise SpecError(problems, more)
    return trials


def session_from_jobs(
    trials: list[dict[str, Scalar]],
    name: str,
    template: dict[str, Any] | None = None,
    metric: str = "value",
    image: str = "tuneop/runner:0.1.0",
) -> dict[str, Any]:
    """A TuningSession manifest running exactly ``trials`` (the template's search replaced)."""
    doc: dict[str, Any] = (
        json.loads(json.dumps(template))
        if template
        else {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": KIND,
            "metadata": {"name": name},
            "spec": {"objective": {"metric": metric}, "runner": {"image": image}},
        }
    )
    spec = doc.setdefault("spec", {})
    spec.pop("searchSpace", None)
    spec["trials"] = trials
    spec["totalTrials"] = len(trials)
    optimizer = spec.get("optimizer")
    if isinstance(optimizer, dict) and optimizer.get("type") not in ("grid", "random"):
        optimizer["type"] = "random"  # an explicit list takes no searching optimizer
    spec.pop("warmStart", None)
    return doc
