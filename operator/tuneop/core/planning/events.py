"""The events a reconcile reports, and the words of each.

An ``Event`` is what the planner asks the adapters to publish (a Kubernetes
Event, a Redis stream entry, a line in ``tuneop run``). Reasons come from
``tuneop.api.vocabulary``; the builders here write every message, so a reason
reads the same whichever planner step raised it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tuneop.api import vocabulary as V
from tuneop.api.status import TrialRef
from tuneop.core.ranges import format_ranges
from tuneop.core.wire.contract import Outcome, TrialResult

__all__ = [
    "Event",
    "invalid_spec",
    "job_finished",
    "new_best",
    "phase_changed",
    "pod_not_started",
    "stopped",
    "trial_retried",
    "trials_started",
]


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


def job_finished(job_index: int, results: Sequence[TrialResult]) -> list[Event]:
    """TrialsFinished when every trial succeeded (or was pruned), else TrialFailed quoting
    the first failure."""
    if not results:
        return []
    trials = format_ranges(r.trial for r in results)
    # A pruned trial ended as early stopping asked: nothing to warn about.
    pruned = sum(r.outcome is Outcome.PRUNED for r in results)
    bad = [r for r in results if not r.succeeded and r.outcome is not Outcome.PRUNED]
    if not bad:
        said = f"finished ({pruned} pruned)" if pruned else "succeeded"
        message = f"job {job_index}: trials {trials} {said}"
        return [Event("Normal", V.TRIALS_FINISHED, message)]
    first = bad[0]
    more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
    message = f"job {job_index}: trial {first.trial} {first.outcome}: {first.error or ''}{more}"
    return [Event("Warning", V.TRIAL_FAILED, message)]


def new_best(best: TrialRef, metric: str) -> Event:
    return Event("Normal", V.NEW_BEST, f"trial {best.trial}: {metric}={best.value:g}")


def stopped(reason: str, jobs: int) -> Event:
    return Event("Warning", reason, f"stopped {jobs} running job(s)")


def trials_started(job_index: int, trials: tuple[int, ...]) -> Event:
    return Event("Normal", V.TRIALS_STARTED, f"job {job_index}: trials {format_ranges(trials)}")


def trial_retried(
    job_index: int, attempt: int, retries: int, failed: Sequence[TrialResult]
) -> Event:
    """A retry Job launched for ``failed``, quoting the first failure."""
    first = failed[0]
    trials = format_ranges(r.trial for r in failed)
    message = (
        f"job {job_index}: trials {trials} again (attempt {attempt} of {retries}) after job"
        f" {first.job_index}: trial {first.trial} {first.outcome}: {first.error or ''}"
    )
    return Event("Warning", V.TRIAL_RETRIED, message)


def pod_not_started(reason: str, job_index: int, problem: str, seconds: int) -> Event:
    """A Job ended because its pod did not start within ``seconds``; ``reason`` is the pod's."""
    message = f"job {job_index}: not started after {seconds}s, its trials not counted: {problem}"
    return Event("Warning", reason, message)


def phase_changed(phase: V.Phase, message: str) -> Event:
    kind = "Warning" if phase in {V.Phase.FAILED, V.Phase.CANCELLED} else "Normal"
    return Event(kind, str(phase), message)


def invalid_spec(message: str) -> Event:
    return Event("Warning", V.INVALID_SPEC, message)
