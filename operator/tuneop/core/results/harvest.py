"""Harvest: turning a finished Job's pod logs into one result per trial.

A Job may have several pods (retries); their logs are read in creation order
and a later report for a trial replaces an earlier one. A trial with no report
is classified from what is known of its Job: pods gone before harvest
(ResultsLost, never a silent success), a platform failure
(InfrastructureFailure), the Job's deadline (TimedOut), or a worker that died
without reporting (Failed).

With ``metricsCollector.kind: StdOut`` (Katib's format) the Job holds one
trial and prints no result lines: when it succeeded, the metrics its last
pod printed (``tuneop.core.wire.stdout_metrics``) are that trial's report, and
each line naming the objective metric is a step of its learning curve. With
``File`` or ``TensorFlowEvent`` the same, read from the lines the file's follower
printed (``tuneop.core.jobs.metricsfile``).
Otherwise a trial's curve is its intermediate lines (``tuneop.core.wire.intermediate``).

An adapter that ran the worker itself (a local run) tells more: what happened
to a failed worker in its words ("exited with code 1", "was killed after the
3 s trial timeout"), which a trial without a report quotes instead of the
Job's reason, with the last lines of the worker's stderr; and each trial's
wall time in the worker, which is its duration (the runner's own figure is
only its function's call).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from tuneop.api.spec import MetricsCollector, Objective
from tuneop.core.jobs.metricsfile import file_lines
from tuneop.core.jobs.observed import JobState, ObservedJob
from tuneop.core.wire.contract import (
    Outcome,
    ParsedLog,
    TrialReport,
    TrialResult,
    classify,
    missing_result,
    parse_log,
)
from tuneop.core.wire.intermediate import Curve, Curves, objective_curve, stdout_curve
from tuneop.core.wire.stdout_metrics import stdout_metrics

__all__ = ["JobLogs", "harvest_job", "stderr_words"]


@dataclass(frozen=True)
class JobLogs:
    """What a finished Job left to harvest: its pods' logs, oldest first, and how many of
    its pods the platform disrupted (evicted, preempted: they were replaced, not counted as
    failures; 0 from an adapter that runs no pods). A value every ``JobBackend`` returns
    alike, so the reconciler never asks which adapter read it."""

    lines: tuple[str, ...] = ()
    disruptions: int = 0


def _stdout_report(
    job: ObservedJob, logs: Sequence[str | bytes], collector: MetricsCollector, metric: str
) -> dict[int, TrialReport]:
    if job.state is not JobState.SUCCEEDED or not logs or len(job.trials) != 1:
        return {}
    metrics = stdout_metrics(_last_text(logs, collector), collector, metric)
    params = dict(job.params[0]) if job.params else {}
    trial = job.trials[0]
    return {trial: TrialReport(trial, params, dict(metrics), "succeeded", None, None)}


def _last_text(logs: Sequence[str | bytes], collector: MetricsCollector) -> str:
    """The last pod's log as text; of a file collector's, only the follower's lines."""
    last = logs[-1] if logs else ""
    text = last.decode("utf-8", errors="replace") if isinstance(last, bytes) else last
    return file_lines(text, collector)


def _stdout_curve(logs: Sequence[str | bytes], metric: str, collector: MetricsCollector) -> Curve:
    return stdout_curve(_last_text(logs, collector), metric, collector)


def stderr_words(tail: Sequence[str]) -> str:
    """A worker's last stderr lines, quoted on one line."""
    return "; its stderr ends: " + " | ".join(tail) if tail else ""


def _why_missing(job: ObservedJob, problem: str | None, katib: bool) -> tuple[Outcome, str]:
    """The outcome and the words of a trial its finished Job did not report."""
    if job.infra_reason:
        return Outcome.INFRASTRUCTURE, f"infrastructure failure: {job.infra_reason}"
    tail = stderr_words(job.stderr_tail)
    if job.reason == "DeadlineExceeded":
        why = (
            f"the worker {job.detail}"
            if job.detail
            else ("the worker Job ran past its activeDeadlineSeconds")
        )
        return Outcome.TIMED_OUT, why + tail
    if job.detail:
        ran = job.reason != "StartError"  # a worker that never started reported nothing
        why = f"the worker {job.detail}" + (
            " without reporting this trial" if ran and not katib else ""
        )
    else:
        why = "the worker exited without reporting this trial"
        if job.reason:
            why += f" ({job.reason})"
    if problem:
        why += f"; {problem}"
    return Outcome.FAILED, why + tail


def harvest_job(
    job: ObservedJob,
    logs: Sequence[str | bytes] | None,
    objective: Objective,
    collector: MetricsCollector | None = None,
    objectives: Sequence[Objective] = (),
) -> tuple[TrialResult, ...]:
    """Results for every trial of a finished ``job``; ``logs`` is None when its pods are gone.
    With several ``objectives`` (``spec.all_objectives``) a trial needs a value for each."""
    parsed: list[ParsedLog] = [parse_log(log, job.trials) for log in logs or ()]
    reported = {}
    curves = Curves()
    for p in parsed:
        reported.update(p.reports)
        curves.update(p.curves)
    katib = collector is not None and collector.kind != "TuneopResult"  # Katib's formats
    if collector is not None and katib:
        reported = _stdout_report(job, logs or (), collector, objective.metric)
    problem = next((p.first_problem for p in parsed if p.first_problem), None)
    out = []
    for pos, trial in enumerate(job.trials):
        params = job.params[pos] if pos < len(job.params) else {}
        rep = reported.get(trial)
        if rep is not None:
            curve = (
                _stdout_curve(logs or (), objective.metric, collector)
                if collector is not None and katib
                else objective_curve(curves, trial, objective.metric)
            )
            res = classify(rep, job.index, objective, curve, objectives)
            # The Job's record of what it was asked is authoritative over what it echoed.
            out.append(replace(res, params=dict(params)) if params else res)
            continue
        if logs is None:
            why = "pods were gone before their logs were harvested"
            out.append(missing_result(trial, job.index, params, Outcome.RESULTS_LOST, why))
        else:
            outcome, why = _why_missing(job, problem, katib)
            out.append(missing_result(trial, job.index, params, outcome, why))
    seconds = dict(job.seconds)
    return tuple(
        replace(r, duration_seconds=round(seconds[r.trial], 3)) if r.trial in seconds else r
        for r in out
    )
