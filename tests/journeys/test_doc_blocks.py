"""Every shell block in the README and ``docs/`` is run by a test, or says why not.

A block is run by a test when the line above its fence is ``<!-- journey: ID -->`` and a
test of the journey or e2e tier reads it with ``doc_block("DOC", "ID")``; otherwise the
line above says ``<!-- not run: REASON -->``. An unmarked block fails this tier, so a
command added to the docs is either tried the way a user types it or explained.
"""

from __future__ import annotations

import re

import pytest
from user import REPO, Block, shell_blocks

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TEST_DIRS = [REPO / "tests" / "journeys", REPO / "tests" / "e2e", REPO / "tests" / "chart"]
USE = re.compile(r'doc_block\(\s*"([^"]+)"\s*,\s*"([^"]+)"\s*\)')


def used_blocks() -> set[tuple[str, str]]:
    used: set[tuple[str, str]] = set()
    for folder in TEST_DIRS:
        for test in folder.rglob("*.py"):
            used.update(USE.findall(test.read_text()))
    return used


def all_blocks() -> list[Block]:
    return [b for doc in DOCS for b in shell_blocks(doc)]


@pytest.mark.parametrize("block", all_blocks(), ids=lambda b: f"{b.doc}:{b.line}")
def test_every_shell_block_is_run_by_a_test_or_says_why_not(block: Block) -> None:
    used = used_blocks()
    assert block.kind is not None, (
        f"{block.doc}:{block.line}: a shell block with no marker; put "
        "'<!-- journey: ID -->' (and run it from a test with doc_block) or "
        "'<!-- not run: REASON -->' on the line above its fence"
    )
    if block.kind == "journey":
        assert (block.doc, block.value) in used, (
            f"{block.doc}:{block.line}: marked journey: {block.value}, but no test calls "
            f'doc_block("{block.doc}", "{block.value}")'
        )
    else:
        assert len(block.value) >= 10, f"{block.doc}:{block.line}: say why it is not run"


def test_the_marker_scan_finds_the_readme_blocks() -> None:
    # The scan itself: the README's two fresh-machine commands are blocks it sees.
    texts = [b.text for b in shell_blocks(REPO / "README.md")]
    assert any("tuneop run examples/quickstart.yaml --local" in t for t in texts)
    assert any("./scripts/test.sh" in t for t in texts)
