"""``optimizer.type: hyperband``: Katib's Hyperband search, its schedule and relaunches.

``katib_rounds`` transliterates Katib v0.19.0's ``HyperbandService`` state machine
(``pkg/suggestion/v1beta1/hyperband/service.py``: ``HyperBandParam.convert``,
``_make_bracket``, ``_make_master_bracket``, ``_make_child_bracket``,
``_new_hbParameters``), call by call, with ``n`` left as Katib's own formula computes it
(tuneop's one documented difference: Katib's service overwrites it with its controller's
request count); tuneop's schedule must be the rounds it produces.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from builders import spec
from tuneop.api.hyperband import Hyperband, rung_of, schedule, schedule_size
from tuneop.api.spec import SpecError
from tuneop.core.conversions.katib import KatibError, convert_experiment
from tuneop.core.suggest import hyperband
from tuneop.core.wire.contract import Outcome, TrialResult


def katib_rounds(r_l: float, eta: float) -> list[tuple[int, int]]:
    """(trials, resource) of each GetSuggestions call until Katib's outer loop ends."""
    s_max = int(math.log(r_l) / math.log(eta))
    current_s, current_i, evaluating = s_max, 0, 0
    n = int(math.ceil(float(s_max + 1) * (float(eta**current_s) / float(current_s + 1))))  # noqa: RUF046
    r = r_l * eta ** (-current_s)
    rounds = []
    while current_s >= 0:
        if evaluating == 0:  # _make_master_bracket
            count, resource = n, int(r)
        else:  # _make_child_bracket
            n_i = math.ceil(n * eta ** (-current_i))
            count = int(math.ceil(n_i / eta))  # noqa: RUF046
            current_i += 1
            resource = int(r * eta**current_i)
        rounds.append((count, resource))
        evaluating = count if current_i < current_s else 0
        if evaluating == 0:  # _new_hbParameters
            current_s -= 1
            current_i = 0
            if current_s >= 0:
                n = int(  # noqa: RUF046
                    math.ceil(float(s_max + 1) * (float(eta**current_s) / float(current_s + 1)))
                )
                r = r_l * eta ** (-current_s)
    return rounds


@pytest.mark.parametrize(
    ("r_l", "eta"), [(9, 3), (2, 2), (81, 3), (27, 3), (100, 3), (1000, 10), (16, 2), (1, 3)]
)
def test_the_schedule_is_katibs(r_l: float, eta: float) -> None:
    rungs = schedule(Hyperband(resource="epochs", max_resource=float(r_l), eta=float(eta)))
    assert [(r.size, r.resource) for r in rungs] == katib_rounds(r_l, eta)
    assert [r.first for r in rungs] == [sum(x.size for x in rungs[:k]) for k in range(len(rungs))]


def test_the_classic_nine_by_three() -> None:
    h = Hyperband(resource="epochs", max_resource=9.0)
    assert schedule_size(h) == 23
    assert [(r.bracket, r.rung, r.size, r.resource) for r in schedule(h)] == [
        (2, 0, 9, 1),
        (2, 1, 3, 3),
        (2, 2, 1, 9),
        (1, 0, 5, 3),
        (1, 1, 2, 9),
        (0, 0, 3, 9),
    ]
    assert (rung_of(h, 12).bracket, rung_of(h, 12).rung) == (2, 2)


SPACE = [
    {"name": "x", "type": "float", "min": 0.0, "max": 1.0},
    {"name": "epochs", "type": "int", "min": 1, "max": 9},
]


def _spec(**overrides: Any) -> Any:
    data: dict[str, Any] = {
        "searchSpace": SPACE,
        "optimizer": {"type": "hyperband", "hyperband": {"resource": "epochs", "maxResource": 9}},
    }
    data.update(overrides)
    return spec(**data)


def _result(t: int, params: dict[str, Any], value: float | None) -> TrialResult:
    outcome = Outcome.SUCCEEDED if value is not None else Outcome.FAILED
    return TrialResult(trial=t, job_index=t, params=params, outcome=outcome, value=value)


def test_a_rung_waits_for_the_one_before_and_relaunches_its_best() -> None:
    s = _spec()
    assert hyperband.launchable(s, set(), 23) == 9
    first = {t: hyperband.params(s, t, {}) for t in range(9)}
    assert all(p["epochs"] == 1 for p in first.values())
    # loss = |x - 0.5|, minimized; trial 4 failed (ranked after every success)
    history = {t: _result(t, p, None if t == 4 else abs(p["x"] - 0.5)) for t, p in first.items()}
    assert hyperband.launchable(s, set(range(8)), 23) == 9  # trial 8 not done
    assert hyperband.launchable(s, set(history), 23) == 12
    best = sorted((t for t in history if t != 4), key=lambda t: abs(first[t]["x"] - 0.5))
    relaunched = [hyperband.params(s, t, history) for t in range(9, 12)]
    assert relaunched == [{**first[t], "epochs": 3} for t in best[:3]]
    # as in Katib, the next bracket's first rung comes once the last rung of the one before
    # could start: trial 12 and trials 13-17 together; trial 18 waits for 13-17
    assert hyperband.launchable(s, set(range(12)), 23) == 18
    assert hyperband.launchable(s, set(range(17)), 23) == 18
    assert hyperband.launchable(s, set(range(18)), 23) == 23
    assert hyperband.launchable(s, set(), 5) == 5  # totalTrials cuts the schedule


