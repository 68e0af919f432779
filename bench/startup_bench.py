"""CLI start-up benchmark: how long ``tuneop --help`` and ``tuneop plan`` take as commands.

Each command runs N times as a subprocess (the ``tuneop`` script of this venv), and the
median wall time is printed with the CPU time (user + system) the process used: on a
machine shared with other work the wall time grows with the load average, the CPU time
much less, so both are printed with the load. Then ``python -X importtime`` of each
command, its top offenders by cumulative time (tuneop's own modules and the packages
they pull in). Targets (a quiet machine): ``--help`` <= 0.15 s, ``plan`` of the
quickstart <= 0.3 s.

    python -m bench.startup_bench [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import as_installed, header, save

__all__ = ["main", "run_once", "top_imports"]

ROOT = Path(__file__).resolve().parents[1]
TUNEOP = str(Path(sys.executable).with_name("tuneop"))
COMMANDS = {
    "tuneop --help": ([TUNEOP, "--help"], 0.15),
    "tuneop plan examples/quickstart.yaml": ([TUNEOP, "plan", "examples/quickstart.yaml"], 0.3),
}


def _load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def run_once(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, check=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def top_imports(argv: list[str], n: int = 8) -> list[tuple[int, str]]:
    """The ``n`` imports with the largest cumulative time (microseconds), outermost first."""
    script = "import sys; from tuneop.main import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", script, *argv[1:]],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].rstrip()
            depth = (len(name) - len(name.lstrip())) // 2
            if depth <= 2:  # the packages a command pulls in, not their insides
                rows.append((int(parts[1]), name.strip()))
    return sorted(rows, reverse=True)[:n]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args(argv)
    header("CLI start-up")
    env = as_installed()  # tuneop's modules compiled, as a pip install leaves them
    out: dict[str, Any] = {}
    for label, (command, target) in COMMANDS.items():
        run_once(command, env)  # the page cache warm
        samples = [run_once(command, env) for _ in range(args.runs)]
        wall = statistics.median(s[0] for s in samples)
        cpu = statistics.median(s[1] for s in samples)
        # The wall time is the target; under load the CPU time says what a quiet machine shows.
        verdict = f"wall {'met' if wall <= target else 'NOT met'}, CPU"
        verdict += f" {'within' if cpu <= target else 'over'}"
        print(
            f"{label}: median {wall:.3f} s wall, {cpu:.3f} s CPU (min wall"
            f" {min(s[0] for s in samples):.3f}, runs {args.runs}); target <= {target} s:"
            f" {verdict}; {_load()}"
        )
        imports = top_imports(command)
        for micros, name in imports:
            print(f"    {micros / 1e3:7.1f} ms  import {name}")
        out[label] = {"wall": wall, "cpu": cpu, "samples": samples, "imports": imports}
    save("startup_bench", {"commands": out, "load": os.getloadavg()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
