"""The bounded YAML loader: every bound refuses with its rule and line, before any expansion.

Rows pin each bound just inside and just past it (nodes, text, depth, aliases counted
expanded, cycles), and the values a spec may hold (JSON's: a timestamp stays text,
YAML 1.2 exponents are numbers, other tags and endless integers are refused).
"""

from __future__ import annotations

import pytest
import yaml

from tuneop.core.boundedyaml import (
    MAX_DEPTH,
    MAX_INT_DIGITS,
    MAX_NODES,
    MAX_TEXT_CHARS,
    Budget,
    YamlBudgetError,
    load_all,
)


def flat(n: int) -> str:
    """A document of exactly ``n`` nodes: a mapping, one key, a list of n - 3 items."""
    return "a: [" + ",".join(["1"] * (n - 3)) + "]\n"


def test_a_document_of_exactly_the_node_budget_loads() -> None:
    assert len(load_all(flat(MAX_NODES))[0]["a"]) == MAX_NODES - 3


def test_one_node_past_the_budget_is_refused_with_its_line() -> None:
    with pytest.raises(YamlBudgetError, match=f"more than {MAX_NODES:,} values$") as err:
        load_all(flat(MAX_NODES + 1))
    assert err.value.line == 1


def test_aliases_count_as_what_they_expand_to() -> None:
    nine = "a: &a [" + ",".join(["x"] * 9) + "]\n"
    uses = "b: [" + ",".join(["*a"] * 20) + "]\n"
    assert load_all(nine + uses, Budget(nodes=1000))  # 3 + 10 + 2 + 20 * 10 nodes
    with pytest.raises(YamlBudgetError, match="once its aliases are expanded") as err:
        load_all(nine + uses, Budget(nodes=200))
    assert err.value.line == 2


def test_a_billion_laughs_is_refused_at_once() -> None:
    rows = ["l0: &l0 [" + ",".join(["lol"] * 9) + "]"]
    rows += [f"l{k}: &l{k} [" + ",".join([f"*l{k - 1}"] * 9) + "]" for k in range(1, 10)]
    with pytest.raises(YamlBudgetError, match="aliases are expanded"):
        load_all("\n".join(rows))


def test_text_counts_expanded_too() -> None:
    big = "a: &a '" + "x" * 1000 + "'\nb: [" + ",".join(["*a"] * 9) + "]\n"
    assert load_all(big, Budget(text=11_000))
    with pytest.raises(YamlBudgetError, match="9,000 characters of text once its aliases"):
        load_all(big, Budget(text=9_000))
    assert MAX_TEXT_CHARS == 4 * 2**20


@pytest.mark.parametrize("text", ["a: &a [1, *a]", "a: &a {b: *a}", "&a [[[*a]]]"])
def test_an_alias_inside_its_own_anchor_is_refused(text: str) -> None:
    with pytest.raises(YamlBudgetError, match="inside its own anchor"):
        load_all(text)


def test_depth_is_bounded_without_recursion() -> None:
    assert load_all("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    for depth in (MAX_DEPTH + 1, 100_000):
        with pytest.raises(YamlBudgetError, match="nested too deeply"):
            load_all("[" * depth + "]" * depth)


def test_values_are_json_values() -> None:
    (doc,) = load_all(
        "d: 2024-01-01\nt: 2024-01-01T10:00:00Z\ne: 1e-5\nf: 1.5e3\ng: .5E1\n"
        "s: '1e5'\nn: 1e\ni: 0x10\nb: true\nz: ~\n"
    )
    assert doc == {
        "d": "2024-01-01",
        "t": "2024-01-01T10:00:00Z",
        "e": 1e-5,
        "f": 1500.0,
        "g": 5.0,
        "s": "1e5",
        "n": "1e",
        "i": 16,
        "b": True,
        "z": None,
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: !!set {x}", "!!set is not JSON data"),
        ("a: !!binary aGk=", "!!binary is not JSON data"),
        ("a: !!python/object/apply:os.system [ls]", "could not determine a constructor"),
        ("a: " + "9" * (MAX_INT_DIGITS + 1), f"more than {MAX_INT_DIGITS} digits"),
        ("a: *nowhere", "undefined alias"),
    ],
)
def test_what_is_not_json_data_is_a_yaml_error(text: str, problem: str) -> None:
    with pytest.raises(yaml.YAMLError) as err:
        load_all(text)
    assert problem in str(err.value)


def test_empty_documents_are_left_out_and_anchors_belong_to_their_document() -> None:
    assert load_all("---\n---\na: &x 1\nb: *x\n---\nc: &x 2\n") == [
        {"a": 1, "b": 1},
        {"c": 2},
    ]
