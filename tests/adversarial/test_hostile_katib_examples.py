"""Katib's own 33 examples (tests/data/katib), each with one field made hostile, imported.

Hypothesis picks one of Katib v0.19.0's example Experiments and any node of it (a count, a
feasible space, a container, an env entry, a trial parameter's reference, a placeholder's
text) and puts a value of the wrong shape there: a word where a number goes, a list where a
count goes, a bare string where a list or mapping goes, an edge number, a placeholder
naming nothing. Whatever it holds: no traceback, exit 0 or 2, at most five error lines,
within the memory bound; what it wrote plans, or is refused in one line.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hostile import PROFILE, capped, check_sane
from hypothesis import given
from hypothesis import strategies as st

KATIB = Path(__file__).resolve().parents[2] / "tests" / "data" / "katib"
EXAMPLES = sorted(KATIB.rglob("*.yaml"))
HOSTILE = st.sampled_from(
    [
        "twelve",
        [3],
        "sgd",
        {"a": 1},
        None,
        True,
        10**400,
        1e308,
        -1,
        "${trialParameters.nothing}",
        "${trialSpec.Labels[none]}",
        "\x1b[31mred\u202e",
    ]
)


def paths(doc: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every node's path in ``doc``, its root's children first."""
    out: list[tuple[Any, ...]] = []
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    )
    for key, value in items:
        out.append((*here, key))
        out += paths(value, (*here, key))
    return out


def replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@st.composite
def hostile_example(draw: st.DrawFn) -> str:
    example = draw(st.sampled_from(EXAMPLES))
    docs = [d for d in yaml.safe_load_all(example.read_text()) if d]
    exp = next(d for d in docs if d.get("kind") == "Experiment")
    where = draw(st.sampled_from(paths(exp["spec"])))
    doc = replaced(exp, ("spec", *where), draw(HOSTILE))
    return yaml.safe_dump(doc, allow_unicode=True)


@PROFILE
@given(text=hostile_example())
def test_a_katib_example_with_a_hostile_field_is_imported_or_refused_in_one_line(
    text: str,
) -> None:
    home = Path(tempfile.mkdtemp(prefix="adv-katib-ex-"))
    try:
        (home / "k.yaml").write_text(text, encoding="utf-8")
        ran = capped(home, "import", "katib", "k.yaml", "-o", "s.yaml", timeout=30)
        check_sane(ran, (0, 2))
        if ran.code == 0:
            check_sane(capped(home, "plan", "s.yaml", timeout=30), (0, 2))
    finally:
        shutil.rmtree(home, ignore_errors=True)
