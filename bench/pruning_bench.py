"""Early stopping on a real learning curve: what pruning saves, and what it costs in quality.

The objective is examples/sklearn/sgd_epochs.py: scikit-learn's SGDClassifier
trained with ``partial_fit`` for 30 epochs on the digits dataset scikit-learn
ships, reporting validation accuracy after every epoch. For each of 10 seeds
a local session (``tuneop run --local``'s own code: real worker processes, the
journal file in the results folder) runs 30 random trials over 2 workers,
once without early stopping and once with each pruner. The random optimizer
gives the same 30 trials for a seed either way, so the difference is pruning
alone. Printed, per pruner: the median over seeds of the best accuracy found,
of its gap to the best without pruning, and of the epochs trained as a share
of the epochs without pruning. Target: best within 1% of the best without,
in at most half the epochs.

``--overhead`` measures instead what early stopping costs a trial per step:
one ``report`` and one ``should_prune`` through the runner's own code, for
trial after trial of one study (the journal grows), in a journal file and in
a real ``redis-server`` started for it.

    python -m bench.pruning_bench [--seeds 10] [--trials 30] [--pruners median,successiveHalving]
    python -m bench.pruning_bench --overhead [--trials 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.common import header, save
from tuneop.adapters.results_folder.folder import load_records
from tuneop.api.session import parse_manifest
from tuneop.cli.run import run_local

REPO = Path(__file__).resolve().parents[1]
PRUNERS: dict[str, dict[str, Any]] = {
    "none": {},
    "median": {"type": "median", "startupTrials": 5, "warmupSteps": 3},
    "successiveHalving": {"type": "successiveHalving", "minResource": 1, "reductionFactor": 3},
}


def manifest(seed: int, trials: int, pruner: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "objective": {"metric": "accuracy", "direction": "maximize"},
        "searchSpace": [
            {"name": "alpha", "type": "float", "min": 1e-6, "max": 1e-1, "log": True},
            {"name": "eta0", "type": "float", "min": 1e-5, "max": 1.0, "log": True},
            {
                "name": "loss",
                "type": "categorical",
                "values": ["hinge", "log_loss", "modified_huber"],
            },
        ],
        "optimizer": {"type": "random", "seed": seed},
        "totalTrials": trials,
        "workers": 2,
        "maxParallel": 2,
        "trialTimeoutSeconds": 600,
        "runner": {
            "image": "tuneop/runner:0.1.0",
            "objective": "examples.sklearn.sgd_epochs:objective",
        },
    }
    if PRUNERS[pruner]:
        spec["earlyStopping"] = PRUNERS[pruner]
    return {
        "apiVersion": "tuneop.dev/v1alpha1",
        "kind": "TuningSession",
        "metadata": {"name": f"sgd-{pruner.lower()}-{seed}"},
        "spec": spec,
    }


def run(seed: int, trials: int, pruner: str, root: Path) -> dict[str, Any]:
    started = time.monotonic()
    out = run_local(parse_manifest(manifest(seed, trials, pruner)), root, Console(quiet=True))
    records = load_records(out.session_dir)
    finished = [r["objective"]["value"] for r in records if r["outcome"] == "Succeeded"]
    return {
        "best": max(finished),
        "epochs": sum(len(r.get("intermediate") or []) for r in records),
        "pruned": sum(r["outcome"] == "Pruned" for r in records),
        "seconds": time.monotonic() - started,
    }


def step_costs(storage: str, trials: int, steps: int = 30) -> list[float]:
    """Seconds per step (report, then should_prune) of each trial, in trial order."""
    from tuneop_runner.contract import ReportStatus
    from tuneop_runner.pruning import PrunerConfig, PruningStudy

    config = PrunerConfig("median", {}, "accuracy", "maximize", "bench", storage)
    study = PruningStudy(config)
    out = []
    for t in range(trials):
        seat = study.begin(t)
        assert seat is not None, "the storage is out of reach"
        started = time.perf_counter()
        for step in range(1, steps + 1):
            seat.report(step, 0.5 + (t % 7) / 100)
            seat.should_prune()
        out.append((time.perf_counter() - started) / steps)
        seat.finish(ReportStatus.SUCCEEDED, 0.5)
    return out


def overhead(trials: int) -> None:
    from minicluster.redis_server import RedisServer

    header(f"early stopping's cost per step: {trials} trials of 30 steps in one study")
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            for name, storage in (
                ("journal file", f"{tmp}/pruning.journal"),
                ("redis", server.url),
            ):
                costs = step_costs(storage, trials)
                figures[name] = costs
                tenth = max(trials // 10, 1)
                first = statistics.median(costs[:tenth]) * 1e3
                last = statistics.median(costs[-tenth:]) * 1e3
                print(
                    f"{name:>12}: first {tenth} trials median {first:.2f} ms a step,"
                    f" last {tenth} median {last:.2f} ms",
                    flush=True,
                )
        finally:
            server.stop()
    save("pruning-overhead", {"trials": trials, "seconds_per_step": figures})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--pruners", default="median,successiveHalving")
    parser.add_argument("--overhead", action="store_true")
    args = parser.parse_args()
    if args.overhead:
        overhead(args.trials or 200)
        return
    args.trials = args.trials or 30
    pruners = ["none", *args.pruners.split(",")]
    header(f"pruning: {args.trials} random trials of SGD on digits, 30 epochs, {args.seeds} seeds")
    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in pruners}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for p in pruners:
                runs[p].append(run(seed, args.trials, p, Path(tmp)))
                r = runs[p][-1]
                print(
                    f"seed {seed} {p:>17}: best {r['best']:.4f}, {r['epochs']} epochs,"
                    f" {r['pruned']} pruned, {r['seconds']:.0f} s",
                    flush=True,
                )
    base = runs["none"]
    rows = []
    print(
        "| early stopping | median best accuracy | median gap to no pruning | median epochs"
        " (share of no pruning) | trials pruned (median) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for p in pruners:
        gaps = [(b["best"] - r["best"]) / b["best"] for r, b in zip(runs[p], base, strict=True)]
        shares = [r["epochs"] / b["epochs"] for r, b in zip(runs[p], base, strict=True)]
        row = {
            "pruner": p,
            "best": statistics.median(r["best"] for r in runs[p]),
            "gap": statistics.median(gaps),
            "worst_gap": max(gaps),
            "epochs": statistics.median(r["epochs"] for r in runs[p]),
            "share": statistics.median(shares),
            "pruned": statistics.median(r["pruned"] for r in runs[p]),
        }
        rows.append(row)
        print(
            f"| {p} | {row['best']:.4f} | {row['gap']:.2%} (worst {row['worst_gap']:.2%}) |"
            f" {row['epochs']:.0f} ({row['share']:.0%}) | {row['pruned']:.0f} |"
        )
    save("pruning", {"seeds": args.seeds, "trials": args.trials, "rows": rows, "runs": runs})


if __name__ == "__main__":
    main()
