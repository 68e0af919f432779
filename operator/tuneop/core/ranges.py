"""Compressed sets of indexes, written like Kubernetes' ``completedIndexes``.

``"0-4,7,9-11"`` is the set {0,1,2,3,4,7,9,10,11}. Jobs are launched in index
order and finish roughly in order, so the set of harvested Jobs is a few runs
whatever the session's size: this keeps the status bounded.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable


def parse_ranges(text: str | None) -> set[int]:
    """Parse ``"0-4,7"``; raise ValueError on anything else."""
    out: set[int] = set()
    if not text:
        return out
    for part in text.split(","):
        lo, sep, hi = part.partition("-")
        a = int(lo)
        b = int(hi) if sep else a
        if a < 0 or b < a:
            raise ValueError(f"bad index range {part!r}")
        out.update(range(a, b + 1))
    return out


def format_ranges(indexes: Iterable[int]) -> str:
    runs: list[str] = []
    start = prev = None
    for i in sorted(set(indexes)):
        if prev is not None and i == prev + 1:
            prev = i
            continue
        if start is not None:
            runs.append(f"{start}" if start == prev else f"{start}-{prev}")
        start = prev = i
    if start is not None:
        runs.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ",".join(runs)


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
        runs = []
        for part in filter(None, (text or "").split(",")):
            lo, sep, hi = part.partition("-")
            a, b = int(lo), int(hi) if sep else int(lo)
            if a < 0 or b < a:
                raise ValueError(f"bad index range {part!r}")
            runs.append((a, b))
        return cls(runs)

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

    def format(self) -> str:
        return ",".join(
            str(a) if a == b else f"{a}-{b}" for a, b in zip(self._starts, self._ends, strict=True)
        )
