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

The ledger is a frozen value: each of the first three steps returns a
``Step`` (the ledger after it, and the results, events and deletions it
adds) and ``plan`` folds them in order, handing each step's ledger to the
next; nothing is changed in place.

Harvested Jobs are deleted (per the cleanup policy) only after the status
recording their harvest was written: the reconciler writes the status first.

**Bounded work per commit.** A plan harvests at most ``HARVEST_BATCH``
finished Jobs (oldest first); the others wait, holding their slots. A plan that
harvested or deletes something says ``again``: the reconciler commits it
(persist, status write, delete) and plans once more at once, so a backlog is
committed batch by batch, and the slots a batch's deletions freed are launched
into by the next plan (never by the plan whose harvest is not yet committed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from tuneop.api import vocabulary as V
from tuneop.api.parameters import ENV_CLASH, env_name_clash
from tuneop.api.spec import SessionSpec
from tuneop.api.status import MAX_MESSAGE, SessionStatus
from tuneop.core.clock import open_clock
from tuneop.core.jobs.observed import Observed, ObservedJob
from tuneop.core.jobs.pruning import pruning_warnings
from tuneop.core.planning import events
from tuneop.core.planning.events import Event
from tuneop.core.planning.launch import JobToCreate, Suggest, drop_retries, launch, launch_retries
from tuneop.core.planning.ledger import HARVEST_BATCH, Step, collectable, open_ledger
from tuneop.core.planning.phase import invalid_status, session_status
from tuneop.core.planning.queueing import admission, admission_due
from tuneop.core.planning.starting import recheck_after
from tuneop.core.planning.stop import goal_reached, stop_jobs, stop_reason
from tuneop.core.ranges import IndexSet
from tuneop.core.suggest.samplers import population
from tuneop.core.suggest.search import budget
from tuneop.core.wire.contract import TrialResult

__all__ = [
    "HARVEST_BATCH",
    "MAX_TRIALS_PER_JOB",
    "Event",
    "JobToCreate",
    "Plan",
    "Suggest",
    "batch_warning",
    "env_warnings",
    "invalid_plan",
    "needs_harvest",
    "plan",
    "plan_warnings",
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
    # Plan again as soon as this plan is committed: it harvested a batch (more may wait)
    # or deletes Jobs (their slots are free for the next plan's launches).
    again: bool = False

    def then(self, later: Plan) -> Plan:
        """This plan and the one committed after it, as one: every Job created, result
        persisted, Job deleted and event, and the later plan's status and timing."""
        return replace(
            later,
            create=(*self.create, *later.create),
            persist=(*self.persist, *later.persist),
            delete=(*self.delete, *later.delete),
            events=(*self.events, *later.events),
        )


def needs_harvest(status: SessionStatus, jobs: Sequence[ObservedJob]) -> list[ObservedJob]:
    """Finished Jobs whose results are not yet in the ledger, oldest first: a round reads
    the logs of the first ``HARVEST_BATCH`` (the plan folds no more than that)."""
    done = IndexSet.parse(status.harvested_jobs)
    return sorted((j for j in jobs if j.finished and j.index not in done), key=lambda j: j.index)


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
    opened = open_ledger(spec, observed, now)
    ledger = opened.ledger
    goal = goal_reached(spec, ledger)
    # A finished session whose budget was raised goes on, with a new deadline allowance.
    extended = observed.status.phase is V.Phase.SUCCEEDED and ledger.next_trial < total
    clock = open_clock(observed.status, now, extended)
    if not spec.suspend:
        clock = clock.started(now)
    stop = stop_reason(spec, observed, ledger, total, clock.passed(spec, now))
    stopped = stop_jobs(spec, ledger, stop) if stop is not None else Step(ledger)
    create: list[JobToCreate] = []
    if stop is None and not goal and not spec.suspend:
        launched, create = launch(spec, observed, ledger, total, suggest, opened.persist)
    elif stop is None and not goal:
        launched, create = launch_retries(spec, observed, ledger)  # a retry ends a running Job
    else:
        launched = drop_retries(stopped.ledger)
    # The steps in order: each one's ledger is the next one's input; plan keeps the last.
    ledger = launched.ledger
    steps = (opened, stopped, launched)
    delete = [*stopped.delete, *opened.delete]
    delete += collectable(spec, ledger, delete)
    created = (len(create), sum(len(c.trials) for c in create))
    status = session_status(spec, observed, ledger, created, total, capped, stop, goal, now)
    status, waits = admission(spec, observed.status, status, ledger.jobs, now)
    said = [e for step in steps for e in step.events] + waits
    clock = clock.stopped(now) if status.terminal or spec.suspend else clock
    status = status.model_copy(update={"run_seconds": clock.used, "running_since": clock.since})
    if status.phase != observed.status.phase:
        said.append(events.phase_changed(status.phase, status.message))
    recheck = None if status.terminal else recheck_after(spec, ledger.active, now)
    requeue = _earliest(clock.remaining(spec, now), admission_due(spec, ledger.jobs, now), recheck)
    return Plan(
        create=tuple(create),
        persist=tuple(r for step in steps for r in step.persist),
        delete=tuple(delete),
        status=status,
        events=tuple(said),
        warnings=tuple(plan_warnings(spec, total, capped)),
        requeue_after=requeue,
        again=_again(status, opened, delete),
    )


def _again(status: SessionStatus, opened: Step, delete: Sequence[str]) -> bool:
    """Plan again once this is committed: a batch was harvested (more may wait) or Jobs go
    (their slots are free for launches); a finished session has nothing more to do."""
    return not status.terminal and bool(opened.persist or delete)


def plan_warnings(spec: SessionSpec, total: int, capped: bool) -> list[str]:
    """What the plan says of the spec itself: a capped budget, batched suggestions, pruning."""
    warnings = []
    if capped:
        warnings.append(
            f"spec.totalTrials: the search space has only {total} points; running {total}"
            f" ({V.SEARCH_SPACE_EXHAUSTED})"
        )
    warnings.extend(batch_warning(spec, total))
    warnings.extend(pruning_warnings(spec))
    warnings.extend(env_warnings(spec))
    return warnings


def env_warnings(spec: SessionSpec) -> list[str]:
    """Parameters one ``TUNEOP_PARAM_`` variable carries (``lr`` and ``LR``): a warning, not
    a rule, since a trial that reads its params otherwise tells them apart, and sessions
    admitted before with such names keep running."""
    if spec.search_space:
        clash = env_name_clash([p.name for p in spec.search_space])
        return [f"spec.searchSpace: {ENV_CLASH.format(*clash)}"] if clash else []
    for i, params in enumerate(spec.trials or []):
        if clash := env_name_clash(list(params)):
            return [f"spec.trials[{i}]: {ENV_CLASH.format(*clash)}"]
    return []


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
