"""Population-based training: which trials may start, their params and their parent.

Trial ``t`` is member ``t % population`` of generation ``t // population``
(``tuneop.api.pbt``). Generation 0 draws at random (``search.random_point``). A later
generation starts once every trial of the one before has its result, and is derived
from those results alone, so an operator restarted at any point derives the same
trials again: the generation before is ranked (succeeded trials best first, then the
rest by trial number); a member whose trial ranked in the bottom ``truncation``
fraction *exploits*, taking the params of a member drawn from the top fraction and
continuing from that member's checkpoint; every other member *explores*, continuing
from its own checkpoint with each numeric param moved by a factor 0.8 or 1.2 (kept in
range, on its step; an int stays an int) and a categorical one to a neighbouring
choice, or, with ``resampleProbability``, each param drawn anew with that probability.
The draws are seeded by the optimizer's seed and the trial number.

Where this differs from Katib v0.19.0 (``pkg/suggestion/v1beta1/pbt/service.py``):
Katib's generations overlap (a member of the next generation is suggested whenever a
slot frees up, from whichever trials have ended) and its service keeps the queue in
memory; tuneop's generations are synchronous, which makes every trial a pure function
of the results. An exploiting Katib trial takes the better member's params but its
own member's checkpoint; here it takes the better member's checkpoint too, as the
PBT paper (Jaderberg et al., 2017) and Ray Tune do, since params without the weights
they were tuned on lose what exploiting is for.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Mapping

from tuneop.api.parameters import Parameter
from tuneop.api.pbt import Pbt, member_of
from tuneop.api.spec import Scalar, SessionSpec
from tuneop.core.results.ranking import rank_all
from tuneop.core.suggest.search import native, random_point, sample
from tuneop.core.wire.contract import TrialResult

__all__ = ["launchable", "lineage", "settings"]

Params = dict[str, Scalar]


def settings(spec: SessionSpec) -> Pbt:
    """The session's pbt settings (validated present with ``type: pbt``)."""
    assert spec.optimizer.pbt is not None, "validated: pbt has its settings"
    return spec.optimizer.pbt


def launchable(spec: SessionSpec, done: Collection[int], total: int) -> int:
    """How many trials (from trial 0) may have started: up to the first generation
    whose generation before has a trial without its final result (``done``)."""
    size = settings(spec).population
    for first in range(size, total, size):
        if not all(t in done for t in range(first - size, first)):
            return first
    return total


def lineage(
    spec: SessionSpec, trial: int, history: Mapping[int, TrialResult]
) -> tuple[Params, int | None]:
    """Trial ``trial``'s params and the trial whose checkpoint it continues from (None
    in generation 0). ``history`` holds the generation before's results."""
    pbt = settings(spec)
    generation, member = member_of(pbt, trial)
    if generation == 0:
        return random_point(spec, trial), None
    first = (generation - 1) * pbt.population
    before = [history[t] for t in range(first, first + pbt.population)]
    ranked = [r.trial for r in rank_all(before, spec.objective.direction)]
    cut = max(1, math.floor(pbt.population * pbt.truncation))
    rng = random.Random(f"pbt-{spec.optimizer.seed}-{trial}")
    own = first + member
    if own in ranked[-cut:]:
        better = rng.choice(ranked[:cut])
        return dict(history[better].params), better
    params = history[own].params
    return {p.name: _explore(p, params[p.name], pbt, rng) for p in spec.search_space}, own


def _explore(p: Parameter, value: Scalar, pbt: Pbt, rng: random.Random) -> Scalar:
    if pbt.resample_probability is not None:
        if rng.random() < pbt.resample_probability:
            return sample(p, rng)
        return value
    if p.type == "categorical":
        choices = list(p.values or [])
        at = choices.index(value) if value in choices else 0
        return native(choices[(at + rng.choice((-1, 1))) % len(choices)], p)
    assert p.min is not None and p.max is not None
    moved = float(value) * rng.choice((0.8, 1.2))
    if p.step:
        moved = p.min + round((moved - p.min) / p.step) * p.step
    moved = min(max(moved, p.min), p.max)
    # 12 significant digits: 0.8 * 0.049 prints as 0.0392, not 0.039200000000000006
    return native(round(moved) if p.type == "int" else float(f"{moved:.12g}"), p)
