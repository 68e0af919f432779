"""A local run's wiring: the results folder, worker processes, and the reconcile loop over them.

``local_loop`` builds what ``tuneop run --local`` runs: the session's folder
below the results root, checked and claimed for one spec and the files it runs
(``adapters.results_folder.claim``; ``--fresh`` moves an earlier run aside), the
worker Jobs as processes (``adapters.processes``), the status in memory resumed
from the one the folder recorded (the Jobs a stop signal cut short reopened,
``core.planning.resume``) and the ``Reconciler`` over them. In a local run the results
folder is the durable store, and its ``session.json`` the first mirror; a Redis
mirror (``redis_mirror``), an Optuna storage (``optuna_mirror``) and an MLflow tracker
(``spec.tracking.mlflow``, ``mlflow_tracker``) only follow it: the tracker is given what it
has not logged from the folder, waited for at most ``DRAIN_BUDGET`` seconds when the run
ends, and given the rest by the next run of the session (even one with nothing left to do:
``LocalLoop.catch_up``).

A Python objective's warm workers can be started before all that (``early_workers``:
while the command line is still importing what the run needs) and handed to
``local_loop``, whose Jobs then find them started.

``LocalLoop.run`` reconciles whenever a worker exits or a deadline comes due,
until the session is terminal; a ``KeyboardInterrupt`` (every stop signal, as the
command line maps them) makes the next reconcile cancel the session. The command
line (``tuneop.cli.run``) owns what is shown: the progress, the events, the lines.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from tuneop.adapters.memory import MemoryStatus
from tuneop.adapters.processes.gpus import GpuPool, Gpus, detect_gpus
from tuneop.adapters.processes.jobs import LOG_CAP_BYTES, LocalJobs
from tuneop.adapters.processes.proctree import become_subreaper
from tuneop.adapters.processes.warm import WarmPool
from tuneop.adapters.results_folder.claim import claim_folder
from tuneop.adapters.results_folder.folder import DirectoryResults, check_session_folder
from tuneop.adapters.results_folder.runfiles import session_files
from tuneop.api.session import Session, SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus
from tuneop.api.vocabulary import Phase
from tuneop.api.worker import DEFAULT_COMMAND
from tuneop.assembly.tracking import LazyTracker
from tuneop.core.clock import Clock
from tuneop.core.jobs.localpod import local_trial
from tuneop.core.planning.resume import has_work, reopen, user_stopped_jobs
from tuneop.core.ranges import IndexSet, parse_inflight
from tuneop.core.suggest.bayesian import SessionStudies
from tuneop.ports import EventSink, Mirror, MirrorRecord, WarmStartSource
from tuneop.reconciler import Reconciler

__all__ = [
    "IDLE_WAKE_SECONDS",
    "LOG_CAP_BYTES",
    "Gpus",
    "LocalLoop",
    "WarmPool",
    "detect_gpus",
    "early_workers",
    "local_loop",
    "mlflow_tracker",
    "optuna_mirror",
    "optuna_url_problem",
    "redis_mirror",
]

IDLE_WAKE_SECONDS = 1.0


def redis_mirror(url: str, prefix: str, results_dir: Path) -> Mirror:
    """The Redis mirror a local run also writes to, backfilled from its results folder;
    a URL Redis cannot take raises ``ValueError``."""
    # Imported here: a local run without --redis-url never loads the Redis client.
    from tuneop.adapters.redis_mirror import RedisMirror

    primary = DirectoryResults(results_dir)
    return RedisMirror.from_url(url, prefix=prefix, source=primary.history)


def optuna_url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as the Optuna storage a local run streams into, or None."""
    from tuneop.adapters.optuna_storage import url_problem

    return url_problem(url)


def optuna_mirror(url: str, results_dir: Path) -> Mirror:
    """The Optuna storage a local run streams its trials into as they finish, caught up
    from its results folder (``adapters.optuna_storage``)."""
    from tuneop.adapters.optuna_storage import OptunaStorageMirror

    return OptunaStorageMirror(url, source=DirectoryResults(results_dir).history)


def mlflow_tracker(store: DirectoryResults) -> LazyTracker:
    """The MLflow tracker of a session with ``spec.tracking.mlflow``, backfilled from its
    results folder; its credentials are MLflow's variables in this environment."""
    return LazyTracker(secrets=False, source=store.history)


def early_workers(spec: SessionSpec, slots: int) -> WarmPool | None:
    """``slots`` warm workers for ``spec``'s Jobs, started now, or None where its Jobs would
    not run on them as started: not a Python objective on the runner, trials with GPUs
    (each gets a process of its own) or with variables of their own (a worker has them
    from its start). Handed to ``local_loop``; closed by its run, or by the caller when
    the run never comes (a worker also exits at the end of its input: with tuneop)."""
    trial = local_trial(spec)
    env = trial.container.get("env") or []
    own = [e for e in env if not str(e.get("name", "")).startswith("TUNEOP_")]
    if list(trial.words) != DEFAULT_COMMAND or not spec.runner.objective or trial.gpus or own:
        return None
    pool = WarmPool(dict(os.environ), None, lambda: None, LOG_CAP_BYTES)
    try:
        pool.prestart(slots)
    except OSError:  # no process to spare now: the run starts its workers as it needs them
        pool.close()
        return None
    return pool


