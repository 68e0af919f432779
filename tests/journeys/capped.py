"""``tuneop`` under caps, as a hostile-input journey runs it: memory, time, and what it cost.

The command runs with an address-space limit (a runaway expansion dies instead of
taking the machine), a wall-clock timeout (a hang is a failure, not a stuck suite),
its CPU seconds from ``os.wait4`` and its peak RSS from ``VmHWM`` in
``/proc/PID/status``, read while it runs (the high-water mark of its own memory:
``ru_maxrss`` would also count the pytest process it was forked from, which Linux
carries across ``exec``). CPU time, not wall time, is what a bound is asserted on,
because the machine running the suite may be busy.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass

from user import BIN, Seen, User

__all__ = ["ADDRESS_SPACE", "PEAK_MB", "Capped", "capped", "raw_control_bytes"]

ADDRESS_SPACE = 1 << 30  # a tuneop command maps about 500 MB; a bomb needs gigabytes
PEAK_MB = 200  # issue 25: every command within 200 MB peak RSS


@dataclass(frozen=True)
class Capped:
    seen: Seen
    peak_mb: float
    cpu_seconds: float

    @property
    def lines(self) -> list[str]:
        return self.seen.err.splitlines()

    def __str__(self) -> str:
        return f"{self.seen}\n--- peak {self.peak_mb:.0f} MB, {self.cpu_seconds:.1f} s of CPU"


def _high_water_mb(pid: int) -> float:
    """The peak RSS of ``pid``'s current program so far, or 0 once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def capped(user: User, *args: str, timeout: float = 180, stdin: str | None = None) -> Capped:
    """``tuneop ARGS`` in the user's folder, capped; output read from files, not pipes."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [str(BIN / "tuneop"), *args],
            cwd=user.cwd,
            env=user.env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            preexec_fn=_limit,
            start_new_session=True,
        )
        if stdin is not None and proc.stdin is not None:
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        peak = 0.0
        while True:
            peak = max(peak, _high_water_mb(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                os.wait4(proc.pid, 0)
                command = " ".join(args)[:200]
                raise AssertionError(f"tuneop {command}: still running after {timeout}s")
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        seen = Seen(
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            time.monotonic() - t0,
        )
    return Capped(seen, peak, usage.ru_utime + usage.ru_stime)


# What a terminal would act on: C0 controls but tab and newline, DEL, C1 controls, and
# the bidi overrides and isolates that reorder what is shown.
_RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def raw_control_bytes(text: str) -> list[str]:
    """The control characters in ``text`` a terminal would act on."""
    return _RAW.findall(text)
