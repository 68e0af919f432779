"""Warm workers: a 20-trial toy session, 2 at a time, with and without them.

Issue 24's "Local speed" toy: ``(x-3)**2 + (y+1)**2`` (the runner's
``quadratic``), TPE, 20 trials, maxParallel 2, one trial per Job, run
in-process through ``run_local`` (no CLI start-up, no report). "cold" starts
a ``tuneop-runner`` process per Job (an interpreter and the objective's
import each time), "warm" hands each Job to one warm worker per slot
(``tuneop.adapters.processes.warm``). The two alternate, so the machine's load
(printed before and after, ``os.getloadavg``) weighs on both alike.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.common import header, save, stats
from tuneop.api.session import parse_manifest
from tuneop.cli.run import run_local

OBJECTIVE = "tuneop_runner.objectives.functions:quadratic"


def session(trials: int, warm: bool) -> float:
    """Wall seconds of one session."""
    doc: dict[str, Any] = {
        "apiVersion": "tuneop.dev/v1alpha1",
        "kind": "TuningSession",
        "metadata": {"name": "toy"},
        "spec": {
            "objective": {"metric": "loss"},
            "searchSpace": [
                {"name": "x", "type": "float", "min": -10, "max": 10},
                {"name": "y", "type": "float", "min": -10, "max": 10},
            ],
            "optimizer": {"type": "bayesian", "seed": 1},
            "totalTrials": trials,
            "maxParallel": 2,
            "runner": {"image": "tuneop/runner:0.1.0", "objective": OBJECTIVE},
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        out = run_local(
            parse_manifest(doc), Path(tmp), Console(quiet=True), progress=False, warm_workers=warm
        )
        elapsed = time.perf_counter() - start
    assert out.status.phase == "Succeeded", out.status.message
    return elapsed


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    trials = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    header(f"warm workers: {trials} toy trials, TPE, 2 at a time")
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    cold: list[float] = []
    warm: list[float] = []
    for _ in range(runs):
        cold.append(session(trials, warm=False))
        warm.append(session(trials, warm=True))
    load_after = os.getloadavg()
    c, w = stats(cold), stats(warm)
    print(
        f"cold (a process per Job): median {c['median']:.2f} s (min {c['min']:.2f}, "
        f"max {c['max']:.2f})"
    )
    print(
        f"warm (a worker per slot): median {w['median']:.2f} s (min {w['min']:.2f}, "
        f"max {w['max']:.2f}) = {w['median'] / c['median']:.2f}x of cold"
    )
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    record = {"trials": trials, "cold": c, "warm": w, "load": [load_before, load_after]}
    print(f"raw: {save('warm', record)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
