"""Progress under churn on the e2e control plane: ``python -m bench.chaos_bench``.

The issue's measurement: a session (300 trials, ``maxParallel`` 20, by default) run by
one ``tuneop operator`` that is SIGKILLed after a seeded 2-5 s of life and started again
until the session ends, and the same session without kills, under the same load
(``--load 2``: two busy-loop processes, the issue's ``LOAD=2``). Each run gets a fresh
namespace of one cluster, its own results folder and a real ``redis-server`` mirror.
Prints, per run, trials per minute, kills, duplicates (Job names created twice),
missing results, whether Redis's session hash converged on the final status and the best
ConfigMap is right, and the load average; then the ratio of the medians (the goal: with
kills at least half the kill-free speed, exactly-once, every run). Saves the raw figures
under bench/results/chaos.json. docs/performance.md quotes them.

``--leader-elect`` runs the operator as the Helm chart does: with leader election (the
chart's durations) and ``POD_NAME`` set, the killed process started again under the same
pod name (a container restarted in its pod), beside a standby replica of another pod
name that is never killed; the runs print whether the standby ever led.
``--leader-elect host`` does the same without ``POD_NAME``: both on this host.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis

from bench.common import header, save
from minicluster.chaos import (
    ChaosRun,
    ExistingJobs,
    busy_loops,
    check_best,
    check_exactly_once,
    check_redis,
    load_average,
    run_session,
)
from minicluster.controlplane import REPO_ROOT
from minicluster.harness import Cluster
from minicluster.operator_process import OperatorProcess
from minicluster.redis_server import RedisServer
from tuneop.api.spec import API_GROUP, API_VERSION, KIND
from tuneop.controller.lineage import lineage_name

__all__ = ["main"]


PLURAL = f"/apis/{API_GROUP}/{API_VERSION}/namespaces/{{ns}}/tuningsessions"
# The Helm chart's election flags with its default durations (charts/tuneop/values.yaml).
CHART_ELECTION = [
    "--leader-elect",
    "--leader-elect-lease=tuneop",
    "--leader-elect-lease-duration=10",
    "--leader-elect-renew-deadline=7",
    "--leader-elect-retry-period=2",
]


def manifest(name: str, trials: int, max_parallel: int, seconds: float) -> dict[str, Any]:
    """Quick trials: the runner's ``testing:sleep`` objective, ``seconds`` each."""
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": KIND,
        "metadata": {"name": name},
        "spec": {
            "objective": {"metric": "value", "direction": "minimize"},
            "trials": [{"seconds": seconds + 0.01 * (i % 7)} for i in range(trials)],
            "runner": {
                "image": "tuneop/runner:0.1.0",
                "objective": "tuneop_runner.objectives.testing:sleep",
            },
            "maxParallel": max_parallel,
        },
    }


def _stand_by(cluster: Cluster, ns: str, standby: OperatorProcess, first: str) -> None:
    """Start the standby once the first replica (its identity starting with ``first``)
    holds the Lease, so the one killed is the leader."""
    path = f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/tuneop"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        lease = cluster.kube.get_or_none(path) or {}
        if str((lease.get("spec") or {}).get("holderIdentity") or "").startswith(first):
            standby.start()
            return
        time.sleep(0.1)


