"""Optimizer quality: best value after 50 trials, each optimizer against random.

Branin (2 params) and Hartmann-6 (6 params), each over 10 seeds; the median
best value is printed for each optimizer: bayesian (Optuna TPE), cmaes
(CMA-ES), gp (Gaussian process), qmc (scrambled Sobol) and random. Trials
run sequentially in-process through the same planner the operator uses (no
worker processes: this measures the optimizer, not the executor). Bayesian
must be better than random on both.

``python -m bench.quality_bench [SEEDS] [OPTIMIZER,...] [FUNCTION,...]``: a
subset (for example ``gp`` alone, the slow one) is saved as
``quality-<names>.json``; each run's best is printed to stderr as it comes.
"""

from __future__ import annotations

import statistics
import sys
from typing import Any

from bench.common import header, save
from bench.inmemory import run_session
from tuneop.api.spec import MAX_SECONDS, parse_spec
from tuneop.core.wire.contract import Outcome, TrialResult
from tuneop_runner.objectives.functions import branin, hartmann6

OPTIMIZERS = ("random", "bayesian", "cmaes", "gp", "qmc")
FUNCTIONS: dict[str, tuple[Any, list[tuple[str, float, float]]]] = {
    "branin": (branin, [("x1", -5.0, 10.0), ("x2", 0.0, 15.0)]),
    "hartmann6": (hartmann6, [(f"x{i}", 0.0, 1.0) for i in range(1, 7)]),
}


def best_after(name: str, optimizer: str, seed: int, trials: int) -> float:
    fn, space = FUNCTIONS[name]
    spec = parse_spec(
        {
            "objective": {"metric": "value"},
            "searchSpace": [
                {"name": n, "type": "float", "min": lo, "max": hi} for n, lo, hi in space
            ],
            "optimizer": {"type": optimizer, "seed": seed},
            "totalTrials": trials,
            "maxParallel": 1,
            "deadlineSeconds": MAX_SECONDS,
            "runner": {"image": "tuneop/runner:0.1.0", "objective": "m:f"},
        }
    )

    def evaluate(trial: int, job_index: int, params: dict[str, Any]) -> TrialResult:
        value = fn(params)["value"]
        return TrialResult(trial, job_index, params, Outcome.SUCCEEDED, value)

    _, status = run_session(spec, name, evaluate)
    assert status.best is not None
    return status.best.value


def main() -> int:
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    chosen = tuple(sys.argv[2].split(",")) if len(sys.argv) > 2 else OPTIMIZERS
    functions = sys.argv[3].split(",") if len(sys.argv) > 3 else list(FUNCTIONS)
    trials = 50
    header(f"optimizer quality: best after {trials} trials, median over {seeds} seeds")
    out: dict[str, Any] = {}
    for name in functions:
        row = {}
        for optimizer in chosen:
            bests = []
            for seed in range(seeds):
                bests.append(best_after(name, optimizer, seed, trials))
                print(f"{name} {optimizer} seed {seed}: {bests[-1]:.4f}", file=sys.stderr)
            row[optimizer] = {
                "median": statistics.median(bests),
                "min": min(bests),
                "max": max(bests),
                "runs": seeds,
            }
            print(
                f"{name:>9}: {optimizer:>8} median {row[optimizer]['median']:.4f}"
                f" (min {row[optimizer]['min']:.4f}, max {row[optimizer]['max']:.4f})",
                flush=True,
            )
        out[name] = row
        if "bayesian" in row and "random" in row:
            better = row["bayesian"]["median"] < row["random"]["median"]
            out[name]["bayesian_better"] = better
            print(f"{name:>9}: {'bayesian better than random' if better else 'MISSED'}")
    subset = (*chosen, *functions) if functions != list(FUNCTIONS) else chosen
    saved = (
        "quality"
        if chosen == OPTIMIZERS and not subset[len(chosen) :]
        else "quality-" + "-".join(subset)
    )
    print(f"raw: {save(saved, out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
