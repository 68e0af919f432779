"""tuneop and Optuna side by side on the 20-trial toy: ``(x-2)^2 + (y+1)^2``, TPE, 2 at once.

Both run as a user runs them, each as a command in a fresh temporary folder:

- tuneop: ``tuneop run toy.yaml --local`` (a TuningSession file and the objective's
  module), as a user runs it: its summary, and for a run this short the line that says
  how to write its report (``REPORT_MIN_SECONDS``); and again with ``--report``, which
  writes the report however short the run;
- Optuna: ``python optuna_toy.py``, ``study.optimize(objective, n_trials=20, n_jobs=2)``.

It prints the median wall time and CPU time (user + system, children included) of N runs
of each, the ratio tuneop / Optuna, the lines each needs (non-blank, non-comment lines of
the files a user writes) and the load average. The three commands take turns (Optuna,
tuneop, tuneop with the report, then again), so a load that comes and goes on a shared
machine weighs on each alike, and every command runs as installed (``common.as_installed``:
tuneop's modules compiled, as Optuna's are). The goal of issue 24: tuneop within 1.5x
Optuna's wall time. They do not do the same work: Optuna runs the objective in threads of
its own process, tuneop runs every trial as a worker process (a crash, a hang or a leak
of memory ends one trial, not the session) and keeps each result in a file.

    python -m bench.optuna_side_by_side [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import as_installed, header, load_average, save

__all__ = ["FILES", "OPTUNA", "lines_of", "main", "timed_run"]

BIN = Path(sys.executable).parent
TOY = """def objective(params):
    return {"loss": (params["x"] - 2) ** 2 + (params["y"] + 1) ** 2}
"""
SESSION = """apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata:
  name: toy
spec:
  objective:
    metric: loss
    direction: minimize
  searchSpace:
    - name: x
      type: float
      min: -10
      max: 10
    - name: "y"
      type: float
      min: -10
      max: 10
  optimizer:
    type: bayesian  # Optuna's TPE
  totalTrials: 20
  maxParallel: 2
  runner:
    image: tuneop/runner:0.1.0
    objective: toy:objective
"""
OPTUNA = """import optuna

def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    y = trial.suggest_float("y", -10, 10)
    return (x - 2) ** 2 + (y + 1) ** 2

study = optuna.create_study(sampler=optuna.samplers.TPESampler())
study.optimize(objective, n_trials=20, n_jobs=2)
print(study.best_params)
"""
FILES = {"toy.py": TOY, "toy.yaml": SESSION, "optuna_toy.py": OPTUNA}


def lines_of(text: str) -> int:
    """Lines a user writes: not blank, not only a comment."""
    return sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))


def timed_run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (the process and its children) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _row(label: str, samples: list[tuple[float, float]]) -> dict[str, Any]:
    wall = statistics.median(x[0] for x in samples)
    cpu = statistics.median(x[1] for x in samples)
    print(
        f"{label}: median {wall:.2f} s wall, {cpu:.2f} s CPU"
        f" (min wall {min(x[0] for x in samples):.2f}, runs {len(samples)})"
    )
    return {"label": label, "wall": wall, "cpu": cpu, "samples": samples}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    header("tuneop and Optuna side by side: 20 trials of (x-2)^2+(y+1)^2, TPE, 2 at a time")
    env = as_installed()
    print(f"before: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="tuneop-vs-optuna-") as tmp:
        folder = Path(tmp)
        for name, text in FILES.items():
            (folder / name).write_text(text)
        tuneop = str(BIN / "tuneop")
        commands = {
            "optuna (python optuna_toy.py)": lambda i: [sys.executable, "optuna_toy.py"],
            "tuneop run toy.yaml --local": lambda i: [
                tuneop,
                "run",
                "toy.yaml",
                "--local",
                "--results-dir",
                f"r{i}",
            ],
            "tuneop run toy.yaml --local --report": lambda i: [
                tuneop,
                "run",
                "toy.yaml",
                "--local",
                "--results-dir",
                f"n{i}",
                "--report",
            ],
        }
        for make in commands.values():  # .pyc files and the page cache warm
            timed_run(make(99), folder, env)
        samples: dict[str, list[tuple[float, float]]] = {label: [] for label in commands}
        for i in range(args.runs):
            for label, make in commands.items():
                samples[label].append(timed_run(make(i), folder, env))
    rows = [_row(label, got) for label, got in samples.items()]
    print(f"after: {load_average()}")
    optuna, tuneop_row, drawn = rows
    ratio = tuneop_row["wall"] / optuna["wall"]
    cpu_ratio = tuneop_row["cpu"] / optuna["cpu"]
    print(
        f"tuneop / optuna: {ratio:.1f}x wall ({drawn['wall'] / optuna['wall']:.1f}x with the"
        f" report), {cpu_ratio:.1f}x CPU ({drawn['cpu'] / optuna['cpu']:.1f}x);"
        f" goal <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'}"
    )
    ours = lines_of(SESSION) + lines_of(TOY)
    print(
        f"lines a user writes: tuneop {ours} (toy.yaml {lines_of(SESSION)} + toy.py"
        f" {lines_of(TOY)}), optuna {lines_of(OPTUNA)}"
    )
    save("optuna_side_by_side", {"rows": rows, "ratio": ratio, "load": os.getloadavg()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
