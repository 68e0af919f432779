"""Builders of the objects the Kubernetes API hands back, for the operator tests: Jobs
as the API server returns them, their conditions and pods, and a worker's result log.

``operator_fakes`` re-exports them beside the fake API server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from builders import spec
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.core.jobs.manifests import job_manifest
from tuneop.core.jobs.observed import Params
from tuneop.core.wire.contract import RESULT_PREFIX

Json = dict[str, Any]
T0 = "2026-01-01T12:00:00Z"


def result_log(trials: list[tuple[int, Params]], value: Callable[[Params], float]) -> str:
    lines = ["worker starting"]
    for t, p in trials:
        body = {"trial": t, "params": p, "metrics": {"loss": value(p)}, "status": "succeeded"}
        lines.append(RESULT_PREFIX + json.dumps(body))
    return "\n".join(lines) + "\n"


def loss(params: Params) -> float:
    return float(sum(v for v in params.values() if isinstance(v, int | float)))


def grid_spec(**overrides: Any) -> SessionSpec:
    """A grid session over x in 0..9 (``overrides`` are spec fields, in the CRD's spelling)."""
    return spec(**overrides)


def job_json(
    spec: SessionSpec,
    ref: SessionRef,
    index: int,
    trials: tuple[int, ...],
    params: list[Params] | None = None,
    conditions: list[Json] | None = None,
    **status: Any,
) -> Json:
    """A Job as the API server returns it: the core's manifest plus metadata and status."""
    job = job_manifest(spec, ref, index, trials, params or [{"x": t} for t in trials])
    job["metadata"]["uid"] = f"job-uid-{index}"
    job["metadata"]["creationTimestamp"] = T0
    job["status"] = {"startTime": T0, **status}
    if conditions is not None:
        job["status"]["conditions"] = conditions
    return job


def condition(kind: str, reason: str | None = None, when: str = "2026-01-01T12:05:00Z") -> Json:
    cond: Json = {"type": kind, "status": "True", "lastTransitionTime": when}
    if reason:
        cond["reason"] = reason
    return cond


def pod_json(name: str, job: str, created: str = T0, **status: Any) -> Json:
    return {
        "metadata": {
            "name": name,
            "labels": {"job-name": job},
            "creationTimestamp": created,
            "ownerReferences": [{"kind": "Job", "name": job, "controller": True}],
        },
        "status": dict(status),
    }
