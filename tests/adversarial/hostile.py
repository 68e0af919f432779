"""The CLI-level adversarial tier's runner: the ``tuneop`` command under a time and memory cap,
and the checks every hostile case must pass whatever it holds.

``capped`` runs ``tuneop ARGS`` as a subprocess in a folder of its own (the suite's venv, no
``TUNEOP_`` variables, a fresh HOME), with an address-space limit (``RLIMIT_AS``) set before
it starts and a wall-clock timeout; it reads the process's own peak RSS (``VmHWM``) while it
runs. ``check_sane`` asserts what holds for any input: no traceback, an exit code the docs
give, no raw control byte on stdout or stderr, at most five error lines, and a peak RSS under
the issue's bounds. ``snapshot`` records a folder tree (types, link targets, contents) so a
test can assert that nothing outside the results folder changed.

How many cases each property runs: ``TUNEOP_ADVERSARIAL_EXAMPLES`` (default 25, the CI
setting; 300 for a long local run). Shrinking is off: a failing case is reported as found,
so a failure never costs minutes of re-runs.
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings

__all__ = [
    "BIN",
    "EXAMPLES",
    "PROFILE",
    "Ran",
    "capped",
    "check_sane",
    "snapshot",
]

BIN = Path(sys.executable).parent
EXAMPLES = int(os.environ.get("TUNEOP_ADVERSARIAL_EXAMPLES", "25"))
PROFILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# A safety net, not the bound checked: a runaway expansion fails here instead of swapping.
ADDRESS_SPACE = 3 * 1024**3
PEAK_RSS_MB = 200
PEAK_RSS_MB_REPORT = 250  # the report inlines plotly
TIMEOUT = 90.0
# Raw control bytes: everything below 0x20 but \t and \n, DEL, and the C1 range.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Ran:
    argv: tuple[str, ...]
    code: int
    out: str
    err: str
    seconds: float
    peak_mb: float

    def __str__(self) -> str:
        return (
            f"tuneop {' '.join(self.argv)}: exit {self.code} after {self.seconds:.1f}s,"
            f" {self.peak_mb:.0f} MB\n--- stdout\n{self.out[-3000:]}"
            f"\n--- stderr\n{self.err[-3000:]}"
        )


def _high_water_mb(pid: int) -> float:
    """The peak RSS of ``pid``'s program so far (``VmHWM``), 0 once it has exited. Not
    ``ru_maxrss``: that also counts the pytest process the command was forked from, which
    Linux carries across ``exec``, and pytest grows over a long Hypothesis run."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TUNEOP_", "PYTEST"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(home / ".home")
    env["KUBECONFIG"] = str(home / ".home" / "no-kubeconfig")
    env.pop("COLUMNS", None)
    return env


def capped(home: Path, *args: str, timeout: float = TIMEOUT) -> Ran:
    """``tuneop ARGS`` in ``home``, capped; a hang past ``timeout`` is an AssertionError."""
    (home / ".home").mkdir(exist_ok=True)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [str(BIN / "tuneop"), *args],
            cwd=home,
            env=_env(home),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            preexec_fn=_limits,
            start_new_session=True,
        )
        peak = 0.0
        while True:
            peak = max(peak, _high_water_mb(proc.pid))
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                os.wait4(proc.pid, 0)
                raise AssertionError(f"tuneop {' '.join(args)}: still running after {timeout}s")
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        return Ran(
            tuple(args),
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            seconds,
            peak,
        )


def check_sane(ran: Ran, codes: tuple[int, ...] = (0, 2), memory: bool = True) -> None:
    """What every command owes any input (``memory``: its peak RSS within the bound too)."""
    assert "Traceback" not in ran.out + ran.err, ran
    assert ran.code in codes, ran
    bad = CONTROL.search(ran.out + ran.err)
    assert bad is None, f"raw control character {bad.group()!r} on the terminal\n{ran}"
    if ran.code == 2:
        errors = [line for line in ran.err.splitlines() if line.startswith("error:")]
        assert 1 <= len(errors) <= 5, ran
    bound = PEAK_RSS_MB_REPORT if ran.argv[0] == "report" else PEAK_RSS_MB
    assert not memory or ran.peak_mb <= bound, ran


def _describe(path: Path) -> str:
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return f"link -> {os.readlink(path)}"
    if stat.S_ISREG(mode):
        return "file " + hashlib.sha256(path.read_bytes()).hexdigest()
    if stat.S_ISDIR(mode):
        return "folder"
    return f"mode {stat.S_IFMT(mode):o}"


def snapshot(root: Path, skip: tuple[Path, ...] = ()) -> dict[str, str]:
    """Every entry below ``root`` (links not followed) but those under ``skip``."""
    seen: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = [d for d in dirs if here / d not in skip]
        for name in [*dirs, *files]:
            if here / name not in skip:
                seen[str((here / name).relative_to(root))] = _describe(here / name)
    return seen
