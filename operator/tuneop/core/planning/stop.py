"""The stop step: whether the session must stop now, and stopping its running Jobs.

A session with work left stops when the user cancels it or its deadline
passes (running time, ``core.clock``); any session stops when more trials
failed than ``maxFailedTrials`` allows, or when the objective's goal is
reached and ``onGoal`` is Stop, or when the first trials, none succeeded,
failed with the same error ``FAIL_FAST_TRIALS`` times in a row. The first
rule that holds names the stop (it becomes the phase's reason).
Stopping deletes the running Jobs and records their trials as Cancelled, once:
a Job stopped by an earlier reconcile and still being deleted is already in
the ledger.
"""

from __future__ import annotations

from tuneop.api import vocabulary as V
from tuneop.api.spec import SessionSpec
from tuneop.core.jobs.observed import Observed
from tuneop.core.planning import events
from tuneop.core.planning.ledger import Ledger, count
from tuneop.core.suggest.search import known_point
from tuneop.core.wire.contract import Outcome, TrialResult, missing_result

__all__ = ["FAIL_FAST_TRIALS", "goal_reached", "stop_jobs", "stop_reason", "stop_why"]

# The first trials all failing with one error is the objective's fault, not the trials':
# after this many in a row, with none succeeded, the session stops instead of spending
# its budget on the same error.
FAIL_FAST_TRIALS = 3


def goal_reached(spec: SessionSpec, ledger: Ledger) -> bool:
    best = ledger.best
    return best is not None and spec.objective.reached(best.value)


def stop_reason(
    spec: SessionSpec, observed: Observed, ledger: Ledger, total: int, deadline_passed: bool
) -> str | None:
    """The reason the session must stop now, or None."""
    work_left = ledger.next_trial < total or bool(ledger.active) or bool(ledger.unharvested)
    if work_left and observed.cancelled:
        return V.CANCELLED
    if work_left and deadline_passed:
        return V.DEADLINE_EXCEEDED
    if spec.max_failed_trials is not None and ledger.counts.failed > spec.max_failed_trials:
        return V.MAX_FAILED_REACHED
    if ledger.counts.succeeded == 0 and ledger.repeated_error_count >= FAIL_FAST_TRIALS:
        return V.REPEATED_TRIAL_ERROR
    if goal_reached(spec, ledger) and spec.objective.on_goal == "Stop":
        return V.GOAL_REACHED
    return None


def stop_why(reason: str) -> str:
    """The error recorded on the trials a stop for ``reason`` cut short."""
    return f"stopped: {reason}"


def stop_jobs(spec: SessionSpec, ledger: Ledger, reason: str) -> list[str]:
    """Stop the running Jobs: their names to delete; their trials recorded as Cancelled."""
    delete: list[str] = []
    stopped: list[TrialResult] = []
    n_stopped = 0
    why = stop_why(reason)
    for j in ledger.active:
        delete.append(j.name)
        if j.index in ledger.harvested:
            continue  # stopped by an earlier reconcile and still being deleted
        n_stopped += 1
        stopped.extend(
            missing_result(
                t,
                j.index,
                j.params[k] if k < len(j.params) else known_point(spec, t),
                Outcome.CANCELLED,
                why,
            )
            for k, t in enumerate(j.trials)
        )
        ledger.harvested.add(j.index)
        ledger.inflight.pop(j.index, None)
    if stopped:
        ledger.events.append(events.stopped(reason, n_stopped))
    ledger.persist.extend(stopped)
    ledger.counts = count(ledger.counts, stopped)
    ledger.active = []
    return delete
