"""Progress of a local run when its output is not a terminal: plain lines, as they happen.

At a terminal ``tuneop run --local`` redraws one live bar (``cli.run.SessionBar``).
Elsewhere (CI, ``nohup``, ``| tee``) a live view cannot be drawn, and printing
nothing until the end leaves a log silent for the whole run; so ``PlainProgress``
prints one line, flushed at once, that a log keeps whole::

    progress: 3/16 trials, 2 running, 1 failed, best loss=0.25 (12 s)

Bounded whatever the session: a line when the counts change, at most one every
``MIN_GAP_SECONDS`` (trials finishing faster are summed into the next line), and
while nothing changes one every ``HEARTBEAT_SECONDS`` so the log shows the run is
alive. A run of an hour prints at most 1,800 lines, usually far fewer. The clock
is an input, so the tests drive it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

from rich.console import Console

from tuneop.api.status import PARETO_FRONT_SIZE, SessionStatus
from tuneop.cli.text import clean, styled
from tuneop.core.clock import SYSTEM_CLOCK

__all__ = [
    "HEARTBEAT_SECONDS",
    "MIN_GAP_SECONDS",
    "PlainProgress",
    "ProgressView",
    "progress_line",
]

MIN_GAP_SECONDS = 2.0
HEARTBEAT_SECONDS = 30.0


class ProgressView(Protocol):
    """What the local run's loop shows its progress on: a live bar or plain lines."""

    def shown(self) -> AbstractContextManager[object]: ...

    def update(self, status: SessionStatus, metric: str) -> None: ...


def progress_line(status: SessionStatus, metric: str) -> str:
    """The session's counts in one line (without the elapsed time)."""
    t = status.trials
    parts = [f"{t.done}/{t.total} trials", f"{t.running} running"]
    if t.queued:
        parts.append(f"{t.queued} queued")
    parts.append(f"{t.failed + t.lost + t.infra_failed} failed")
    if t.pruned:
        parts.append(f"{t.pruned} pruned")
    if status.best is not None:
        parts.append(f"best {clean(metric, 64)}={status.best.value:.6g}")
    if status.front_size is not None:
        # At the status's cap the front may be wider than what it keeps.
        wider = "+" if status.front_size >= PARETO_FRONT_SIZE else ""
        parts.append(f"Pareto front {status.front_size}{wider}")
    return ", ".join(parts)


class PlainProgress:
    """Progress lines for output that is not a terminal (see the module's docstring)."""

    def __init__(
        self,
        console: Console,
        clock: Callable[[], float] = SYSTEM_CLOCK.monotonic,
        min_gap: float = MIN_GAP_SECONDS,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.console = console
        self.clock = clock
        self.min_gap = min_gap
        self.heartbeat = heartbeat
        self.started = clock()
        self.last_line = ""
        self.last_at: float | None = None

    def shown(self) -> AbstractContextManager[object]:
        return nullcontext()

    def update(self, status: SessionStatus, metric: str) -> None:
        if status.terminal:
            return  # the command's own last lines say how it ended
        now = self.clock()
        line = progress_line(status, metric)
        since = None if self.last_at is None else now - self.last_at
        changed = line != self.last_line
        due = since is None or (since >= self.min_gap if changed else since >= self.heartbeat)
        if not due:
            return
        elapsed = max(now - self.started, 0.0)
        self.console.print(styled(f"progress: {line} ({elapsed:.0f} s)"), highlight=False)
        self.console.file.flush()
        self.last_line, self.last_at = line, now
