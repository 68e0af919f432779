"""Deep folder trees, as a hostile results folder holds them: made and removed without
recursion.

``os.makedirs``, ``shutil.rmtree`` and pytest's clean-up of old temporary folders call
themselves once per level, so a tree past the interpreter's recursion limit (1000) can be
made, and must be removed, only one level at a time. ``plant_deep_tree`` plants one for
a test and removes it when the test ends.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["DEEP", "nest", "plant_deep_tree", "remove_tree"]

DEEP = 1500  # levels: far past the interpreter's recursion limit


def nest(folder: Path, levels: int = DEEP, name: str = "d") -> Path:
    """``levels`` folders below ``folder``, one inside the next; the innermost."""
    for _ in range(levels):
        folder = folder / name
        folder.mkdir()
    return folder


def remove_tree(top: Path) -> None:
    """``top`` and everything below it, removed folder by folder from the bottom up."""
    pending = [top]
    while pending:
        folder = pending[-1]
        with os.scandir(folder) as entries:
            found = list(entries)
        below = [Path(e.path) for e in found if e.is_dir(follow_symlinks=False)]
        if below:
            pending.extend(below)
            continue
        for entry in found:
            os.unlink(entry.path)
        os.rmdir(folder)
        pending.pop()


def plant_deep_tree(request: pytest.FixtureRequest, folder: Path) -> Path:
    """``DEEP`` nested folders planted below ``folder`` (made if missing), removed when the
    test ends; the innermost."""
    folder.mkdir(parents=True, exist_ok=True)
    top = folder / "d"
    request.addfinalizer(lambda: remove_tree(top) if top.exists() else None)
    return nest(folder)
