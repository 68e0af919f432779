"""Reading a worker log of any size in bounded memory: what counts of it, and its tail.

A worker's output is untrusted and may be huge (a training loop that prints
every step, a trial that floods stdout with look-alike result lines). The
harvest needs only two things from it: each trial's result and learning
curve, by the rules of ``tuneop.core.wire.framing`` (inside the trial's frame when
the runner framed the log, within per-trial budgets), and the last stretch of
other output, which explains a trial that never reported. ``scan`` reads the
log as a stream of chunks and keeps exactly those: memory is bounded by what
``framing.LogReader`` keeps per trial (one result line, each line at most
``MAX_LINE_BYTES``: longer ones are cut and count as malformed, and a budget
of intermediate lines) plus ``tail_bytes``, whatever the log's size and
however one trial floods it. Given the Job's ``trials``, the lines of no
other trial are kept. The text it returns reads back (``parse_log``) to the
same reports. The local and the Kubernetes adapters both read logs through it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable

from tuneop.core.wire.framing import FRAME_PREFIXES, INTERMEDIATE_BYTES, LogReader
from tuneop.core.wire.intermediate import INTERMEDIATE_PREFIX
from tuneop.core.wire.resultline import LOG_TAIL_BYTES, MAX_LINE_BYTES, RESULT_PREFIX

__all__ = ["INTERMEDIATE_BYTES", "LogScan", "scan"]

# Lines the reader judges; everything else is the tail's.
_COUNTED = tuple(p.encode() for p in (RESULT_PREFIX, INTERMEDIATE_PREFIX, *FRAME_PREFIXES))
# A line is kept whole up to this size; past it, the rest of the line is dropped.
_LINE_CAP = MAX_LINE_BYTES + len(RESULT_PREFIX) + 1


class LogScan:
    """Feed chunks with ``add``; ``text`` is what counts of the log, after the tail of the rest."""

    def __init__(
        self, tail_bytes: int = LOG_TAIL_BYTES, trials: Collection[int] | None = None
    ) -> None:
        self.tail_bytes = tail_bytes
        self.reader = LogReader(trials)
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
        # A carriage return ends a line too (a progress bar's "50%\r" before a result).
        pieces = line[:-1].split(b"\r") if b"\r" in line else [line[:-1]]
        counted = [p for p in pieces if p.startswith(_COUNTED)]
        for piece in counted:
            self.reader.add(piece.decode("utf-8", errors="replace"))
        if counted:
            other = [p for p in pieces if p and not p.startswith(_COUNTED)]
            if not other:
                return
            line = b"\r".join(other) + b"\n"
        self.rest.append(line)
        self.kept += len(line)
        while self.kept > self.tail_bytes and len(self.rest) > 1:
            self.kept -= len(self.rest.popleft())

    def text(self) -> str:
        if self._line:
            self._finish()
        counted = self.reader.lines()
        framed = self.reader.nonce is not None
        # A framed log's announcement stays first: it is what makes the log framed.
        head = counted[:1] if framed else []
        body = counted[1:] if framed else counted
        rest = b"".join(self.rest).decode("utf-8", errors="replace")
        return "".join(f"{x}\n" for x in head) + rest + "".join(f"{x}\n" for x in body)


def scan(
    chunks: Iterable[bytes],
    tail_bytes: int = LOG_TAIL_BYTES,
    trials: Collection[int] | None = None,
) -> str:
    """What the harvest needs of a log given as chunks: see the module's docstring."""
    reader = LogScan(tail_bytes, trials)
    for chunk in chunks:
        reader.add(chunk)
    return reader.text()
