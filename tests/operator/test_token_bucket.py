"""The write rate limiter: a token bucket, tested on an injected clock."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tuneop.adapters.kube.ratelimit import TokenBucket


@dataclass
class FakeTime:
    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def bucket(t: FakeTime, qps: float, burst: int) -> TokenBucket:
    return TokenBucket(qps=qps, burst=burst, clock=t.clock, sleep=t.sleep)


def test_a_burst_passes_at_once_then_writes_are_spaced_at_qps() -> None:
    t = FakeTime()
    b = bucket(t, qps=10, burst=3)
    waits = [b.acquire() for _ in range(6)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.1, 0.2, 0.3])
    assert t.slept == pytest.approx([0.1, 0.2, 0.3])


def test_tokens_refill_with_time_up_to_the_burst() -> None:
    t = FakeTime()
    b = bucket(t, qps=2, burst=2)
    assert [b.acquire(), b.acquire()] == [0.0, 0.0]
    t.now += 0.5  # one token back
    assert b.acquire() == 0.0
    assert b.acquire() == pytest.approx(0.5)
    t.now += 100  # a long idle refills only up to the burst
    assert [b.acquire(), b.acquire()] == [0.0, 0.0]
    assert b.acquire() == pytest.approx(0.5)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenBucket(qps=0)
    with pytest.raises(ValueError):
        TokenBucket(burst=0)


@dataclass
class MovingTime(FakeTime):
    """A clock a sleep moves: what ``wait_idle`` sees while it waits."""

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.parametrize(
    ("taken", "wanted", "limit", "waited"),
    [
        (0, 5, 10.0, 0.0),  # a full bucket is idle at once
        (10, 5, 10.0, 0.5),  # 10 taken of 10, 5 wanted back at 10/s
        (12, 5, 10.0, 0.7),  # two queued past the bucket: their tokens refill first
        (12, 5, 0.3, 0.3),  # never longer than the limit
        (3, 50, 10.0, 0.3),  # at most the burst is waited for
    ],
)
def test_waiting_for_an_idle_bucket_waits_for_the_writes_queued_before(
    taken: int, wanted: float, limit: float, waited: float
) -> None:
    t = MovingTime()
    b = TokenBucket(qps=10, burst=10, clock=t.clock, sleep=t.sleep)
    for _ in range(taken):
        b.reserve()
    level = b.level()
    assert b.wait_idle(wanted, limit) == pytest.approx(waited)
    assert b.level() == pytest.approx(min(10.0, level + 10 * waited))  # it took nothing
