"""The search space, the objective and the optimizer written in Python: the spec's own models.

Each builder returns the model the YAML's field is parsed into (``Parameter``,
``Objective``, ``Optimizer`` of ``tuneop.api.spec``), so a space written here and
one written in YAML are the same objects, checked by the same rules: there is no
second schema. A value the spec refuses raises ``SpecError`` naming the field and
the rule, as ``tuneop plan`` would print it.

A Python objective reaches a trial by name: a worker, a process of its own, imports
it as ``module:function`` (``spec.runner.objective``). ``objective_path`` finds that
name for a function and refuses one a worker could not import: a function of
``__main__`` (a notebook's cell, a script run as ``python script.py``), a lambda, a
nested function or a method. Such a function belongs in a module of its own next to
the notebook, which a local run's workers import from the folder the run starts in.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from tuneop.api.errors import SpecError, format_validation_error
from tuneop.api.spec import Objective, Optimizer, Parameter, Scalar

__all__ = [
    "Categorical",
    "Float",
    "Int",
    "ObjectiveNotImportable",
    "maximize",
    "minimize",
    "objective_path",
    "optimizer",
]


class ObjectiveNotImportable(ValueError):
    """A Python objective a worker cannot import by ``module:function``; says what to do."""


def _model(kind: type[BaseModel], where: str, data: dict[str, Any]) -> Any:
    """``kind`` validated from ``data`` (wire names), or ``SpecError`` naming ``where``."""
    try:
        return kind.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as err:
        # The problems name the field as under spec (spec.min): here, under ``where``.
        problems = [p.removeprefix("spec.") for p in format_validation_error(err)]
        raise SpecError([f"{where}{p}" for p in problems]) from None


# A parameter's ``when``: it exists only when each parent named has one of the values given
# (``when={"optimizer": "sgd"}``), as the YAML's ``when:`` (docs/spec.md).
When = dict[str, Scalar | list[Scalar]] | None


def Int(
    name: str,
    min: int,
    max: int,
    *,
    step: int | None = None,
    log: bool = False,
    when: When = None,
) -> Parameter:
    """``type: int`` from ``min`` to ``max`` inclusive, on a ``step`` grid or a ``log`` scale."""
    data = {"name": name, "type": "int", "min": min, "max": max, "step": step, "log": log or None}
    data["when"] = when
    result: Parameter = _model(Parameter, f"searchSpace[{name}].", data)
    return result


def Float(
    name: str,
    min: float,
    max: float,
    *,
    step: float | None = None,
    log: bool = False,
    distribution: Literal["uniform", "normal", "logNormal"] | None = None,
    when: When = None,
) -> Parameter:
    """``type: float`` from ``min`` to ``max``; ``distribution`` as the YAML's (a normal
    draw reads ``min`` and ``max`` as the mean minus and plus three deviations)."""
    data = {
        "name": name,
        "type": "float",
        "min": float(min),
        "max": float(max),
        "step": None if step is None else float(step),
        "log": log or None,
        "distribution": distribution,
        "when": when,
    }
    result: Parameter = _model(Parameter, f"searchSpace[{name}].", data)
    return result


def Categorical(name: str, values: Sequence[Scalar], *, when: When = None) -> Parameter:
    """``type: categorical``: one of ``values``."""
    data = {"name": name, "type": "categorical", "values": list(values), "when": when}
    result: Parameter = _model(Parameter, f"searchSpace[{name}].", data)
    return result


def minimize(metric: str, *, goal: float | None = None) -> Objective:
    """``objective``: ``metric`` is better smaller; ``goal`` stops the session once reached."""
    result: Objective = _model(
        Objective, "objective.", {"metric": metric, "direction": "minimize", "goal": goal}
    )
    return result


def maximize(metric: str, *, goal: float | None = None) -> Objective:
    """``objective``: ``metric`` is better larger."""
    result: Objective = _model(
        Objective, "objective.", {"metric": metric, "direction": "maximize", "goal": goal}
    )
    return result


def optimizer(type: str, **settings: Any) -> Optimizer:
    """``optimizer``: its ``type`` and settings by their Python or YAML names
    (``optimizer("bayesian", seed=7, n_startup_trials=5)``)."""
    result: Optimizer = _model(Optimizer, "optimizer.", {"type": type, **settings})
    return result


def objective_path(function: Callable[..., Any] | str) -> str:
    """``module:function`` for ``function``, checked importable; a string is taken as
    written (the spec checks its form, a local run's preflight that it loads)."""
    if isinstance(function, str):
        return function
    module = getattr(function, "__module__", None)
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    if not isinstance(module, str) or not isinstance(name, str):
        raise ObjectiveNotImportable(
            f"objective: {function!r} has no module and name; give a function of a module"
        )
    if module == "__main__":
        raise ObjectiveNotImportable(
            f"objective: {name} is defined in __main__ (a notebook cell or the script run),"
            " which a worker cannot import; put it in a module (a .py file next to the"
            " notebook, for example objectives.py), import it from there and pass that"
        )
    if not name.isidentifier():  # a lambda, a nested function (f.<locals>.g), a method
        raise ObjectiveNotImportable(
            f"objective: {module}.{name} is not a function at the top level of its module,"
            " which is how a worker finds it (module:function); define it with def there"
        )
    if getattr(importlib.import_module(module), name, None) is not function:
        raise ObjectiveNotImportable(
            f"objective: {module}:{name} does not name this function when imported;"
            " a worker would run another one"
        )
    return f"{module}:{name}"
