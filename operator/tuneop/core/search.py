"""Trial parameters for grid, random and explicit searches.

Trial ``i`` is a pure function of (spec, seed, i): a restarted operator
re-derives exactly the same trials and never runs a grid point twice.

Grid order is odometer order over ``searchSpace`` as written: the last
parameter varies fastest, like ``itertools.product``. A grid larger than the
budget runs its first ``totalTrials`` points in that order.
"""

from __future__ import annotations

import math
import random

from tuneop.api.spec import Parameter, Scalar, SessionSpec

__all__ = [
    "Params",
    "budget",
    "grid_point",
    "grid_size",
    "grid_values",
    "known_point",
    "point",
    "random_point",
    "search_size",
]

Params = dict[str, Scalar]


def _clean(x: float) -> float:
    # 0.1 + 0.2 style noise would make grid points look distinct from what the user wrote.
    return round(x, 12)


def grid_values(p: Parameter, k: int) -> Scalar:
    """The ``k``-th grid value of ``p``."""
    if p.type == "categorical":
        assert p.values is not None
        return p.values[k]
    assert p.min is not None
    step = p.step if p.step is not None else 1.0
    v = p.min + k * step
    return round(v) if p.type == "int" else _clean(v)


def grid_size(spec: SessionSpec) -> int:
    size = 1
    for p in spec.search_space:
        n = p.grid_size()
        assert n is not None, "validated: every grid parameter has a size"
        size *= n
    return size


def grid_point(spec: SessionSpec, i: int) -> Params:
    """Decode trial ``i`` as a mixed-radix number, last parameter least significant."""
    out: Params = {}
    rest = i
    for p in reversed(spec.search_space):
        n = p.grid_size()
        assert n is not None
        rest, k = divmod(rest, n)
        out[p.name] = grid_values(p, k)
    return {p.name: out[p.name] for p in spec.search_space}


def _sample(p: Parameter, rng: random.Random) -> Scalar:
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
    return {p.name: _sample(p, rng) for p in spec.search_space}


def search_size(spec: SessionSpec) -> int | None:
    """How many distinct trials the search can produce; None when unbounded."""
    if spec.trials is not None:
        return len(spec.trials)
    if spec.optimizer.type == "grid":
        return grid_size(spec)
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
    raise ValueError("bayesian trials come from tuneop.core.bayesian")


def known_point(spec: SessionSpec, i: int) -> Params:
    """Trial ``i``'s parameters when they can be derived again; {} for a bayesian suggestion.

    The planner uses it for trials whose Job is gone or never recorded what it ran.
    """
    return point(spec, i) if spec.optimizer.type != "bayesian" or spec.trials else {}
