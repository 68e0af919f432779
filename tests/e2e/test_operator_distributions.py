"""Normal and log-normal parameters on a real cluster: ``examples/sphere-normal.yaml``
applied with kubectl, run by the operator in pods, each trial's params the draw
``tuneop plan`` shows (the same pure function of spec, seed and trial), values past
``min`` and ``max`` included; and a TPE session of the same space to Succeeded."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import yaml

from tests.e2e.operator_support import EXAMPLES, Served, apply, served_module
from tuneop.api.spec import parse_spec
from tuneop.core.suggest.search import point

NAMESPACES = ("drawn",)
NAME = "sphere-normal"


served = served_module(*NAMESPACES)


def _records(served: Served, ns: str, name: str) -> dict[int, dict[str, Any]]:
    folder = served.results_dir / ns / name / "trials"
    docs = (json.loads(p.read_text()) for p in folder.glob("trial-*.json"))
    return {r["trial"]: r for r in docs}


def test_the_normal_example_runs_in_pods_with_the_planned_draws(served: Served) -> None:
    ns = served.ns("drawn")
    served.cluster.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / f"{NAME}.yaml"))
    status = served.wait_phase(ns, NAME, "Succeeded", "Failed", timeout=300)["status"]
    why = served.explain(ns, NAME)
    assert status["phase"] == "Succeeded" and status["trials"]["succeeded"] == 40, why
    spec = parse_spec(yaml.safe_load((EXAMPLES / f"{NAME}.yaml").read_text())["spec"])
    records = _records(served, ns, NAME)
    assert {t: r["params"] for t, r in records.items()} == {i: point(spec, i) for i in range(40)}
    for r in records.values():  # the trial computed on what it was handed
        p = r["params"]
        assert r["objective"]["value"] == pytest.approx(
            p["x"] ** 2 + p["lr"] ** 2 + p["depth"] ** 2
        )


def test_a_tpe_session_of_normal_parameters_succeeds_on_the_cluster(served: Served) -> None:
    ns, name = served.ns("drawn"), "sphere-normal-tpe"
    doc = yaml.safe_load((EXAMPLES / f"{NAME}.yaml").read_text())
    doc["metadata"] = {"name": name}
    doc["spec"].update(optimizer={"type": "bayesian", "seed": 2}, totalTrials=12, maxParallel=3)
    apply(served.cluster, ns, doc)
    status = served.wait_phase(ns, name, "Succeeded", "Failed", timeout=300)["status"]
    why = served.explain(ns, name)
    assert status["phase"] == "Succeeded" and status["trials"]["succeeded"] == 12, why
    params = [r["params"] for r in _records(served, ns, name).values()]
    assert len(params) == 12
    assert all(math.isfinite(p["x"]) and p["lr"] > 0 and p["depth"] % 2 == 0 for p in params)
