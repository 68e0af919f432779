"""The side-by-side experiment: one Katib Experiment, and its ``tuneop import katib`` conversion.

``experiment_doc`` is a plain Katib v1beta1 Experiment (random or tpe, hyperopt's
``random_state`` seed, the Push collector, a batch/v1 Job trial running ``trial.py``);
``convert`` runs the user's command, ``tuneop import katib``, on it and returns the
TuningSession it prints. Both systems therefore run the same trial argv.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

__all__ = ["KATIB_PYTHON", "TRIAL_SCRIPT", "convert", "experiment_doc", "python_path"]

HERE = Path(__file__).resolve().parent
TRIAL_SCRIPT = HERE / "trial.py"
KATIB_HOME = Path.home() / ".cache" / "tuneop" / "katib-0.19.0"
# The trial runs under Katib's venv for both systems (it has grpc for the Push call).
KATIB_PYTHON = KATIB_HOME / "venv" / "bin" / "python"
TUNEOP = Path(sys.executable).with_name("tuneop")
# No real image: the node simulator runs the command; an image it does not know runs as a
# non-root user, so a runAsNonRoot default passes.
TRIAL_IMAGE = "bench.invalid/branin-trial:1"


def python_path(home: Path = KATIB_HOME) -> str:
    """PYTHONPATH of Katib's suggestion images: the source root and the generated stubs."""
    src = home / "src"
    parts = [src, src / "pkg/apis/manager/v1beta1/python", src / "pkg/apis/manager/health/python"]
    return ":".join(str(p) for p in parts)


def experiment_doc(
    name: str, algorithm: str, seed: int, trials: int, parallel: int, db_manager: str
) -> dict[str, Any]:
    """A Katib Experiment minimising Branin over x in [-5, 10], y in [0, 15]."""
    container = {
        "name": "training",
        "image": TRIAL_IMAGE,
        "command": [
            str(KATIB_PYTHON),
            str(TRIAL_SCRIPT),
            "${trialParameters.x}",
            "${trialParameters.y}",
        ],
        "env": [
            {"name": "PYTHONPATH", "value": python_path()},
            {"name": "KATIB_DB_MANAGER_ADDRESS", "value": db_manager},
        ],
    }
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {
                "algorithmName": algorithm,
                "algorithmSettings": [{"name": "random_state", "value": str(seed)}],
            },
            "parallelTrialCount": parallel,
            "maxTrialCount": trials,
            "maxFailedTrialCount": max(1, trials // 10),
            "metricsCollectorSpec": {"collector": {"kind": "Push"}},
            "parameters": [
                {"name": n, "parameterType": "double", "feasibleSpace": {"min": lo, "max": hi}}
                for n, lo, hi in (("x", "-5", "10"), ("y", "0", "15"))
            ],
            "trialTemplate": {
                "primaryContainerName": "training",
                "trialParameters": [
                    {"name": "x", "reference": "x"},
                    {"name": "y", "reference": "y"},
                ],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {
                        "template": {"spec": {"restartPolicy": "Never", "containers": [container]}}
                    },
                },
            },
        },
    }


def convert(doc: dict[str, Any], workdir: Path) -> tuple[dict[str, Any], str]:
    """``tuneop import katib`` on ``doc``: the session and what the command said on stderr."""
    path = workdir / f"{doc['metadata']['name']}.katib.yaml"
    path.write_text(yaml.safe_dump(doc))
    done = subprocess.run(
        [str(TUNEOP), "import", "katib", str(path)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"tuneop import katib exited {done.returncode}: {done.stderr[-2000:]}")
    session = yaml.safe_load(done.stdout)
    if not isinstance(session, dict):
        raise RuntimeError(f"tuneop import katib printed no session: {done.stdout[:500]!r}")
    return session, done.stderr
