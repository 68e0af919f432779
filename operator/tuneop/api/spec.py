"""The TuningSession API: the spec a user writes, as a pydantic model.

This model is the single source of truth for the spec: the CRD's OpenAPI
schema is generated from it (``tuneop.api.crd``), and ``parse_spec`` turns a
manifest's ``spec`` into a validated, defaulted ``SessionSpec`` or raises a
``SpecError`` whose message names the field and the rule that failed.

Field names are snake_case in Python and camelCase on the wire (aliases).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationError, model_validator

from tuneop.api import rules as R
from tuneop.api.conditions import conditional, conditions_problem
from tuneop.api.early_stopping import EarlyStopping
from tuneop.api.errors import SpecError, format_validation_error, nul_problems
from tuneop.api.hyperband import Hyperband, hyperband_problem
from tuneop.api.objectives import MAX_OBJECTIVES, ObjectiveMetric, objectives_problem
from tuneop.api.parameters import (
    CONTROL_CHARACTERS,
    MAX_CATEGORICAL_VALUES,
    MAX_PARAMETERS,
    MAX_TRIALS,
    NAME_PATTERN,
    Parameter,
    Scalar,
)
from tuneop.api.pbt import Pbt, pbt_problem
from tuneop.api.tracking import Tracking
from tuneop.api.trial_checks import explicit_trials_problem, grid_problem
from tuneop.api.trial_resource import TrialResource, trial_resource_problem
from tuneop.api.vocabulary import RetriedOutcome
from tuneop.api.warmstart import LEARNING_OPTIMIZERS, WarmStart, warm_start_problem
from tuneop.api.worker import ApiModel as _Model
from tuneop.api.worker import EnvVar, MetricsCollector, Runner, trial_setup_problems

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "CONTROL_CHARACTERS",
    "DEFAULT_ADMISSION_WARNING_SECONDS",
    "DEFAULT_POD_START_TIMEOUT_SECONDS",
    "DEFAULT_TRIAL_TIMEOUT_SECONDS",
    "KIND",
    "MAX_CATEGORICAL_VALUES",
    "MAX_EXPLICIT_TRIALS",
    "MAX_OBJECTIVES",
    "MAX_PARAMETERS",
    "MAX_SECONDS",
    "MAX_SEED",
    "MAX_TRIALS",
    "NAME_PATTERN",
    "PLURAL",
    "QUEUE_NAME_PATTERN",
    "EarlyStopping",
    "EnvVar",
    "MetricsCollector",
    "Objective",
    "ObjectiveMetric",
    "Optimizer",
    "Parameter",
    "Runner",
    "Scalar",
    "SessionSpec",
    "SpecError",
    "Tracking",
    "TrialResource",
    "WarmStart",
    "format_validation_error",
    "parse_spec",
    "spec_to_wire",
]

API_GROUP = "tuneop.dev"
API_VERSION = "v1alpha1"
KIND = "TuningSession"
PLURAL = "tuningsessions"

# Bounds where the system cannot act on a larger value (docs/spec.md, "Bounds").
MAX_SECONDS = 30 * 24 * 3600  # timeouts and deadlines: 30 days
DEFAULT_TRIAL_TIMEOUT_SECONDS = 7 * 24 * 3600  # training fits; it catches a hung trial
# A large GPU image pulls in minutes and an autoscaler adds a node in a few; a pod not
# started after 15 minutes is waiting on something that will not come by itself.
DEFAULT_POD_START_TIMEOUT_SECONDS = 15 * 60
# A Kueue queue admits within seconds when it has quota; ten minutes of waiting is
# either a busy queue or one nobody serves (Kueue not installed, no such LocalQueue).
DEFAULT_ADMISSION_WARNING_SECONDS = 600
# A label value (the queue name is the kueue.x-k8s.io/queue-name label of each Job).
QUEUE_NAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9_.\-]*[A-Za-z0-9])?$"
MAX_SEED = 2**32 - 1  # numpy's seed range, which Optuna's samplers use
MAX_EXPLICIT_TRIALS = 100_000


class Objective(_Model):
    """What a trial is scored on."""

    metric: str = Field(min_length=1, max_length=128, description="Metric name in the result.")
    direction: Literal["minimize", "maximize"] = Field(
        default="minimize", description="Whether smaller or larger values are better."
    )
    goal: float | None = Field(
        default=None,
        strict=True,  # a number, not true
        allow_inf_nan=False,
        description="Stop launching trials once a trial reaches this value.",
    )
    on_goal: Literal["Finish", "Stop"] = Field(
        default="Finish",
        description="When the goal is reached: let running workers Finish, or Stop them.",
    )

    def better(self, a: float, b: float) -> bool:
        """True when value ``a`` is strictly better than ``b``."""
        return a < b if self.direction == "minimize" else a > b

    def reached(self, value: float) -> bool:
        if self.goal is None:
            return False
        return value <= self.goal if self.direction == "minimize" else value >= self.goal


class Optimizer(_Model):
    """How trials are chosen."""

    type: Literal["grid", "random", "bayesian", "cmaes", "gp", "qmc", "hyperband", "pbt"] = Field(
        default="random",
        description="grid: every point; random: seeded; bayesian: Optuna TPE; cmaes: CMA-ES;"
        " gp: Gaussian process; qmc: scrambled Sobol sequence; hyperband: Katib's brackets;"
        " pbt: population-based training.",
    )
    hyperband: Hyperband | None = Field(
        default=None, description="hyperband only: resource, maxResource, eta."
    )
    pbt: Pbt | None = Field(default=None, description="pbt only: population, checkpointDir, ...")
    seed: int = Field(
        default=0,
        ge=0,
        le=MAX_SEED,
        strict=True,
        description="Seed: the same seed gives the same trials.",
    )
    sampler: Literal["tpe", "nsga2"] | None = Field(
        default=None,
        description="bayesian only: tpe (the default; multi-objective TPE with several"
        " objectives) or nsga2 (NSGA-II).",
    )
    population_size: int | None = Field(
        default=None,
        ge=2,
        le=10_000,
        strict=True,
        description="nsga2 only: trials per generation (default 50).",
    )
    multivariate: bool | None = Field(
        default=None,
        strict=True,
        description="bayesian with TPE only: sample the parameters jointly (true, the"
        " default) or each on its own, as hyperopt's and Katib's tpe do (false).",
    )

    @property
    def learns(self) -> bool:
        """Whether its trials come from the history: bayesian, cmaes, gp, hyperband, pbt."""
        return self.type in LEARNING_OPTIMIZERS or self.type in ("hyperband", "pbt")


class SessionSpec(_Model):
    """The spec of a TuningSession."""

    model_config = ConfigDict(json_schema_extra=R.schema_extra(R.SPEC_RULES))

    # The one objective, or (``objectives``) several; ``objective`` below reads either.
    single_objective: Objective | None = Field(
        default=None, alias="objective", description="The objective: one metric."
    )
    objectives: list[ObjectiveMetric] | None = Field(
        default=None,
        min_length=2,
        max_length=MAX_OBJECTIVES,
        description="Several objectives, instead of objective: the status keeps a Pareto front.",
    )
    search_space: Annotated[list[Parameter], Field(max_length=MAX_PARAMETERS)] = Field(
        default_factory=list, description="The parameters to tune."
    )
    optimizer: Optimizer = Field(default_factory=Optimizer)
    trials: list[dict[str, Scalar]] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_EXPLICIT_TRIALS,
        description="Explicit parameter sets, instead of a search.",
    )
    total_trials: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TRIALS,
        strict=True,
        description="The trial budget. Defaults to the grid or trials list.",
    )
    workers: int | None = Field(
        default=None, ge=1, le=MAX_TRIALS, strict=True, description="Split the budget over N Jobs."
    )
    trials_per_job: int | None = Field(
        default=None, ge=1, le=MAX_TRIALS, strict=True, description="Trials per worker Job."
    )
    max_parallel: int = Field(
        default=4, ge=1, le=200, strict=True, description="At most this many active Jobs."
    )
    queue_name: str | None = Field(
        default=None,
        max_length=63,
        pattern=QUEUE_NAME_PATTERN,
        description="A Kueue LocalQueue: Jobs are created suspended with its label.",
    )
    admission_warning_seconds: int = Field(
        default=DEFAULT_ADMISSION_WARNING_SECONDS,
        ge=1,
        le=MAX_SECONDS,
        strict=True,
        description="With queueName: a Job waiting longer is reported (NotAdmitted).",
    )
    max_failed_trials: int | None = Field(
        default=None,
        ge=0,
        le=MAX_TRIALS,
        strict=True,
        description="Stop when more trials than this have failed.",
    )
    retries: int = Field(
        default=0, ge=0, le=100, strict=True, description="Times a failed trial runs again."
    )
    retry_on: list[RetriedOutcome] | None = Field(
        default=None, min_length=1, max_length=3, description="Failures retried (default: all)."
    )
    pod_start_timeout_seconds: int = Field(
        DEFAULT_POD_START_TIMEOUT_SECONDS,
        ge=1,
        le=MAX_SECONDS,
        strict=True,
        description="A worker pod not started after this long (image pull back-off,"
        " unschedulable) ends its Job as an infrastructure failure.",
    )
    trial_timeout_seconds: int = Field(
        DEFAULT_TRIAL_TIMEOUT_SECONDS, ge=1, le=MAX_SECONDS, strict=True, description="Per trial."
    )
    deadline_seconds: int | None = Field(
        None, ge=1, le=MAX_SECONDS, strict=True, description="Running time, suspended excluded."
    )
    runner: Runner = Field(
        default_factory=Runner, description="The worker (short form), or the trial container."
    )
    template: dict[str, Any] | None = Field(
        default=None,
        description="The trial's pod, a PodTemplateSpec (instead of runner's short form).",
    )
    trial_resource: TrialResource | None = Field(
        default=None,
        description="Each trial as a resource of any kind (JobSet, TrainJob, PyTorchJob,"
        " Workflow, PipelineRun...), instead of the Job of runner or template.",
    )
    metrics_collector: MetricsCollector = Field(default_factory=MetricsCollector)
    suspend: bool = Field(default=False, strict=True, description="Create no new Jobs while true.")
    job_cleanup: Literal["Delete", "KeepFailed", "Keep"] = Field(
        default="Delete", description="What happens to a finished Job once harvested."
    )
    early_stopping: EarlyStopping | None = Field(
        default=None, description="Stop hopeless trials early with an Optuna pruner."
    )
    warm_start: WarmStart | None = Field(
        default=None, description="Points evaluated first; an earlier session to learn from."
    )
    tracking: Tracking | None = Field(
        default=None, description="Where the trials are also tracked (MLflow; docs/mlflow.md)."
    )

    @property
    def objective(self) -> Objective:
        """The objective; with several, the first (what single-valued views rank by)."""
        if self.single_objective is not None:
            return self.single_objective
        assert self.objectives, "validated: objective or objectives"
        first = self.objectives[0]
        return Objective(metric=first.metric, direction=first.direction)

    @property
    def all_objectives(self) -> tuple[Objective, ...]:
        """Every objective, the first one first (one for a single-objective session)."""
        if self.objectives is None:
            return (self.objective,)
        return tuple(Objective(metric=o.metric, direction=o.direction) for o in self.objectives)

    @property
    def multi_objective(self) -> bool:
        return self.objectives is not None

    @property
    def learns_from_history(self) -> bool:
        """Whether trials are suggested from the session's history: a learning optimizer
        over a search space (the planner asks the sampler, the result stores keep the
        history). An explicit ``trials`` list runs as written and learns nothing; the
        spec's own check already refuses one with a learning optimizer."""
        return self.optimizer.learns and self.trials is None

    @model_validator(mode="after")
    def _check(self) -> SessionSpec:
        o = self.optimizer
        single = self.single_objective is not None
        if why := objectives_problem(single, self.objectives, o.type, o.sampler, o.population_size):
            raise ValueError(why)
        if o.multivariate is not None and (o.type != "bayesian" or o.sampler not in (None, "tpe")):
            raise ValueError(R.MULTIVARIATE_NEEDS_TPE.message)
        if self.early_stopping is not None and self.objectives is not None:
            raise ValueError(R.EARLY_STOPPING_ONE_OBJECTIVE.message)
        es, collector = self.early_stopping, self.metrics_collector
        if es is not None and es.type == "medianStop" and collector.kind == "TuneopResult":
            raise ValueError(R.MEDIAN_STOP_NEEDS_KATIB_METRICS.message)
        if self.workers is not None and self.trials_per_job is not None:
            raise ValueError(R.WORKERS_XOR_TRIALS_PER_JOB.message)
        if problem := self._setup_problem():
            raise ValueError(problem)
        if self.trials is not None:
            self._check_explicit(self.trials)
        else:
            self._check_search_space()
        return self

    def _setup_problem(self) -> str | None:
        """What is wrong with how a trial runs: the pod (template or runner short form),
        the metrics collector, or a trial resource of another kind."""
        packs = self.workers is not None or (self.trials_per_job or 1) > 1
        known = {p.name for p in self.search_space} if self.search_space else None
        if self.trial_resource is None:
            return trial_setup_problems(
                self.template, self.runner, self.metrics_collector, known, packs
            )
        r = self.runner
        extra: dict[str, object] = {"container": r.container, "objective": r.objective}
        extra["objectiveCommand"] = r.objective_command
        runner_set = [*r.pod_fields(), *(k for k, v in extra.items() if v is not None)]
        return trial_resource_problem(self.trial_resource, self.template, runner_set, known, packs)

    def _check_explicit(self, trials: list[dict[str, Scalar]]) -> None:
        """A session of explicit trials: valid names and values, and no search to run."""
        if why := explicit_trials_problem(trials):
            raise ValueError(why)
        if self.search_space:
            raise ValueError(R.TRIALS_XOR_SEARCH.message)
        if self.optimizer.type not in ("grid", "random"):
            kind = self.optimizer.type
            raise ValueError(R.BAYESIAN_NEEDS_SEARCH.message.replace("bayesian", kind))
        if self.warm_start is not None:
            raise ValueError("warmStart: needs a searchSpace, not trials")

    def _check_search_space(self) -> None:
        """A session that searches: unique names, a budget, a finite grid, a fitting warm start."""
        if not self.search_space:
            raise ValueError(R.SEARCH_OR_TRIALS.message)
        drawn = [(i, p.name) for i, p in enumerate(self.search_space) if p.gaussian]
        if drawn and self.optimizer.type not in ("random", "qmc", "bayesian", "hyperband"):
            rule = R.DISTRIBUTION_OPTIMIZER.message.replace("[]", f"[{drawn[0][0]}]")
            raise ValueError(f"{rule}, not {self.optimizer.type} ({drawn[0][1]})")
        o = self.optimizer
        packs = self.workers is not None or (self.trials_per_job or 1) > 1
        space, several = self.search_space, self.multi_objective
        # Names unique, and each when naming parents that can decide it.
        if why := conditions_problem(space, o.hyperband.resource if o.hyperband else None):
            raise ValueError(why)
        if why := hyperband_problem(o.type, o.hyperband, space, several, packs) or pbt_problem(
            o.type, o.pbt, several, packs, conditional(space), self.trial_resource is not None
        ):
            raise ValueError(why)
        if o.type == "grid":
            if why := grid_problem(space, self.total_trials):
                raise ValueError(why)
        elif self.total_trials is None and o.type != "hyperband":  # hyperband: its schedule
            raise ValueError(R.TOTAL_TRIALS_REQUIRED.message)
        if self.warm_start is not None:
            problem = warm_start_problem(self.warm_start, self.optimizer.type, self.search_space)
            if problem:
                raise ValueError(problem)


def parse_spec(data: Any) -> SessionSpec:
    """Validate a manifest's ``spec`` mapping; raise ``SpecError`` naming every problem."""
    if not isinstance(data, dict):
        raise SpecError(["spec: must be a mapping"])
    if nul := nul_problems(data):
        raise SpecError(nul)
    try:
        return SessionSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(format_validation_error(err)) from None


def spec_to_wire(spec: SessionSpec) -> dict[str, Any]:
    """The spec as it would be stored: camelCase, defaults filled, nulls left out."""
    return spec.model_dump(by_alias=True, exclude_none=True, mode="json")
