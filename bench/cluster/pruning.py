"""API requests per trial when the operator follows running trials for early stopping.

With ``earlyStopping`` ``median``, ``successiveHalving`` or ``hyperband`` and a StdOut
collector, the operator reads the beginning of each running trial's log again every few
seconds (one ``GET pods/log`` with ``limitBytes`` per running trial per judgement). This
runs one e2e-sized session (six template trials printing a loss every half second for
ten seconds, ``maxParallel`` 2) twice on the benchmark's audited cluster, once with
``successiveHalving`` and once without early stopping, and prints the operator's requests
per trial from the audit log (``bench.cluster.api``), by kind, with the machine's load.

    python -m bench.cluster.pruning
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.cluster.cluster import TS, BenchCluster
from bench.cluster.sessions import Namespace, create_session, phase
from minicluster.audit import breakdown
from minicluster.controlplane import missing_binaries

__all__ = ["TRIAL", "main", "run_session"]

TRIAL = """
import sys, time
x = float(sys.argv[1])
for epoch in range(1, 21):
    print(f"epoch {epoch}: loss={(x - 1) ** 2 + 1 / epoch}", flush=True)
    time.sleep(0.5)
"""
XS = [1.0, 5.0, 1.1, 6.0, 0.9, 4.0]


def _doc(early_stopping: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "objective": {"metric": "loss", "direction": "minimize"},
        "trials": [{"x": x} for x in XS],
        "maxParallel": 2,
        "trialTimeoutSeconds": 120,
        "metricsCollector": {"kind": "StdOut"},
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "trial",
                        "image": "python:3.11",
                        "command": ["python", "-c", TRIAL, "${params.x}"],
                    }
                ]
            }
        },
    }
    if early_stopping is not None:
        spec["earlyStopping"] = early_stopping
    return {
        "apiVersion": "tuneop.dev/v1alpha1",
        "kind": "TuningSession",
        "metadata": {"name": "s"},
        "spec": spec,
    }


def run_session(bc: BenchCluster, tag: str, early_stopping: dict[str, Any] | None) -> Any:
    """One session to its end and its Jobs cleaned up; the operator's requests counted."""
    with Namespace(bc, f"bench-prune-{tag}") as ns:
        op = bc.start_operator(ns, f"prune-{tag}")
        try:
            start = time.time()
            create_session(bc, ns, _doc(early_stopping))
            path = f"{TS}/namespaces/{ns}/tuningsessions/s"
            deadline = time.monotonic() + 300
            while phase(got := bc.kube.get(path)) not in ("Succeeded", "Failed"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"session {tag} did not end: {got.get('status')}")
                op.check()
                time.sleep(0.5)
            seconds = time.time() - start
            while bc.kube.get(f"/apis/batch/v1/namespaces/{ns}/jobs")["items"]:
                time.sleep(0.5)
            time.sleep(2)
            requests = bc.audit.window(start, time.time(), "operator")
        finally:
            op.stop()
    non_watch = [r for r in requests if r.verb != "watch"]
    trials = got["status"]["trials"]
    return {
        "seconds": seconds,
        "requests": len(non_watch),
        "per_trial": len(non_watch) / len(XS),
        "breakdown": breakdown(non_watch),
        "pruned": trials.get("pruned", 0),
        "succeeded": trials.get("succeeded", 0),
    }


def main() -> int:
    if missing_binaries():
        print("bench.cluster.pruning: the e2e control plane is not built", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="tuneop-prune-bench-"))
    bc = BenchCluster(tmp / "cluster")
    try:
        bc.start()
        bc.apply_crd()
        for tag, es in (
            ("halving", {"type": "successiveHalving", "minResource": 1, "reductionFactor": 3}),
            ("none", None),
        ):
            load = os.getloadavg()
            got = run_session(bc, tag, es)
            print(
                f"{tag}: {got['requests']} operator requests for {len(XS)} trials"
                f" ({got['per_trial']:.1f} per trial), {got['pruned']} pruned,"
                f" {got['succeeded']} succeeded, {got['seconds']:.1f} s;"
                f" load before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            print(f"  by kind: {got['breakdown']}", flush=True)
    finally:
        bc.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
