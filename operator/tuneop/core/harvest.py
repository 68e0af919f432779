"""Harvest: turning a finished Job's pod logs into one result per trial.

A Job may have several pods (retries); their logs are read in creation order
and a later report for a trial replaces an earlier one. A trial with no report
is classified from what is known of its Job: pods gone before harvest
(ResultsLost, never a silent success), a platform failure
(InfrastructureFailure), the Job's deadline (TimedOut), or a worker that died
without reporting (Failed).

With ``metricsCollector.kind: StdOut`` (Katib's format) the Job holds one
trial and prints no result lines: when it succeeded, the metrics its last
pod printed (``tuneop.core.stdout_metrics``) are that trial's report, and
each line naming the objective metric is a step of its learning curve.
Otherwise a trial's curve is its intermediate lines (``tuneop.core.intermediate``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from tuneop.api.spec import MetricsCollector, Objective
from tuneop.core.contract import (
    Outcome,
    ParsedLog,
    TrialReport,
    TrialResult,
    classify,
    missing_result,
    parse_log,
)
from tuneop.core.intermediate import Curve, Curves, objective_curve, stdout_curve
from tuneop.core.observed import JobState, ObservedJob
from tuneop.core.stdout_metrics import stdout_metrics

__all__ = ["PodLogs", "harvest_job"]


class PodLogs(list[str]):
    """A Job's pod logs, oldest first, and how many of its pods the platform disrupted
    (an adapter that knows; they were replaced, not counted as failures)."""

    def __init__(self, logs: Sequence[str], disruptions: int = 0) -> None:
        super().__init__(logs)
        self.disruptions = disruptions


def _stdout_report(
    job: ObservedJob, logs: Sequence[str | bytes], collector: MetricsCollector, metric: str
) -> dict[int, TrialReport]:
    if job.state is not JobState.SUCCEEDED or not logs or len(job.trials) != 1:
        return {}
    last = logs[-1]
    text = last.decode("utf-8", errors="replace") if isinstance(last, bytes) else last
    metrics = stdout_metrics(text, collector, metric)
    params = dict(job.params[0]) if job.params else {}
    trial = job.trials[0]
    return {trial: TrialReport(trial, params, dict(metrics), "succeeded", None, None)}


def _stdout_curve(logs: Sequence[str | bytes], metric: str) -> Curve:
    last = logs[-1] if logs else ""
    text = last.decode("utf-8", errors="replace") if isinstance(last, bytes) else last
    return stdout_curve(text, metric)


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
    katib = collector is not None and collector.kind == "StdOut"
    if collector is not None and katib:
        reported = _stdout_report(job, logs or (), collector, objective.metric)
    problem = next((p.first_problem for p in parsed if p.first_problem), None)
    out = []
    for pos, trial in enumerate(job.trials):
        params = job.params[pos] if pos < len(job.params) else {}
        rep = reported.get(trial)
        if rep is not None:
            curve = (
                _stdout_curve(logs or (), objective.metric)
                if katib
                else objective_curve(curves, trial, objective.metric)
            )
            res = classify(rep, job.index, objective, curve, objectives)
            # The Job's record of what it was asked is authoritative over what it echoed.
            out.append(replace(res, params=dict(params)) if params else res)
            continue
        if logs is None:
            why = "pods were gone before their logs were harvested"
            out.append(missing_result(trial, job.index, params, Outcome.RESULTS_LOST, why))
        elif job.infra_reason:
            why = f"infrastructure failure: {job.infra_reason}"
            out.append(missing_result(trial, job.index, params, Outcome.INFRASTRUCTURE, why))
        elif job.reason == "DeadlineExceeded":
            why = "the worker Job ran past its activeDeadlineSeconds"
            out.append(missing_result(trial, job.index, params, Outcome.TIMED_OUT, why))
        else:
            why = "the worker exited without reporting this trial"
            if job.reason:
                why += f" ({job.reason})"
            if problem:
                why += f"; {problem}"
            out.append(missing_result(trial, job.index, params, Outcome.FAILED, why))
    return tuple(out)
