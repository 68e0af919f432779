"""A whole session through the planner in this process: what the optimizer benchmarks share.

``run_session`` plays the operator's loop without a cluster or workers: plan,
evaluate every trial of every Job it creates at once (``evaluate`` turns a
trial's params into its result), hand the finished Jobs back, and plan again
until the session is terminal. The suggester is the operator's cached one, so
the suggestions are the ones a real session would get for the same history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from tuneop.api.session import SessionRef
from tuneop.api.spec import Scalar, SessionSpec
from tuneop.api.status import SessionStatus
from tuneop.core.jobs.observed import JobState, Observed, ObservedJob
from tuneop.core.planning.planner import plan
from tuneop.core.suggest.bayesian import CachedSuggester
from tuneop.core.wire.contract import TrialResult

__all__ = ["NOW", "Evaluate", "run_session"]

NOW = datetime(2026, 1, 1, tzinfo=UTC)

# (trial, job index, params) -> the trial's result
Evaluate = Callable[[int, int, dict[str, Scalar]], TrialResult]


def run_session(
    spec: SessionSpec, name: str, evaluate: Evaluate
) -> tuple[list[TrialResult], SessionStatus]:
    """Every result of the session, in the order persisted, and its final status."""
    ref = SessionRef("bench", name)
    suggester = CachedSuggester()
    status: SessionStatus | None = None
    history: list[TrialResult] = []
    jobs: tuple[ObservedJob, ...] = ()
    while True:
        observed = Observed(ref, jobs, status) if status else Observed(ref, jobs)
        p = plan(spec, replace(observed, history=tuple(history)), NOW, suggester)
        status = p.status
        history.extend(p.persist)
        if status.terminal:
            return history, status
        jobs = tuple(
            ObservedJob(
                index=c.index,
                name=c.name,
                trials=c.trials,
                state=JobState.SUCCEEDED,
                params=c.params,
                results=tuple(
                    evaluate(t, c.index, params)
                    for t, params in zip(c.trials, c.params, strict=True)
                ),
            )
            for c in p.create
        )
