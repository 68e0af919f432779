"""``KubeEvents``: core/v1 Events on the session, capped, never failing a reconcile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from operator_fakes import FakeApi, fake_kube, http_error

from tuneop.adapters.kube.events import KubeEvents, event_body, select
from tuneop.api.session import SessionRef
from tuneop.core.planning.planner import Event

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
    api.fail_next("create_namespaced_event", http_error(500))
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


def at(seconds: float) -> datetime:
    return datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC) + timedelta(seconds=seconds)


def started(job: int) -> Event:
    return Event("Normal", "TrialsStarted", f"job {job}: trials {job}")


# (what each reconcile emits, at which second) -> the messages posted, per reconcile
SAMPLING = [
    pytest.param(
        [(0, [started(0)]), (10, [started(1)]), (20, [started(2)])],
        [["job 0: trials 0"], [], []],
        id="one-routine-event-per-reason-per-minute",
    ),
    pytest.param(
        [(0, [started(0)]), (10, [started(1)]), (20, [started(2)]), (61, [started(3)])],
        [["job 0: trials 0"], [], [], ["job 3: trials 3 (+2 more not posted)"]],
        id="after-the-interval-the-latest-carries-the-count",
    ),
    pytest.param(
        [(0, [started(0), started(1), started(2)])],
        [["job 2: trials 2 (+2 more not posted)"]],
        id="a-wave-posts-its-last-one",
    ),
    pytest.param(
        [(0, [started(0)]), (5, [Event("Warning", "TrialFailed", "job 1: boom")])],
        [["job 0: trials 0"], ["job 1: boom"]],
        id="warnings-are-never-sampled",
    ),
    pytest.param(
        [(0, [started(0)]), (5, [Event("Normal", "TrialsFinished", "job 0 done")])],
        [["job 0: trials 0"], ["job 0 done"]],
        id="each-reason-has-its-own-window",
    ),
    pytest.param(
        [(0, [started(0)]), (5, [started(1), Event("Normal", "Succeeded", "all done")])],
        [["job 0: trials 0"], ["job 1: trials 1", "all done"]],
        id="phase-changes-are-never-sampled-and-post-what-was-held",
    ),
    pytest.param(
        [
            (0, [Event("Normal", "NewBest", "trial 0: loss=3")]),
            (10, [Event("Normal", "NewBest", "trial 4: loss=2")]),
            (20, [Event("Normal", "NewBest", "trial 7: loss=1")]),
            (25, [Event("Normal", "Succeeded", "done")]),
        ],
        [["trial 0: loss=3"], [], [], ["trial 7: loss=1 (+1 more not posted)", "done"]],
        id="the-final-best-is-posted-when-the-session-ends",
    ),
]


@pytest.mark.parametrize(("emits", "posted"), SAMPLING)
def test_routine_events_are_sampled_per_session(
    emits: list[tuple[float, list[Event]]], posted: list[list[str]]
) -> None:
    api = FakeApi()
    now = [at(0)]
    sink = KubeEvents(fake_kube(api), instance="op-1", clock=lambda: now[0])
    got = []
    for second, events in emits:
        now[0] = at(second)
        before = len(api.events)
        sink.emit(REF, events)
        got.append([e["message"] for e in api.events[before:]])
    assert got == posted


def test_sessions_are_sampled_apart_and_forgotten() -> None:
    api = FakeApi()
    sink = KubeEvents(fake_kube(api), instance="op-1", clock=lambda: NOW)
    other = SessionRef(namespace="ns", name="other", uid="uid-2")
    sink.emit(REF, [started(0)])
    sink.emit(other, [started(0)])
    sink.emit(REF, [started(1)])
    assert [e["involvedObject"]["name"] for e in api.events] == ["demo", "other"]
    sink.forget(REF.key)
    sink.emit(REF, [started(2)])
    assert [e["message"] for e in api.events][-1] == "job 2: trials 2"


def session_version(name: str, status: dict[str, object] | None) -> dict[str, object]:
    obj: dict[str, object] = {"metadata": {"namespace": "ns", "name": name, "uid": "u"}}
    if status is not None:
        obj["status"] = status
    return obj


def test_a_session_running_before_this_process_is_adopted_its_routine_events_sampled() -> None:
    api = FakeApi()
    now = [at(0)]
    sink = KubeEvents(fake_kube(api), instance="op-2", clock=lambda: now[0])
    sink.observe(session_version("demo", {"phase": "Running"}))  # ran before this process
    sink.observe(session_version("fresh", None))  # created since: not adopted
    sink.observe(session_version("fresh", {"phase": "Running"}))  # our own write, seen later
    fresh = SessionRef(namespace="ns", name="fresh", uid="u")
    now[0] = at(1)
    sink.emit(REF, [Event("Normal", "TrialsFinished", "job 0 done"), started(1)])
    sink.emit(fresh, [started(0)])
    sink.emit(REF, [Event("Warning", "TrialFailed", "job 1: boom")])
    assert [(e["involvedObject"]["name"], e["message"]) for e in api.events] == [
        ("fresh", "job 0: trials 0"),
        ("demo", "job 1: boom"),
    ]
    now[0] = at(61)  # the interval since the adoption: the next one says what was held
    sink.emit(REF, [started(2)])
    assert api.events[-1]["message"] == "job 2: trials 2 (+1 more not posted)"
    sink.emit(REF, [Event("Normal", "Succeeded", "done")])  # the end posts the held ones
    assert [e["message"] for e in api.events[-2:]] == ["job 0 done", "done"]


def test_a_deleted_and_recreated_session_is_not_adopted() -> None:
    api = FakeApi()
    sink = KubeEvents(fake_kube(api), instance="op-1", clock=lambda: NOW)
    sink.observe(session_version("demo", {"phase": "Running"}))
    sink.forget(REF.key)
    sink.observe(session_version("demo", None))
    sink.emit(REF, [started(0)])
    assert [e["message"] for e in api.events] == ["job 0: trials 0"]
