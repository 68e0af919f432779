"""``SessionSpec.learns_from_history``: the one place that says a session's trials come
from its history (a learning optimizer over a search space, not an explicit list)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

import tuneop
from tuneop.api.spec import SessionSpec, parse_spec

PACKAGE = Path(tuneop.__file__).parent


def spec(optimizer: str, explicit: bool) -> SessionSpec:
    data: dict[str, Any] = {
        "objective": {"metric": "loss"},
        "optimizer": {"type": optimizer},
        "runner": {"image": "example/runner:1"},
    }
    if explicit:
        data["trials"] = [{"x": 1}, {"x": 2}]
    else:
        data["searchSpace"] = [{"name": "x", "type": "int", "min": 0, "max": 3}]
        data["totalTrials"] = 4
    return parse_spec(data)


@pytest.mark.parametrize(
    ("optimizer", "explicit", "learns"),
    [
        ("bayesian", False, True),
        ("cmaes", False, True),
        ("random", True, False),  # an explicit list runs as written
        ("random", False, False),
        ("grid", False, False),
        ("qmc", False, False),
    ],
)
def test_a_session_learns_from_history_with_a_learning_optimizer_over_a_search_space(
    optimizer: str, explicit: bool, learns: bool
) -> None:
    assert spec(optimizer, explicit).learns_from_history is learns


def learns_and_trials(tree: ast.AST) -> list[int]:
    """Lines of a boolean expression that reads both ``.learns`` and ``.trials``."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BoolOp):
            names = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
            if {"learns", "trials"} <= names:
                out.append(node.lineno)
    return out


def test_a_learning_optimizer_with_an_explicit_list_is_refused_before_it_could_learn() -> None:
    with pytest.raises(ValueError, match="needs a searchSpace, not trials"):
        spec("bayesian", explicit=True)


def test_the_rule_is_written_once_on_the_spec() -> None:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name != "api/spec.py" and (lines := learns_and_trials(ast.parse(path.read_text()))):
            found[name] = lines
    assert found == {}


def test_the_scan_sees_the_copies_it_replaced() -> None:
    copies = "a = spec.optimizer.learns and spec.trials is None\n"
    copies += "if not spec.optimizer.learns or spec.trials is not None: pass\n"
    copies += "b = spec.optimizer.learns and not spec.trials\n"
    assert learns_and_trials(ast.parse(copies)) == [1, 2, 3]
