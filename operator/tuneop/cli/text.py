"""Text from untrusted sources, made safe to print.

Trial output, result files, specs and what Redis or the API server hands
back can hold anything: rich markup (``[/data]``), terminal escapes
(``ESC[2J``, ``ESC]0;title``), bidirectional overrides, megabytes in one
field. Everything the command line prints that did not come from tuneop
itself goes through ``clean`` (control and bidi characters shown as
``\\x1b``-style escapes, length bounded) and reaches rich as ``Text``, never
as markup. ``styled`` joins such pieces with tuneop's own styling.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

# rich is imported when a styled line is built: clean() serves commands that print none.
if TYPE_CHECKING:
    from rich.text import Text

__all__ = ["MAX_SHOWN", "clean", "styled"]

MAX_SHOWN = 2000
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
