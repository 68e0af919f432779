"""JSONL job plans: one trial's parameters per line, turned into a session.

Each non-blank line (``#`` starts a comment line) is a JSON object: either
``{"params": {...}}`` or the parameters themselves. A ``job_id`` beside
``params`` (a string or a number) is kept as the trial's ``job_id``
parameter, so it shows in each result, the CSV and summaries; other keys are
ignored. ``session_from_jobs`` builds an explicit-trials
TuningSession around them, optionally from a template manifest.
"""

from __future__ import annotations

import json
from typing import Any

from tuneop.api.spec import API_GROUP, API_VERSION, KIND, Scalar, SpecError

__all__ = ["parse_jobs", "session_from_jobs"]


def parse_jobs(text: str, source: str = "jobs file") -> list[dict[str, Scalar]]:
    trials: list[dict[str, Scalar]] = []
    problems: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as err:
            problems.append(f"{source}:{n}: not JSON ({err.msg})")
            continue
        params = obj.get("params", obj) if isinstance(obj, dict) else None
        if not isinstance(params, dict) or not params:
            problems.append(f"{source}:{n}: params must be a non-empty JSON object")
            continue
        bad = [k for k, v in params.items() if not isinstance(v, int | float | str | bool)]
        if bad:
            problems.append(f"{source}:{n}: params.{bad[0]}: must be a number, string or bool")
            continue
        job_id = obj.get("job_id") if "params" in obj else None
        if isinstance(job_id, str | int) and not isinstance(job_id, bool):
            params = {**params, "job_id": job_id} if "job_id" not in params else params
        trials.append(params)
    if not trials and not problems:
        problems.append(f"{source}: no jobs in the file")
    if problems:
        raise SpecError(problems)
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
