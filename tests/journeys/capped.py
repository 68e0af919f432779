"""``tuneop`` under caps, as a hostile-input journey runs it: memory, time, and what it cost.

A thin face of the suite's one capped runner (``capped_run``, shared with the adversarial
tier): the command runs in the user's folder with the user's environment, an
address-space limit (a runaway expansion dies instead of taking the machine) and a
wall-clock timeout (a hang is a failure, not a stuck suite); its CPU seconds come from
``os.wait4`` and its peak RSS from its own ``VmHWM`` (never ``ru_maxrss``, which counts
the pytest process it was forked from: see ``capped_run``). CPU time, not wall time, is
what a bound is asserted on, because the machine running the suite may be busy.
"""

from __future__ import annotations

from dataclasses import dataclass

from user import BIN, Seen, User

from capped_run import PEAK_RSS_MB, raw_control_bytes, run_capped

__all__ = ["ADDRESS_SPACE", "PEAK_MB", "Capped", "capped", "raw_control_bytes"]

ADDRESS_SPACE = 1 << 30  # a tuneop command maps about 500 MB; a bomb needs gigabytes
PEAK_MB = PEAK_RSS_MB  # issue 25: every command within 200 MB peak RSS


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


def capped(user: User, *args: str, timeout: float = 180, stdin: str | None = None) -> Capped:
    """``tuneop ARGS`` in the user's folder, capped; output read from files, not pipes."""
    ran = run_capped(
        BIN / "tuneop",
        args,
        cwd=user.cwd,
        env=user.env,
        address_space=ADDRESS_SPACE,
        timeout=timeout,
        stdin=stdin,
    )
    return Capped(Seen(ran.code, ran.out, ran.err, ran.seconds), ran.peak_mb, ran.cpu_seconds)
