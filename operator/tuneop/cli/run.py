"""Local sessions: the operator's reconcile loop with processes for Jobs.

``run_local`` drives the very same ``Reconciler`` (same planner, status
computation and result parser) with a ``LocalJobs`` backend and a results
folder. It reconciles whenever a worker exits or a deadline comes due, and
shows progress with rich when attached to a terminal, as plain lines
(``cli.progress``) when not.

A session's folder belongs to one spec and the files it runs
(``adapters.results_folder.claim``): running the same session again resumes it from
the status it recorded, taking back the Jobs an interrupted run left in
flight or stopped (``core.planning.resume``), and its first line says what it keeps
and what it runs; a finished session with nothing left to do is not run
again; another spec, or an edited file, is refused.

On SIGINT (Ctrl-C), SIGTERM or SIGHUP it reconciles once more as cancelled:
running workers and every process below them are stopped and reaped, the
status becomes Cancelled with the stopped trials recorded, and every result
already harvested stays on disk. Further signals during that clean-up are
ignored; the process is the subreaper of its workers, so even children that
called ``setsid`` are found and stopped.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from rich.console import Console

from tuneop.api.session import Session, SessionRef
from tuneop.api.status import SessionStatus
from tuneop.api.vocabulary import INVALID_SPEC
from tuneop.assembly.local import LOG_CAP_BYTES, Gpus, WarmPool, local_loop
from tuneop.cli.progress import PlainProgress, ProgressView
from tuneop.cli.text import clean, styled
from tuneop.core.clock import SYSTEM_CLOCK, Clock
from tuneop.core.planning.planner import Event
from tuneop.core.planning.resume import resume_line
from tuneop.core.suggest.search import budget
from tuneop.ports import Mirror, WarmStartSource

__all__ = [
    "STOP_SIGNALS",
    "ConsoleEvents",
    "LocalRun",
    "SessionBar",
    "run_local",
    "stop_on_signals",
]

# What Ctrl-C, timeout(1), systemd, CI runners and a closed terminal send.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Each stop signal interrupts the loop once (as Ctrl-C does); later ones are ignored
    so the clean-up that follows is not itself interrupted."""
    fired: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if not fired:
            fired.append(signum)
            raise KeyboardInterrupt

    try:
        previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    except ValueError:  # not the main thread: leave signals to the caller
        yield
        return
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@dataclass
class ConsoleEvents:
    """Warnings go to the console as they happen; routine events stay quiet. An invalid
    spec is not printed here: the command reports it as its one error line, on stderr."""

    console: Console
    verbose: bool = False
    seen: list[Event] = field(default_factory=list)

    def emit(self, ref: SessionRef, events: Sequence[Event]) -> None:
        self.seen.extend(events)
        for e in events:
            if e.reason == INVALID_SPEC:
                continue
            if e.type == "Warning" or self.verbose:
                style = "yellow" if e.type == "Warning" else "dim"
                self.console.print(styled((e.reason, style), ": ", e.message), highlight=False)


@dataclass
class LocalRun:
    status: SessionStatus
    session_dir: Path
    events: list[Event]
    # The session had finished and had nothing left to do: nothing ran, nothing was written.
    finished: bool = False


class SessionBar:
    """Phase, progress, running, failed and best: the progress line of a session."""

    def __init__(self, console: Console, enabled: bool, total: int) -> None:
        # Imported here: off a terminal the run shows plain lines (cli.progress) and never
        # loads rich's live display.
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}", markup=False),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self.task = self.progress.add_task("trials", total=total, detail="")
        self.enabled = enabled

    def shown(self) -> AbstractContextManager[object]:
        """The bar while the session runs; nothing at all when disabled (rich would still
        print an empty line when a disabled bar stops)."""
        return self.progress if self.enabled else nullcontext()

    def update(self, status: SessionStatus, metric: str) -> None:
        t = status.trials
        best = f" best {clean(metric, 64)}={status.best.value:.6g}" if status.best else ""
        if status.front_size is not None:
            best = f" Pareto front {status.front_size}"
        detail = f"running {t.running} failed {t.failed}{best}"
        self.progress.update(
            self.task, description=str(status.phase), total=t.total, completed=t.done, detail=detail
        )


def run_local(
    session: Session,
    results_dir: Path,
    console: Console,
    max_parallel: int | None = None,
    progress: bool | None = None,
    extra_mirrors: Sequence[Mirror] = (),
    clock: Clock = SYSTEM_CLOCK,
    verbose: bool = False,
    log_cap_bytes: int = LOG_CAP_BYTES,
    fresh: bool = False,
    warm_start: WarmStartSource | None = None,
    warm_workers: bool = True,
    gpus: Gpus | None = None,
    workers: WarmPool | None = None,
) -> LocalRun:
    """Run (or resume) ``session``; ``fresh`` archives a previous run's folder first;
    ``gpus`` are the devices its trials may have, each its own. A folder of another spec,
    or of files changed since, raises ``ForeignResults``; one with a link or FIFO planted
    where a file or folder of the session goes, ``UnsafePath``; a disk that fills, the
    ``OSError`` naming the file (the results stored so far stay: a rerun resumes).
    ``warm_workers``: a Python objective's Jobs run on one warm worker per slot
    (``adapters.processes.warm``), ``workers`` those started early
    (``assembly.local.early_workers``). The wiring is the composition root's
    (``tuneop.assembly.local``); what is shown is this module's."""
    events = ConsoleEvents(console, verbose)
    loop = local_loop(
        session,
        results_dir,
        events=events,
        clock=clock,
        cwd=Path.cwd(),
        search_path=sys.path,
        max_parallel=max_parallel,
        extra_mirrors=extra_mirrors,
        log_cap_bytes=log_cap_bytes,
        fresh=fresh,
        warm_start=warm_start,
        warm_workers=warm_workers,
        gpus=gpus,
        workers=workers,
    )
    if loop.archived is not None:
        moved = f"starting {loop.ref.name} over: the previous results moved to {loop.archived}"
        console.print(styled(moved), highlight=False, soft_wrap=True)  # a path: no markup
    if loop.finished():
        loop.catch_up()
        _say_unsent(loop.unsent)
        return LocalRun(status=loop.prev, session_dir=loop.folder, events=[], finished=True)
    bar: ProgressView
    if progress is None and not console.is_terminal:
        bar = PlainProgress(console)  # CI, a pipe, nohup: plain lines, no live view
    else:
        bar = SessionBar(console, console.is_terminal if progress is None else progress, 0)
    prev, spec = loop.prev, loop.spec

    def announce(collected: int) -> None:
        if prev.next_trial > 0:  # an earlier run launched trials: say what is kept
            done = prev.trials.done + collected
            line = resume_line(loop.ref.name, done, budget(spec)[0], collected)
            console.print(styled(line), highlight=False, soft_wrap=True)

    def update(status: SessionStatus) -> None:
        bar.update(status, spec.objective.metric)

    status = loop.run(bar.shown(), update, announce, stop_on_signals())
    _say_unsent(loop.unsent)
    return LocalRun(status=status, session_dir=loop.folder, events=events.seen)


def _say_unsent(unsent: bool) -> None:
    if unsent:
        print(
            "notice: the MLflow server has not taken everything yet; run the same command"
            " again once it answers, and it sends the rest",
            file=sys.stderr,
        )
