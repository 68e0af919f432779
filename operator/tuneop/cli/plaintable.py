"""Tables drawn as rich draws them off a terminal, without importing rich.

Importing rich's console and table costs about 0.1 s of a command's start-up, a third
of ``tuneop plan``'s budget. Off a terminal (a pipe, a file, CI) rich prints no colour
and never wraps (``text.output_console``: width ``PIPE_WIDTH``, soft wrap), so a simple
table comes out as plain text: rich's default ``HEAVY_HEAD`` box, one space of padding,
left-aligned cells, the title and caption centred over the table's width. ``draw``
gives that text, character for character, or None for anything it cannot promise to
draw as rich would (a cell or title with characters of another width than one, a table
wider than the page): the caller then hands the table to rich. A unit test holds the
two equal over generated tables.

``plain_stdout`` tells whether standard output is where rich would print plain text:
the same decision as ``rich.console.Console.is_terminal``, made without rich.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

__all__ = ["draw", "plain_stdout"]

# Characters whose width on a terminal is one cell: printable ASCII and the ellipsis
# tuneop's own captions use. Anything else (wide, combining, escaped) goes to rich.
_NARROW_EXTRA = frozenset("…")


def _narrow(text: str) -> bool:
    return all((" " <= c <= "~") or c in _NARROW_EXTRA for c in text)


def plain_stdout(stream: TextIO | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether rich would print plain text to ``stream`` (standard output): not a
    terminal, as rich decides it (``TTY_COMPATIBLE``, ``FORCE_COLOR``, ``isatty``), on a
    UTF-8 stream (elsewhere rich draws its boxes in ASCII) and not on Windows."""
    out = sys.stdout if stream is None else stream
    env = os.environ if environ is None else environ
    if sys.platform == "win32" or not (getattr(out, "encoding", "") or "").lower().startswith(
        "utf"
    ):
        return False
    compatible = env.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "0"
    if env.get("FORCE_COLOR") is not None:
        return env["FORCE_COLOR"] == ""
    try:
        return not out.isatty()
    except ValueError:  # closed: rich says "not a terminal" too
        return True


def _centred(text: str, width: int) -> str:
    if len(text) >= width:
        return text  # rich, not wrapping, prints it whole
    left = (width - len(text)) // 2
    return " " * left + text + " " * (width - len(text) - left)


def _drawable(
    title: str | None, columns: Sequence[str], rows: Sequence[Sequence[str]], caption: str | None
) -> bool:
    """Whether the table is one ``draw`` can promise to print as rich would."""
    texts = [*columns, *(c for row in rows for c in row), title or "", caption or ""]
    if not columns or not all(_narrow(t) for t in texts):
        return False
    if any(t and t != t.strip() for t in (title, caption)):
        return False  # rich trims a centred line (and may wrap at its spaces)
    if any("[" in t or ":" in t for t in (*columns, title or "", caption or "")):
        # rich reads a header, title or caption as markup and ``:name:`` as an emoji code:
        # it may print another text
        return False
    return all(len(row) == len(columns) for row in rows)


def draw(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    caption: str | None = None,
    page_width: int = 1000,
) -> str | None:
    """The table as rich prints it off a terminal (lines ending in newlines), or None
    when only rich can say (see the module's docstring)."""
    if not _drawable(title, columns, rows, caption):
        return None
    widths = [max([len(c), *(len(row[i]) for row in rows)]) + 2 for i, c in enumerate(columns)]
    width = sum(widths) + len(widths) + 1
    if width > page_width:
        return None  # rich would shrink the columns and wrap cells

    def line(left: str, fill: str, joint: str, right: str) -> str:
        return left + joint.join(fill * w for w in widths) + right

    def cells(edge: str, values: Sequence[str]) -> str:
        return (
            edge
            + edge.join(f" {v.ljust(w - 2)} " for v, w in zip(values, widths, strict=True))
            + edge
        )

    out = [_centred(title, width)] if title else []
    out += [line("┏", "━", "┳", "┓"), cells("┃", columns), line("┡", "━", "╇", "┩")]
    out += [cells("│", row) for row in rows]
    out.append(line("└", "─", "┴", "┘"))
    if caption:
        out.append(_centred(caption, width))
    return "".join(f"{s}\n" for s in out)
