"""The size limits (``scripts/check_sizes.py``): modules within 400 lines, functions
within 80 lines and a cyclomatic complexity of 20 (radon's count), in the operator and
the runner, and a checker that names what is over."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def check_sizes() -> ModuleType:
    path = REPO / "scripts" / "check_sizes.py"
    spec = importlib.util.spec_from_file_location("check_sizes", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


SIZES = check_sizes()


def test_the_operator_and_the_runner_keep_every_limit() -> None:
    found, stale = SIZES.excesses([REPO / "operator", REPO / "runner_image"])
    assert [str(e) for e in found] == []
    assert stale == []


def function(name: str, lines: int) -> str:
    body = "".join("    x = 1\n" for _ in range(lines - 1))
    return f"def {name}():\n{body}"


def branches(name: str, count: int, indent: str = "") -> str:
    """A function of complexity ``count``: one decision, then ``and``s (radon counts each)."""
    cond = " and ".join(f"a{i}" for i in range(count - 1))
    return f"{indent}def {name}(*a):\n{indent}    if {cond}:\n{indent}        return 1\n"


def test_the_limits_hold_at_their_edges_and_each_step_past_one_is_named(tmp_path: Path) -> None:
    (tmp_path / "edge.py").write_text(
        function("eighty", 80) + branches("twenty", 20) + "\n" * (400 - 83)
    )
    assert len((tmp_path / "edge.py").read_text().splitlines()) == 400
    over = tmp_path / "over.py"
    over.write_text(
        function("eighty_one", 81)
        + branches("twenty_one", 21)
        + "class K:\n"
        + branches("method", 22, "    ")
        + "def outer():\n"
        + branches("inner", 21, "    ")
        + "    return inner\n"
        + "\n" * 400
    )
    found, _ = SIZES.excesses([tmp_path])
    assert sorted(str(e).split(":", 1)[1] for e in found) == sorted(
        [
            "1 (module): 493 lines > 400",
            "1 eighty_one: 81 lines > 80",
            "82 twenty_one: complexity 21 > 20",
            "86 K.method: complexity 22 > 20",
            "90 outer.inner: complexity 21 > 20",
        ]
    )
    assert all(e.path == str(over) for e in found)
