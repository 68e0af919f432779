"""Conditional parameters on a real cluster: ``examples/conditional-optimizer.yaml``
applied with kubectl (the API server keeps ``when`` through the CRD's schema), run by
the operator in pods, every trial's params exactly the ones its optimizer uses (the
objective fails a trial handed a parameter its optimizer does not use, so every trial
succeeding is the condition honoured where the trial runs); and the same space as a
grid, each trial the active combination ``tuneop plan`` shows."""

from __future__ import annotations

import json
from typing import Any

import yaml

from tests.e2e.operator_support import EXAMPLES, Served, apply, served_module
from tuneop.api.spec import parse_spec
from tuneop.core.suggest.search import grid_size, point

NAMESPACES = ("conditional",)
NAME = "conditional-optimizer"
USES = {"sgd": "momentum", "adam": "beta1"}


served = served_module(*NAMESPACES)


def _records(served: Served, ns: str, name: str) -> dict[int, dict[str, Any]]:
    folder = served.results_dir / ns / name / "trials"
    docs = (json.loads(p.read_text()) for p in folder.glob("trial-*.json"))
    return {r["trial"]: r for r in docs}


def _honoured(params: dict[str, Any]) -> bool:
    return set(params) == {"optimizer", "lr", USES[params["optimizer"]]}


def test_the_conditional_example_honours_the_condition_in_every_pod(served: Served) -> None:
    ns = served.ns("conditional")
    served.cluster.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / f"{NAME}.yaml"))
    stored = served.cluster.kubectl("get", "ts", NAME, "-n", ns, "-o", "json")
    assert json.loads(stored.stdout)["spec"]["searchSpace"][2]["when"] == {"optimizer": "sgd"}
    status = served.wait_phase(ns, NAME, "Succeeded", "Failed", timeout=300)["status"]
    why = served.explain(ns, NAME)
    assert status["phase"] == "Succeeded" and status["trials"]["succeeded"] == 16, why
    records = _records(served, ns, NAME)
    assert len(records) == 16
    assert all(r["outcome"] == "Succeeded" and _honoured(r["params"]) for r in records.values())
    assert {r["params"]["optimizer"] for r in records.values()} == {"sgd", "adam"}


def test_a_conditional_grid_runs_each_active_combination_on_the_cluster(served: Served) -> None:
    ns, name = served.ns("conditional"), "conditional-grid"
    doc = yaml.safe_load((EXAMPLES / f"{NAME}.yaml").read_text())
    doc["metadata"] = {"name": name}
    space = doc["spec"]["searchSpace"]
    space[1].update(min=0.001, max=0.034, step=0.033, log=False)  # 2 values each
    for p in space[2:]:
        p.update(min=0.5, max=0.9, step=0.4)
    doc["spec"].update(optimizer={"type": "grid"}, maxParallel=4)
    doc["spec"].pop("totalTrials")
    apply(served.cluster, ns, doc)
    status = served.wait_phase(ns, name, "Succeeded", "Failed", timeout=300)["status"]
    why = served.explain(ns, name)
    assert status["phase"] == "Succeeded" and status["trials"]["succeeded"] == 8, why
    spec = parse_spec(doc["spec"])
    assert grid_size(spec) == 8  # 2 lr x (2 momentum + 2 beta1), not 2 x 2 x 2 x 2
    records = _records(served, ns, name)
    assert {t: r["params"] for t, r in records.items()} == {i: point(spec, i) for i in range(8)}
    assert all(_honoured(r["params"]) for r in records.values())
