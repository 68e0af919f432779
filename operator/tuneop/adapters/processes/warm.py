"""Warm workers: one process per slot that runs successive Jobs of a Python objective.

A local session whose objective is a Python function (``runner.objective:
module:function``, the runner's own container) would start an interpreter and
import the objective for every Job. Instead ``WarmPool`` keeps one warm worker
process (``python -m tuneop_runner.warm``) per slot in use and hands each new
Job to an idle one: a JSON line with the Job's environment and a fresh random
nonce (``secrets``), which frames that Job's trials in its log
(``tuneop.core.wire.framing``) and is never handed to the objective. Trials that
share a process therefore cannot stand in for each other's results, as trials
sharing a Job cannot.

The worker's output (stdout and stderr) goes to the log of the Job it is
running, capped like any worker log (``LOG_CAP_BYTES``, then only result and
frame lines), until the worker prints ``TUNEOP_JOB_DONE <nonce> <code>``: the
Job ended with that exit code, and the worker is idle again. ``WarmRun`` is
that Job seen as a process (``pid``, ``poll``) by ``processes.LocalJobs``.

A session whose Jobs add no variables of their own to this process's environment
can have its workers started before its first Job (``WarmPool.prestart``): their
interpreters start while the session is still getting ready.

Stopping a Job that is still running (its deadline, Ctrl-C, the session's end)
stops its worker and every process below it; the next Job gets a fresh worker.
So does a worker that dies mid-Job (``os._exit``, a crash in a C extension):
the Job ends with the worker's exit status and ``crash`` says what happened,
in the words a local user knows.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tuneop.adapters.processes.proctree import stop_tree
from tuneop.adapters.processes.spawn import dying_with_us, exit_words, result_trial, wall_times
from tuneop.adapters.results_folder.logs import RESULT, Tail
from tuneop.api.worker import DEFAULT_COMMAND
from tuneop.core.wire.framing import FRAME_PREFIXES
from tuneop.core.wire.resultline import RESULT_PREFIX

__all__ = ["DONE_PREFIX", "WarmPool", "WarmRun", "job_env", "runs_warm", "warm_argv"]

DONE_PREFIX = b"TUNEOP_JOB_DONE "  # the runner's tuneop_runner.warm.DONE_PREFIX
_KEPT_PAST_CAP = tuple(p.encode() for p in (RESULT_PREFIX, *FRAME_PREFIXES))
_READ_LINE_BYTES = 1024 * 1024
_MAX_MARKS = 10_000
_GRACE_SECONDS = 2.0


def warm_argv() -> list[str]:
    """The warm worker's command: this interpreter, so the objective's packages are there."""
    return [sys.executable, "-m", "tuneop_runner.warm"]


def runs_warm(container: dict[str, Any], env: dict[str, str]) -> bool:
    """The runner's own container with a Python objective: a warm worker can run it."""
    words = [*container.get("command", []), *container.get("args", [])]
    return words == DEFAULT_COMMAND and bool(env.get("TUNEOP_OBJECTIVE"))


def job_env(env: dict[str, str]) -> dict[str, str]:
    """What a Job's environment adds to this process's (a warm worker starts with it)."""
    return {k: v for k, v in env.items() if os.environ.get(k) != v}


def _died(code: int) -> str:
    # In the words of a cold worker's exit (``spawn.exit_words``): "exited with code 139".
    return exit_words(code)


@dataclass
class WarmRun:
    """One Job on a warm worker: its exit code once done (``poll``), the worker's ``pid``."""

    pid: int
    nonce: str
    log: IO[bytes]
    cap: int
    code: int | None = None
    crash: str | None = None  # the worker died mid-Job: how
    written: int = 0
    dropped: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    # As a cold worker's attempt keeps them (``spawn``): its wall times and last lines.
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    marks: list[tuple[int, float]] = field(default_factory=list)
    tail: Tail = field(default_factory=Tail)

    def seconds(self, trials: Sequence[int]) -> dict[int, float]:
        """Each of ``trials``' wall time in this Job (``spawn.wall_times``)."""
        return wall_times(self.started, self.ended, self.marks, trials)

    def poll(self) -> int | None:
        return self.code

    def write(self, line: bytes) -> None:
        """A line of the worker's output into this Job's log, within its cap."""
        if line.startswith(RESULT):
            trial = result_trial(line)
            if trial is not None and len(self.marks) < _MAX_MARKS:
                self.marks.append((trial, time.monotonic()))
        elif not line.startswith(_KEPT_PAST_CAP):
            self.tail.add(line)  # stdout and stderr are one stream on a warm worker
        if self.written + len(line) > self.cap:
            if self.written <= self.cap:
                self.log.write(
                    f"\n[tuneop: output past {self.cap} bytes is not kept; result "
                    "lines are]\n".encode()
                )
                self.written = self.cap + 1
            if not line.startswith(_KEPT_PAST_CAP):
                self.dropped += len(line)
                return
        self.written += len(line)
        self.log.write(line)
        self.log.flush()

    def finish(self, code: int, crash: str | None = None) -> None:
        if self.dropped:
            self.log.write(f"\n[tuneop: {self.dropped} bytes of output were not kept]\n".encode())
        self.log.close()
        self.ended = time.monotonic()
        self.code, self.crash = code, crash
        self.done.set()


