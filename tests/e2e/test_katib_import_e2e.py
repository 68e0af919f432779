"""An imported Katib example on a real control plane: its pod starts, as Katib's would.

``tuneop import katib`` of Katib v0.19.0's ``hp-tuning/random.yaml`` (vendored under
tests/data/katib), run by the operator. The node simulator refuses a root image under
``runAsNonRoot`` as a kubelet does (``minicluster.imageusers``: Katib's trial images run as
root), so the pods start only because the import takes Katib's template as written. The
simulator runs no images: the trial container's ``mnist.py`` is stood in for by a script
that prints Katib's ``name=value`` lines, everything else of the pod is as imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from minicluster.harness import Cluster
from minicluster.kube import Json
from tests.e2e.operator_support import Served, apply, served_module, session_pods

NAMESPACES = ("katib",)
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "tests/data/katib/hp-tuning/random.yaml"
CONFIGMAP_EXAMPLE = REPO / "tests/data/katib/trial-template/trial-configmap-source.yaml"
KATIB_TEMPLATES = REPO / "tests/journeys/katib_v0.19.0/trial-templates.yaml"
# Stands in for /opt/pytorch-mnist/mnist.py: Katib's StdOut lines, the loss from --lr.
MNIST = """
import sys
lr = float(next(a for a in sys.argv if a.startswith("--lr=")).split("=", 1)[1])
for epoch in (1, 2):
    print(f"epoch {epoch}: loss={abs(lr - 0.02) + 1 / epoch}", flush=True)
"""


def imported(tmp: Path) -> Json:
    out = tmp / "session.yaml"
    tuneop = str(Path(sys.executable).with_name("tuneop"))
    subprocess.run([tuneop, "import", "katib", str(EXAMPLE), "-o", str(out)], check=True)
    doc: Json = yaml.safe_load(out.read_text())
    doc["metadata"].pop("namespace", None)
    doc["spec"]["totalTrials"] = 3
    doc["spec"]["jobCleanup"] = "Keep"  # the pods stay, to be looked at
    trial = doc["spec"]["template"]["spec"]["containers"][0]
    command = list(trial["command"])
    assert command[:2] == ["python3", "/opt/pytorch-mnist/mnist.py"], command
    trial["command"] = [sys.executable, "-c", MNIST, *command[2:]]
    return doc


served = served_module(*NAMESPACES)


def test_an_imported_katib_examples_pods_start_and_its_trials_succeed(
    served: Served, tmp_path: Path
) -> None:
    ns = served.ns("katib")
    doc = imported(tmp_path)
    apply(served.cluster, ns, doc)

    status = served.wait_phase(ns, "random", "Succeeded", "Failed", timeout=180)["status"]

    why = served.explain(ns, "random")
    assert status["phase"] == "Succeeded", why
    assert status["trials"]["succeeded"] == 3, why
    # Katib's default for minimize is min: the best epoch's loss, not the last printed.
    assert status["best"]["value"] < 1.0, why
    pods = session_pods(served.cluster, ns, "random")
    assert pods, why
    for pod in pods:
        assert "securityContext" not in pod["spec"]["containers"][0], why
        waiting = [
            (s.get("state") or {}).get("waiting") or {}
            for s in pod["status"].get("containerStatuses") or []
        ]
        assert all(w.get("reason") != "CreateContainerConfigError" for w in waiting), why


def test_katibs_configmap_example_read_from_the_cluster_is_refused_naming_momentum(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Katib's shipped ``trial-templates`` ConfigMap, applied with kubectl as Katib's
    manifests install it, read back by ``--from-cluster``: its template uses an undeclared
    ``${trialParameters.momentum}``, which Katib's own webhook refuses too."""
    cluster.create_namespace("kubeflow", exist_ok=True)
    cluster.kubectl("apply", "-f", str(KATIB_TEMPLATES))
    tuneop = str(Path(sys.executable).with_name("tuneop"))
    seen = subprocess.run(
        [tuneop, "import", "katib", str(CONFIGMAP_EXAMPLE), "--from-cluster"],
        cwd=tmp_path,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert seen.returncode == 2, seen
    assert "Traceback" not in seen.stderr and seen.stdout == "", seen
    (line,) = [x for x in seen.stderr.splitlines() if x.startswith("error:")]
    assert "${trialParameters.momentum}" in line, line
