"""Checks of a session's trials that need no other field: an explicit ``trials`` list's
names and values, and a grid's size (each parameter finite, the whole within the bound
unless ``totalTrials`` runs part of it). Each returns the one line a user sees, or None."""

from __future__ import annotations

import re

from tuneop.api import rules as R
from tuneop.api.conditions import conditional, conditional_grid
from tuneop.api.parameters import MAX_TRIALS, NAME_PATTERN, Parameter, Scalar, scalar_problem

__all__ = ["explicit_trials_problem", "grid_problem"]

_NAME = re.compile(NAME_PATTERN)


def grid_problem(space: list[Parameter], total_trials: int | None) -> str | None:
    """Why the grid over ``space`` cannot run, or None."""
    points = 1
    for i, p in enumerate(space):
        size = p.grid_size()
        if size is None:
            rule = R.GRID_FLOAT_NEEDS_STEP.message.replace("[]", f"[{i}]")
            return f"{rule} ({p.name})"
        points *= size
    if points > MAX_TRIALS and conditional(space):  # only the combinations that hold run
        points = conditional_grid(space).size()
    if points > MAX_TRIALS and total_trials is None:
        return (
            f"searchSpace: the grid has {points:,} points, more than {MAX_TRIALS:,};"
            " set totalTrials to run part of it"
        )
    return None


def explicit_trials_problem(trials: list[dict[str, Scalar]]) -> str | None:
    """Why an explicit trial's parameter name or value is refused, or None."""
    for i, params in enumerate(trials):
        for key, value in params.items():
            if not _NAME.match(key) or len(key) > 63:
                return f"trials[{i}]: parameter names must match {NAME_PATTERN}"
            if problem := scalar_problem(value):
                return f"trials[{i}].{key}: {problem}"
    return None
