"""Issue 28, item 1: Katib v0.19.0's 33 examples through ``tuneop import katib``, one by one.

28 import (exit 0), each checked field by field against Katib's semantics (the 7 of other
trial kinds among them); 5 are refused in one line naming why: the 4 NAS examples, and the
ConfigMap template without its ConfigMap.
"""

from __future__ import annotations

import shutil

import pytest
import yaml
from katib_census import IMPORTED, KATIB, REFUSED, examples, fidelity
from user import User


def test_the_census_covers_all_33_examples_28_of_which_import() -> None:
    assert examples() == sorted([*IMPORTED, *REFUSED])
    assert (len(examples()), len(IMPORTED), len(REFUSED)) == (33, 28, 5)


@pytest.fixture
def katib(user: User) -> User:
    shutil.copytree(KATIB, user.path("katib"))
    return user


@pytest.mark.parametrize("example", sorted(IMPORTED))
def test_a_katib_example_imports_as_katib_runs_it(katib: User, example: str) -> None:
    seen = katib.tuneop("import", "katib", f"katib/{example}", "-o", "session.yaml")
    assert seen.code == 0, seen
    lines = seen.err.splitlines()
    assert lines[-1].startswith("run it: tuneop run session.yaml"), seen
    notes = [line for line in lines[:-1] if line.startswith("note: ")]
    assert len(notes) == len(lines) - 1, seen
    named = [line.removeprefix("note: ").split(":", 1)[0] for line in notes]
    expected = list(IMPORTED[example])
    if (
        example.endswith("bayesian-optimization.yaml")
        and "gp" not in katib.path("session.yaml").read_text()
    ):
        expected.append("spec.algorithm.algorithmName")  # TPE, said so, without tuneop[gp]
    assert sorted(named) == sorted(expected), seen
    exp = yaml.safe_load((KATIB / example).read_text())
    fidelity(exp, yaml.safe_load(katib.path("session.yaml").read_text())["spec"])
    plan = katib.tuneop("plan", "session.yaml")
    assert plan.code == 0, plan


@pytest.mark.parametrize("example", sorted(REFUSED))
def test_a_katib_example_tuneop_cannot_run_is_refused_in_one_line(
    katib: User, example: str
) -> None:
    seen = katib.tuneop("import", "katib", f"katib/{example}")
    assert seen.code == 2 and seen.out == "", seen
    assert len(seen.err.splitlines()) == 1, seen
    assert seen.err.startswith(f"error: katib/{example}: ") and REFUSED[example] in seen.err, seen
