"""The reconcile step the operator runs, driven with the in-memory fakes.

``Reconciler`` over ``FakeJobs``, ``MemoryStatus``, ``MemoryEvents`` and
``MemoryResults``: a session from create to Succeeded, the harvest-then-delete
order, a restart with a fresh Reconciler, a status-write Conflict, and an
invalid spec.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tuneop.adapters.memory import FakeJobs, MemoryEvents, MemoryResults, MemoryStatus
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec, parse_spec
from tuneop.api.status import SessionStatus
from tuneop.core.jobs.observed import JobState, ObservedJob
from tuneop.core.planning.planner import Event, JobToCreate
from tuneop.core.suggest.bayesian import CachedSuggester
from tuneop.core.wire.contract import RESULT_PREFIX, Outcome, TrialResult
from tuneop.ports import Conflict, TransientError
from tuneop.reconciler import Reconciler

REF = SessionRef(namespace="ns", name="demo", uid="uid-1", generation=1)
PREFIX_LINE = RESULT_PREFIX
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def spec(**overrides: Any) -> SessionSpec:
    data: dict[str, Any] = {
        "objective": {"metric": "loss"},
        "searchSpace": [{"name": "x", "type": "int", "min": 0, "max": 5}],
        "optimizer": {"type": "grid"},
        "maxParallel": 2,
        "runner": {"image": "example/runner:1"},
    }
    data.update(overrides)
    return parse_spec(data)


def report(job: ObservedJob, value: float | None = None) -> str:
    lines = ["noise before"]
    for t, p in zip(job.trials, job.params, strict=True):
        v = float(p["x"]) if value is None else value  # type: ignore[arg-type]
        body = {"trial": t, "params": p, "metrics": {"loss": v}, "status": "succeeded"}
        lines.append(RESULT_PREFIX + json.dumps(body))
    return "\n".join(lines) + "\n"


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@dataclass
class Journal:
    """One ordered record of what the reconciler did, across all the fakes."""

    entries: list[str] = field(default_factory=list)


class JournalJobs(FakeJobs):
    journal: Journal

    def create_job(self, ref: SessionRef, job: JobToCreate) -> None:
        self.journal.entries.append(f"create {job.name}")
        super().create_job(ref, job)

    def delete_job(self, ref: SessionRef, name: str) -> None:
        self.journal.entries.append(f"delete {name}")
        super().delete_job(ref, name)


class JournalStatus(MemoryStatus):
    journal: Journal

    def write(self, ref: SessionRef, status: SessionStatus, version: str | None) -> None:
        super().write(ref, status, version)
        self.journal.entries.append(f"status {status.harvested_jobs}")


class JournalResults(MemoryResults):
    journal: Journal

    def persist(self, ref: SessionRef, spec: SessionSpec, results: Sequence[TrialResult]) -> None:
        self.journal.entries.append(f"persist {sorted(r.trial for r in results)}")
        super().persist(ref, spec, results)


@dataclass
class World:
    """The fake cluster state that outlives any one Reconciler (an operator restart)."""

    journal: Journal = field(default_factory=Journal)
    jobs: JournalJobs = field(default_factory=JournalJobs)
    status: JournalStatus = field(default_factory=JournalStatus)
    results: JournalResults = field(default_factory=JournalResults)
    events: MemoryEvents = field(default_factory=MemoryEvents)
    clock: Clock = field(default_factory=Clock)

    def __post_init__(self) -> None:
        self.jobs.journal = self.status.journal = self.results.journal = self.journal

    def reconciler(self) -> Reconciler:
        return Reconciler(
            jobs=self.jobs,
            statuses=self.status,
            store=self.results,
            mirrors=[self.results],
            events=self.events,
            clock=self.clock,
        )

    def finish_all(self) -> None:
        for job in list(self.jobs.jobs.values()):
            if job.state is JobState.ACTIVE:
                self.jobs.finish(job.name, report(job))


def test_a_session_runs_from_create_to_succeeded() -> None:
    world = World()
    s = spec()
    plan = world.reconciler().reconcile(REF, s)
    assert [c.name for c in plan.create] == ["demo-0", "demo-1"]
    assert plan.status.phase == "Running"
    for _ in range(10):
        world.finish_all()
        plan = world.reconciler().reconcile(REF, s)
        if plan.status.terminal:
            break
    st = world.status.status
    assert st.phase == "Succeeded" and st.exit_code == 0
    assert (st.trials.total, st.trials.succeeded, st.trials.failed, st.trials.running) == (
        6,
        6,
        0,
        0,
    )
    assert st.jobs.launched == 6 and st.jobs.harvested == 6 and st.jobs.active == 0
    assert st.best is not None and st.best.trial == 0 and st.best.value == 0.0
    assert [e.trial for e in st.leaderboard] == [0, 1, 2, 3, 4]
    assert st.harvested_jobs == "0-5" and st.inflight == ""
    assert sorted(world.results.results[REF.key]) == [0, 1, 2, 3, 4, 5]
    assert world.jobs.created == [f"demo-{i}" for i in range(6)]
    assert sorted(world.jobs.deleted) == sorted(world.jobs.created)
    reasons = [e.reason for e in world.events.events]
    assert reasons.count("TrialsStarted") == 6
    assert reasons.count("TrialsFinished") == 6
    assert reasons.count("NewBest") == 1
    assert reasons[-1] == "Succeeded"


def test_results_are_persisted_then_recorded_then_the_job_deleted() -> None:
    world = World()
    s = spec(maxParallel=1, searchSpace=[{"name": "x", "type": "int", "min": 0, "max": 0}])
    world.reconciler().reconcile(REF, s)
    world.finish_all()
    world.journal.entries.clear()
    world.reconciler().reconcile(REF, s)
    assert world.journal.entries == ["persist [0]", "status 0", "delete demo-0"]


def test_a_restart_creates_no_duplicate_job_and_loses_no_result() -> None:
    world = World()
    s = spec()
    world.reconciler().reconcile(REF, s)
    world.finish_all()
    # The operator restarts: a fresh Reconciler, the same cluster (Jobs, status).
    for _ in range(10):
        plan = world.reconciler().reconcile(REF, s)
        if plan.status.terminal:
            break
        world.finish_all()
    assert len(world.jobs.created) == len(set(world.jobs.created)) == 6
    assert world.status.status.trials.succeeded == 6
    assert sorted(world.results.results[REF.key]) == list(range(6))


def test_a_restart_between_create_and_status_write_adopts_the_jobs() -> None:
    world = World()
    s = spec()

    class Crash(Exception):
        pass

    def crash(*_: Any) -> None:
        raise Crash

    broken = world.reconciler()
    broken.statuses = type("S", (), {"read": world.status.read, "write": crash})()  # type: ignore[assignment]
    with pytest.raises(Crash):
        broken.reconcile(REF, s)
    assert world.jobs.created == ["demo-0", "demo-1"]
    assert world.status.writes == 0
    plan = world.reconciler().reconcile(REF, s)
    assert plan.create == ()  # the Jobs the crashed reconcile made are adopted
    assert world.status.status.inflight == "0=0,1=1"
    assert world.status.status.next_job == 2


class ConflictOnce(JournalStatus):
    """The first write finds the object changed (kopf patched its annotations, say)."""

    conflicts: int = 1

    def write(self, ref: SessionRef, status: SessionStatus, version: str | None) -> None:
        if self.conflicts:
            self.conflicts -= 1
            self.version += 1  # another writer got there first
            raise Conflict("changed")
        super().write(ref, status, version)


def test_a_conflict_on_the_status_write_re_observes_and_creates_each_job_once() -> None:
    world = World(status=ConflictOnce())
    s = spec()
    plan = world.reconciler().reconcile(REF, s)
    assert world.jobs.created == ["demo-0", "demo-1"]
    assert plan.create == ()  # the retry saw the Jobs the first attempt made
    assert world.status.writes == 1
    st = world.status.status
    assert st.inflight == "0=0,1=1" and st.next_job == 2 and st.trials.running == 2
    started = [e.message for e in world.events.events if e.reason == "TrialsStarted"]
    assert started == ["job 0: trials 0", "job 1: trials 1"]  # carried over, once each


def test_a_conflict_during_harvest_persists_idempotently_and_counts_once() -> None:
    world = World()
    s = spec(maxParallel=1)
    world.reconciler().reconcile(REF, s)
    world.finish_all()
    world.status.__class__ = ConflictOnce
    world.status.conflicts = 1  # type: ignore[attr-defined]
    world.reconciler().reconcile(REF, s)
    st = world.status.status
    assert st.trials.succeeded == 1 and st.harvested_jobs == "0"
    assert world.jobs.created == ["demo-0", "demo-1"]
    assert world.journal.entries.count("delete demo-0") == 1


def test_an_invalid_spec_is_recorded_without_touching_jobs() -> None:
    world = World()
    status = world.reconciler().reject(REF, ["spec.workers: at most 1000 trials per Job"])
    assert status.phase == "Failed" and status.exit_code == 2
    failed = next(c for c in status.conditions if c.type == "Failed")
    assert failed.reason == "InvalidSpec" and "spec.workers" in failed.message
    assert world.jobs.created == [] and world.jobs.deleted == []
    assert [e.reason for e in world.events.events] == ["InvalidSpec"]


def test_failed_trials_are_counted_and_the_job_kept_with_keep_failed() -> None:
    world = World()
    s = spec(maxParallel=1, jobCleanup="KeepFailed", totalTrials=1)
    world.reconciler().reconcile(REF, s)
    world.jobs.finish("demo-0", "crashed\n", state=JobState.FAILED)
    plan = world.reconciler().reconcile(REF, s)
    st = world.status.status
    assert st.trials.failed == 1 and st.phase == "Failed"
    assert plan.persist[0].outcome is Outcome.FAILED
    assert world.jobs.deleted == []
    assert any(e == Event("Warning", "TrialFailed", e.message) for e in plan.events)


def test_a_finished_bayesian_session_releases_its_study() -> None:
    world = World()
    s = spec(
        optimizer={"type": "bayesian", "seed": 3},
        searchSpace=[{"name": "x", "type": "float", "min": 0, "max": 5}],
        totalTrials=6,
    )
    suggester = CachedSuggester()
    reconciler = world.reconciler()
    reconciler.suggest = suggester
    plan = reconciler.reconcile(REF, s)
    while not plan.status.terminal:
        assert len(suggester._studies) == 1  # kept between reconciles while it runs
        world.finish_all()
        plan = reconciler.reconcile(REF, s)
    assert plan.status.phase == "Succeeded"
    assert suggester._studies == {}


def test_a_conflict_while_recording_an_invalid_spec_is_read_again_and_retried() -> None:
    world = World(status=ConflictOnce())
    status = world.reconciler().reject(REF, ["spec.maxParallel: must be >= 1"])
    assert status.phase == "Failed"
    assert world.status.status.phase == "Failed" and world.status.writes == 1
    assert [e.reason for e in world.events.events] == ["InvalidSpec"]


@dataclass
class DownStore(JournalResults):
    """A result store that cannot take results until ``up`` is set."""

    up: bool = False

    def persist(self, ref: SessionRef, spec: SessionSpec, results: Sequence[TrialResult]) -> None:
        if not self.up:
            raise TransientError("store unreachable")
        super().persist(ref, spec, results)


def test_results_that_cannot_be_stored_wait_in_their_jobs_until_the_store_is_back() -> None:
    world = World(results=DownStore())
    s = spec()
    world.reconciler().reconcile(REF, s)
    world.finish_all()  # demo-0 and demo-1 finish while the store is down
    plan = world.reconciler().reconcile(REF, s)
    assert plan.status.trials.succeeded == 0 and plan.status.harvested_jobs == ""
    assert sorted(world.jobs.jobs) == ["demo-0", "demo-1"]  # kept, with their logs
    assert world.jobs.deleted == []
    assert isinstance(world.results, DownStore)
    world.results.up = True
    plan = world.reconciler().reconcile(REF, s)
    assert plan.status.trials.succeeded == 2
    assert sorted(world.results.results[REF.key]) == [0, 1]
    assert sorted(world.jobs.deleted) == ["demo-0", "demo-1"]


POISON = [
    "[" * 5000,  # nesting that once raised RecursionError out of the parser
    '{"trial": 0, "metrics": {"loss": 1}, "status": "succeeded", "error": "' + "e" * 2**21 + '"}',
    "\x1b[2J\x00\udcff",
]


@pytest.mark.parametrize("poison", POISON, ids=["nested", "huge-line", "control-bytes"])
def test_a_trial_printing_poison_fails_alone_and_the_reconcile_goes_on(poison: str) -> None:
    world = World()
    s = spec(trialsPerJob=2, maxParallel=1)
    world.reconciler().reconcile(REF, s)
    (only,) = world.jobs.jobs.values()
    good = report(only).splitlines()[-1]  # trial 1 reports properly
    world.jobs.finish(only.name, f"{PREFIX_LINE}{poison}\n{good}\n")
    plan = world.reconciler().reconcile(REF, s)
    by_trial = {r.trial: r for r in world.results.results[REF.key].values()}
    assert by_trial[0].outcome is Outcome.FAILED
    assert by_trial[1].outcome is Outcome.SUCCEEDED
    assert plan.status.trials.failed == 1 and plan.status.trials.succeeded == 1