def one_run(
    cluster: Cluster, redis_url: str, workdir: Path, args: argparse.Namespace, kills: bool, n: int
) -> dict[str, Any]:
    ns = cluster.create_namespace(f"chaos-{'k' if kills else 'q'}{n}")
    name = "chaos"
    results = workdir / f"results-{ns}"
    flags = ["--results-dir", str(results), "--redis-url", redis_url]
    if args.leader_elect:
        flags += [*CHART_ELECTION, "--leader-elect-namespace", ns]

    def replica(role: str, pod: str) -> OperatorProcess:
        env = {"POD_NAME": pod} if args.leader_elect == "pod" else None
        return OperatorProcess(
            cluster.kubeconfig, [ns], workdir / f"{role}-{ns}.log", flags, extra_env=env
        )

    operator = replica("operator", "tuneop-7c9-a")
    # With an election, another pod's replica, started once the first one leads.
    standby = replica("standby", "tuneop-7c9-b") if args.leader_elect else None
    path = f"{PLURAL.format(ns=ns)}/{name}"
    doc = manifest(name, args.trials, args.max_parallel, args.seconds)

    def apply() -> None:
        cluster.kube.post(PLURAL.format(ns=ns), doc)

    if standby is not None:
        first = "tuneop-7c9-a_"
        if args.leader_elect == "host":  # it claims the host's lineage, the standby cannot
            first = f"{lineage_name(None, socket.gethostname())}_"
        threading.Thread(target=_stand_by, args=(cluster, ns, standby, first), daemon=True).start()
    with ExistingJobs(cluster.kubeconfig, ns) as watch:
        run: ChaosRun = run_session(
            cluster.kube,
            operator,
            path,
            apply,
            kill_seconds=(args.kill_seconds or args.timeout) if kills else 0.0,
            seed=args.seed + n,
            life_from=args.life_from,
            timeout=args.timeout,
        )
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 20
    while True:  # the mirrors are written just after the final status write
        mirrors = check_redis(client, "tuneop", f"{ns}/{name}", run)
        mirrors += check_best(cluster.kube, ns, name, run)
        if not mirrors or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    client.close()
    once = check_exactly_once(run, args.trials, watch.duplicates(), results / ns / name / "trials")
    standby_led = None
    if standby is not None:
        # Stopped first: the leader's stop gives the Lease back, which a standby still
        # running would take (and count as having led) once the session is over.
        standby.stop()
        standby_led = "became the leader" in standby.log_text()
    operator.stop()
    figures = {
        "kills": run.kills,
        "per_minute": round(run.per_minute, 1),
        "seconds": round(run.total_seconds, 1),
        "duplicates": len(watch.duplicates()),
        "peak_jobs": watch.peak_existing,
        "startup_s": [round(x, 1) for x in run.startups],
        "exactly_once": not once,
        "problems": once,
        "mirrors_converged": not mirrors,
        "mirror_problems": mirrors,
        "load": load_average(),
        "standby_led": standby_led,
    }
    print(
        f"  {'kills' if kills else 'no kills'} #{n}: {run.per_minute:.1f} trials/min,"
        f" {run.kills} kills, {run.total_seconds:.0f}s, duplicates {figures['duplicates']},"
        f" peak Jobs {watch.peak_existing}, exactly-once {not once} {once or ''},"
        f" mirrors converged {not mirrors} {mirrors or ''}"
        + ("" if standby_led is None else f", standby led {standby_led}")
        + f"; load {figures['load']}",
        flush=True,
    )
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--max-parallel", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=0.5, help="each trial's sleep")
    parser.add_argument("--load", type=int, default=0, help="busy-loop processes (2: LOAD=2)")
    parser.add_argument("--runs", type=int, default=2, help="runs each way")
    parser.add_argument("--seed", type=int, default=27)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument(
        "--life-from",
        choices=("start", "ready"),
        default="start",
        help="count each 2-5 s life from the process's start (the issue's way) or kopf's",
    )
    parser.add_argument(
        "--kill-seconds", type=float, default=0.0, help="stop killing after this (0: never)"
    )
    parser.add_argument("--no-baseline", action="store_true", help="only the runs with kills")
    parser.add_argument(
        "--leader-elect",
        nargs="?",
        const="pod",
        choices=("pod", "host"),
        help="as the chart runs it: leader election and a standby; 'pod' (the default) with"
        " POD_NAME kept across restarts, 'host' without POD_NAME",
    )
    args = parser.parse_args(argv)
    header(
        f"chaos: {args.trials} trials, maxParallel {args.max_parallel}, SIGKILL every 2-5 s,"
        f" LOAD={args.load}, {args.runs} runs each way"
        + (
            f", leader election as the chart runs it ({args.leader_elect})"
            if args.leader_elect
            else ""
        )
    )
    print(f"before: load {load_average()} on {os.cpu_count()} CPUs", flush=True)
    out: dict[str, Any] = {"args": vars(args), "kills": [], "quiet": []}
    with tempfile.TemporaryDirectory() as tmp, Cluster(Path(tmp) / "cluster") as cluster:
        cluster.kubectl("apply", "-f", str(REPO_ROOT / "crds" / "tuningsession.yaml"))
        cluster.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            f"crd/tuningsessions.{API_GROUP}",
        )
        server = RedisServer(Path(tmp))
        server.start()
        try:
            with busy_loops(args.load):
                for n in range(args.runs):
                    if not args.no_baseline:
                        out["quiet"].append(one_run(cluster, server.url, Path(tmp), args, False, n))
                    out["kills"].append(one_run(cluster, server.url, Path(tmp), args, True, n))
        finally:
            server.stop()
    summary(out)
    path = save("chaos", out)
    print(f"saved {path.relative_to(REPO_ROOT)}")


def summary(out: dict[str, Any]) -> None:
    print(f"after: load {load_average()}")
    for way in ("quiet", "kills"):
        runs = out[way]
        if runs:
            rates = [r["per_minute"] for r in runs]
            print(
                f"{way}: median {statistics.median(rates):.1f} trials/min {rates},"
                f" exactly-once {sum(r['exactly_once'] for r in runs)}/{len(runs)},"
                f" mirrors converged {sum(r['mirrors_converged'] for r in runs)}/{len(runs)}"
            )
    if out["quiet"] and out["kills"]:
        ratio = statistics.median(r["per_minute"] for r in out["kills"]) / max(
            statistics.median(r["per_minute"] for r in out["quiet"]), 1e-9
        )
        out["ratio"] = ratio
        print(f"with kills / without: {ratio:.2f} (goal: at least 0.5)")


if __name__ == "__main__":
    main()
