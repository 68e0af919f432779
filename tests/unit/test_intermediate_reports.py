"""Intermediate reports and the Pruned outcome, as the operator reads them.

Tables over one builder (``step``): a worker log with intermediate lines is
parsed and harvested; a malformed line costs only its own point of a curve;
the steps kept per trial and the bytes kept per log are bounded; Katib's
``name=value`` text gives a curve too; a pruned trial keeps its last value,
is counted apart, and is never the best.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from core_builders import REF, job, line

from builders import spec
from tuneop.api.spec import MetricsCollector, Objective
from tuneop.api.status import TrialCounts
from tuneop.core.jobs.manifests import job_manifest
from tuneop.core.jobs.observed import JobState
from tuneop.core.planning.ledger import count, fold_leaderboard
from tuneop.core.results.harvest import harvest_job
from tuneop.core.results.records import normalize_record
from tuneop.core.wire.contract import Outcome, TrialResult, parse_log
from tuneop.core.wire.intermediate import (
    INTERMEDIATE_PREFIX,
    MAX_INTERMEDIATE_LINE_BYTES,
    MAX_INTERMEDIATE_METRICS,
    MAX_STEP,
    MAX_STEPS,
    curve_from_json,
    stdout_curve,
)
from tuneop.core.wire.logscan import INTERMEDIATE_BYTES, scan
from tuneop_runner import contract as runner_contract

ACC = Objective(metric="acc", direction="maximize")


def step(trial: Any, at: Any, value: Any = 0.5, metric: str = "acc", **extra: Any) -> str:
    """One intermediate line, as a worker prints it (no newline)."""
    body = {"trial": trial, "step": at, "metrics": {metric: value}, **extra}
    return INTERMEDIATE_PREFIX + json.dumps(body)


def harvested(log: str, trials: tuple[int, ...] = (0,)) -> tuple[TrialResult, ...]:
    j = job(0, JobState.SUCCEEDED, trials=trials, params=[{} for _ in trials])
    return harvest_job(j, [log], ACC)


def test_the_runner_and_the_operator_share_the_prefix_and_bounds() -> None:
    assert runner_contract.INTERMEDIATE_PREFIX == INTERMEDIATE_PREFIX
    assert runner_contract.MAX_INTERMEDIATE_METRICS == MAX_INTERMEDIATE_METRICS
    assert runner_contract.MAX_STEP == MAX_STEP


def test_a_trials_steps_become_its_curve_in_step_order() -> None:
    log = "\n".join(
        [step(0, 2, 0.7), "noise", step(0, 1, 0.6), step(1, 1, 0.1), line(0, 0.8, metric="acc")]
    )
    (res,) = harvested(log)
    assert res.outcome is Outcome.SUCCEEDED
    assert res.intermediate == ((1, 0.6), (2, 0.7))
    assert res.to_json("ns/demo", ACC)["intermediate"] == [[1, 0.6], [2, 0.7]]


def test_a_later_line_for_a_step_replaces_the_earlier_one() -> None:
    (res,) = harvested("\n".join([step(0, 1, 0.1), step(0, 1, 0.2), line(0, 1.0, metric="acc")]))
    assert res.intermediate == ((1, 0.2),)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(step(0, -1), id="negative-step"),
        pytest.param(step(0, True), id="bool-step"),
        pytest.param(step(0, 1.5), id="fractional-step"),
        pytest.param(step(0, MAX_STEP + 1), id="step-past-32-bits"),
        pytest.param(step(-1, 1), id="negative-trial"),
        pytest.param(step(0, 1, "high"), id="text-value"),
        pytest.param(INTERMEDIATE_PREFIX + '{"trial": 0, "step": 1}', id="no-metrics"),
        pytest.param(INTERMEDIATE_PREFIX + "[1, 2]", id="json-array"),
        pytest.param(INTERMEDIATE_PREFIX + '{"trial": 0, "st', id="truncated-json"),
        pytest.param(INTERMEDIATE_PREFIX + "[" * 5000, id="deep-nesting"),
        pytest.param(
            INTERMEDIATE_PREFIX
            + json.dumps({"trial": 0, "step": 1, "metrics": {f"m{i}": 1 for i in range(17)}}),
            id="too-many-metrics",
        ),
        pytest.param(step(0, 1, 0.5, note="x" * MAX_INTERMEDIATE_LINE_BYTES), id="too-long"),
    ],
)
def test_a_malformed_intermediate_line_costs_only_its_point(bad: str) -> None:
    log = "\n".join([bad, step(0, 2, 0.7), line(0, 0.8, metric="acc")])
    parsed = parse_log(log)
    assert parsed.intermediate_malformed == 1
    assert parsed.malformed == 0 and parsed.first_problem is None
    (res,) = harvested(log)
    assert res.outcome is Outcome.SUCCEEDED and res.intermediate == ((2, 0.7),)


def test_non_finite_values_are_no_point_of_the_curve() -> None:
    log = "\n".join([step(0, 1, None), step(0, 2, float("nan")), step(0, 3, 0.5)])
    (res,) = harvested(log + "\n" + line(0, 0.5, metric="acc"))
    assert res.intermediate == ((3, 0.5),)


def test_a_trial_keeps_at_most_its_first_max_steps() -> None:
    lines = [step(0, s, s / 10_000) for s in range(MAX_STEPS + 50)]
    parsed = parse_log("\n".join(lines))
    assert len(parsed.curves.steps[0]) == MAX_STEPS and parsed.curves.dropped == 50
    (res,) = harvested("\n".join([*lines, line(0, 0.5, metric="acc")]))
    assert res.intermediate[-1][0] == MAX_STEPS - 1


def test_a_log_keeps_a_bounded_amount_of_intermediate_lines_and_every_result() -> None:
    flood = "".join(step(t % 50, t, 0.5) + "\n" for t in range(200_000)).encode()
    kept = scan([flood, (line(3, 0.9, metric="acc") + "\n").encode()])
    assert len(kept.encode()) <= INTERMEDIATE_BYTES + 4096
    assert 3 in parse_log(kept).reports


@pytest.mark.parametrize(
    ("log", "curve"),
    [
        pytest.param("acc=0.5\nacc=0.6\n", ((1, 0.5), (2, 0.6)), id="counted-steps"),
        pytest.param("epoch=3 acc=0.5\nepoch 4 acc=0.6\n", ((2, 0.6), (3, 0.5)), id="epoch-named"),
        pytest.param("step=0 acc=0.1\nstep=7 acc=0.9 loss=2\n", ((0, 0.1), (7, 0.9)), id="step"),
        pytest.param("acc=\nloss=0.3\nacc=0.4\n", ((1, 0.4),), id="others-skipped"),
        pytest.param("epoch=1.5 acc=0.2\n", ((1, 0.2),), id="fractional-epoch-counted"),
        pytest.param("", (), id="empty"),
    ],
)
def test_katib_text_gives_a_curve_one_step_per_line_naming_the_metric(
    log: str, curve: tuple[tuple[int, float], ...]
) -> None:
    assert stdout_curve(log, "acc") == curve


def test_katib_text_keeps_at_most_max_steps() -> None:
    log = "".join(f"acc={i / 1e5}\n" for i in range(MAX_STEPS + 10))
    assert len(stdout_curve(log, "acc")) == MAX_STEPS


def test_a_stdout_collector_session_harvests_its_curve() -> None:
    collector = MetricsCollector(kind="StdOut")
    j = job(0, JobState.SUCCEEDED, params=[{"x": 1}])
    (res,) = harvest_job(j, ["epoch=1 acc=0.5\nepoch=2 acc=0.7\n"], ACC, collector)
    assert res.outcome is Outcome.SUCCEEDED and res.value == 0.7
    assert res.intermediate == ((1, 0.5), (2, 0.7))


@pytest.mark.parametrize(
    ("lines", "value"),
    [
        pytest.param([step(0, 1, 0.2), line(0, 0.3, "pruned", "acc")], 0.3, id="line-value"),
        pytest.param(
            [step(0, 1, 0.2), step(0, 2, 0.25), line(0, None, "pruned", "acc")],
            0.25,
            id="curve-value",
        ),
        pytest.param([line(0, None, "pruned", "acc")], None, id="no-value"),
    ],
)
def test_a_pruned_trial_keeps_its_last_value(lines: list[str], value: float | None) -> None:
    (res,) = harvested("\n".join(lines))
    assert res.outcome is Outcome.PRUNED and res.value == value


def test_a_pruned_trial_is_neither_failed_nor_succeeded_nor_the_best() -> None:
    pruned = TrialResult(0, 0, {"x": 0}, Outcome.PRUNED, value=0.99)
    ok = TrialResult(1, 1, {"x": 1}, Outcome.SUCCEEDED, value=0.5)
    c = count(TrialCounts(total=2), [pruned, ok])
    assert (c.pruned, c.succeeded, c.failed, c.done) == (1, 1, 0, 2)
    board = fold_leaderboard(
        spec(objective={"metric": "acc", "direction": "maximize"}), [], [pruned, ok]
    )
    assert [e.trial for e in board] == [1]


@pytest.mark.parametrize(
    ("stored", "curve"),
    [
        pytest.param([[1, 0.5], [2, 0.6]], [[1, 0.5], [2, 0.6]], id="kept"),
        pytest.param([[1, "x"], [True, 0.1], [-1, 0.1], [2], "s", [3, None]], None, id="dropped"),
        pytest.param("not a list", None, id="not-a-list"),
        pytest.param([[s, 0.1] for s in range(MAX_STEPS + 5)], MAX_STEPS, id="bounded"),
    ],
)
def test_a_stored_curve_is_read_back_bounded(stored: Any, curve: Any) -> None:
    record = normalize_record({"trial": 0, "intermediate": stored})
    assert record is not None
    got = record.get("intermediate")
    assert (len(got) if isinstance(curve, int) else got) == curve
    assert len(curve_from_json(stored)) <= MAX_STEPS


def test_a_jobs_worker_learns_the_pruner_and_gets_the_redis_url_from_a_secret() -> None:
    s = spec(
        objective={"metric": "acc", "direction": "maximize"},
        earlyStopping={
            "type": "hyperband",
            "maxResource": 30,
            "reductionFactor": 3,
            "redisUrlSecret": {"name": "redis", "key": "url"},
        },
    )
    manifest = job_manifest(s, REF, 0, (0,), [{"x": 0}])
    env = {e["name"]: e for e in manifest["spec"]["template"]["spec"]["containers"][0]["env"]}
    config = json.loads(env["TUNEOP_EARLY_STOPPING"]["value"])
    assert config["type"] == "hyperband" and config["direction"] == "maximize"
    assert config["settings"] == {"max_resource": 30, "reduction_factor": 3}
    assert config["study"].startswith("tuneop:ns/demo:uid-1:")
    assert env["TUNEOP_PRUNING_STORAGE"] == {
        "name": "TUNEOP_PRUNING_STORAGE",
        "valueFrom": {"secretKeyRef": {"name": "redis", "key": "url"}},
    }


def test_without_early_stopping_a_worker_gets_no_pruner() -> None:
    manifest = job_manifest(spec(), REF, 0, (0,), [{"x": 0}])
    names = {e["name"] for e in manifest["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert not names & {"TUNEOP_EARLY_STOPPING", "TUNEOP_PRUNING_STORAGE"}
