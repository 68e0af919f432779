"""Small builders for the core's unit tests, and a loop that plays a session.

Test modules import these as ``from core_builders import ...``: pytest puts this
folder on ``sys.path`` (rootdir-relative, no ``__init__.py``), as the runner tests
do with ``runner_harness``. The name is prefixed so it cannot shadow a helper of
another test tier.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus
from tuneop.core.jobs.manifests import decode_job
from tuneop.core.jobs.observed import JobState, Observed, ObservedJob, Params
from tuneop.core.planning.planner import JobToCreate, Plan, plan
from tuneop.core.results.harvest import harvest_job
from tuneop.core.wire.contract import RESULT_PREFIX, Outcome, TrialResult

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
REF = SessionRef(namespace="ns", name="demo", uid="uid-1", generation=1)


def line(
    trial: int,
    value: Any = 1.0,
    status: str = "succeeded",
    metric: str = "loss",
    **extra: Any,
) -> str:
    """One result-contract line, as a worker prints it (no newline); a dict ``value`` is
    every metric (several objectives)."""
    metrics = value if isinstance(value, dict) else {metric: value}
    body = {"trial": trial, "params": {}, "metrics": metrics, "status": status, **extra}
    return RESULT_PREFIX + json.dumps(body)


def result(
    trial: int, value: float | None, outcome: Outcome = Outcome.SUCCEEDED, job_index: int = -1
) -> TrialResult:
    return TrialResult(
        trial=trial,
        job_index=trial if job_index < 0 else job_index,
        params={"x": trial},
        outcome=outcome,
        value=value if outcome is Outcome.SUCCEEDED else None,
    )


def job(
    index: int,
    state: JobState = JobState.ACTIVE,
    trials: Iterable[int] | None = None,
    results: Iterable[TrialResult] | None = None,
    **kw: Any,
) -> ObservedJob:
    """A Job as observed; ``trials`` defaults to the single trial ``index``."""
    ts = tuple(trials) if trials is not None else (index,)
    return ObservedJob(
        index=index,
        name=f"{REF.name}-{index}",
        trials=ts,
        state=state,
        results=tuple(results) if results is not None else None,
        **kw,
    )


def launched(c: JobToCreate) -> ObservedJob:
    """The Job a ``JobToCreate`` becomes once the API server has it."""
    wire = decode_job(c.manifest)
    return ObservedJob(
        index=c.index,
        name=c.name,
        trials=c.trials,
        state=JobState.ACTIVE,
        params=c.params,
        retry=wire.retry if wire is not None else None,
    )


def loss(params: Params) -> float:
    """The test objective: the sum of the numeric params."""
    return float(sum(v for v in params.values() if isinstance(v, int | float)))


def log_for(
    j: ObservedJob, value: Callable[[Params], Any] = loss, status: str = "succeeded"
) -> str:
    """A worker log reporting every trial of ``j``, with noise around the result lines."""
    out = ["starting worker"]
    for t, p in zip(j.trials, j.params, strict=True):
        out += [f"trial {t}: running", line(t, value(p), status=status)]
    return "\n".join([*out, "done"]) + "\n"


@dataclass
class Session:
    """A session played against the pure planner, as the reconciler would.

    Each ``reconcile`` plans from the live Jobs and the last written status, then
    acts: creates Jobs, "writes" the status, deletes what the plan says. Tests
    move time and finish Jobs between reconciles.
    """

    spec: SessionSpec
    now: datetime = T0
    ref: SessionRef = REF
    status: SessionStatus = field(default_factory=SessionStatus)
    jobs: dict[int, ObservedJob] = field(default_factory=dict)
    created: list[int] = field(default_factory=list)
    persisted: list[TrialResult] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)

    def observed(self) -> Observed:
        return Observed(
            session=self.ref,
            jobs=tuple(self.jobs.values()),
            status=self.status,
            history=tuple(self.persisted),
        )

    def reconcile(self) -> Plan:
        p = plan(self.spec, self.observed(), self.now)
        for c in p.create:
            self.jobs[c.index] = launched(c)
            self.created.append(c.index)
        self.status = p.status
        gone = set(p.delete)
        self.jobs = {i: j for i, j in self.jobs.items() if j.name not in gone}
        self.persisted.extend(p.persist)
        self.plans.append(p)
        return p

    def active(self) -> list[ObservedJob]:
        return [j for j in self.jobs.values() if j.state is JobState.ACTIVE]

    def finish(
        self,
        index: int,
        logs: list[str] | None | str = "auto",
        state: JobState = JobState.SUCCEEDED,
        value: Callable[[Params], Any] = loss,
        status: str = "succeeded",
        **kw: Any,
    ) -> ObservedJob:
        """Finish Job ``index`` and harvest it (``logs=None``: its pods are gone)."""
        j = replace(self.jobs[index], state=state, **kw)
        if logs == "auto":
            logs = [log_for(j, value, status)]
        elif isinstance(logs, str):
            logs = [logs]
        objectives = self.spec.all_objectives
        j = replace(j, results=harvest_job(j, logs, self.spec.objective, None, objectives))
        self.jobs[index] = j
        return j

    def vanish(self, index: int) -> None:
        """The Job is deleted by someone else before it was harvested."""
        del self.jobs[index]

    def later(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def play(
        self,
        per_step: int = 1,
        newest_first: bool = False,
        value: Callable[[Params], Any] = loss,
        max_steps: int = 10_000,
        check: Callable[[Session], None] | None = None,
    ) -> Plan:
        """Reconcile until terminal, finishing ``per_step`` active Jobs between reconciles."""
        p = self.reconcile()
        for _ in range(max_steps):
            if check is not None:
                check(self)
            if p.status.terminal:
                return p
            active = sorted(self.active(), key=lambda j: j.index, reverse=newest_first)
            for j in active[:per_step]:
                self.finish(j.index, value=value)
            self.later(1)
            p = self.reconcile()
        raise AssertionError(f"session did not finish in {max_steps} reconciles")
