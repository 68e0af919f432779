"""Reading a worker log of any size in bounded memory: its result lines and its tail.

A worker's output is untrusted and may be huge (a training loop that prints
every step, a trial that floods stderr). The harvest needs only two things
from it: every result line (``RESULT_PREFIX``), wherever it stands, and the
last stretch of other output, which explains a trial that never reported.
``scan`` reads the log as a stream of chunks and keeps exactly those: memory
is bounded by the result lines (each at most ``MAX_LINE_BYTES``, longer ones
are cut and later count as malformed) plus ``tail_bytes``, whatever the log's
size. Intermediate lines (a trial's progress, ``tuneop.core.intermediate``)
are kept too, the first ``INTERMEDIATE_BYTES`` of them (each line cut at its
own small bound). The local and the Kubernetes adapters both read logs
through it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from tuneop.core.contract import LOG_TAIL_BYTES, MAX_LINE_BYTES, RESULT_PREFIX
from tuneop.core.intermediate import INTERMEDIATE_PREFIX, MAX_INTERMEDIATE_LINE_BYTES

__all__ = ["INTERMEDIATE_BYTES", "LogScan", "scan"]

# Intermediate lines kept per log; with the result lines they stay within what
# parse_log reads (LOG_TAIL_BYTES), so learning curves do not push results out.
INTERMEDIATE_BYTES = 2 * 1024 * 1024
_STEP_PREFIX = INTERMEDIATE_PREFIX.encode()
_STEP_CAP = MAX_INTERMEDIATE_LINE_BYTES + len(_STEP_PREFIX) + 1

_PREFIX = RESULT_PREFIX.encode()
# A line is kept whole up to this size; past it, the rest of the line is dropped.
_LINE_CAP = MAX_LINE_BYTES + len(_PREFIX) + 1


class LogScan:
    """Feed chunks with ``add``; ``text`` is the result lines after the tail of the rest."""

    def __init__(self, tail_bytes: int = LOG_TAIL_BYTES) -> None:
        self.tail_bytes = tail_bytes
        self.results: list[bytes] = []
        self.steps: list[bytes] = []
        self.steps_kept = 0
        self.rest: deque[bytes] = deque()
        self.kept = 0
        self.size = 0
        self._line = bytearray()
        self._cut = False  # the current line grew past _LINE_CAP: drop the rest of it

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        start = 0
        while start < len(chunk):
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start : end + 1]
            if not self._cut:
                self._line += piece[: max(_LINE_CAP - len(self._line), 0)]
                self._cut = len(self._line) >= _LINE_CAP
            if end < 0:
                return
            self._finish()
            start = end + 1

    def _finish(self) -> None:
        line = bytes(self._line)
        if not line.endswith(b"\n"):
            line += b"\n"
        self._line.clear()
        self._cut = False
        if line.startswith(_PREFIX):
            self.results.append(line)
            return
        if line.startswith(_STEP_PREFIX):
            if len(line) > _STEP_CAP:  # past its bound it is malformed either way
                line = line[: _STEP_CAP - 1] + b"\n"
            if self.steps_kept + len(line) <= INTERMEDIATE_BYTES:
                self.steps.append(line)
                self.steps_kept += len(line)
            return
        self.rest.append(line)
        self.kept += len(line)
        while self.kept > self.tail_bytes and len(self.rest) > 1:
            self.kept -= len(self.rest.popleft())

    def text(self) -> str:
        if self._line:
            self._finish()
        kept = [*self.rest, *self.steps, *self.results]
        return b"".join(kept).decode("utf-8", errors="replace")


def scan(chunks: Iterable[bytes], tail_bytes: int = LOG_TAIL_BYTES) -> str:
    """What the harvest needs of a log given as chunks: see the module's docstring."""
    reader = LogScan(tail_bytes)
    for chunk in chunks:
        reader.add(chunk)
    return reader.text()
