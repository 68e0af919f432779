"""The ledger step: fold what finished into the session's counters and leaderboard (or front).

The status keeps a ledger so the planner can resume once Jobs are gone: the
set of harvested Job indexes, the launch watermark (next Job, next trial), the
trial ranges of Jobs launched but not yet harvested (in flight), the trial
counters and the leaderboard. Each reconcile opens the ledger from the last
written status and the live Jobs, then folds in the Jobs harvested in this
reconcile and the in-flight Jobs that vanished before their harvest (their
trials are ResultsLost).

The trial counters and the leaderboard are carried forward and only added
to, never recomputed: results are not kept in the status. That is safe
because a Job enters the harvested set exactly once, keyed by its index, and
its results are counted in the same status write that records it there (the
write carries the object's resourceVersion, so two Jobs finishing together
cannot both be folded into one stale status). A Job is therefore counted
exactly once however many reconciles see it. Jobs are deleted only after the
status recording their harvest was written (``collectable``).

The ledger is a frozen value, and every planning step is a function that
returns a ``Step``: the ledger after it, with what the step adds to the plan
(results to persist, events, Jobs to delete). ``plan`` folds the steps in
order (``tuneop.core.planning.planner``); no step changes the ledger it was given, so
any one of them can be tested on its own, and run twice, from the same input.
The ledger is read from, and written back into, the status's own fields
(``harvestedJobs``, ``inflight``, ``nextJob``, ``trials``...): the wire
layout is the one every earlier tuneop wrote.

Failed trials with attempts left are not counted at their harvest: they wait in
``retries`` for the launch step to run them again (``tuneop.core.planning.retry``). A
Job whose pod has not started within ``spec.podStartTimeoutSeconds`` is ended
here: its trials are InfrastructureFailure (they spend no failure budget), and
the reason is kept for the InfrastructureDegraded condition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from tuneop.api.spec import SessionSpec
from tuneop.api.status import (
    LEADERBOARD_SIZE,
    MAX_ENTRY_PARAMS_BYTES,
    MAX_MESSAGE,
    ParetoEntry,
    SessionStatus,
    TrialCounts,
    TrialRef,
)
from tuneop.core.jobs.observed import JobState, Observed, ObservedJob
from tuneop.core.planning import events
from tuneop.core.planning.events import Event
from tuneop.core.planning.retry import PendingRetry, split_retries
from tuneop.core.planning.starting import InfraIssue, not_started
from tuneop.core.ranges import IndexSet, format_inflight, parse_inflight
from tuneop.core.results.pareto import fold_front
from tuneop.core.results.ranking import rank_by
from tuneop.core.suggest.search import known_point
from tuneop.core.wire.contract import TRIAL_FAILURES, Outcome, TrialResult, missing_result

__all__ = [
    "HARVEST_BATCH",
    "Ledger",
    "Step",
    "collectable",
    "count",
    "fold_leaderboard",
    "kept",
    "open_ledger",
    "repeated_error",
    "slot_holders",
]

# Finished Jobs folded into one status write, at most: a reconcile commits a backlog in
# batches (persist, write, delete, then the next batch), so an operator killed every few
# seconds still commits its first batch, and the first write after a start does not wait
# for every log of the backlog to be read.
HARVEST_BATCH = 5


@dataclass(frozen=True)
class Ledger:
    """The planner's bookkeeping in one reconcile, and the live Jobs it accounts for.

    Frozen: a step returns a new ledger (``Step.ledger``); ``harvested`` is never
    added to in place (``closing`` makes a new set)."""

    start_time: datetime
    harvested: IndexSet
    inflight: Mapping[int, tuple[int, ...]]
    next_job: int
    next_trial: int
    # Retry Jobs among the next_job Jobs launched (core.planning.retry).
    retry_jobs: int
    counts: TrialCounts
    board: tuple[TrialRef, ...]
    # The live Jobs, one per index, and those still holding a maxParallel slot:
    # running, or finished but not harvested.
    jobs: tuple[ObservedJob, ...]
    active: tuple[ObservedJob, ...]
    unharvested: tuple[ObservedJob, ...] = ()
    # The same error, in a row, of the failed trials before any success (fail fast).
    repeated_error: str = ""
    repeated_error_count: int = 0
    # Failed trials waiting for the launch step to run them again.
    retries: tuple[PendingRetry, ...] = ()
    # Pods that never started, ended in this reconcile (InfrastructureDegraded).
    issue: InfraIssue | None = None
    pods_not_started: int = 0
    evictions: int = 0
    # Several objectives: the Pareto front, in place of the board (which stays empty).
    front: tuple[ParetoEntry, ...] = ()

    @property
    def best(self) -> TrialRef | None:
        return self.board[0] if self.board else None

    @property
    def inflight_text(self) -> str:
        return format_inflight(self.inflight)

    def closing(self, indexes: Iterable[int]) -> Ledger:
        """The ledger with the Jobs ``indexes`` harvested: no longer in flight."""
        done = set(indexes)
        if not done:
            return self
        inflight = {i: t for i, t in self.inflight.items() if i not in done}
        return replace(self, harvested=self.harvested.plus(done), inflight=inflight)

    def launching(self, index: int, trials: tuple[int, ...]) -> Ledger:
        """The ledger with Job ``index`` in flight, running ``trials``."""
        return replace(self, inflight={**self.inflight, index: trials})


@dataclass(frozen=True)
class Step:
    """One planning step's result: the ledger after it, and what it adds to the plan."""

    ledger: Ledger
    persist: tuple[TrialResult, ...] = ()
    events: tuple[Event, ...] = ()
    # Jobs to delete once the status is written.
    delete: tuple[str, ...] = ()


