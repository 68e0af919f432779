"""The phase step: the new status, its phase, conditions and exit code.

A stop by cancel, deadline or too many failures ends the session at once
(Cancelled, or Failed). Otherwise the session is Running while Jobs run or
trials wait to launch (Suspended when the user suspended it; trials of Jobs
waiting for Kueue's admission are counted as queued, not running), and once nothing
is left it is Succeeded if any trial succeeded, else Failed
(NoTrialSucceeded). The exit code tells a clean success (0), a success with
failed trials or a session failed by its trials (1), and a session stopped
for another reason (2). An invalid spec fails the session but keeps its
ledger, so fixing the spec resumes where it stopped.
"""

from __future__ import annotations

from datetime import datetime

from tuneop.api import vocabulary as V
from tuneop.api.spec import SessionSpec
from tuneop.api.status import (
    MAX_MESSAGE,
    PARETO_FRONT_SIZE,
    Condition,
    InfraEvents,
    JobCounts,
    SessionStatus,
    set_condition,
)
from tuneop.api.vocabulary import Phase
from tuneop.core.jobs.observed import Observed
from tuneop.core.planning.ledger import Ledger
from tuneop.core.planning.packing import jobs_left

__all__ = ["decide_phase", "invalid_status", "session_status"]

# Stops that end the session whatever is left to do.
_ABORTS = frozenset(
    {V.CANCELLED, V.DEADLINE_EXCEEDED, V.MAX_FAILED_REACHED, V.REPEATED_TRIAL_ERROR}
)


def session_status(
    spec: SessionSpec,
    observed: Observed,
    ledger: Ledger,
    created: tuple[int, int],
    total: int,
    capped: bool,
    stop: str | None,
    goal: bool,
    now: datetime,
) -> SessionStatus:
    """The status after this reconcile; ``created`` is (Jobs, trials) launched by it."""
    new_jobs, new_trials = created
    # Jobs created with a queueName wait for admission, and so do suspended live ones:
    # their trials are queued, not running.
    new_queued = (new_jobs, new_trials) if spec.queue_name is not None else (0, 0)
    waiting = [j for j in ledger.active if j.queued]
    queued = sum(len(j.trials) for j in waiting) + new_queued[1]
    running = (
        sum(len(j.trials) for j in [*ledger.active, *ledger.unharvested]) + new_trials - queued
    )
    counts = ledger.counts.model_copy(
        update={
            "total": total,
            "running": running,
            "queued": queued,
            "pending": max(total - ledger.next_trial, 0),
        }
    )
    n_active = len(ledger.active) + new_jobs
    fresh = ledger.next_job - ledger.retry_jobs
    jobs = JobCounts(
        total=ledger.next_job + jobs_left(spec, total - ledger.next_trial, fresh),
        launched=ledger.next_job,
        active=n_active,
        queued=len(waiting) + new_queued[0],
        harvested=len(ledger.harvested),
    )
    status = SessionStatus(
        observed_generation=observed.session.generation,
        start_time=ledger.start_time,
        progress=f"{counts.done}/{total}",
        trials=counts,
        jobs=jobs,
        infrastructure=_infrastructure(observed.status.infrastructure, ledger),
        best=ledger.best,
        leaderboard=ledger.board,
        pareto_front=ledger.front,
        front_size=len(ledger.front) if spec.multi_objective else None,
        harvested_jobs=ledger.harvested.format(),
        next_job=ledger.next_job,
        next_trial=ledger.next_trial,
        retry_jobs=ledger.retry_jobs,
        inflight=ledger.inflight_text,
        repeated_error=ledger.repeated_error,
        repeated_error_count=ledger.repeated_error_count,
    )
    busy = n_active > 0 or bool(ledger.unharvested)
    phase, reason, message = decide_phase(spec, status, stop, goal, capped, busy)
    status = _settle(spec, observed.status, status, (phase, reason, message), now)
    if ledger.issue is not None:
        conds = set_condition(
            status.conditions,
            V.INFRASTRUCTURE_DEGRADED,
            True,
            ledger.issue.reason,
            ledger.issue.problem,
            now,
            status.observed_generation or 0,
        )
        status = status.model_copy(update={"conditions": conds})
    return status


