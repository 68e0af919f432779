"""The Pareto front of a session with several objectives, and its bounded copy in the status.

With several objectives (``spec.objectives``) there is no single best trial:
trial ``a`` *dominates* ``b`` when ``a`` is at least as good on every
objective and better on one. The Pareto front is the set of trials no other
trial dominates. ``front`` computes it over any items (result records for a
summary or a report, status entries for the ledger); equal values on every
objective are one point, held by the earliest trial (the ``tie`` order), and
only finite values take part.

The status keeps at most ``PARETO_FRONT_SIZE`` entries, however many trials
run and however wide the true front is. Like the leaderboard it is carried
forward and folded (``fold_front``): the entries kept so far and the results
harvested in this reconcile, front computed, and when more than the bound
remain, the most crowded are let go one at a time (NSGA-II's crowding
distance: the extremes of each objective always stay, and of two close
neighbours one goes), so the kept entries stay spread along the front. A
trial let go is not remembered, so a later trial it would have dominated can
enter the status's front; the result stores keep every trial, and ``tuneop
summary`` and the report compute the whole front from them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from tuneop.api.spec import SessionSpec
from tuneop.api.status import MAX_ENTRY_PARAMS_BYTES, PARETO_FRONT_SIZE, ParetoEntry
from tuneop.core.wire.contract import TrialResult

__all__ = ["crowding_cut", "dominates", "fold_front", "front"]

T = TypeVar("T")
# Crowding distances are recomputed after each removal; past this many points the
# cut first drops to it in one pass, so a wide batch costs n log n, not n squared.
_ONE_PASS_ABOVE = 200


def _signs(directions: Sequence[str]) -> tuple[float, ...]:
    """Each objective as a loss: maximized values are negated."""
    return tuple(1.0 if d == "minimize" else -1.0 for d in directions)


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether losses ``a`` dominate losses ``b``: no worse anywhere, better somewhere."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )


def front(
    items: Iterable[T],
    values: Callable[[T], Sequence[float] | None],
    directions: Sequence[str],
    tie: Callable[[T], tuple[Any, ...]],
) -> list[T]:
    """The non-dominated ``items``, sorted by the first objective (best first), then ``tie``.

    Items without a value for every objective, or with a non-finite one, take no part.
    """
    signs = _signs(directions)
    scored = []
    for item in items:
        v = values(item)
        if v is None or len(v) != len(signs) or not all(math.isfinite(x) for x in v):
            continue
        scored.append((tuple(s * x for s, x in zip(signs, v, strict=True)), tie(item), item))
    # In lexicographic order of losses a point can only be dominated by one before it,
    # and equal losses meet the earliest (by tie) first: that one holds the point.
    scored.sort(key=lambda e: (e[0], e[1]))
    kept: list[tuple[tuple[float, ...], tuple[Any, ...], T]] = []
    for loss, order, item in scored:
        if any(k[0] == loss or dominates(k[0], loss) for k in kept):
            continue
        kept.append((loss, order, item))
    return [item for _, _, item in kept]


def _crowding(points: Sequence[tuple[float, ...]]) -> list[float]:
    """NSGA-II's crowding distance of each point (infinite for each objective's extremes)."""
    n = len(points)
    dist = [0.0] * n
    for m in range(len(points[0]) if points else 0):
        order = sorted(range(n), key=lambda i: (points[i][m], i))
        low, high = points[order[0]][m], points[order[-1]][m]
        dist[order[0]] = dist[order[-1]] = math.inf
        if high == low:
            continue
        for k in range(1, n - 1):
            gap = (points[order[k + 1]][m] - points[order[k - 1]][m]) / (high - low)
            dist[order[k]] += gap
    return dist


def crowding_cut(
    items: Sequence[T], losses: Sequence[tuple[float, ...]], size: int, tie: Callable[[T], Any]
) -> list[T]:
    """At most ``size`` of a front's ``items`` (in their order), the most crowded let go:
    the smallest crowding distance first, of equals the latest by ``tie``."""
    alive = list(range(len(items)))
    while len(alive) > size:
        dist = _crowding([losses[i] for i in alive])
        rank = sorted(range(len(alive)), key=lambda k: (dist[k], _neg(tie(items[alive[k]]))))
        if len(alive) > _ONE_PASS_ABOVE:
            drop = set(rank[: len(alive) - max(size, _ONE_PASS_ABOVE)])
        else:
            drop = {rank[0]}
        alive = [i for k, i in enumerate(alive) if k not in drop]
    return [items[i] for i in alive]


def _neg(order: Any) -> tuple[Any, ...]:
    """A sort key that puts a later ``order`` (a trial number, or a tuple of them) first."""
    parts = order if isinstance(order, tuple) else (order,)
    return tuple(-p for p in parts)


def fold_front(
    spec: SessionSpec, kept: Sequence[ParetoEntry], new: Sequence[TrialResult]
) -> list[ParetoEntry]:
    """The status's front: ``kept`` and the succeeded ``new`` results, non-dominated, at
    most ``PARETO_FRONT_SIZE`` entries, by the first objective then the trial number."""
    directions = [o.direction for o in spec.all_objectives]
    entries = {e.trial: e for e in kept}
    for r in new:
        if r.succeeded and r.values is not None:
            entries[r.trial] = _entry(r)
    on_front = front(entries.values(), lambda e: e.values, directions, lambda e: (e.trial,))
    signs = _signs(directions)
    losses = [tuple(s * x for s, x in zip(signs, e.values, strict=True)) for e in on_front]
    return crowding_cut(on_front, losses, PARETO_FRONT_SIZE, lambda e: e.trial)


def _entry(r: TrialResult) -> ParetoEntry:
    assert r.values is not None
    params: dict[str, Any] | None = dict(r.params)
    omitted = None
    # Every entry drops wide params (the stores keep them): that bounds the status.
    if len(repr(params)) > MAX_ENTRY_PARAMS_BYTES:
        params, omitted = None, True
    return ParetoEntry(
        trial=r.trial,
        values=list(r.values),
        job_index=r.job_index,
        params=params,
        params_omitted=omitted,
    )
