"""Trial parameters for grid, random, quasi-random and explicit searches.

Trial ``i`` is a pure function of (spec, seed, i): a restarted operator
re-derives exactly the same trials and never runs a grid point twice.

Quasi-random (``qmc``) trial ``i`` is point ``i`` of a scrambled Sobol
sequence, seeded (``scipy.stats.qmc.Sobol``, the engine of Optuna's
``QMCSampler``), one dimension per parameter, categoricals included: Sobol
points fill the space more evenly than random ones. Optuna's sampler numbers
its points with a counter in the study; tuneop numbers them by trial, so a
restarted operator derives the same trials. Warm-start points (learning
optimizers) are trials ``0 … len(points)-1`` too, derived the same way.

A ``normal`` or ``logNormal`` parameter is drawn through its inverse CDF
(``tuneop.api.distributions``) from the same uniform number or Sobol coordinate.

Grid order is odometer order over ``searchSpace`` as written: the last
parameter varies fastest, like ``itertools.product``. A grid larger than the
budget runs its first ``totalTrials`` points in that order.

Conditional parameters (``when``, ``tuneop.api.conditions``): a grid holds each distinct
combination of the active parameters once, in odometer order with parents placed before
their dependants; random and quasi-random trials draw every parameter as above and drop
the ones the drawn values make inactive, so a trial's params hold exactly its active set.
"""

from __future__ import annotations

import functools
import math
import random
import threading
from typing import Any

from tuneop.api.conditions import conditional, conditional_grid, project
from tuneop.api.distributions import value_at
from tuneop.api.errors import SpecError
from tuneop.api.hyperband import rung_of, schedule_size
from tuneop.api.spec import Parameter, Scalar, SessionSpec

__all__ = [
    "QMC_NEEDS",
    "Params",
    "budget",
    "first_rung_point",
    "grid_point",
    "grid_size",
    "grid_values",
    "known_point",
    "native",
    "point",
    "qmc_available",
    "qmc_point",
    "random_point",
    "resource_value",
    "sample",
    "search_size",
    "warm_point",
]

Params = dict[str, Scalar]


def _clean(x: float) -> float:
    # 0.1 + 0.2 style noise would make grid points look distinct from what the user wrote.
    return round(x, 12)


def grid_values(p: Parameter, k: int) -> Scalar:
    """The ``k``-th grid value of ``p``."""
    return p.grid_value(k)


def grid_size(spec: SessionSpec) -> int:
    if conditional(spec.search_space):
        return conditional_grid(spec.search_space).size()
    size = 1
    for p in spec.search_space:
        n = p.grid_size()
        assert n is not None, "validated: every grid parameter has a size"
        size *= n
    return size


def grid_point(spec: SessionSpec, i: int) -> Params:
    """Decode trial ``i`` as a mixed-radix number, last parameter least significant."""
    if conditional(spec.search_space):
        return conditional_grid(spec.search_space).point(i)
    out: Params = {}
    rest = i
    for p in reversed(spec.search_space):
        n = p.grid_size()
        assert n is not None
        rest, k = divmod(rest, n)
        out[p.name] = grid_values(p, k)
    return {p.name: out[p.name] for p in spec.search_space}


def sample(p: Parameter, rng: random.Random) -> Scalar:
    """One random draw of ``p`` from ``rng``."""
    if p.gaussian:
        return value_at(p, rng.random())
    if p.type == "categorical":
        assert p.values is not None
        return p.values[rng.randrange(len(p.values))]
    assert p.min is not None and p.max is not None
    if p.log:
        v = math.exp(rng.uniform(math.log(p.min), math.log(p.max)))
        if p.type == "int":
            return int(min(max(round(v), p.min), p.max))
        return _clean(min(max(v, p.min), p.max))
    n = p.grid_size()
    if n is not None:
        return grid_values(p, rng.randrange(n))
    return _clean(rng.uniform(p.min, p.max))


def random_point(spec: SessionSpec, i: int) -> Params:
    # A string seed goes through SHA-512 in CPython: stable across processes and versions.
    rng = random.Random(f"tuneop:{spec.optimizer.seed}:{i}")
    # Every parameter is drawn, active or not, so a trial's draws do not depend on the
    # condition; the inactive ones are then dropped.
    drawn = {p.name: sample(p, rng) for p in spec.search_space}
    return project(spec.search_space, drawn) if conditional(spec.search_space) else drawn


# scipy is 140 MB installed, so it is an extra: only qmc sessions (and gp's) need it.
QMC_NEEDS = (
    "spec.optimizer.type: qmc needs scipy, which this Python does not have;"
    " install it with pip install 'tuneop[qmc]'"
)
_SOBOL_LOCK = threading.Lock()  # one engine per (dimension, seed), shared by reconciles


def qmc_available() -> bool:
    """Whether scipy, the Sobol engine of ``qmc``, is installed (the ``qmc`` extra)."""
    import importlib.util

    return importlib.util.find_spec("scipy") is not None