def _infrastructure(prev: InfraEvents, ledger: Ledger) -> InfraEvents:
    return InfraEvents(
        evictions=prev.evictions + ledger.evictions,
        pods_not_started=prev.pods_not_started + ledger.pods_not_started,
    )


def decide_phase(
    spec: SessionSpec,
    status: SessionStatus,
    stop: str | None,
    goal: bool,
    capped: bool,
    busy: bool,
) -> tuple[Phase, str, str]:
    """The phase, the reason and the message for ``status``'s counters."""
    t = status.trials
    if stop in _ABORTS:
        phase = Phase.CANCELLED if stop == V.CANCELLED else Phase.FAILED
        return phase, stop, _abort_words(spec, status, stop)
    if busy or (t.pending > 0 and not goal and not spec.suspend):
        if spec.suspend:
            return Phase.SUSPENDED, V.SUSPENDED_BY_USER, _progress(status)
        return Phase.RUNNING, V.LAUNCHING if t.pending else V.WAITING, _progress(status)
    if spec.suspend and t.pending > 0 and not goal:
        return (
            Phase.SUSPENDED,
            V.SUSPENDED_BY_USER,
            f"suspended with {t.pending} trials not launched",
        )
    if t.succeeded == 0:
        return Phase.FAILED, V.NO_TRIAL_SUCCEEDED, _none_succeeded(status)
    reason = V.GOAL_REACHED if goal else V.SEARCH_SPACE_EXHAUSTED if capped else V.BUDGET_EXHAUSTED
    return Phase.SUCCEEDED, reason, _success_words(spec, status, goal)


def _abort_words(spec: SessionSpec, status: SessionStatus, stop: str) -> str:
    """Why a session was cancelled or failed before its end, in its own numbers."""
    t = status.trials
    messages = {
        V.CANCELLED: "cancelled by the user",
        V.DEADLINE_EXCEEDED: f"deadline of {spec.deadline_seconds}s of running time passed",
        V.MAX_FAILED_REACHED: f"{t.failed} trials failed (maxFailedTrials"
        f" {spec.max_failed_trials})",
        V.REPEATED_TRIAL_ERROR: f"the first {status.repeated_error_count} trials all failed"
        f" with the same error: {status.repeated_error}",
    }
    return messages[stop]


def _success_words(spec: SessionSpec, status: SessionStatus, goal: bool) -> str:
    """A succeeded session's message: its counts, its best, the goal it reached."""
    t = status.trials
    message = f"{t.succeeded}/{t.total} trials succeeded"
    if t.pruned:
        message += f", {t.pruned} pruned"
    if status.best is not None:
        message += f"; best {spec.objective.metric}={status.best.value:g}"
    if goal and spec.objective.goal is not None:
        # Said first: it is why the session ended before its budget.
        said = "<=" if spec.objective.direction == "minimize" else ">="
        left = f"; {t.pending} trials not run" if t.pending else ""
        stopped = f", {t.cancelled} stopped" if t.cancelled else ""
        message = f"goal reached ({spec.objective.metric} {said} {spec.objective.goal:g}): " + (
            f"{message}{left}{stopped}"
        )
    if spec.multi_objective:
        message += f"; {_front_words(len(status.pareto_front))}"
    return message


def _front_words(kept: int) -> str:
    """The front's size as the status knows it: below the cap it is the whole front; at the
    cap the status holds a spread-out part, and the results (summary, report) the whole."""
    if kept < PARETO_FRONT_SIZE:
        return f"Pareto front of {kept} trials"
    return (
        f"Pareto front: {kept} trials kept here (at most {PARETO_FRONT_SIZE};"
        " the results hold the whole front)"
    )