def _opened(prev: SessionStatus, live: Sequence[ObservedJob], now: datetime) -> Ledger:
    """The ledger as the last status left it, with the live Jobs it has not seen adopted."""
    harvested = IndexSet.parse(prev.harvested_jobs)
    inflight = parse_inflight(prev.inflight)
    for j in live:
        # Jobs created before a status write was lost are adopted, not launched again.
        if j.trials and j.index not in harvested:
            inflight.setdefault(j.index, j.trials)
    # Retry Jobs created by a reconcile whose status write was lost: counted as it would have.
    adopted = [j for j in live if j.retry is not None and j.index >= prev.next_job]
    retried = prev.trials.retried + sum(len(j.trials) for j in adopted)
    opened = Ledger(
        start_time=prev.start_time or now,
        harvested=harvested,
        inflight=inflight,
        next_job=max([prev.next_job, *(j.index + 1 for j in live)]),
        next_trial=max([prev.next_trial, *(t + 1 for j in live for t in j.trials)]),
        retry_jobs=prev.retry_jobs + len(adopted),
        counts=prev.trials.model_copy(update={"retried": retried}),
        board=tuple(prev.leaderboard),
        front=tuple(prev.pareto_front),
        jobs=tuple(live),
        active=tuple(j for j in live if j.state is JobState.ACTIVE),
    )
    return opened


def open_ledger(spec: SessionSpec, observed: Observed, now: datetime) -> Step:
    """The ledger after this reconcile's harvests: counted, ranked, lost Jobs recorded."""
    prev = observed.status
    live = list({j.index: j for j in observed.jobs}.values())
    opened = _opened(prev, live, now)
    harvest = _harvested(spec, opened, sorted(live, key=lambda j: j.index))
    vanished = _vanished(spec, harvest.ledger, {j.index for j in live})
    ended = _not_started(spec, vanished.ledger, now)
    persist = (*harvest.persist, *vanished.persist, *ended.persist)
    ledger = _counted(spec, ended.ledger, prev.repeated_error, prev.repeated_error_count, persist)
    ledger = replace(
        ledger,
        unharvested=tuple(j for j in live if j.finished and j.index not in ledger.harvested),
    )
    found = [*harvest.events, *vanished.events, *ended.events]
    best = ledger.best
    if best is not None and (prev.best is None or prev.best.trial != best.trial):
        found.append(events.new_best(best, spec.objective.metric))
    return Step(ledger, persist, tuple(found), ended.delete)


