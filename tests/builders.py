"""Builders of sessions, Jobs and results, shared by every test tier.

Every tier builds its sessions here: ``session_doc`` wraps a spec in the
manifest envelope (apiVersion, kind, metadata), ``spec_data`` / ``spec`` /
``manifest`` give the smallest valid session (a 10-point int grid
minimizing ``loss``) with fields replaced or removed (``DROP``). For the
core: ``line`` (a worker's result line), ``result`` (a trial's result),
``job`` / ``launched`` (a Job as observed), ``Session``, a session the
real reconciler plays one step at a time over ``tuneop.testing``'s fakes, and
``play_with_restarts``, a session played to its end by an operator restarted
every few reconciles.
Tier helpers (``operator_fakes``, ``tests.e2e.operator_support``) add what
only their tier needs on top. Importable as ``builders``: pytest puts
``tests/`` on the path (``pythonpath`` in pyproject.toml).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from tuneop.api import rules as R
from tuneop.api.session import SessionRef
from tuneop.api.spec import API_GROUP, API_VERSION, KIND, SessionSpec, parse_spec
from tuneop.api.status import SessionStatus
from tuneop.core.jobs.manifests import decode_job
from tuneop.core.jobs.observed import JobState, Observed, ObservedJob, Params
from tuneop.core.planning.planner import JobToCreate, Plan
from tuneop.core.results.harvest import harvest_job
from tuneop.core.wire.contract import RESULT_PREFIX, Outcome, TrialResult
from tuneop.ports import Suggester
from tuneop.reconciler import Reconciler
from tuneop.testing import REF, T0, FakeJobs, World, loss, play, worker_log

__all__ = [
    "BASE_SPEC",
    "DROP",
    "REF",
    "RULE_BREAKERS",
    "RUNNER_IMAGE",
    "T0",
    "TWO_OBJECTIVES",
    "Session",
    "curve",
    "epochs_output",
    "finished",
    "job",
    "launched",
    "line",
    "manifest",
    "play_with_restarts",
    "result",
    "session_doc",
    "spec",
    "spec_data",
    "stdout_spec",
]

# The image examples and cluster tests name; the node simulator ignores images.
RUNNER_IMAGE = "tuneop/runner:0.1.0"

# The smallest valid spec: a 10-point int grid, minimizing "loss".
BASE_SPEC: dict[str, Any] = {
    "objective": {"metric": "loss"},
    "searchSpace": [{"name": "x", "type": "int", "min": 0, "max": 9}],
    "optimizer": {"type": "grid"},
    "runner": {"image": "example/runner:1"},
}

DROP = object()  # an override that removes the key

# Two objectives for spec.objectives: a loss to minimize and a score to maximize.
TWO_OBJECTIVES: list[dict[str, Any]] = [
    {"metric": "loss", "direction": "minimize"},
    {"metric": "score", "direction": "maximize"},
]
FLOAT = {"name": "x", "type": "float", "min": 0.0, "max": 1.0}
NORMAL = {**FLOAT, "distribution": "normal"}
# A spec (over BASE_SPEC) per cross-field rule of tuneop.api.rules, breaking only that rule.
RULE_BREAKERS: list[tuple[R.Rule, dict[str, Any]]] = [
    (R.MIN_NOT_ABOVE_MAX, {"searchSpace": [{**FLOAT, "min": 5.0, "step": 0.5}]}),
    (R.CATEGORICAL_NEEDS_VALUES, {"searchSpace": [{"name": "c", "type": "categorical"}]}),
    (
        R.CATEGORICAL_NO_BOUNDS,
        {"searchSpace": [{"name": "c", "type": "categorical", "values": [1], "min": 0}]},
    ),
    (R.VALUES_ONLY_CATEGORICAL, {"searchSpace": [{**FLOAT, "step": 0.5, "values": [1]}]}),
    (R.NUMERIC_NEEDS_BOUNDS, {"searchSpace": [{"name": "x", "type": "int", "min": 0}]}),
    (
        R.LOG_NEEDS_POSITIVE_MIN,
        {
            "optimizer": {"type": "random"},
            "totalTrials": 3,
            "searchSpace": [{**FLOAT, "log": True}],
        },
    ),
    (
        R.OBJECTIVE_XOR_COMMAND,
        {"runner": {"image": "i", "objective": "m:f", "objectiveCommand": ["x"]}},
    ),
    (R.RESERVED_ENV, {"runner": {"image": "i", "env": [{"name": "TUNEOP_X", "value": "1"}]}}),
    (R.RUNNER_IMAGE_OR_TEMPLATE, {"runner": {"objective": "m:f"}}),
    (R.WORKERS_XOR_TRIALS_PER_JOB, {"workers": 2, "trialsPerJob": 2}),
    (R.TRIALS_XOR_SEARCH, {"trials": [{"x": 1}]}),
    (
        R.BAYESIAN_NEEDS_SEARCH,
        {"searchSpace": DROP, "trials": [{"x": 1}], "optimizer": {"type": "bayesian"}},
    ),
    (R.SEARCH_OR_TRIALS, {"searchSpace": []}),
    (R.TOTAL_TRIALS_REQUIRED, {"optimizer": {"type": "random"}}),
    (R.GRID_FLOAT_NEEDS_STEP, {"searchSpace": [FLOAT]}),
    (
        R.DISTRIBUTION_NUMERIC,
        {
            "searchSpace": [
                {"name": "c", "type": "categorical", "values": [1], "distribution": "normal"}
            ]
        },
    ),
    (R.DISTRIBUTION_NO_LOG, {"searchSpace": [{**NORMAL, "min": 0.5, "log": True}]}),
    (R.DISTRIBUTION_NEEDS_SPREAD, {"searchSpace": [{**NORMAL, "max": 0.0}]}),
    (
        R.LOGNORMAL_NEEDS_POSITIVE_MIN,
        {"searchSpace": [{**NORMAL, "distribution": "logNormal"}]},
    ),
    (R.DISTRIBUTION_OPTIMIZER, {"searchSpace": [NORMAL]}),
    (R.EARLY_STOPPING_SETTINGS, {"earlyStopping": {"type": "median", "maxResource": 9}}),
    (
        R.EARLY_STOPPING_ONE_OBJECTIVE,
        {"objective": DROP, "objectives": TWO_OBJECTIVES, "earlyStopping": {"type": "median"}},
    ),
    (R.OBJECTIVE_XOR_OBJECTIVES, {"objectives": TWO_OBJECTIVES}),
    (R.MEDIAN_STOP_NEEDS_KATIB_METRICS, {"earlyStopping": {"type": "medianStop"}}),
    (
        R.OBJECTIVES_OPTIMIZER,
        {
            "objective": DROP,
            "objectives": TWO_OBJECTIVES,
            "optimizer": {"type": "cmaes"},
            "totalTrials": 5,
        },
    ),
    (
        R.OBJECTIVES_UNIQUE,
        {
            "objective": DROP,
            "objectives": [TWO_OBJECTIVES[0], {**TWO_OBJECTIVES[1], "metric": "loss"}],
        },
    ),
    (R.SAMPLER_NEEDS_BAYESIAN, {"optimizer": {"type": "grid", "sampler": "nsga2"}}),
    (
        R.POPULATION_NEEDS_NSGA2,
        {"optimizer": {"type": "bayesian", "populationSize": 10}, "totalTrials": 5},
    ),
    (R.MULTIVARIATE_NEEDS_TPE, {"optimizer": {"type": "random", "multivariate": False}}),
]


def session_doc(name: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    """A TuningSession manifest: ``spec`` as given, ``metadata`` beside the name."""
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": KIND,
        "metadata": {"name": name, **metadata},
        "spec": spec,
    }


def spec_data(**overrides: Any) -> dict[str, Any]:
    """``BASE_SPEC`` with top-level keys (camelCase) replaced; ``DROP`` removes one."""
    data = copy.deepcopy(BASE_SPEC)
    for key, value in overrides.items():
        if value is DROP:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def spec(**overrides: Any) -> SessionSpec:
    return parse_spec(spec_data(**overrides))


def manifest(name: str = "demo", **spec_overrides: Any) -> dict[str, Any]:
    """The base session as a manifest in namespace ``ns`` with uid ``uid-1``."""
    return session_doc(name, spec_data(**spec_overrides), namespace="ns", uid="uid-1")


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


def curve(*values: float, start: int = 1) -> tuple[tuple[int, float], ...]:
    """A learning curve: ``values`` at steps ``start``, ``start + 1``, ..."""
    return tuple((start + i, float(v)) for i, v in enumerate(values))


def finished(
    trial: int, values: Iterable[float], outcome: Outcome = Outcome.SUCCEEDED
) -> TrialResult:
    """A finished trial with its curve (steps from 1); a succeeded one's value is its last."""
    c = curve(*values)
    last = c[-1][1] if c else None
    return TrialResult(
        trial=trial,
        job_index=trial,
        params={"x": trial},
        outcome=outcome,
        value=last if outcome is not Outcome.FAILED else None,
        intermediate=c,
    )


