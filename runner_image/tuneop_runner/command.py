"""External-command objectives: any program that reads params and prints metrics.

The command is an argv list (no shell: params are never interpolated into a
command string). For each trial it runs once and receives the params three ways:

* stdin: the params as one JSON object;
* ``TUNEOP_PARAMS``: the same JSON in the environment;
* ``TUNEOP_PARAM_<NAME>``: one variable per param, the name upper-cased with
  every character outside ``[A-Za-z0-9]`` replaced by ``_``; numbers as
  ``str()``, booleans as ``true``/``false``, strings as they are. Two names that
  map to the same variable collide; the later one in sorted order wins.

Its metrics are the last line of its stdout that parses as a JSON object. Only
the last 64 KiB of stdout are kept for that; everything it prints on stdout is
also copied to the runner's stderr so the pod log keeps it, while the runner's
stdout stays reserved for contract lines. Its stderr is the runner's stderr.

Its stdout may also report the trial's progress, line by line, for learning
curves and early stopping (``tuneop_runner.trial.RunningTrial.hear``): the
runner prints those reports as its own intermediate lines and, when early
stopping wants the trial ended, stops the command's process group and
reports the trial as pruned with the metrics it reported last.

The command starts in a new session, hence its own process group, so a timeout
can end everything it spawned: the group gets SIGTERM, then SIGKILL after a
short grace. The group is also cleaned up when the command exits on its own, so
background processes it left behind do not pile up across packed trials or hold
its stdout open.
A stop (SIGTERM, Ctrl-C) that arrives while the command is starting is held
until that cleanup is armed, then acted on: the runner never exits leaving its
command running.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from tuneop_runner.contract import Evaluation, describe_exception
from tuneop_runner.procgroup import signal_group, terminate_group
from tuneop_runner.trial import current

__all__ = [
    "DRAIN_LIMIT_SECONDS",
    "KILL_GRACE_SECONDS",
    "STDOUT_TAIL_BYTES",
    "CommandObjective",
    "command_environment",
    "last_json_object",
    "param_env_name",
    "param_env_value",
]

STDOUT_TAIL_BYTES = 64 * 1024
KILL_GRACE_SECONDS = 2.0
# The longest an ended command's output is waited for while it still flows or waits.
DRAIN_LIMIT_SECONDS = 60.0
_SHOWN_OUTPUT_CHARS = 200
_LINE_CAP = 8192  # of a line handed to on_line; a progress line is far shorter
_NOT_ENV_NAME = re.compile(r"[^A-Za-z0-9]")


def param_env_name(name: str) -> str:
    """The ``TUNEOP_PARAM_<NAME>`` variable that carries param ``name``."""
    return "TUNEOP_PARAM_" + _NOT_ENV_NAME.sub("_", name).upper()


def param_env_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def command_environment(params: Mapping[str, object], base: Mapping[str, str]) -> dict[str, str]:
    env = dict(base)
    env["TUNEOP_PARAMS"] = json.dumps(params, sort_keys=True, separators=(",", ":"))
    for name in sorted(params):
        env[param_env_name(name)] = param_env_value(params[name])
    return env


def last_json_object(output: str) -> dict[str, object] | None:
    """The last line of ``output`` that parses as a JSON object."""
    for line in reversed(output.splitlines()):
        text = line.strip()
        if not text.startswith("{"):
            continue
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


class _TailReader(threading.Thread):
    """Drains a pipe, keeping only its last bytes and echoing it to stderr.

    Draining continuously matters: a command that writes more than the pipe
    buffer would otherwise block forever and look like a timeout.
    """

    def __init__(
        self,
        pipe: IO[bytes],
        limit: int,
        echo_fd: int | None,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(name="command-stdout", daemon=True)
        self._fd = pipe.fileno()
        self._limit = limit
        self._echo_fd = echo_fd
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self._on_line = on_line
        self._line = bytearray()  # the line being read, for on_line (cut at _LINE_CAP)
        self.moved = 0  # bytes read so far: output still flowing earns the reader more time

    def _lines(self, chunk: bytes) -> None:
        if self._on_line is None:
            return
        *done, rest = chunk.split(b"\n")
        for piece in done:
            self._line += piece[: max(_LINE_CAP - len(self._line), 0)]
            self._on_line(bytes(self._line).decode("utf-8", errors="replace"))
            self._line.clear()
        self._line += rest[: max(_LINE_CAP - len(self._line), 0)]

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.moved += len(chunk)
            if self._echo_fd is not None:
                try:
                    os.write(self._echo_fd, chunk)
                except OSError:
                    # Losing the echo must not lose the metrics.
                    self._echo_fd = None
            self._lines(chunk)
            with self._lock:
                self._buffer += chunk
                if len(self._buffer) > self._limit:
                    del self._buffer[: len(self._buffer) - self._limit]

    def text(self) -> str:
        with self._lock:
            return bytes(self._buffer).decode("utf-8", errors="replace")

    def finish(self, idle: float, limit: float = DRAIN_LIMIT_SECONDS) -> None:
        """Wait for the reader of an ended command: while its output still flows (each
        ``idle`` wait saw bytes read) or its pipe has bytes or its end of file waiting (on
        a loaded machine the reader may not be scheduled for a while), up to ``limit``;
        ``idle`` seconds of silence on an empty pipe that a process left behind holds, and
        it is given up on."""
        deadline = time.monotonic() + limit
        seen = -1
        while self.is_alive() and time.monotonic() < deadline:
            if self.moved == seen and _pipe_held(self._fd):
                return
            seen = self.moved
            self.join(min(idle, max(deadline - time.monotonic(), 0.0)))


def _pipe_held(fd: int) -> bool:
    """Whether the pipe read at ``fd`` is empty and still has a writer."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return not poller.poll(0)  # POLLIN, POLLHUP (no writer) or POLLNVAL (closed): not held


