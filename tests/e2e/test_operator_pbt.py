"""Population-based training on a real control plane: the operator launches a generation
once the one before has ended, and each trial's pod is told its checkpoint folder and its
parent's. The trials share their checkpoints through a hostPath volume mounted at
``checkpointDir`` (the node simulator leaves a hostPath volume unmaterialised, so the
trial process sees the host's folder, as a pod on one node sees its hostPath; a cluster
would use a ReadWriteMany PersistentVolumeClaim). The trial is the toy training script
of ``examples/pbt/train.py``: a trial of generation g has trained 5 (g + 1) epochs only
if it started from its parent's saved state.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from tests.e2e.operator_support import (
    Served,
    apply,
    served_module,
    session_manifest,
)

NAMESPACES = ("pbt",)
REPO = Path(__file__).resolve().parents[2]
# Under /run (a tmpfs), as the other e2e tests' shared folders.
CHECKPOINTS = Path("/run/tuneop-e2e-pbt")


served = served_module(*NAMESPACES)


def test_each_generation_of_a_pbt_session_trains_on_from_its_parents_checkpoint(
    served: Served,
) -> None:
    ns = served.ns("pbt")
    shutil.rmtree(CHECKPOINTS, ignore_errors=True)
    script = str(REPO / "examples/pbt/train.py")
    session = session_manifest(
        "pop",
        objective={"metric": "accuracy", "direction": "maximize"},
        metricsCollector={"kind": "StdOut"},
        searchSpace=[
            {"name": "lr", "type": "float", "min": 0.0001, "max": 0.1, "log": True},
            {"name": "momentum", "type": "float", "min": 0.5, "max": 0.99},
        ],
        optimizer={
            "type": "pbt",
            "seed": 5,
            "pbt": {"population": 3, "truncation": 0.34, "checkpointDir": str(CHECKPOINTS)},
        },
        totalTrials=9,
        maxParallel=3,
        template={
            "spec": {
                "containers": [
                    {
                        "name": "trial",
                        "image": "python:3.11",
                        "command": [sys.executable, script, "${params.lr}", "${params.momentum}"],
                        "volumeMounts": [{"name": "checkpoints", "mountPath": str(CHECKPOINTS)}],
                    }
                ],
                "volumes": [
                    {"name": "checkpoints", "hostPath": {"path": str(CHECKPOINTS)}},
                ],
            }
        },
    )
    apply(served.cluster, ns, session)

    status = served.wait_phase(ns, "pop", "Succeeded", "Failed", timeout=240)["status"]

    why = served.explain(ns, "pop")
    assert status["phase"] == "Succeeded", why
    assert status["trials"]["succeeded"] == 9, why
    for trial in range(9):
        state = json.loads((CHECKPOINTS / "pop" / f"trial-{trial}" / "state.json").read_text())
        assert state["epochs"] == 5 * (trial // 3 + 1), (trial, state, why)