def epochs_output(values: Iterable[float], metric: str = "loss") -> str:
    """What a trial that prints one ``metric=value`` line per epoch has printed so far."""
    return "".join(f"epoch {i}: {metric}={v}\n" for i, v in enumerate(values, start=1))


def stdout_spec(early_stopping: dict[str, Any], direction: str = "minimize") -> SessionSpec:
    """A template session whose trials print their loss (``metricsCollector.kind`` StdOut),
    with ``early_stopping`` as its ``spec.earlyStopping``."""
    return spec(
        objective={"metric": "loss", "direction": direction},
        runner={},
        metricsCollector={"kind": "StdOut"},
        earlyStopping=early_stopping,
        template={"spec": {"containers": [{"name": "t", "image": "i", "command": ["train"]}]}},
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


class _JobsByIndex(MutableMapping[int, ObservedJob]):
    """The world's Jobs by index, writing through: a test sets ``s.jobs[0] = ...``."""

    def __init__(self, fake: FakeJobs) -> None:
        self.fake = fake

    def _name(self, index: int) -> str:
        for j in self.fake.jobs.values():
            if j.index == index:
                return j.name
        raise KeyError(index)

    def __getitem__(self, index: int) -> ObservedJob:
        return self.fake.jobs[self._name(index)]

    def __setitem__(self, index: int, job: ObservedJob) -> None:
        self.fake.jobs[job.name] = job

    def __delitem__(self, index: int) -> None:
        del self.fake.jobs[self._name(index)]

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(j.index for j in self.fake.jobs.values()))

    def __len__(self) -> int:
        return len(self.fake.jobs)

    def __eq__(self, other: object) -> bool:
        return dict(self.items()) == other


