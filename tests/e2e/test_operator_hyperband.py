"""Hyperband search on a real cluster: ``examples/curve-hyperband.yaml`` applied with
kubectl and run by the operator in pods, each rung's Jobs created only after the rung
before has ended, the relaunched configurations the best of their rung, every trial
created once and its record saying its bracket, rung and budget."""

from __future__ import annotations

import json
from typing import Any

from minicluster.watch import JobWatch
from tests.e2e.operator_support import EXAMPLES, Served, served_module

NAMESPACES = ("hyperband",)
NAME = "curve-hyperband"


served = served_module(*NAMESPACES)


def test_the_hyperband_example_runs_its_brackets_in_pods(served: Served) -> None:
    ns = served.ns("hyperband")
    with JobWatch(served.cluster.kubeconfig, ns) as watch:
        served.cluster.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / f"{NAME}.yaml"))
        status = served.wait_phase(ns, NAME, "Succeeded", "Failed", timeout=400)["status"]
    why = served.explain(ns, NAME)
    assert status["phase"] == "Succeeded" and status["trials"]["succeeded"] == 23, why
    assert watch.names() == {f"{NAME}-{i}" for i in range(23)}, why
    assert not watch.duplicates(), watch.duplicates()

    folder = served.results_dir / ns / NAME / "trials"
    records: dict[int, dict[str, Any]] = {}
    for path in folder.glob("trial-*.json"):
        doc = json.loads(path.read_text())
        records[doc["trial"]] = doc
    assert sorted(records) == list(range(23)), why
    assert [records[t]["hyperband"]["rung"] for t in range(13)] == [0] * 9 + [1] * 3 + [2]

    def value(t: int) -> float:
        return float(records[t]["objective"]["value"])

    best = sorted(range(9), key=value, reverse=True)[:3]  # accuracy, maximized
    assert [records[t]["params"] for t in (9, 10, 11)] == [
        {**records[b]["params"], "steps": 3} for b in best
    ], why
