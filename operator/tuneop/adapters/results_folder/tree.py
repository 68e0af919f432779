"""The trial files below a results folder, found by a bounded walk that never recurses.

A results folder is untrusted, and so is every folder below it: a tree of a thousand
nested folders planted anywhere there must not stop a reader (``Path.rglob`` and, before
Python 3.12, ``os.walk`` call themselves once per level, so such a tree ends them in a
``RecursionError``). The walk keeps its own list of folders to visit, never follows a
link to a folder, passes over a folder it cannot list (one whose path is too long among
them), and looks at most ``MAX_DEPTH`` folders below the one it is given: results have a
known shape (``<root>/<namespace>/<name>/trials``, a few levels under a project), so a
session folder deeper than that is not looked for.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["MAX_DEPTH", "holds_file", "trial_files"]

# Folders below the one given that are searched for session folders; an operator's
# results are three below its --results-dir, so this leaves room for any project's layout.
MAX_DEPTH = 32


def _folders(folder: Path) -> list[str]:
    """The names of the real folders (not links) in ``folder``; none when it cannot be
    listed (gone meanwhile, unreadable, its path too long)."""
    names = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        names.append(entry.name)
                except OSError:
                    continue
    except OSError:
        return []
    return names


def _trial_names(trials: Path) -> list[str]:
    """The entries of a ``trials`` folder named as trial files (whatever they are: a
    reader refuses a link or FIFO among them when it opens one)."""
    try:
        with os.scandir(trials) as entries:
            names = [e.name for e in entries]
    except OSError:
        return []
    return [n for n in names if n.startswith("trial-") and n.endswith(".json")]


def trial_files(root: Path) -> list[Path]:
    """Every ``trials/trial-*.json`` at or below ``root`` (at most ``MAX_DEPTH`` folders
    down), sorted; what ``root.rglob("trials/trial-*.json")`` finds, without its recursion."""
    found: list[Path] = []
    pending = [(root, 0)]
    while pending:
        folder, depth = pending.pop()
        for name in _folders(folder):
            below = folder / name
            if name == "trials":
                found.extend(below / n for n in _trial_names(below))
            if depth < MAX_DEPTH:
                pending.append((below, depth + 1))
    return sorted(found)


def holds_file(root: Path, name: str) -> bool:
    """Whether a file named ``name`` is at or below ``root`` (``MAX_DEPTH`` folders down at
    most, never through a link to a folder): a session's ``session.json`` before any of
    its trials has ended."""
    pending = [(root, 0)]
    while pending:
        folder, depth = pending.pop()
        if os.path.isfile(folder / name):
            return True
        if depth < MAX_DEPTH:
            pending.extend((folder / n, depth + 1) for n in _folders(folder))
    return False
