"""``BestConfigMap``: the best params exported as ``<session>-best``, written on change."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from operator_fakes import FakeApi, fake_kube, http_error

from tuneop.adapters.kube.best import BestConfigMap, best_name
from tuneop.adapters.kube.ratelimit import TokenBucket
from tuneop.adapters.kube.transport import Kube
from tuneop.adapters.kube.yielding import Yielding
from tuneop.api.session import SessionRef
from tuneop.api.spec import parse_spec
from tuneop.api.status import SessionStatus, TrialRef

REF = SessionRef(namespace="ns", name="demo", uid="uid-1")
SPEC = parse_spec(
    {
        "objective": {"metric": "loss", "direction": "maximize"},
        "searchSpace": [{"name": "x", "type": "int", "min": 0, "max": 3}],
        "optimizer": {"type": "grid"},
        "runner": {"image": "r:1"},
    }
)


def status(trial: int, value: float, phase: str = "Running") -> SessionStatus:
    return SessionStatus(
        phase=phase,
        best=TrialRef(trial=trial, value=value, job_index=trial, params={"x": trial}),
    )


@dataclass
class Time:
    """The monotonic clock of the limiter and the yielding writes; a sleep moves it."""

    now: float = 100.0
    slept: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def yielding_sink(api: FakeApi, t: Time) -> BestConfigMap:
    """The operator's best ConfigMap: 10 writes/s, a burst of 10, writes that yield."""
    limiter = TokenBucket(qps=10, burst=10, clock=t.clock, sleep=t.sleep)
    return BestConfigMap(Kube(send=api, limiter=limiter), yielding=Yielding(limiter, clock=t.clock))


def written_params(api: FakeApi) -> list[dict[str, int]]:
    """The params of each ConfigMap created (one create per name)."""
    return [
        json.loads(api.configmaps["ns", name]["data"]["params.json"])
        for name in api.names("create_namespaced_config_map")
    ]


