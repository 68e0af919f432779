"""Test doubles for tuneop's ports, and ``play``: a session through the real reconciler.

For tests of code that plans or reconciles sessions, tuneop's own and yours::

    from tuneop.testing import play
    played = play(spec, finish=lambda params: (params["x"] - 3) ** 2)
    assert played.status.phase == "Succeeded"

``fakes`` holds the in-memory ports (``FakeJobs``, ``FakeStatus``,
``MemoryEvents``, ``MemoryResults``, ``FakeWarmStart``) and ``FrozenClock``; ``play`` the
``World`` they make together and the loop (see docs/development.md). Only
tests and benchmarks import this package; tuneop's own code never does.
"""

from __future__ import annotations

from tuneop.testing.fakes import (
    T0,
    FakeJobs,
    FakeStatus,
    FakeWarmStart,
    FrozenClock,
    MemoryEvents,
    MemoryResults,
)
from tuneop.testing.play import REF, Finish, Played, World, loss, play, worker_log

__all__ = [
    "REF",
    "T0",
    "FakeJobs",
    "FakeStatus",
    "FakeWarmStart",
    "Finish",
    "FrozenClock",
    "MemoryEvents",
    "MemoryResults",
    "Played",
    "World",
    "loss",
    "play",
    "worker_log",
]
