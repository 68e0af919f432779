"""Child processes that cannot outlive whoever started them.

Every long-running thing the harness starts (etcd, the apiserver, the controller-manager, the
node simulator, and the simulated containers) is a process group leader of its own, so it can
be stopped with everything it forked, and is started through util-linux's ``setpriv
--pdeathsig`` so the kernel signals it when the thread that started it dies, even when that
thread's process is killed with SIGKILL and never runs its clean-up. (``setpriv`` sets the
parent-death signal and then execs the program in place, which avoids ``preexec_fn`` and its
hazards in threaded programs.) Note that the signal follows the starting *thread*: start
children from a thread that lives as long as they should.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

SETPRIV = shutil.which("setpriv")


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
