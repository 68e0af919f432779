"""Normal and log-normal parameters: Katib's reading of ``min`` and ``max``, and the draw.

Katib's hyperopt suggestion service (v0.19.0, ``pkg/suggestion/v1beta1/hyperopt/
base_service.py``) turns a ``normal`` parameter into ``hp.normal(mu, sigma)`` with
``mu = (min + max) / 2`` and ``sigma = (max - min) / 6`` (99.7% of the draws within
``min`` and ``max``), a ``logNormal`` one into ``hp.lognormal`` with the same two
figures taken of ``log(min)`` and ``log(max)``, and with a ``step`` into hyperopt's
``qnormal``/``qlognormal``: the draw rounded to a multiple of the step. The draw is
not cut at ``min`` and ``max`` (0.27% of the values fall outside them), as in Katib.

Every sampler draws through ``value_at``: a probability ``u`` in (0, 1) through the
distribution's inverse CDF (``statistics.NormalDist``), so random search feeds it a
uniform number, quasi-random search a Sobol coordinate, and the learning optimizers
a value Optuna suggests on (0, 1): their uniform prior there is this distribution's
prior here. ``probability_of`` maps a value tried back onto that scale for their
history. An int parameter's step defaults to 1 (the draw rounded to a whole number).
"""

from __future__ import annotations

import math
from statistics import NormalDist

from tuneop.api.parameters import MAX_EXACT_INT, MAX_MAGNITUDE, Parameter, Scalar

__all__ = ["EDGE", "describe", "normal_of", "probability_of", "value_at"]

# The probabilities drawn are kept within (EDGE, 1 - EDGE): the inverse CDF is infinite
# at 0 and 1, and a Sobol point may be exactly 0. 1e-12 is 7.03 standard deviations out.
EDGE = 1e-12
_LOG_LIMIT = math.log(MAX_MAGNITUDE)  # exp() past it would overflow a float


def normal_of(p: Parameter) -> NormalDist:
    """The normal distribution of the value (``normal``) or of its logarithm (``logNormal``)."""
    assert p.gaussian and p.min is not None and p.max is not None
    low, high = (
        (math.log(p.min), math.log(p.max))
        if p.distribution == "logNormal"
        else (
            p.min,
            p.max,
        )
    )
    return NormalDist((low + high) / 2, (high - low) / 6)


def _quantize(p: Parameter, x: float) -> Scalar:
    """hyperopt's ``q``: the draw rounded to a multiple of the step, within the bounds an
    int or float value may reach."""
    step = p.step if p.step is not None else (1.0 if p.type == "int" else None)
    if step is not None:
        x = round(x / step) * step
    if p.type == "int":
        return int(min(max(x, -MAX_EXACT_INT), MAX_EXACT_INT))
    x = min(max(x, -MAX_MAGNITUDE), MAX_MAGNITUDE)
    # 0.1 * 3 style noise would make stepped values look unlike what the user wrote.
    return round(x, 12) if step is not None else x


def value_at(p: Parameter, u: float) -> Scalar:
    """The value of ``p`` at probability ``u``: its inverse CDF, then its step."""
    x = normal_of(p).inv_cdf(min(max(u, EDGE), 1 - EDGE))
    if p.distribution == "logNormal":
        x = math.exp(min(max(x, -_LOG_LIMIT), _LOG_LIMIT))
    return _quantize(p, x)


def probability_of(p: Parameter, v: float) -> float:
    """Where a value tried lies on the probability scale ``value_at`` reads (its CDF)."""
    x = float(v)
    if p.distribution == "logNormal":
        x = math.log(x) if x > 0 else -math.inf
    if not math.isfinite(x):
        return EDGE if x < 0 else 1 - EDGE
    return min(max(normal_of(p).cdf(x), EDGE), 1 - EDGE)


def describe(p: Parameter) -> str:
    """The draw in words, as ``tuneop plan``, the report and the export say it."""
    n = normal_of(p)
    of = "log(value)" if p.distribution == "logNormal" else "value"
    step = p.step if p.step is not None else (1 if p.type == "int" else None)
    q = f", rounded to a multiple of {step:g}" if step is not None else ""
    return (
        f"{p.distribution}: {of} ~ N(mean {n.mean:.6g}, sd {n.stdev:.6g}){q};"
        " min and max are the mean -/+ 3 sd, not bounds"
    )
