"""The README's own commands, typed as written in a copy of the repository.

The quickstart block creates a fresh virtual environment and installs into it, exactly as a
new user does (pip's cache makes it quick after the first time); the scikit-learn block then
installs the examples extra into that same environment and runs the real model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from user import User, clone_repository, doc_block


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[User]:
    """A copy of the repository's tracked files, as a user's clone has them."""
    root = tmp_path_factory.mktemp("clone") / "tuneop"
    clone_repository(root)
    yield User(root, copy_examples=False)


def trials(folder: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted((folder / "trials").glob("*.json"))]


def test_the_readme_quickstart_installs_and_runs_on_a_fresh_clone(checkout: User) -> None:
    seen = checkout.sh(doc_block("README.md", "readme-quickstart"), timeout=900)
    assert seen.code == 0, seen
    assert "Traceback" not in seen.both
    assert "Succeeded" in seen.out, seen
    folder = checkout.path("tuneop-results/quickstart")
    session = json.loads((folder / "session.json").read_text())
    assert session["phase"] == "Succeeded"
    last = seen.out.strip().splitlines()[-1]
    if not (folder / "report.html").is_file():  # a run under 5 s: the command that writes it
        command = last.split("to write it now: ", 1)[1]
        assert checkout.sh(f".venv/bin/{command}").code == 0, last
    assert (folder / "report.html").is_file()


def test_the_readme_sklearn_example_runs_as_written(checkout: User) -> None:
    if not checkout.path(".venv/bin/tuneop").exists():
        pytest.skip("the quickstart journey did not install the clone's venv")
    seen = checkout.sh(doc_block("README.md", "readme-sklearn"), timeout=1200)
    assert seen.code == 0, seen
    assert "Traceback" not in seen.both
    folder = checkout.path("tuneop-results/sklearn-gbm")
    session = json.loads((folder / "session.json").read_text())
    assert session["phase"] == "Succeeded", session
