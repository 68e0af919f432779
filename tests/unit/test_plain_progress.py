"""``cli.progress.PlainProgress``: how many lines, and when, on a clock the test drives."""

from __future__ import annotations

import io

from rich.console import Console

from tuneop.api.status import SessionStatus, TrialCounts, TrialRef
from tuneop.api.vocabulary import Phase
from tuneop.cli.progress import HEARTBEAT_SECONDS, MIN_GAP_SECONDS, PlainProgress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def status(done: int, total: int = 50, phase: Phase = Phase.RUNNING) -> SessionStatus:
    return SessionStatus(phase=phase, trials=TrialCounts(total=total, succeeded=done, running=1))


def printer() -> tuple[PlainProgress, io.StringIO, Clock]:
    out = io.StringIO()
    clock = Clock()
    return PlainProgress(Console(file=out, width=1000), clock=clock), out, clock


def test_a_line_at_once_then_each_change_at_most_every_gap() -> None:
    p, out, clock = printer()
    for done in range(17):  # a trial finishing every 0.25 s, for 4 s
        clock.now = 100.0 + done * 0.25
        p.update(status(done), "loss")
    lines = out.getvalue().splitlines()
    # 4 s of run: the first line at once, then one every MIN_GAP_SECONDS at most.
    assert len(lines) == 1 + int(4.0 // MIN_GAP_SECONDS)
    assert lines[0] == "progress: 0/50 trials, 1 running, 0 failed (0 s)"
    assert all(line.startswith("progress: ") for line in lines)


def test_nothing_changing_prints_a_heartbeat_only() -> None:
    p, out, clock = printer()
    for _ in range(int(HEARTBEAT_SECONDS * 3)):  # a wake-up a second, for 90 s
        p.update(status(3), "loss")
        clock.now += 1.0
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[-1].endswith(f"({2 * HEARTBEAT_SECONDS:.0f} s)")


def test_the_end_is_left_to_the_command() -> None:
    p, out, _clock = printer()
    p.update(status(50, phase=Phase.SUCCEEDED), "loss")
    assert out.getvalue() == ""


def test_a_hostile_metric_name_is_printed_as_text() -> None:
    p, out, _clock = printer()
    st = status(1).model_copy(update={"best": TrialRef(trial=0, value=0.5)})
    p.update(st, "[red]x\x1b[2J")
    assert "best [red]x\\x1b[2J=0.5" in out.getvalue()
