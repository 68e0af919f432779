"""The planner: one reconcile's decisions, as a pure function.

``plan(spec, observed, now)`` reads the session's spec, what was observed (its
live Jobs with any results harvested in this reconcile, and the previous
status, whose ledger remembers Jobs already harvested and deleted), and the
time. It returns a ``Plan``: the Jobs to create, the results to persist, the
Jobs to delete once the status is written, the new status and the events.

Counters are recomputed from the ledger and the live Jobs on every call. A Job
enters the ledger's harvested set exactly once, keyed by its index, and the
status that records it is written with the object's resourceVersion, so two
Jobs finishing together cannot lose or double-count a result. Jobs are
deleted only after the status recording their harvest was written.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tuneop.api import vocabulary as C
from tuneop.api.spec import SessionSpec
from tuneop.api.status import (
    LEADERBOARD_SIZE,
    MAX_ENTRY_PARAMS_BYTES,
    JobCounts,
    SessionStatus,
    TrialCounts,
    TrialRef,
    format_inflight,
    parse_inflight,
)
from tuneop.core.contract import TRIAL_FAILURES, Outcome, TrialResult, missing_result
from tuneop.core.manifests import format_trials, job_manifest, job_name
from tuneop.core.observed import JobState, Observed, ObservedJob, Params
from tuneop.core.packing import next_job_size
from tuneop.core.ranges import IndexSet
from tuneop.core.search import budget, point

MAX_TRIALS_PER_JOB = 1000

Suggest = Callable[[SessionSpec, Sequence[TrialResult], Sequence[Params], int, int], list[Params]]


@dataclass(frozen=True)
class JobToCreate:
    index: int
    name: str
    trials: tuple[int, ...]
    params: tuple[Params, ...]
    manifest: dict[str, Any]


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


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


def _remaining_jobs(spec: SessionSpec, remaining: int, next_job: int) -> int:
    if remaining <= 0:
        return 0
    if spec.trials_per_job is not None:
        return math.ceil(remaining / spec.trials_per_job)
    if spec.workers is not None:
        return min(remaining, max(spec.workers - next_job, 1))
    return remaining


def _ref(r: TrialResult, keep_params: bool) -> TrialRef:
    params: dict[str, Any] | None = dict(r.params)
    omitted = None
    if not keep_params and len(repr(params)) > MAX_ENTRY_PARAMS_BYTES:
        params, omitted = None, True
    assert r.value is not None
    return TrialRef(
        trial=r.trial, value=r.value, job_index=r.job_index, params=params, params_omitted=omitted
    )


def _fold_leaderboard(
    spec: SessionSpec, board: list[TrialRef], new: Sequence[TrialResult]
) -> list[TrialRef]:
    entries = {e.trial: e for e in board}
    for r in new:
        if r.succeeded and r.value is not None:
            entries[r.trial] = _ref(r, keep_params=True)
    sign = 1.0 if spec.objective.direction == "minimize" else -1.0
    ranked = sorted(entries.values(), key=lambda e: (sign * e.value, e.trial))[:LEADERBOARD_SIZE]
    return [ranked[0], *(_trim(e) for e in ranked[1:])] if ranked else []


def _trim(e: TrialRef) -> TrialRef:
    if e.params is not None and len(repr(e.params)) > MAX_ENTRY_PARAMS_BYTES:
        return e.model_copy(update={"params": None, "params_omitted": True})
    return e


def _count(counts: TrialCounts, results: Sequence[TrialResult]) -> TrialCounts:
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
    return c


def _job_events(job_index: int, results: Sequence[TrialResult]) -> list[Event]:
    if not results:
        return []
    trials = format_trials(tuple(r.trial for r in results))
    bad = [r for r in results if not r.succeeded]
    if not bad:
        return [Event("Normal", "TrialsFinished", f"job {job_index}: trials {trials} succeeded")]
    first = bad[0]
    more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
    return [
        Event(
            "Warning",
            "TrialFailed",
            f"job {job_index}: trial {first.trial} {first.outcome}: {first.error or ''}{more}",
        )
    ]


def _params_for(spec: SessionSpec, trial: int) -> Params:
    return point(spec, trial) if spec.optimizer.type != "bayesian" or spec.trials else {}


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
    prev = observed.status
    ref = observed.session
    total, capped = budget(spec)
    harvested = IndexSet.parse(prev.harvested_jobs)
    inflight = parse_inflight(prev.inflight)
    live = {j.index: j for j in observed.jobs}
    for j in live.values():
        if j.trials and j.index not in harvested:
            inflight.setdefault(j.index, (j.trials[0], j.trials[-1]))
    next_job = max([prev.next_job, *(i + 1 for i in live)])
    next_trial = max([prev.next_trial, *(t + 1 for j in live.values() for t in j.trials)])
    start_time = prev.start_time or now
    events: list[Event] = []
    warnings: list[str] = []
    if capped:
        warnings.append(
            f"spec.totalTrials: the search space has only {total} points; running {total}"
            f" ({C.SEARCH_SPACE_EXHAUSTED})"
        )

    # 1. Fold newly harvested Jobs, and Jobs that vanished before harvest, into the ledger.
    persist: list[TrialResult] = []
    for j in sorted(live.values(), key=lambda j: j.index):
        if j.finished and j.index not in harvested and j.results is not None:
            persist.extend(j.results)
            harvested.add(j.index)
            inflight.pop(j.index, None)
            events.extend(_job_events(j.index, j.results))
    for idx, (a, b) in sorted(inflight.items()):
        if idx not in live and idx not in harvested:
            why = "the Job was deleted before its results were harvested"
            lost = [
                missing_result(t, idx, _params_for(spec, t), Outcome.RESULTS_LOST, why)
                for t in range(a, b + 1)
            ]
            persist.extend(lost)
            events.extend(_job_events(idx, lost))
            harvested.add(idx)
            del inflight[idx]

    counts = _count(prev.trials, persist)
    board = _fold_leaderboard(spec, list(prev.leaderboard), persist)
    best = board[0] if board else None
    if best is not None and (prev.best is None or prev.best.trial != best.trial):
        events.append(
            Event(
                "Normal", "NewBest", f"trial {best.trial}: {spec.objective.metric}={best.value:g}"
            )
        )

    # 2. Decide whether the session must stop, may launch, or is done.
    active = [j for j in live.values() if j.state is JobState.ACTIVE]
    unharvested = [j for j in live.values() if j.finished and j.index not in harvested]
    work_left = next_trial < total or bool(active) or bool(unharvested)
    goal = best is not None and spec.objective.reached(best.value)
    stop_reason: str | None = None
    if work_left and observed.cancelled:
        stop_reason = C.CANCELLED
    elif work_left and now >= start_time + timedelta(seconds=spec.deadline_seconds):
        stop_reason = C.DEADLINE_EXCEEDED
    elif spec.max_failed_trials is not None and counts.failed > spec.max_failed_trials:
        stop_reason = C.MAX_FAILED_REACHED
    elif goal and spec.objective.on_goal == "Stop":
        stop_reason = C.GOAL_REACHED

    delete: list[str] = []
    if stop_reason is not None:
        stopped: list[TrialResult] = []
        n_stopped = 0
        for j in active:
            delete.append(j.name)
            if j.index in harvested:
                # Stopped by an earlier reconcile and still being deleted: recorded already.
                continue
            n_stopped += 1
            why = f"stopped: {stop_reason}"
            stopped.extend(
                missing_result(
                    t,
                    j.index,
                    j.params[k] if k < len(j.params) else _params_for(spec, t),
                    Outcome.CANCELLED,
                    why,
                )
                for k, t in enumerate(j.trials)
            )
            harvested.add(j.index)
            inflight.pop(j.index, None)
        if stopped:
            events.append(Event("Warning", stop_reason, f"stopped {n_stopped} running job(s)"))
        persist.extend(stopped)
        counts = _count(counts, stopped)
        active = []

    # 3. Launch what the budget and maxParallel allow.
    create: list[JobToCreate] = []
    may_launch = stop_reason is None and not goal and not spec.suspend
    if may_launch:
        slots = spec.max_parallel - len(active) - len(unharvested)
        layout: list[tuple[int, tuple[int, ...]]] = []
        while slots > 0 and (size := next_job_size(spec, total, next_job, next_trial)) > 0:
            layout.append((next_job, tuple(range(next_trial, next_trial + size))))
            next_job += 1
            next_trial += size
            slots -= 1
        params = _params(spec, observed, persist, active, layout, suggest)
        pos = 0
        for idx, trials in layout:
            job_params = tuple(params[pos : pos + len(trials)])
            pos += len(trials)
            create.append(
                JobToCreate(
                    index=idx,
                    name=job_name(ref.name, idx),
                    trials=trials,
                    params=job_params,
                    manifest=job_manifest(spec, ref, idx, trials, list(job_params)),
                )
            )
            inflight[idx] = (trials[0], trials[-1])
            events.append(
                Event("Normal", "TrialsStarted", f"job {idx}: trials {format_trials(trials)}")
            )

    # 4. Delete harvested Jobs per the cleanup policy (after the status write).
    for j in live.values():
        if j.finished and j.index in harvested and j.name not in delete:
            keep = spec.job_cleanup == "Keep" or (
                spec.job_cleanup == "KeepFailed" and j.state is JobState.FAILED
            )
            if not keep:
                delete.append(j.name)

    # 5. The status.
    running_trials = sum(len(j.trials) for j in active) + sum(len(j.trials) for j in unharvested)
    running_trials += sum(len(c.trials) for c in create)
    counts = counts.model_copy(
        update={
            "total": total,
            "running": running_trials,
            "pending": max(total - next_trial, 0),
        }
    )
    n_active = len(active) + len(create)
    jobs = JobCounts(
        total=next_job + _remaining_jobs(spec, total - next_trial, next_job),
        launched=next_job,
        active=n_active,
        harvested=len(harvested),
    )
    busy = n_active > 0 or bool(unharvested)
    status = SessionStatus(
        observed_generation=ref.generation,
        start_time=start_time,
        progress=f"{counts.done}/{total}",
        trials=counts,
        jobs=jobs,
        best=best,
        leaderboard=board,
        harvested_jobs=harvested.format(),
        next_job=next_job,
        next_trial=next_trial,
        inflight=format_inflight(inflight),
    )
    status = _phase(spec, prev, status, now, stop_reason, goal, capped, busy)
    if status.phase != prev.phase:
        kind = "Warning" if status.phase in {"Failed", "Cancelled"} else "Normal"
        events.append(Event(kind, status.phase, status.message))
    requeue = None
    if not status.terminal:
        deadline = start_time + timedelta(seconds=spec.deadline_seconds)
        requeue = max((deadline - now).total_seconds(), 0.0)
    return Plan(
        create=tuple(create),
        persist=tuple(persist),
        delete=tuple(delete),
        status=status,
        events=tuple(events),
        warnings=tuple(warnings),
        requeue_after=requeue,
    )


def _params(
    spec: SessionSpec,
    observed: Observed,
    fresh: Sequence[TrialResult],
    active: Sequence[ObservedJob],
    layout: Sequence[tuple[int, tuple[int, ...]]],
    suggest: Suggest | None,
) -> list[Params]:
    trials = [t for _, ts in layout for t in ts]
    if not trials:
        return []
    if spec.optimizer.type != "bayesian":
        return [point(spec, t) for t in trials]
    if suggest is None:
        from tuneop.core.bayesian import suggest as tpe

        suggest = tpe
    history = {r.trial: r for r in observed.history}
    history.update((r.trial, r) for r in fresh)
    pending = [p for j in active for p in j.params]
    return suggest(spec, list(history.values()), pending, trials[0], len(trials))


def _phase(
    spec: SessionSpec,
    prev: SessionStatus,
    status: SessionStatus,
    now: datetime,
    stop_reason: str | None,
    goal: bool,
    capped: bool,
    busy: bool,
) -> SessionStatus:
    gen = status.observed_generation or 0
    conds = C.set_condition(
        [c for c in prev.conditions if c.type not in {C.COMPLETE, C.FAILED}],
        C.SPEC_VALID,
        True,
        C.VALID,
        "spec is valid",
        now,
        gen,
    )
    t = status.trials
    bad = t.failed + t.lost + t.infra_failed
    phase: str
    if stop_reason in {C.CANCELLED, C.DEADLINE_EXCEEDED, C.MAX_FAILED_REACHED}:
        phase = "Cancelled" if stop_reason == C.CANCELLED else "Failed"
        reason = stop_reason
        messages = {
            C.CANCELLED: "cancelled by the user",
            C.DEADLINE_EXCEEDED: f"deadline of {spec.deadline_seconds}s passed",
            C.MAX_FAILED_REACHED: f"{t.failed} trials failed (maxFailedTrials"
            f" {spec.max_failed_trials})",
        }
        message = messages[stop_reason]
    elif busy or (t.pending > 0 and not goal and not spec.suspend):
        phase = "Suspended" if spec.suspend else "Running"
        reason = C.SUSPENDED_BY_USER if spec.suspend else (C.LAUNCHING if t.pending else C.WAITING)
        message = f"{t.done}/{t.total} trials done, {t.running} running"
    elif spec.suspend and t.pending > 0 and not goal:
        phase, reason = "Suspended", C.SUSPENDED_BY_USER
        message = f"suspended with {t.pending} trials not launched"
    else:
        reason = (
            C.GOAL_REACHED if goal else C.SEARCH_SPACE_EXHAUSTED if capped else C.BUDGET_EXHAUSTED
        )
        if t.succeeded == 0:
            phase, reason = "Failed", C.NO_TRIAL_SUCCEEDED
            message = f"no trial succeeded ({bad} of {t.total} failed)"
        else:
            phase = "Succeeded"
            message = f"{t.succeeded}/{t.total} trials succeeded"
            if status.best is not None:
                message += f"; best {spec.objective.metric}={status.best.value:g}"
    terminal = phase in {"Succeeded", "Failed", "Cancelled"}
    conds = C.set_condition(conds, C.PROGRESSING, not terminal, reason, message, now, gen)
    if spec.suspend or any(c.type == C.SUSPENDED for c in conds):
        conds = C.set_condition(
            conds,
            C.SUSPENDED,
            spec.suspend,
            C.SUSPENDED_BY_USER if spec.suspend else C.RESUMED,
            "no new Jobs are created" if spec.suspend else "resumed",
            now,
            gen,
        )
    exit_code = None
    if phase == "Succeeded":
        conds = C.set_condition(conds, C.COMPLETE, True, reason, message, now, gen)
        exit_code = 0 if bad == 0 else 1
    elif phase in {"Failed", "Cancelled"}:
        conds = C.set_condition(conds, C.FAILED, True, reason, message, now, gen)
        exit_code = 1 if reason in {C.MAX_FAILED_REACHED, C.NO_TRIAL_SUCCEEDED} else 2
    completion = (
        (prev.completion_time or now) if terminal and prev.terminal else (now if terminal else None)
    )
    return status.model_copy(
        update={
            "phase": phase,
            "message": message,
            "conditions": conds,
            "exit_code": exit_code,
            "completion_time": completion,
        }
    )


def invalid_plan(observed: Observed, now: datetime, problems: Sequence[str]) -> Plan:
    """A spec that cannot be planned: phase Failed, InvalidSpec, the ledger kept intact."""
    prev = observed.status
    gen = observed.session.generation
    message = "; ".join(problems)
    conds = C.set_condition(
        [c for c in prev.conditions if c.type not in {C.COMPLETE}],
        C.SPEC_VALID,
        False,
        C.INVALID_SPEC,
        message,
        now,
        gen,
    )
    conds = C.set_condition(conds, C.PROGRESSING, False, C.INVALID_SPEC, message, now, gen)
    conds = C.set_condition(conds, C.FAILED, True, C.INVALID_SPEC, message, now, gen)
    status = prev.model_copy(
        update={
            "phase": "Failed",
            "message": message[: C.MAX_MESSAGE],
            "observed_generation": gen,
            "conditions": conds,
            "exit_code": 2,
            "start_time": prev.start_time or now,
            "completion_time": prev.completion_time or now,
        }
    )
    events = (Event("Warning", C.INVALID_SPEC, message[: C.MAX_MESSAGE]),)
    return Plan(status=status, events=events if prev.phase != "Failed" else ())
