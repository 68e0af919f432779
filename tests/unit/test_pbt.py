"""Population-based training (``optimizer.type: pbt``): its rules, its generations, and
each trial's params and parent, as pure functions of the spec and the results."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import DROP, spec_data
from tuneop.api.pbt import checkpoint_dir, member_of, record_fields
from tuneop.api.spec import SessionSpec, SpecError, parse_spec
from tuneop.core.suggest import pbt
from tuneop.core.wire.contract import Outcome, TrialResult

SPACE = [
    {"name": "lr", "type": "float", "min": 0.001, "max": 0.1, "log": True},
    {"name": "layers", "type": "int", "min": 1, "max": 8},
    {"name": "opt", "type": "categorical", "values": ["sgd", "adam", "rms"]},
]
PBT = {"population": 5, "truncation": 0.2, "checkpointDir": "/ckpt"}


def pbt_spec(**overrides: Any) -> SessionSpec:
    optimizer = {"type": "pbt", "seed": 1, "pbt": {**PBT, **overrides.pop("pbt", {})}}
    base = {"searchSpace": SPACE, "optimizer": optimizer, "totalTrials": 15, "maxParallel": 5}
    return parse_spec(spec_data(**{**base, **overrides}))


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"optimizer": {"type": "pbt"}}, "optimizer.pbt: required with type pbt"),
        ({"optimizer": {"type": "random", "pbt": PBT}}, "optimizer.pbt: only with type pbt"),
        ({"trialsPerJob": 2}, "pbt runs one trial per Job"),
        ({"totalTrials": DROP}, "totalTrials"),
        ({"pbt": {"checkpointDir": "ckpt"}}, "checkpointDir"),
        ({"pbt": {"checkpointDir": "/ckpt/$(HOME)"}}, "checkpointDir"),
        ({"pbt": {"truncation": 0.6}}, "truncation"),
        ({"pbt": {"population": 1}}, "population"),
        ({"pbt": {"resampleProbability": 1.5}}, "resampleProbability"),
        (
            {"searchSpace": [*SPACE[:2], {**SPACE[2], "when": {"layers": [1, 2]}}]},
            "pbt perturbs every parameter of a member",
        ),
    ],
    ids=lambda x: str(x)[:40],
)
def test_a_pbt_spec_that_breaks_a_rule_is_refused_naming_it(
    overrides: dict[str, Any], words: str
) -> None:
    with pytest.raises(SpecError) as err:
        pbt_spec(**overrides)
    assert words in str(err.value)


def test_members_generations_and_checkpoint_folders_follow_the_trial_number() -> None:
    settings_ = pbt_spec().optimizer.pbt
    assert settings_ is not None
    assert [member_of(settings_, t) for t in (0, 4, 5, 14)] == [(0, 0), (0, 4), (1, 0), (2, 4)]
    assert checkpoint_dir(settings_, "demo", 7) == "/ckpt/demo/trial-7"
    assert record_fields(settings_, 7) == {"pbt": {"generation": 1, "member": 2}}
    assert record_fields(None, 7) == {}


@pytest.mark.parametrize(
    ("done", "launchable"),
    [
        (set(), 5),  # generation 0 only
        ({0, 1, 2, 3}, 5),  # one of generation 0 still running
        (set(range(5)), 10),
        (set(range(9)), 10),
        (set(range(10)), 15),
    ],
)
def test_a_generation_starts_once_the_one_before_has_ended(done: set[int], launchable: int) -> None:
    assert pbt.launchable(pbt_spec(), done, 15) == launchable


def _moved(new: Any, old: Any, lo: float, hi: float) -> bool:
    """``new`` is ``old`` times 0.8 or 1.2, kept in [lo, hi]."""
    return any(float(new) == pytest.approx(min(max(float(old) * f, lo), hi)) for f in (0.8, 1.2))


def _results(s: SessionSpec, values: list[float | None]) -> dict[int, TrialResult]:
    """Generation 0's results: trial t scored values[t] (None: it failed)."""
    out = {}
    for t, v in enumerate(values):
        params, parent = pbt.lineage(s, t, {})
        assert parent is None
        outcome = Outcome.SUCCEEDED if v is not None else Outcome.FAILED
        out[t] = TrialResult(trial=t, job_index=t, params=params, outcome=outcome, value=v)
    return out


