"""A finished worker's output is waited for while it still flows, not for a fixed time.

On a loaded machine a flood's last megabytes (and the result line after them) can take
longer than the idle bound to pass through the readers; a process the worker left behind
holding its pipes, printing nothing, must not hold the run for ever.
"""

from __future__ import annotations

import threading

from tuneop.adapters.processes.spawn import drain


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Reader(threading.Thread):
    """A reader that finishes after ``flowing`` joins, each advancing the clock by the wait
    and reading ``chunk`` more bytes; with ``chunk`` 0 it is silent and never finishes."""

    def __init__(self, clock: Clock, flowing: int, chunk: int) -> None:
        super().__init__()
        self.clock, self.left, self.chunk = clock, flowing, chunk
        self.read = 0
        self.alive = True
        self.joins: list[float] = []

    def is_alive(self) -> bool:
        return self.alive

    def join(self, timeout: float | None = None) -> None:
        assert timeout is not None
        self.joins.append(timeout)
        self.clock.t += timeout
        self.read += self.chunk
        self.left -= 1
        if self.left <= 0 and self.chunk:
            self.alive = False


def test_output_still_flowing_is_waited_for_past_the_idle_bound() -> None:
    clock = Clock()
    reader = Reader(clock, flowing=10, chunk=1 << 20)  # 10 idle periods of output
    drain([reader], lambda: reader.read, clock, idle=2, limit=60)
    assert not reader.alive
    assert len(reader.joins) == 10 and clock.t == 20


def test_a_silent_pipe_is_given_up_on_after_one_idle_period() -> None:
    clock = Clock()
    reader = Reader(clock, flowing=10**6, chunk=0)
    drain([reader], lambda: reader.read, clock, idle=2, limit=60)
    assert reader.alive and reader.joins == [2]


def test_output_that_never_ends_is_given_up_on_at_the_limit() -> None:
    clock = Clock()
    reader = Reader(clock, flowing=10**6, chunk=1)
    drain([reader], lambda: reader.read, clock, idle=2, limit=7)
    assert reader.alive and clock.t == 7 and reader.joins == [2, 2, 2, 1]
