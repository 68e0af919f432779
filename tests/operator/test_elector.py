"""The elector's steps (``tuneop.controller.leadership.Elector``) over an in-memory Lease.

The Lease here keeps a resourceVersion and answers a stale write with ``Conflict``, as the
API server does; clocks are injected. The real API server is the e2e tier's
(tests/e2e/test_operator_leader_election.py).
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tuneop.controller.leadership import EXIT_LOST, Elector, identity, lease_namespace
from tuneop.controller.lineage import claim, lineage_name
from tuneop.core.election import LeaseRecord, Timing
from tuneop.ports import Conflict, TransientError


class MemoryLease:
    name = "tuneop-operator"

    def __init__(self) -> None:
        self.record: LeaseRecord | None = None
        self.version = 0
        self.down = False
        self.events: list[str] = []

    def _check(self) -> None:
        if self.down:
            raise TransientError("read lease: connection refused")

    def read(self) -> LeaseRecord | None:
        self._check()
        return self.record

    def create(self, record: LeaseRecord) -> LeaseRecord:
        self._check()
        if self.record is not None:
            raise Conflict("exists")
        return self._store(record)

    def update(self, record: LeaseRecord) -> LeaseRecord:
        self._check()
        if self.record is None or record.resource_version != self.record.resource_version:
            raise Conflict("stale")
        return self._store(record)

    def _store(self, record: LeaseRecord) -> LeaseRecord:
        self.version += 1
        self.record = replace(record, resource_version=str(self.version))
        return self.record

    def announce(self, reason: str, message: str, now: datetime) -> None:
        self.events.append(message)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def wall(self) -> datetime:
        return datetime(2026, 12, 7, tzinfo=UTC) + timedelta(seconds=self.t)


def elector(
    lease: MemoryLease, me: str, clock: Clock, exits: list[int], lineage: str | None = None
) -> Elector:
    return Elector(
        lease,  # type: ignore[arg-type]
        me,
        Timing(),
        monotonic=clock,
        wall=clock.wall,
        exit=exits.append,
        lineage=lineage,
    )


def test_the_first_candidate_creates_the_lease_and_the_second_stands_by() -> None:
    lease, clock, exits = MemoryLease(), Clock(), []
    a, b = elector(lease, "a", clock, exits), elector(lease, "b", clock, exits)
    a.step()
    b.step()
    assert a.leading and a.acquired.is_set() and not b.leading
    assert lease.record is not None and lease.record.holder == "a"
    assert lease.events == ["a became leader"]
    clock.t += 2
    a.step()  # renews: a new version, so b's expiry clock starts again
    clock.t += 9
    b.step()
    assert not b.leading and exits == []


def test_a_silent_leader_is_replaced_once_its_lease_has_run_out() -> None:
    lease, clock, exits = MemoryLease(), Clock(), []
    a, b = elector(lease, "a", clock, exits), elector(lease, "b", clock, exits)
    a.step()
    b.step()
    clock.t += 9.9
    b.step()
    assert not b.leading
    clock.t += 0.1
    b.step()
    assert b.leading and lease.record is not None
    assert (lease.record.holder, lease.record.transitions) == ("b", 1)


def test_a_leader_that_finds_another_holder_exits_at_once() -> None:
    lease, clock, exits = MemoryLease(), Clock(), []
    a, b = elector(lease, "a", clock, exits), elector(lease, "b", clock, exits)
    a.step()
    b.step()
    clock.t += 10
    b.step()
    a.step()
    assert exits == [EXIT_LOST]


def test_a_leader_that_cannot_renew_must_stop_at_the_renew_deadline() -> None:
    lease, clock, exits = MemoryLease(), Clock(), []
    a = elector(lease, "a", clock, exits)
    a.step()
    lease.down = True
    clock.t += 6.9
    a.step()  # fails, logged; the watchdog decides
    a.check_deadline()
    assert a.leading and exits == []
    assert a.last_renewed == 1000.0
    clock.t += 0.1
    a.check_deadline()
    assert exits == [EXIT_LOST]


def test_a_stopped_leader_releases_and_a_standby_takes_over_at_once() -> None:
    lease, clock, exits = MemoryLease(), Clock(), []
    a, b = elector(lease, "a", clock, exits), elector(lease, "b", clock, exits)
    a.step()
    b.step()
    a.release()
    assert lease.record is not None and lease.record.holder is None
    b.step()
    assert b.leading and exits == []


def test_two_standbys_racing_for_an_expired_lease_leave_one_leader() -> None:
    lease, clock, exits = MemoryLease(), Clock(), []
    a = elector(lease, "a", clock, exits)
    b, c = elector(lease, "b", clock, exits), elector(lease, "c", clock, exits)
    a.step()
    b.step()
    c.step()
    clock.t += 10
    # Both read the same version; the second write is stale.
    record = lease.read()
    b.step()
    lease_read = lease.read
    lease.read = lambda: record  # type: ignore[method-assign]
    c.step()
    lease.read = lease_read  # type: ignore[method-assign]
    assert b.leading and not c.leading


def test_a_leader_killed_and_started_again_in_its_pod_leads_again_at_once() -> None:
    lease, clock, exits = MemoryLease(), Clock(), []
    pod = "tuneop-7c9-x2"
    first = identity({"POD_NAME": pod}, "node", 1, "ab12", pod)
    elector(lease, first, clock, exits, pod).step()
    standby_pod = "tuneop-7c9-y5"
    standby_me = identity({"POD_NAME": standby_pod}, "n", 1, "ef56", standby_pod)
    standby = elector(lease, standby_me, clock, exits, standby_pod)
    standby.step()
    clock.t += 1  # SIGKILL: nothing released; the container starts again
    again = elector(lease, identity({"POD_NAME": pod}, "node", 1, "cd34", pod), clock, exits, pod)
    again.step()
    standby.step()
    assert again.leading and not standby.leading and exits == []
    assert lease.record is not None and lease.record.holder == "tuneop-7c9-x2_cd34"
    assert lease.record.transitions == 1


def test_without_a_claimed_lineage_a_restarted_process_waits_for_its_old_lease() -> None:
    lease, clock, exits = MemoryLease(), Clock(), []
    elector(lease, identity({}, "laptop", 42, "ab12"), clock, exits).step()
    again = elector(lease, identity({}, "laptop", 43, "cd34"), clock, exits)
    again.step()
    assert not again.leading
    clock.t += 10
    again.step()
    assert again.leading


def test_identity_is_the_lineage_else_pod_or_host_with_the_process_and_a_suffix() -> None:
    pod = {"POD_NAME": "tuneop-7c9-x2"}
    assert identity(pod, "node", 7, "ab12", "tuneop-7c9-x2") == "tuneop-7c9-x2_ab12"
    assert identity({}, "laptop", 7, "ab12", "laptop~1f2e~4026") == "laptop~1f2e~4026_ab12"
    # Without the lineage's claim (another living process of the pod holds it), it is
    # not taken for a life of that lineage.
    assert identity(pod, "node", 7, "ab12") == "tuneop-7c9-x2.7_ab12"
    assert identity({}, "laptop", 4242, "ab12") == "laptop_4242_ab12"


def test_only_one_living_process_holds_a_lineage() -> None:
    name = f"tuneop-test-{os.getpid()}-{os.urandom(4).hex()}"
    first = claim(name)
    assert first is not None and first.name == name
    assert claim(name) is None  # a second process of the pod (kubectl exec), or the host
    other = claim(name + "-b")  # another pod's
    assert other is not None
    assert claim(None) is None
    first.claim.close()  # the first life ended: the kernel dropped its socket
    again = claim(name)
    assert again is not None
    for held in (other, again):
        held.claim.close()


@pytest.mark.parametrize(
    ("pod", "boot", "name"),
    [
        ("tuneop-7c9-x2", "ignored", "tuneop-7c9-x2"),
        (None, "1f2e3d4c-5b6a-7988-0011-223344556677\n", "laptop~1f2e3d4c5b6a~{ns}"),
        (None, "", None),
    ],
)
def test_a_lineage_is_the_pod_or_the_host_on_this_boot_in_this_network(
    pod: str | None, boot: str, name: str | None, tmp_path: Path
) -> None:
    boot_id = tmp_path / "boot_id"
    boot_id.write_text(boot)
    ns = tmp_path / "net"
    ns.write_text("")
    expected = None if name is None else name.format(ns=ns.stat().st_ino)
    assert lineage_name(pod, "laptop", boot_id, ns) == expected


def test_a_process_without_its_pod_s_lineage_never_takes_the_leader_s_lease_early() -> None:
    lease, clock, exits = MemoryLease(), Clock(), []
    pod = {"POD_NAME": "tuneop-7c9-x2"}
    leader_me = identity(pod, "node", 1, "ab12", "tuneop-7c9-x2")
    leader = elector(lease, leader_me, clock, exits, "tuneop-7c9-x2")
    leader.step()
    # Started by hand in the leader's pod: the lineage is claimed, so it has none.
    other = elector(lease, identity(pod, "node", 99, "cd34"), clock, exits)
    other.step()
    clock.t += 1
    leader.step()
    assert leader.leading and not other.leading and exits == []


def test_the_lease_namespace_comes_from_flag_env_pod_or_served(tmp_path: Path) -> None:
    sa = tmp_path / "namespace"
    assert lease_namespace("ops", {"POD_NAMESPACE": "x"}, ("a",), sa) == "ops"
    assert lease_namespace(None, {"POD_NAMESPACE": "x"}, ("a",), sa) == "x"
    assert lease_namespace(None, {}, ("a",), sa) == "a"
    assert lease_namespace(None, {}, (), sa) == "default"
    sa.write_text("tuneop-system\n")
    assert lease_namespace(None, {}, ("a",), sa) == "tuneop-system"


@pytest.mark.parametrize("holder", [None, "", "x" * 300, 5])
def test_a_lease_without_a_valid_holder_reads_as_released(holder: Any) -> None:
    from tuneop.adapters.kube.lease import parse_lease

    record = parse_lease({"metadata": {"resourceVersion": "3"}, "spec": {"holderIdentity": holder}})
    assert record.holder is None and record.resource_version == "3"
