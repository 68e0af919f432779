"""Time: the one ``Clock`` a run reads it from, and the deadline's clock.

``Clock`` is how every part of a run learns the time: ``now()`` the wall
time (UTC: the status's timestamps, events, the deadline) and
``monotonic()`` seconds for measuring intervals (rate limits, resyncs,
reconcile durations). One is made where the operator and a local run are
wired (``SystemClock``) and passed down; nothing below reads the system's
time itself, so a test hands in a ``FrozenClock`` and the whole run follows
it.

The deadline's clock (``RunClock``): how long a session has spent running.

``deadlineSeconds`` bounds running time, not wall-clock time since the start.
The status keeps the clock in two fields: ``runSeconds`` (time counted before
the clock last started) and ``runningSince`` (when it started; unset while it
is stopped). The clock stops while the session is suspended (a user suspends
to wait for capacity, and that wait must not fail the session) and when the
session finishes. A finished session that is extended (``totalTrials``
raised) starts a new allowance: its clock starts again from zero.

A status written before the clock existed has only ``startTime``; a running
one counts from there, as it always did.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus
from tuneop.api.vocabulary import Phase

__all__ = ["SYSTEM_CLOCK", "Clock", "FrozenClock", "RunClock", "SystemClock", "open_clock"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The wall time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start that never go back, for measuring intervals."""
        ...


@dataclass(frozen=True)
class SystemClock:
    """The machine's time: what the operator and a local run are wired with."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK = SystemClock()


@dataclass
class FrozenClock:
    """A clock that moves only when told (``advance``), or by ``step`` seconds at each
    reading of ``now``: time as a test input. Both readings move together."""

    at: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    step: float = 0.0
    elapsed: float = 0.0

    def now(self) -> datetime:
        if self.step:
            self.advance(self.step)
        return self.at

    def monotonic(self) -> float:
        return self.elapsed

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)
        self.elapsed += seconds


@dataclass(frozen=True)
class RunClock:
    used: int
    since: datetime | None

    def spent(self, now: datetime) -> float:
        """Seconds of running time at ``now``."""
        extra = (now - self.since).total_seconds() if self.since is not None else 0.0
        return self.used + max(extra, 0.0)

    def stopped(self, now: datetime) -> RunClock:
        return RunClock(int(self.spent(now)), None)

    def started(self, now: datetime) -> RunClock:
        return self if self.since is not None else RunClock(self.used, now)

    def remaining(self, spec: SessionSpec, now: datetime) -> float | None:
        """Seconds until the deadline, or None when there is none or the clock is stopped."""
        if spec.deadline_seconds is None or self.since is None:
            return None
        return max(spec.deadline_seconds - self.spent(now), 0.0)

    def passed(self, spec: SessionSpec, now: datetime) -> bool:
        return spec.deadline_seconds is not None and self.spent(now) >= spec.deadline_seconds


def open_clock(prev: SessionStatus, now: datetime, extended: bool) -> RunClock:
    """The clock as this reconcile finds it; ``extended``: a finished session goes on."""
    if extended:
        return RunClock(0, now)
    if prev.running_since is not None or prev.run_seconds or prev.start_time is None:
        return RunClock(prev.run_seconds, prev.running_since)
    # A status from before the clock existed.
    if prev.terminal and prev.completion_time is not None:
        return RunClock(int((prev.completion_time - prev.start_time).total_seconds()), None)
    if prev.phase is Phase.SUSPENDED:
        return RunClock(0, None)
    return RunClock(0, prev.start_time)