@dataclass
class Session:
    """A session played by the real reconciler (``tuneop.testing``), one step at a time.

    ``reconcile`` runs one ``Reconciler.reconcile`` over the fakes; tests move time
    (``later``), finish Jobs (``finish``: harvested by the next reconcile) or make them
    vanish between reconciles, and read the world back (``jobs`` by index, ``status``,
    ``persisted``, ``plans``). ``play`` goes on to the end with ``tuneop.testing.play``.
    """

    spec: SessionSpec
    world: World = field(default_factory=World)

    @property
    def ref(self) -> SessionRef:
        return self.world.ref

    @property
    def now(self) -> datetime:
        return self.world.clock.at

    @now.setter
    def now(self, at: datetime) -> None:
        self.world.clock.at = at

    @property
    def jobs(self) -> _JobsByIndex:
        return _JobsByIndex(self.world.jobs)

    @jobs.setter
    def jobs(self, jobs: dict[int, ObservedJob]) -> None:
        self.world.jobs.jobs = {j.name: j for j in jobs.values()}

    @property
    def status(self) -> SessionStatus:
        return self.world.statuses.status

    @status.setter
    def status(self, status: SessionStatus) -> None:
        self.world.statuses.replace(status)

    @property
    def persisted(self) -> list[TrialResult]:
        return self.world.results.persisted

    @property
    def plans(self) -> list[Plan]:
        return self.world.plans

    @property
    def created(self) -> list[int]:
        return [c.index for c in self.world.jobs.launched]

    def observed(self) -> Observed:
        """What the next reconcile would plan from, with the results harvested so far."""
        return Observed(
            session=self.ref,
            jobs=tuple(self.jobs.values()),
            status=self.status,
            history=tuple(self.persisted),
        )

    def reconcile(self, cancelled: bool = False) -> Plan:
        return self.world.reconcile(self.spec, cancelled)

    def active(self) -> list[ObservedJob]:
        return self.world.jobs.active()

    def finish(
        self,
        index: int,
        logs: list[str] | None | str = "auto",
        state: JobState = JobState.SUCCEEDED,
        value: Callable[[Params], Any] = loss,
        status: str = "succeeded",
        **kw: Any,
    ) -> ObservedJob:
        """Finish Job ``index`` with ``logs`` (``None``: its pods are gone); the next
        reconcile harvests it. Returns the Job as harvested, for ``plan`` called by hand."""
        j = replace(self.jobs[index], **kw)
        if logs == "auto":
            logs = [worker_log(self.spec, j, value, status)]
        elif isinstance(logs, str):
            logs = [logs]
        self.world.jobs.jobs[j.name] = j
        self.world.jobs.finish(j.name, logs, state)
        j = self.jobs[index]
        s = self.spec
        results = harvest_job(j, logs, s.objective, s.metrics_collector, s.all_objectives)
        j = replace(j, results=results)
        self.jobs[index] = j
        return j

    def vanish(self, index: int) -> None:
        """The Job is deleted by someone else before it was harvested."""
        del self.jobs[index]

    def later(self, seconds: float) -> None:
        self.world.clock.advance(seconds)

    def play(
        self,
        per_step: int = 1,
        newest_first: bool = False,
        value: Callable[[Params], Any] = loss,
        max_steps: int = 10_000,
        check: Callable[[Session], None] | None = None,
    ) -> Plan:
        """Reconcile until terminal, finishing ``per_step`` active Jobs between reconciles."""
        played = play(
            self.spec,
            value,
            world=self.world,
            per_step=per_step,
            newest_first=newest_first,
            check=None if check is None else lambda _: check(self),
            max_reconciles=max_steps,
        )
        return played.last


