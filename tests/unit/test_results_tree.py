"""A results folder's readers walk its tree without recursion, a bounded depth down.

A thousand nested folders planted anywhere below a results folder once ended ``tuneop
summary``, ``report``, ``export`` and ``Session.run`` in a ``RecursionError`` (pathlib's
``rglob`` recursed once per level). The readers now find the same session folders with a
walk of their own: never a recursion, never a link to a folder followed, at most
``MAX_DEPTH`` folders down.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.component.results_builders import record, results_folder

from deep_trees import DEEP, nest, plant_deep_tree, remove_tree
from tuneop.adapters.results_folder.folder import load_records, session_folders
from tuneop.adapters.results_folder.tree import MAX_DEPTH, trial_files


def session(root: Path) -> Path:
    return results_folder(root, [record(t) for t in range(3)], name="demo")


# Where the deep tree is planted, relative to the results root holding session "demo".
PLANTS: dict[str, Callable[[Path], Path]] = {
    "beside-the-session": lambda root: root / "junk",
    "in-the-session-folder": lambda root: root / "demo" / "junk",
    "in-its-trials-folder": lambda root: root / "demo" / "trials" / "junk",
    "in-its-logs-folder": lambda root: root / "demo" / "logs",
}

READERS: dict[str, Callable[[Path], list[int]]] = {
    "load_records": lambda root: [r["trial"] for r in load_records(root)],
    "session_folders": lambda root: [len(session_folders(root))],
}
EXPECTED = {"load_records": [0, 1, 2], "session_folders": [1]}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_a_deep_tree_anywhere_below_a_results_folder_is_walked_without_recursion(
    request: pytest.FixtureRequest, tmp_path: Path, plant: str, reader: str
) -> None:
    session(tmp_path)
    plant_deep_tree(request, PLANTS[plant](tmp_path))
    assert READERS[reader](tmp_path) == EXPECTED[reader]


@pytest.mark.parametrize(
    ("levels", "found"),
    [(0, True), (3, True), (MAX_DEPTH - 1, True), (MAX_DEPTH, False), (DEEP, False)],
)
def test_a_session_folder_is_found_at_most_max_depth_folders_down(
    request: pytest.FixtureRequest, tmp_path: Path, levels: int, found: bool
) -> None:
    """A session folder ``levels`` below the root: its ``trials`` folder is ``levels + 1``
    down, looked in down to ``MAX_DEPTH``."""
    request.addfinalizer(lambda: remove_tree(tmp_path))
    session(nest(tmp_path, levels))
    assert bool(trial_files(tmp_path)) is found
    assert len(session_folders(tmp_path)) == int(found)


def test_a_link_to_a_folder_is_not_followed(tmp_path: Path) -> None:
    """A link back up (a loop) or to another session: neither is walked into."""
    session(tmp_path / "root")
    other = session(tmp_path / "elsewhere")
    os.symlink(tmp_path / "root", tmp_path / "root" / "demo" / "loop")
    os.symlink(other, tmp_path / "root" / "linked")
    assert session_folders(tmp_path / "root") == [tmp_path / "root" / "demo"]
    assert [r["trial"] for r in load_records(tmp_path / "root")] == [0, 1, 2]


def test_the_walk_finds_what_rglob_finds_in_a_tree_of_results(tmp_path: Path) -> None:
    for where in ("a", "a/b", "ns/one", "ns/two", "x/y/z"):
        session(tmp_path / where)
    (tmp_path / "a" / "demo" / "trials" / "notes.txt").write_text("not a trial")
    assert trial_files(tmp_path) == sorted(tmp_path.rglob("trials/trial-*.json"))
