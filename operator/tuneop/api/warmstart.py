"""Warm start: what a session knows before its first trial (``spec.warmStart``).

Two sources, either or both:

- ``points``: parameter sets evaluated first, as this session's trials
  ``0 … len(points)-1`` (Optuna's ``enqueue_trial``). They are ordinary
  trials: they count in the budget and the status.
- ``from``: an earlier session's results, handed to the sampler as history
  so its first suggestions are already informed. Those trials are not this
  session's: they do not count in the budget or the status counters. They
  come from a results folder (``results``: local runs only, a path on the
  machine running ``tuneop run --local``) or a session mirrored in Redis
  (``session``: ``NAMESPACE/NAME``, what the operator and ``--redis-url``
  read). At most ``maxTrials`` of the earlier session's successful trials
  are loaded, the most recent ones.

Warm start needs an optimizer that learns from history: bayesian, cmaes or
gp. Points are checked against the search space here, one line naming the
field and the rule.
"""

from __future__ import annotations

import math
import re

from pydantic import Field, model_validator

# Parameter and Scalar live in api.parameters, below both this module and api.spec:
# importing them from api.spec made a cycle (spec imports this module for WarmStart).
from tuneop.api.conditions import active_set_problem, conditional
from tuneop.api.parameters import Parameter, Scalar
from tuneop.api.worker import ApiModel

__all__ = [
    "DEFAULT_WARM_START_TRIALS",
    "LEARNING_OPTIMIZERS",
    "MAX_WARM_START_POINTS",
    "MAX_WARM_START_TRIALS",
    "WarmStart",
    "WarmStartFrom",
    "point_problem",
    "warm_start_problem",
]

MAX_WARM_START_POINTS = 1000
# The history handed to the sampler is rebuilt into its study on every suggestion;
# ten thousand trials keep that within a second for TPE (bench/plan_bench.py).
MAX_WARM_START_TRIALS = 10_000
DEFAULT_WARM_START_TRIALS = 1000
# The optimizers whose suggestions come from the history (core.suggest.samplers).
LEARNING_OPTIMIZERS = ("bayesian", "cmaes", "gp")
# NAMESPACE/NAME or NAME, as Kubernetes names them (the form cli.sources reads).
_NAME = r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?"
_SESSION = re.compile(rf"({_NAME}/)?{_NAME}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class WarmStartFrom(ApiModel):
    """An earlier session whose results the sampler starts from."""

    results: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="A results folder (local runs only).",
    )
    session: str | None = Field(
        default=None,
        min_length=1,
        max_length=317,
        description="A session in Redis: NAMESPACE/NAME, or a NAME unique there.",
    )
    max_trials: int = Field(
        default=DEFAULT_WARM_START_TRIALS,
        ge=1,
        le=MAX_WARM_START_TRIALS,
        strict=True,
        description="At most this many of its successful trials, the most recent.",
    )

    @model_validator(mode="after")
    def _check(self) -> WarmStartFrom:
        if (self.results is None) == (self.session is None):
            raise ValueError("results and session: set one, not both")
        if self.session is not None and not _SESSION.fullmatch(self.session):
            raise ValueError("session: must be NAMESPACE/NAME or NAME (Kubernetes names)")
        if self.results is not None and _CONTROL.search(self.results):
            raise ValueError("results: must not contain control characters")
        return self


class WarmStart(ApiModel):
    """Points to evaluate first and an earlier session to learn from."""

    points: list[dict[str, int | float | str | bool]] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_WARM_START_POINTS,
        description="Parameter sets evaluated first, as trials 0, 1, ...",
    )
    from_: WarmStartFrom | None = Field(
        default=None,
        alias="from",
        description="An earlier session's results, given to the sampler as history.",
    )

    @model_validator(mode="after")
    def _check(self) -> WarmStart:
        if self.points is None and self.from_ is None:
            raise ValueError("points or from: set at least one")
        return self


def point_problem(point: dict[str, Scalar], space: list[Parameter]) -> str | None:
    """Why ``point`` is not a point of the search space ``space``, or None (a point of a
    conditional space holds exactly the parameters its values make active)."""
    names = {p.name for p in space}
    extra = sorted(set(point) - names)
    if extra:
        return f"{extra[0]}: not a searchSpace parameter"
    if conditional(space):
        for p in space:  # each value checked first: the active set is read off them
            if p.name in point and (problem := _value_problem(point[p.name], p)):
                return f"{p.name}: {problem}"
        return active_set_problem(point, space)
    missing = sorted(names - set(point))
    if missing:
        return f"{missing[0]}: missing (every searchSpace parameter needs a value)"
    for p in space:
        problem = _value_problem(point[p.name], p)
        if problem:
            return f"{p.name}: {problem}"
    return None


def _value_problem(v: Scalar, p: Parameter) -> str | None:
    if p.type == "categorical":
        assert p.values is not None
        same = [c for c in p.values if type(c) is type(v) and c == v]
        return None if same else "must be one of the parameter's values"
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return "must be a finite number"
    if p.type == "int" and v != int(v):
        return "must be a whole number"
    assert p.min is not None and p.max is not None
    if p.gaussian:  # a normal draw may land anywhere: min and max are not its bounds
        return None
    if not p.min <= v <= p.max:
        return f"must be within [{p.min:g}, {p.max:g}]"
    if p.step is not None and not p.log:
        k = (v - p.min) / p.step
        if abs(k - round(k)) > 1e-9:
            return f"must be on the grid of step {p.step:g} from {p.min:g}"
    return None


def warm_start_problem(warm: WarmStart, optimizer: str, space: list[Parameter]) -> str | None:
    """Why this warm start does not fit the session, as one "field: rule" line, or None."""
    if optimizer not in LEARNING_OPTIMIZERS:
        learners = ", ".join(LEARNING_OPTIMIZERS)
        return f"warmStart: needs an optimizer that learns from history ({learners})"
    for i, point in enumerate(warm.points or []):
        problem = point_problem(point, space)
        if problem:
            return f"warmStart.points[{i}].{problem}"
    return None
