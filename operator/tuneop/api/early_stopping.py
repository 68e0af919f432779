"""Early stopping: ``spec.earlyStopping``, ending hopeless trials before their end.

A trial that reports intermediate values (``tuneop.core.wire.intermediate``) can
be stopped once they show it will not do well: its outcome is ``Pruned``,
and its budget goes to other trials. The decision is Optuna's, through one
of its pruners, with Optuna's own settings:

- ``median``: ``MedianPruner``, stop a trial whose best value so far is worse
  than the median of the finished trials at the same step (Katib's median
  stop); ``warmupSteps``, ``startupTrials``, ``intervalSteps``, ``minTrials``;
- ``successiveHalving``: ``SuccessiveHalvingPruner`` (asynchronous successive
  halving, ASHA); ``minResource``, ``reductionFactor``, ``minEarlyStoppingRate``;
- ``hyperband``: ``HyperbandPruner``; ``minResource``, ``maxResource``,
  ``reductionFactor``;
- ``medianStop``: Katib's ``medianstop``, for trials whose metrics are read from
  their output or a file (``metricsCollector.kind`` StdOut, File, TensorFlowEvent):
  the operator (or a local run) reads the first objective values of each running
  trial and stops one whose best of its first ``startStep`` values (4) is worse
  than the mean, over the succeeded trials, of their first ``startStep`` values'
  average, once ``minTrialsRequired`` (3) trials succeeded
  (``tuneop.core.planning.medianstop``).

``median``, ``successiveHalving`` and ``hyperband`` are asked by the tuneop runner in
the worker, or, for trials read by the StdOut, File or TensorFlowEvent collector, by
the operator (or a local run) on each running trial's curve so far
(``tuneop.core.planning.optuna_pruning``): Optuna's same pruner either way.

A setting left out takes Optuna's default. A runner's trials meet in an Optuna
journal storage: a file in the results folder for a local run, and on a
cluster the Redis whose URL the Secret ``redisUrlSecret`` holds (the design,
and what happens when Redis is down: docs/concepts.md, "Early stopping").
``pruner_settings`` is what the runner is handed to build the pruner.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from tuneop.api import rules as R
from tuneop.api.worker import ApiModel

__all__ = ["EarlyStopping", "SecretKey", "pruner_settings"]

MAX_STEPS_SETTING = 2**31 - 1  # steps are 32-bit integers in Optuna's storages


class SecretKey(ApiModel):
    """One key of a Secret in the session's namespace."""

    name: str = Field(min_length=1, max_length=253, description="The Secret's name.")
    key: str = Field(min_length=1, max_length=253, description="The key holding the value.")


def _steps(description: str, minimum: int = 0) -> Any:
    return Field(
        default=None, ge=minimum, le=MAX_STEPS_SETTING, strict=True, description=description
    )


class EarlyStopping(ApiModel):
    """Which Optuna pruner stops hopeless trials, with its settings."""

    model_config = ConfigDict(json_schema_extra=R.schema_extra(R.EARLY_STOPPING_RULES))

    type: Literal["median", "successiveHalving", "hyperband", "medianStop"] = Field(
        description="median: MedianPruner; successiveHalving: SuccessiveHalvingPruner (ASHA);"
        " hyperband: HyperbandPruner (asked by the tuneop runner, or by the operator on the"
        " running trials' output with the StdOut, File or TensorFlowEvent collector);"
        " medianStop: Katib's medianstop, for trials read by those collectors."
    )
    warmup_steps: int | None = _steps("median: no trial is stopped before this step (0).")
    startup_trials: int | None = _steps("median: finished trials before any is stopped (5).")
    interval_steps: int | None = _steps("median: steps between two checks (1).", 1)
    min_trials: int | None = _steps("median: trials reporting a step to compare it (1).", 1)
    min_resource: int | None = _steps(
        "successiveHalving, hyperband: steps of the first rung (auto; hyperband 1).", 1
    )
    max_resource: int | None = _steps("hyperband: steps of a full trial (auto).", 1)
    reduction_factor: int | None = Field(
        default=None,
        ge=2,
        le=100,
        strict=True,
        description="successiveHalving, hyperband: 1/factor of a rung go on (4; hyperband 3).",
    )
    min_early_stopping_rate: int | None = _steps(
        "successiveHalving: the first rung is minResource * factor**rate (0)."
    )
    min_trials_required: int | None = _steps(
        "medianStop: succeeded trials before any is stopped (3, as Katib).", 1
    )
    start_step: int | None = _steps(
        "medianStop: the reported value at which a trial is judged (4, as Katib).", 1
    )
    redis_url_secret: SecretKey | None = Field(
        default=None,
        description="On a cluster: the Secret key holding the Redis URL where the tuneop"
        " runner's trials meet (unused when the operator judges the trials).",
    )

    @model_validator(mode="after")
    def _check(self) -> EarlyStopping:
        if not _settings_fit(self):
            raise ValueError(R.EARLY_STOPPING_SETTINGS.message)
        return self


_MEDIAN = ("warmup_steps", "startup_trials", "interval_steps", "min_trials")
_OWNERS: dict[str, tuple[str, ...]] = {
    **{name: ("median",) for name in _MEDIAN},
    "min_resource": ("successiveHalving", "hyperband"),
    "reduction_factor": ("successiveHalving", "hyperband"),
    "max_resource": ("hyperband",),
    "min_early_stopping_rate": ("successiveHalving",),
    "min_trials_required": ("medianStop",),
    "start_step": ("medianStop",),
}
# The Optuna keyword of each setting.
_OPTUNA = {
    "warmup_steps": "n_warmup_steps",
    "startup_trials": "n_startup_trials",
    "interval_steps": "interval_steps",
    "min_trials": "n_min_trials",
    "min_resource": "min_resource",
    "max_resource": "max_resource",
    "reduction_factor": "reduction_factor",
    "min_early_stopping_rate": "min_early_stopping_rate",
}


def _settings_fit(es: EarlyStopping) -> bool:
    return all(getattr(es, name) is None or es.type in owners for name, owners in _OWNERS.items())


def pruner_settings(es: EarlyStopping) -> dict[str, Any]:
    """``{"type": ..., "settings": {optuna keyword: value}}``: the runner's pruner."""
    settings = {  # medianStop is the operator's: it has no Optuna settings
        _OPTUNA[name]: getattr(es, name) for name in _OPTUNA if getattr(es, name) is not None
    }
    return {"type": es.type, "settings": settings}
