"""The operator's judge of running trials (``tuneop.judging``) over many reconciles.

With more running trials than one reconcile reads (``MAX_JUDGED``), every trial has its
turn: the least recently read go first. A trial an Optuna pruner stopped is given the
same verdict at every observe until its Job is gone, so a reconcile whose status write
conflicted, observing again at once, records the result it already stored, never the
trial running on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from tests.builders import REF, epochs_output, finished, job, stdout_spec

from tuneop.api.session import SessionRef
from tuneop.core.jobs.observed import JobState, ObservedJob
from tuneop.judging import MAX_JUDGED, RunningJudge
from tuneop.testing import MemoryResults

HALVING = {"type": "successiveHalving", "minResource": 1, "reductionFactor": 2}


@dataclass
class Printed:
    """What each running trial has printed; which Jobs were read, in order."""

    by_trial: dict[int, str] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)

    def first_output(self, ref: SessionRef, job: ObservedJob, limit: int) -> str | None:
        self.reads.append(job.name)
        return self.by_trial.get(job.trials[0], "")


@dataclass
class StepClock:
    """Each reading of the running time is a second later: a judgement costs seconds."""

    t: float = 0.0

    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)

    def monotonic(self) -> float:
        self.t += 1.0
        return self.t


def judge_with(printed: Printed, share: float) -> RunningJudge:
    store = MemoryResults()
    spec = stdout_spec(HALVING)
    store.persist(REF, spec, [finished(i, [1.0] * 4) for i in range(100, 104)])
    return RunningJudge(printed, store, StepClock(), share=share)


def test_with_more_running_than_one_read_every_trial_has_its_turn() -> None:
    printed = Printed()
    judge = judge_with(printed, share=1.0)  # each judgement may follow the one before
    running = [job(i) for i in range(MAX_JUDGED + 4)]
    judge.judge(REF, stdout_spec(HALVING), running)
    first = set(printed.reads)
    printed.reads.clear()
    judge.judge(REF, stdout_spec(HALVING), running)
    assert len(first) == MAX_JUDGED
    # The four not read the first time come first now.
    assert {j.name for j in running} - first <= set(printed.reads[:4])


def test_a_stopped_trial_keeps_its_verdict_until_its_job_is_gone() -> None:
    printed = Printed()
    judge = judge_with(printed, share=0.01)  # the next judgement waits 100 times its cost
    printed.by_trial[0] = epochs_output([9.0, 9.0, 9.0, 9.0])  # far worse than the finished
    spec = stdout_spec(HALVING)
    stopped = judge.judge(REF, spec, [job(0)])
    assert stopped[0].state is JobState.FAILED and stopped[0].results, stopped
    # Observed again at once (the status write conflicted): inside the pacing window.
    assert judge.judge(REF, spec, [job(0)]) == stopped
    # Its Job gone (deleted once the verdict was written): the verdict is forgotten, and a
    # Job of that name running again is left to the next judgement.
    assert judge.judge(REF, spec, []) == []
    assert judge.judge(REF, spec, [job(0)])[0].state is JobState.ACTIVE
