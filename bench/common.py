"""Shared plumbing of the benchmarks: the machine, repeated timing, and the JSON record.

Every benchmark prints the machine it ran on, how many runs it made and
min/median/max, and writes its raw figures as JSON under bench/results/.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def stats(samples: list[float]) -> dict[str, float]:
    return {
        "runs": len(samples),
        "min": min(samples),
        "median": statistics.median(samples),
        "max": max(samples),
    }


def as_installed() -> dict[str, str]:
    """The environment a command is timed in, as on a user's machine: tuneop's own modules
    compiled to bytecode (``pip install`` does it; an editable install writes them on the
    first run) and Python allowed to use and write them. A ``PYTHONDONTWRITEBYTECODE`` in
    the developer's environment would make every run compile tuneop's and the runner's
    modules again (a tenth of a second and more, in each of a run's processes), where
    Optuna's modules, installed, come compiled."""
    import compileall
    import sys

    root = Path(__file__).resolve().parents[1]
    for folder in ("operator/tuneop", "runner_image/tuneop_runner"):
        compileall.compile_dir(root / folder, quiet=1)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def load_average() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def header(title: str) -> None:
    m = machine()
    print(f"# {title}")
    print(f"machine: {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}")


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **data,
    }
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path
