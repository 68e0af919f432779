"""Cross-field rules of the spec that the API server checks at ``kubectl apply`` (CEL).

A JSON schema checks one field at a time; rules such as "min <= max" or
"workers xor trialsPerJob" need several. Each such rule is written once
here, as a CEL expression with its message, and used twice: the pydantic
model (``tuneop.api.spec``) puts it in its JSON schema, so the generated CRD
carries it as ``x-kubernetes-validations`` and the API server refuses an
object that breaks it, and its validator raises with a message that starts
with the same words, so ``tuneop plan`` and ``kubectl apply`` say the same.
A unit test holds the two wordings together; an e2e test applies a breaking
object per rule. Rules that need the planner (how many trials a Job gets
from the size of a grid) stay in the operator: they cannot be written here.

CEL sees the object before pydantic's defaults: a field left out is absent
(``has()`` is false), and ``optimizer.type`` defaults to ``random``. CEL
cannot see ``searchSpace[].values`` or ``trials``: their items are parameter
values of any JSON type, which the CRD keeps free-form, and the API server
leaves such fields out of what a rule can read. The rules about them have no
CEL (``cel=None``): ``tuneop plan``, local runs and the operator check them
(an invalid spec becomes the session's ``InvalidSpec``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "BAYESIAN_NEEDS_SEARCH",
    "CATEGORICAL_NEEDS_VALUES",
    "CATEGORICAL_NO_BOUNDS",
    "DISTRIBUTION_NEEDS_SPREAD",
    "DISTRIBUTION_NO_LOG",
    "DISTRIBUTION_NUMERIC",
    "DISTRIBUTION_OPTIMIZER",
    "EARLY_STOPPING_ONE_OBJECTIVE",
    "EARLY_STOPPING_RULES",
    "EARLY_STOPPING_SETTINGS",
    "GRID_FLOAT_NEEDS_STEP",
    "LOGNORMAL_NEEDS_POSITIVE_MIN",
    "LOG_NEEDS_POSITIVE_MIN",
    "MEDIAN_STOP_NEEDS_KATIB_METRICS",
    "MIN_NOT_ABOVE_MAX",
    "MULTIVARIATE_NEEDS_TPE",
    "NUMERIC_NEEDS_BOUNDS",
    "OBJECTIVES_OPTIMIZER",
    "OBJECTIVES_UNIQUE",
    "OBJECTIVE_XOR_COMMAND",
    "OBJECTIVE_XOR_OBJECTIVES",
    "PARAMETER_RULES",
    "POPULATION_NEEDS_NSGA2",
    "RESERVED_ENV",
    "RUNNER_IMAGE_OR_TEMPLATE",
    "RUNNER_RULES",
    "SAMPLER_NEEDS_BAYESIAN",
    "SEARCH_OR_TRIALS",
    "SPEC_RULES",
    "TOTAL_TRIALS_REQUIRED",
    "TRIALS_XOR_SEARCH",
    "VALUES_ONLY_CATEGORICAL",
    "WORKERS_XOR_TRIALS_PER_JOB",
    "Rule",
    "schema_extra",
]

# optimizer.type as CEL sees it: "random" when the optimizer or its type is left out.
_OPTIMIZER = "(has(self.optimizer) && has(self.optimizer.type) ? self.optimizer.type : 'random')"


@dataclass(frozen=True)
class Rule:
    cel: str | None  # None: a rule CEL cannot state (see the module's docstring)
    message: str  # "field: rule", the words the validator's message starts with
    field: str = ""  # the field the API server names (CEL fieldPath), when one does

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.cel, "message": self.message}
        if self.field:
            out["fieldPath"] = f".{self.field}"
        return out


# --- a parameter of the search space -------------------------------------------------------
MIN_NOT_ABOVE_MAX = Rule(
    "!has(self.min) || !has(self.max) || self.min <= self.max", "min: must be <= max", "min"
)
CATEGORICAL_NEEDS_VALUES = Rule(
    None,
    "values: required and non-empty for a categorical parameter",
)
CATEGORICAL_NO_BOUNDS = Rule(
    "self.type != 'categorical' || (!has(self.min) && !has(self.max))",
    "min/max: not allowed on a categorical parameter",
)
VALUES_ONLY_CATEGORICAL = Rule(
    None,
    "values: only for categorical parameters",
    "values",
)
NUMERIC_NEEDS_BOUNDS = Rule(
    "self.type == 'categorical' || (has(self.min) && has(self.max))",
    "min and max: required for an int or float parameter",
)
LOG_NEEDS_POSITIVE_MIN = Rule(
    "!has(self.log) || !self.log || (has(self.min) && self.min > 0.0)", "log: needs min > 0", "log"
)
_GAUSSIAN = "has(self.distribution) && self.distribution in ['normal', 'logNormal']"
DISTRIBUTION_NUMERIC = Rule(
    "self.type != 'categorical' || !has(self.distribution) || self.distribution == 'uniform'",
    "distribution: only for an int or float parameter",
    "distribution",
)
DISTRIBUTION_NO_LOG = Rule(
    f"!({_GAUSSIAN}) || !has(self.log) || !self.log",
    "distribution: normal and logNormal take no log (logNormal is already on a log scale)",
    "distribution",
)
DISTRIBUTION_NEEDS_SPREAD = Rule(
    f"!({_GAUSSIAN}) || !has(self.min) || !has(self.max) || self.min < self.max",
    "distribution: normal and logNormal need min < max (mean -/+ 3 standard deviations)",
    "distribution",
)
LOGNORMAL_NEEDS_POSITIVE_MIN = Rule(
    "!has(self.distribution) || self.distribution != 'logNormal'"
    " || (has(self.min) && self.min > 0.0)",
    "distribution: logNormal needs min > 0",
    "distribution",
)
PARAMETER_RULES = (
    DISTRIBUTION_NUMERIC,
    DISTRIBUTION_NO_LOG,
    DISTRIBUTION_NEEDS_SPREAD,
    LOGNORMAL_NEEDS_POSITIVE_MIN,
    MIN_NOT_ABOVE_MAX,
    CATEGORICAL_NEEDS_VALUES,
    CATEGORICAL_NO_BOUNDS,
    VALUES_ONLY_CATEGORICAL,
    NUMERIC_NEEDS_BOUNDS,
    LOG_NEEDS_POSITIVE_MIN,
)

# --- the runner ------------------------------------------------------------------------------
OBJECTIVE_XOR_COMMAND = Rule(
    "!(has(self.objective) && has(self.objectiveCommand))",
    "objective and objectiveCommand: set one, not both",
)
RESERVED_ENV = Rule(
    "!has(self.env) || self.env.all(e, !e.name.startsWith('TUNEOP_'))",
    "env: names starting with TUNEOP_ are reserved",
    "env",
)
RUNNER_RULES = (OBJECTIVE_XOR_COMMAND, RESERVED_ENV)

# --- the spec --------------------------------------------------------------------------------
WORKERS_XOR_TRIALS_PER_JOB = Rule(
    "!(has(self.workers) && has(self.trialsPerJob))",
    "workers and trialsPerJob: set one, not both",
)
TRIALS_XOR_SEARCH = Rule(
    None,
    "trials and searchSpace: set one, not both",
)
BAYESIAN_NEEDS_SEARCH = Rule(
    None,
    "optimizer.type: bayesian needs a searchSpace, not trials",
)
SEARCH_OR_TRIALS = Rule(
    None,
    "searchSpace: required (or give an explicit trials list)",
)
TOTAL_TRIALS_REQUIRED = Rule(
    None,
    "totalTrials: required for the random and bayesian optimizers",
)
GRID_FLOAT_NEEDS_STEP = Rule(
    f"{_OPTIMIZER} != 'grid' || !has(self.searchSpace)"
    " || self.searchSpace.all(p, p.type != 'float' || has(p.step))",
    "searchSpace[].step: required for a float parameter in a grid",
)
# A normal draw has no last value (no grid), and CMA-ES and GP are left to uniform spaces.
DISTRIBUTION_OPTIMIZER = Rule(
    "!(has(self.searchSpace) && self.searchSpace.exists(p, has(p.distribution)"
    " && p.distribution in ['normal', 'logNormal']))"
    f" || {_OPTIMIZER} in ['random', 'qmc', 'bayesian', 'hyperband']",
    "searchSpace[].distribution: normal and logNormal only with optimizer type random, qmc,"
    " bayesian or hyperband",
)
RUNNER_IMAGE_OR_TEMPLATE = Rule(
    "has(self.template) || has(self.trialResource) || (has(self.runner) && has(self.runner.image))",
    "runner.image: required (or give spec.template or spec.trialResource)",
)
# --- several objectives (spec.objectives) ------------------------------------------------
OBJECTIVE_XOR_OBJECTIVES = Rule(
    "has(self.objective) != has(self.objectives)",
    "objective and objectives: set exactly one",
)
OBJECTIVES_UNIQUE = Rule(
    "!has(self.objectives)"
    " || self.objectives.all(a, self.objectives.exists_one(b, b.metric == a.metric))",
    "objectives: each metric at most once",
    "objectives",
)
SAMPLER_NEEDS_BAYESIAN = Rule(
    f"!has(self.optimizer) || !has(self.optimizer.sampler) || {_OPTIMIZER} == 'bayesian'",
    "optimizer.sampler: only with type bayesian",
    "optimizer.sampler",
)
POPULATION_NEEDS_NSGA2 = Rule(
    "!has(self.optimizer) || !has(self.optimizer.populationSize)"
    " || (has(self.optimizer.sampler) && self.optimizer.sampler == 'nsga2')",
    "optimizer.populationSize: only with sampler nsga2",
    "optimizer.populationSize",
)
MULTIVARIATE_NEEDS_TPE = Rule(
    "!has(self.optimizer) || !has(self.optimizer.multivariate)"
    f" || ({_OPTIMIZER} == 'bayesian'"
    " && (!has(self.optimizer.sampler) || self.optimizer.sampler == 'tpe'))",
    "optimizer.multivariate: only with type bayesian and sampler tpe",
    "optimizer.multivariate",
)
# Optuna's CMA-ES and GP samplers here tune one objective.
OBJECTIVES_OPTIMIZER = Rule(
    "!has(self.objectives) || !has(self.optimizer) || !has(self.optimizer.type)"
    " || !(self.optimizer.type in ['cmaes', 'gp'])",
    "objectives: several only with optimizer type grid, random, qmc or bayesian",
    "objectives",
)
# Optuna's pruners compare one intermediate value per step: one objective only.
EARLY_STOPPING_ONE_OBJECTIVE = Rule(
    "!has(self.earlyStopping) || !has(self.objectives)",
    "earlyStopping: only with a single objective",
    "earlyStopping",
)
# Katib's median stop reads the trial's own output or file: not the result contract's.
MEDIAN_STOP_NEEDS_KATIB_METRICS = Rule(
    "!has(self.earlyStopping) || self.earlyStopping.type != 'medianStop'"
    " || (has(self.metricsCollector) && has(self.metricsCollector.kind)"
    " && self.metricsCollector.kind != 'TuneopResult')",
    "earlyStopping.type: medianStop only with metricsCollector.kind StdOut, File or"
    " TensorFlowEvent (for the tuneop runner's trials: median)",
    "earlyStopping",
)

SPEC_RULES = (
    OBJECTIVE_XOR_OBJECTIVES,
    OBJECTIVES_OPTIMIZER,
    EARLY_STOPPING_ONE_OBJECTIVE,
    MEDIAN_STOP_NEEDS_KATIB_METRICS,
    OBJECTIVES_UNIQUE,
    SAMPLER_NEEDS_BAYESIAN,
    POPULATION_NEEDS_NSGA2,
    MULTIVARIATE_NEEDS_TPE,
    RUNNER_IMAGE_OR_TEMPLATE,
    WORKERS_XOR_TRIALS_PER_JOB,
    TRIALS_XOR_SEARCH,
    BAYESIAN_NEEDS_SEARCH,
    SEARCH_OR_TRIALS,
    TOTAL_TRIALS_REQUIRED,
    GRID_FLOAT_NEEDS_STEP,
    DISTRIBUTION_OPTIMIZER,
)

# --- spec.earlyStopping -------------------------------------------------------------------
EARLY_STOPPING_SETTINGS = Rule(
    "(self.type == 'median' || !(has(self.warmupSteps) || has(self.startupTrials)"
    " || has(self.intervalSteps) || has(self.minTrials)))"
    " && ((self.type != 'median' && self.type != 'medianStop')"
    " || !(has(self.minResource) || has(self.reductionFactor)))"
    " && (self.type == 'hyperband' || !has(self.maxResource))"
    " && (self.type == 'successiveHalving' || !has(self.minEarlyStoppingRate))"
    " && (self.type == 'medianStop' || !(has(self.minTrialsRequired) || has(self.startStep)))",
    "type: takes only its own settings (median: warmupSteps, startupTrials, intervalSteps,"
    " minTrials; successiveHalving: minResource, reductionFactor, minEarlyStoppingRate;"
    " hyperband: minResource, maxResource, reductionFactor; medianStop: minTrialsRequired,"
    " startStep)",
)
EARLY_STOPPING_RULES = (EARLY_STOPPING_SETTINGS,)


def schema_extra(rules: tuple[Rule, ...]) -> dict[str, Any]:
    """The JSON-schema addition that carries ``rules`` into the CRD."""
    return {"x-kubernetes-validations": [rule.wire() for rule in rules if rule.cel is not None]}
