"""Packing trials into worker Jobs.

Trials are numbered 0..budget-1 and assigned to Jobs in order, so Job ``j``
always holds a contiguous run of trials. By default each Job runs one trial;
``trialsPerJob: k`` packs k per Job (the last may hold fewer); ``workers: N``
splits the budget as evenly as possible over N Jobs, the first ones taking the
remainder (10 over 3 → 4, 3, 3).

Packing is computed from the watermark (Jobs and trials launched so far), so a
budget raised mid-session packs only the trials not yet launched, and a
restarted operator continues exactly where the last one stopped.
"""

from __future__ import annotations

import math

from tuneop.api.spec import SessionSpec

__all__ = [
    "even_split",
    "job_at",
    "job_count",
    "job_sizes",
    "jobs_left",
    "next_job_size",
]


def even_split(n: int, workers: int) -> list[int]:
    """``n`` items over ``workers`` bins, the first bins taking the remainder; no empty bins."""
    if n <= 0:
        return []
    workers = min(workers, n)
    base, extra = divmod(n, workers)
    return [base + 1 if i < extra else base for i in range(workers)]


def next_job_size(spec: SessionSpec, budget: int, next_job: int, next_trial: int) -> int:
    """How many trials the next Job (index ``next_job``) takes; 0 when the budget is launched."""
    remaining = budget - next_trial
    if remaining <= 0:
        return 0
    if spec.trials_per_job is not None:
        return min(spec.trials_per_job, remaining)
    if spec.workers is not None:
        # Splitting what remains over the workers not yet launched reproduces the
        # original split exactly, and degrades gracefully when the budget changes.
        return even_split(remaining, max(spec.workers - next_job, 1))[0]
    return 1


def job_count(spec: SessionSpec, budget: int) -> int:
    """How many Jobs the layout of an unchanged ``budget`` has, without walking it."""
    if budget <= 0:
        return 0
    if spec.trials_per_job is not None:
        return -(-budget // spec.trials_per_job)
    if spec.workers is not None:
        return min(spec.workers, budget)
    return budget


def job_at(spec: SessionSpec, budget: int, index: int) -> tuple[int, int]:
    """Job ``index``'s first trial and size in the layout of an unchanged ``budget``.

    The closed form of walking ``next_job_size`` from the start: the same layout in
    constant time, so a view of a ten-million-trial session costs what a small one does.
    """
    if spec.trials_per_job is not None:
        first = index * spec.trials_per_job
        return first, min(spec.trials_per_job, budget - first)
    if spec.workers is not None:
        base, extra = divmod(budget, min(spec.workers, budget))
        return index * base + min(index, extra), base + (1 if index < extra else 0)
    return index, 1


def job_sizes(spec: SessionSpec, budget: int) -> list[int]:
    """The whole layout of a session that never changes its budget."""
    sizes: list[int] = []
    trial = 0
    while (size := next_job_size(spec, budget, len(sizes), trial)) > 0:
        sizes.append(size)
        trial += size
    return sizes


def jobs_left(spec: SessionSpec, remaining: int, next_job: int) -> int:
    """How many more Jobs ``remaining`` unlaunched trials need, from Job ``next_job`` on."""
    if remaining <= 0:
        return 0
    if spec.trials_per_job is not None:
        return math.ceil(remaining / spec.trials_per_job)
    if spec.workers is not None:
        return min(remaining, max(spec.workers - next_job, 1))
    return remaining
