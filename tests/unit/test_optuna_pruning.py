"""Optuna's pruners judging trials whose output tuneop reads
(``tuneop.core.planning.optuna_pruning``): the verdicts on curves, the same as Optuna's
own pruner gives a study fed step by step, a stopped trial Pruned with its curve up to
the step, and the same verdict for the same observation (a restarted operator)."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.builders import REF, curve, finished, job, stdout_spec

from tuneop.core.jobs.observed import JobState
from tuneop.core.jobs.pruning import study_name
from tuneop.core.planning.optuna_pruning import (
    Seen,
    needs_following,
    prune_steps,
    running_curve,
    stopped_job,
)
from tuneop.core.wire.contract import Outcome, TrialResult

optuna.logging.set_verbosity(optuna.logging.WARNING)

OPTUNA_PRUNERS: dict[str, Any] = {
    "median": optuna.pruners.MedianPruner,
    "successiveHalving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
}
MEDIAN = {"type": "median", "startupTrials": 2}
HALVING = {"type": "successiveHalving", "minResource": 1, "reductionFactor": 2}
HYPERBAND = {"type": "hyperband", "minResource": 1, "maxResource": 8, "reductionFactor": 2}
# Four trials finished with losses 1.0 to 1.3 at every one of eight epochs.
HISTORY = [finished(i, [1.0 + 0.1 * i] * 8) for i in range(4)]


def _steps(es: dict[str, Any], running: list[Seen], history: list[TrialResult] = HISTORY) -> Any:
    spec = stdout_spec(es)
    return prune_steps(spec, study_name(spec, REF), history, running)


@pytest.mark.parametrize(
    ("es", "running", "pruned"),
    [
        pytest.param(MEDIAN, [Seen(10, curve(5, 5, 5))], {10: 1}, id="median-worse-at-once"),
        pytest.param(MEDIAN, [Seen(10, curve(0.5, 0.5))], {}, id="median-better-runs-on"),
        pytest.param(
            {**MEDIAN, "warmupSteps": 3}, [Seen(10, curve(5, 5, 5, 5))], {10: 3}, id="median-warmup"
        ),
        pytest.param(
            {**MEDIAN, "startupTrials": 5}, [Seen(10, curve(5, 5))], {}, id="median-startup"
        ),
        pytest.param(HALVING, [Seen(10, curve(5, 5))], {10: 1}, id="halving-worse-at-rung-0"),
        pytest.param(HALVING, [Seen(10, curve(0.5, 0.5, 0.5))], {}, id="halving-better"),
        pytest.param(
            HALVING, [Seen(10, curve(0.5, 0.5, 9, 9))], {10: 4}, id="halving-worse-at-rung-2"
        ),
        pytest.param(HYPERBAND, [Seen(10, curve(0.5, 0.5))], {}, id="hyperband-better"),
        pytest.param(
            {"type": "successiveHalving"}, [Seen(10, curve(5))], {10: 1}, id="halving-auto"
        ),
        pytest.param(
            MEDIAN,
            [Seen(10, curve(5, 5)), Seen(11, curve(0.1)), Seen(12, ())],
            {10: 1},
            id="median-several-running",
        ),
    ],
)
def test_a_running_trial_is_pruned_where_optunas_pruner_says(
    es: dict[str, Any], running: list[Seen], pruned: dict[int, int]
) -> None:
    assert _steps(es, running) == pruned


def test_hyperband_judges_a_worse_trial_in_its_bracket() -> None:
    pruned = _steps(HYPERBAND, [Seen(i, curve(9, 9, 9, 9, 9, 9, 9, 9)) for i in range(10, 20)])
    assert pruned and all(step >= 1 for step in pruned.values())


def test_without_finished_trials_nothing_is_pruned() -> None:
    for es in (MEDIAN, HALVING, HYPERBAND):
        assert _steps(es, [Seen(0, curve(9, 9, 9))], history=[]) == {}


def test_the_same_observation_gives_the_same_verdict() -> None:
    running = [Seen(10 + i, curve(*[1.0 + 0.07 * i * s for s in range(1, 9)])) for i in range(6)]
    for es in (MEDIAN, HALVING, HYPERBAND):
        assert _steps(es, running) == _steps(es, list(reversed(running)))


def test_a_stopped_job_is_pruned_with_its_curve_up_to_the_step() -> None:
    spec = stdout_spec(HALVING)
    running = job(7, params=({"x": 0.3},))
    assert needs_following(spec, running)
    assert not needs_following(spec, job(7, state=JobState.SUCCEEDED))
    assert not needs_following(stdout_spec({"type": "medianStop"}), running)
    c = running_curve(spec, "epoch 1: loss=5\nepoch 2: loss=4\nnoise\nepoch 3: loss=3\n")
    assert c == curve(5, 4, 3)
    stopped = stopped_job(spec, running, c, 2)
    assert stopped.finished and stopped.reason == "EarlyStopped"
    (result,) = stopped.results or ()
    assert result.outcome is Outcome.PRUNED and result.trial == 7
    assert result.intermediate == curve(5, 4) and result.value == 4.0
    assert result.params == {"x": 0.3}
    assert "successiveHalving" in (result.error or "") and "step 2" in (result.error or "")


# --- the stateless replay equals a live Optuna study fed step by step -----------------------


def _live(es: dict[str, Any], direction: str, curves: list[list[float]]) -> list[int | None]:
    """Each trial's pruned step in a live Optuna study, the trials run one after another,
    each reporting step by step and asking the pruner after each report."""
    from tuneop.api.early_stopping import pruner_settings

    spec = stdout_spec(es, direction)
    assert spec.early_stopping is not None
    pruner = OPTUNA_PRUNERS[es["type"]](**pruner_settings(spec.early_stopping)["settings"])
    study = optuna.create_study(
        study_name=study_name(spec, REF), direction=direction, pruner=pruner
    )
    out: list[int | None] = []
    for values in curves:
        trial = study.ask()
        pruned = None
        for step, value in curve(*values):
            trial.report(value, step)
            if trial.should_prune():
                pruned = step
                break
        if pruned is None:
            study.tell(trial, values[-1])
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        out.append(pruned)
    return out


def _stateless(es: dict[str, Any], direction: str, curves: list[list[float]]) -> list[int | None]:
    """The same trials judged by the replay, each on the ones before it as they ended."""
    spec = stdout_spec(es, direction)
    history: list[TrialResult] = []
    out: list[int | None] = []
    for i, values in enumerate(curves):
        step = prune_steps(spec, study_name(spec, REF), history, [Seen(i, curve(*values))])
        out.append(step.get(i))
        if i in step:
            kept = [v for s, v in curve(*values) if s <= step[i]]
            history.append(finished(i, kept, Outcome.PRUNED))
        else:
            history.append(finished(i, values))
    return out


_VALUES = st.lists(
    st.lists(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]), min_size=1, max_size=10),
    min_size=1,
    max_size=8,
)
_PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_PROPERTY
@given(
    curves=_VALUES,
    direction=st.sampled_from(["minimize", "maximize"]),
    min_resource=st.sampled_from([None, 1, 2]),
    factor=st.sampled_from([2, 3]),
    rate=st.sampled_from([0, 1]),
)
def test_successive_halving_replayed_equals_optuna_fed_step_by_step(
    curves: list[list[float]], direction: str, min_resource: int | None, factor: int, rate: int
) -> None:
    es: dict[str, Any] = {"type": "successiveHalving", "reductionFactor": factor}
    es["minEarlyStoppingRate"] = rate
    if min_resource is not None:
        es["minResource"] = min_resource
    assert _stateless(es, direction, curves) == _live(es, direction, curves)


@_PROPERTY
@given(
    curves=_VALUES,
    direction=st.sampled_from(["minimize", "maximize"]),
    startup=st.sampled_from([0, 1, 3]),
    warmup=st.sampled_from([0, 2]),
    interval=st.sampled_from([1, 2]),
)
def test_median_replayed_equals_optuna_fed_step_by_step(
    curves: list[list[float]], direction: str, startup: int, warmup: int, interval: int
) -> None:
    es = {"type": "median", "startupTrials": startup, "warmupSteps": warmup}
    es["intervalSteps"] = interval
    assert _stateless(es, direction, curves) == _live(es, direction, curves)


@_PROPERTY
@given(
    curves=_VALUES,
    direction=st.sampled_from(["minimize", "maximize"]),
    max_resource=st.sampled_from([None, 4, 9]),
    factor=st.sampled_from([2, 3]),
)
def test_hyperband_replayed_equals_optuna_fed_step_by_step(
    curves: list[list[float]], direction: str, max_resource: int | None, factor: int
) -> None:
    es: dict[str, Any] = {"type": "hyperband", "reductionFactor": factor}
    if max_resource is not None:
        es["maxResource"] = max_resource
    assert _stateless(es, direction, curves) == _live(es, direction, curves)