class _Worker:
    """One warm process and the thread that reads its output into the current Job's log."""

    def __init__(self, env: dict[str, str], cwd: Path | None, on_done: Callable[[], None]):
        # Like every worker, it dies with tuneop (``spawn``: the parent-death signal).
        argv, preexec = dying_with_us(warm_argv())
        self.proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,
        )
        self.run: WarmRun | None = None
        self.lock = threading.Lock()
        self.on_done = on_done
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def idle(self) -> bool:
        return self.run is None and self.proc.poll() is None

    def start(self, run: WarmRun, env: dict[str, str]) -> None:
        assert self.proc.stdin is not None
        with self.lock:
            self.run = run
        request = json.dumps({"nonce": run.nonce, "env": env}, separators=(",", ":"))
        self.proc.stdin.write(request.encode() + b"\n")
        self.proc.stdin.flush()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout as out:
            for line in iter(lambda: out.readline(_READ_LINE_BYTES), b""):
                with self.lock:
                    run = self.run
                if run is None:
                    continue  # between Jobs: nothing of the worker's is any Job's
                # Found anywhere on the line: an objective may have left a line unfinished.
                at = line.find(DONE_PREFIX + run.nonce.encode() + b" ")
                if at < 0:
                    run.write(line)
                    continue
                if at > 0:
                    run.write(line[:at] + b"\n")
                self._end(run, int(line.rsplit(b" ", 1)[1]))
        code = self.proc.wait()
        with self.lock:
            run = self.run
        if run is not None:
            self._end(run, code if code != 0 else 1, _died(code))

    def _end(self, run: WarmRun, code: int, crash: str | None = None) -> None:
        with self.lock:
            self.run = None
        run.finish(code, crash)
        self.on_done()

    def end_input(self) -> None:
        """No more Jobs: the worker's loop ends at the end of its input, and it exits."""
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):  # gone already (a broken pipe): nothing to tell
            self.proc.stdin.close()

    def exits_within(self, seconds: float) -> bool:
        try:
            self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self) -> None:
        """Stop the worker and every process below it (``setsid`` children included)."""
        stop_tree(self.proc.pid, _GRACE_SECONDS, include_root=True)
        try:
            self.proc.wait(timeout=_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class WarmPool:
    """The warm workers of one local session; ``on_done`` is called when a Job ends."""

    env: dict[str, str]
    cwd: Path | None
    on_done: Callable[[], None]
    cap: int
    _workers: list[_Worker] = field(default_factory=list)

    def start(self, job_env: dict[str, str], log: IO[bytes]) -> WarmRun:
        """Run a Job (its environment) on an idle worker, or a new one; its output to ``log``."""
        self._workers = [w for w in self._workers if w.proc.poll() is None]
        worker = next((w for w in self._workers if w.idle), None)
        if worker is None:
            # The session's own variables (runner.env) are the process's from its start, as
            # a worker process would have them; the per-Job TUNEOP_ ones come per Job.
            own = {k: v for k, v in job_env.items() if not k.startswith("TUNEOP_")}
            worker = _Worker({**self.env, **own}, self.cwd, self._done)
            self._workers.append(worker)
        run = WarmRun(worker.proc.pid, secrets.token_hex(16), log, self.cap)
        try:
            worker.start(run, job_env)
        except OSError:  # it died between Jobs: the Job fails as a crash, the next is fresh
            run.finish(1, "the worker process could not take the trial")
            self.on_done()
        return run

    def prestart(self, count: int) -> None:
        """Start idle workers now, up to ``count``, with this pool's environment as it is
        (for a session whose Jobs add no variables but tuneop's own ``TUNEOP_`` ones, which
        come with each Job): the session's first Jobs find them started."""
        for _ in range(count - len(self._workers)):
            self._workers.append(_Worker(dict(self.env), self.cwd, self._done))

    def _done(self) -> None:
        # Looked up as each Job ends: a pool started early is handed its loop's later.
        self.on_done()

    def stop(self, run: WarmRun) -> None:
        """Stop ``run`` if it is still running: its worker goes, with everything below it."""
        if run.code is not None:
            return
        for worker in self._workers:
            if worker.run is run:
                worker.stop()
        run.done.wait(_GRACE_SECONDS)

    def close(self) -> None:
        """The session is over: each idle worker is told so (the end of its input; it
        exits at once, all of them together, where stopping one after another polled each
        one's tree), and one that does not exit within the grace, or is running a Job,
        is stopped with everything below it. What an idle worker's objective left running
        in the background is stopped by the session's own sweep (``LocalJobs.shutdown``)."""
        live = [w for w in self._workers if w.proc.poll() is None]
        idle = [w for w in live if w.idle]
        for worker in idle:
            worker.end_input()
        for worker in live:
            if worker not in idle or not worker.exits_within(_GRACE_SECONDS):
                worker.stop()
        self._workers.clear()
