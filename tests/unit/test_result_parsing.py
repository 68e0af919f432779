"""The result contract as read by the operator: parse, classify, harvest, golden logs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from core_builders import job, line

from tuneop.api.spec import Objective
from tuneop.core.jobs.observed import JobState
from tuneop.core.results.harvest import harvest_job
from tuneop.core.wire.contract import (
    LOG_TAIL_BYTES,
    RESULT_PREFIX,
    TRIAL_FAILURES,
    Outcome,
    TrialReport,
    TrialResult,
    classify,
    parse_log,
)
from tuneop_runner.contract import RESULT_PREFIX as RUNNER_PREFIX

LOSS = Objective(metric="loss")
OK1 = line(1, 0.5)
OK2 = line(2, 0.25)


@pytest.mark.parametrize(
    ("log", "trials", "malformed"),
    [
        pytest.param(f"{OK1}\n{OK2}\n", {1, 2}, 0, id="two-results"),
        pytest.param(f"{OK1}\n{OK2}", {1, 2}, 0, id="no-final-newline"),
        pytest.param(f"{OK1}\r\n{OK2}\r\n", {1, 2}, 0, id="crlf"),
        pytest.param(f"epoch 1\n{OK1}\nwarning: x\n\n{OK2}\nbye\n", {1, 2}, 0, id="noise"),
        pytest.param(f"50%\r{OK1}\n", {1}, 0, id="carriage-return-progress-bar"),
        pytest.param(f'{OK1}\n{RESULT_PREFIX}{{"trial": 2, "metr\n', {1}, 1, id="truncated-json"),
        pytest.param(f"{RESULT_PREFIX}not json at all\n{OK2}\n", {2}, 1, id="not-json"),
        pytest.param(f"{RESULT_PREFIX}[1, 2]\n", set(), 1, id="json-array"),
        pytest.param(line(-1) + "\n", set(), 1, id="negative-trial"),
        pytest.param(line(True) + "\n", set(), 1, id="bool-trial"),
        pytest.param(line("3") + "\n", set(), 1, id="string-trial"),
        pytest.param(line(1, status="crashed") + "\n", set(), 1, id="unknown-status"),
        pytest.param(line(1, params=[1]) + "\n", set(), 1, id="params-not-object"),
        pytest.param(line(1, metrics=5) + "\n", set(), 1, id="metrics-not-object"),
        pytest.param(f"INFO {OK1}\n", set(), 0, id="prefix-not-at-line-start"),
        pytest.param("TUNEOP_RESULTS {}\n", set(), 0, id="similar-prefix"),
        pytest.param(b"\xff\xfe garbage\n" + OK1.encode() + b"\n", {1}, 0, id="invalid-utf8-noise"),
        pytest.param("", set(), 0, id="empty"),
    ],
)
def test_parse_log_keeps_contract_lines_and_counts_malformed_ones(
    log: str | bytes, trials: set[int], malformed: int
) -> None:
    parsed = parse_log(log)
    assert set(parsed.reports) == trials
    assert parsed.malformed == malformed
    assert (parsed.first_problem is not None) == (malformed > 0)
    assert parsed.truncated is False


def test_first_problem_names_the_contract_and_the_error() -> None:
    parsed = parse_log(f"{line(1, status='crashed')}\n{RESULT_PREFIX}{{oops\n")
    assert parsed.malformed == 2
    assert parsed.first_problem is not None
    assert parsed.first_problem.startswith("malformed TUNEOP_RESULT line: status")


@pytest.mark.parametrize(
    ("lines", "outcome"),
    [
        pytest.param([line(4, 1.0, "failed"), line(4, 2.0)], "succeeded", id="retry-succeeded"),
        pytest.param([line(4, 2.0), line(4, 1.0, "failed")], "failed", id="later-failure"),
    ],
)
def test_the_last_line_for_a_trial_wins(lines: list[str], outcome: str) -> None:
    assert parse_log("\n".join(lines)).reports[4].status == outcome


def test_a_huge_log_is_read_whole_and_keeps_a_result_from_before_the_noise() -> None:
    # Read line by line in memory bounded per trial, not from a tail: a result printed
    # before megabytes of output is still found.
    noise = ("x" * 99 + "\n") * (5 * 1024 * 1024 // 100)
    log = f"{line(0, 9.0)}\n{noise}{OK1}\n{OK2}\n"
    assert len(log) > LOG_TAIL_BYTES
    parsed = parse_log(log)
    assert set(parsed.reports) == {0, 1, 2}
    assert parsed.malformed == 0 and parsed.truncated is False


@pytest.mark.parametrize("sep", ["\u2028", "\u2029", "\x85"], ids=["LS", "PS", "NEL"])
def test_unicode_line_separators_inside_a_json_string_do_not_split_the_line(sep: str) -> None:
    raw = RESULT_PREFIX + json.dumps(
        {"trial": 1, "metrics": {"loss": 1}, "status": "succeeded", "error": f"a{sep}b"},
        ensure_ascii=False,
    )
    parsed = parse_log(raw + "\n")
    assert parsed.reports[1].error == f"a{sep}b"


# ---- classify


def classified(raw: str) -> TrialResult:
    parsed = parse_log(raw)
    assert parsed.malformed == 0, parsed.first_problem
    return classify(parsed.reports[1], job_index=7, objective=LOSS)


def raw_line(status: str = "succeeded", metrics: str = '{"loss": 1.5}', **extra: Any) -> str:
    tail = "".join(f", {json.dumps(k)}: {json.dumps(v)}" for k, v in extra.items())
    return f'{RESULT_PREFIX}{{"trial": 1, "status": "{status}", "metrics": {metrics}{tail}}}'


@pytest.mark.parametrize(
    ("raw", "outcome", "value"),
    [
        pytest.param(raw_line(), Outcome.SUCCEEDED, 1.5, id="float"),
        pytest.param(raw_line(metrics='{"loss": 3}'), Outcome.SUCCEEDED, 3.0, id="int"),
        pytest.param(raw_line(metrics='{"loss": -0.0}'), Outcome.SUCCEEDED, 0.0, id="zero"),
        pytest.param(
            raw_line(metrics='{"loss": NaN}'), Outcome.METRICS_UNAVAILABLE, None, id="nan"
        ),
        pytest.param(
            raw_line(metrics='{"loss": Infinity}'), Outcome.METRICS_UNAVAILABLE, None, id="inf"
        ),
        pytest.param(
            raw_line(metrics='{"loss": -Infinity}'), Outcome.METRICS_UNAVAILABLE, None, id="-inf"
        ),
        pytest.param(raw_line(metrics='{"acc": 1}'), Outcome.METRICS_UNAVAILABLE, None, id="other"),
        pytest.param(raw_line(metrics="{}"), Outcome.METRICS_UNAVAILABLE, None, id="no-metrics"),
        pytest.param(
            raw_line(metrics='{"loss": null}'), Outcome.METRICS_UNAVAILABLE, None, id="null"
        ),
        pytest.param(
            raw_line(metrics='{"loss": "1.0"}'), Outcome.METRICS_UNAVAILABLE, None, id="str"
        ),
        pytest.param(
            raw_line(metrics='{"loss": true}'), Outcome.METRICS_UNAVAILABLE, None, id="bool"
        ),
        pytest.param(
            raw_line(metrics='{"loss": [1]}'), Outcome.METRICS_UNAVAILABLE, None, id="list"
        ),
        pytest.param(raw_line("failed"), Outcome.FAILED, None, id="status-failed"),
        pytest.param(raw_line("timeout"), Outcome.TIMED_OUT, None, id="status-timeout"),
    ],
)
def test_classify_separates_success_failure_timeout_and_unusable_metrics(
    raw: str, outcome: Outcome, value: float | None
) -> None:
    r = classified(raw)
    assert (r.outcome, r.value, r.job_index, r.trial) == (outcome, value, 7, 1)
    assert r.succeeded is (outcome is Outcome.SUCCEEDED)
    if outcome is not Outcome.SUCCEEDED:
        assert r.error  # every unsuccessful trial says why


def test_metrics_unavailable_names_the_metric_and_is_not_a_plain_failure() -> None:
    r = classified(raw_line(metrics='{"loss": NaN}'))
    assert r.outcome is Outcome.METRICS_UNAVAILABLE and r.outcome is not Outcome.FAILED
    assert r.error is not None and "'loss'" in r.error and "finite" in r.error
    assert Outcome.METRICS_UNAVAILABLE in TRIAL_FAILURES  # it does spend maxFailedTrials


def test_a_failed_trial_keeps_its_reported_error_and_metrics() -> None:
    r = classified(raw_line("failed", error="ZeroDivisionError: x", durationSeconds=2))
    assert (r.error, r.metrics, r.duration_seconds) == ("ZeroDivisionError: x", {"loss": 1.5}, 2.0)


def test_a_huge_error_message_is_cut() -> None:
    r = classified(raw_line("failed", error="e" * 10_000))
    assert r.error is not None and 0 < len(r.error) <= 2000


def test_maximize_objective_reads_the_same_metric() -> None:
    parsed = parse_log(raw_line(metrics='{"pnl": 12}'))
    r = classify(parsed.reports[1], 0, Objective(metric="pnl", direction="maximize"))
    assert (r.outcome, r.value) == (Outcome.SUCCEEDED, 12.0)


# ---- harvest


def two_trial_job(state: JobState = JobState.FAILED, **kw: Any) -> Any:
    return job(3, state, trials=(6, 7), params=({"x": 6}, {"x": 7}), **kw)


@pytest.mark.parametrize(
    ("logs", "kw", "outcome", "why"),
    [
        pytest.param(None, {}, Outcome.RESULTS_LOST, "gone before", id="pods-gone"),
        pytest.param(
            ["node drained\n"],
            {"infra_reason": "Evicted"},
            Outcome.INFRASTRUCTURE,
            "Evicted",
            id="infrastructure",
        ),
        pytest.param(
            [""],
            {"reason": "DeadlineExceeded"},
            Outcome.TIMED_OUT,
            "activeDeadlineSeconds",
            id="job-deadline",
        ),
        pytest.param(
            ["Traceback: boom\n"],
            {"reason": "BackoffLimitExceeded"},
            Outcome.FAILED,
            "exited without reporting this trial (BackoffLimitExceeded)",
            id="crashed",
        ),
        pytest.param(
            [f"{RESULT_PREFIX}{{broken\n"],
            {},
            Outcome.FAILED,
            "malformed TUNEOP_RESULT line",
            id="malformed-line-explains",
        ),
        pytest.param([], {}, Outcome.FAILED, "without reporting", id="no-pods-logged"),
    ],
)
def test_a_trial_that_never_reported_is_classified_from_its_job(
    logs: list[str] | None, kw: dict[str, Any], outcome: Outcome, why: str
) -> None:
    results = harvest_job(two_trial_job(**kw), logs, LOSS)
    assert [r.trial for r in results] == [6, 7]
    assert [r.outcome for r in results] == [outcome, outcome]
    assert all(r.error is not None and why in r.error for r in results)
    assert [r.params for r in results] == [{"x": 6}, {"x": 7}]
    assert all(r.job_index == 3 and r.value is None for r in results)


def test_a_reported_trial_wins_over_what_its_job_says() -> None:
    log = line(6, 0.5) + "\n"
    results = harvest_job(two_trial_job(infra_reason="Evicted"), [log], LOSS)
    assert [r.outcome for r in results] == [Outcome.SUCCEEDED, Outcome.INFRASTRUCTURE]
    assert results[0].value == 0.5


def test_a_retried_pod_s_later_report_replaces_the_earlier_one() -> None:
    first_pod = f"{line(6, 1.0, 'failed')}\n"
    second_pod = f"{line(6, 0.1)}\n{line(7, 0.2)}\n"
    results = harvest_job(two_trial_job(JobState.SUCCEEDED), [first_pod, second_pod], LOSS)
    assert [(r.outcome, r.value) for r in results] == [
        (Outcome.SUCCEEDED, 0.1),
        (Outcome.SUCCEEDED, 0.2),
    ]


def test_the_job_s_recorded_params_win_over_what_the_worker_echoed() -> None:
    log = line(6, 0.5, params={"x": "tampered"}) + "\n" + line(7, 0.5) + "\n"
    results = harvest_job(two_trial_job(JobState.SUCCEEDED), [log], LOSS)
    assert [r.params for r in results] == [{"x": 6}, {"x": 7}]


def test_reports_for_trials_outside_the_job_are_ignored() -> None:
    log = "\n".join([line(6, 1.0), line(7, 1.0), line(99, 0.0)])
    results = harvest_job(two_trial_job(JobState.SUCCEEDED), [log], LOSS)
    assert [r.trial for r in results] == [6, 7]


def test_trial_result_round_trips_through_its_json() -> None:
    r = classified(raw_line(durationSeconds=1.25))
    data = r.to_json("ns/demo", LOSS)
    assert data["objective"] == {"metric": "loss", "direction": "minimize", "value": 1.5}
    assert data["outcome"] == "Succeeded"
    assert TrialResult.from_json(json.loads(json.dumps(data))) == r


def test_non_finite_metrics_are_stored_as_null() -> None:
    r = classified(raw_line(metrics='{"loss": 1, "aux": NaN}'))
    assert json.loads(json.dumps(r.to_json("ns/demo", LOSS), allow_nan=False))["metrics"] == {
        "loss": 1,
        "aux": None,
    }


# ---- golden worker logs (tests/data/contract), read by the runner's tests too

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "contract"
CASES = sorted(p.name.removesuffix(".log") for p in GOLDEN.glob("*.log"))


def golden(name: str) -> tuple[bytes, dict[str, Any]]:
    """A golden log, as bytes (its line ends are the point), and its expected parse."""
    expected = json.loads((GOLDEN / f"{name}.expected.json").read_text())
    return (GOLDEN / f"{name}.log").read_bytes(), expected


def named(v: Any) -> Any:
    """JSON cannot hold NaN or infinities: the expected files name them."""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return v


def report_json(r: TrialReport) -> dict[str, Any]:
    return {
        "trial": r.trial,
        "params": r.params,
        "metrics": {k: named(v) for k, v in r.metrics.items()},
        "status": r.status,
        "error": r.error,
        "durationSeconds": r.duration_seconds,
    }


def test_the_golden_logs_cover_each_kind_of_worker_log_and_each_has_its_expectation() -> None:
    expected = {p.name.removesuffix(".expected.json") for p in GOLDEN.glob("*.expected.json")}
    assert set(CASES) == expected
    kinds = {"normal", "noise", "failed", "timeout", "malformed", "nan", "unreported", "retried"}
    kinds |= {"intermediate", "framed"}
    assert kinds <= set(CASES)


def test_operator_and_runner_use_the_same_result_prefix() -> None:
    assert RESULT_PREFIX == RUNNER_PREFIX == "TUNEOP_RESULT "


def test_operator_and_runner_use_the_same_frames_and_magnitude_bound() -> None:
    from tuneop.core import untrusted
    from tuneop.core.wire import framing
    from tuneop_runner import contract, frames

    assert (framing.FRAMES_PREFIX, framing.BEGIN_PREFIX, framing.END_PREFIX) == (
        frames.FRAMES_PREFIX,
        frames.BEGIN_PREFIX,
        frames.END_PREFIX,
    )
    assert untrusted.MAX_MAGNITUDE == contract.MAX_MAGNITUDE


@pytest.mark.parametrize("name", CASES)
def test_a_golden_log_parses_to_exactly_its_expected_reports(name: str) -> None:
    log, expected = golden(name)
    parsed = parse_log(log)
    assert {
        "malformed": parsed.malformed,
        "firstProblem": parsed.first_problem,
        "reports": [report_json(parsed.reports[t]) for t in sorted(parsed.reports)],
    } == expected["parse"]
    assert parsed.truncated is False


@pytest.mark.parametrize("name", CASES)
def test_a_golden_log_harvests_to_exactly_its_expected_results(name: str) -> None:
    log, expected = golden(name)
    j = expected["job"]
    state = JobState.FAILED if j["reason"] else JobState.SUCCEEDED
    worker = job(
        j["index"], state, trials=j["trials"], params=tuple(j["params"]), reason=j["reason"]
    )
    objective = Objective(**expected["objective"])
    results = harvest_job(worker, [log], objective)
    assert [r.to_json("ns/demo", objective) for r in results] == expected["results"]


def test_a_metric_the_runner_refused_keeps_the_runners_reason() -> None:
    # The runner writes a non-number objective metric as null and names it in error.
    line_ = RESULT_PREFIX + json.dumps(
        {
            "trial": 0,
            "metrics": {"loss": None},
            "status": "succeeded",
            "error": "metric 'loss' is not a number (str)",
        }
    )
    (result,) = parse_log(line_).reports.values()
    classified_ = classify(result, 0, Objective(metric="loss"))
    assert classified_.outcome is Outcome.METRICS_UNAVAILABLE
    assert classified_.error == "metric 'loss' is not a number (str)"