def _feed_stdin(pipe: IO[bytes], payload: bytes) -> None:
    # A command that ignores stdin may exit before reading it: that is fine.
    with contextlib.suppress(OSError):
        try:
            pipe.write(payload)
            pipe.flush()
        finally:
            pipe.close()


def _exit_description(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"command killed by {name}"
    return f"command exited with code {returncode}"


def _start_failure(program: str, exc: OSError) -> Evaluation:
    if isinstance(exc, FileNotFoundError):
        return Evaluation.failed(f"command not found: {program}")
    if isinstance(exc, PermissionError):
        return Evaluation.failed(f"command not executable: {program}")
    return Evaluation.failed(f"cannot start command {program}: {describe_exception(exc)}")


class _HeldSignals:
    """SIGTERM and SIGINT held from here until ``release``, then handled as they would have
    been. Their Python handlers raise (``cli._Terminated``, ``KeyboardInterrupt``) wherever
    the main thread is; between a command's start and the ``try`` that stops its group, that
    would leave the command running after the runner exits. Only the main thread gets
    signals, so elsewhere nothing is held."""

    def __init__(self, signums: Sequence[int] = (signal.SIGTERM, signal.SIGINT)) -> None:
        self._previous: dict[int, Any] = {}
        self._arrived: list[int] = []
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in signums:
            if signal.getsignal(signum) is not None:  # None: set outside Python, left alone
                self._previous[signum] = signal.signal(signum, self._note)

    def _note(self, signum: int, frame: object) -> None:
        if signum not in self._arrived:
            self._arrived.append(signum)

    def release(self) -> None:
        """Restore the handlers, then act on each signal that arrived meanwhile (again: no-op)."""
        previous, self._previous = self._previous, {}
        arrived, self._arrived = self._arrived, []
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in arrived:
            handler = previous[signum]
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), signum)  # its default action, now that it is safe


class CommandObjective:
    """Evaluates an external command for one trial at a time."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        grace: float = KILL_GRACE_SECONDS,
        echo_stdout_fd: int | None = 2,
    ) -> None:
        if not argv:
            raise ValueError("a command objective needs a non-empty argv")
        self.argv = tuple(argv)
        self.name = " ".join(self.argv)
        self._grace = grace
        self._echo_fd = echo_stdout_fd

    def evaluate(self, params: Mapping[str, object], timeout: float | None) -> Evaluation:
        payload = json.dumps(params, sort_keys=True, separators=(",", ":")) + "\n"
        program = self.argv[0]
        # A stop (SIGTERM, Ctrl-C) that arrives while the command starts waits until the
        # cleanup below is armed: raised any earlier, it would leave the command running.
        held = _HeldSignals()
        try:
            proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=None,
                env=command_environment(params, os.environ),
                start_new_session=True,
            )
        except OSError as exc:
            held.release()
            return _start_failure(program, exc)

        assert proc.stdin is not None and proc.stdout is not None
        trial = current()
        pruned = threading.Event()

        def hear(line: str) -> None:
            if trial is not None and not pruned.is_set() and trial.hear(line):
                pruned.set()
                signal_group(proc.pid, signal.SIGTERM)

        reader = _TailReader(proc.stdout, STDOUT_TAIL_BYTES, self._echo_fd, hear)
        timed_out = False
        returncode: int | None = None
        try:
            reader.start()
            feeder = threading.Thread(
                target=_feed_stdin, args=(proc.stdin, payload.encode()), daemon=True
            )
            feeder.start()
            held.release()  # a stop held meanwhile is raised here, inside the cleanup's try
            try:
                returncode = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                returncode = None
        finally:
            held.release()
            # Runs on every exit, including the runner being told to stop, so no
            # part of the command outlives its trial.
            terminate_group(proc, self._grace)
            # Only the output of a command that ended by itself is waited for past the
            # grace: a stop, a timeout or a prune must not keep the runner up for long.
            ended = returncode is not None and not pruned.is_set()
            reader.finish(self._grace, DRAIN_LIMIT_SECONDS if ended else self._grace)
            # A process that escaped the group may still hold the pipe open;
            # closing the fd under a blocked reader could let it read a reused fd.
            if not reader.is_alive():
                proc.stdout.close()

        if pruned.is_set() and trial is not None:
            return Evaluation.pruned(trial.last, trial.why_pruned())
        if timed_out or returncode is None:
            return Evaluation.timeout(timeout or 0.0)
        if returncode != 0:
            return Evaluation.failed(_exit_description(returncode))
        output = reader.text()
        metrics = last_json_object(output)
        if metrics is None:
            lines = [line.strip() for line in output.splitlines() if line.strip()]
            shown = lines[-1][:_SHOWN_OUTPUT_CHARS] if lines else "(no output)"
            return Evaluation.failed(f"objective output is not a JSON object: {shown}")
        return Evaluation.succeeded(metrics)