def test_a_maximized_objective_relaunches_the_largest() -> None:
    s = _spec(objective={"metric": "loss", "direction": "maximize"})
    first = {t: hyperband.params(s, t, {}) for t in range(9)}
    history = {t: _result(t, p, p["x"]) for t, p in first.items()}
    top = max(first.values(), key=lambda p: p["x"])
    assert hyperband.params(s, 9, history) == {**top, "epochs": 3}


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"optimizer": {"type": "hyperband"}}, "optimizer.hyperband: required with type hyperband"),
        (
            {"optimizer": {"type": "random", "hyperband": {"resource": "x", "maxResource": 9}}},
            "optimizer.hyperband: only with type hyperband",
        ),
        (
            {"optimizer": {"type": "hyperband", "hyperband": {"resource": "y", "maxResource": 9}}},
            "optimizer.hyperband.resource: must name a parameter of searchSpace",
        ),
        (
            {
                "optimizer": {
                    "type": "hyperband",
                    "hyperband": {"resource": "epochs", "maxResource": 9},
                },
                "workers": 2,
            },
            "hyperband runs one trial per Job",
        ),
        (
            {
                "optimizer": {
                    "type": "hyperband",
                    "hyperband": {"resource": "epochs", "maxResource": 9, "eta": 1},
                }
            },
            "eta",
        ),
        (
            {
                "optimizer": {
                    "type": "hyperband",
                    "hyperband": {"resource": "epochs", "maxResource": 1e6, "eta": 1.0001},
                }
            },
            "optimizer.hyperband: at most 21 brackets",
        ),
    ],
)
def test_bad_hyperband_settings_are_refused_naming_the_field(
    overrides: dict[str, Any], words: str
) -> None:
    data = {"searchSpace": SPACE, "totalTrials": 5, **overrides}
    with pytest.raises(SpecError) as err:
        spec(**data)
    assert any(words in p for p in err.value.problems), err.value.problems


def _katib(settings: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": "hb"},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {"algorithmName": "hyperband", "algorithmSettings": settings},
            "parallelTrialCount": 9,
            "parameters": [
                {
                    "name": "lr",
                    "parameterType": "double",
                    "feasibleSpace": {"min": "0.01", "max": "0.05"},
                },
                {
                    "name": "num-epochs",
                    "parameterType": "int",
                    "feasibleSpace": {"min": "1", "max": "1"},
                },
            ],
            "trialTemplate": {
                "primaryContainerName": "main",
                "trialParameters": [{"name": "e", "reference": "num-epochs"}],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {
                        "template": {
                            "spec": {
                                "containers": [
                                    {"name": "main", "image": "i", "args": ["${trialParameters.e}"]}
                                ]
                            }
                        }
                    },
                },
            },
        },
    }


def test_katibs_hyperband_imports_as_tuneops() -> None:
    doc, notes = convert_experiment(
        _katib(
            [
                {"name": "resource_name", "value": "num-epochs"},
                {"name": "eta", "value": "3"},
                {"name": "r_l", "value": "9"},
            ]
        )
    )
    assert doc["spec"]["optimizer"] == {
        "type": "hyperband",
        "hyperband": {"resource": "num-epochs", "eta": 3.0, "maxResource": 9.0},
    }
    assert "totalTrials" not in doc["spec"] and not notes, notes
    from tuneop.api.session import parse_manifest

    assert schedule_size(parse_manifest(doc).spec.optimizer.hyperband) == 23


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ([{"name": "r_l", "value": "9"}], "hyperband needs resource_name"),
        ([{"name": "resource_name", "value": "num-epochs"}], "hyperband needs r_l"),
        (
            [{"name": "resource_name", "value": "num-epochs"}, {"name": "r_l", "value": "many"}],
            "algorithmSettings[1].value",
        ),
    ],
)
def test_katibs_hyperband_without_its_settings_is_refused(
    settings: list[dict[str, str]], words: str
) -> None:
    with pytest.raises(KatibError, match=words.replace("[", r"\[").replace("]", r"\]")):
        convert_experiment(_katib(settings))
