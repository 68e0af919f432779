"""Packing trials into worker Jobs: contiguous runs, remainder first, only the rest on a raise."""

from __future__ import annotations

from typing import Any

import pytest
from core_builders import Session

from builders import spec
from tuneop.core.planning.packing import even_split, job_sizes, next_job_size


def rand(total: int, **overrides: Any) -> Any:
    return spec(optimizer={"type": "random"}, totalTrials=total, **overrides)


@pytest.mark.parametrize(
    ("overrides", "total", "sizes"),
    [
        pytest.param({"workers": 2}, 6, [3, 3], id="6-over-2-workers"),
        pytest.param({"workers": 3}, 10, [4, 3, 3], id="10-over-3-workers-remainder-first"),
        pytest.param({"workers": 4}, 6, [2, 2, 1, 1], id="6-over-4-workers"),
        pytest.param({"workers": 10}, 5, [1, 1, 1, 1, 1], id="5-over-10-workers-no-empty-jobs"),
        pytest.param({"workers": 1}, 7, [7], id="one-worker-takes-all"),
        pytest.param({"trialsPerJob": 4}, 10, [4, 4, 2], id="4-per-job-last-smaller"),
        pytest.param({"trialsPerJob": 5}, 10, [5, 5], id="5-per-job-exact"),
        pytest.param({"trialsPerJob": 50}, 3, [3], id="per-job-above-budget"),
        pytest.param({}, 3, [1, 1, 1], id="default-one-trial-per-job"),
    ],
)
def test_job_sizes_split_the_budget(
    overrides: dict[str, Any], total: int, sizes: list[int]
) -> None:
    assert job_sizes(rand(total, **overrides), total) == sizes


@pytest.mark.parametrize(
    ("n", "bins", "expected"),
    [
        (10, 3, [4, 3, 3]),
        (11, 3, [4, 4, 3]),
        (9, 3, [3, 3, 3]),
        (2, 5, [1, 1]),
        (0, 3, []),
    ],
    ids=["one-extra", "two-extra", "even", "fewer-items-than-bins", "nothing"],
)
def test_even_split_gives_the_remainder_to_the_first_bins(
    n: int, bins: int, expected: list[int]
) -> None:
    assert even_split(n, bins) == expected


def test_jobs_hold_contiguous_trial_runs_in_order() -> None:
    s = Session(rand(10, workers=3, maxParallel=3))
    p = s.reconcile()
    assert [c.trials for c in p.create] == [(0, 1, 2, 3), (4, 5, 6), (7, 8, 9)]
    assert [c.index for c in p.create] == [0, 1, 2]


@pytest.mark.parametrize(
    ("overrides", "launched", "new_total", "next_size"),
    [
        # 6 over 2 workers launched job 0 (3 trials); at 10 the one worker left takes the 7 left.
        pytest.param({"workers": 2}, (1, 3), 10, 7, id="workers"),
        # Past the workers, what remains goes to one more Job.
        pytest.param({"workers": 2}, (2, 6), 10, 4, id="workers-exhausted"),
        pytest.param({"trialsPerJob": 4}, (3, 10), 14, 4, id="trials-per-job"),
        pytest.param({}, (3, 3), 5, 1, id="default"),
    ],
)
def test_raising_the_budget_packs_only_the_trials_not_launched(
    overrides: dict[str, Any], launched: tuple[int, int], new_total: int, next_size: int
) -> None:
    next_job, next_trial = launched
    assert next_job_size(rand(new_total, **overrides), new_total, next_job, next_trial) == next_size


def test_raising_the_budget_mid_session_keeps_launched_jobs_and_packs_the_rest() -> None:
    s = Session(rand(6, workers=2, maxParallel=1))
    first = s.reconcile()
    assert [c.trials for c in first.create] == [(0, 1, 2)]
    s.spec = rand(10, workers=2, maxParallel=1)
    s.finish(0)
    second = s.reconcile()
    # Job 0 keeps its 3 trials; the last worker takes all 7 that remain.
    assert [c.trials for c in second.create] == [(3, 4, 5, 6, 7, 8, 9)]
    assert second.status.jobs.total == 2


def test_launched_watermark_continues_after_jobs_are_gone() -> None:
    s = Session(rand(10, trialsPerJob=4, maxParallel=1))
    s.reconcile()
    s.finish(0)
    s.reconcile()  # harvests and deletes job 0, launches job 1
    assert list(s.jobs) == [1]
    assert (s.status.next_job, s.status.next_trial) == (2, 8)
