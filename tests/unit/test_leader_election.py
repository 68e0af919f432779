"""The elector's decisions (``tuneop.core.election``): tables, then properties over clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tuneop.core.election import (
    MAX_LEASE_SECONDS,
    Action,
    LeaseRecord,
    Observation,
    Timing,
    decide,
    must_stop,
    observe,
    released,
    timing_error,
)

T = Timing()
WALL = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def held(holder: str | None, rv: str = "7", seconds: int = 10) -> LeaseRecord:
    return LeaseRecord(holder, seconds, WALL, WALL, 3, rv)


def test_no_lease_is_created_held_by_us() -> None:
    d = decide(Observation(None, 0.0), "me", 5.0, WALL, T)
    assert d.action is Action.CREATE
    assert d.write == LeaseRecord("me", 10, WALL, WALL, 0)


def test_our_lease_is_renewed_keeping_acquire_time_and_version() -> None:
    later = WALL + timedelta(seconds=2)
    d = decide(Observation(held("me"), 0.0), "me", 100.0, later, T, leading=True)
    assert d.action is Action.RENEW
    assert d.write == LeaseRecord("me", 10, WALL, later, 3, "7")


def test_a_valid_lease_of_another_means_stand_by_until_it_expires() -> None:
    d = decide(Observation(held("other"), 10.0), "me", 13.0, WALL, T)
    assert d.action is Action.STAND_BY
    assert d.expires_in == 7.0
    assert d.write is None


def test_an_expired_lease_is_acquired_with_one_more_transition() -> None:
    d = decide(Observation(held("other"), 10.0), "me", 20.0, WALL, T)
    assert d.action is Action.ACQUIRE
    assert d.write == LeaseRecord("me", 10, WALL, WALL, 4, "7")


def test_a_released_lease_is_acquired_at_once() -> None:
    d = decide(Observation(released(held("other"), WALL), 10.0), "me", 10.0, WALL, T)
    assert d.action is Action.ACQUIRE


@pytest.mark.parametrize(
    ("holder", "me", "lineage", "action"),
    [
        # An earlier life of this pod (its container started again): taken at once.
        ("op-7c9-x2_ab12", "op-7c9-x2_cd34", "op-7c9-x2", Action.ACQUIRE),
        # Another pod, or no pod name to go by: its Lease runs out first.
        ("op-7c9-y5_ab12", "op-7c9-x2_cd34", "op-7c9-x2", Action.STAND_BY),
        ("op-7c9-x2_ab12", "op-7c9-x2_cd34", None, Action.STAND_BY),
        ("op-7c9-x2", "op-7c9-x2_cd34", "op-7c9-x2", Action.STAND_BY),
        ("op-7c9-x2-extra_ab12", "op-7c9-x2_cd34", "op-7c9-x2", Action.STAND_BY),
        # A lineage that is not this candidate's own decides nothing.
        ("op-7c9-x2_ab12", "laptop_42_cd34", "op-7c9-x2", Action.STAND_BY),
    ],
)
def test_a_lease_held_by_an_earlier_life_of_this_pod_is_taken_at_once(
    holder: str, me: str, lineage: str | None, action: Action
) -> None:
    d = decide(Observation(held(holder), 10.0), me, 10.5, WALL, T, lineage=lineage)
    assert d.action is action
    if action is Action.ACQUIRE:
        assert d.write == LeaseRecord(me, 10, WALL, WALL, 4, "7")


def test_a_leader_never_takes_back_what_an_earlier_life_of_its_pod_holds() -> None:
    d = decide(
        Observation(held("op_ab12"), 10.0), "op_cd34", 10.5, WALL, T, leading=True, lineage="op"
    )
    assert d.action is Action.LOST


def test_a_leader_that_finds_another_holder_has_lost_even_before_expiry() -> None:
    d = decide(Observation(held("other"), 0.0), "me", 0.0, WALL, T, leading=True)
    assert d.action is Action.LOST


def test_the_expiry_clock_restarts_only_when_the_record_changes() -> None:
    first = observe(None, held("other", "1"), 0.0)
    same = observe(first, held("other", "1"), 9.0)
    assert same.since == 0.0
    renewed = observe(same, held("other", "2"), 9.5)
    assert renewed.since == 9.5
    assert observe(renewed, None, 12.0).since == 12.0


def test_a_hostile_lease_duration_is_bounded() -> None:
    forever = held("other", seconds=10**9)
    d = decide(Observation(forever, 0.0), "me", MAX_LEASE_SECONDS + 1.0, WALL, T)
    assert d.action is Action.ACQUIRE
    zero = held("other", seconds=0)
    assert decide(Observation(zero, 0.0), "me", 1.0, WALL, T).action is Action.ACQUIRE


def test_timings_that_cannot_be_safe_are_named() -> None:
    assert timing_error(T) is None
    assert "renew deadline" in str(timing_error(Timing(10, 10, 2)))
    assert "renew deadline" in str(timing_error(Timing(10, 12, 2)))
    assert "retry period" in str(timing_error(Timing(10, 7, 7)))
    assert "lease duration" in str(timing_error(Timing(0, 0.2, 0.1, 0.1)))
    assert "whole number" in str(timing_error(Timing(10.5, 7, 2)))  # type: ignore[arg-type]


def test_a_leader_stops_at_the_renew_deadline_and_a_standby_never_led() -> None:
    assert not must_stop(None, 1e9, T)
    assert not must_stop(100.0, 106.9, T)
    assert must_stop(100.0, 107.0, T)


timings = st.builds(
    lambda lease, deadline_frac, retry_frac: Timing(
        lease,
        lease * deadline_frac,
        lease * deadline_frac * retry_frac,
        min(0.1, lease * deadline_frac * retry_frac),
    ),
    st.integers(1, 120),
    st.floats(0.1, 0.95),
    st.floats(0.1, 0.9),
)


@given(
    timing=timings,
    sent=st.floats(0, 1e6),
    seen_after=st.floats(0, 60),
    skew=st.floats(-3600, 3600),
    elapsed=st.floats(0, 600),
)
def test_no_two_leaders_whatever_the_delays_and_clock_skew(
    timing: Timing, sent: float, seen_after: float, skew: float, elapsed: float
) -> None:
    """The leader sent its last successful renewal at ``sent`` (real time); a standby
    first saw that version ``seen_after`` later, on a clock ``skew`` off (monotonic clocks
    of two machines share no origin). At any later real time, if the standby may acquire,
    the leader has already stopped: safety needs no clock agreement, only equal rates."""
    assert timing_error(timing) is None
    record = held("leader", seconds=timing.lease_duration)
    seen = Observation(record, sent + seen_after + skew)
    real_now = sent + seen_after + elapsed
    standby = decide(seen, "standby", real_now + skew, WALL, timing)
    if standby.action is Action.ACQUIRE:
        assert must_stop(sent, real_now, timing)


@given(timing=timings, gap=st.floats(0, 1e4))
def test_a_standby_acquires_exactly_once_the_lease_has_run_out(timing: Timing, gap: float) -> None:
    record = held("leader", seconds=timing.lease_duration)
    d = decide(Observation(record, 0.0), "standby", gap, WALL, timing)
    expired = gap >= record.lease_seconds
    assert (d.action is Action.ACQUIRE) == expired
    if not expired:
        assert d.expires_in is not None and 0 < d.expires_in <= record.lease_seconds
