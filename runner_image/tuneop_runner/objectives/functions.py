"""Optimisation test functions with known optima, for examples and benchmarks.

Each returns its result as metric ``value`` (``loss`` for ``quadratic``), to be
minimised. Known minima let a test or benchmark check how close an optimiser
got:

* ``branin``: x1 in [-5, 10], x2 in [0, 15]; minimum 0.397887 at (-pi, 12.275),
  (pi, 2.275) and (9.42478, 2.475);
* ``hartmann6``: x1..x6 in [0, 1]; minimum -3.32237 at
  (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573);
* ``sphere``: every param numeric; minimum 0 at the origin;
* ``quadratic``: x and optional y; ``loss = (x - 3)^2 + (y + 1)^2``, minimum 0 at
  (3, -1), a trivially fast objective;
* ``conditional``: a conditional space: ``optimizer`` (``sgd`` or ``adam``), ``lr``,
  ``momentum`` only with ``sgd`` and ``beta1`` only with ``adam``; ``loss`` is
  ``log10(lr) + 2`` squared plus ``4 (momentum - 0.9)^2 + 0.1`` (sgd) or
  ``4 (beta1 - 0.95)^2`` (adam), minimum 0 at adam, lr 0.01, beta1 0.95. A trial
  handed a parameter its optimizer does not use, or missing one it does, fails;
* ``zdt1``: two objectives, ``f1`` and ``f2``, both minimised, over x0..x(n-1)
  in [0, 1] (Zitzler, Deb and Thiele's ZDT1); its Pareto front is
  ``f2 = 1 - sqrt(f1)``, reached when every x but x0 is 0.

The domains are not enforced: that is the search space's job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from tuneop_runner.objectives.params import number

__all__ = [
    "BRANIN_MINIMUM",
    "branin",
    "conditional",
    "hartmann6",
    "quadratic",
    "sphere",
    "zdt1",
]

BRANIN_MINIMUM = 0.397887
HARTMANN6_MINIMUM = -3.32237
HARTMANN6_ARGMIN = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)

_HARTMANN6_ALPHA = (1.0, 1.2, 3.0, 3.2)
_HARTMANN6_A = (
    (10.0, 3.0, 17.0, 3.5, 1.7, 8.0),
    (0.05, 10.0, 17.0, 0.1, 8.0, 14.0),
    (3.0, 3.5, 1.7, 10.0, 17.0, 8.0),
    (17.0, 8.0, 0.05, 10.0, 0.1, 14.0),
)
_HARTMANN6_P = (
    (0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886),
    (0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991),
    (0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650),
    (0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381),
)


def branin(params: Mapping[str, object]) -> dict[str, float]:
    x1 = number(params, "x1")
    x2 = number(params, "x2")
    b = 5.1 / (4 * math.pi**2)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    value = (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10
    return {"value": value}


def hartmann6(params: Mapping[str, object]) -> dict[str, float]:
    x = [number(params, f"x{i}") for i in range(1, 7)]
    total = 0.0
    for alpha, a_row, p_row in zip(_HARTMANN6_ALPHA, _HARTMANN6_A, _HARTMANN6_P, strict=True):
        inner = sum(a * (xj - p) ** 2 for a, xj, p in zip(a_row, x, p_row, strict=True))
        total += alpha * math.exp(-inner)
    return {"value": -total}


def sphere(params: Mapping[str, object]) -> dict[str, float]:
    return {"value": sum(number(params, name) ** 2 for name in sorted(params))}


def quadratic(params: Mapping[str, object]) -> dict[str, float]:
    x = number(params, "x")
    y = number(params, "y", default=-1.0)
    return {"loss": (x - 3) ** 2 + (y + 1) ** 2}


_CONDITIONAL = {"sgd": ("momentum", 0.9, 0.1), "adam": ("beta1", 0.95, 0.0)}


def conditional(params: Mapping[str, object]) -> dict[str, float]:
    optimizer = params.get("optimizer")
    if optimizer not in _CONDITIONAL:
        raise ValueError(f"parameter 'optimizer' must be sgd or adam, got {optimizer!r}")
    name, best, floor = _CONDITIONAL[str(optimizer)]
    other = next(n for n, _, _ in _CONDITIONAL.values() if n != name)
    if other in params:
        raise ValueError(f"parameter {other!r} is not used with optimizer {optimizer}")
    lr = number(params, "lr")
    if lr <= 0:
        raise ValueError(f"parameter 'lr' must be positive, got {lr!r}")
    value = number(params, name)
    return {"loss": (math.log10(lr) + 2) ** 2 + 4 * (value - best) ** 2 + floor}


def zdt1(params: Mapping[str, object]) -> dict[str, float]:
    names = sorted(params, key=lambda k: (len(k), k))  # x0, x1, ..., x10 in numeric order
    xs = [number(params, k) for k in names]
    if len(xs) < 2:
        raise ValueError("zdt1 needs at least two params, x0 and x1")
    f1 = xs[0]
    g = 1.0 + 9.0 * sum(xs[1:]) / (len(xs) - 1)
    return {"f1": f1, "f2": g * (1.0 - math.sqrt(max(f1, 0.0) / g))}
