"""Text from untrusted sources, made safe to print.

Trial output, result files, specs and what Redis or the API server hands
back can hold anything: rich markup (``[/data]``), terminal escapes
(``ESC[2J``, ``ESC]0;title``), bidirectional overrides, megabytes in one
field. Everything the command line prints that did not come from tuneop
itself goes through ``clean`` (control and bidi characters shown as
``\\x1b``-style escapes, length bounded) and reaches rich as ``Text``, never
as markup. ``styled`` joins such pieces with tuneop's own styling.

``output_console`` is the console every command prints with: rich's own at a
terminal; elsewhere (CI, ``nohup``, ``| tee``) one that never wraps a line,
so a log holds each sentence and path whole (rich would wrap at 80 columns).
"""

from __future__ import annotations

import errno
import re
from pathlib import Path
from typing import TYPE_CHECKING

# rich is imported when a styled line is built: clean() serves commands that print none.
if TYPE_CHECKING:
    from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "MAX_SHOWN",
    "PIPE_WIDTH",
    "clean",
    "given",
    "os_error_text",
    "output_console",
    "styled",
]

MAX_SHOWN = 2000
# Off a terminal: wide enough that a table keeps its natural width (a table is no wider
# than its content), while text is printed unwrapped whatever its length.
PIPE_WIDTH = 1000
# C0 and C1 control characters, DEL, and the Unicode format characters that reorder
# or hide text (bidi embeddings, overrides and isolates, zero-width characters).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: object, limit: int = MAX_SHOWN) -> str:
    """``value`` as one printable line: unsafe characters escaped, at most ``limit`` long."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + f"… ({len(text) - limit} more characters)"
    return _UNSAFE.sub(_escape, text)


def given(value: str) -> str:
    """An option's text, not empty: ``--metric ''`` or ``-o ''`` is a slip (argparse's
    ``type``: one line naming the option, exit 2), never the default read silently."""
    if not value.strip():
        import argparse

        raise argparse.ArgumentTypeError("must not be empty")
    return value


def styled(*parts: str | tuple[str, str]) -> Text:
    """A line from pieces: a plain string is untrusted and cleaned; a ``(text, style)``
    pair is tuneop's own and styled as given."""
    from rich.text import Text

    out = Text()
    for part in parts:
        if isinstance(part, tuple):
            out.append(part[0], style=part[1])
        else:
            out.append(clean(part))
    return out


def output_console(stderr: bool = False, wrap_text: bool = True) -> Console:
    """The console a command prints with. At a terminal rich wraps text at its width
    (unless ``wrap_text`` is False: YAML and JSON are never wrapped) and draws live
    views; off a terminal lines are never wrapped, whatever ``$COLUMNS`` says."""
    from rich.console import Console  # when a command prints, not when ``--help`` does

    console = Console(stderr=stderr, soft_wrap=not wrap_text)
    if console.is_terminal:
        return console
    return Console(stderr=stderr, soft_wrap=True, width=PIPE_WIDTH)


def os_error_text(err: OSError, where: Path | str | None = None) -> str:
    """An ``OSError`` as one line: the file it names (else ``where``), what went wrong and
    the errno's name (``ENOSPC``, ``EFBIG``), the name cleaned like any outside text."""
    place = err.filename if err.filename is not None else where
    head = f"{clean(place)}: " if place is not None else ""
    name = f" ({errno.errorcode.get(err.errno, 'errno ' + str(err.errno))})" if err.errno else ""
    return f"{head}{clean(err.strerror or err)}{name}"
