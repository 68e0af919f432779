"""Per-trial retries: a failed trial runs again, alone, in a retry Job.

A worker Job is never retried whole (``backoffLimit: 0``): with several trials
in one pod that would run the trials that succeeded again. Instead, when a
finished Job is harvested, its trials that failed by their own doing
(``Failed``, ``TimedOut``, ``MetricsUnavailable``: those of them ``spec.retryOn``
names) and have attempts left (``spec.retries``) are not counted yet: they go
into one *retry Job* that takes the harvested Job's place (and slot), named like
any Job from the launch watermark, labelled with the Job it retries (``tuneop.dev/retry-of``) and
carrying the attempt (``tuneop.dev/attempt``, ``TUNEOP_ATTEMPT`` for the trial).
The trials that succeeded are counted at once and never run again. A trial's
result counts when it succeeds or its attempts are spent.

Not retried: a Job the trial's reserved exit code failed (``PodFailurePolicy``:
the objective or its configuration is broken, so another attempt would fail the
same way), a pod that never started (the image or the scheduling is wrong),
trials cancelled or lost. A pod disrupted by the platform is not a failure at
all: the Job's ``podFailurePolicy`` has Kubernetes replace it uncounted.

The status keeps each in-flight Job's trials as runs (``5=12-15``; ``9=12,9=14``
for a retry of scattered trials), so a retry Job takes at most
``MAX_RETRY_RUNS`` runs of failed trials: that bounds what retries add to the
status by ``maxParallel`` times ``MAX_RETRY_RUNS`` entries. Failed trials past them
(more than 16 separate failures in one packed Job) keep their failure.

A harvest recorded twice (its status write lost) must not retry twice: a live
Job that already retries the harvested one is taken over instead. Retry Jobs
take Job indexes from the watermark, so the status counts them
(``retryJobs``), and the packing of the remaining trials over ``workers``
counts only the Jobs that were not retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tuneop.api.spec import SessionSpec
from tuneop.api.vocabulary import RETRIED_OUTCOMES
from tuneop.core.jobs.observed import ObservedJob, Retry
from tuneop.core.wire.contract import TRIAL_FAILURES, TrialResult

__all__ = ["BROKEN_REASON", "MAX_RETRY_RUNS", "PendingRetry", "split_retries"]

# The Job condition's reason when its podFailurePolicy's FailJob rule matched.
BROKEN_REASON = "PodFailurePolicy"
MAX_RETRY_RUNS = 16


@dataclass(frozen=True)
class PendingRetry:
    """Trials of a harvested Job to run again, and their failed results so far."""

    retry: Retry
    failed: tuple[TrialResult, ...]

    @property
    def trials(self) -> tuple[int, ...]:
        return tuple(r.trial for r in self.failed)


def split_retries(
    spec: SessionSpec, job: ObservedJob, results: Sequence[TrialResult], live: Sequence[ObservedJob]
) -> tuple[list[TrialResult], PendingRetry | None]:
    """The results that count now, and the retry to launch (None: no trial to retry).

    When a live Job already retries ``job`` (created by a reconcile whose status write
    was lost), the failed trials are its to report: they neither count nor retry again.
    """
    attempt = (job.retry.attempt if job.retry is not None else 0) + 1
    if attempt > spec.retries or job.reason == BROKEN_REASON:
        return list(results), None
    retried_on = set(spec.retry_on or RETRIED_OUTCOMES) & TRIAL_FAILURES
    failed = [r for r in sorted(results, key=lambda r: r.trial) if r.outcome in retried_on]
    again = tuple(_first_runs(failed, MAX_RETRY_RUNS))
    if not again:
        return list(results), None
    retried = {r.trial for r in again}
    final = [r for r in results if r.trial not in retried]
    if any(j.retry is not None and j.retry.of == job.index for j in live):
        return final, None
    return final, PendingRetry(Retry(of=job.index, attempt=attempt), again)


def _first_runs(failed: Sequence[TrialResult], runs: int) -> list[TrialResult]:
    """The results of ``failed`` (sorted by trial) in its first ``runs`` runs of trials."""
    out: list[TrialResult] = []
    for r in failed:
        if out and r.trial != out[-1].trial + 1:
            runs -= 1
        if runs <= 0:
            break
        out.append(r)
    return out
