"""Queueing with Kueue (``spec.queueName``): suspended, labelled Jobs, counts, admission waits.

The planner's side of the protocol Kueue plays: Jobs are created suspended with the queue
label; a queued Job holds a ``maxParallel`` slot but runs nothing; once admitted its trials
run. ``FakeKueue`` below is a test double that plays Kueue's part against the pure planner
(admit the oldest queued Jobs while a quota allows); the real Kueue is in
``tests/e2e/test_kueue.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import kubernetes_validate
import pytest
from core_builders import REF, T0, Session

from builders import spec
from tuneop.api import vocabulary as V
from tuneop.api.spec import SessionSpec, SpecError, parse_spec
from tuneop.api.status import SessionStatus
from tuneop.core.fingerprint import spec_hash
from tuneop.core.jobs.observed import Observed
from tuneop.core.planning.planner import Plan, plan

QUEUE = "team-gpu"


def queued_spec(total: int = 10, **overrides: Any) -> SessionSpec:
    return spec(
        optimizer={"type": "random", "seed": 1},
        totalTrials=total,
        queueName=QUEUE,
        **overrides,
    )


def condition(status: SessionStatus, type_: str) -> tuple[str, str] | None:
    c = next((c for c in status.conditions if c.type == type_), None)
    return (c.status, c.reason) if c else None


@dataclass
class FakeKueue:
    """A test double in Kueue's place: admits queued Jobs, oldest first, up to ``quota``.

    After each reconcile the Jobs the planner created are marked queued (they were
    created suspended); ``admit`` unsuspends as many as the quota has room for.
    """

    session: Session
    quota: int

    def reconcile(self) -> Plan:
        p = self.session.reconcile()
        for c in p.create:
            assert c.manifest["spec"]["suspend"] is True
            self.session.jobs[c.index] = replace(
                self.session.jobs[c.index], queued=True, queued_since=self.session.now
            )
        return p

    def admitted(self) -> list[int]:
        return [j.index for j in self.session.active() if not j.queued]

    def admit(self) -> None:
        room = self.quota - len(self.admitted())
        for j in sorted(self.session.active(), key=lambda j: j.index):
            if room > 0 and j.queued:
                self.session.jobs[j.index] = replace(j, queued=False, queued_since=None)
                room -= 1


# ---- the Job


@pytest.mark.parametrize(
    ("overrides", "suspended", "label"),
    [
        pytest.param({"queueName": QUEUE}, True, QUEUE, id="queued-suspended-and-labelled"),
        pytest.param({}, None, None, id="no-queue-plain-job"),
    ],
)
def test_a_queue_name_creates_jobs_suspended_with_kueues_label(
    overrides: dict[str, Any], suspended: bool | None, label: str | None
) -> None:
    created = plan(spec(**overrides), Observed(session=REF), T0).create
    assert created
    for c in created:
        m = c.manifest
        assert m["spec"].get("suspend") is suspended
        assert m["metadata"]["labels"].get(V.LABEL_QUEUE_NAME) == label
        # The pods carry the session's labels only; Kueue reads the queue on the Job.
        assert V.LABEL_QUEUE_NAME not in m["spec"]["template"]["metadata"]["labels"]
        assert kubernetes_validate.validate(m, "1.30", strict=True) == "1.30"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        pytest.param("queueName", "team gpu", "spec.queueName", id="queue-not-a-label-value"),
        pytest.param("queueName", "-gpu", "spec.queueName", id="queue-leading-dash"),
        pytest.param("queueName", "q" * 64, "spec.queueName", id="queue-past-63"),
        pytest.param("admissionWarningSeconds", 0, "spec.admissionWarningSeconds", id="zero"),
        pytest.param("admissionWarningSeconds", "60", "spec.admissionWarningSeconds", id="text"),
    ],
)
def test_queue_fields_out_of_bounds_are_refused_naming_the_field(
    field: str, value: Any, message: str
) -> None:
    data = spec().model_dump(by_alias=True, exclude_none=True, mode="json")
    data[field] = value
    with pytest.raises(SpecError, match=message):
        parse_spec(data)


def test_the_queue_only_schedules_the_work_so_a_local_session_resumes_across_it() -> None:
    assert spec_hash(spec()) == spec_hash(spec(queueName=QUEUE, admissionWarningSeconds=5))


# ---- counts: queued is neither running nor pending, and holds a maxParallel slot


def test_queued_jobs_count_as_queued_and_hold_their_slots() -> None:
    kueue = FakeKueue(Session(queued_spec(10, maxParallel=5)), quota=2)
    st = kueue.reconcile().status
    assert (st.jobs.active, st.jobs.queued, st.trials.running, st.trials.queued) == (5, 5, 0, 5)
    assert st.trials.pending == 5 and st.phase == "Running"
    assert st.message == "0/10 trials done, 0 running, 5 queued"
    kueue.admit()
    p = kueue.reconcile()
    st = p.status
    assert p.create == ()  # five in flight already: queued Jobs hold their slots
    assert (st.jobs.active, st.jobs.queued, st.trials.running, st.trials.queued) == (5, 3, 2, 3)
    assert st.message == "0/10 trials done, 2 running, 3 queued"


def test_a_job_suspended_again_after_admission_is_queued_again() -> None:
    kueue = FakeKueue(Session(queued_spec(2, maxParallel=2)), quota=2)
    kueue.reconcile()
    kueue.admit()
    assert kueue.reconcile().status.trials.running == 2
    s = kueue.session
    s.jobs[1] = replace(s.jobs[1], queued=True, queued_since=s.now)  # Kueue preempted it
    st = kueue.reconcile().status
    assert (st.trials.running, st.trials.queued, st.jobs.queued) == (1, 1, 1)


@pytest.mark.parametrize(
    ("max_parallel", "quota", "total", "per_job"),
    [
        pytest.param(5, 2, 12, 1, id="quota-below-maxParallel"),
        pytest.param(2, 5, 9, 1, id="maxParallel-below-quota"),
        pytest.param(3, 3, 10, 4, id="packed-jobs"),
    ],
)
def test_a_session_behind_a_fake_kueue_completes_never_past_quota_or_max_parallel(
    max_parallel: int, quota: int, total: int, per_job: int
) -> None:
    s = Session(queued_spec(total, maxParallel=max_parallel, trialsPerJob=per_job))
    kueue = FakeKueue(s, quota=quota)
    p = kueue.reconcile()
    peak = 0
    for _ in range(200):
        if p.status.terminal:
            break
        kueue.admit()
        running = kueue.admitted()
        peak = max(peak, len(running))
        assert len(running) <= min(quota, max_parallel)
        # A queued Job's trials are never counted as running.
        p = kueue.reconcile()
        assert p.status.trials.running == sum(len(s.jobs[i].trials) for i in running)
        if running:
            s.finish(running[0])
        s.later(1)
        p = kueue.reconcile()
    assert p.status.phase == "Succeeded"
    assert p.status.trials.succeeded == total
    assert (p.status.jobs.queued, p.status.trials.queued) == (0, 0)
    assert peak == min(quota, max_parallel)


# ---- a wait too long: the Admitted condition, its event, and the requeue


def waiting_session(warning: int = 600) -> FakeKueue:
    kueue = FakeKueue(Session(queued_spec(3, maxParallel=3, admissionWarningSeconds=warning)), 1)
    kueue.reconcile()
    return kueue


@pytest.mark.parametrize(
    ("waited", "cond", "requeue"),
    [
        pytest.param(0, ("True", V.ADMITTED), 600.0, id="just-queued"),
        pytest.param(599, ("True", V.ADMITTED), 1.0, id="a-second-before"),
        pytest.param(600, ("False", V.NOT_ADMITTED), None, id="at-the-limit"),
        pytest.param(7200, ("False", V.NOT_ADMITTED), None, id="hours"),
    ],
)
def test_a_job_waiting_past_the_warning_time_turns_admitted_false(
    waited: int, cond: tuple[str, str], requeue: float | None
) -> None:
    kueue = waiting_session()
    kueue.session.later(waited)
    p = kueue.reconcile()
    assert condition(p.status, V.ADMITTED) == cond
    assert p.requeue_after == requeue
    assert p.status.phase == "Running"  # a busy queue never fails the session


def test_not_admitted_is_one_warning_event_then_admitted_again_when_kueue_admits() -> None:
    kueue = waiting_session(warning=60)
    kueue.session.later(61)
    warned = kueue.reconcile()
    assert [(e.type, e.reason) for e in warned.events] == [("Warning", V.NOT_ADMITTED)]
    assert "3 Job(s) waited over 60s for admission to LocalQueue team-gpu" in (
        warned.events[0].message
    )
    kueue.session.later(30)
    assert V.NOT_ADMITTED not in [e.reason for e in kueue.reconcile().events]
    kueue.quota = 3
    kueue.admit()
    p = kueue.reconcile()
    assert condition(p.status, V.ADMITTED) == ("True", V.ADMITTED)
    assert p.status.trials.running == 3


def test_a_session_without_a_queue_has_no_admitted_condition() -> None:
    s = Session(spec(optimizer={"type": "random"}, totalTrials=3))
    s.later(10_000)
    assert condition(s.reconcile().status, V.ADMITTED) is None


def test_a_finished_session_says_nothing_waits_any_more() -> None:
    kueue = waiting_session(warning=60)
    kueue.session.later(61)
    kueue.reconcile()
    kueue.quota = 3
    kueue.admit()
    s = kueue.session
    for j in list(s.active()):
        s.finish(j.index)
    p = kueue.reconcile()
    assert p.status.phase == "Succeeded"
    assert condition(p.status, V.ADMITTED) == ("True", V.ADMITTED)


def test_a_deadline_passed_in_the_queue_fails_the_session_and_says_why() -> None:
    kueue = FakeKueue(
        Session(queued_spec(3, admissionWarningSeconds=60, deadlineSeconds=120)), quota=0
    )
    kueue.reconcile()
    kueue.session.later(121)
    p = kueue.reconcile()
    assert (p.status.phase, condition(p.status, V.FAILED)) == (
        "Failed",
        ("True", V.DEADLINE_EXCEEDED),
    )
    assert condition(p.status, V.ADMITTED) == ("False", V.NOT_ADMITTED)
    assert sorted(p.delete) == ["demo-0", "demo-1", "demo-2"]


def test_jobs_left_waiting_after_the_queue_is_taken_off_the_spec_are_still_reported() -> None:
    kueue = waiting_session(warning=60)
    kueue.session.spec = kueue.session.spec.model_copy(update={"queue_name": None})
    kueue.session.later(61)
    p = kueue.reconcile()
    assert condition(p.status, V.ADMITTED) == ("False", V.NOT_ADMITTED)
    assert "for admission to their LocalQueue" in p.status.conditions[-1].message
    assert p.status.jobs.queued == 3
