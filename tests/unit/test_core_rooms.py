"""The core's rooms (``scripts/move_core.py``): the table's rules, and a rewrite that
points each old reference at its new place once and never again."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from hypothesis import given
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "operator" / "tuneop" / "core"
MAX_TOP_LEVEL_MODULES = 16


def move_core() -> ModuleType:
    spec = importlib.util.spec_from_file_location("move_core", REPO / "scripts" / "move_core.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


MOVE = move_core()


def test_the_core_top_level_holds_at_most_16_modules_and_every_room_says_what_it_holds() -> None:
    top = sorted(p.stem for p in CORE.glob("*.py") if p.name != "__init__.py")
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
    assert top == sorted(MOVE.STAYS)
    rooms = sorted(p.parent.name for p in CORE.glob("*/__init__.py"))
    assert rooms == sorted(MOVE.ROOMS)
    for room in rooms:
        text = (CORE / room / "__init__.py").read_text()
        assert text.startswith('"""') and "__all__" in text, room


def test_every_moved_module_is_in_its_room_and_no_room_is_named_like_a_module() -> None:
    for old, new in MOVE.TABLE.items():
        assert not (CORE / f"{old}.py").exists(), old
        assert (CORE / f"{new.replace('.', '/')}.py").is_file(), new
    assert not set(MOVE.ROOMS) & (set(MOVE.TABLE) | set(MOVE.STAYS))


def test_each_form_of_reference_is_rewritten() -> None:
    old = (
        "from tuneop.core import events, untrusted as u\n"
        "    from tuneop.core import (\n        framing,\n        clock,\n    )\n"
        "from tuneop.core.search import point  # why\n"
        'patch("tuneop.core.bayesian.gp_available")\n'
        "python -m tuneop.core.summary, `core.ledger.open_ledger`, core/katib.py\n"
        "np.core.records, numpy/_core/x.py, tuneop.core.planning.planner\n"
    )
    assert MOVE.rewrite(old) == (
        "from tuneop.core.planning import events\nfrom tuneop.core import untrusted as u\n"
        "    from tuneop.core.wire import framing\n    from tuneop.core import clock\n"
        "from tuneop.core.suggest.search import point  # why\n"
        'patch("tuneop.core.suggest.bayesian.gp_available")\n'
        "python -m tuneop.core.results.summary, `core.planning.ledger.open_ledger`, "
        "core/conversions/katib.py\n"
        "np.core.records, numpy/_core/x.py, tuneop.core.planning.planner\n"
    )


FRAGMENTS = st.sampled_from(
    [
        "tuneop.core.",
        "core.",
        "core/",
        "operator/tuneop/core/",
        "from tuneop.core import ",
        "from ",
        " import ",
        ".py",
        ", ",
        "(",
        ")",
        "\n",
        " ",
        "_",
        "np.",
        "tuneop.",
        *MOVE.TABLE,
        *MOVE.STAYS,
        *MOVE.ROOMS,
        "x",
        "as",
    ]
)


@given(st.lists(FRAGMENTS, max_size=30).map("".join))
def test_a_rewritten_text_is_never_rewritten_again(text: str) -> None:
    once = MOVE.rewrite(text)
    assert MOVE.rewrite(once) == once