@pytest.mark.parametrize(
    ("direction", "values", "exploiters"),
    [
        # minimizing: trial 4 (the worst) copies the best, trial 0
        ("minimize", [0.1, 0.5, 0.3, 0.4, 0.9], {4: 0}),
        # maximizing: trial 0 (0.1) is the worst and copies the best, trial 4
        ("maximize", [0.1, 0.5, 0.3, 0.4, 0.9], {0: 4}),
        # a failed trial ranks last, after every success
        ("minimize", [0.1, None, 0.3, 0.4, 0.9], {1: 0}),
    ],
)
def test_the_bottom_copies_a_top_member_and_the_rest_explore_from_their_own_checkpoint(
    direction: str, values: list[float | None], exploiters: dict[int, int]
) -> None:
    s = pbt_spec(objective={"metric": "loss", "direction": direction})
    history = _results(s, values)
    for member in range(5):
        params, parent = pbt.lineage(s, 5 + member, history)
        if member in exploiters:
            assert parent == exploiters[member]
            assert params == history[parent].params
        else:
            assert parent == member  # its own member's checkpoint
            own = history[member].params
            assert params != own
            assert params["opt"] in ("sgd", "adam", "rms")
            assert _moved(params["lr"], own["lr"], 0.001, 0.1)
            assert isinstance(params["layers"], int)


def test_trials_are_the_same_whenever_they_are_derived() -> None:
    s = pbt_spec()
    history = _results(s, [0.1, 0.5, 0.3, 0.4, 0.9])
    assert [pbt.lineage(s, t, history) for t in range(5, 10)] == [
        pbt.lineage(s, t, dict(history)) for t in range(5, 10)
    ]
    other = pbt_spec(optimizer={"type": "pbt", "seed": 2, "pbt": PBT})
    drawn = [pbt.lineage(s, t, {}) for t in range(5)]
    assert drawn != [pbt.lineage(other, t, {}) for t in range(5)]


def test_resampling_draws_anew_or_keeps_each_param() -> None:
    s = pbt_spec(pbt={"resampleProbability": 1.0})
    history = _results(s, [0.1, 0.2, 0.3, 0.4, 0.5])
    params, parent = pbt.lineage(s, 5, history)  # member 0 is the best: it explores
    assert parent == 0 and params != history[0].params
    kept = pbt_spec(pbt={"resampleProbability": 0.0})
    history = _results(kept, [0.1, 0.2, 0.3, 0.4, 0.5])
    assert pbt.lineage(kept, 5, history) == (history[0].params, 0)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)), min_size=5, max_size=5
    ),
    seed=st.integers(0, 2**31 - 1),
    resample=st.one_of(st.none(), st.floats(0, 1)),
)
def test_every_derived_trial_is_a_point_of_the_space_with_a_parent_of_the_generation_before(
    values: list[float | None], seed: int, resample: float | None
) -> None:
    pbt_settings = {**PBT, "resampleProbability": resample}
    s = pbt_spec(optimizer={"type": "pbt", "seed": seed, "pbt": pbt_settings})
    history = _results(s, values)
    for t in range(5, 10):
        params, parent = pbt.lineage(s, t, history)
        assert parent is not None and 0 <= parent < 5
        assert 0.001 <= float(params["lr"]) <= 0.1  # type: ignore[arg-type]
        assert isinstance(params["layers"], int) and 1 <= params["layers"] <= 8
        assert params["opt"] in ("sgd", "adam", "rms")
