"""A local worker's log file: its stdout and stderr, bounded, as a pod log would be.

A worker's output is untrusted and may be huge, so a log file keeps the
first ``LOG_CAP_BYTES`` of it, then a visible marker, then only the result
lines (which the harvest needs), and at the end how much was not kept. Its
stdout and stderr are read by one thread each and written to the same log a
whole line at a time (``WorkerLog``); stderr's last lines are also kept
apart (``Tail``), so a failed trial can say why it failed. The harvest reads
a log by streaming it (``harvestable``): every result line plus the last
``LOG_TAIL_BYTES`` of other output, in bounded memory.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from tuneop.adapters.results_folder.safefs import open_read
from tuneop.core.wire.contract import LOG_TAIL_BYTES, RESULT_PREFIX
from tuneop.core.wire.framing import FRAME_PREFIXES
from tuneop.core.wire.logscan import scan

__all__ = [
    "KEPT_PAST_CAP",
    "LOG_CAP_BYTES",
    "READ_CHUNK_BYTES",
    "RESULT",
    "TAIL_LINES",
    "TAIL_LINE_CHARS",
    "Tail",
    "WorkerLog",
    "copy_capped",
    "harvestable",
    "head_text",
    "pump",
]

LOG_CAP_BYTES = 16 * 1024 * 1024
# Lines are read in pieces of at most this size; a result line is far shorter.
READ_LINE_BYTES = 1024 * 1024
READ_CHUNK_BYTES = 256 * 1024
RESULT = RESULT_PREFIX.encode()
# Kept in a log past its cap: result lines, and the runner's frames they stand in.
KEPT_PAST_CAP = (RESULT, *(p.encode() for p in FRAME_PREFIXES))
# What a failed trial quotes of its stderr: its last lines, each cut to this length.
TAIL_LINES = 5
TAIL_LINE_CHARS = 300


class WorkerLog:
    """One log file written by several streams, a line at a time, capped.

    A line longer than ``READ_LINE_BYTES`` comes in pieces, and another stream's line may
    come between two of them: it then starts on a line of its own (the piece before it is
    ended with a line break), so a result or frame line is never glued to the end of a
    flood's unfinished line, where the harvest would not see it."""

    def __init__(self, dst: IO[bytes], cap: int = LOG_CAP_BYTES, writers: int = 1) -> None:
        self.dst, self.cap = dst, cap
        self.writers = writers  # the file is closed when the last one is done
        self.written = self.dropped = 0
        self.capped = False
        self._lock = threading.Lock()
        self._open: int | None = None  # the stream whose unfinished line ends the file

    def line(self, line: bytes, stream: int = 0) -> None:
        with self._lock:
            if self.written + len(line) > self.cap and not self.capped:
                self.capped = True
                note = f"\n[tuneop: output past {self.cap} bytes is not kept; result lines are]\n"
                self.dst.write(note.encode())
                self._open = None
            if self.capped and not line.startswith(KEPT_PAST_CAP):
                self.dropped += len(line)
                return
            if self._open is not None and self._open != stream:
                self.dst.write(b"\n")  # another stream's line: end the unfinished one
                self.written += 1
            self.written += len(line)
            self.dst.write(line)
            self.dst.flush()
            self._open = None if line.endswith(b"\n") else stream

    def close(self) -> int:
        """A writer is done; after the last one, note how much was not kept and close the
        file. Returns that many bytes."""
        with self._lock:
            self.writers -= 1
            if self.writers > 0 or self.dst.closed:
                return self.dropped
            if self.dropped:
                self.dst.write(
                    f"\n[tuneop: {self.dropped} bytes of output were not kept]\n".encode()
                )
            self.dst.close()
            return self.dropped


class Tail:
    """The last ``TAIL_LINES`` non-blank lines of a stream, each bounded; a line a progress
    bar rewrote with carriage returns counts as what it showed last."""

    def __init__(self, lines: int = TAIL_LINES, chars: int = TAIL_LINE_CHARS) -> None:
        self.chars = chars
        self._lines: collections.deque[str] = collections.deque(maxlen=lines)
        self._lock = threading.Lock()

    def add(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        text = text.rsplit("\r", 1)[-1].strip()
        if text:
            with self._lock:
                self._lines.append(text[: self.chars] + ("…" if len(text) > self.chars else ""))

    def lines(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._lines)


def pump(
    src: IO[bytes],
    log: WorkerLog,
    on_line: Callable[[bytes], None] | None = None,
    stream: int = 0,
) -> None:
    """Copy a stream into ``log`` line by line, handing each line to ``on_line`` too;
    ``stream`` tells this stream's lines from another's in the same log."""
    for line in iter(lambda: src.readline(READ_LINE_BYTES), b""):
        log.line(line, stream)
        if on_line is not None:
            on_line(line)


def copy_capped(src: IO[bytes], dst: IO[bytes], cap: int = LOG_CAP_BYTES) -> int:
    """Copy a worker's output into its log: all of it up to ``cap`` bytes, then only the
    result lines and the frames they stand in; returns how many bytes were not kept (also
    noted at the end)."""
    log = WorkerLog(dst, cap)
    pump(src, log)
    if log.dropped:
        dst.write(f"\n[tuneop: {log.dropped} bytes of output were not kept]\n".encode())
    return log.dropped


def head_text(path: Path, limit: int, below: Path | None = None) -> str:
    """The first ``limit`` bytes of a log, as text, read via ``safefs``."""
    with open_read(path, below) as f:
        return f.read(limit).decode("utf-8", errors="replace")


def harvestable(
    path: Path,
    tail: int = LOG_TAIL_BYTES,
    trials: Sequence[int] | None = None,
    below: Path | None = None,
) -> str:
    """What the harvest needs of a log of any size (``core.wire.logscan``), of ``trials`` only
    when given, read via ``safefs``."""
    with open_read(path, below) as f:
        return scan(iter(lambda: f.read(READ_CHUNK_BYTES), b""), tail, trials)
