"""Contract lines begin a line of their own, whatever the objective printed before them.

A result line (``TUNEOP_RESULT ...``) and a frame's lines are read only where a line
starts: an objective that prints without a newline (``print("done.", end="")``, a
progress bar's ``\\r`` updates) would put the next contract line in the middle of its
own, and the trial's result would be lost. The worker's standard output and error are
wrapped so that what Python code writes through ``sys.stdout`` and ``sys.stderr`` is
followed (a warm worker sends both down one pipe): before a contract line, a newline
ends the objective's unfinished one. (Bytes written around ``sys.stdout``, to
its ``buffer`` or to file descriptor 1 directly, are not followed; a command objective's
output never reaches this stream: it is read from a pipe.)
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TextIO

__all__ = ["LineTracking", "begin_line", "follow_stdout"]


class LineTracking:
    """A text stream that passes everything on and knows whether its last line ended."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner
        self.mid_line = False

    def write(self, text: str) -> int:
        written = self._inner.write(text)
        if text:
            self.mid_line = not text.endswith("\n")
        return written

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, buffer, encoding...
        return getattr(self._inner, name)


def follow_stdout() -> None:
    """``sys.stdout`` followed from now on, and ``sys.stderr`` with it (a warm worker's
    two streams are one pipe, so a line either leaves unfinished is the other's too).
    Once: a warm worker's later jobs keep them."""
    if not isinstance(sys.stderr, LineTracking):
        sys.stderr = LineTracking(sys.stderr)
    if not isinstance(sys.stdout, LineTracking):
        sys.stdout = LineTracking(sys.stdout)


def begin_line() -> None:
    """End a line the objective left unfinished on standard output (or on standard
    error, written first), so what is printed next on standard output starts one. Where
    the two streams are apart, the extra newline is only an empty line."""
    out, err = sys.stdout, sys.stderr
    err.flush()  # what it holds goes before the line that follows, not into it
    pending = [s for s in (out, err) if isinstance(s, LineTracking) and s.mid_line]
    if pending:
        out.write("\n")
        for stream in pending:
            stream.mid_line = False
