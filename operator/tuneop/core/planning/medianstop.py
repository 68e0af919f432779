"""Katib's median stop (``earlyStopping.type: medianStop``): which running trials to stop.

Katib v0.19.0's ``medianstop`` service and metrics collector, as one pure decision:

* the threshold is the mean, over the succeeded trials, of each one's average of its
  first ``startStep`` objective values (Katib's service calls it the median; it
  computes that mean), once at least ``minTrialsRequired`` trials succeeded
  (defaults 3 and 4, Katib's);
* a running trial is judged once, on its first ``startStep`` values: it is stopped
  when the best of them is worse than the threshold (below it when maximizing, above
  it when minimizing), as Katib's collector checks its rule at that report only.

So only a trial's first ``startStep`` values are ever needed: whoever reads a running
trial's output reads its beginning, bounded (``FIRST_BYTES``), never its whole log.
A trial that has not reported ``startStep`` values yet is judged later; one judged
and kept is never judged again (``Verdict.KEEP``).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import replace

from tuneop.api.early_stopping import EarlyStopping
from tuneop.api.spec import SessionSpec
from tuneop.core.jobs.metricsfile import file_lines
from tuneop.core.jobs.observed import JobState, ObservedJob
from tuneop.core.wire.contract import Outcome, TrialResult
from tuneop.core.wire.intermediate import Curve, stdout_curve

__all__ = [
    "DEFAULT_MIN_TRIALS",
    "DEFAULT_START_STEP",
    "FIRST_BYTES",
    "Verdict",
    "judge",
    "judged_job",
    "needs_judging",
    "threshold",
]

DEFAULT_MIN_TRIALS = 3
DEFAULT_START_STEP = 4
# What of a running trial's output is read to find its first values.
FIRST_BYTES = 64 * 1024


class Verdict(enum.Enum):
    WAIT = "wait"  # too few values, or too few succeeded trials: judge it later
    KEEP = "keep"  # judged: it runs on, never judged again
    STOP = "stop"


def _start_step(es: EarlyStopping) -> int:
    return es.start_step or DEFAULT_START_STEP


def threshold(es: EarlyStopping, succeeded: Sequence[Curve]) -> float | None:
    """Katib's rule value over the succeeded trials' curves; None while too few."""
    n = _start_step(es)
    averages = [sum(v for _, v in c[:n]) / len(c[:n]) for c in succeeded if c]
    if len(averages) < (es.min_trials_required or DEFAULT_MIN_TRIALS):
        return None
    return sum(averages) / len(averages)


def judge(
    es: EarlyStopping, direction: str, first: Sequence[float], rule: float | None
) -> tuple[Verdict, str]:
    """The verdict on a running trial's ``first`` objective values, and why, in words."""
    n = _start_step(es)
    if len(first) < n:
        return Verdict.WAIT, ""
    if rule is None:
        # Katib's trial gets no rule when too few trials had succeeded: it runs to its end.
        return Verdict.KEEP, ""
    best = max(first[:n]) if direction == "maximize" else min(first[:n])
    worse = best < rule if direction == "maximize" else best > rule
    if not worse:
        return Verdict.KEEP, ""
    return Verdict.STOP, (
        f"early stopped (medianStop): its best of its first {n} values, {best:.6g}, is"
        f" worse than the succeeded trials' mean, {rule:.6g}"
    )


def needs_judging(spec: SessionSpec, job: ObservedJob) -> bool:
    """Whether ``job`` is a running one-trial Job that Katib's median stop may stop."""
    es = spec.early_stopping
    return (
        es is not None
        and es.type == "medianStop"
        and job.state is JobState.ACTIVE
        and not job.queued
        and len(job.trials) == 1
    )


def judged_job(
    spec: SessionSpec, job: ObservedJob, output: str, rule: float | None
) -> tuple[ObservedJob, Verdict]:
    """``job`` after judging its trial on the beginning of its ``output``: a stopped one
    is finished, its trial ``Pruned`` with the values it reported (its curve), so the
    plan records it and deletes the Job (which stops its pod)."""
    es = spec.early_stopping
    assert es is not None, "needs_judging checked it"
    collector = spec.metrics_collector
    curve = stdout_curve(file_lines(output, collector), spec.objective.metric, collector)
    values = [v for _, v in curve]
    verdict, why = judge(es, spec.objective.direction, values, rule)
    if verdict is not Verdict.STOP:
        return job, verdict
    params = dict(job.params[0]) if job.params else {}
    result = TrialResult(
        trial=job.trials[0],
        job_index=job.index,
        params=params,
        outcome=Outcome.PRUNED,
        value=values[-1],
        metrics={spec.objective.metric: values[-1]},
        error=why,
        intermediate=curve,
    )
    stopped = replace(job, state=JobState.FAILED, reason="EarlyStopped", results=(result,))
    return stopped, verdict
