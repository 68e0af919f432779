"""Planning benchmark: a 100,000-point grid, and the status size as sessions grow.

1. Time to validate a session with a 100,000-point grid and plan its first wave
   (target < 0.5 s).
2. The CR status size after playing sessions of 100, 10,000 and 100,000 trials
   to the end through the real planner (target < 16 KiB at every size).
3. Bayesian suggestion time with 100 and 1,000 completed trials (target < 50 ms
   at 1,000), and a cProfile of rebuilt-study suggestions at 1,000: where a
   rebuild's time goes.
4. ``tuneop plan`` at any budget: a 10,000,000-trial session through the
   command, as a process (wall time and peak RSS, interpreter start-up and
   imports included) and in-process (the dry run itself); target < 1 s and
   < 100 MB.
"""

from __future__ import annotations

import cProfile
import pstats
import random
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import header, save, stats, timed
from tuneop.api.session import SessionRef
from tuneop.api.spec import MAX_SECONDS, parse_spec
from tuneop.api.status import SessionStatus, status_bytes
from tuneop.core.jobs.observed import JobState, Observed, ObservedJob
from tuneop.core.planning.planner import plan
from tuneop.core.suggest.bayesian import CachedSuggester, suggest
from tuneop.core.wire.contract import Outcome, TrialResult

NOW = datetime(2026, 1, 1, tzinfo=UTC)
REF = SessionRef("bench", "grid", "uid-1")


def grid_doc(points_per_param: int = 10, params: int = 5) -> dict[str, Any]:
    return {
        "objective": {"metric": "loss"},
        "searchSpace": [
            {"name": f"p{i}", "type": "int", "min": 0, "max": points_per_param - 1}
            for i in range(params)
        ],
        "optimizer": {"type": "grid"},
        "maxParallel": 20,
        "runner": {"image": "tuneop/runner:0.1.0", "objective": "m:f"},
    }


def first_wave() -> int:
    spec = parse_spec(grid_doc())
    return len(plan(spec, Observed(REF), NOW).create)


def play(total: int, max_parallel: int, fail_every: int = 7) -> SessionStatus:
    """Run a session to the end through the planner, every Job finishing at once."""
    doc = {
        **grid_doc(),
        "optimizer": {"type": "random", "seed": 1},
        "totalTrials": total,
        "maxParallel": max_parallel,
        "deadlineSeconds": MAX_SECONDS,
    }
    spec = parse_spec(doc)
    status = SessionStatus()
    live: list[ObservedJob] = []
    t = NOW
    while True:
        finished = []
        for j in live:
            results = tuple(
                TrialResult(
                    trial=k,
                    job_index=j.index,
                    params=p,
                    outcome=Outcome.FAILED if k % fail_every == 0 else Outcome.SUCCEEDED,
                    value=None if k % fail_every == 0 else float((k * 7919) % 1000),
                )
                for k, p in zip(j.trials, j.params, strict=True)
            )
            finished.append(replace(j, state=JobState.SUCCEEDED, results=results))
        p = plan(spec, Observed(REF, tuple(finished), status), t)
        status = p.status
        if status.terminal:
            return status
        live = [
            ObservedJob(
                index=c.index, name=c.name, trials=c.trials, state=JobState.ACTIVE, params=c.params
            )
            for c in p.create
        ]
        t += timedelta(seconds=1)


def bayes_history(n: int) -> list[TrialResult]:
    r = random.Random(0)
    return [
        TrialResult(
            trial=i,
            job_index=i,
            params={"x1": r.uniform(-5, 10), "x2": r.uniform(0, 15)},
            outcome=Outcome.SUCCEEDED,
            value=r.random(),
        )
        for i in range(n)
    ]


