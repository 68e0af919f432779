"""The search space as Optuna holds it, and one trial asked of it.

``distribution`` is a parameter's Optuna distribution. A ``normal`` or ``logNormal``
parameter has no prior in Optuna: the study holds it as a probability on (0, 1)
(``to_study``) and each suggestion is drawn through its inverse CDF (``from_study``).
``fits`` says whether a trial's params are a point of the space, ``of`` the
distributions of the parameters a trial holds, and ``ask_one`` asks a study for one
trial: all parameters at once, or a conditional space (``when``) define-by-run, each
parameter when the values asked before make it active.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from tuneop.api.conditions import conditional, draw, project
from tuneop.api.distributions import EDGE, probability_of, value_at
from tuneop.api.spec import Parameter, Scalar, SessionSpec
from tuneop.core.suggest.samplers import suggest_from
from tuneop.core.suggest.search import native

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

__all__ = ["Params", "ask_one", "distribution", "fits", "from_study", "of", "to_study"]

Params = dict[str, Scalar]


@functools.cache
def _load() -> None:
    """Import Optuna once, quieting its per-trial INFO logs."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def distribution(p: Parameter) -> BaseDistribution:
    _load()
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if p.type == "categorical":
        assert p.values is not None
        return CategoricalDistribution(list(p.values))
    assert p.min is not None and p.max is not None
    if p.gaussian:  # suggested as a probability, drawn through its inverse CDF (from_study)
        return FloatDistribution(EDGE, 1 - EDGE)
    if p.type == "int":
        step = int(p.step) if p.step is not None else 1
        return IntDistribution(int(p.min), int(p.max), log=p.log, step=step)
    return FloatDistribution(p.min, p.max, log=p.log, step=p.step)


def to_study(params: Params, spec: SessionSpec) -> Params:
    """A trial's params as the study holds them: a normal or log-normal parameter's value
    as its probability (its CDF), the scale its distribution is suggested on."""
    out = dict(params)
    for p in spec.search_space:
        v = out.get(p.name)
        if p.gaussian and isinstance(v, int | float) and not isinstance(v, bool):
            out[p.name] = probability_of(p, v)
    return out


def from_study(v: Any, p: Parameter) -> Scalar:
    """A suggested value as the trial gets it (``to_study`` undone)."""
    return value_at(p, float(v)) if p.gaussian else native(v, p)


def fits(params: dict[str, Any], dists: dict[str, BaseDistribution], spec: SessionSpec) -> bool:
    """Whether ``params`` is a point of the space: its active set, each value in range."""
    space = spec.search_space
    active = set(project(space, params)) if conditional(space) else set(dists)
    if set(params) != active:
        return False
    for name, d in ((n, dists[n]) for n in params):
        try:
            if not d._contains(d.to_internal_repr(params[name])):
                return False
        except (ValueError, TypeError):
            return False
    return True


def of(dists: dict[str, BaseDistribution], params: Params) -> dict[str, BaseDistribution]:
    """The distributions of the parameters ``params`` holds (its active ones)."""
    return {k: dists[k] for k in params}


def ask_one(
    study: optuna.Study, spec: SessionSpec, dists: dict[str, BaseDistribution]
) -> tuple[optuna.Trial, Params]:
    """One trial asked, and its params as the trial gets them. A conditional space is
    asked define-by-run: each parameter when the values asked before make it active."""
    if not conditional(spec.search_space):
        trial = study.ask(dists)
        return trial, {p.name: from_study(trial.params[p.name], p) for p in spec.search_space}
    trial = study.ask()
    asked = draw(spec.search_space, lambda p: suggest_from(trial, p.name, dists[p.name]))
    by_name = {p.name: p for p in spec.search_space}
    return trial, {k: from_study(v, by_name[k]) for k, v in asked.items()}