@dataclass
class LocalLoop:
    """A local session wired and claimed, ready to run (or already finished)."""

    ref: SessionRef
    spec: SessionSpec  # with the run's overrides (--max-parallel)
    folder: Path
    # Where --fresh moved an earlier run's folder (None: nothing moved).
    archived: Path | None
    prev: SessionStatus  # the status to go on from, its stopped Jobs reopened
    reconciler: Reconciler
    backend: LocalJobs
    clock: Clock
    tracker: LazyTracker | None = field(default=None)
    # What the run also writes to (--optuna-storage, --redis-url).
    extra_mirrors: Sequence[Mirror] = ()
    # Set when the run ended with writes MLflow has not taken (the next run sends them).
    unsent: bool = False

    def catch_up(self) -> None:
        """A finished session given to what it is written to: an Optuna storage named on
        this run's command line (``catches_up``: it writes what it lacks from the results
        folder, so a storage the first run did not name gets the session), and its
        tracker (a run that ended while MLflow was down), waited for as at a run's end."""
        for mirror in self.extra_mirrors:
            if getattr(mirror, "catches_up", False):  # (a Redis mirror holds what it was sent)
                mirror.record(self.ref, self.spec, MirrorRecord(status=self.prev))
        if self.tracker is not None:
            self.tracker.record(self.ref, self.spec, MirrorRecord(status=self.prev))
            self.unsent = not self.tracker.drain()

    def finished(self) -> bool:
        """The session had finished and has nothing left to do: nothing is to run."""
        prev = self.prev
        done = prev.terminal and prev.phase is not Phase.CANCELLED
        return done and not has_work(self.spec, self.ref, prev, self.clock.now())

    def run(
        self,
        shown: AbstractContextManager[object],
        update: Callable[[SessionStatus], None],
        announce: Callable[[int], None],
        signals: AbstractContextManager[object],
    ) -> SessionStatus:
        """Reconcile until the session is terminal, inside ``signals`` (which turn stop
        signals into ``KeyboardInterrupt``); ``update`` is shown each status, ``announce``
        told how many trials the Jobs taken back had results for in their logs."""
        become_subreaper()  # even workers that called setsid are found and stopped
        try:
            with signals:
                return self._loop(shown, update, announce)
        finally:
            become_subreaper(False)
            if self.reconciler.suggester is not None:  # the run is over, whichever way
                self.reconciler.suggester.release(self.ref)
            if self.tracker is not None:  # what is still queued then, the next run sends
                self.unsent = not self.tracker.drain()

    def _loop(
        self,
        shown: AbstractContextManager[object],
        update: Callable[[SessionStatus], None],
        announce: Callable[[int], None],
    ) -> SessionStatus:
        backend, prev = self.backend, self.prev
        cancelled = False
        status = SessionStatus()
        try:
            harvested = IndexSet.parse(prev.harvested_jobs)
            backend.resume({i for i in parse_inflight(prev.inflight) if i not in harvested})
            announce(backend.collected)
            with shown:
                while True:
                    backend.wakeup.clear()
                    try:
                        result = self.reconciler.reconcile(self.ref, self.spec, cancelled=cancelled)
                        status = result.status
                        update(status)
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


def local_loop(
    session: Session,
    results_dir: Path,
    *,
    events: EventSink,
    clock: Clock,
    cwd: Path,
    search_path: Sequence[str],
    max_parallel: int | None = None,
    extra_mirrors: Sequence[Mirror] = (),
    log_cap_bytes: int = LOG_CAP_BYTES,
    fresh: bool = False,
    warm_start: WarmStartSource | None = None,
    warm_workers: bool = True,
    gpus: Gpus | None = None,
    workers: WarmPool | None = None,
) -> LocalLoop:
    """Claim ``session``'s folder below ``results_dir`` and wire its run (module doc);
    ``workers``: warm workers started early (``early_workers``), the Jobs' to take.
    ``cwd`` and ``search_path`` find the files its commands run, fingerprinted in the
    claim. A folder of another spec, or of files changed since, raises
    ``ForeignResults``; one with a link or FIFO planted in it, ``UnsafePath``."""
    spec = session.spec
    if max_parallel is not None:
        spec = spec.model_copy(update={"max_parallel": max_parallel})
    ref = session.ref
    store = DirectoryResults(results_dir, local=True, monotonic=clock.monotonic)
    folder = store.session_dir(ref)
    if not fresh:  # --fresh moves the folder aside, strangers and all
        check_session_folder(folder, results_dir)
    files = session_files(session.spec, cwd, search_path)
    claim = claim_folder(folder, session.spec, fresh, clock.now(), files)
    backend = LocalJobs(
        logs_dir=folder / "logs",
        log_cap_bytes=log_cap_bytes,
        warm_workers=warm_workers,
        gpus=GpuPool(gpus or Gpus()),
        monotonic=clock.monotonic,
    )
    if workers is not None and warm_workers:
        workers.on_done, workers.cap = backend.wakeup.set, log_cap_bytes
        backend.pool = workers
    prev = _reopened(claim.status, store, ref, backend)
    tracked = spec.tracking is not None and spec.tracking.mlflow is not None
    tracker = mlflow_tracker(store) if tracked else None
    reconciler = Reconciler(
        jobs=backend,
        statuses=MemoryStatus(status=prev),
        store=store,
        mirrors=[store, *extra_mirrors, *([tracker] if tracker else [])],
        tracker=tracker,
        events=events,
        clock=clock,
        suggester=SessionStudies(),
        warm_start=warm_start,
        running_logs=backend,  # early stopping reads running trials' output
    )
    return LocalLoop(
        ref, spec, folder, claim.archived, prev, reconciler, backend, clock, tracker, extra_mirrors
    )


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
