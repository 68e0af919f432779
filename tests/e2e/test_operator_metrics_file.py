"""Metrics from a file on a real control plane: the trial writes them to a file (Katib's
File collector) or as TensorFlow event files (TensorFlowEvent), and the operator's pod
runs tuneop's follower as a native sidecar (an init container with ``restartPolicy:
Always``) sharing the file's directory through an emptyDir; the harvest reads the
sidecar's log. The node simulator runs native sidecars, emptyDirs and mount namespaces
as a kubelet does (``testing/minicluster/nodesim.py``, ``volumes.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from minicluster.kube import Json
from tests.e2e.operator_support import (
    Served,
    apply,
    served_module,
    session_manifest,
)

NAMESPACES = ("metricsfile",)
# Under /run (a tmpfs): the node simulator creates missing mount points on the host.
TEXT_DIR = "/run/tuneop-e2e-metrics"
TF_DIR = "/run/tuneop-e2e-tfevents"
EVENTS = Path(__file__).parents[1] / "data" / "tfevents" / "run"

# A decoy on stdout, the real values in the file, written over a second (the sidecar
# follows it while it grows).
TEXT_TRIAL = f"""
import sys, time
x = float(sys.argv[1])
print("loss=999", flush=True)
with open("{TEXT_DIR}/metrics.log", "w") as f:
    for epoch in (1, 2, 3):
        f.write(f"epoch {{epoch}}: loss={{abs(x - 2) + 1 / epoch}}\\n")
        f.flush()
        time.sleep(0.3)
"""

# TensorBoard's writer's files (tests/data/tfevents), as a TensorFlow script leaves them.
TF_TRIAL = f"""
import pathlib, shutil, sys
for f in pathlib.Path({str(EVENTS)!r}).rglob("*tfevents*"):
    to = pathlib.Path("{TF_DIR}") / f.parent.name / f.name
    to.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(f, to)
"""


def session(name: str, program: str, collector: Json, **spec: Any) -> Json:
    tmpl = {
        "spec": {
            "containers": [
                {
                    "name": "trial",
                    "image": "python:3.11",
                    "command": ["python", "-c", program, "${params.x}"],
                }
            ]
        }
    }
    return session_manifest(
        name,
        trials=[{"x": 1}, {"x": 2}, {"x": 3}],
        metricsCollector=collector,
        trialTimeoutSeconds=60,
        maxParallel=3,
        template=tmpl,
        **spec,
    )


served = served_module(*NAMESPACES)


@dataclass(frozen=True)
class Case:
    name: str
    program: str
    collector: Json
    objective: Json
    best_value: float
    best_params: Json | None = None


CASES = [
    # the min over the file's epochs, never the 999 the trial printed on stdout
    Case(
        "text",
        TEXT_TRIAL,
        {
            "kind": "File",
            "path": f"{TEXT_DIR}/metrics.log",
            "metricStrategies": [{"name": "loss", "value": "min"}],
        },
        {"metric": "loss", "direction": "minimize"},
        best_value=1 / 3,
        best_params={"x": 2},
    ),
    # TensorBoard's writer's file: the max is step 5's
    Case(
        "tf",
        TF_TRIAL,
        {
            "kind": "TensorFlowEvent",
            "path": TF_DIR,
            "metricStrategies": [{"name": "accuracy", "value": "max"}],
        },
        {"metric": "accuracy", "direction": "maximize"},
        best_value=0.75,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_metrics_written_to_files_are_harvested_by_the_sidecar(served: Served, case: Case) -> None:
    ns = served.ns("metricsfile")
    apply(
        served.cluster,
        ns,
        session(case.name, case.program, case.collector, objective=case.objective),
    )

    status = served.wait_phase(ns, case.name, "Succeeded", "Failed", timeout=180)["status"]

    why = served.explain(ns, case.name)
    assert status["phase"] == "Succeeded", why
    assert status["trials"]["succeeded"] == 3, why
    assert status["best"]["value"] == pytest.approx(case.best_value), why
    if case.best_params is not None:
        assert status["best"]["params"] == case.best_params, why
