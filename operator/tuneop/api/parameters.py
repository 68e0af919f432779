"""A search-space parameter: one dimension a session tunes, and the values it may take.

A parameter is an ``int`` or ``float`` range (``min`` to ``max``, inclusive, on
an optional ``step`` grid or a ``log`` scale) or a ``categorical`` list of
``values``. A range may instead be drawn from a ``normal`` or ``logNormal``
``distribution``, as Katib's hyperopt service draws it: ``min`` and ``max`` are
then the mean minus and plus three standard deviations (of the logarithm for
``logNormal``), not bounds, and ``step`` is hyperopt's ``q`` (the value rounded
to a multiple of it); ``tuneop.api.distributions`` holds that arithmetic.
Its own rules (bounds present and ordered, a positive minimum on a log scale,
distinct values, a normal draw's spread) are checked here, with the cross-field rules the
API server also checks at apply (``tuneop.api.rules``). Values reach a trial as
JSON, so they are bounded and may not hold control characters.

A parameter with ``when`` exists only when its parents hold the values named there
(``when: {optimizer: sgd}``, or a list of values); its own rules are checked here,
the ones across parameters (parents, their values, cycles) in ``tuneop.api.conditions``.

Bounds are numbers, never booleans (``min: true`` is refused), and of a size
the samplers can act on: a float range within ±``MAX_MAGNITUDE`` (so that
``max - min`` is finite: Optuna and numpy draw ``min + u * (max - min)``), an
int range within ±``MAX_EXACT_INT`` (2**53: past it a float no longer holds
every whole number, so grid steps and bounds would round).
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from tuneop.api import rules as R
from tuneop.api.worker import ApiModel as _Model

__all__ = [
    "CONTROL_CHARACTERS",
    "ENV_CLASH",
    "MAX_CATEGORICAL_VALUES",
    "MAX_EXACT_INT",
    "MAX_MAGNITUDE",
    "MAX_PARAMETERS",
    "MAX_TRIALS",
    "MAX_WHEN_PARENTS",
    "NAME_PATTERN",
    "Parameter",
    "Scalar",
    "env_name_clash",
    "ints_as_ints",
    "param_env_name",
    "scalar_problem",
]

Scalar = int | float | str | bool  # a parameter value: what a trial's params map holds

MAX_PARAMETERS = 32
MAX_CATEGORICAL_VALUES = 1024
MAX_WHEN_PARENTS = 8  # parents of one conditional parameter
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"
# A session's trial budget. The status ledger keeps index ranges, so its size does not
# grow with the budget; what grows is the result store (about 1 KiB per trial in Redis
# and in a results folder): ten million trials is about 10 GiB there.
MAX_TRIALS = 10_000_000
MAX_MAGNITUDE = 1e300  # |min|, |max| and step of a float parameter
MAX_EXACT_INT = 2**53  # |min|, |max| and step of an int parameter
# Control characters (C0 but tab and newline, DEL, C1) have no place in a parameter
# value: runners, shells and terminals treat them specially (a NUL ends a C string,
# ESC starts a terminal command). Tab and newline stay allowed: text values such as
# prompt templates hold them, and they reach a trial as JSON, never through a shell.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_NOT_ENV_NAME = re.compile(r"[^A-Za-z0-9]")
ENV_CLASH = (
    "{} and {} are both {} in a trial's environment, which holds the value of the one"
    " declared last (${{params.NAME}}, TUNEOP_PARAMS and the params file tell them apart);"
    " a trial that reads that variable should have names that differ in more than case"
    " and punctuation"
)


def param_env_name(name: str) -> str:
    """The ``TUNEOP_PARAM_<NAME>`` variable a trial reads param ``name`` from (as the
    runner names it): upper case, every other character than a letter or digit ``_``."""
    return "TUNEOP_PARAM_" + _NOT_ENV_NAME.sub("_", name).upper()


def env_name_clash(names: list[str]) -> tuple[str, str, str] | None:
    """Two of ``names`` that one ``TUNEOP_PARAM_`` variable would carry (``lr`` and ``LR``,
    ``learning-rate`` and ``learning_rate``), with that variable, or None: a trial would
    read one of their values under both names."""
    seen: dict[str, str] = {}
    for name in names:
        env = param_env_name(name)
        if env in seen and seen[env] != name:
            return seen[env], name, env
        seen.setdefault(env, name)
    return None


class Parameter(_Model):
    """One dimension of the search space."""

    model_config = ConfigDict(json_schema_extra=R.schema_extra(R.PARAMETER_RULES))

    name: str = Field(min_length=1, max_length=63, pattern=NAME_PATTERN)
    type: Literal["int", "float", "categorical"]
    # strict: a number, never a boolean or a string.
    min: float | None = Field(
        default=None, strict=True, allow_inf_nan=False, description="Lower bound (int, float)."
    )
    max: float | None = Field(
        default=None,
        strict=True,
        allow_inf_nan=False,
        description="Upper bound, inclusive (int, float).",
    )
    step: float | None = Field(
        default=None,
        gt=0,
        strict=True,
        allow_inf_nan=False,
        description="Grid step; int defaults to 1. Required for float grids.",
    )
    log: bool = Field(
        default=False, strict=True, description="Sample on a log scale (random, bayesian)."
    )
    # None (left out) is uniform: the field stays out of older specs' fingerprints.
    distribution: Literal["uniform", "normal", "logNormal"] | None = Field(
        default=None,
        description=(
            "uniform (default; log for log-uniform), normal or logNormal: min and max are"
            " then mean -/+ 3 standard deviations (of log(value) for logNormal), not bounds."
        ),
    )
    values: list[Scalar] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CATEGORICAL_VALUES,
        description="The choices of a categorical parameter.",
    )
    # None (left out): always active; the field stays out of older specs' fingerprints.
    when: dict[str, Scalar | list[Scalar]] | None = Field(
        default=None,
        description=(
            "Active only when every parent named here has one of the values given"
            " (a value or a list); an inactive parameter is absent from the trial's params."
        ),
    )

    @model_validator(mode="after")
    def _check(self) -> Parameter:
        if self.type == "categorical":
            if self.distribution not in (None, "uniform"):
                raise ValueError(R.DISTRIBUTION_NUMERIC.message)
            self._check_choices()
        else:
            self._check_range()
            self._check_scale()
            self._check_distribution()
        self._check_when()
        return self

    def condition(self) -> dict[str, list[Scalar]]:
        """``when`` with every parent's values as a list ({} for an unconditional one)."""
        return {k: v if isinstance(v, list) else [v] for k, v in (self.when or {}).items()}

    def _check_when(self) -> None:
        """A conditional parameter: parents named as parameters are, values a trial takes."""
        if self.when is not None and not 1 <= len(self.when) <= MAX_WHEN_PARENTS:
            raise ValueError(f"when: 1 to {MAX_WHEN_PARENTS} parents")
        for parent, values in self.condition().items():
            if not re.match(NAME_PATTERN, parent) or len(parent) > 63:
                raise ValueError(f"when: parent names must match {NAME_PATTERN}")
            if parent == self.name:
                raise ValueError(f"when.{parent}: a parameter cannot be its own parent")
            if not values or len(values) > MAX_CATEGORICAL_VALUES:
                raise ValueError(f"when.{parent}: 1 to {MAX_CATEGORICAL_VALUES} values")
            for v in values:
                if problem := scalar_problem(v):
                    raise ValueError(f"when.{parent}: {problem}")

    @property
    def gaussian(self) -> bool:
        """Whether values are drawn from a normal or log-normal distribution."""
        return self.distribution in ("normal", "logNormal")

    def _check_distribution(self) -> None:
        """A normal or log-normal parameter: a spread to draw from, no second log scale."""
        assert self.min is not None and self.max is not None
        if not self.gaussian:
            return
        if self.log:
            raise ValueError(R.DISTRIBUTION_NO_LOG.message)
        if self.min >= self.max:
            raise ValueError(R.DISTRIBUTION_NEEDS_SPREAD.message)
        if self.distribution == "logNormal" and self.min <= 0:
            raise ValueError(R.LOGNORMAL_NEEDS_POSITIVE_MIN.message)

    def _check_choices(self) -> None:
        """A categorical parameter: distinct values a trial can be handed, no bounds."""
        if not self.values:
            raise ValueError(R.CATEGORICAL_NEEDS_VALUES.message)
        if self.min is not None or self.max is not None:
            raise ValueError(R.CATEGORICAL_NO_BOUNDS.message)
        if len({_scalar_key(v) for v in self.values}) != len(self.values):
            raise ValueError("values: must be distinct")
        for i, v in enumerate(self.values):
            if problem := scalar_problem(v):
                raise ValueError(f"values[{i}]: {problem}")

    def _check_range(self) -> None:
        """A numeric parameter: no values, both bounds, within magnitude, in order."""
        if self.values is not None:
            raise ValueError(f"{R.VALUES_ONLY_CATEGORICAL.message}, not {self.type}")
        if self.min is None or self.max is None:
            raise ValueError(R.NUMERIC_NEEDS_BOUNDS.message)
        if problem := self._magnitude_problem():
            raise ValueError(problem)
        if self.min > self.max:
            # An int parameter's bounds are said as the user wrote them: 9, not 9.0.
            low, high = (
                str(int(v)) if self.type == "int" and v == int(v) else str(v)
                for v in (self.min, self.max)
            )
            raise ValueError(f"{R.MIN_NOT_ABOVE_MAX.message} ({low} > {high})")

    def _check_scale(self) -> None:
        """A numeric parameter's step and scale: whole for an int, no step on a log scale."""
        assert self.min is not None and self.max is not None
        if self.type == "int":
            if self.min != int(self.min) or self.max != int(self.max):
                raise ValueError("min and max: must be whole numbers for an int parameter")
            if self.step is not None and self.step != int(self.step):
                raise ValueError("step: must be a whole number for an int parameter")
        if self.log and self.min <= 0:
            raise ValueError(R.LOG_NEEDS_POSITIVE_MIN.message)
        if self.log and self.step is not None and not (self.type == "int" and self.step == 1):
            raise ValueError("log and step: a log-scale parameter takes no step")
        if self.step is not None and (self.max - self.min) / self.step >= MAX_TRIALS:
            raise ValueError(
                f"step: too small to make progress; at most {MAX_TRIALS:,} grid points"
            )

    def _magnitude_problem(self) -> str | None:
        """Why a bound is too large for the samplers to act on, or None."""
        assert self.min is not None and self.max is not None
        if not (math.isfinite(self.min) and math.isfinite(self.max)):
            return "min and max: must be finite numbers"
        if self.type == "int":
            bound, shown = float(MAX_EXACT_INT), "an int parameter: ±2**53 (9,007,199,254,740,992)"
        else:
            bound, shown = MAX_MAGNITUDE, "a float parameter: ±1e300"
        for field, value in (("min", self.min), ("max", self.max), ("step", self.step)):
            if value is not None and abs(value) > bound:
                return f"{field}: must be within the range of {shown}"
        return None

    def grid_value(self, k: int) -> Scalar:
        """The ``k``-th grid value (categorical: the ``k``-th choice)."""
        if self.type == "categorical":
            assert self.values is not None
            return self.values[k]
        assert self.min is not None
        step = self.step if self.step is not None else 1.0
        v = self.min + k * step
        # 0.1 + 0.2 style noise would make grid points look distinct from what was written.
        return round(v) if self.type == "int" else round(v, 12)

    def grid_size(self) -> int | None:
        """Number of grid points, or None when the parameter has no grid (float without
        step, or a normal or log-normal draw, whose values have no last one)."""
        if self.gaussian:
            return None
        if self.type == "categorical":
            assert self.values is not None
            return len(self.values)
        assert self.min is not None and self.max is not None
        step = self.step if self.step is not None else (1.0 if self.type == "int" else None)
        if step is None:
            return None
        # The small epsilon keeps 0.1-style steps from losing their last point to rounding.
        return math.floor((self.max - self.min) / step + 1e-9) + 1


def _scalar_key(v: Scalar) -> tuple[str, Scalar]:
    return (type(v).__name__, v)


def scalar_problem(v: Scalar) -> str | None:
    """Why a parameter value cannot be handed to a trial, or None."""
    if isinstance(v, float) and not math.isfinite(v):
        return "must be a finite number"
    if isinstance(v, str) and CONTROL_CHARACTERS.search(v):
        return "must not contain control characters"
    return None


def ints_as_ints(wire: dict[str, Any]) -> dict[str, Any]:
    """``wire`` (a spec dumped) with each int parameter's ``min``, ``max`` and ``step`` as
    ints, for people to read: the model holds them as floats (and the stored form keeps
    them so, which keeps the spec's fingerprint stable)."""
    for p in wire.get("searchSpace") or []:
        if isinstance(p, dict) and p.get("type") == "int":
            for key in ("min", "max", "step"):
                if isinstance(p.get(key), float) and p[key].is_integer():
                    p[key] = int(p[key])
    return wire
