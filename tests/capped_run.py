"""A command under caps, and what it cost: the one runner of the journey tier
(``tests/journeys/capped.py``) and the adversarial tier (``tests/adversarial/hostile.py``).

``run_capped`` starts a program in a folder of its own, in its own session, with an
address-space limit (``RLIMIT_AS``: a runaway expansion dies instead of taking the
machine) and a wall-clock timeout (a hang is an AssertionError naming the command, its
process group killed, not a stuck suite). Its output goes to files, not pipes, so a
flood never blocks it. It returns the exit code, the output, the wall and CPU seconds
(``os.wait4``) and the peak RSS.

The peak RSS is the program's own high-water mark, ``VmHWM`` in ``/proc/PID/status``,
read while it runs, never ``ru_maxrss``. Linux starts a forked child's high-water mark
at its parent's RSS and carries it across ``exec`` into ``ru_maxrss``, so ``ru_maxrss``
of a command started by pytest is at least pytest's size at the fork; over a long
Hypothesis run pytest grows (43 MB to 507 MB over 150 cases of the trial-output
property), so ``ru_maxrss`` reported 200 MB and more for a ``tuneop run`` whose own peak
was 41-61 MB: the "sporadic 224 MB peak" of issue 25's adversarial tier, which a replay
in a fresh, small pytest showed as 47 MB. ``VmHWM`` belongs to the program's own memory
map, made anew by ``exec``, and ``Popen`` returns only once ``exec`` is done, so no
sample sees the forked image. A high-water mark only rises, so sampling misses only what
the program reaches in its last ``SAMPLE_SECONDS``; its own children (a local session's
workers) are not counted: the bounds are on the command, not on the trials it runs.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = [
    "PEAK_RSS_MB",
    "PEAK_RSS_MB_REPORT",
    "SAMPLE_SECONDS",
    "Run",
    "high_water_mb",
    "raw_control_bytes",
    "run_capped",
]

PEAK_RSS_MB = 200  # issue 25: every command within 200 MB peak RSS...
PEAK_RSS_MB_REPORT = 250  # ...but `tuneop report`, which inlines plotly
SAMPLE_SECONDS = 0.01

# What a terminal would act on: C0 controls but tab and newline, DEL, C1 controls, and
# the bidi overrides and isolates that reorder what is shown.
_RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class Run:
    """What a capped run of ``program ARGS`` did."""

    program: str
    args: tuple[str, ...]
    code: int
    out: str
    err: str
    seconds: float
    peak_mb: float
    cpu_seconds: float

    def __str__(self) -> str:
        command = " ".join((self.program, *self.args))[:300]
        return (
            f"{command}: exit {self.code} after {self.seconds:.1f}s, peak {self.peak_mb:.0f} MB,"
            f" {self.cpu_seconds:.1f}s of CPU\n--- stdout\n{self.out[-3000:]}"
            f"\n--- stderr\n{self.err[-3000:]}"
        )


def raw_control_bytes(text: str) -> list[str]:
    """The control characters in ``text`` a terminal would act on."""
    return _RAW.findall(text)


def _vm_hwm_mb(status: IO[bytes]) -> float:
    status.seek(0)
    for line in status.read().splitlines():
        if line.startswith(b"VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0  # a zombie: its memory is gone, and its peak was read before


def high_water_mb(pid: int) -> float:
    """The peak RSS of ``pid``'s current program so far, 0 once it has exited."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            return _vm_hwm_mb(status)
    except OSError:
        return 0.0


def _limit(address_space: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))


def _watch(
    proc: subprocess.Popen[bytes], timeout: float, what: str
) -> tuple[int, float, resource.struct_rusage]:
    """Wait for ``proc`` (reaped here, not by Popen), sampling its peak; its status, peak
    and usage. Past ``timeout`` its group is killed and the hang is an AssertionError."""
    t0 = time.monotonic()
    peak = 0.0
    try:
        # Kept open and re-read: a sample costs one read, so it can be taken often.
        status: IO[bytes] | None = open(f"/proc/{proc.pid}/status", "rb")  # noqa: SIM115
    except OSError:
        status = None
    try:
        while True:
            if status is not None:
                # ESRCH: it has exited; its peak was read before.
                with contextlib.suppress(OSError):
                    peak = max(peak, _vm_hwm_mb(status))
            pid, wait_status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                return wait_status, peak, usage
            if time.monotonic() - t0 > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                os.wait4(proc.pid, 0)
                raise AssertionError(f"{what}: still running after {timeout}s")
            time.sleep(SAMPLE_SECONDS)
    finally:
        if status is not None:
            status.close()


def run_capped(
    program: str | Path,
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    address_space: int,
    timeout: float,
    stdin: str | None = None,
) -> Run:
    """``program ARGS`` in ``cwd`` with ``env``, capped; see the module's docstring."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [str(program), *args],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            preexec_fn=lambda: _limit(address_space),
            start_new_session=True,
        )
        if stdin is not None and proc.stdin is not None:
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        name = Path(program).name
        wait_status, peak, usage = _watch(proc, timeout, f"{name} {' '.join(args)[:200]}")
        proc.returncode = os.waitstatus_to_exitcode(wait_status)
        seconds = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        return Run(
            name,
            tuple(args),
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            seconds,
            peak,
            usage.ru_utime + usage.ru_stime,
        )
