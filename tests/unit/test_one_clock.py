"""One clock: the time is read in ``core.clock`` only, and a run follows the clock it is given.

Every part of the operator and of a local run takes its time from the ``Clock``
it was wired with (``controller.runtime.build_runtime``, ``cli.run.run_local``);
``SystemClock`` is the one place that reads the machine's time. The exceptions
time real processes, which follow the OS whatever a test's clock says: the kill
grace of a process tree and of the watchdog, and a warm worker's wall times.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import tuneop
from tuneop.core.clock import SYSTEM_CLOCK, FrozenClock

PACKAGE = Path(tuneop.__file__).parent
READS = {("datetime", "now"), ("datetime", "utcnow"), ("date", "today")}
READS |= {("time", name) for name in ("time", "monotonic", "perf_counter", "time_ns")}
# Real processes' times, not the run's (see the module docstring).
OWN_TIME = {
    "core/clock.py",
    "adapters/processes/proctree.py",
    "adapters/processes/watchdog.py",
    "adapters/processes/warm.py",
}


def reads_of_the_time(tree: ast.AST) -> list[int]:
    """Lines that read (or hand on) the system's time: ``datetime.now``, ``time.monotonic``…"""
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and (node.value.id, node.attr) in READS
    )


def test_only_the_clock_reads_the_system_time() -> None:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name not in OWN_TIME and (lines := reads_of_the_time(ast.parse(path.read_text()))):
            found[name] = lines
    assert found == {}


def test_the_scan_sees_each_way_of_reading_the_time() -> None:
    source = "a = datetime.now(UTC)\nb = time.monotonic\nc = time.time()\nd = clock.now()\n"
    assert reads_of_the_time(ast.parse(source)) == [1, 2, 3]


def test_a_frozen_clock_moves_only_when_told_both_readings_together() -> None:
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    clock = FrozenClock(t0)
    assert (clock.now(), clock.now(), clock.monotonic()) == (t0, t0, 0.0)
    clock.advance(2.5)
    assert (clock.now(), clock.monotonic()) == (t0 + timedelta(seconds=2.5), 2.5)
    ticking = FrozenClock(t0, step=1)
    assert [ticking.now(), ticking.now()] == [t0 + timedelta(seconds=1), t0 + timedelta(seconds=2)]


def test_the_system_clock_is_utc_and_monotonic() -> None:
    now = SYSTEM_CLOCK.now()
    assert now.tzinfo is UTC and abs((datetime.now(UTC) - now).total_seconds()) < 60
    first = SYSTEM_CLOCK.monotonic()
    assert SYSTEM_CLOCK.monotonic() >= first
