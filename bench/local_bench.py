"""Local-session benchmark: per-trial overhead against the bare cost of the runner.

The floor is measured in the same run: spawning the runner process directly
with the same trials (``python -m tuneop_runner``), in the same waves, and
waiting for it. The session figure is ``tuneop run --local``'s wall time for
the same trials through the reconcile loop, in-process (no CLI start-up).
Target: at most 2x the floor per trial, at maxParallel 1 and 8, with one trial
per worker and with packed workers.
"""

from __future__ import annotations

import json
import os
import subprocess
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


def bare(trials: int, parallel: int, per_job: int) -> float:
    """Spawn the runner directly, ``parallel`` processes at a time; seconds per trial."""
    env = {**os.environ, "TUNEOP_OBJECTIVE": OBJECTIVE, "TUNEOP_METRIC": "loss"}
    jobs = [list(range(i, min(i + per_job, trials))) for i in range(0, trials, per_job)]
    start = time.perf_counter()
    running: list[subprocess.Popen[bytes]] = []
    for job in jobs:
        while len(running) >= parallel:
            running.pop(0).wait()
        payload = [{"trial": t, "params": {"x": t % 7}} for t in job]
        running.append(
            subprocess.Popen(
                [sys.executable, "-m", "tuneop_runner"],
                env={**env, "TUNEOP_TRIALS": json.dumps(payload)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    for p in running:
        p.wait()
    return (time.perf_counter() - start) / trials


def session(trials: int, parallel: int, per_job: int) -> float:
    doc: dict[str, Any] = {
        "apiVersion": "tuneop.dev/v1alpha1",
        "kind": "TuningSession",
        "metadata": {"name": "bench"},
        "spec": {
            "objective": {"metric": "loss"},
            "trials": [{"x": t % 7} for t in range(trials)],
            "maxParallel": parallel,
            "trialsPerJob": per_job,
            "runner": {"image": "tuneop/runner:0.1.0", "objective": OBJECTIVE},
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        out = run_local(parse_manifest(doc), Path(tmp), Console(quiet=True), progress=False)
        elapsed = time.perf_counter() - start
    assert out.status.phase == "Succeeded", out.status.message
    return elapsed / trials


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    trials = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    header(f"local sessions: {trials} trivial trials")
    table = []
    for parallel in (1, 8):
        for per_job in (1, 10):
            floor = [bare(trials, parallel, per_job) for _ in range(runs)]
            ours = [session(trials, parallel, per_job) for _ in range(runs)]
            f, o = stats(floor), stats(ours)
            ratio = o["median"] / f["median"]
            table.append(
                {
                    "maxParallel": parallel,
                    "trialsPerJob": per_job,
                    "floor": f,
                    "session": o,
                    "ratio": ratio,
                }
            )
            print(
                f"maxParallel {parallel}, {per_job:>2} trial(s)/job: session "
                f"{o['median'] * 1000:6.1f} ms/trial vs bare runner {f['median'] * 1000:6.1f}"
                f" ms/trial = {ratio:.2f}x (runs {runs}, session min/max "
                f"{o['min'] * 1000:.1f}/{o['max'] * 1000:.1f}; target <= 2x)"
            )
    print(f"raw: {save('local', {'trials': trials, 'table': table})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
