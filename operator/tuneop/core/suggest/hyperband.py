"""Katib's Hyperband search: the brackets' schedule, which trials may start, and their params.

Katib v0.19.0's service (``pkg/suggestion/v1beta1/hyperband/service.py``) computes, for
``r_l`` (``maxResource``) and ``eta``: ``s_max = int(log(r_l) / log(eta))``, then brackets
``s = s_max, s_max - 1, …, 0``, each with ``n = ceil((s_max + 1) * eta**s / (s + 1))``
configurations at the budget ``r = r_l * eta**-s``. A bracket's first rung draws ``n``
configurations at random with the resource parameter set to ``int(r)``; rung ``i`` (from
1 to ``s``) relaunches the best ``ceil(ceil(n * eta**-(i-1)) / eta)`` of rung ``i - 1``,
ranked by the objective, with the resource set to ``int(r * eta**i)``, once every trial
of rung ``i - 1`` has finished. tuneop numbers the trials in that order, so trial ``t``'s
bracket and rung are a pure function of the spec (``rung_of``), a rung's params a pure
function of the results before it (``params``), and an operator restarted at any point
derives the same trials from the result history: nothing of the planner's own is kept.

Where this differs from Katib: Katib's service overwrites ``n`` with the number of
suggestions its controller asks for in that call (``current_request_number``), so the
size of Katib's first rungs follows ``parallelTrialCount``; tuneop keeps Hyperband's own
``n`` (the formula above, which Katib's service also computes), so the schedule does not
depend on ``maxParallel``, and does not ask ``maxParallel >= eta**s_max`` as Katib's
validation does. Katib stalls when a rung holds a failed trial (it ranks only succeeded
ones and raises otherwise); tuneop ranks the failed ones after every success, by trial
number, so a rung with failures still fills the next.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from tuneop.api.hyperband import Hyperband, rung_of, schedule
from tuneop.api.spec import Scalar, SessionSpec
from tuneop.core.results.ranking import rank_all
from tuneop.core.suggest.search import first_rung_point, resource_value
from tuneop.core.wire.contract import TrialResult

__all__ = ["launchable", "params", "settings"]

Params = dict[str, Scalar]


def settings(spec: SessionSpec) -> Hyperband:
    """The session's hyperband settings (validated present with ``type: hyperband``)."""
    assert spec.optimizer.hyperband is not None, "validated: hyperband has its settings"
    return spec.optimizer.hyperband


def launchable(spec: SessionSpec, done: Collection[int], total: int) -> int:
    """How many trials (from trial 0) may have started: up to the first rung whose rung
    before it has a trial without its final result (``done``)."""
    rungs = schedule(settings(spec))
    for k, rung in enumerate(rungs):
        if rung.first >= total:
            break
        if rung.rung > 0 and not all(t in done for t in rungs[k - 1].trials):
            return rung.first
    return total


def params(spec: SessionSpec, trial: int, history: Mapping[int, TrialResult]) -> Params:
    """Trial ``trial``'s params: a random draw in a first rung, else the rung before's
    ``k``-th best (``history`` holds its results: ``launchable`` waited for them); the
    resource parameter set to the rung's budget either way."""
    rung = rung_of(settings(spec), trial)
    if rung.rung == 0:
        return first_rung_point(spec, trial)
    before = rung_of(settings(spec), rung.first - 1)
    ranked = rank_all((history[t] for t in before.trials), spec.objective.direction)
    out = dict(ranked[trial - rung.first].params)
    out[settings(spec).resource] = resource_value(spec, rung.resource)
    return out
