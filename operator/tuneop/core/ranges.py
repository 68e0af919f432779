"""Index ranges as text: the one codec for every ``"a-b"`` the operator writes.

A range is ``"12-15"`` (first and last, inclusive) or ``"7"`` for one index.
Three places write them, all through this module:

- the harvested-Job ledger in the status, a set of ranges written like
  Kubernetes' ``completedIndexes``: ``"0-4,7,9-11"`` is {0,1,2,3,4,7,9,10,11}.
  Jobs are launched in index order and finish roughly in order, so the set is
  a few runs whatever the session's size, which keeps the status bounded;
- the in-flight map in the status, each launched, unharvested Job with its
  trials: ``"5=12-15,6=16"``; a retry Job runs the failed trials of a Job,
  which need not be consecutive, and has one entry per run: ``"9=12,9=14"``;
- the ``tuneop.dev/trials`` annotation on a worker Job: ``"12-15"``, or a set
  of runs, ``"12,14"``, for a retry Job.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping

__all__ = [
    "IndexSet",
    "format_inflight",
    "format_range",
    "format_ranges",
    "parse_inflight",
    "parse_range",
    "parse_ranges",
]


def format_range(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"


def parse_range(text: str) -> tuple[int, int]:
    """``"12-15"`` → (12, 15), ``"7"`` → (7, 7); ValueError unless 0 <= first <= last."""
    lo, sep, hi = text.partition("-")
    first = int(lo)
    last = int(hi) if sep else first
    if first < 0 or last < first:
        raise ValueError(f"bad index range {text!r}")
    return first, last


def _runs(text: str | None) -> list[tuple[int, int]]:
    return [parse_range(part) for part in text.split(",")] if text else []


def parse_ranges(text: str | None) -> set[int]:
    """Parse ``"0-4,7"``; raise ValueError on anything else."""
    return {i for a, b in _runs(text) for i in range(a, b + 1)}


def format_ranges(indexes: Iterable[int]) -> str:
    runs: list[str] = []
    start = prev = None
    for i in sorted(set(indexes)):
        if prev is not None and i == prev + 1:
            prev = i
            continue
        if start is not None and prev is not None:
            runs.append(format_range(start, prev))
        start = prev = i
    if start is not None and prev is not None:
        runs.append(format_range(start, prev))
    return ",".join(runs)


def parse_inflight(text: str) -> dict[int, tuple[int, ...]]:
    """``"5=12-14,6=16,6=18"`` → {5: (12, 13, 14), 6: (16, 18)}: each Job's trials."""
    out: dict[int, set[int]] = {}
    for part in filter(None, text.split(",")):
        job, _, trials = part.partition("=")
        a, b = parse_range(trials)
        out.setdefault(int(job), set()).update(range(a, b + 1))
    return {j: tuple(sorted(ts)) for j, ts in out.items()}


def format_inflight(jobs: Mapping[int, tuple[int, ...]]) -> str:
    return ",".join(
        f"{j}={run}"
        for j, trials in sorted(jobs.items())
        for run in format_ranges(trials).split(",")
    )


class IndexSet:
    """A set of indexes stored as sorted disjoint runs: cheap however many it holds.

    The planner reads the harvested-Job ledger on every reconcile; expanding a
    100,000-Job session into a Python set each time would cost more than the
    rest of the plan, so membership is a binary search over runs instead.
    """

    def __init__(self, runs: list[tuple[int, int]] | None = None) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for a, b in sorted(runs or []):
            self._append(a, b)

    def _append(self, a: int, b: int) -> None:
        if self._ends and a <= self._ends[-1] + 1:
            self._ends[-1] = max(self._ends[-1], b)
        else:
            self._starts.append(a)
            self._ends.append(b)

    @classmethod
    def parse(cls, text: str | None) -> IndexSet:
        return cls(_runs(text))

    def __contains__(self, i: object) -> bool:
        if not isinstance(i, int):
            return False
        k = bisect.bisect_right(self._starts, i) - 1
        return k >= 0 and i <= self._ends[k]

    def __len__(self) -> int:
        return sum(b - a + 1 for a, b in zip(self._starts, self._ends, strict=True))

    def add(self, i: int) -> None:
        if i in self:
            return
        k = bisect.bisect_right(self._starts, i)
        self._starts.insert(k, i)
        self._ends.insert(k, i)
        # Merge with the neighbours the new index touches.
        if k + 1 < len(self._starts) and self._starts[k + 1] == i + 1:
            self._ends[k] = self._ends.pop(k + 1)
            self._starts.pop(k + 1)
        if k > 0 and self._ends[k - 1] == i - 1:
            self._ends[k - 1] = self._ends.pop(k)
            self._starts.pop(k)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IndexSet):
            return NotImplemented
        return (self._starts, self._ends) == (other._starts, other._ends)

    __hash__ = None  # type: ignore[assignment]  # equal by value, and not frozen

    def plus(self, indexes: Iterable[int]) -> IndexSet:
        """A new set: this one and ``indexes`` (this one is left as it is)."""
        out = IndexSet()
        out._starts, out._ends = list(self._starts), list(self._ends)
        for i in indexes:
            out.add(i)
        return out

    def format(self) -> str:
        return ",".join(format_range(a, b) for a, b in zip(self._starts, self._ends, strict=True))
