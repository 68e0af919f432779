"""The Suggester port keeps one study per session object, also under concurrent reconciles.

kopf runs each reconcile in a thread (one at a time per session, many sessions at
once). Eight sessions with the same spec, each in its own namespace and each with
its own objective, are reconciled from eight threads at once over one
``SessionStudies``, as the operator does; after every reconcile that asked for
trials, the session's study holds exactly its own completed trials, and each
session launches what it launches when it runs alone. (The cache this replaced was
keyed by the spec: the eight sessions shared one study, which held another
session's trials.)
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field

from test_handlers import Cluster, manifest

from tuneop.adapters.memory import MemoryStatus
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec, parse_spec
from tuneop.controller import handlers
from tuneop.controller.scheduling import session_ref
from tuneop.core.clock import FrozenClock
from tuneop.core.jobs.observed import JobState
from tuneop.core.suggest.bayesian import SessionStudies
from tuneop.core.wire.contract import RESULT_PREFIX
from tuneop.ports import Suggester
from tuneop.reconciler import Reconciler
from tuneop.testing import FakeJobs, MemoryEvents, MemoryResults

# More trials than TPE's 10 random start-up ones: the later suggestions come from the
# session's own history, so a study that mixed sessions would show in them.
SPEC: SessionSpec = parse_spec(
    {
        "objective": {"metric": "loss"},
        "searchSpace": [{"name": "x", "type": "float", "min": 0, "max": 5}],
        "optimizer": {"type": "bayesian", "seed": 3},
        "maxParallel": 2,
        "totalTrials": 14,
        "runner": {"image": "example/runner:1"},
    }
)
SESSIONS = 8


def ref(i: int) -> SessionRef:
    return SessionRef(namespace=f"team-{i}", name="tune", uid=f"uid-{i}")


@dataclass
class Session:
    """One session's cluster: its Jobs finish with the loss ``(x - target)**2``."""

    ref: SessionRef
    target: float
    jobs: FakeJobs = field(default_factory=FakeJobs)
    results: MemoryResults = field(default_factory=MemoryResults)
    launched: list[float] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    def finish_all(self) -> None:
        for job in list(self.jobs.jobs.values()):
            if job.state is not JobState.ACTIVE:
                continue
            lines = []
            for trial, params in zip(job.trials, job.params, strict=True):
                loss = (float(params["x"]) - self.target) ** 2
                body = {"trial": trial, "params": params, "metrics": {"loss": loss}}
                lines.append(RESULT_PREFIX + json.dumps({**body, "status": "succeeded"}))
            self.jobs.finish(job.name, "\n".join(lines) + "\n")

    def check_study(self, suggester: SessionStudies) -> None:
        """The session's study holds its own completed trials, no other session's."""
        study = suggester.study(self.ref)
        own = {(r.params["x"], r.value) for r in self.results.history(self.ref)}
        held = set() if study is None else {(t.params["x"], t.value) for t in study.trials}
        held -= {(x, None) for x, _ in held}  # suggestions told FAIL: no value, not results
        if held != own:
            self.wrong.append(f"{self.ref.key}: study holds {sorted(held)}, own {sorted(own)}")

    def run(self, suggester: Suggester, start: threading.Barrier | None = None) -> None:
        reconciler = Reconciler(
            jobs=self.jobs,
            statuses=MemoryStatus(),
            store=self.results,
            events=MemoryEvents(),
            clock=FrozenClock(step=1),
            suggester=suggester,
        )
        if start is not None:
            start.wait()  # every thread's first reconcile at once
        plan = reconciler.reconcile(self.ref, SPEC)
        while not plan.status.terminal:
            self.launched += [float(p["x"]) for job in plan.create for p in job.params]
            if plan.create and isinstance(suggester, SessionStudies):
                self.check_study(suggester)
            self.finish_all()
            plan = reconciler.reconcile(self.ref, SPEC)
        assert plan.status.phase == "Succeeded"


def test_same_spec_sessions_in_other_namespaces_keep_their_own_study_across_threads() -> None:
    shared = SessionStudies()
    sessions = [Session(ref(i), target=i * 0.6) for i in range(SESSIONS)]
    start = threading.Barrier(SESSIONS)
    failures: list[BaseException] = []

    def drive(session: Session) -> None:
        try:
            session.run(shared, start)
        except BaseException as err:  # reported below, with the session it happened in
            failures.append(err)

    threads = [threading.Thread(target=drive, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    assert [w for s in sessions for w in s.wrong] == []
    for s in sessions:
        assert len(s.results.history(s.ref)) == SPEC.total_trials
        assert shared.study(s.ref) is None  # released when the session finished

    # What each session launched is what it launches alone, with a suggester of its own.
    for i, s in enumerate(sessions):
        alone = Session(ref(i), target=s.target)
        alone.run(SessionStudies())
        assert s.launched == alone.launched, s.ref.key
    # The sessions learned from their own objectives: past the random start-up trials,
    # their suggestions differ.
    assert len({tuple(s.launched[10:]) for s in sessions}) > 1


def test_a_session_created_again_under_its_name_starts_a_study_of_its_own() -> None:
    suggester = SessionStudies()
    first = Session(ref(0), target=1.0)
    reconciler = Reconciler(
        jobs=first.jobs,
        statuses=MemoryStatus(),
        store=first.results,
        events=MemoryEvents(),
        clock=FrozenClock(step=1),
        suggester=suggester,
    )
    plan = reconciler.reconcile(first.ref, SPEC)
    first.finish_all()
    reconciler.reconcile(first.ref, SPEC)
    assert suggester.study(first.ref) is not None
    again = SessionRef(namespace="team-0", name="tune", uid="uid-new")
    assert suggester.study(again) is None  # the old object's study is not the new one's
    suggester.suggest(again, SPEC, [], [], 0, 1)
    study = suggester.study(again)
    assert study is not None and all(t.value is None for t in study.trials)
    assert plan.create  # (the first object had asked for trials)


def test_release_without_a_uid_forgets_whichever_object_holds_the_name() -> None:
    suggester = SessionStudies()
    suggester.suggest(ref(1), SPEC, [], [], 0, 1)
    suggester.release(SessionRef(namespace="team-1", name="other"))
    assert suggester.study(ref(1)) is not None
    suggester.release(SessionRef(namespace="team-1", name="tune", uid="uid-stale"))
    assert suggester.study(ref(1)) is not None  # a stale object's release keeps the new one's
    suggester.release(SessionRef(namespace="team-1", name="tune"))  # a deletion, by name
    assert suggester.study(ref(1)) is None


def test_the_operator_releases_a_deleted_sessions_study() -> None:
    """kopf's DELETED event reaches the suggester through the runtime's forgetters."""
    cluster = Cluster()
    cluster.apply(manifest(optimizer={"type": "bayesian", "seed": 1}, totalTrials=20))
    plan = cluster.reconcile()
    assert plan is not None and plan.create
    suggester = cluster.runtime.wired.reconciler.suggester
    assert isinstance(suggester, SessionStudies)
    deleted = cluster.body()
    assert suggester.study(session_ref(deleted)) is not None
    asyncio.run(
        handlers.session_event(event={"type": "DELETED", "object": deleted}, memo=cluster.memo)
    )
    assert suggester.study(session_ref(deleted)) is None
