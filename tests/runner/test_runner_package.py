"""The package as a whole: stays light, documents itself, formats the contract."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import pytest
from runner_harness import runner_env

from tuneop_runner.contract import (
    MAX_ERROR_CHARS,
    Evaluation,
    build_report,
    format_result_line,
    parse_result_line,
    sanitize_metrics,
    truncate_error,
)

FORBIDDEN = ("kopf", "kubernetes", "redis", "pydantic", "numpy", "optuna")

IMPORT_EVERYTHING = textwrap.dedent(
    f"""
    import importlib, json, pkgutil, sys
    import tuneop_runner
    names = ["tuneop_runner"] + [
        m.name for m in pkgutil.walk_packages(tuneop_runner.__path__, "tuneop_runner.")
        if m.name != "tuneop_runner.__main__"
    ]
    docs = {{}}
    for name in names:
        docs[name] = bool((importlib.import_module(name).__doc__ or "").strip())
    heavy = sorted(
        m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r}
    )
    print(json.dumps({{"modules": docs, "heavy": heavy}}))
    """
)


@pytest.fixture(scope="module")
def imported() -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING],
        env=runner_env({}),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    data: dict[str, object] = json.loads(proc.stdout)
    return data


def test_importing_every_module_pulls_in_no_heavy_dependency(imported: dict[str, object]) -> None:
    assert imported["heavy"] == []


def test_every_module_has_a_docstring(imported: dict[str, object]) -> None:
    modules = imported["modules"]
    assert isinstance(modules, dict)
    assert "tuneop_runner.objectives.arbitrage" in modules
    assert [name for name, documented in modules.items() if not documented] == []


@pytest.mark.parametrize(
    ("raw", "metrics", "problems"),
    [
        ({"a": 1, "b": 0.5, "c": True}, {"a": 1, "b": 0.5, "c": True}, []),
        ({"a": math.nan}, {"a": None}, ["metric 'a' is not finite (nan)"]),
        ({"a": -math.inf}, {"a": None}, ["metric 'a' is not finite (-inf)"]),
        (
            {"a": "x", "b": None},
            {"a": None, "b": None},
            ["metric 'a' is not a number (str)", "metric 'b' is not a number (NoneType)"],
        ),
        ({1: 2.0}, {}, ["metric name 1 is not a string"]),
    ],
    ids=["numbers", "nan", "negative-inf", "non-numbers", "non-string-name"],
)
def test_sanitize_metrics(
    raw: dict[object, object], metrics: dict[str, object], problems: list[str]
) -> None:
    assert sanitize_metrics(raw) == (metrics, problems)


def test_result_line_is_one_compact_sorted_json_line_after_the_prefix() -> None:
    result = build_report(3, {"b": "x", "a": 1}, Evaluation.succeeded({"loss": 0.12}), 0.0141234)
    line = format_result_line(result)

    assert line == (
        'TUNEOP_RESULT {"durationSeconds":0.014123,"error":null,"metrics":{"loss":0.12},'
        '"params":{"a":1,"b":"x"},"status":"succeeded","trial":3}'
    )
    assert parse_result_line(line) == result.to_json()
    assert parse_result_line("noise") is None


def test_errors_are_flattened_and_bounded() -> None:
    long = truncate_error("line one\nline two " + "x" * 5000)
    assert "\n" not in long
    assert len(long) == MAX_ERROR_CHARS
    result = build_report(0, {}, Evaluation.failed("boom\n" * 1000), 1.0)
    assert result.error is not None and len(result.error) <= MAX_ERROR_CHARS


def test_the_pruning_extra_allows_the_operators_optuna_and_redis_ranges() -> None:
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement

    root = Path(__file__).resolve().parents[2]
    runner = tomllib.loads((root / "runner_image" / "pyproject.toml").read_text())
    operator = tomllib.loads((root / "pyproject.toml").read_text())
    pruning = {
        Requirement(r).name: Requirement(r)
        for r in runner["project"]["optional-dependencies"]["pruning"]
    }
    ranges = {Requirement(r).name: Requirement(r) for r in operator["project"]["dependencies"]}
    assert sorted(pruning) == ["optuna", "redis"]
    # Ranges, not pins: the same range on both sides, so one environment can hold both.
    for name, req in pruning.items():
        assert req.specifier == ranges[name].specifier, name
        assert not any(s.operator == "==" for s in req.specifier), req
    # The images and CI install the tested versions, which both ranges must admit.
    pins = dict(
        line.split("==", 1)
        for line in (root / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    for name, req in pruning.items():
        assert req.specifier.contains(pins[name]), (name, pins[name])


def test_no_dependency_of_the_operator_is_pinned() -> None:
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement

    root = Path(__file__).resolve().parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    every = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        every += extra
    pinned = [r for r in every if any(s.operator == "==" for s in Requirement(r).specifier)]
    assert pinned == []


def test_the_runner_images_constraints_are_the_tested_versions() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    tested = set((root / "constraints.txt").read_text().splitlines())
    lines = (root / "runner_image" / "constraints.txt").read_text().splitlines()
    pins = [line for line in lines if line and not line.startswith("#")]
    assert {p.split("==")[0].lower() for p in pins} >= {"optuna", "redis", "numpy"}
    assert [p for p in pins if p not in tested] == []