@functools.lru_cache(maxsize=64)
def _sobol(d: int, seed: int) -> Any:
    try:
        from scipy.stats import qmc
    except ImportError:
        raise SpecError([QMC_NEEDS]) from None  # the operator fails the session, naming it

    return qmc.Sobol(d, scramble=True, seed=seed)


def _from_unit(p: Parameter, u: float) -> Scalar:
    """The value of ``p`` at ``u`` in [0, 1): every value, grid point or interval alike;
    a normal or log-normal parameter's through its inverse CDF."""
    if p.gaussian:
        return value_at(p, u)
    if p.type == "categorical" or (p.grid_size() is not None and not p.log):
        n = p.grid_size()
        assert n is not None
        return grid_values(p, min(int(u * n), n - 1))
    assert p.min is not None and p.max is not None
    if p.log:
        v = math.exp(math.log(p.min) + u * (math.log(p.max) - math.log(p.min)))
        if p.type == "int":
            return int(min(max(round(v), p.min), p.max))
        return _clean(min(max(v, p.min), p.max))
    return _clean(p.min + u * (p.max - p.min))


def qmc_point(spec: SessionSpec, i: int) -> Params:
    """Trial ``i`` of a quasi-random search: Sobol point ``i``, scrambled by the seed."""
    engine = _sobol(len(spec.search_space), spec.optimizer.seed)
    with _SOBOL_LOCK:
        engine.reset()
        if i:
            engine.fast_forward(i)
        u = engine.random(1)[0]
    drawn = {p.name: _from_unit(p, float(x)) for p, x in zip(spec.search_space, u, strict=True)}
    return project(spec.search_space, drawn) if conditional(spec.search_space) else drawn


def warm_point(spec: SessionSpec, i: int) -> Params | None:
    """Trial ``i``'s params when it is one of the warm-start points, else None."""
    points = spec.warm_start.points if spec.warm_start else None
    if not points or i >= len(points):
        return None
    return {p.name: native(points[i][p.name], p) for p in spec.search_space if p.name in points[i]}


def native(v: Any, p: Parameter) -> Scalar:
    """``v`` as ``p``'s type: a spec or record may say 2.0 for an int or 1 for a float."""
    if p.type == "int":
        return int(v)
    if p.type == "float":
        return float(v)
    return v  # type: ignore[no-any-return]


def search_size(spec: SessionSpec) -> int | None:
    """How many distinct trials the search can produce; None when unbounded."""
    if spec.trials is not None:
        return len(spec.trials)
    if spec.optimizer.type == "grid":
        return grid_size(spec)
    if spec.optimizer.hyperband is not None:  # its brackets' trials
        return schedule_size(spec.optimizer.hyperband)
    return None


def budget(spec: SessionSpec) -> tuple[int, bool]:
    """The number of trials to run, and whether the search space capped it."""
    size = search_size(spec)
    if spec.total_trials is None:
        assert size is not None, "validated: random and bayesian need totalTrials"
        return size, False
    if size is not None and size < spec.total_trials:
        return size, True
    return spec.total_trials, False


def point(spec: SessionSpec, i: int) -> Params:
    """Trial ``i``'s parameters for the non-adaptive searches (not bayesian)."""
    if spec.trials is not None:
        return dict(spec.trials[i])
    if spec.optimizer.type == "grid":
        return grid_point(spec, i)
    if spec.optimizer.type == "random":
        return random_point(spec, i)
    if spec.optimizer.type == "qmc":
        return qmc_point(spec, i)
    raise ValueError("bayesian trials come from tuneop.core.suggest.bayesian")


def known_point(spec: SessionSpec, i: int) -> Params:
    """Trial ``i``'s parameters when they can be derived again; {} for a bayesian suggestion.

    The planner uses it for trials whose Job is gone or never recorded what it ran.
    """
    if spec.optimizer.hyperband is not None and rung_of(spec.optimizer.hyperband, i).rung == 0:
        return first_rung_point(spec, i)
    if spec.optimizer.pbt is not None and i < spec.optimizer.pbt.population:
        return random_point(spec, i)  # pbt's generation 0
    if spec.learns_from_history:
        return warm_point(spec, i) or {}
    return point(spec, i)


def first_rung_point(spec: SessionSpec, i: int) -> Params:
    """Trial ``i`` of a hyperband bracket's first rung: a random draw, its resource
    parameter set to the rung's budget (Katib's master bracket)."""
    h = spec.optimizer.hyperband
    assert h is not None
    out = random_point(spec, i)
    out[h.resource] = resource_value(spec, rung_of(h, i).resource)
    return out


def resource_value(spec: SessionSpec, budget: int) -> Scalar:
    """A hyperband budget as the resource parameter's type: an int, or a float."""
    assert spec.optimizer.hyperband is not None
    name = spec.optimizer.hyperband.resource
    kind = next(p.type for p in spec.search_space if p.name == name)
    return budget if kind == "int" else float(budget)
