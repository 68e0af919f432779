"""Ranking trials: one order for the status leaderboard and for result summaries.

Best first: the lowest value when minimizing, the highest when maximizing.
Only finite values take part (a NaN would make the order depend on where it
sits). Equal values keep a stable order given by the caller's tie-break: the
trial number for the leaderboard, session then trial for summaries over
several sessions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from tuneop.core.wire.contract import TrialResult

__all__ = ["rank_all", "rank_by"]

T = TypeVar("T")


def rank_by(
    items: Iterable[T],
    value: Callable[[T], float | None],
    direction: str,
    tie: Callable[[T], tuple[Any, ...]],
) -> list[T]:
    """``items`` with a finite ``value``, best first; equal values in ``tie`` order."""
    sign = 1.0 if direction == "minimize" else -1.0
    scored = [(v, item) for item in items if (v := value(item)) is not None and math.isfinite(v)]
    scored.sort(key=lambda vi: (sign * vi[0], tie(vi[1])))
    return [item for _, item in scored]


def rank_all(results: Iterable[TrialResult], direction: str) -> list[TrialResult]:
    """Every result: the succeeded ones with a finite value best first (ties by trial),
    then the rest by trial. Hyperband ranks a rung so, and pbt a generation: a failed
    trial is never ahead of a success, and still has a place."""
    items = list(results)
    best = rank_by(
        [r for r in items if r.succeeded], lambda r: r.value, direction, lambda r: (r.trial,)
    )
    ranked = {r.trial for r in best}
    return best + sorted((r for r in items if r.trial not in ranked), key=lambda r: r.trial)
