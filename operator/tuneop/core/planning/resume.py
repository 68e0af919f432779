"""Running a session again: which stopped trials run again, and what the rerun says.

One rule for every way a local run is interrupted (Ctrl-C, SIGTERM, SIGHUP,
``kill -9``): the trials it stopped are run again, or collected when their
worker had already printed a complete result, by the next run of the same
session. A ``kill -9`` leaves their Jobs in flight in the recorded status; a
stop signal records their trials as Cancelled (``core.planning.stop``) and their Jobs
as harvested. ``reopen`` turns the latter back into the former, so both take
the same path: the Jobs in flight are taken back and run again for only the
trials without a result in their logs. Trials stopped for another reason (the
deadline, the failure budget, the goal) stay as they are: the session stopped
them on purpose.

``has_work`` tells whether a finished session has anything left to do under
this spec (a raised ``totalTrials`` extends it); a finished session without
work is not run again. ``resume_line`` and ``finished_line`` are what the
user reads first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from tuneop.api import vocabulary as V
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus
from tuneop.core.jobs.observed import Observed
from tuneop.core.planning.planner import plan
from tuneop.core.planning.stop import stop_why
from tuneop.core.ranges import format_inflight, format_ranges, parse_inflight, parse_ranges
from tuneop.core.wire.contract import Outcome, TrialResult

__all__ = [
    "finished_line",
    "has_work",
    "reopen",
    "resume_line",
    "stopped_by_user",
    "user_stopped_jobs",
]


def stopped_by_user(result: TrialResult) -> bool:
    """Whether ``result`` records a trial a stop signal (Ctrl-C) cut short."""
    return result.outcome is Outcome.CANCELLED and result.error == stop_why(V.CANCELLED)


def user_stopped_jobs(results: Iterable[TrialResult]) -> dict[int, tuple[int, ...]]:
    """The Jobs a stop signal stopped, by index: the trials of each, in order."""
    jobs: dict[int, list[int]] = {}
    for r in results:
        if stopped_by_user(r) and r.job_index >= 0:
            jobs.setdefault(r.job_index, []).append(r.trial)
    return {i: tuple(sorted(ts)) for i, ts in jobs.items()}


def reopen(prev: SessionStatus, jobs: Mapping[int, tuple[int, ...]]) -> SessionStatus:
    """``prev`` with ``jobs`` in flight again, as a ``kill -9`` would have left them: out of
    the harvested set, into the in-flight map, their trials no longer counted as Cancelled.
    Only Jobs ``prev`` records as harvested are reopened (a Job is counted once)."""
    harvested = parse_ranges(prev.harvested_jobs)
    inflight = parse_inflight(prev.inflight)
    opened = {i: ts for i, ts in jobs.items() if i in harvested and i not in inflight}
    if not opened:
        return prev
    inflight.update(opened)
    trials = sum(len(ts) for ts in opened.values())
    counts = prev.trials.model_copy(update={"cancelled": max(prev.trials.cancelled - trials, 0)})
    return prev.model_copy(
        update={
            "harvested_jobs": format_ranges(harvested - set(opened)),
            "inflight": format_inflight(inflight),
            "trials": counts,
        }
    )


def _no_suggestions(
    spec: SessionSpec, history: Any, pending: Any, first: int, n: int
) -> list[dict[str, Any]]:
    # Whether a Job would be launched does not depend on its parameters: asking the
    # optimizer (TPE over the whole history) would only cost time.
    return [{} for _ in range(n)]


def has_work(spec: SessionSpec, ref: SessionRef, prev: SessionStatus, now: datetime) -> bool:
    """Whether a rerun has anything to do: Jobs in flight (reopened, or left by a
    ``kill -9``), or what the planner, given ``prev``, would go on with rather than stay
    finished (a raised budget, a raised failure budget)."""
    if prev.inflight:
        return True  # the planner, shown no live Jobs, would take them for lost
    observed = Observed(session=ref, status=prev)
    return not plan(spec, observed, now, _no_suggestions).status.terminal


def resume_line(name: str, kept: int, total: int, collected: int) -> str:
    """The first line of a resumed run: ``kept`` of ``total`` trials have their result
    (``collected`` of them just now, from the logs of workers an interruption stopped)."""
    source = f" ({collected} collected from the logs of stopped workers)" if collected else ""
    return f"resuming {name}: {kept} of {total} trials kept{source}, {max(total - kept, 0)} to run"


def finished_line(name: str, status: SessionStatus, results: str) -> str:
    """The one line of a rerun of a finished session, which runs nothing."""
    extend = "raise totalTrials to extend it, or " if status.phase is V.Phase.SUCCEEDED else ""
    return (
        f"session {name} already finished: {status.phase} ({status.message}); nothing ran."
        f" Results: {results}; {extend}--fresh to start over"
    )
