"""tuneop's side of the watchdog (``tuneop.adapters.processes.watchdog``).

The watchdog is started with the first worker, in a session of its own (a
terminal's Ctrl-C is not for it), reading a pipe whose only writer is this
process: each worker is announced there. ``close`` says ``bye``, so the
watchdog leaves without stopping anything: a session that ends normally has
already stopped its workers. If this process dies, the pipe ends without
``bye``, and the watchdog stops what the workers left behind.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from dataclasses import dataclass

from tuneop.adapters.processes import watchdog

__all__ = ["Watchdog"]

_CLOSE_SECONDS = 5.0


@dataclass
class Watchdog:
    """A session's watchdog, started when the first worker is announced."""

    enabled: bool = True
    proc: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes] | None:
        try:
            # -I -S: the standard library only, nothing of site-packages to import.
            return subprocess.Popen(
                [sys.executable, "-I", "-S", watchdog.__file__],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            return None  # workers still die with tuneop; only what they start may not

    def announce(self, pid: int, start: str | None) -> None:
        if not self.enabled or start is None:
            return
        if self.proc is None:
            self.proc = self._start()
        if self.proc is None or self.proc.stdin is None:
            return
        with contextlib.suppress(OSError):
            self.proc.stdin.write(f"{pid} {start}\n".encode())
            self.proc.stdin.flush()

    def pids(self) -> frozenset[int]:
        return frozenset({self.proc.pid}) if self.proc is not None else frozenset()

    def close(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.write(b"bye\n")
                proc.stdin.close()
        try:
            proc.wait(timeout=_CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
