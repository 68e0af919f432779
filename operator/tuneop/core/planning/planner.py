"""The planner: one reconcile's decisions, as a pure function.

``plan(spec, observed, now)`` reads the session's spec, what was observed (its
live Jobs with any results harvested in this reconcile, and the previous
status, whose ledger remembers Jobs already harvested and deleted), and the
time. It returns a ``Plan``: the Jobs to create, the results to persist, the
Jobs to delete once the status is written, the new status and the events.

A plan is four steps, each in its own module:

1. ledger (``core.planning.ledger``): fold the Jobs harvested in this reconcile, and
   in-flight Jobs that vanished before harvest, into the ledger. The launch
   watermark and the in-flight map are recomputed from the ledger and the
   live Jobs; the trial counters and the leaderboard are carried forward and
   added to, which is safe because a Job enters the harvested set exactly
   once and is counted in the status write that records it there;
2. stop (``core.planning.stop``): whether the session must stop, and stopping its Jobs;
3. launch (``core.planning.launch``): the Jobs ``maxParallel`` and the budget allow;
4. phase (``core.planning.phase``): the new status, its phase and conditions, and
   for Jobs queued for Kueue, whether one waits too long (``core.planning.queueing``).

Harvested Jobs are deleted (per the cleanup policy) only after the status
recording their harvest was written: the reconciler writes the status first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tuneop.api import vocabulary as V
from tuneop.api.spec import SessionSpec
from tuneop.api.status import MAX_MESSAGE, SessionStatus
from tuneop.core.clock import open_clock
from tuneop.core.jobs.observed import Observed, ObservedJob
from tuneop.core.jobs.pruning import pruning_warnings
from tuneop.core.planning import events
from tuneop.core.planning.events import Event
from tuneop.core.planning.launch import JobToCreate, Suggest, drop_retries, launch, launch_retries
from tuneop.core.planning.ledger import collectable, open_ledger
from tuneop.core.planning.phase import invalid_status, session_status
from tuneop.core.planning.queueing import admission, admission_due
from tuneop.core.planning.starting import recheck_after
from tuneop.core.planning.stop import goal_reached, stop_jobs, stop_reason
from tuneop.core.ranges import IndexSet
from tuneop.core.suggest.samplers import population
from tuneop.core.suggest.search import budget
from tuneop.core.wire.contract import TrialResult

__all__ = [
    "MAX_TRIALS_PER_JOB",
    "Event",
    "JobToCreate",
    "Plan",
    "Suggest",
    "batch_warning",
    "invalid_plan",
    "needs_harvest",
    "plan",
    "plannable",
]

MAX_TRIALS_PER_JOB = 1000


@dataclass(frozen=True)
class Plan:
    create: tuple[JobToCreate, ...] = ()
    persist: tuple[TrialResult, ...] = ()
    delete: tuple[str, ...] = ()
    status: SessionStatus = field(default_factory=SessionStatus)
    events: tuple[Event, ...] = ()
    warnings: tuple[str, ...] = ()
    requeue_after: float | None = None


def needs_harvest(status: SessionStatus, jobs: Sequence[ObservedJob]) -> list[ObservedJob]:
    """Finished Jobs whose results are not yet in the ledger: read their logs."""
    done = IndexSet.parse(status.harvested_jobs)
    return [j for j in jobs if j.finished and j.index not in done]


def plannable(spec: SessionSpec) -> list[str]:
    """Rules the schema cannot express; each problem names its field."""
    total, _ = budget(spec)
    problems = []
    if spec.trials_per_job is not None and spec.trials_per_job > MAX_TRIALS_PER_JOB:
        problems.append(f"spec.trialsPerJob: at most {MAX_TRIALS_PER_JOB} trials per Job")
    if spec.workers is not None and math.ceil(total / spec.workers) > MAX_TRIALS_PER_JOB:
        problems.append(
            f"spec.workers: {spec.workers} workers put {math.ceil(total / spec.workers)} trials"
            f" in one Job; at most {MAX_TRIALS_PER_JOB} trials per Job (raise workers)"
        )
    return problems


def plan(
    spec: SessionSpec,
    observed: Observed,
    now: datetime,
    suggest: Suggest | None = None,
) -> Plan:
    """Decide one reconcile. Pure: the same inputs give the same plan."""
    problems = plannable(spec)
    if problems:
        return invalid_plan(observed, now, problems)
    total, capped = budget(spec)
    ledger = open_ledger(spec, observed, now)
    goal = goal_reached(spec, ledger)
    # A finished session whose budget was raised goes on, with a new deadline allowance.
    extended = observed.status.phase is V.Phase.SUCCEEDED and ledger.next_trial < total
    clock = open_clock(observed.status, now, extended)
    if not spec.suspend:
        clock = clock.started(now)
    stop = stop_reason(spec, observed, ledger, total, clock.passed(spec, now))
    delete = stop_jobs(spec, ledger, stop) if stop is not None else []
    delete += ledger.not_started
    create = []
    if stop is None and not goal and not spec.suspend:
        create = launch(spec, observed, ledger, total, suggest)
    elif stop is None and not goal:
        create = launch_retries(spec, observed, ledger)  # a retry finishes a running Job
    else:
        drop_retries(ledger)
    delete += collectable(spec, ledger, delete)
    created = (len(create), sum(len(c.trials) for c in create))
    status = session_status(spec, observed, ledger, created, total, capped, stop, goal, now)
    status, waits = admission(spec, observed.status, status, ledger.jobs, now)
    ledger.events.extend(waits)
    clock = clock.stopped(now) if status.terminal or spec.suspend else clock
    status = status.model_copy(update={"run_seconds": clock.used, "running_since": clock.since})
    if status.phase != observed.status.phase:
        ledger.events.append(events.phase_changed(status.phase, status.message))
    recheck = None if status.terminal else recheck_after(spec, ledger.active, now)
    requeue = _earliest(clock.remaining(spec, now), admission_due(spec, ledger.jobs, now), recheck)
    warnings = []
    if capped:
        warnings.append(
            f"spec.totalTrials: the search space has only {total} points; running {total}"
            f" ({V.SEARCH_SPACE_EXHAUSTED})"
        )
    warnings.extend(batch_warning(spec, total))
    warnings.extend(pruning_warnings(spec))
    return Plan(
        create=tuple(create),
        persist=tuple(ledger.persist),
        delete=tuple(delete),
        status=status,
        events=tuple(ledger.events),
        warnings=tuple(warnings),
        requeue_after=requeue,
    )


def _earliest(*delays: float | None) -> float | None:
    due = [d for d in delays if d is not None]
    return min(due) if due else None


def batch_warning(spec: SessionSpec, total: int) -> list[str]:
    """Bayesian trials packed into one Job are suggested together: say so."""
    if not spec.optimizer.learns:
        return []
    largest = 1
    if spec.trials_per_job is not None:
        largest = min(spec.trials_per_job, total)
    elif spec.workers is not None:
        largest = math.ceil(total / spec.workers)
    if largest <= 1:
        return []
    if spec.optimizer.sampler == "nsga2" and population(spec) % largest == 0:
        return []  # NSGA-II asks a generation from the one before: a Job within one loses nothing
    field = "spec.workers" if spec.workers is not None else "spec.trialsPerJob"
    return [
        f"{field}: {spec.optimizer.type} trials in one Job are suggested together,"
        f" up to {largest} at once"
        " before any of them reports; the optimizer learns only between Jobs (one trial per"
        " Job learns from every trial)"
    ]


def invalid_plan(observed: Observed, now: datetime, problems: Sequence[str]) -> Plan:
    """A spec that cannot be planned: phase Failed, InvalidSpec, the ledger kept intact."""
    prev = observed.status
    message = "; ".join(problems)
    status = invalid_status(prev, observed.session.generation, message, now)
    if prev.phase == V.Phase.FAILED:
        return Plan(status=status)
    return Plan(status=status, events=(events.invalid_spec(message[:MAX_MESSAGE]),))