def test_the_configmap_is_created_owned_by_the_session() -> None:
    api = FakeApi()
    BestConfigMap(fake_kube(api)).record_status(REF, SPEC, status(2, 9.5))
    cm = api.configmaps["ns", "demo-best"]
    assert json.loads(cm["data"]["params.json"]) == {"x": 2}
    best = json.loads(cm["data"]["best.json"])
    assert best == {
        "session": "ns/demo",
        "trial": 2,
        "metric": "loss",
        "direction": "maximize",
        "value": 9.5,
        "jobIndex": 2,
        "params": {"x": 2},
    }
    (owner,) = cm["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("TuningSession", "uid-1", True)


def test_an_unchanged_best_costs_no_call_and_a_new_one_replaces() -> None:
    api = FakeApi()
    sink = BestConfigMap(fake_kube(api))
    sink.record_status(REF, SPEC, status(2, 9.5))
    calls = len(api.calls)
    sink.record_status(REF, SPEC, status(2, 9.5))
    sink.record_status(REF, SPEC, SessionStatus())  # no best yet: nothing to do
    assert len(api.calls) == calls
    sink.record_status(REF, SPEC, status(3, 10.0))
    assert api.names("replace_namespaced_config_map") == ["demo-best"]
    assert json.loads(api.configmaps["ns", "demo-best"]["data"]["params.json"]) == {"x": 3}


def test_after_a_restart_a_current_configmap_is_read_not_rewritten() -> None:
    api = FakeApi()
    BestConfigMap(fake_kube(api)).record_status(REF, SPEC, status(2, 9.5))
    fresh = BestConfigMap(fake_kube(api))
    fresh.record_status(REF, SPEC, status(2, 9.5))
    assert api.names("create_namespaced_config_map") == ["demo-best"]
    assert api.names("replace_namespaced_config_map") == []


def test_failures_are_not_raised_and_retried_on_the_next_change() -> None:
    api = FakeApi()
    sink = BestConfigMap(fake_kube(api))
    api.fail_next("create_namespaced_config_map", http_error(500))
    sink.record_status(REF, SPEC, status(2, 9.5))
    assert api.configmaps == {}
    sink.record_status(REF, SPEC, status(2, 9.5))
    assert ("ns", "demo-best") in api.configmaps


def test_a_foreign_configmap_of_that_name_is_left_alone() -> None:
    api = FakeApi()
    api.configmaps["ns", "demo-best"] = {
        "metadata": {"name": "demo-best", "resourceVersion": "1"},
        "data": {"mine": "yes"},
    }
    BestConfigMap(fake_kube(api)).record_status(REF, SPEC, status(2, 9.5))
    assert api.configmaps["ns", "demo-best"]["data"] == {"mine": "yes"}


def test_long_session_names_give_valid_configmap_names() -> None:
    name = best_name("a" * 253)
    assert len(name) <= 253 and name.endswith("-best")
    assert best_name("a" * 253) != best_name("a" * 252 + "b")


def test_a_running_sessions_best_waits_for_the_reconciles_writes_then_is_written() -> None:
    api, t = FakeApi(), Time()
    sink = yielding_sink(api, t)
    sink.record_status(REF, SPEC, status(2, 9.5))
    assert sink.yielding is not None and sink.yielding.run_due() == 0  # not settled
    assert api.calls == []
    t.now += 1.0
    for _ in range(10):  # the reconciles' writes took the whole budget meanwhile
        sink.kube.limiter.reserve()
    assert sink.yielding.run_due() == 1
    assert t.slept and sum(t.slept) == pytest.approx(0.5)  # until half the burst is back
    assert written_params(api) == [{"x": 2}]


@pytest.mark.parametrize(
    ("bests", "written"),
    [
        ([(2, 9.5), (3, 10.0), (4, 11.0)], [{"x": 4}]),  # coalesced: the last one
        ([(2, 9.5), (2, 9.5)], [{"x": 2}]),
    ],
)
def test_bests_pending_together_are_written_once(
    bests: list[tuple[int, float]], written: list[dict[str, int]]
) -> None:
    api, t = FakeApi(), Time()
    sink = yielding_sink(api, t)
    for trial, value in bests:
        sink.record_status(REF, SPEC, status(trial, value))
    t.now += 1.0
    assert sink.yielding is not None and sink.yielding.run_due() == 1
    assert written_params(api) == written
    assert api.names("replace_namespaced_config_map") == []


def test_a_finished_sessions_best_is_written_at_once_and_replaces_the_pending_one() -> None:
    api, t = FakeApi(), Time()
    sink = yielding_sink(api, t)
    sink.record_status(REF, SPEC, status(2, 9.5))
    sink.record_status(REF, SPEC, status(3, 10.0, phase="Succeeded"))
    assert written_params(api) == [{"x": 3}]
    assert sink.yielding is not None and sink.yielding.pending() == []


def test_what_is_pending_at_shutdown_is_written_and_a_deleted_session_is_not() -> None:
    api, t = FakeApi(), Time()
    sink = yielding_sink(api, t)
    sink.record_status(REF, SPEC, status(2, 9.5))
    other = SessionRef(namespace="ns", name="gone", uid="uid-2")
    sink.record_status(other, SPEC, status(1, 1.0))
    sink.forget(other.key)
    sink.close()
    assert api.names("create_namespaced_config_map") == ["demo-best"]


def test_an_older_best_already_taken_by_the_writer_never_lands_after_a_finished_ones() -> None:
    # The deferred writer took the running session's best (popped it) just before the
    # session finished; the finished best is written at once, and the older write, run
    # after it, writes nothing: the ConfigMap keeps the finished session's best.
    api, t = FakeApi(), Time()
    sink = yielding_sink(api, t)
    sink.record_status(REF, SPEC, status(2, 9.5))
    assert sink.yielding is not None
    taken = sink.yielding._pending.pop(REF.key)[1]  # what the writer's thread holds
    sink.record_status(REF, SPEC, status(3, 10.0, phase="Succeeded"))
    taken()
    assert written_params(api) == [{"x": 3}]
    assert api.names("replace_namespaced_config_map") == []


def test_a_best_that_keeps_changing_is_still_written_within_the_longest_yield() -> None:
    api, t = FakeApi(), Time()
    sink = yielding_sink(api, t)
    assert sink.yielding is not None
    written_by = None
    for step in range(60):  # a new best every 0.3 s, faster than the writes settle (0.5 s)
        sink.record_status(REF, SPEC, status(step % 4, float(step)))
        if sink.yielding.run_due():
            written_by = t.now - 100.0
            break
        t.now += 0.3
    assert written_by is not None and written_by <= sink.yielding.max_yield + 0.3
