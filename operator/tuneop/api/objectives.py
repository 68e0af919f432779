"""Several objectives: ``spec.objectives``, each a metric with its direction.

A session tunes one ``objective`` or, instead, two to ``MAX_OBJECTIVES``
``objectives`` at once (profit against drawdown, accuracy against latency).
With several there is no single best trial; the status keeps a Pareto front
(``tuneop.core.results.pareto``). The optimizer picks its sampler for them
(``optimizer.sampler``: Optuna's multi-objective TPE or NSGA-II). This module
holds the entry's model and the rules joining these fields, which the spec's
validator applies (``tuneop.api.rules`` holds their words and CEL).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from tuneop.api import rules as R
from tuneop.api.worker import ApiModel

__all__ = ["MAX_OBJECTIVES", "ObjectiveMetric", "objectives_problem"]

# A Pareto front over more than a handful of objectives is too wide to read or plot.
MAX_OBJECTIVES = 8


class ObjectiveMetric(ApiModel):
    """One of several objectives (``spec.objectives``): a metric and its direction."""

    metric: str = Field(min_length=1, max_length=128, description="Metric name in the result.")
    direction: Literal["minimize", "maximize"] = Field(
        description="Whether smaller or larger values are better."
    )


def objectives_problem(
    single: bool,
    several: Sequence[ObjectiveMetric] | None,
    optimizer: str,
    sampler: str | None,
    population: int | None,
) -> str | None:
    """Which rule of objectives and samplers a spec breaks, or None."""
    if single == (several is not None):
        return R.OBJECTIVE_XOR_OBJECTIVES.message
    metrics = [o.metric for o in several or ()]
    dupes = sorted({m for m in metrics if metrics.count(m) > 1})
    if dupes:
        return f"{R.OBJECTIVES_UNIQUE.message} ({dupes[0]})"
    if several is not None and optimizer in ("cmaes", "gp"):
        return f"{R.OBJECTIVES_OPTIMIZER.message}, not {optimizer}"
    if sampler is not None and optimizer != "bayesian":
        return f"{R.SAMPLER_NEEDS_BAYESIAN.message}, not {optimizer}"
    if population is not None and sampler != "nsga2":
        return R.POPULATION_NEEDS_NSGA2.message
    return None
