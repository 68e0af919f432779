"""Hostile spec and Katib files through `tuneop plan`, `tuneop run --local` and
`tuneop import katib` (issue 25 items 3, 4, 7, 8 and 9).

Hypothesis takes a small valid spec (or Katib's random-search example) and makes one field
hostile: a number at the edges (1e308, 10**400, a boolean), text with terminal escapes, a
mapping nested hundreds deep, a YAML alias bomb, a list of a thousand bad values. Whatever
the file holds: no traceback, no hang, exit 0 or 2 (a run: 0, 1 or 2), nothing raw on the
terminal, at most five error lines, within the memory bound.
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

REPO = Path(__file__).resolve().parents[2]

SPEC: dict[str, Any] = {
    "apiVersion": "tuneop.dev/v1alpha1",
    "kind": "TuningSession",
    "metadata": {"name": "hostile"},
    "spec": {
        "objective": {"metric": "loss"},
        "searchSpace": [
            {"name": "x", "type": "int", "min": 0, "max": 2},
            {"name": "y", "type": "float", "min": -1.0, "max": 0.0, "step": 0.5},
        ],
        "optimizer": {"type": "grid"},
        "maxParallel": 2,
        "trialTimeoutSeconds": 30,
        "runner": {
            "image": "tuneop/runner:0.1.0",
            "objective": "tuneop_runner.objectives.functions:quadratic",
        },
    },
}
KATIB = yaml.safe_load((REPO / "tests/unit/katib/random-job.yaml").read_text())

EDGE_NUMBERS = st.sampled_from(
    [10**400, -(10**400), 1e308, -1e308, float("inf"), True, False, 2**63, -1, 0, 1e-320]
)
ESCAPES = st.lists(
    st.sampled_from(["\x1b[31m", "\x1b]0;t\x07", "\u202e", "\x00", "\x9b", "a", "é"]),
    min_size=1,
    max_size=8,
).map(lambda parts: "n" + "".join(parts))


def nested(depth: int) -> Any:
    doc: Any = "x"
    for _ in range(depth):
        doc = {"a": doc}
    return doc


def alias_bomb(levels: int) -> str:
    """YAML flow text that expands to 9**levels strings from a few hundred bytes."""
    parts = ["&a0 [x, x, x, x, x, x, x, x, x]"]
    parts += [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "[" + ", ".join(parts) + "]"


def set_path(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    where: Any = out
    for key in path[:-1]:
        where = where[key]
    where[path[-1]] = value
    return out


NUMERIC = st.sampled_from(
    [
        ("spec", "searchSpace", 0, "max"),
        ("spec", "searchSpace", 0, "min"),
        ("spec", "searchSpace", 1, "max"),
        ("spec", "searchSpace", 1, "step"),
        ("spec", "maxParallel"),
        ("spec", "totalTrials"),
        ("spec", "trialTimeoutSeconds"),
    ]
)
TEXTUAL = st.sampled_from(
    [
        ("metadata", "name"),
        ("metadata", "namespace"),
        ("spec", "objective", "metric"),
        ("spec", "searchSpace", 0, "name"),
    ]
)
DEEP = st.sampled_from([("spec", "runner", "resources"), ("spec", "runner", "tolerations")])


@st.composite
def hostile_spec(draw: st.DrawFn) -> str:
    """The text of a spec file with one field made hostile."""
    kind = draw(st.sampled_from(["number", "text", "deep", "bomb", "bad-list"]))
    if kind == "number":
        return yaml.safe_dump(set_path(SPEC, draw(NUMERIC), draw(EDGE_NUMBERS)))
    if kind == "text":
        return yaml.safe_dump(set_path(SPEC, draw(TEXTUAL), draw(ESCAPES)), allow_unicode=True)
    if kind == "deep":
        value = nested(draw(st.integers(50, 400)))
        return yaml.safe_dump(set_path(SPEC, draw(DEEP), value), width=10**6)
    if kind == "bad-list":
        bad = draw(st.sampled_from([{}, True, 10**400, "\x1b[2J"]))
        values = [bad] * draw(st.integers(2, 1024))
        cat = {"name": "c", "type": "categorical", "values": values}
        return yaml.safe_dump(set_path(SPEC, ("spec", "searchSpace", 1), cat))
    marker = "BOMB"
    text = yaml.safe_dump(set_path(SPEC, draw(DEEP), marker))
    return text.replace(marker, alias_bomb(draw(st.integers(3, 9))))


@PROFILE
@given(text=hostile_spec(), command=st.sampled_from(["plan", "plan", "run"]))
def test_a_hostile_spec_is_planned_run_or_refused_in_one_line(text: str, command: str) -> None:
    home = Path(tempfile.mkdtemp(prefix="adv-spec-"))
    try:
        (home / "s.yaml").write_text(text, encoding="utf-8", errors="surrogateescape")
        if command == "plan":
            ran = capped(home, "plan", "s.yaml", timeout=30)
            check_sane(ran, (0, 2))
        else:
            ran = capped(home, "run", "s.yaml", "--local", "--no-report", timeout=60)
            check_sane(ran, (0, 1, 2))
    finally:
        shutil.rmtree(home, ignore_errors=True)


KATIB_NUMERIC = st.sampled_from(
    [
        ("spec", "parallelTrialCount"),
        ("spec", "maxTrialCount"),
        ("spec", "maxFailedTrialCount"),
        ("spec", "parameters", 0, "feasibleSpace", "min"),
        ("spec", "parameters", 0, "feasibleSpace", "max"),
        ("spec", "parameters", 1, "feasibleSpace", "max"),
    ]
)
KATIB_TEXTUAL = st.sampled_from(
    [
        ("metadata", "name"),
        ("metadata", "namespace"),
        ("spec", "objective", "objectiveMetricName"),
        ("spec", "parameters", 2, "name"),
    ]
)


@st.composite
def hostile_katib(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["number", "text", "deep", "bomb"]))
    if kind == "number":
        return yaml.safe_dump(set_path(KATIB, draw(KATIB_NUMERIC), draw(EDGE_NUMBERS)))
    if kind == "text":
        doc = set_path(KATIB, draw(KATIB_TEXTUAL), draw(ESCAPES))
        return yaml.safe_dump(doc, allow_unicode=True)
    where = ("spec", "trialTemplate", "trialSpec", "spec", "template", "spec", "nodeSelector")
    if kind == "deep":
        return yaml.safe_dump(set_path(KATIB, where, nested(draw(st.integers(50, 400)))))
    text = yaml.safe_dump(set_path(KATIB, where, "BOMB"), width=10**6)
    return text.replace("BOMB", alias_bomb(draw(st.integers(3, 9))))


@PROFILE
@given(text=hostile_katib())
def test_a_hostile_katib_file_is_imported_or_refused_in_one_line(text: str) -> None:
    home = Path(tempfile.mkdtemp(prefix="adv-katib-"))
    try:
        (home / "k.yaml").write_text(text, encoding="utf-8")
        ran = capped(home, "import", "katib", "k.yaml", "-o", "s.yaml", timeout=30)
        check_sane(ran, (0, 2))
        if ran.code == 0:  # what it wrote plans, or is refused in one line
            check_sane(capped(home, "plan", "s.yaml", timeout=30), (0, 2))
    finally:
        shutil.rmtree(home, ignore_errors=True)
