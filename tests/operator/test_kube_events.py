"""``KubeEvents``: core/v1 Events on the session, capped, never failing a reconcile."""

from __future__ import annotations

from datetime import UTC, datetime

from operator_fakes import FakeApi, api_exception, fake_kube

from tuneop.adapters.kube_events import KubeEvents, event_body, select
from tuneop.core.observed import SessionRef
from tuneop.core.planner import Event

REF = SessionRef(namespace="ns", name="demo", uid="uid-1")
NOW = datetime(2026, 1, 1, 12, 0, 5, tzinfo=UTC)


def test_the_event_names_the_session_with_its_uid() -> None:
    body = event_body(REF, Event("Warning", "TrialFailed", "job 0: boom"), NOW, "op-1")
    assert body["involvedObject"] == {
        "apiVersion": "tuneop.dev/v1alpha1",
        "kind": "TuningSession",
        "name": "demo",
        "namespace": "ns",
        "uid": "uid-1",
    }
    assert (body["type"], body["reason"], body["message"]) == (
        "Warning",
        "TrialFailed",
        "job 0: boom",
    )
    assert body["source"]["component"] == "tuneop"
    assert body["metadata"] == {"generateName": "demo.", "namespace": "ns"}
    assert body["firstTimestamp"] == body["lastTimestamp"] == "2026-01-01T12:00:05Z"


def test_events_are_posted_and_failures_are_swallowed() -> None:
    api = FakeApi()
    api.fail_next("create_namespaced_event", api_exception(500))
    sink = KubeEvents(fake_kube(api), instance="op-1", clock=lambda: NOW)
    sink.emit(REF, [Event("Normal", "A", "a"), Event("Normal", "B", "b")])
    assert api.names("create_namespaced_event") == ["A", "B"]
    assert [e["reason"] for e in api.events] == ["B"]


def test_a_crowded_reconcile_keeps_warnings_and_summarises_the_rest() -> None:
    events = [Event("Normal", "TrialsStarted", f"job {i}") for i in range(30)]
    events.insert(5, Event("Warning", "TrialFailed", "x"))
    events.append(Event("Normal", "Running", "y"))
    chosen = select(events, limit=4)
    # The important ones, then routine ones, kept in their original order; then a summary.
    assert [e.reason for e in chosen] == [
        "TrialsStarted",
        "TrialFailed",
        "Running",
        "EventsSuppressed",
    ]
    assert chosen[-1].message.startswith("29 more")
    assert select(events[:3], limit=4) == events[:3]
