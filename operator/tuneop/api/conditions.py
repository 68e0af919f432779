"""Conditional parameters: a parameter that exists only when others hold given values.

A parameter's ``when`` maps parent parameter names to the values under which it is
active, e.g. ``when: {optimizer: sgd}`` or ``when: {optimizer: [sgd, rmsprop]}``;
with several parents every one must hold (and, through them, be active itself).
A trial's params hold exactly its active parameters: an inactive one is absent.

Parents are discrete (categorical, or int with at most ``MAX_CATEGORICAL_VALUES``
values): a condition on a continuous draw would hold with probability zero. The
condition's values must be values the parent can take. The parents form no cycle.

``evaluation_order`` puts every parent before the parameters that depend on it (and
keeps ``searchSpace`` order otherwise): the order a define-by-run sampler asks in, and
the odometer order of a conditional grid, which holds every distinct active
combination once (``ConditionalGrid``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence

from tuneop.api.parameters import MAX_CATEGORICAL_VALUES, Parameter, Scalar

__all__ = [
    "ConditionalGrid",
    "active_set_problem",
    "conditional",
    "conditional_grid",
    "conditions_problem",
    "describe",
    "draw",
    "evaluation_order",
    "is_active",
    "placeholder_values",
    "project",
]

Params = dict[str, Scalar]


def _key(v: object) -> tuple[str, object]:
    """A value as a condition compares it: 2 and 2.0 alike (a record may say either),
    a boolean never a number."""
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int | float):
        return ("number", float(v))
    return ("text", v)


def conditional(space: Sequence[Parameter]) -> bool:
    """Whether any parameter of ``space`` has a ``when``."""
    return any(p.when for p in space)


def is_active(p: Parameter, params: Mapping[str, object]) -> bool:
    """Whether ``p`` is active given the (active) params decided so far."""
    for parent, values in p.condition().items():
        if parent not in params or _key(params[parent]) not in {_key(v) for v in values}:
            return False
    return True


def evaluation_order(space: Sequence[Parameter]) -> list[Parameter]:
    """``space`` with every parent before its dependants, otherwise as written (valid
    spaces only: ``conditions_problem`` refuses cycles)."""
    placed: list[Parameter] = []
    done: set[str] = set()
    rest = list(space)
    while rest:
        ready = next(p for p in rest if set(p.condition()) <= done)
        placed.append(ready)
        done.add(ready.name)
        rest.remove(ready)
    return placed


def project(space: Sequence[Parameter], params: Mapping[str, Scalar]) -> Params:
    """``params`` without the parameters its own values make inactive, in spec order."""
    kept: Params = {}
    for p in evaluation_order(space):
        if p.name in params and is_active(p, kept):
            kept[p.name] = params[p.name]
    return {p.name: kept[p.name] for p in space if p.name in kept}


def draw(space: Sequence[Parameter], pick: Callable[[Parameter], Scalar]) -> Params:
    """Define-by-run: ``pick`` asked for each active parameter, parents first."""
    out: Params = {}
    for p in evaluation_order(space):
        if is_active(p, out):
            out[p.name] = pick(p)
    return {p.name: out[p.name] for p in space if p.name in out}


def placeholder_values(space: Sequence[Parameter], params: Mapping[str, Scalar]) -> Params:
    """What ``${params.NAME}`` placeholders take: the trial's params, and an empty string
    for a parameter of ``space`` the trial does not hold (an inactive one), so a command
    such as ``--momentum=${params.momentum}`` never reaches a trial unreplaced."""
    return {**{p.name: "" for p in space}, **params}


def describe(p: Parameter) -> str:
    """When ``p`` is active, in words ("only when optimizer is sgd"); "" when always."""

    def shown(v: Scalar) -> str:
        return v if isinstance(v, str) else json.dumps(v)

    terms = [
        f"{k} is {shown(v[0])}" if len(v) == 1 else f"{k} is one of {', '.join(map(shown, v))}"
        for k, v in p.condition().items()
    ]
    return f"only when {' and '.join(terms)}" if terms else ""


def active_set_problem(params: Mapping[str, Scalar], space: Sequence[Parameter]) -> str | None:
    """Why ``params`` is not exactly the active set its own values make, or None."""
    kept = project(space, params)
    if missing := sorted(p.name for p in space if p.name not in params and is_active(p, kept)):
        return f"{missing[0]}: missing (active here, so it needs a value)"
    if extra := sorted(set(params) - set(kept)):
        return f"{extra[0]}: inactive here (its when does not hold), so it takes no value"
    return None


def _parent_problem(parent: Parameter, values: Sequence[Scalar]) -> str | None:
    """Why ``parent`` cannot decide a parameter, or a value is not one it takes, or None."""
    size = parent.grid_size()
    discrete = parent.type == "categorical" or (parent.type == "int" and not parent.gaussian)
    if not discrete or size is None or size > MAX_CATEGORICAL_VALUES:
        # A continuous draw would meet a condition with probability zero; a wide int
        # would make a grid's counts (one per value of each parent) large.
        why = (
            f"{parent.name} has {size:,} values"
            if discrete and size
            else f"{parent.name} is continuous"
        )
        return (
            f"the parent must be categorical or an int of at most"
            f" {MAX_CATEGORICAL_VALUES} values ({why})"
        )
    takes = {_key(parent.grid_value(k)) for k in range(size)}
    for v in values:
        if _key(v) not in takes:
            return f"{json.dumps(v)} is not a value of {parent.name}"
    return None


def _cycle(space: Sequence[Parameter]) -> list[str] | None:
    """A cycle of parents, as the names along it (the first repeated last), or None."""
    by_name = {p.name: p for p in space}
    state: dict[str, bool] = {}  # False while on the path being walked, True once done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = False
        path.append(name)
        for parent in by_name[name].condition():
            if parent in by_name and state.get(parent) is False:
                return [*path[path.index(parent) :], parent]
            if parent in by_name and parent not in state and (found := visit(parent)):
                return found
        path.pop()
        state[name] = True
        return None

    for p in space:
        if p.name not in state and (found := visit(p.name)):
            return found
    return None


def conditions_problem(space: Sequence[Parameter], resource: str | None = None) -> str | None:
    """Why the ``when`` of ``space``'s parameters cannot hold, as one line, or None.

    Hyperband's ``resource`` parameter is set on every trial and changed between rungs,
    so it is neither conditional nor a parent. Parameter names are unique first: a parent
    is found by its name."""
    names = [p.name for p in space]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        return f"searchSpace: parameter names must be unique ({dupes[0]})"
    by_name = {p.name: p for p in space}
    for i, p in enumerate(space):
        if p.when and p.name == resource:
            return (
                f"searchSpace[{i}].when: the hyperband resource is in every trial, not conditional"
            )
        if resource is not None and resource in p.condition():
            return f"searchSpace[{i}].when.{resource}: the hyperband resource cannot be a parent"
        for parent, values in p.condition().items():
            field = f"searchSpace[{i}].when.{parent}"
            if parent not in by_name:
                return f"{field}: must name a parameter of searchSpace ({parent} is not one)"
            if why := _parent_problem(by_name[parent], values):
                return f"{field}: {why}"
    if cycle := _cycle(space):
        first = next(i for i, p in enumerate(space) if p.name == cycle[0])
        return f"searchSpace[{first}].when: parents form a cycle ({' -> '.join(cycle)})"
    return None


class ConditionalGrid:
    """Every distinct active combination of a conditional grid, numbered in odometer
    order over ``evaluation_order`` (the last parameter varies fastest).

    Counting the combinations below a parameter depends only on the parents' values
    chosen so far, so the counts are kept per (position, parents' values): a grid of
    millions of points is counted in as many steps as its parents have combinations.
    """

    def __init__(self, space: Sequence[Parameter]) -> None:
        self.space = list(space)
        self.order = evaluation_order(space)
        self.parents = {n for p in space for n in p.condition()}
        self.sizes = [p.grid_size() or 0 for p in self.order]
        self._counts: dict[tuple[int, tuple[tuple[str, Scalar], ...]], int] = {}

    def size(self) -> int:
        """How many distinct trials the grid holds."""
        return self._count(0, ())

    def _count(self, k: int, chosen: tuple[tuple[str, Scalar], ...]) -> int:
        if k == len(self.order):
            return 1
        if (k, chosen) in self._counts:
            return self._counts[(k, chosen)]
        p = self.order[k]
        if not is_active(p, dict(chosen)):
            n = self._count(k + 1, chosen)
        elif p.name in self.parents:
            n = sum(
                self._count(k + 1, (*chosen, (p.name, p.grid_value(j))))
                for j in range(self.sizes[k])
            )
        else:
            n = self.sizes[k] * self._count(k + 1, chosen)
        self._counts[(k, chosen)] = n
        return n

    def point(self, i: int) -> Params:
        """Trial ``i``'s params: the ``i``-th combination, only its active parameters."""
        out: Params = {}
        chosen: tuple[tuple[str, Scalar], ...] = ()
        rest = i
        for k, p in enumerate(self.order):
            if not is_active(p, dict(chosen)):
                continue
            if p.name not in self.parents:
                j, rest = divmod(rest, self._count(k + 1, chosen))
                out[p.name] = p.grid_value(j)
                continue
            for j in range(self.sizes[k]):
                below = self._count(k + 1, (*chosen, (p.name, p.grid_value(j))))
                if rest < below:
                    break
                rest -= below
            out[p.name] = p.grid_value(j)
            chosen = (*chosen, (p.name, out[p.name]))
        return {p.name: out[p.name] for p in self.space if p.name in out}


@functools.lru_cache(maxsize=32)
def _grid_of(space_json: str) -> ConditionalGrid:
    space = [Parameter.model_validate(p) for p in json.loads(space_json)]
    return ConditionalGrid(space)


def conditional_grid(space: Sequence[Parameter]) -> ConditionalGrid:
    """The (cached) conditional grid of ``space``: its counts are kept between trials."""
    text = json.dumps([p.model_dump(by_alias=True, exclude_none=True) for p in space])
    return _grid_of(text)
