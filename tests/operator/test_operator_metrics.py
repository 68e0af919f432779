"""The operator's Prometheus metrics: trial counters from plans, sessions by phase."""

from __future__ import annotations

from prometheus_client import REGISTRY

from tuneop.adapters.memory import MemoryHistory
from tuneop.api.session import SessionRef
from tuneop.api.spec import parse_spec
from tuneop.controller.metrics import PhaseTracker, record_plan
from tuneop.core.planning.planner import Plan
from tuneop.core.wire.contract import Outcome, TrialResult


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def result(trial: int, outcome: Outcome) -> TrialResult:
    return TrialResult(trial=trial, job_index=trial, params={}, outcome=outcome)


def test_harvested_trials_are_counted_by_outcome() -> None:
    before_ok = sample("tuneop_trials_finished_total", outcome="Succeeded")
    before_lost = sample("tuneop_trials_finished_total", outcome="ResultsLost")
    before_failed = sample("tuneop_trials_failed_total")
    persist = (
        result(0, Outcome.SUCCEEDED),
        result(1, Outcome.RESULTS_LOST),
        result(2, Outcome.TIMED_OUT),
        result(3, Outcome.CANCELLED),
    )
    record_plan(Plan(persist=persist))
    assert sample("tuneop_trials_finished_total", outcome="Succeeded") == before_ok + 1
    assert sample("tuneop_trials_finished_total", outcome="ResultsLost") == before_lost + 1
    assert sample("tuneop_trials_failed_total") == before_failed + 2  # lost and timed out


def test_sessions_by_phase_follow_each_sessions_latest_phase() -> None:
    tracker = PhaseTracker()
    tracker.set("ns/a", "Running")
    tracker.set("ns/b", "Running")
    tracker.set("ns/a", "Succeeded")
    assert tracker.counts()["Running"] == 1 and tracker.counts()["Succeeded"] == 1
    assert sample("tuneop_sessions", phase="Running") == 1
    tracker.forget("ns/b")
    assert sample("tuneop_sessions", phase="Running") == 0


def test_the_memory_history_keeps_only_bayesian_sessions() -> None:
    ref = SessionRef("ns", "s")
    base = {
        "objective": {"metric": "loss"},
        "searchSpace": [{"name": "x", "type": "float", "min": 0, "max": 1}],
        "totalTrials": 4,
        "runner": {"image": "r:1"},
    }
    history = MemoryHistory()
    history.persist(
        ref, parse_spec({**base, "optimizer": {"type": "random"}}), [result(0, Outcome.SUCCEEDED)]
    )
    assert history.history(ref) == []
    history.persist(
        ref, parse_spec({**base, "optimizer": {"type": "bayesian"}}), [result(1, Outcome.SUCCEEDED)]
    )
    assert [r.trial for r in history.history(ref)] == [1]
    history.forget(ref.key)
    assert history.history(ref) == []
