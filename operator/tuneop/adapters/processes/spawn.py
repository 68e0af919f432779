"""One attempt of a local worker: its process, its log, and what it did, in local words.

A worker runs in its own session and process group, its stdout and stderr
read into its log (``tuneop.adapters.results_folder.logs``) by a thread each. While it
runs, an attempt notes when each result line arrived (so each trial of the
worker gets its own wall time: from the worker's start, or the previous
trial's result, to its own result; the last one to the worker's exit) and
keeps stderr's last lines. When it ends, ``exit_words`` says what happened
the way a person at this machine says it: "exited with code 1", "was killed
by SIGKILL", never a Kubernetes reason.

A worker dies with the process that started it: it is started with Linux's
``PR_SET_PDEATHSIG`` (SIGTERM), so even a ``kill -9`` of tuneop stops it at
once; what it started is the watchdog's (``tuneop.adapters.processes.watchdog``).
The signal is set by util-linux's ``setpriv --pdeathsig`` where it is
installed (it then execs the worker: about 2 ms), else by ``prctl`` called
between fork and exec (a ``preexec_fn``, which costs Python its fast
``vfork`` path: about 15 ms a worker). The parent-death signal is sent when
the *thread* that started the worker ends, so workers are started from the
thread that runs the session.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tuneop.adapters.results_folder.logs import (
    LOG_CAP_BYTES,
    READ_CHUNK_BYTES,
    RESULT,
    Tail,
    WorkerLog,
    pump,
)
from tuneop.adapters.results_folder.safefs import open_new

__all__ = [
    "DRAIN_LIMIT_SECONDS",
    "DRAIN_SECONDS",
    "PDEATHSIG",
    "Attempt",
    "drain",
    "dying_with_us",
    "exit_words",
    "pipe_held",
    "result_trial",
    "start_attempt",
    "wall_times",
]

PR_SET_PDEATHSIG = 1
PDEATHSIG = signal.SIGTERM
# A result line's trial number sits near its start; it is read from this much of it.
_MARK_BYTES = 64 * 1024
_MAX_MARKS = 10_000
# After a worker exits, how long its output may stay silent before the readers are given
# up on: a process it left behind may hold its pipes open for ever. While output still
# flows (a flood's last megabytes on a loaded machine) they are waited for, up to
# DRAIN_LIMIT_SECONDS: a result line at the end of a flood must reach the log. Silence
# counts only while the pipe is empty and still has a writer (``pipe_held``): a pipe with
# bytes or its end of file waiting has a reader the machine's load has not scheduled yet,
# and giving up on such a reader (at a load of 12) lost the result at a flood's end.
DRAIN_SECONDS = 2.0
DRAIN_LIMIT_SECONDS = 60.0


def _prctl() -> Callable[..., int] | None:
    try:
        fn: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return fn
    except (OSError, AttributeError):
        return None


# Resolved here, in the parent: the child between fork and exec only calls it.
_PRCTL = _prctl()


def _die_with(parent: int) -> Callable[[], None]:
    def child() -> None:
        if _PRCTL is not None:
            _PRCTL(PR_SET_PDEATHSIG, int(PDEATHSIG), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above: do not run
            os._exit(1)

    return child


@functools.cache
def _setpriv() -> str | None:
    """util-linux's setpriv, when it can set the parent-death signal (2.33 and later)."""
    path = shutil.which("setpriv")
    if path is None or not sys.platform.startswith("linux"):
        return None
    try:
        done = subprocess.run(
            [path, "--help"], capture_output=True, timeout=10, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if b"--pdeathsig" in done.stdout else None


def dying_with_us(argv: Sequence[str]) -> tuple[list[str], Callable[[], None] | None]:
    """The argv and preexec function that start ``argv`` to die with this process."""
    setpriv = _setpriv()
    if setpriv is not None:
        return [setpriv, "--pdeathsig", PDEATHSIG.name.removeprefix("SIG"), "--", *argv], None
    return list(argv), _die_with(os.getpid())


@dataclass
class Attempt:
    """One process of a worker Job."""

    proc: subprocess.Popen[bytes]
    started: float
    log: Path
    tail: Tail = field(default_factory=Tail)
    marks: list[tuple[int, float]] = field(default_factory=list)
    ended: float | None = None
    # The log could not be written (ENOSPC, EFBIG), naming it: the session must stop.
    fault: OSError | None = None
    # Set once the process ended and its output is in the log (or stopped draining).
    done: threading.Event = field(default_factory=threading.Event)

    def seconds(self, trials: Sequence[int]) -> dict[int, float]:
        """Each of ``trials``' wall time in this attempt (``wall_times``)."""
        return wall_times(self.started, self.ended, self.marks, trials)


def wall_times(
    started: float, ended: float | None, marks: Sequence[tuple[int, float]], trials: Sequence[int]
) -> dict[int, float]:
    """Each of ``trials``' wall time in a worker that started at ``started`` and printed a
    result for a trial at each of ``marks``: start (or the previous result) to its result;
    the last reported one, or the one it died on, to the exit. Nothing while it runs."""
    if ended is None:
        return {}
    out: dict[int, float] = {}
    since = started
    for trial, at in marks:
        if trial in trials and trial not in out:
            out[trial] = max(at - since, 0.0)
            since = at
    unreported = [t for t in trials if t not in out]
    if unreported:
        out[unreported[0]] = max(ended - since, 0.0)
    elif marks:
        last = next(t for t, _ in reversed(marks) if t in out)
        out[last] += max(ended - since, 0.0)
    return out


def result_trial(line: bytes) -> int | None:
    """The trial a result line names, read from its first bytes (None: none readable)."""
    try:
        doc = json.loads(line[len(RESULT) : _MARK_BYTES])
    except (ValueError, RecursionError):
        return None
    trial = doc.get("trial") if isinstance(doc, dict) else None
    return trial if isinstance(trial, int) and not isinstance(trial, bool) else None


def start_attempt(
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: Path | None,
    log_path: Path,
    monotonic: Callable[[], float],
    on_exit: Callable[[], None],
    cap: int = LOG_CAP_BYTES,
    below: Path | None = None,
) -> Attempt:
    """Start a worker process; ``on_exit`` is called (from another thread) once it ended
    and its output is in its log (no link below ``below`` followed). Raises OSError when
    it cannot start."""
    out = open_new(log_path, below)
    command, preexec = dying_with_us(argv)
    try:
        proc = subprocess.Popen(
            command,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=preexec,
        )
    except (OSError, subprocess.SubprocessError) as err:
        why = err.strerror if isinstance(err, OSError) else str(err)
        out.write(f"cannot start {argv[0]!r}: {why}\n".encode())
        out.close()
        raise OSError(why) from None
    attempt = Attempt(proc=proc, started=monotonic(), log=log_path)
    log = WorkerLog(out, cap, writers=2)

    def on_stdout(line: bytes) -> None:
        if line.startswith(RESULT):
            trial = result_trial(line)
            if trial is not None and len(attempt.marks) < _MAX_MARKS:
                attempt.marks.append((trial, monotonic()))

    def read(stream: int) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        src = proc.stdout if stream == 1 else proc.stderr
        with src:
            try:
                pump(src, log, on_stdout if stream == 1 else attempt.tail.add, stream)
            except OSError as err:
                # ENOSPC, EFBIG: the log is incomplete, so the session stops (the Job
                # backend raises the fault); the output is drained meanwhile, so the
                # worker never blocks on its pipe.
                attempt.fault = OSError(err.errno, err.strerror, str(log_path))
                while src.read(READ_CHUNK_BYTES):
                    pass
        with contextlib.suppress(OSError):
            log.close()

    assert proc.stdout is not None and proc.stderr is not None
    fds = (proc.stdout.fileno(), proc.stderr.fileno())  # read before a reader closes them

    def held(reader: int) -> bool:
        return pipe_held(fds[reader])

    def wait() -> None:
        readers = [threading.Thread(target=read, args=(n,), daemon=True) for n in (1, 2)]
        for r in readers:
            r.start()
        proc.wait()
        attempt.ended = monotonic()
        drain(readers, lambda: log.written + log.dropped, monotonic, held=held)
        attempt.done.set()
        on_exit()

    threading.Thread(target=wait, daemon=True).start()
    return attempt


def pipe_held(fd: int) -> bool:
    """Whether the pipe read at ``fd`` is empty and still has a writer: a process the
    worker left behind holds it and prints nothing. A pipe with bytes to read or whose
    writers are all gone (its end of file to read) is not held: its reader will finish."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return not poller.poll(0)  # POLLIN, POLLHUP (no writer) or POLLNVAL (closed): not held


def drain(
    readers: Sequence[threading.Thread],
    moved: Callable[[], int],
    monotonic: Callable[[], float],
    idle: float = DRAIN_SECONDS,
    limit: float = DRAIN_LIMIT_SECONDS,
    held: Callable[[int], bool] = lambda reader: True,
) -> None:
    """Wait for a finished worker's output readers while its output still flows: each
    wait of ``idle`` seconds that saw ``moved()`` (bytes read so far) grow earns another,
    up to ``limit`` in all; ``idle`` seconds of silence while ``held(i)`` (the pipe of
    reader ``i`` is empty with a writer left, ``pipe_held``), and the rest is given up on."""
    deadline = monotonic() + limit
    for i, reader in enumerate(readers):
        seen = -1
        while reader.is_alive() and monotonic() < deadline:
            now = moved()
            if now == seen and held(i):
                break  # silent for ``idle`` seconds: a process left behind holds the pipe
            seen = now
            reader.join(min(idle, max(deadline - monotonic(), 0.0)))


def exit_words(code: int) -> str:
    """What a worker's exit code means, in local words."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"
