"""A worker Job held suspended for Kueue, as the operator reads, caches and watches it."""

from __future__ import annotations

from typing import Any

import pytest
from operator_fakes import T0, condition, grid_spec, job_json

from tuneop.adapters.kube.job_cache import slim
from tuneop.adapters.kube.job_status import observed_job, parse_time
from tuneop.api import vocabulary as V
from tuneop.api.session import SessionRef
from tuneop.controller.handlers import job_event_matters
from tuneop.core.jobs.observed import JobState

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


@pytest.mark.parametrize(
    ("suspend", "conditions", "matters"),
    [
        pytest.param(True, None, True, id="just-created-suspended"),
        pytest.param(True, [suspended()], False, id="waiting"),
        pytest.param(False, [suspended()], True, id="just-admitted"),
        pytest.param(False, [suspended(status="False")], False, id="running"),
        pytest.param(True, [suspended(status="False")], True, id="preempted"),
        pytest.param(None, None, False, id="no-queue-running"),
        pytest.param(False, [condition("Complete")], True, id="finished"),
    ],
)
def test_an_admission_or_preemption_is_a_job_event_that_matters(
    suspend: bool | None, conditions: list[dict[str, Any]] | None, matters: bool
) -> None:
    job = queued_json(suspend, conditions)
    if suspend is None:
        job["metadata"]["labels"].pop(V.LABEL_QUEUE_NAME)
    assert job_event_matters("MODIFIED", job) is matters
