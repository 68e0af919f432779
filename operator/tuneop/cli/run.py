"""Local sessions: the operator's reconcile loop with processes for Jobs.

``run_local`` drives the very same ``Reconciler`` (same planner, status
computation and result parser) with a ``LocalJobs`` backend and a results
folder. It reconciles whenever a worker exits or a deadline comes due, and
shows progress with rich when attached to a terminal, as plain lines
(``cli.progress``) when not.

A session's folder belongs to one spec and the files it runs
(``adapters.local.claim``): running the same session again resumes it from
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
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tuneop.adapters.local.claim import claim_folder
from tuneop.adapters.local.folder import DirectoryResults, check_session_folder
from tuneop.adapters.local.gpus import GpuPool, Gpus
from tuneop.adapters.local.processes import LOG_CAP_BYTES, LocalJobs
from tuneop.adapters.local.proctree import become_subreaper
from tuneop.adapters.local.runfiles import session_files
from tuneop.adapters.memory import MemoryStatus
from tuneop.api.session import Session, SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus
from tuneop.api.vocabulary import INVALID_SPEC, Phase
from tuneop.cli.progress import PlainProgress, ProgressView
from tuneop.cli.text import clean, styled
from tuneop.core.planning.planner import Event
from tuneop.core.planning.resume import has_work, reopen, resume_line, user_stopped_jobs
from tuneop.core.ranges import IndexSet, parse_inflight
from tuneop.core.suggest.bayesian import CachedSuggester
from tuneop.core.suggest.search import budget
from tuneop.ports import Mirror, WarmStartSource
from tuneop.reconciler import Reconciler

__all__ = [
    "IDLE_WAKE_SECONDS",
    "STOP_SIGNALS",
    "ConsoleEvents",
    "LocalRun",
    "SessionBar",
    "run_local",
    "utcnow",
]

IDLE_WAKE_SECONDS = 1.0
# What Ctrl-C, timeout(1), systemd, CI runners and a closed terminal send.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def _stop_on_signals() -> Iterator[None]:
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


def utcnow() -> datetime:
    return datetime.now(UTC)


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
    clock: Callable[[], datetime] = utcnow,
    verbose: bool = False,
    log_cap_bytes: int = LOG_CAP_BYTES,
    fresh: bool = False,
    warm_start: WarmStartSource | None = None,
    warm_workers: bool = True,
    gpus: Gpus | None = None,
) -> LocalRun:
    """Run (or resume) ``session``; ``fresh`` archives a previous run's folder first;
    ``gpus`` are the devices its trials may have, each its own. A folder of another spec,
    or of files changed since, raises ``ForeignResults``; one with a link or FIFO planted
    where a file or folder of the session goes, ``UnsafePath``; a disk that fills, the
    ``OSError`` naming the file (the results stored so far stay: a rerun resumes).
    ``warm_workers``: a Python objective's Jobs run on one warm worker per slot
    (``adapters.local.warm``)."""
    spec = session.spec
    if max_parallel is not None:
        spec = spec.model_copy(update={"max_parallel": max_parallel})
    ref = session.ref
    store = DirectoryResults(results_dir)
    folder = store.session_dir(ref)
    if not fresh:  # --fresh moves the folder aside, strangers and all
        check_session_folder(folder, results_dir)
    files = session_files(session.spec, Path.cwd(), sys.path)
    claim = claim_folder(folder, session.spec, fresh, clock(), files)
    if claim.archived is not None:
        moved = f"starting {ref.name} over: the previous results moved to {claim.archived}"
        console.print(clean(moved), highlight=False, soft_wrap=True)
    backend = LocalJobs(
        logs_dir=folder / "logs",
        log_cap_bytes=log_cap_bytes,
        warm_workers=warm_workers,
        gpus=GpuPool(gpus or Gpus()),
    )
    prev = _reopened(claim.status, store, ref, backend)
    finished = prev.terminal and prev.phase is not Phase.CANCELLED
    if finished and not has_work(spec, ref, prev, clock()):
        return LocalRun(status=prev, session_dir=folder, events=[], finished=True)
    events = ConsoleEvents(console, verbose)
    reconciler = Reconciler(
        jobs=backend,
        statuses=MemoryStatus(status=prev),
        store=store,
        mirrors=[store, *extra_mirrors],
        events=events,
        clock=clock,
        suggest=CachedSuggester(),
        warm_start=warm_start,
    )
    bar: ProgressView
    if progress is None and not console.is_terminal:
        bar = PlainProgress(console)  # CI, a pipe, nohup: plain lines, no live view
    else:
        bar = SessionBar(console, console.is_terminal if progress is None else progress, 0)

    def announce(collected: int) -> None:
        if prev.next_trial > 0:  # an earlier run launched trials: say what is kept
            line = resume_line(ref.name, prev.trials.done + collected, budget(spec)[0], collected)
            console.print(clean(line), highlight=False, soft_wrap=True)

    become_subreaper()
    try:
        with _stop_on_signals():
            status = _loop(spec, ref, reconciler, backend, prev, bar, announce)
    finally:
        become_subreaper(False)
    return LocalRun(status=status, session_dir=folder, events=events.seen)


def _reopened(
    prev: SessionStatus, store: DirectoryResults, ref: SessionRef, backend: LocalJobs
) -> SessionStatus:
    """``prev`` with the Jobs a stop signal stopped in flight again, to be run again or
    collected like those a ``kill -9`` left (only Jobs recorded well enough to take back).
    A failed session stays as it failed: its stopped trials are not reopened."""
    if prev.phase is Phase.FAILED or prev.trials.cancelled == 0:
        return prev  # (and reading every trial's file is not needed)
    stopped = user_stopped_jobs(store.history(ref))
    if not stopped:
        return prev
    takeable = backend.recorded(set(stopped))
    return reopen(prev, {i: ts for i, ts in stopped.items() if i in takeable})


def _loop(
    spec: SessionSpec,
    ref: SessionRef,
    reconciler: Reconciler,
    backend: LocalJobs,
    prev: SessionStatus,
    bar: ProgressView,
    announce: Callable[[int], None],
) -> SessionStatus:
    """Reconcile until the session is terminal; a stop signal cancels it. ``announce``
    is told how many trials the Jobs taken back had results for in their logs."""
    cancelled = False
    status = SessionStatus()
    try:
        harvested = IndexSet.parse(prev.harvested_jobs)
        backend.resume({i for i in parse_inflight(prev.inflight) if i not in harvested})
        announce(backend.collected)
        with bar.shown():
            while True:
                backend.wakeup.clear()
                try:
                    result = reconciler.reconcile(ref, spec, cancelled=cancelled)
                    status = result.status
                    bar.update(status, spec.objective.metric)
                    if status.terminal:
                        break
                    waits = [
                        IDLE_WAKE_SECONDS,
                        result.requeue_after,
                        backend.seconds_to_next_deadline(),
                    ]
                    backend.wakeup.wait(min(w for w in waits if w is not None))
                except KeyboardInterrupt:
                    cancelled = True
    finally:
        backend.shutdown()
    return status