def play_with_restarts(
    world: World,
    spec: SessionSpec,
    finish: Callable[[Params], Any] = loss,
    *,
    restart_every: int | None,
    study: Callable[[], Suggester | None] = lambda: None,
    per_step: int | None = None,
    ended: list[int] | None = None,
    max_reconciles: int = 200,
) -> None:
    """Reconcile ``spec`` to its end, finishing ``per_step`` running Jobs (all: None),
    oldest first, between reconciles; a fresh Reconciler with a fresh ``study()`` every
    ``restart_every`` reconciles (an operator restart; None: never). The trials of each
    finished Job go to ``ended`` in the order they ended; plans go to ``world.plans``."""
    world.suggester = study()
    r: Reconciler = world.reconciler()
    for n in range(max_reconciles):
        plan = r.reconcile(world.ref, spec)
        world.plans.append(plan)
        if plan.status.terminal:
            return
        running = sorted(world.jobs.active(), key=lambda j: j.index)
        for j in running[:per_step]:
            world.jobs.finish(j.name, worker_log(spec, j, finish))
            if ended is not None:
                ended.extend(j.trials)
        world.clock.advance(1)
        if restart_every and n % restart_every == restart_every - 1:
            world.suggester = study()
            r = world.reconciler()
    raise AssertionError(f"{world.ref.key}: not finished after {max_reconciles} reconciles")
