"""A session run on this machine from Python: what ``tuneop run --local`` runs, without its screen.

``run_local`` makes the command's checks first (``tuneop.cli.preflight``: the runner
installed, the objective loading as a worker loads it, the GPUs), then drives the
same wiring (``tuneop.assembly.local``): the session's folder below the results root,
claimed for one spec and the files it runs, and the reconcile loop over worker
processes. So a second run of the same session resumes it (the trials an interrupted
run left are run again, a finished one with nothing left to do runs nothing), another
spec in that folder is refused unless ``fresh`` moves the earlier run aside, and a
Ctrl-C (a notebook's interrupt) cancels the session cleanly, keeping what finished.

Instead of a progress bar the caller's ``on_progress`` is called with each status
read; instead of printed notices the ``Results`` carry them. The trials of the
``Results`` are the session folder's own, as the command line's summary reads them
(``session_records``): not a copy of an old run nested below the folder, nor a trial
file of another session copied in.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path

from tuneop.api.session import Session, SessionRef
from tuneop.api.spec import SpecError, parse_spec, spec_to_wire
from tuneop.api.status import SessionStatus
from tuneop.api.vocabulary import INVALID_SPEC
from tuneop.assembly.folders import ForeignResults, UnsafePath, session_dir, session_records
from tuneop.assembly.local import local_loop
from tuneop.cli.preflight import LocalSetup, local_setup, preflight
from tuneop.cli.run import stop_on_signals
from tuneop.cli.text import clean, os_error_text
from tuneop.cli.warmstart import LocalWarmStart
from tuneop.core.clock import SYSTEM_CLOCK
from tuneop.core.planning.planner import Event
from tuneop.core.planning.resume import finished_line, resume_line
from tuneop.core.suggest.search import budget
from tuneop.sdk.results import Progress, Results, SessionError

__all__ = ["DEFAULT_RESULTS_DIR", "ProgressCallback", "run_local"]

DEFAULT_RESULTS_DIR = "tuneop-results"  # as tuneop run --local's --results-dir

ProgressCallback = Callable[[Progress], None]


class _Warnings:
    """The run's Warning events, kept for the results (an event sink)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def emit(self, ref: SessionRef, events: Sequence[Event]) -> None:
        for e in events:
            if e.type == "Warning" and e.reason != INVALID_SPEC:
                self.lines.append(f"{e.reason}: {e.message}")


def _setup(session: Session) -> LocalSetup:
    """The local setup, or the one line that says why the session cannot run here."""
    spec = session.spec
    if spec.trial_resource is not None:
        raise SessionError(
            f"{session.ref.name}: a trialResource session runs here with tuneop run --local"
            " (its primary container alone); from Python, submit it to a cluster"
        )
    problem = preflight(spec)
    setup = local_setup(spec, os.environ) if problem is None else problem
    if isinstance(setup, str):
        raise SessionError(f"{session.ref.name}: {setup}")
    return setup


def _stopped(err: OSError, session: Session, root: Path) -> SessionError:
    """An ``OSError`` of the results folder as the one line ``tuneop run --local`` prints
    for it: a planted link named as such; else the file and the failure, and that what
    was stored stays to be resumed."""
    if isinstance(err, UnsafePath):
        return SessionError(str(err))
    folder = session_dir(root, session.ref)
    return SessionError(
        f"{os_error_text(err, folder)}; the run stopped, and the results stored so far stay"
        f" in {clean(folder)}: run the session again to resume"
    )


def run_local(
    session: Session,
    results_dir: str | Path = DEFAULT_RESULTS_DIR,
    *,
    fresh: bool = False,
    max_parallel: int | None = None,
    on_progress: ProgressCallback | None = None,
    warm_workers: bool = True,
) -> Results:
    """Run (or resume) ``session`` here; its results when it ends. ``fresh`` moves an
    earlier run's folder aside first; ``max_parallel`` overrides the spec's (a run's
    setting: the folder stays the session's, as with ``tuneop run --max-parallel``)."""
    if max_parallel is not None:  # as tuneop run --max-parallel: checked, then set up
        wire = {**spec_to_wire(session.spec), "maxParallel": max_parallel}
        session = dataclasses.replace(session, spec=parse_spec(wire))
    setup = _setup(session)
    notices = list(setup.notices)
    root = Path(results_dir)
    warnings = _Warnings()
    warm_start = LocalWarmStart(None, "tuneop")
    warm_start.prior(session.ref, session.spec)  # a bad reference stops the run here
    try:
        loop = local_loop(
            session,
            root,
            events=warnings,
            clock=SYSTEM_CLOCK,
            cwd=Path.cwd(),
            search_path=sys.path,
            max_parallel=setup.max_parallel,
            fresh=fresh,
            warm_start=warm_start,
            warm_workers=warm_workers,
            gpus=setup.gpus,
        )
    except ForeignResults as err:
        raise SessionError(f"{err} (from Python: fresh=True)") from None
    except OSError as err:  # a planted link (UnsafePath), a full disk, a folder not moved
        raise _stopped(err, session, root) from None
    if loop.archived is not None:
        notices.append(
            f"starting {loop.ref.name} over: the previous results moved to {loop.archived}"
        )
    key = session.ref.key
    if loop.finished():
        line = finished_line(loop.ref.name, loop.prev, str(loop.folder))
        notices.append(line.replace("--fresh", "fresh=True"))
        records = session_records(loop.folder)  # its own, as tuneop run --local reads them
        return Results.of(
            key, loop.prev, records, folder=loop.folder, notices=notices, already_finished=True
        )
    prev, spec = loop.prev, loop.spec

    def announce(collected: int) -> None:
        if prev.next_trial > 0:  # an earlier run launched trials: say what is kept
            done = prev.trials.done + collected
            notices.append(resume_line(loop.ref.name, done, budget(spec)[0], collected))

    def update(status: SessionStatus) -> None:
        if on_progress is not None:
            on_progress(Progress.of(status))

    try:
        status = loop.run(nullcontext(), update, announce, stop_on_signals())
    except OSError as err:  # a full disk (ENOSPC), a file size limit (EFBIG), ...
        raise _stopped(err, session, root) from None
    invalid = [c for c in status.conditions if c.reason == INVALID_SPEC]
    if invalid:
        raise SpecError([invalid[0].message])
    notices.extend(warnings.lines)
    records = session_records(loop.folder)  # a stranger or a nested copy copied in is not
    return Results.of(key, status, records, folder=loop.folder, notices=notices)
