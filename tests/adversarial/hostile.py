"""The CLI-level adversarial tier's runner: the ``tuneop`` command under a time and memory cap,
and the checks every hostile case must pass whatever it holds.

``capped`` runs ``tuneop ARGS`` through the suite's one capped runner (``capped_run``: an
address-space limit, a wall-clock timeout, the process's own peak RSS from ``VmHWM``) in a
folder of its own (the suite's venv, no ``TUNEOP_`` variables, a fresh HOME).
``check_sane`` asserts what holds for any input: no traceback, an exit code the docs give,
no raw control character on stdout or stderr, at most five error lines, and a peak RSS
under the issue's bounds. ``snapshot`` records a folder tree (types, link targets,
contents) so a test can assert that nothing outside the results folder changed.

How many cases each property runs: ``TUNEOP_ADVERSARIAL_EXAMPLES`` (default 25, the CI
setting; 200 or more for a long local run). Shrinking is off: a failing case is reported as
found, so a failure never costs minutes of re-runs. ``TUNEOP_ADVERSARIAL_RECORD``, when
set, names a file each capped run appends a line to (command, exit, seconds, peak MB),
for a long run's figures.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings

from capped_run import PEAK_RSS_MB, PEAK_RSS_MB_REPORT, Run, raw_control_bytes, run_capped

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
RECORD = os.environ.get("TUNEOP_ADVERSARIAL_RECORD")
PROFILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# A safety net, not the bound checked: a runaway expansion fails here instead of swapping.
ADDRESS_SPACE = 3 * 1024**3
TIMEOUT = 90.0
Ran = Run  # what a capped ``tuneop`` did: ``args`` are what followed ``tuneop``


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
    ran = run_capped(
        BIN / "tuneop",
        args,
        cwd=home,
        env=_env(home),
        address_space=ADDRESS_SPACE,
        timeout=timeout,
    )
    if RECORD:
        with open(RECORD, "a") as f:
            line = f"{' '.join(args)[:80]!r} exit={ran.code} {ran.seconds:.1f}s"
            f.write(f"{line} peak={ran.peak_mb:.0f}MB\n")
    return ran


def check_sane(ran: Ran, codes: tuple[int, ...] = (0, 2)) -> None:
    """What every command owes any input, its peak RSS within the issue's bound included."""
    assert "Traceback" not in ran.out + ran.err, ran
    assert ran.code in codes, ran
    bad = raw_control_bytes(ran.out + ran.err)
    assert not bad, f"raw control characters {bad[:5]!r} on the terminal\n{ran}"
    if ran.code == 2:
        errors = [line for line in ran.err.splitlines() if line.startswith("error:")]
        assert 1 <= len(errors) <= 5, ran
    bound = PEAK_RSS_MB_REPORT if ran.args[0] == "report" else PEAK_RSS_MB
    assert ran.peak_mb <= bound, ran


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
