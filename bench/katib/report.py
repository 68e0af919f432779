"""``python -m bench.katib.report [RECORD...]``: the side-by-side table from raw records.

Per algorithm and system: runs, median seconds (apply to the end), median apply → first
trial pod, median API requests per trial, peak RSS per process (max over runs), best loss
(median and range over seeds), and the load averages seen; then tuneop / Katib ratios.
A bare-Jobs row comes from runs with ``--floor``.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.katib.trial import branin

__all__ = ["main", "table"]

RESULTS = Path(__file__).resolve().parents[1] / "results"


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _row(label: str, runs: list[dict[str, Any]]) -> tuple[str, dict[str, float]]:
    trials = runs[0]["trials"]
    seconds = _median([r["seconds"] for r in runs])
    first = _median([r["first_pod_s"] for r in runs if r["first_pod_s"] is not None])
    per_trial = _median([r["requests"] / trials for r in runs])
    bests = [r["best"] for r in runs if r["best"] is not None]
    rss: dict[str, float] = {}
    for r in runs:
        for name, mb in r["rss_peak_mb"].items():
            rss[name] = max(rss.get(name, 0.0), mb)
    loads = [r["load_before"][0] for r in runs] + [r["load_after"][0] for r in runs]
    best = (
        f"{_median(bests):.4f} ({min(bests):.4f}-{max(bests):.4f})" if len(bests) > 1 else
        f"{bests[0]:.4f}" if bests else "-"
    )  # fmt: skip
    # The floor's requests are this script's own, not counted.
    requests = "-" if runs[0]["system"] == "bare Jobs" else f"{per_trial:.2f}"
    rss_text = ", ".join(f"{k} {v:.0f}" for k, v in rss.items()) or "-"
    line = (
        f"{label:18} {len(runs):>4}  {seconds:7.1f} s  {first:6.2f} s  {requests:>7}  "
        f"{best:26}  load {min(loads):.1f}-{max(loads):.1f}  RSS MB: {rss_text}"
    )
    return line, {"seconds": seconds, "per_trial": per_trial}


def random_search_reference(trials: int, seeds: int = 2000) -> str:
    """The best of ``trials`` uniform draws on Branin's box, over ``seeds`` simulated seeds:
    what a correct random search should find, to read the measured seeds against."""
    bests = []
    for seed in range(seeds):
        rng = random.Random(seed)
        bests.append(min(branin(rng.uniform(-5, 10), rng.uniform(0, 15)) for _ in range(trials)))
    bests.sort()
    return (
        f"uniform random search, {trials} draws, {seeds} simulated seeds: best loss median "
        f"{statistics.median(bests):.4f}, p10 {bests[seeds // 10]:.4f}, "
        f"p90 {bests[seeds * 9 // 10]:.4f}"
    )


def table(records: list[dict[str, Any]]) -> str:
    runs = [r for record in records for r in record["runs"]]
    trials, parallel = runs[0]["trials"], runs[0]["parallel"]
    out = [
        f"# side by side with Katib v0.19.0: {trials} trials, maxParallel {parallel}, "
        "Branin, trial sleeps 2 s",
        f"{'system':18} {'runs':>4}  {'wall':>9}  {'1st pod':>8}  {'req/tr':>7}  "
        f"{'best loss median (range)':26}",
    ]
    floor = [r for r in runs if r["system"] == "bare Jobs"]
    if floor:
        out.append(_row("bare Jobs", floor)[0])
    for algorithm in dict.fromkeys(r["algorithm"] for r in runs if r["system"] != "bare Jobs"):
        figures = {}
        for system in ("tuneop", "katib"):
            mine = [r for r in runs if r["system"] == system and r["algorithm"] == algorithm]
            if mine:
                line, figures[system] = _row(f"{system} {algorithm}", mine)
                out.append(line)
        if len(figures) == 2:
            ours, theirs = figures["tuneop"], figures["katib"]
            out.append(
                f"{'':18}       tuneop/Katib: wall {ours['seconds'] / theirs['seconds']:.2f}x, "
                f"requests per trial {ours['per_trial'] / theirs['per_trial']:.2f}x"
            )
    out.append(random_search_reference(trials))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or ["katib-side-by-side-200x20"]
    paths = [Path(n) if n.endswith(".json") else RESULTS / f"{n}.json" for n in names]
    print(table([json.loads(p.read_text()) for p in paths]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
