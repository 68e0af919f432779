"""Child processes that cannot outlive whoever started them.

Every long-running thing the harness starts (etcd, the apiserver, the controller-manager, the
node simulator, and the simulated containers) is a process group leader of its own, so it can
be stopped with everything it forked, and is started through util-linux's ``setpriv
--pdeathsig`` so the kernel signals it when the thread that started it dies, even when that
thread's process is killed with SIGKILL and never runs its clean-up. (``setpriv`` sets the
parent-death signal and then execs the program in place, which avoids ``preexec_fn`` and its
hazards in threaded programs.) Note that the signal follows the starting *thread*: start
children from a thread that lives as long as they should.

``Managed`` is the one shape of a long-running manager beside the cluster (Kueue's, the
trial-kind controllers'): its log under ``STATE/logs``, started by the subclass's ``start``,
ready when an HTTP probe answers 200 (``wait_ready``, which the control plane's components
use too), stopped with its whole group, and a context manager.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = [
    "ClusterError",
    "Managed",
    "exit_code",
    "signal_group",
    "spawn",
    "stop",
    "tail",
    "wait_ready",
]

SETPRIV = shutil.which("setpriv")


class ClusterError(RuntimeError):
    """The cluster could not be brought up (the message carries the component logs)."""


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    death_signal: str = "KILL",
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session, output (stdout and stderr) appended to ``log_path``."""
    command = list(argv)
    if SETPRIV:
        command = [SETPRIV, f"--pdeathsig={death_signal}", "--", *command]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )


def signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    """Send ``sig`` to the process group that ``process`` leads, if any member is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> int:
    """SIGTERM the group, wait up to ``grace`` seconds for the leader, then SIGKILL the group."""
    signal_group(process, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    signal_group(process, signal.SIGKILL)
    return process.wait()


def exit_code(returncode: int) -> int:
    """A container-style exit code: a death by signal N is reported as 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file (for diagnostics on failure)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 256 * lines))
            data = handle.read().decode("utf-8", "replace")
    except OSError as error:
        return f"<cannot read {path}: {error}>"
    return "\n".join(data.splitlines()[-lines:])


def wait_ready(
    process: subprocess.Popen[bytes],
    name: str,
    url: str,
    deadline: float,
    describe: Callable[[], str],
    *,
    context: ssl.SSLContext | None = None,
    interval: float = 0.5,
) -> None:
    """Poll ``url`` until it answers 200; raise ClusterError (with ``describe()``, the logs)
    if ``process`` exits first or ``deadline`` (monotonic) passes."""
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ClusterError(f"{name} exited with {process.returncode}\n{describe()}")
        try:
            with urllib.request.urlopen(url, context=context, timeout=5) as answer:
                if answer.status == 200:
                    return
                last = f"HTTP {answer.status}"
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}: {error.read()[:300]!r}"
        except OSError as error:
            last = str(error)
        time.sleep(interval)
    raise ClusterError(f"{name} not ready at {url}: {last}\n{describe()}")


class Managed:
    """A manager process beside the cluster; ``start`` (the subclass's) launches it."""

    name = "process"

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir.resolve()
        self.log_path = self.state_dir / "logs" / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180.0) -> Self:
        raise NotImplementedError

    def launch(self, argv: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        """Spawn ``argv`` in the state directory, SIGTERMed if the starting thread dies."""
        self.process = spawn(
            argv, log_path=self.log_path, env=env, cwd=self.state_dir, death_signal="TERM"
        )
        return self.process

    def wait_ready(self, url: str, deadline: float) -> None:
        assert self.process is not None, "launch first"
        wait_ready(self.process, self.name, url, deadline, self.tail)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, grace=10.0)
            self.process = None

    def tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
