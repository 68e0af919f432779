"""Several objectives: hypervolume after 100 trials on ZDT1, NSGA-II and multi-objective TPE
against random.

ZDT1 (two objectives, both minimized) over 6 variables in [0, 1]; its true
Pareto front is ``f2 = 1 - sqrt(f1)``. The quality of a run is the
hypervolume its trials dominate up to a fixed reference point, (1.1, 11):
every ZDT1 value over this domain lies inside it (f1 <= 1, f2 <= 10), so every
trial counts; the true front's hypervolume is ``1.1 * 11 - 2/3 = 11.433``.
Optuna computes it (``optuna._hypervolume.compute_hypervolume``, the helper
its own samplers and ``plot_pareto_front`` rest on). Trials run one at a time,
in-process, through the same planner and suggester the operator uses (no
worker processes: this measures the optimizer). Each optimizer runs over 10
seeds (or the count given); the median is printed with min and max, and
the time a 100-trial run takes (planning and suggestions; ZDT1 itself costs
microseconds). Last, the status's size after a 10,000-trial random session of
two objectives (its Pareto front is bounded at 10 entries).
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import numpy as np
from optuna._hypervolume import compute_hypervolume

from bench.common import header, save
from bench.inmemory import run_session
from tuneop.api.spec import MAX_SECONDS, parse_spec
from tuneop.api.status import SessionStatus, status_bytes
from tuneop.core.wire.contract import Outcome, TrialResult
from tuneop_runner.objectives.functions import zdt1

__all__ = ["OPTIMIZERS", "REFERENCE", "hypervolume", "main", "run"]

VARIABLES = 6
REFERENCE = (1.1, 11.0)
IDEAL = REFERENCE[0] * REFERENCE[1] - 2.0 / 3.0  # the true front's hypervolume
# name -> the spec's optimizer
OPTIMIZERS: dict[str, dict[str, Any]] = {
    "random": {"type": "random"},
    "mo-tpe": {"type": "bayesian"},
    "nsga2 (population 50)": {"type": "bayesian", "sampler": "nsga2"},
    "nsga2 (population 20)": {"type": "bayesian", "sampler": "nsga2", "populationSize": 20},
}


def run(
    optimizer: dict[str, Any], seed: int, trials: int, parallel: int = 1
) -> tuple[list[TrialResult], SessionStatus]:
    """Every result of a session of ``trials`` ZDT1 trials, ``parallel`` at a time, and
    its last status."""
    spec = parse_spec(
        {
            "objectives": [
                {"metric": "f1", "direction": "minimize"},
                {"metric": "f2", "direction": "minimize"},
            ],
            "searchSpace": [
                {"name": f"x{i}", "type": "float", "min": 0.0, "max": 1.0} for i in range(VARIABLES)
            ],
            "optimizer": {**optimizer, "seed": seed},
            "totalTrials": trials,
            "maxParallel": parallel,
            "deadlineSeconds": MAX_SECONDS,
            "runner": {"image": "tuneop/runner:0.1.0", "objective": "m:f"},
        }
    )

    def evaluate(trial: int, job_index: int, params: dict[str, Any]) -> TrialResult:
        f = zdt1(params)
        values = (f["f1"], f["f2"])
        return TrialResult(trial, job_index, params, Outcome.SUCCEEDED, values[0], f, values=values)

    return run_session(spec, "zdt1", evaluate)


def hypervolume(results: list[TrialResult]) -> float:
    points = [r.values for r in results if r.values is not None]
    inside = np.array([p for p in points if all(v < r for v, r in zip(p, REFERENCE, strict=True))])
    if not len(inside):
        return 0.0
    return float(compute_hypervolume(inside, np.array(REFERENCE)))


def main() -> int:
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    trials = 100
    header(
        f"several objectives: ZDT1 ({VARIABLES} variables) hypervolume after {trials} trials,"
        f" reference point {REFERENCE}, median over {seeds} seeds (true front: {IDEAL:.4f})"
    )
    out: dict[str, Any] = {"reference": REFERENCE, "ideal": IDEAL, "trials": trials}
    for name, optimizer in OPTIMIZERS.items():
        volumes, seconds = [], []
        for s in range(seeds):
            start = time.perf_counter()
            volumes.append(hypervolume(run(optimizer, s, trials)[0]))
            seconds.append(time.perf_counter() - start)
        row = {
            "median": statistics.median(volumes),
            "min": min(volumes),
            "max": max(volumes),
            "runs": seeds,
            "seconds_per_run": statistics.median(seconds),
        }
        out[name] = row
        print(
            f"{name:>21}: hypervolume median {row['median']:.4f} (min {row['min']:.4f},"
            f" max {row['max']:.4f}), {row['median'] / IDEAL:.1%} of the true front's;"
            f" {row['seconds_per_run']:.2f} s per run"
        )
    for name in OPTIMIZERS:
        if name != "random":
            better = out[name]["median"] > out["random"]["median"]
            print(f"{name} {'beats' if better else 'does NOT beat'} random")
    _, status = run({"type": "random"}, 0, 10_000, parallel=50)
    out["status_bytes_10000"] = status_bytes(status)
    print(
        f"status after 10,000 random trials of two objectives: {status_bytes(status):,} bytes,"
        f" {len(status.pareto_front)} front entries (target < 16,384)"
    )
    print(f"raw: {save('pareto', out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
