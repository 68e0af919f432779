"""``optimizer.type: hyperband``: Katib's Hyperband search algorithm, its settings and rules.

Katib's ``hyperband`` (v0.19.0, ``pkg/suggestion/v1beta1/hyperband/service.py``) is a
search algorithm, not a pruner: it runs brackets of configurations at a small budget and
relaunches the best ``1/eta`` of each rung with a budget ``eta`` times larger, the budget
being a parameter of the search space (``resource_name``) that the trial reads (its
epochs, say). Its settings here: ``resource`` (Katib's ``resource_name``: an int or float
parameter of ``searchSpace``, whose own range is then not sampled), ``maxResource``
(``r_l``, the largest budget: at least 1) and ``eta`` (more than 1; default 3, as Katib's).
The schedule and the relaunches are ``tuneop.core.suggest.hyperband``. ``earlyStopping``
with ``type: hyperband`` is another thing: Optuna's pruner, stopping trials that report
their learning curve.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from tuneop.api.parameters import MAX_TRIALS, Parameter
from tuneop.api.worker import ApiModel

__all__ = [
    "DEFAULT_ETA",
    "MAX_BRACKETS",
    "MAX_SCHEDULE",
    "Hyperband",
    "Rung",
    "hyperband_problem",
    "record_fields",
    "rung_of",
    "schedule",
    "schedule_size",
]

DEFAULT_ETA = 3.0  # Katib's default when eta is absent or not positive
MAX_SCHEDULE = MAX_TRIALS  # tuneop's bound on a session's trials


class Hyperband(ApiModel):
    """The settings of ``optimizer.type: hyperband`` (Katib's algorithmSettings)."""

    resource: str = Field(
        min_length=1,
        max_length=63,
        description="The parameter that is each trial's budget (Katib's resource_name).",
    )
    max_resource: float = Field(
        ge=1,
        le=1e6,
        strict=True,
        allow_inf_nan=False,
        description="The largest budget a trial gets (Katib's r_l).",
    )
    eta: float = Field(
        default=DEFAULT_ETA,
        gt=1,
        le=1000,
        strict=True,
        allow_inf_nan=False,
        description="Each rung keeps the best 1/eta and multiplies their budget by eta.",
    )


MAX_BRACKETS = 21  # s_max <= 20: the schedule stays small enough to list and to run


def _size_problem(settings: Hyperband) -> str | None:
    """Why the brackets of these settings are too many to run, or None."""
    s_max = int(math.log(settings.max_resource) / math.log(settings.eta))
    if s_max >= MAX_BRACKETS:
        return (
            f"optimizer.hyperband: at most {MAX_BRACKETS} brackets"
            f" (int(log(maxResource) / log(eta)) = {s_max} > {MAX_BRACKETS - 1})"
        )
    if schedule_size(settings) > MAX_SCHEDULE:
        return f"optimizer.hyperband: more than {MAX_SCHEDULE:,} trials in its brackets"
    return None


def hyperband_problem(
    kind: str,
    settings: Hyperband | None,
    space: Sequence[Parameter],
    several_objectives: bool,
    packs: bool = False,
) -> str | None:
    """Why ``optimizer``'s hyperband settings do not fit the session, as one line, or None."""
    if kind != "hyperband":
        return "optimizer.hyperband: only with type hyperband" if settings else None
    if settings is None:
        return "optimizer.hyperband: required with type hyperband (resource, maxResource)"
    if several_objectives:
        return "optimizer.type: hyperband ranks one objective, not several"
    if packs:  # a rung waits for the one before: Jobs of one trial keep the wait exact
        return "optimizer.type: hyperband runs one trial per Job (no workers, trialsPerJob)"
    found = [p for p in space if p.name == settings.resource]
    if not found:
        return (
            f"optimizer.hyperband.resource: must name a parameter of searchSpace"
            f" ({settings.resource[:63]!r} is not one)"
        )
    if found[0].type == "categorical":
        return "optimizer.hyperband.resource: must name an int or float parameter"
    return _size_problem(settings)


@dataclass(frozen=True)
class Rung:
    """One rung of a bracket: trials ``first … first + size - 1`` at budget ``resource``."""

    bracket: int  # Katib's s: s_max first, 0 last
    rung: int  # Katib's i: 0 draws at random, later ones relaunch the best of the one before
    first: int
    size: int
    resource: int

    @property
    def trials(self) -> range:
        return range(self.first, self.first + self.size)


@functools.lru_cache(maxsize=64)
def _schedule(max_resource: float, eta: float) -> tuple[Rung, ...]:
    s_max = int(math.log(max_resource) / math.log(eta))  # Katib's expression, its rounding
    out: list[Rung] = []
    first = 0
    for s in range(s_max, -1, -1):
        n = math.ceil(float(s_max + 1) * (float(eta**s) / float(s + 1)))
        r = max_resource * eta ** (-s)
        out.append(Rung(s, 0, first, n, int(r)))
        first += n
        for i in range(1, s + 1):
            n_i = math.ceil(n * eta ** (-(i - 1)))
            top = math.ceil(n_i / eta)
            out.append(Rung(s, i, first, top, int(r * eta**i)))
            first += top
    return tuple(out)


def schedule(settings: Hyperband) -> tuple[Rung, ...]:
    """Every rung of every bracket, in the order their trials are numbered (Katib's
    formulas: ``tuneop.core.suggest.hyperband`` says them)."""
    return _schedule(settings.max_resource, settings.eta)


def schedule_size(settings: Hyperband) -> int:
    """How many trials the brackets hold."""
    last = schedule(settings)[-1]
    return last.first + last.size


def rung_of(settings: Hyperband, trial: int) -> Rung:
    """The rung trial ``trial`` belongs to."""
    for rung in schedule(settings):
        if trial < rung.first + rung.size:
            return rung
    raise ValueError(f"trial {trial} is past the hyperband schedule")


def record_fields(settings: Hyperband | None, trial: int) -> dict[str, Any]:
    """What a hyperband trial's result record says of its place: bracket, rung and budget."""
    if settings is None:
        return {}
    r = rung_of(settings, trial)
    return {"hyperband": {"bracket": r.bracket, "rung": r.rung, "resource": r.resource}}
