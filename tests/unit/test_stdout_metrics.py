"""Katib's StdOut text format: name=value lines, per-metric strategies, the harvest."""

from __future__ import annotations

from typing import Any

import pytest

from builders import spec
from tuneop.api.spec import MetricsCollector
from tuneop.core.jobs.observed import JobState, ObservedJob
from tuneop.core.results.harvest import harvest_job
from tuneop.core.wire.contract import Outcome
from tuneop.core.wire.stdout_metrics import MAX_METRICS, stdout_metrics

TRAINING_LOG = """\
Epoch 1/3
accuracy=0.71
loss=0.90
epoch 2: accuracy=0.93 loss=0.41
Epoch 3 accuracy = 0.88 loss=4.1e-1
lr=0.01 done
"""


def collector(**strategies: str) -> MetricsCollector:
    listed = [{"name": k, "value": v} for k, v in strategies.items()]
    return MetricsCollector.model_validate({"kind": "StdOut", "metricStrategies": listed})


@pytest.mark.parametrize(
    ("log", "strategies", "expected"),
    [
        pytest.param(
            TRAINING_LOG, {}, {"accuracy": 0.88, "loss": 0.41, "lr": 0.01}, id="latest-by-default"
        ),
        pytest.param(TRAINING_LOG, {"accuracy": "max"}, {"accuracy": 0.93}, id="max"),
        pytest.param(TRAINING_LOG, {"loss": "min"}, {"loss": 0.41}, id="min"),
        pytest.param("a=1 b=2 a=3\n", {}, {"a": 3.0, "b": 2.0}, id="several-on-a-line"),
        pytest.param("x=\ny=abc\nz=-2.5E+2\n", {}, {"z": -250.0}, id="non-numbers-passed-over"),
        pytest.param("val-loss=0.3\n", {}, {"val-loss": 0.3}, id="dashes-in-names"),
        pytest.param("no metrics here\n", {}, {}, id="nothing"),
        # Go's regexp, as Katib's: \w is ASCII, so a name is read from its last ASCII run.
        pytest.param("précision=0.9\n", {}, {"cision": 0.9}, id="ascii-classes-as-katib"),
        pytest.param("loss=0.5acc=1\n", {}, {"loss": 0.5, "acc": 1.0}, id="back-to-back"),
    ],
)
def test_katib_text_format_keeps_each_metric_by_its_strategy(
    log: str, strategies: dict[str, str], expected: dict[str, float]
) -> None:
    got = stdout_metrics(log, collector(**strategies), "accuracy")
    assert {k: got[k] for k in expected} == pytest.approx(expected)
    assert set(got) >= set(expected)


def test_a_flood_of_names_is_bounded_and_the_objective_still_counts() -> None:
    log = "".join(f"m{i}=1\n" for i in range(5000)) + "accuracy=0.5\n"
    got = stdout_metrics(log, collector(), "accuracy")
    assert len(got) <= MAX_METRICS and got["accuracy"] == 0.5


def observed(state: JobState, reason: str | None = None) -> ObservedJob:
    return ObservedJob(0, "demo-0", (0,), state, params=({"x": 1},), reason=reason)


@pytest.mark.parametrize(
    ("state", "log", "outcome", "value"),
    [
        pytest.param(JobState.SUCCEEDED, "loss=0.5\nloss=0.25\n", Outcome.SUCCEEDED, 0.25, id="ok"),
        pytest.param(JobState.SUCCEEDED, "acc=1\n", Outcome.METRICS_UNAVAILABLE, None, id="no-obj"),
        pytest.param(JobState.FAILED, "loss=0.1\n", Outcome.FAILED, None, id="job-failed"),
    ],
)
def test_the_harvest_reads_a_katib_style_trial(
    state: JobState, log: str, outcome: Outcome, value: Any
) -> None:
    s = spec(metricsCollector={"kind": "StdOut"})
    (res,) = harvest_job(
        observed(state, "BackoffLimitExceeded"), [log], s.objective, s.metrics_collector
    )
    assert (res.outcome, res.value, res.params) == (outcome, value, {"x": 1})


def test_the_result_contract_ignores_katib_lines() -> None:
    s = spec()
    (res,) = harvest_job(
        observed(JobState.SUCCEEDED), ["loss=0.1\n"], s.objective, s.metrics_collector
    )
    assert res.outcome is Outcome.FAILED
