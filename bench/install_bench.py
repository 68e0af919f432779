"""Install benchmark: how long the README's local install takes, and how much it installs.

Each measurement is what a new user types: a fresh virtual environment, then
``pip install -q -e ./runner_image -e '.[EXTRAS]'`` from the repository root (no
constraints file: pip resolves the ranges of pyproject.toml as it would for them). It
prints the wall time of the install (the venv's creation apart), the CPU time pip used
(user + system, its build subprocesses included: on a machine shared with other work the
wall time grows with the load, the CPU time much less) and the size it added to the
venv's site-packages (an empty venv's pip and setuptools not counted).

- warm: every wheel is already on the machine. pip's own HTTP cache would be the usual
  way, but it stores only responses with caching headers, and the package registry this
  machine reaches sends none (``pip cache info`` stays at 0 files), so the warm figure
  installs from a wheelhouse filled once with ``pip download`` (untimed), with
  ``--no-index --find-links``: install work only, no network.
- cold: from the index with ``--no-cache-dir``, every wheel downloaded: it depends on
  the network and the registry.

For scale it also times ``pip install optuna`` (warm), the floor any Optuna-based tool
stands on. Target for the local path (the README's command): <= 25 s and <= 250 MB.

    python -m bench.install_bench [--runs 3] [--extras report] [--cold] [--also-full]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import header, save, stats

__all__ = ["install", "main"]

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 25.0
TARGET_MB = 250.0


def _load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _size(path: Path) -> int:
    total = 0
    for dirpath, _, names in os.walk(path):
        for name in names:
            p = Path(dirpath) / name
            if not p.is_symlink():
                total += p.stat().st_size
    return total


def _site(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def wheelhouse(requirements: list[str], folder: Path) -> None:
    """Every wheel ``requirements`` resolve to (and the build backend), in ``folder``."""
    pip = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check"]
    wanted = [r for r in requirements if r != "-e"]
    subprocess.run([*pip, "-d", str(folder), *wanted], cwd=ROOT, check=True)
    subprocess.run([*pip, "-d", str(folder), "setuptools>=77"], cwd=ROOT, check=True)


def install(requirements: list[str], house: Path | None) -> dict[str, Any]:
    """One fresh venv and one ``pip install``: seconds and megabytes added.

    ``house``: install from this wheelhouse (warm), else from the index (cold).
    """
    with tempfile.TemporaryDirectory(prefix="tuneop-install-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        site = _site(venv)
        before = _size(site)
        argv = [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
        if house is None:
            argv.append("--no-cache-dir")
        else:
            argv += ["--no-index", "--find-links", str(house)]
        before_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([*argv, *requirements], cwd=ROOT, check=True)
        seconds = time.perf_counter() - start
        after_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after_cpu.ru_utime - before_cpu.ru_utime) + (
            after_cpu.ru_stime - before_cpu.ru_stime
        )
        mb = (_size(site) - before) / 1e6
        packages = subprocess.run(
            [str(venv / "bin" / "pip"), "list", "--format=freeze", "--disable-pip-version-check"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        return {"seconds": seconds, "cpu": cpu, "mb": mb, "packages": len(packages)}


def _measure(label: str, requirements: list[str], runs: int, cold: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tuneop-wheels-") as tmp:
        house = None if cold else Path(tmp)
        if house is not None:
            wheelhouse(requirements, house)  # not counted
        samples = [install(requirements, house) for _ in range(runs)]
    times = stats([s["seconds"] for s in samples])
    cpu = statistics.median(s["cpu"] for s in samples)
    mb = samples[-1]["mb"]
    print(
        f"{label}: median {times['median']:.1f} s wall, {cpu:.1f} s CPU (min wall"
        f" {times['min']:.1f}, max {times['max']:.1f}, runs {runs}), {mb:.0f} MB,"
        f" {samples[-1]['packages']} packages; {_load()}"
    )
    return {
        "label": label,
        "requirements": requirements,
        "cold": cold,
        **times,
        "cpu": cpu,
        "mb": mb,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--extras", default="report", help="the local path's extras (README)")
    ap.add_argument("--cold", action="store_true", help="also measure with --no-cache-dir")
    ap.add_argument("--also-full", action="store_true", help="also measure .[all]")
    args = ap.parse_args(argv)
    if shutil.which("pip") is None and not Path(sys.executable).with_name("pip").exists():
        print("pip is needed", file=sys.stderr)
        return 2
    header("install (fresh venv, pip install of the README's local path)")
    print(_load())
    local = ["-e", "./runner_image", "-e", f".[{args.extras}]" if args.extras else "."]
    rows = [_measure(f"local path ({' '.join(local)}), warm", local, args.runs, False)]
    if args.extras:
        bare = ["-e", "./runner_image", "-e", "."]
        rows.append(_measure("without extras (-e .), warm", bare, args.runs, False))
    rows.append(_measure("pip install optuna, warm", ["optuna"], args.runs, False))
    if args.also_full:
        full = ["-e", "./runner_image", "-e", ".[all]"]
        rows.append(_measure("everything but gp (-e '.[all]'), warm", full, 1, False))
    if args.cold:
        rows.append(_measure("local path, cold (index, --no-cache-dir)", local, 1, True))
    first = rows[0]
    met = first["median"] <= TARGET_SECONDS and first["mb"] <= TARGET_MB
    print(
        f"target: local path <= {TARGET_SECONDS:.0f} s and <= {TARGET_MB:.0f} MB:"
        f" {'met' if met else 'NOT met'} ({first['median']:.1f} s, {first['mb']:.0f} MB)"
    )
    save("install_bench", {"rows": rows, "load": os.getloadavg()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
