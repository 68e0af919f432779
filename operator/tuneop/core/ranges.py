"""Compressed sets of indexes, written like Kubernetes' ``completedIndexes``.

``"0-4,7,9-11"`` is the set {0,1,2,3,4,7,9,10,11}. Jobs are launched in index
order and finish roughly in order, so the set of harvested Jobs is a few runs
whatever the session's size: this keeps the status bounded.
"""

from __future__ import annotations

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
