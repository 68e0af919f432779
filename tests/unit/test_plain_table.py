"""``tuneop.cli.plaintable``: the tables ``tuneop plan`` prints off a terminal, drawn
without rich, are exactly what rich prints there; what it cannot promise goes to rich."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tuneop.cli.inputs import load_session
from tuneop.cli.plaintable import draw, plain_stdout
from tuneop.cli.plan import dry_run, plain_table_text, render
from tuneop.cli.text import PIPE_WIDTH

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def _rich(title: str | None, columns: list[str], rows: list[list[str]], caption: str | None) -> str:
    """The table as ``tuneop plan`` has rich print it off a terminal."""
    out = io.StringIO()
    console = Console(file=out, soft_wrap=True, width=PIPE_WIDTH, force_terminal=False)
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(Text(c) for c in row))
    table.caption = caption
    console.print(table)
    return out.getvalue()


_words = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
_any = st.text(max_size=12)  # wide, combining, control characters too: those go to rich


@settings(max_examples=1000, deadline=None)
@given(
    title=st.none() | _words,
    columns=st.lists(_words.filter(bool), min_size=1, max_size=4),
    data=st.data(),
    caption=st.none() | _words | st.just("… 12 more trials (--trials N lists the first N)"),
)
def test_a_drawn_table_is_what_rich_prints_off_a_terminal(
    title: str | None, columns: list[str], data: st.DataObject, caption: str | None
) -> None:
    cell = _words | _any
    rows = data.draw(st.lists(st.lists(cell, min_size=len(columns), max_size=len(columns))))
    drawn = draw(title, columns, rows, caption)
    if drawn is not None:
        assert drawn == _rich(title, columns, rows, caption)
    else:  # only for what it cannot promise: a character of another width, a centred
        # line with spaces at its ends, markup or an emoji code where rich reads them (headers,
        # title, caption)
        ascii_cells = all(c.isascii() and c.isprintable() for c in "".join(map("".join, rows)))
        markup = any("[" in t or ":" in t for t in (*columns, title or "", caption or ""))
        assert not ascii_cells or markup or any(t and t != t.strip() for t in (title, caption))


def test_what_only_rich_can_lay_out_is_left_to_rich() -> None:
    assert draw("t", ["a"], [["漢字"]]) is None  # two cells wide each
    assert draw("t", ["a"], [["a\x1b"]]) is None
    assert draw("t", ["a"], [["x" * 2000]], page_width=1000) is None  # rich would wrap it
    assert draw("t", ["a", "b"], [["only one"]]) is None
    assert draw("title ", ["a"], []) is None  # rich trims a centred title
    assert draw("t", ["a"], [], caption=" caption") is None
    assert draw("t", ["\\["], []) is None  # rich reads a header as markup: it prints "["


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize("trials", [None, 3, 200])
def test_the_plan_of_each_example_reads_the_same_without_rich(
    path: Path, trials: int | None
) -> None:
    session = load_session(str(path), None, "default")
    result = dry_run(session, trials=trials)
    out = io.StringIO()
    render(
        result, "table", Console(file=out, soft_wrap=True, width=PIPE_WIDTH, force_terminal=False)
    )
    assert plain_table_text(result) == out.getvalue()


class _Stream(io.StringIO):
    def __init__(self, tty: bool, encoding: str = "utf-8") -> None:
        super().__init__()
        self._tty, self._encoding = tty, encoding

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(
    ("tty", "env", "encoding", "plain"),
    [
        (False, {}, "utf-8", True),
        (True, {}, "utf-8", False),
        (False, {"FORCE_COLOR": "1"}, "utf-8", False),
        (False, {"FORCE_COLOR": ""}, "utf-8", True),
        (True, {"TTY_COMPATIBLE": "0"}, "utf-8", True),
        (False, {"TTY_COMPATIBLE": "1"}, "utf-8", False),
        (False, {}, "ascii", False),  # rich would draw its boxes in ASCII
    ],
)
def test_plain_stdout_decides_as_rich_does(
    tty: bool, env: dict[str, str], encoding: str, plain: bool
) -> None:
    stream = _Stream(tty, encoding)
    assert plain_stdout(stream, env) is plain
    if encoding.startswith("utf"):
        assert Console(file=stream, _environ=env).is_terminal is not plain