def _counted(
    spec: SessionSpec, ledger: Ledger, error: str, streak: int, new: Sequence[TrialResult]
) -> Ledger:
    """The counters, the error streak and the board (or front) with ``new`` added."""
    error, streak = repeated_error((error, streak), new)
    counted = replace(
        ledger, counts=count(ledger.counts, new), repeated_error=error, repeated_error_count=streak
    )
    if spec.multi_objective:  # a front, and no best (the board stays empty)
        return replace(counted, front=tuple(fold_front(spec, counted.front, new)))
    return replace(counted, board=tuple(fold_leaderboard(spec, counted.board, new)))


def _harvested(spec: SessionSpec, ledger: Ledger, live: Sequence[ObservedJob]) -> Step:
    """The Jobs harvested in this reconcile: their results, retries and disruptions."""
    persist: list[TrialResult] = []
    found: list[Event] = []
    done: list[int] = []
    retries: list[PendingRetry] = []
    evictions = 0
    for j in live:
        if len(done) >= HARVEST_BATCH:
            break  # the rest wait for the next write; their slots stay held (slot_holders)
        if j.finished and j.index not in ledger.harvested and j.results is not None:
            final, retry = split_retries(spec, j, j.results, live)
            persist.extend(final)
            found.extend(events.job_finished(j.index, final))
            done.append(j.index)
            evictions += j.disruptions
            if retry is not None:
                retries.append(retry)
    closed = ledger.closing(done)
    closed = replace(
        closed, retries=(*closed.retries, *retries), evictions=closed.evictions + evictions
    )
    return Step(closed, tuple(persist), tuple(found))


def _vanished(spec: SessionSpec, ledger: Ledger, live: set[int]) -> Step:
    """In-flight Jobs deleted before their harvest: their trials are ResultsLost."""
    why = "the Job was deleted before its results were harvested"
    persist: list[TrialResult] = []
    found: list[Event] = []
    done: list[int] = []
    for idx, trials in sorted(ledger.inflight.items()):
        if idx not in live and idx not in ledger.harvested:
            lost = [
                missing_result(t, idx, known_point(spec, t), Outcome.RESULTS_LOST, why)
                for t in trials
            ]
            persist.extend(lost)
            found.extend(events.job_finished(idx, lost))
            done.append(idx)
    return Step(ledger.closing(done), tuple(persist), tuple(found))


def _not_started(spec: SessionSpec, ledger: Ledger, now: datetime) -> Step:
    """End the Jobs whose pod has not started in time; their trials are the platform's."""
    persist: list[TrialResult] = []
    found: list[Event] = []
    done: list[int] = []
    names: list[str] = []
    issue = ledger.issue
    for j in ledger.active:
        problem = not_started(spec, j, now)
        if problem is None:
            continue
        names.append(j.name)
        if j.index in ledger.harvested:
            continue  # ended before, still being deleted
        why = f"infrastructure: the pod did not start: {problem.problem}"
        persist.extend(
            missing_result(
                t, j.index, j.params[k] if k < len(j.params) else {}, Outcome.INFRASTRUCTURE, why
            )
            for k, t in enumerate(j.trials)
        )
        done.append(j.index)
        issue = problem
        found.append(problem.event(j.index, spec.pod_start_timeout_seconds))
    ended = replace(
        ledger.closing(done),
        active=tuple(j for j in ledger.active if j.name not in names),
        issue=issue,
        pods_not_started=ledger.pods_not_started + len(done),
    )
    return Step(ended, tuple(persist), tuple(found), tuple(names))