def _none_succeeded(status: SessionStatus) -> str:
    """Why no trial succeeded, by whose fault: the trials' own errors, results lost (a
    worker that died unreported, logs gone), or the infrastructure (an evicted or
    never-started pod)."""
    t = status.trials
    bad = t.failed + t.lost + t.infra_failed
    own = t.failed - t.timed_out - t.metrics_unavailable
    parts = [
        f"{own} by their own error" if own > 0 else "",
        f"{t.metrics_unavailable} without the objective's metric" if t.metrics_unavailable else "",
        f"{t.timed_out} timed out" if t.timed_out else "",
        f"{t.lost} with their results lost" if t.lost else "",
        f"{t.infra_failed} by infrastructure failures" if t.infra_failed else "",
    ]
    said = ", ".join(p for p in parts if p)
    return f"no trial succeeded ({bad} of {t.total} failed" + (f": {said})" if said else ")")


def _progress(status: SessionStatus) -> str:
    t = status.trials
    queued = f", {t.queued} queued" if t.queued else ""
    return f"{t.done}/{t.total} trials done, {t.running} running{queued}"


def _settle(
    spec: SessionSpec,
    prev: SessionStatus,
    status: SessionStatus,
    decided: tuple[Phase, str, str],
    now: datetime,
) -> SessionStatus:
    """``status`` with its phase, conditions, exit code and completion time."""
    phase, reason, message = decided
    terminal = phase in V.TERMINAL_PHASES
    t = status.trials
    exit_code = None
    if phase is Phase.SUCCEEDED:
        exit_code = 0 if t.failed + t.lost + t.infra_failed == 0 else 1
    elif terminal:
        exit_code = 1 if reason in {V.MAX_FAILED_REACHED, V.NO_TRIAL_SUCCEEDED} else 2
    completion: datetime | None = now if terminal else None
    if terminal and prev.terminal:
        completion = prev.completion_time or now
    conds = _conditions(spec, prev.conditions, decided, now, status.observed_generation or 0)
    return status.model_copy(
        update={
            "phase": phase,
            "message": message,
            "conditions": conds,
            "exit_code": exit_code,
            "completion_time": completion,
        }
    )


def _conditions(
    spec: SessionSpec,
    previous: list[Condition],
    decided: tuple[Phase, str, str],
    now: datetime,
    gen: int,
) -> list[Condition]:
    phase, reason, message = decided
    terminal = phase in V.TERMINAL_PHASES
    kept = [c for c in previous if c.type not in {V.COMPLETE, V.FAILED}]
    conds = set_condition(kept, V.SPEC_VALID, True, V.VALID, "spec is valid", now, gen)
    conds = set_condition(conds, V.PROGRESSING, not terminal, reason, message, now, gen)
    if spec.suspend or any(c.type == V.SUSPENDED for c in conds):
        why = "no new Jobs are created" if spec.suspend else "resumed"
        reason_s = V.SUSPENDED_BY_USER if spec.suspend else V.RESUMED
        conds = set_condition(conds, V.SUSPENDED, spec.suspend, reason_s, why, now, gen)
    if phase is Phase.SUCCEEDED:
        conds = set_condition(conds, V.COMPLETE, True, reason, message, now, gen)
    elif terminal:
        conds = set_condition(conds, V.FAILED, True, reason, message, now, gen)
    return conds


def invalid_status(
    prev: SessionStatus, generation: int, message: str, now: datetime
) -> SessionStatus:
    """Failed with InvalidSpec; the ledger (counters, harvested Jobs, watermark) kept intact."""
    kept = [c for c in prev.conditions if c.type != V.COMPLETE]
    conds = set_condition(kept, V.SPEC_VALID, False, V.INVALID_SPEC, message, now, generation)
    conds = set_condition(conds, V.PROGRESSING, False, V.INVALID_SPEC, message, now, generation)
    conds = set_condition(conds, V.FAILED, True, V.INVALID_SPEC, message, now, generation)
    return prev.model_copy(
        update={
            "phase": Phase.FAILED,
            "message": message[:MAX_MESSAGE],
            "observed_generation": generation,
            "conditions": conds,
            "exit_code": 2,
            "start_time": prev.start_time or now,
            "completion_time": prev.completion_time or now,
        }
    )
