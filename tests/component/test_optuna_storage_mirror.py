"""The Optuna storage mirror against a real SQLite storage: what it writes, when, and
what it does when the storage is away.

An outage is a SQLite URL whose folder does not exist yet (SQLite cannot open the file:
``OperationalError``), made to exist later; the back-off's time is a ``FrozenClock``.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState

from builders import REF, T0, result, spec
from tuneop.adapters.optuna_storage import TRIAL_ATTR, OptunaStorageMirror
from tuneop.adapters.optuna_storage.mirror import BACKOFF_FIRST
from tuneop.api.status import SessionStatus
from tuneop.api.vocabulary import Phase
from tuneop.core.clock import FrozenClock
from tuneop.core.wire.contract import Outcome, TrialResult
from tuneop.ports import MirrorRecord

SPEC = spec(
    searchSpace=[
        {"name": "x", "type": "int", "min": 0, "max": 9},
        {"name": "lr", "type": "float", "min": 1e-4, "max": 1e-1, "log": True},
    ],
    optimizer={"type": "random"},
    totalTrials=10,
)
RUNNING = SessionStatus(phase=Phase.RUNNING, start_time=T0)
DONE = SessionStatus(phase=Phase.SUCCEEDED, start_time=T0)


def trial(n: int, outcome: Outcome = Outcome.SUCCEEDED, value: float | None = 1.0) -> TrialResult:
    return dataclasses.replace(
        result(n, value, outcome),
        params={"x": n, "lr": 0.01},
        duration_seconds=2.5,
        intermediate=((1, 3.0), (2, 2.0)),
    )


def study(url: str) -> optuna.Study:
    return optuna.load_study(study_name=REF.key, storage=url)


def by_trial(url: str) -> dict[int, optuna.trial.FrozenTrial]:
    return {int(t.user_attrs[TRIAL_ATTR]): t for t in study(url).trials}


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/live.db"


@pytest.mark.parametrize(
    ("outcome", "value", "state", "values"),
    [
        (Outcome.SUCCEEDED, 0.5, TrialState.COMPLETE, [0.5]),
        (Outcome.PRUNED, None, TrialState.PRUNED, None),
        (Outcome.FAILED, None, TrialState.FAIL, None),
        (Outcome.TIMED_OUT, None, TrialState.FAIL, None),
        (Outcome.RESULTS_LOST, None, TrialState.FAIL, None),
    ],
)
def test_each_outcome_is_written_as_the_export_writes_it(
    url: str, outcome: Outcome, value: float | None, state: TrialState, values: list[float] | None
) -> None:
    mirror = OptunaStorageMirror(url)
    mirror.record(REF, SPEC, MirrorRecord(results=[trial(4, outcome, value)], status=RUNNING))
    [t] = study(url).trials
    assert (t.state, t.values) == (state, values)
    assert t.params == {"x": 4, "lr": 0.01}
    assert t.distributions == {
        "x": IntDistribution(0, 9),
        "lr": FloatDistribution(1e-4, 1e-1, log=True),
    }
    assert t.intermediate_values == {1: 3.0, 2: 2.0}
    assert t.duration == timedelta(seconds=2.5)
    assert (t.user_attrs[TRIAL_ATTR], t.user_attrs["tuneop.outcome"]) == (4, str(outcome))
    attrs = study(url).user_attrs
    assert (attrs["tuneop.session"], attrs["tuneop.started"]) == (REF.key, T0.isoformat())


def test_results_wait_for_the_status_that_says_when_the_run_started(url: str) -> None:
    mirror = OptunaStorageMirror(url)
    mirror.record(REF, SPEC, MirrorRecord(results=[trial(0)]))
    assert optuna.get_all_study_names(url) == []  # written with the round's status
    mirror.record(REF, SPEC, MirrorRecord(status=RUNNING))
    assert sorted(by_trial(url)) == [0]


def test_a_new_process_catches_up_from_the_result_store_and_writes_no_trial_twice(
    url: str,
) -> None:
    OptunaStorageMirror(url).record(REF, SPEC, MirrorRecord([], [trial(0), trial(1)], RUNNING))
    held = [trial(n) for n in range(4)]  # trials 2 and 3 harvested by a process that died
    later = OptunaStorageMirror(url, source=lambda ref: held)
    later.record(REF, SPEC, MirrorRecord(results=[trial(1), trial(4)], status=RUNNING))
    trials = [int(t.user_attrs[TRIAL_ATTR]) for t in study(url).trials]
    assert sorted(trials) == [0, 1, 2, 3, 4]


def test_an_outage_keeps_the_trials_and_the_storage_catches_up_when_it_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path}/later/live.db"
    clock = FrozenClock()
    health: list[bool] = []
    mirror = OptunaStorageMirror(url, monotonic=clock.monotonic, on_health=health.append)
    with caplog.at_level(logging.WARNING):
        mirror.record(REF, SPEC, MirrorRecord(results=[trial(0)], status=RUNNING))
        mirror.record(REF, SPEC, MirrorRecord(results=[trial(1)], status=RUNNING))
    assert health == [False]  # the second write waited out the back-off: not tried
    assert mirror.pending(REF) == 2
    assert [r.message for r in caplog.records] == [
        "optuna storage unreachable, keeping trials: OperationalError"
    ]
    (tmp_path / "later").mkdir()
    clock.advance(BACKOFF_FIRST)
    mirror.record(REF, SPEC, MirrorRecord(results=[trial(2)], status=RUNNING))
    assert health == [False, True]
    assert sorted(by_trial(url)) == [0, 1, 2]
    assert mirror.pending(REF) == 0


def test_the_last_status_is_tried_even_in_the_back_off(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/later/live.db"
    mirror = OptunaStorageMirror(url, monotonic=FrozenClock().monotonic)
    mirror.record(REF, SPEC, MirrorRecord(results=[trial(0)], status=RUNNING))
    (tmp_path / "later").mkdir()
    mirror.record(REF, SPEC, MirrorRecord(results=[trial(1)], status=DONE))
    assert sorted(by_trial(url)) == [0, 1]


def test_another_run_of_the_session_replaces_its_study(url: str) -> None:
    OptunaStorageMirror(url).record(REF, SPEC, MirrorRecord([], [trial(0), trial(1)], RUNNING))
    fresh = SessionStatus(phase=Phase.RUNNING, start_time=T0 + timedelta(hours=1))
    OptunaStorageMirror(url).record(REF, SPEC, MirrorRecord(results=[trial(0)], status=fresh))
    assert sorted(by_trial(url)) == [0]
    assert study(url).user_attrs["tuneop.started"] == fresh.start_time.isoformat()


def test_a_study_tuneop_did_not_write_is_left_alone(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    theirs = optuna.create_study(study_name=REF.key, storage=url)
    theirs.optimize(lambda t: t.suggest_float("a", 0, 1), n_trials=2)
    mirror = OptunaStorageMirror(url)
    with caplog.at_level(logging.WARNING):
        mirror.record(REF, SPEC, MirrorRecord(results=[trial(0)], status=RUNNING))
    assert len(study(url).trials) == 2 and TRIAL_ATTR not in study(url).trials[0].user_attrs
    assert f"study {REF.key!r} is not tuneop's; not written" in caplog.text
    assert mirror.healthy


EXPLICIT = spec(searchSpace=[], optimizer={"type": "grid"}, trials=[{"s": 0.5}, {"s": 20}])


@pytest.mark.parametrize(
    ("first", "then", "then_params", "then_attr"),
    [
        # an undeclared number is a float, whatever its first value looked like
        ({"s": 0.5}, {"s": 20}, {"s": 20.0}, None),
        ({"s": 20}, {"s": 0.5}, {"s": 0.5}, None),
        # a new choice Optuna's study cannot take: the params kept as an attribute
        ({"s": "adam"}, {"s": "sgd"}, {}, {"s": "sgd"}),
    ],
)
def test_explicit_trials_params_never_stop_the_next_trials(
    url: str,
    first: dict[str, object],
    then: dict[str, object],
    then_params: dict[str, object],
    then_attr: dict[str, object] | None,
) -> None:
    mirror = OptunaStorageMirror(url)
    for n, params in enumerate([first, then]):
        r = dataclasses.replace(trial(n), params=params)
        mirror.record(REF, EXPLICIT, MirrorRecord(results=[r], status=RUNNING))
    assert mirror.healthy and mirror.pending(REF) == 0
    later = by_trial(url)[1]
    assert later.params == then_params
    assert later.user_attrs.get("tuneop.params") == then_attr