def repeated_error(streak: tuple[str, int], results: Sequence[TrialResult]) -> tuple[str, int]:
    """The error failed trials repeated in a row, and how many times, ``results`` added.
    Another kind of failure breaks the streak; results that say nothing of the objective
    (cancelled, lost, infrastructure) leave it as it is."""
    error, n = streak
    for r in sorted(results, key=lambda r: r.trial):
        if r.outcome is Outcome.FAILED:
            text = (r.error or "")[:MAX_MESSAGE]
            error, n = (error, n + 1) if text == error and n else (text, 1)
        elif r.outcome in TRIAL_FAILURES or r.outcome is Outcome.SUCCEEDED:
            error, n = "", 0
    return error, n


def count(counts: TrialCounts, results: Sequence[TrialResult]) -> TrialCounts:
    """``counts`` with ``results`` added, by outcome."""
    c = counts.model_copy()
    for r in results:
        if r.outcome is Outcome.SUCCEEDED:
            c.succeeded += 1
        elif r.outcome in TRIAL_FAILURES:
            c.failed += 1
            c.timed_out += r.outcome is Outcome.TIMED_OUT
            c.metrics_unavailable += r.outcome is Outcome.METRICS_UNAVAILABLE
        elif r.outcome is Outcome.RESULTS_LOST:
            c.lost += 1
        elif r.outcome is Outcome.INFRASTRUCTURE:
            c.infra_failed += 1
        elif r.outcome is Outcome.CANCELLED:
            c.cancelled += 1
        elif r.outcome is Outcome.PRUNED:
            c.pruned += 1
    return c


def fold_leaderboard(
    spec: SessionSpec, board: Sequence[TrialRef], new: Sequence[TrialResult]
) -> list[TrialRef]:
    """The top entries of ``board`` and the succeeded ``new`` results, best first."""
    entries = {e.trial: e for e in board}
    for r in new:
        if r.succeeded and r.value is not None:
            entries[r.trial] = _ref(r)
    ranked = rank_by(
        entries.values(), lambda e: e.value, spec.objective.direction, lambda e: (e.trial,)
    )[:LEADERBOARD_SIZE]
    # Only the best entry keeps wide params: that bounds the status (the stores keep them all).
    return [ranked[0], *(_trim(e) for e in ranked[1:])] if ranked else []


def _ref(r: TrialResult) -> TrialRef:
    assert r.value is not None
    params: dict[str, Any] = dict(r.params)
    return TrialRef(trial=r.trial, value=r.value, job_index=r.job_index, params=params)


def _trim(e: TrialRef) -> TrialRef:
    if e.params is not None and len(repr(e.params)) > MAX_ENTRY_PARAMS_BYTES:
        return e.model_copy(update={"params": None, "params_omitted": True})
    return e


def kept(spec: SessionSpec, job: ObservedJob) -> bool:
    """Whether the cleanup policy keeps this finished Job once harvested."""
    return spec.job_cleanup == "Keep" or (
        spec.job_cleanup == "KeepFailed" and job.state is JobState.FAILED
    )


def collectable(spec: SessionSpec, ledger: Ledger, deleting: Sequence[str]) -> list[str]:
    """Harvested Jobs the cleanup policy lets go (deleted after the status write)."""
    done = [j for j in ledger.jobs if j.finished and j.index in ledger.harvested]
    return [j.name for j in done if j.name not in deleting and not kept(spec, j)]


def slot_holders(spec: SessionSpec, committed: IndexSet, ledger: Ledger) -> int:
    """The live Jobs holding a ``maxParallel`` slot: every one but the finished Jobs whose
    harvest an earlier status write committed and which the cleanup policy keeps.

    A Job harvested in this very reconcile keeps its slot until the next one: its harvest
    is not committed until the status write, and it is deleted only after that. Freeing
    its slot at planning time let an operator killed before its write leave the finished
    Jobs (harvested again next time) *and* the Jobs launched in their place, a backlog
    that grew by up to ``maxParallel`` Jobs with every attempt that never committed. So
    is a harvested Job whose deletion was lost: it holds its slot until it is gone.
    """
    return sum(
        1 for j in ledger.jobs if not (j.finished and j.index in committed and kept(spec, j))
    )
