"""The source layout: ``operator/`` is a source folder and must never shadow the stdlib."""

from __future__ import annotations

import operator
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_operator_folder_is_not_a_package() -> None:
    assert (REPO / "operator" / "tuneop" / "__init__.py").is_file()
    assert not (REPO / "operator" / "__init__.py").exists()


def test_import_operator_is_the_standard_library_here() -> None:
    assert operator.itemgetter(1)([0, 42]) == 42
    assert REPO / "operator" not in Path(operator.__file__).resolve().parents


def test_import_operator_is_the_standard_library_from_the_repo_root() -> None:
    # A fresh interpreter with the repo root first on sys.path, as `python -c` run there has.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import operator, tuneop; "
        "print(operator.__file__); print(hasattr(operator, 'itemgetter')); print(tuneop.__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(REPO)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split("\n")
    assert not out[0].startswith(str(REPO / "operator"))
    assert out[1] == "True"
    assert Path(out[2]).resolve() == REPO / "operator" / "tuneop" / "__init__.py"
