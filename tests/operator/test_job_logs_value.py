"""A finished Job's logs reach the reconciler as one frozen value from every backend.

``JobBackend.read_logs`` returns ``JobLogs(lines, disruptions)`` (or None when the
pods are gone): the reconciler reads the disruptions any backend reports, without
asking which adapter it is (the list subclass it replaced carried them only from
the Kubernetes adapter, and the reconciler checked its type).
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from tuneop.adapters.memory import MemoryStatus
from tuneop.api.session import SessionRef
from tuneop.api.spec import parse_spec
from tuneop.core.clock import FrozenClock
from tuneop.core.jobs.observed import JobState, ObservedJob
from tuneop.core.results.harvest import JobLogs
from tuneop.core.wire.contract import RESULT_PREFIX
from tuneop.reconciler import Reconciler
from tuneop.testing import FakeJobs, MemoryEvents, MemoryResults

REF = SessionRef(namespace="ns", name="demo", uid="uid-1")
SPEC = parse_spec(
    {
        "objective": {"metric": "loss"},
        "searchSpace": [{"name": "x", "type": "int", "min": 0, "max": 1}],
        "optimizer": {"type": "grid"},
        "totalTrials": 1,
        "runner": {"image": "example/runner:1"},
    }
)


class DisruptedJobs(FakeJobs):
    """A backend (not the Kubernetes adapter) whose finished Job lost two pods to disruption."""

    def read_logs(self, ref: SessionRef, job: ObservedJob) -> JobLogs | None:
        logs = super().read_logs(ref, job)
        return None if logs is None else dataclasses.replace(logs, disruptions=2)


def test_disruptions_any_backend_reports_reach_the_status() -> None:
    jobs = DisruptedJobs()
    reconciler = Reconciler(
        jobs=jobs,
        statuses=MemoryStatus(),
        store=MemoryResults(),
        events=MemoryEvents(),
        clock=FrozenClock(step=1),
    )
    (job,) = reconciler.reconcile(REF, SPEC).create
    body = {"trial": 0, "params": job.params[0], "metrics": {"loss": 0.5}, "status": "succeeded"}
    jobs.finish(job.name, RESULT_PREFIX + json.dumps(body) + "\n")
    status = reconciler.reconcile(REF, SPEC).status
    assert status.infrastructure.evictions == 2
    assert (status.trials.succeeded, status.trials.failed) == (1, 0)


def test_job_logs_are_a_frozen_value() -> None:
    logs = JobLogs(("a\n", "b\n"), disruptions=1)
    assert logs == JobLogs(("a\n", "b\n"), 1) and hash(logs) == hash(JobLogs(("a\n", "b\n"), 1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        logs.disruptions = 0  # type: ignore[misc]
    assert JobLogs() == JobLogs((), 0)


def test_the_in_memory_backend_reads_logs_as_the_value_and_none_when_gone() -> None:
    jobs = FakeJobs()
    jobs.logs["demo-0"] = ["line\n"]
    jobs.logs["demo-1"] = None
    job = ObservedJob(index=0, name="demo-0", trials=(0,), state=JobState.SUCCEEDED)
    assert jobs.read_logs(REF, job) == JobLogs(("line\n",))
    assert jobs.read_logs(REF, dataclasses.replace(job, name="demo-1")) is None
