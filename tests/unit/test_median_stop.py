"""Katib's median stop (``tuneop.core.planning.medianstop``), as Katib v0.19.0 decides it:
the rule is the mean of the succeeded trials' averages of their first ``startStep``
values, once ``minTrialsRequired`` trials succeeded; a running trial is judged once, on
the best of its first ``startStep`` values."""

from __future__ import annotations

import pytest

from tuneop.api.early_stopping import EarlyStopping
from tuneop.api.spec import parse_spec
from tuneop.core.jobs.observed import JobState, ObservedJob
from tuneop.core.planning.medianstop import Verdict, judge, judged_job, needs_judging, threshold
from tuneop.core.wire.contract import Outcome

ES = EarlyStopping(type="medianStop", min_trials_required=2, start_step=2)


def test_the_rule_is_the_mean_of_the_succeeded_trials_first_averages() -> None:
    curves = [((1, 4.0), (2, 2.0), (3, 0.0)), ((1, 2.0), (2, 2.0))]
    assert threshold(ES, curves) == pytest.approx((3.0 + 2.0) / 2)
    assert threshold(ES, curves[:1]) is None  # fewer than minTrialsRequired
    defaults = EarlyStopping(type="medianStop")  # Katib's 3 and 4
    assert threshold(defaults, curves) is None


@pytest.mark.parametrize(
    ("direction", "first", "verdict"),
    [
        ("minimize", [9.0], Verdict.WAIT),  # one value of two: later
        ("minimize", [9.0, 3.0], Verdict.STOP),  # best 3 > 2.5
        ("minimize", [9.0, 2.0], Verdict.KEEP),
        ("minimize", [9.0, 2.0, 100.0], Verdict.KEEP),  # only the first two count
        ("maximize", [1.0, 2.0], Verdict.STOP),  # best 2 < 2.5
        ("maximize", [1.0, 3.0], Verdict.KEEP),
    ],
)
def test_a_running_trial_is_judged_on_its_first_values(
    direction: str, first: list[float], verdict: Verdict
) -> None:
    assert judge(ES, direction, first, 2.5)[0] is verdict


def test_without_a_rule_a_trial_runs_on() -> None:
    assert judge(ES, "minimize", [9.0, 9.0], None)[0] is Verdict.KEEP


def test_a_stopped_job_is_finished_with_its_trial_pruned_and_its_curve() -> None:
    spec = parse_spec(
        {
            "objective": {"metric": "loss"},
            "searchSpace": [{"name": "x", "type": "float", "min": 0, "max": 1}],
            "totalTrials": 4,
            "metricsCollector": {"kind": "StdOut"},
            "earlyStopping": {"type": "medianStop", "minTrialsRequired": 2, "startStep": 2},
            "template": {
                "spec": {"containers": [{"name": "t", "image": "i", "command": ["train"]}]}
            },
        }
    )
    job = ObservedJob(index=3, name="j-3", trials=(3,), state=JobState.ACTIVE, params=({"x": 1},))
    assert needs_judging(spec, job)
    stopped, verdict = judged_job(spec, job, "epoch 1: loss=9\nepoch 2: loss=8\n", 2.5)
    assert verdict is Verdict.STOP and stopped.finished
    (result,) = stopped.results or ()
    assert result.outcome is Outcome.PRUNED and result.trial == 3
    assert result.intermediate == ((1, 9.0), (2, 8.0)) and result.value == 8.0
    kept, verdict = judged_job(spec, job, "loss=1\nloss=2\n", 2.5)
    assert verdict is Verdict.KEEP and kept is job