def rebuild_profile(spec: Any, history: list[TrialResult], calls: int) -> dict[str, Any]:
    """Where rebuilt-study suggestions spend their time (cumulative shares)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        suggest(spec, history, [], len(history), 1)
    profiler.disable()
    stats_ = pstats.Stats(profiler)
    total = stats_.total_tt
    cumulative: dict[str, float] = {}
    counts: dict[str, int] = {}
    for (_file, _line, name), (_cc, ncalls, _tt, ct, _callers) in stats_.stats.items():
        cumulative[name] = max(cumulative.get(name, 0.0), ct)
        counts[name] = counts.get(name, 0) + ncalls
    return {
        "calls": calls,
        "total_s": total,
        "storage_share": cumulative.get("create_new_trial", 0.0) / total,
        "sampling_share": cumulative.get("sample_relative", 0.0) / total,
        "deepcopy_calls": counts.get("deepcopy", 0),
    }


def plan_command(trials: int) -> dict[str, float]:
    """``tuneop plan -o json`` of a ``trials``-trial random session: as a process, then
    in-process (parse, dry run, render to JSON)."""
    import json
    import resource
    import subprocess
    import tempfile
    import time
    import tracemalloc
    from pathlib import Path

    import yaml

    from tuneop.api.session import parse_manifest
    from tuneop.cli.plan import as_data, dry_run

    doc = {
        "apiVersion": "tuneop.dev/v1alpha1",
        "kind": "TuningSession",
        "metadata": {"name": "huge"},
        "spec": {**grid_doc(), "optimizer": {"type": "random", "seed": 1}, "totalTrials": trials},
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "huge.yaml"
        path.write_text(yaml.safe_dump(doc))
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "tuneop", "plan", str(path), "-o", "json"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        process_s = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    tracemalloc.start()
    start = time.perf_counter()
    json.dumps(as_data(dry_run(parse_manifest(doc), now=NOW)))
    inprocess_s = time.perf_counter() - start
    peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return {
        "process_s": process_s,
        "process_rss_mb": rss_mb,
        "dry_run_s": inprocess_s,
        "dry_run_peak_mb": peak_mb,
    }


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    header("planning")
    out: dict[str, Any] = {}
    samples = timed(first_wave, runs)
    s = stats(samples)
    out["grid_100k_first_wave_seconds"] = s
    print(
        f"100,000-point grid, validate + first wave: median {s['median'] * 1000:.1f} ms "
        f"(min {s['min'] * 1000:.1f}, max {s['max'] * 1000:.1f}, runs {runs}; target < 500 ms)"
    )
    sizes = {}
    for total in (100, 10_000, 100_000):
        status = play(total, max_parallel=200)
        sizes[total] = status_bytes(status)
        print(
            f"status size after {total:>7,} trials: {sizes[total]:>6,} bytes "
            f"(phase {status.phase}, progress {status.progress}; target < 16,384)"
        )
    out["status_bytes"] = sizes
    huge = plan_command(10_000_000)
    out["plan_10m"] = huge
    print(
        f"tuneop plan, 10,000,000 trials: {huge['process_s']:.2f} s and "
        f"{huge['process_rss_mb']:.0f} MB peak RSS as a process (start-up included); "
        f"dry run {huge['dry_run_s'] * 1000:.1f} ms, {huge['dry_run_peak_mb']:.1f} MB traced "
        "(target < 1 s, < 100 MB)"
    )
    spec = parse_spec(
        {
            "objective": {"metric": "value"},
            "searchSpace": [
                {"name": "x1", "type": "float", "min": -5, "max": 10},
                {"name": "x2", "type": "float", "min": 0, "max": 15},
            ],
            "optimizer": {"type": "bayesian", "seed": 1},
            "totalTrials": 5000,
            "runner": {"image": "tuneop/runner:0.1.0", "objective": "m:f"},
        }
    )
    bayes: dict[str, Any] = {}
    for n in (100, 1000):
        history = bayes_history(n + runs)
        fresh = stats(timed(lambda h=history[:n], n=n: suggest(spec, h, [], n, 1), runs))
        # The operator's path: one study kept per session, a trial completed per call.
        cached = CachedSuggester()
        cached(spec, history[:n], [], n, 1)
        calls = iter(range(n + 1, n + runs + 1))

        def next_call(
            c: CachedSuggester = cached, h: list[TrialResult] = history, it: Any = calls
        ) -> None:
            k = next(it)
            c(spec, h[:k], [], k, 1)

        warm = stats(timed(next_call, runs))
        bayes[str(n)] = {"rebuild": fresh, "cached": warm}
        for label, s in (("rebuilt study", fresh), ("cached study ", warm)):
            print(
                f"bayesian suggestion, {n:>5,} completed trials, {label}: median "
                f"{s['median'] * 1000:.1f} ms (min {s['min'] * 1000:.1f}, "
                f"max {s['max'] * 1000:.1f}){'; target < 50 ms' if n == 1000 else ''}"
            )
    out["bayesian_suggest_seconds"] = bayes
    out["rebuild_profile"] = rebuild_profile(spec, bayes_history(1000), runs)
    p = out["rebuild_profile"]
    print(
        f"rebuilt study at 1,000 trials, cProfile of {p['calls']} calls: "
        f"{p['storage_share']:.0%} of the time in Optuna's InMemoryStorage.create_new_trial "
        f"({p['deepcopy_calls']:,} copy.deepcopy calls), "
        f"{p['sampling_share']:.0%} in TPE sampling (sample_relative)"
    )
    print(f"raw: {save('plan', out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
