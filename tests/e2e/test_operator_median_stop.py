"""Katib's median stop on a real control plane: the operator reads the beginning of each
running trial's log (``limitBytes``, through the kubelet's log endpoint the node simulator
serves), stops the trials whose first values are worse than the succeeded trials' mean by
deleting their Job, and records them Pruned with their curve.
"""

from __future__ import annotations

from tests.e2e.operator_support import (
    Served,
    apply,
    served_module,
    session_manifest,
)

NAMESPACES = ("medianstop",)

# Twenty epochs of a second each: a trial that runs to its end takes twenty seconds.
TRIAL = """
import sys, time
x = float(sys.argv[1])
for epoch in range(1, 21):
    print(f"epoch {epoch}: loss={(x - 1) ** 2 + 1 / epoch}", flush=True)
    time.sleep(1)
"""


served = served_module(*NAMESPACES)


def test_the_operator_stops_trials_worse_than_the_succeeded_ones(served: Served) -> None:
    ns = served.ns("medianstop")
    template = {
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
    session = session_manifest(
        "median",
        objective={"metric": "loss", "direction": "minimize"},
        trials=[{"x": 1.0}, {"x": 1.1}, {"x": 5.0}, {"x": 6.0}],
        metricsCollector={"kind": "StdOut"},
        earlyStopping={"type": "medianStop", "minTrialsRequired": 2, "startStep": 2},
        trialTimeoutSeconds=120,
        maxParallel=2,
        template=template,
    )
    apply(served.cluster, ns, session)

    status = served.wait_phase(ns, "median", "Succeeded", "Failed", timeout=240)["status"]

    why = served.explain(ns, "median")
    assert status["phase"] == "Succeeded", why
    assert status["trials"]["succeeded"] == 2, why
    assert status["trials"]["pruned"] == 2, why
    assert status["best"]["params"] == {"x": 1.0}, why
