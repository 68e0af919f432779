"""``KubeStatus``: read with resourceVersion, guarded full-replace status patches."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from operator_fakes import FakeApi, fake_kube, http_error

from builders import session_doc
from tuneop.adapters.kube.status import KubeStatus, replace_patch, status_patch, wire_status
from tuneop.api.session import SessionRef
from tuneop.api.status import SessionStatus, TrialRef, status_to_wire
from tuneop.ports import Conflict, Rejected, SessionGone, TransientError

REF = SessionRef(namespace="ns", name="demo", uid="uid-1")


def session(status: dict[str, Any] | None = None) -> dict[str, Any]:
    doc = session_doc("demo", {}, namespace="ns", uid="uid-1")
    if status is not None:
        doc["status"] = status
    return doc


def store(api: FakeApi) -> KubeStatus:
    return KubeStatus(fake_kube(api))


def test_read_returns_the_status_and_the_resource_version() -> None:
    api = FakeApi()
    api.add_session(session({"phase": "Running", "nextJob": 3}))
    status, version = store(api).read(REF)
    assert status.phase == "Running" and status.next_job == 3
    assert version == api.sessions["ns", "demo"]["metadata"]["resourceVersion"]


GARBLED = [
    pytest.param({"phase": "NoSuchPhase", "harvestedJobs": "0-4"}, "status.phase", id="phase"),
    pytest.param({"phase": "Running", "harvestedJobs": "4-x"}, "status.harvestedJobs", id="ledger"),
    pytest.param({"phase": "Running", "trials": [1]}, "status.trials", id="counters"),
]


@pytest.mark.parametrize(("garbled", "field"), GARBLED)
def test_a_status_that_cannot_be_read_is_reported_on_the_session_and_left_as_it_is(
    garbled: dict[str, Any], field: str
) -> None:
    api = FakeApi()
    api.add_session(session(copy.deepcopy(garbled)))
    statuses = store(api)
    with pytest.raises(Rejected, match=re.escape(field)):
        statuses.read(REF)
    stored = api.sessions["ns", "demo"]["status"]
    assert {k: v for k, v in stored.items() if k != "conditions"} == garbled  # nothing reset
    (condition,) = stored["conditions"]
    assert (condition["type"], condition["status"]) == ("Progressing", "False")
    assert condition["reason"] == "StatusUnreadable" and field in condition["message"]
    with pytest.raises(Rejected):
        statuses.read(REF)  # said once: a second read patches nothing more
    assert len(api.names("patch_session_status")) == 1


def test_read_of_a_missing_or_recreated_session_is_gone() -> None:
    api = FakeApi()
    with pytest.raises(SessionGone):
        store(api).read(REF)
    api.add_session(session())
    with pytest.raises(SessionGone):
        store(api).read(SessionRef("ns", "demo", uid="an-older-uid"))


def test_the_patch_carries_the_resource_version_and_every_status_key() -> None:
    new = SessionStatus(phase="Running", next_job=2)
    body = status_patch({}, new, "42")
    assert body["metadata"] == {"resourceVersion": "42"}
    assert body["status"] == {
        k: v
        for k, v in status_to_wire(new).items()
        if k not in {"message", "harvestedJobs", "inflight"}
    }


def test_empty_strings_are_left_out_and_read_back_the_same() -> None:
    from tuneop.adapters.kube.status import wire_status
    from tuneop.api.status import Condition, status_from_wire

    new = SessionStatus(
        phase="Running",
        conditions=[Condition(type="Progressing", status="True", reason="Launching")],
    )
    wire = wire_status(new)
    assert not {"message", "harvestedJobs", "inflight"} & set(wire)
    assert "message" not in wire["conditions"][0]
    assert status_from_wire(wire) == new


def test_the_patch_clears_removed_keys_recursively() -> None:
    old = {
        "phase": "Running",
        "exitCode": 1,
        "kopf": {"progress": {}},
        "best": {"trial": 3, "value": 1.0, "paramsOmitted": True, "params": {"a": 1, "b": 2}},
        "leaderboard": [{"trial": 3, "value": 1.0}],
    }
    new = SessionStatus(
        phase="Running", best=TrialRef(trial=4, value=0.5, params={"a": 2}), leaderboard=[]
    )
    patch = status_patch(old, new, "7")["status"]
    assert patch["exitCode"] is None and patch["kopf"] is None
    assert patch["best"]["paramsOmitted"] is None
    assert patch["best"]["params"] == {"a": 2, "b": None}
    assert patch["leaderboard"] == []


def test_a_replace_patch_applied_as_a_merge_patch_gives_exactly_the_new_object() -> None:
    from operator_fakes import merge

    old = {"a": 1, "b": {"c": 2, "d": {"e": 3}}, "f": [1, 2]}
    new = {"b": {"d": {"g": 4}}, "f": [3], "h": "x"}
    assert merge(old, replace_patch(old, new)) == new


def test_write_replaces_the_whole_status_on_the_server() -> None:
    api = FakeApi()
    api.add_session(session({"phase": "Running", "exitCode": 1, "stray": "x"}))
    statuses = store(api)
    _, version = statuses.read(REF)
    statuses.write(REF, SessionStatus(phase="Succeeded", next_job=5), version)
    stored = api.sessions["ns", "demo"]["status"]
    assert stored == wire_status(SessionStatus(phase="Succeeded", next_job=5))
    (body,) = api.names("patch_session_status")
    assert body["metadata"]["resourceVersion"] == version


def test_a_stale_write_is_a_conflict() -> None:
    api = FakeApi()
    api.add_session(session())
    statuses = store(api)
    _, version = statuses.read(REF)
    api.bump_session("ns", "demo")  # kopf patched its annotations meanwhile
    with pytest.raises(Conflict):
        statuses.write(REF, SessionStatus(phase="Running"), version)


def test_a_409_from_the_server_is_a_conflict() -> None:
    api = FakeApi()
    api.add_session(session())
    statuses = store(api)
    _, version = statuses.read(REF)
    api.fail_next("patch_session_status", http_error(409))
    with pytest.raises(Conflict):
        statuses.write(REF, SessionStatus(phase="Running"), version)


def test_other_errors_are_transient_or_gone() -> None:
    api = FakeApi()
    api.add_session(session())
    statuses = store(api)
    _, version = statuses.read(REF)
    api.fail_next("patch_session_status", http_error(503), http_error(404))
    with pytest.raises(TransientError):
        statuses.write(REF, SessionStatus(phase="Running"), version)
    with pytest.raises(SessionGone):
        statuses.write(REF, SessionStatus(phase="Running"), version)


def test_an_unchanged_status_is_not_written_again() -> None:
    api = FakeApi()
    api.add_session(session())
    statuses = store(api)
    _, version = statuses.read(REF)
    statuses.write(REF, SessionStatus(phase="Running"), version)
    _, version = statuses.read(REF)
    statuses.write(REF, SessionStatus(phase="Running"), version)
    assert len(api.names("patch_session_status")) == 1


def test_a_write_at_a_version_not_read_reads_first() -> None:
    api = FakeApi()
    api.add_session(session({"phase": "Running", "exitCode": 3}))
    version = api.sessions["ns", "demo"]["metadata"]["resourceVersion"]
    KubeStatus(fake_kube(api)).write(REF, SessionStatus(phase="Running"), version)
    assert "exitCode" not in api.sessions["ns", "demo"]["status"]


def gets(api: FakeApi) -> int:
    return len(api.names("get_session"))


def test_after_the_first_read_reads_come_from_memory() -> None:
    api = FakeApi()
    api.add_session(session())
    statuses = store(api)
    for phase in ("Running", "Running", "Succeeded"):
        status, version = statuses.read(REF)
        statuses.write(REF, status.model_copy(update={"phase": phase}), version)
    assert gets(api) == 1
    assert statuses.read(REF)[0].phase == "Succeeded"
    assert statuses.fetch(REF) == api.sessions["ns", "demo"]


def test_a_session_seen_on_the_watch_is_never_read() -> None:
    api = FakeApi()
    statuses = store(api)
    statuses.observe(api.add_session(session({"phase": "Running"})))
    status, version = statuses.read(REF)
    statuses.write(REF, status.model_copy(update={"next_job": 2}), version)
    assert gets(api) == 0
    assert api.sessions["ns", "demo"]["status"]["nextJob"] == 2


def test_an_older_version_from_the_watch_does_not_replace_a_newer_one() -> None:
    api = FakeApi()
    first = copy.deepcopy(api.add_session(session({"phase": "Running"})))
    statuses = store(api)
    status, version = statuses.read(REF)
    statuses.write(REF, status.model_copy(update={"next_job": 2}), version)
    statuses.observe(first)  # the watch event of the version before our write, late
    status, version = statuses.read(REF)
    assert status.next_job == 2
    assert version == api.sessions["ns", "demo"]["metadata"]["resourceVersion"]


def test_after_a_conflict_the_session_is_read_afresh() -> None:
    api = FakeApi()
    api.add_session(session())
    statuses = store(api)
    _, version = statuses.read(REF)
    api.bump_session("ns", "demo")  # a write this process did not see
    with pytest.raises(Conflict):
        statuses.write(REF, SessionStatus(phase="Running"), version)
    status, version = statuses.read(REF)
    statuses.write(REF, status.model_copy(update={"phase": "Running"}), version)
    assert gets(api) == 2
    assert api.sessions["ns", "demo"]["status"]["phase"] == "Running"


def test_a_newer_version_on_the_watch_is_a_conflict_without_a_write() -> None:
    api = FakeApi()
    api.add_session(session())
    statuses = store(api)
    _, version = statuses.read(REF)
    api.bump_session("ns", "demo")
    statuses.observe(copy.deepcopy(api.sessions["ns", "demo"]))
    with pytest.raises(Conflict):
        statuses.write(REF, SessionStatus(phase="Running"), version)
    assert api.names("patch_session_status") == []


def test_a_remembered_session_of_an_earlier_uid_is_read_again() -> None:
    api = FakeApi()
    statuses = store(api)
    old = session({"phase": "Succeeded"})
    old["metadata"]["uid"] = "uid-0"
    statuses.observe(api.add_session(old))
    api.sessions.clear()
    api.add_session(session())  # deleted and created again under the same name
    status, _ = statuses.read(REF)
    assert status.phase == "Pending" and gets(api) == 1


def test_versions_are_opaque_and_a_replaced_one_from_the_watch_is_old_news() -> None:
    api = FakeApi()
    first = api.add_session(session({"phase": "Running"}))
    first["metadata"]["resourceVersion"] = "zz-opaque"  # no order can be read from it
    first = copy.deepcopy(first)
    statuses = store(api)
    status, version = statuses.read(REF)
    statuses.read(REF)
    assert gets(api) == 1  # opaque versions are kept like any other
    statuses.write(REF, status.model_copy(update={"next_job": 2}), version)
    statuses.observe(first)  # the late watch event of the version our write replaced
    status, version = statuses.read(REF)
    assert status.next_job == 2 and gets(api) == 1
    assert version == api.sessions["ns", "demo"]["metadata"]["resourceVersion"]
