"""Optuna's pruners for template trials that print their loss (``metricsCollector.kind:
StdOut``) on a real control plane: the operator reads the beginning of each running
trial's log again while it runs (``limitBytes``, through the kubelet's log endpoint the
node simulator serves), asks Optuna's SuccessiveHalvingPruner or HyperbandPruner about
its curve so far, stops the trials it prunes by deleting their Job, and records them
Pruned with their curve.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.operator_support import (
    Served,
    apply,
    served_module,
    session_jobs,
    session_manifest,
)

NAMESPACES = ("halving", "hyperband")

# Twenty epochs of half a second: a trial that runs to its end takes ten seconds.
TRIAL = """
import sys, time
x = float(sys.argv[1])
for epoch in range(1, 21):
    print(f"epoch {epoch}: loss={(x - 1) ** 2 + 1 / epoch}", flush=True)
    time.sleep(0.5)
"""
TEMPLATE = {
    "spec": {
        "containers": [
            {
                "name": "trial",
                "image": "python:3.11",
                "command": ["python", "-c", TRIAL, "${params.x}"],
            }
        ]
    }
}

served = served_module(*NAMESPACES)


def _run(served: Served, key: str, xs: list[float], early_stopping: dict[str, Any]) -> Any:
    ns = served.ns(key)
    session = session_manifest(
        key,
        objective={"metric": "loss", "direction": "minimize"},
        trials=[{"x": x} for x in xs],
        metricsCollector={"kind": "StdOut"},
        earlyStopping=early_stopping,
        trialTimeoutSeconds=120,
        maxParallel=2,
        template=TEMPLATE,
    )
    apply(served.cluster, ns, session)
    status = served.wait_phase(ns, key, "Succeeded", "Failed", timeout=300)["status"]
    why = served.explain(ns, key)
    assert status["phase"] == "Succeeded", why
    served.wait_for("the Jobs deleted", lambda: not session_jobs(served.cluster, ns, key) or None)
    records = sorted((served.results_dir / ns / key / "trials").glob("*.json"))
    return status, why, records


def test_successive_halving_stops_the_bad_trials_while_they_run(served: Served) -> None:
    import json

    xs = [1.0, 5.0, 1.1, 6.0, 0.9, 4.0]
    es = {"type": "successiveHalving", "minResource": 1, "reductionFactor": 3}
    status, why, records = _run(served, "halving", xs, es)
    assert status["trials"]["pruned"] >= 3, why
    assert status["best"]["params"]["x"] in (1.0, 0.9), why
    got = {r["params"]["x"]: r for r in (json.loads(p.read_text()) for p in records)}
    for x in (5.0, 6.0, 4.0):
        assert got[x]["outcome"] == "Pruned", (got[x], why)
        assert "SuccessiveHalvingPruner" in got[x]["error"], got[x]
        assert 1 <= len(got[x]["intermediate"]) < 20, got[x]  # stopped while it ran


def test_hyperband_stops_worse_trials_in_their_bracket(served: Served) -> None:
    import json

    # Each trial worse than the ones before it: with two brackets, the third trial at the
    # latest meets an earlier one in its bracket and is pruned.
    xs = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    es = {"type": "hyperband", "minResource": 1, "maxResource": 3, "reductionFactor": 3}
    status, why, records = _run(served, "hyperband", xs, es)
    assert status["trials"]["pruned"] >= 1, why
    assert status["best"]["params"] == {"x": 1.0}, why
    pruned = [r for r in (json.loads(p.read_text()) for p in records) if r["outcome"] == "Pruned"]
    assert pruned and all("HyperbandPruner" in r["error"] for r in pruned), pruned
    assert all(len(r["intermediate"]) < 20 for r in pruned), pruned
