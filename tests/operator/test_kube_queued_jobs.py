"""A worker Job held suspended for Kueue, as the Kubernetes adapter reads it (and caches it)."""

from __future__ import annotations

from typing import Any

import pytest
from operator_fakes import T0, condition, grid_spec, job_json

from tuneop.adapters.kube.job_cache import slim
from tuneop.adapters.kube.job_status import observed_job, parse_time
from tuneop.api.session import SessionRef
from tuneop.core.observed import JobState

REF = SessionRef(namespace="ns", name="demo", uid="uid-1")
SUSPENDED_AT = "2026-01-01T12:07:00Z"


def queued_json(
    suspend: bool | None, conditions: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    job = job_json(grid_spec(queueName="gpu"), REF, 0, (0,), conditions=conditions)
    if suspend is None:
        job["spec"].pop("suspend")
    else:
        job["spec"]["suspend"] = suspend
    job["status"].pop("startTime")  # a suspended Job has not started
    return job


def suspended(when: str = SUSPENDED_AT, status: str = "True") -> dict[str, Any]:
    cond = condition("Suspended", "JobSuspended", when)
    cond["status"] = status
    return cond


@pytest.mark.parametrize(
    ("suspend", "conditions", "queued", "since"),
    [
        pytest.param(True, None, True, T0, id="new-suspended-job-waits-since-creation"),
        pytest.param(True, [suspended()], True, SUSPENDED_AT, id="suspended-condition-time"),
        pytest.param(False, [suspended(status="False")], False, None, id="admitted"),
        pytest.param(None, None, False, None, id="no-queue"),
        pytest.param(True, [condition("Failed", "DeadlineExceeded")], False, None, id="ended"),
    ],
)
def test_a_suspended_active_job_is_queued_since_it_began_to_wait(
    suspend: bool | None, conditions: list[dict[str, Any]] | None, queued: bool, since: str | None
) -> None:
    for job in (queued_json(suspend, conditions), slim(queued_json(suspend, conditions))):
        found = observed_job(job)
        assert found is not None
        assert (found.queued, found.queued_since) == (queued, parse_time(since))
        if queued:
            assert found.state is JobState.ACTIVE and found.started_at is None
