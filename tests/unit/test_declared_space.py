"""The declared search space in the study (``core.results.study``), and one session per source
(``cli.sources``): the parts the journeys cannot reach cheaply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from tuneop.adapters.local.folder import dump_json, write_atomic
from tuneop.api.parameters import Parameter
from tuneop.cli.sources import MAX_LISTED, UsageError, read_session, recorded_space
from tuneop.core.results.study import build_study, declared_distributions, distributions, study_data


def space(*raw: dict[str, object]) -> list[Parameter]:
    return [Parameter.model_validate(p) for p in raw]


def test_each_kind_of_parameter_becomes_the_distribution_it_declares() -> None:
    declared = declared_distributions(
        space(
            {"name": "n", "type": "int", "min": 2, "max": 64, "log": True},
            {"name": "k", "type": "int", "min": 0, "max": 41, "step": 2},
            {"name": "y", "type": "float", "min": -2, "max": 0.2, "step": 0.5},
            {"name": "lr", "type": "float", "min": 1e-4, "max": 0.1, "log": True},
            {"name": "c", "type": "categorical", "values": ["a", 1, True]},
        )
    )
    assert declared["n"] == IntDistribution(2, 64, log=True)
    assert declared["k"] == IntDistribution(0, 40, step=2)  # 41 is no point of the grid
    assert declared["y"] == FloatDistribution(-2.0, 0.0, step=0.5)
    assert declared["lr"] == FloatDistribution(1e-4, 0.1, log=True)
    assert declared["c"] == CategoricalDistribution(["a", 1, True])


def record(trial: int, **params: object) -> dict[str, object]:
    return {
        "session": "default/s",
        "trial": trial,
        "outcome": "Succeeded",
        "objective": {"metric": "loss", "value": float(trial), "direction": "minimize"},
        "params": params,
    }


def test_a_parameter_whose_values_leave_the_declared_space_falls_back_to_the_values() -> None:
    declared = declared_distributions(
        space(
            {"name": "k", "type": "int", "min": 0, "max": 10, "step": 2},
            {"name": "c", "type": "categorical", "values": [1, 2]},
        )
    )
    records = [record(0, k=3, c=True, extra=0.5), record(1, k=4, c=1, extra=1.5)]
    found = distributions(records, declared)
    assert found["k"] == IntDistribution(3, 4)  # 3 is off the grid of step 2
    assert isinstance(found["c"], CategoricalDistribution)  # True is not the choice 1
    assert sorted(repr(c) for c in found["c"].choices) == ["1", "True"]
    assert found["extra"] == FloatDistribution(0.5, 1.5)  # not declared at all


def test_a_single_objective_study_is_named_after_its_metric() -> None:
    data = study_data([record(0, x=1), record(1, x=2)])
    study = build_study(data)
    assert study.metric_names == ["loss"]


def session_folder(root: Path, name: str, spec: object = None) -> Path:
    folder = root / name
    write_atomic(folder / "trials" / "trial-000000.json", dump_json(record(0, x=1)))
    if spec is not None:
        write_atomic(folder / "spec.json", json.dumps(spec))
    return folder


def test_a_folder_of_sessions_with_hostile_names_is_listed_as_text(tmp_path: Path) -> None:
    for n in range(MAX_LISTED + 3):
        session_folder(tmp_path, f"s{n}\x1b[2J")
    with pytest.raises(UsageError) as err:
        read_session(str(tmp_path), None, "tuneop")
    message = str(err.value)
    assert "\x1b" not in message and "\\x1b[2J" in message
    assert f"{MAX_LISTED + 3} sessions" in message and "… and 3 more" in message


def test_a_bad_recorded_spec_is_one_line_naming_the_field(tmp_path: Path) -> None:
    bad = {"spec": {"searchSpace": [{"name": "x", "type": "int", "min": 5, "max": 1}]}}
    folder = session_folder(tmp_path, "s", bad)
    with pytest.raises(UsageError) as err:
        recorded_space(folder)
    assert "spec.searchSpace[0]" in str(err.value) and "(5 > 1)" in str(err.value)
    (folder / "spec.json").write_bytes(b"{" * 100_000)
    with pytest.raises(UsageError, match="not a recorded spec"):
        recorded_space(folder)


def test_a_folder_without_a_recorded_spec_has_no_declared_space(tmp_path: Path) -> None:
    assert recorded_space(session_folder(tmp_path, "s")) == []
    explicit = {"spec": {"trials": [{"x": 1}]}}
    assert recorded_space(session_folder(tmp_path, "t", explicit)) == []
