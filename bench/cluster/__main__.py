"""The control-plane benchmark's command line: ``python -m bench.cluster [--only ...]``.

Parses the sizes (defaults, ``--quick`` or one by one), starts one cluster for the whole
run, runs the chosen measurements in order, prints the details and the summary table, and
saves the raw record under bench/results/ (see ``report.result_name``). The measurements
themselves are the modules beside this one; see the package's docstring.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import bench.cluster
from bench.cluster import report
from bench.cluster.cluster import BenchCluster
from bench.cluster.latency import bench_latency
from bench.cluster.machine import Neighbours
from bench.cluster.restart import bench_restart
from bench.cluster.rss import bench_rss, idle_breakdown, import_footprint
from bench.cluster.throughput import bench_throughput
from bench.common import header, save
from minicluster.controlplane import BUILD_SCRIPT, K8S_VERSION, REPO_ROOT, missing_binaries

ALL = report.ALL
DEFAULTS = {
    "latency_sessions": 20,
    "throughput_trials": 200,
    "throughput_parallel": 20,
    "throughput_runs": 3,
    "rss_sessions": 50,
    "rss_trials": 100,
    "rss_trials_per_job": 25,
    "rss_parallel": 1,
    "restart_sessions": 50,
    "restart_trial_seconds": 30,
}
QUICK = {
    "latency_sessions": 5,
    "throughput_trials": 40,
    "throughput_parallel": 10,
    "throughput_runs": 1,
    "rss_sessions": 5,
    "rss_trials": 20,
    "rss_trials_per_job": 10,
    "rss_parallel": 1,
    "restart_sessions": 5,
    "restart_trial_seconds": 15,
}


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str], dict[str, int]]:
    """The options, the measurements to run (in ``ALL``'s terms) and the sizes."""
    doc = bench.cluster.__doc__ or ""
    parser = argparse.ArgumentParser(
        prog="python -m bench.cluster", description=doc.split("\n\n")[0]
    )
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated of {ALL}")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--keep", action="store_true", help="keep the state dir (logs)")
    parser.add_argument(
        "--rss-optimizers", default="random,bayesian", help="optimizers of the rss sessions"
    )
    parser.add_argument(
        "--kcm-qps",
        type=int,
        default=None,
        help="raise the controller-manager's client rate limit (default: its own, 20/s)",
    )
    parser.add_argument(
        "--record", default=None, help="the raw record's name under bench/results/ (no .json)"
    )
    parser.add_argument(
        "--harvest-window",
        type=float,
        default=None,
        help="the operator's --harvest-window, seconds (default: the operator's own)",
    )
    parser.add_argument(
        "--rss-trace",
        action="store_true",
        help="then repeat rss with tracemalloc in the operator: where its memory goes",
    )
    for key, value in DEFAULTS.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=None, help=f"{value}")
    args = parser.parse_args(argv)
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(only) - set(ALL)
    if unknown:
        parser.error(f"--only: unknown {sorted(unknown)}")
    base = QUICK if args.quick else DEFAULTS
    sizes = {k: getattr(args, k) if getattr(args, k) is not None else base[k] for k in DEFAULTS}
    return args, only, sizes


def run_rss(
    bc: BenchCluster, sizes: dict[str, int], args: argparse.Namespace, out: dict[str, Any]
) -> None:
    """The rss runs, one per optimizer, then (``--rss-trace``) their traced repeats."""
    shape = (
        sizes["rss_sessions"],
        sizes["rss_trials"],
        sizes["rss_trials_per_job"],
        sizes["rss_parallel"],
    )
    out["rss"] = []
    for optimizer in args.rss_optimizers.split(","):
        out["rss"].append(bench_rss(bc, *shape, optimizer))
        print(f"rss {optimizer}: VmHWM {out['rss'][-1]['vmhwm_mb']:.1f} MB", flush=True)
    if args.rss_trace:
        out["rss_traced"] = [
            bench_rss(bc, *shape, optimizer, trace=True)
            for optimizer in args.rss_optimizers.split(",")
        ]
    out["import_footprint_mb"] = import_footprint()
    out["idle_breakdown_mb"] = idle_breakdown(out["import_footprint_mb"])


def run(
    bc: BenchCluster,
    only: list[str],
    sizes: dict[str, int],
    args: argparse.Namespace,
    results: dict[str, Any],
) -> None:
    """Start the cluster and run the chosen measurements into ``results`` (filled in
    place, so that a failure keeps what was measured before it)."""
    start = time.monotonic()
    bc.start()
    bc.apply_crd()
    print(f"cluster up in {time.monotonic() - start:.1f} s (state: {bc.state_dir})", flush=True)
    if "latency" in only:
        results["latency"] = bench_latency(bc, sizes["latency_sessions"])
        print(f"latency: p50 {results['latency']['p50_s'] * 1000:.0f} ms", flush=True)
    if "throughput" in only or "api" in only:
        results["throughput"] = bench_throughput(
            bc,
            sizes["throughput_trials"],
            sizes["throughput_parallel"],
            sizes["throughput_runs"],
            args.kcm_qps,
        )
    if "rss" in only:
        run_rss(bc, sizes, args, results)
    if "restart" in only:
        results["restart"] = bench_restart(
            bc, sizes["restart_sessions"], sizes["restart_trial_seconds"]
        )
        print(f"restart: {results['restart']['all_recovered_s']:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    args, only, sizes = parse_args(argv)
    missing = missing_binaries()
    if missing:
        print(
            f"bench.cluster: the e2e control plane is not built (missing {', '.join(missing)}):"
            f" run {BUILD_SCRIPT.relative_to(REPO_ROOT)} first",
            file=sys.stderr,
        )
        return 2
    header(f"control plane: the operator on kube-apiserver {K8S_VERSION} + node simulator")
    print(f"measurements: {', '.join(only)}; sizes: {sizes}", flush=True)
    kcm = f"--kube-api-qps {args.kcm_qps}" if args.kcm_qps else "its default client limit"
    print(f"controller-manager: {kcm}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="tuneop-cluster-bench-"))
    bc = BenchCluster(tmp / "cluster", kcm_qps=args.kcm_qps)
    if args.harvest_window is not None:
        bc.operator_args = ["--harvest-window", str(args.harvest_window)]
    results: dict[str, Any] = {}
    failed = False
    neighbours = Neighbours(lambda: [os.getpid(), *bc.pids().values()]).start()
    try:
        run(bc, only, sizes, args, results)
    except BaseException:
        failed = True
        traceback.print_exc()
        print(f"state dir kept for the logs: {bc.state_dir}")
    finally:
        neighbours.stop()
        bc.stop()
        results["operator_errors"] = {
            op.log_path.stem.removeprefix("operator-"): op.errors() for op in bc.operators
        }
        if not failed and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if not results:
        return 1
    results["neighbours"] = neighbours.summary()
    report.print_neighbours(results["neighbours"])
    report.print_details(results)
    report.print_table(report.report(results, {"api": "api" in only}))
    name = args.record or report.result_name(
        only, sizes, DEFAULTS, args.quick, args.kcm_qps, failed
    )
    record = {
        "sizes": sizes,
        "only": only,
        "kcm_qps": args.kcm_qps,
        "harvest_window": args.harvest_window,
        "failed": failed,
        "results": results,
    }
    print(f"raw: {save(name, record)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
