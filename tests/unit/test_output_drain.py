"""A finished worker's output is waited for while it still flows, not for a fixed time.

On a loaded machine a flood's last megabytes (and the result line after them) can take
longer than the idle bound to pass through the readers; a process the worker left behind
holding its pipes, printing nothing, must not hold the run for ever. With nothing of the
worker's group left, a silent reader is only unscheduled: it is waited for (to the limit).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from tuneop.adapters.processes import spawn
from tuneop.adapters.processes.spawn import drain, pipe_held
from tuneop.adapters.results_folder import logs
from tuneop.adapters.results_folder.logs import WorkerLog

OnLine = Callable[[bytes], None] | None


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Reader(threading.Thread):
    """A reader that finishes after ``flowing`` joins, each advancing the clock by the wait
    and reading ``chunk`` more bytes; with ``chunk`` 0 it is silent and never finishes,
    unless it ``ends`` (a reader not scheduled for a while, then at its end of file)."""

    def __init__(self, clock: Clock, flowing: int, chunk: int, ends: bool = False) -> None:
        super().__init__()
        self.clock, self.left, self.chunk, self.ends = clock, flowing, chunk, ends
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
        if self.left <= 0 and (self.chunk or self.ends):
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


def test_a_reader_silent_for_a_while_is_waited_for_when_nothing_of_the_worker_is_left() -> None:
    # The run this fixes: at a load of 12, the readers of a finished worker were not
    # scheduled for two seconds, the drain gave up, and a flood's trial lost its result.
    clock = Clock()
    reader = Reader(clock, flowing=3, chunk=0, ends=True)  # silent, then its end of file
    drain([reader], lambda: reader.read, clock, idle=2, limit=60, held=lambda reader: False)
    assert not reader.alive and reader.joins == [2, 2, 2]


def test_a_silent_reader_with_nothing_left_is_still_given_up_on_at_the_limit() -> None:
    clock = Clock()
    reader = Reader(clock, flowing=10**6, chunk=0)
    drain([reader], lambda: reader.read, clock, idle=2, limit=7, held=lambda reader: False)
    assert reader.alive and clock.t == 7


def test_a_pipe_is_held_while_a_silent_writer_keeps_it_open_and_not_with_bytes_or_its_end() -> None:
    read, write = os.pipe()
    try:
        assert pipe_held(read)  # empty, a writer left: a process left behind holds it
        os.write(write, b"the result line\n")
        assert not pipe_held(read)  # bytes waiting: its reader is only unscheduled
        os.read(read, 100)
        os.close(write)
        write = -1
        assert not pipe_held(read)  # no writer: its end of file is waiting
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)


def test_a_worker_that_exited_after_a_flood_has_all_its_output_in_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Through the real attempt: the readers of a worker that exited are held back (as a
    # loaded machine holds them) past the idle bound; its last line still reaches the log.
    log = tmp_path / "worker.log"
    done, gate = threading.Event(), threading.Event()
    real_pump = logs.pump

    def unscheduled_pump(
        src: IO[bytes], out: WorkerLog, on_line: OnLine = None, stream: int = 0
    ) -> None:
        gate.wait(20)
        real_pump(src, out, on_line, stream)

    monkeypatch.setattr(spawn, "pump", unscheduled_pump)
    argv = [sys.executable, "-c", "import sys; sys.stdout.write('y' * 30000 + '\\nlast\\n')"]
    attempt = spawn.start_attempt(argv, dict(os.environ), None, log, time.monotonic, done.set)
    attempt.proc.wait()
    threading.Timer(5.0, gate.set).start()  # past the idle bound (2 s) of both readers
    assert done.wait(30)
    assert log.read_bytes().endswith(b"\nlast\n")
