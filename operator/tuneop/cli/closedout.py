"""A local run outlives its standard output: ``tuneop run --local ... | head -1``.

When the reader of a pipe ends, each later write to it fails (``BrokenPipeError``).
A command that only prints may stop there; a local session may not: its trials, the
hours they took, and its status would be cut short by a pager closed early. So a local
run's standard output is wrapped: the first write that finds it closed sends the rest
of the run's output to ``/dev/null`` (what is still buffered too, so the interpreter's
last flush finds nothing to fail on), says so in one line on standard error, and the
session goes on to its end and its exit code; its results folder holds what it
printed. Standard error is wrapped the same way (``2>&1 | head`` closes it too), without
the notice.

A command that only prints what exists (``tuneop summary``) writes its whole output with
``print_for_reader``: a reader that ends early (``| head -1``) took what it wanted, so
the rest is dropped without a word and the command exits 0, as it does when standard
output was closed from the start (``>&-``: nothing to print to, as rich treats it).
"""

from __future__ import annotations

import os
import sys
from contextlib import suppress
from typing import Any, TextIO

__all__ = ["ClosedOutput", "outlive_closed_stdout", "print_for_reader"]

NOTICE = (
    "notice: standard output was closed (its reader ended); the session goes on without"
    " printing, and its results folder holds its summary"
)


class ClosedOutput:
    """A text stream that, once its reader is gone, writes to ``/dev/null`` instead."""

    def __init__(self, inner: TextIO, notice: str | None = None) -> None:
        self._inner = inner
        self._notice = notice
        self.closed_by_reader = False

    def write(self, text: str) -> int:
        try:
            return self._inner.write(text)
        except BrokenPipeError:
            self._gone()
            return len(text)

    def flush(self) -> None:
        try:
            self._inner.flush()
        except BrokenPipeError:
            self._gone()

    def _gone(self) -> None:
        if self.closed_by_reader:
            return
        self.closed_by_reader = True
        _to_null(self._inner)
        if self._notice is not None:
            with suppress(OSError):  # standard error closed too: nobody is there to tell
                print(self._notice, file=sys.stderr, flush=True)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding...: rich asks
        return getattr(self._inner, name)


def _to_null(stream: TextIO) -> None:
    """Point ``stream``'s file at ``/dev/null``: what its buffer still holds drains into
    it, so the interpreter's last flush finds nothing to fail on."""
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, stream.fileno())
    finally:
        os.close(null)


def print_for_reader(text: str) -> int:
    """``text`` written to standard output and flushed; the command's exit code, 0 (module
    doc: a reader that ends early, or an output closed from the start, drops the rest)."""
    out = sys.stdout
    if out is None:  # started with standard output closed (>&-)
        return 0
    try:
        out.write(text)
        out.flush()  # a reader gone shows here, not in the interpreter's last flush
    except BrokenPipeError:
        _to_null(out)
    return 0


def outlive_closed_stdout() -> None:
    """Wrap ``sys.stdout`` and ``sys.stderr`` (once) so that a closed pipe never stops
    the run (``2>&1 | head`` closes both)."""
    if not isinstance(sys.stderr, ClosedOutput):
        sys.stderr = ClosedOutput(sys.stderr)
    if not isinstance(sys.stdout, ClosedOutput):
        sys.stdout = ClosedOutput(sys.stdout, NOTICE)
