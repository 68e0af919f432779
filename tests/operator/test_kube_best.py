"""``BestConfigMap``: the best params exported as ``<session>-best``, written on change."""

from __future__ import annotations

import json

from operator_fakes import FakeApi, fake_kube, http_error

from tuneop.adapters.kube.best import BestConfigMap, best_name
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


def status(trial: int, value: float) -> SessionStatus:
    return SessionStatus(
        best=TrialRef(trial=trial, value=value, job_index=trial, params={"x": trial})
    )


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
