"""JobSet, Kubeflow Trainer's TrainJob and the training operator's PyTorchJob, run by their
real controllers on the e2e cluster.

JobSet (``sigs.k8s.io/jobset``), Trainer (``github.com/kubeflow/trainer/v2``) and training
operator (``github.com/kubeflow/training-operator``) managers of ``minicluster.controllers``'s
versions, built from the Go module proxy by ``testing/minicluster/build-controllers.sh``,
run against the e2e API server (JobSet's and the PyTorchJob webhooks served over TLS and
registered; Trainer's webhook not registered: see ``minicluster/controllers.py``). Each
object here is a master and 2 workers whose pods rendezvous over loopback
(``trial_support.RENDEZVOUS``: no cluster DNS here) and run to completion; the metrics are
in the master's (the primary pod's) log. Without a build its tests are skipped, naming the
script (``TUNEOP_E2E_REQUIRE_CONTROLLERS=1``, and ``TUNEOP_E2E_REQUIRE_TRAINING_OPERATOR=1``
for the PyTorchJob: failed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minicluster.controllers import (
    JOBSET_API,
    TRAINER_API,
    TRAINING_OPERATOR_API,
    JobSet,
    Trainer,
    TrainingOperator,
)
from minicluster.controlplane import free_port
from minicluster.harness import Cluster
from minicluster.kube import ApiException
from tests.e2e.trial_support import (
    container,
    jobset_spec,
    log_of,
    node_command,
    pods,
    pytorchjob_spec,
    rendezvous_dir,
)

RUNTIME = "tuneop-e2e-plain"


@pytest.fixture
def folder() -> Iterator[Path]:
    with rendezvous_dir() as path:
        yield path


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    conds = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conds if c.get("type") == kind), None)


def finished(cluster: Cluster, path: str, done: str, failed: str) -> dict[str, Any] | None:
    obj = cluster.kube.get(path)
    for kind in (done, failed):
        if (condition(obj, kind) or {}).get("status") == "True":
            return obj
    return None


def test_a_raw_jobset_of_a_master_and_two_workers_completes(
    cluster: Cluster, jobset_manager: JobSet, namespace: str
) -> None:
    body = {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "metadata": {"name": "trio"},
        "spec": jobset_spec(free_port(), x="3"),
    }
    created = cluster.kube.post(f"{JOBSET_API}/namespaces/{namespace}/jobsets", body)
    # JobSet's defaulting webhook ran (served by the manager, reached over TLS).
    replicated = created["spec"]["replicatedJobs"]
    assert {r["template"]["spec"].get("completionMode") for r in replicated} == {"Indexed"}
    assert created["spec"]["successPolicy"]["operator"] == "All", created["spec"]

    path = f"{JOBSET_API}/namespaces/{namespace}/jobsets/trio"
    obj = cluster.wait_for(
        "the JobSet to finish",
        lambda: finished(cluster, path, "Completed", "Failed"),
        timeout=180,
        describe=lambda: f"{cluster.kube.get(path).get('status')}\n{jobset_manager.tail()}",
    )
    assert (condition(obj, "Completed") or {}).get("status") == "True", obj["status"]
    everyone = pods(cluster, namespace, "jobset.sigs.k8s.io/jobset-name=trio")
    assert sorted(p["status"]["phase"] for p in everyone) == ["Succeeded"] * 3
    [master] = pods(cluster, namespace, "jobset.sigs.k8s.io/replicatedjob-name=master")
    log = log_of(cluster, namespace, master["metadata"]["name"], "master")
    assert "rendezvous: 2 workers" in log and "loss=1.5" in log, log


def test_a_raw_trainjob_of_three_nodes_completes_on_its_jobset(
    cluster: Cluster, trainer_manager: Trainer, namespace: str
) -> None:
    port = free_port()
    # Trainer's own layout: one replicated Job `node` of numNodes pods; index 0 the master.
    trainer_manager.runtime(RUNTIME, [container("node", ["false"], port)])
    body = {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": "trio"},
        "spec": {
            "runtimeRef": {"name": RUNTIME},
            "trainer": {"numNodes": 3, "command": node_command("node", 2, "1")},
        },
    }
    cluster.kube.post(f"{TRAINER_API}/namespaces/{namespace}/trainjobs", body)
    path = f"{TRAINER_API}/namespaces/{namespace}/trainjobs/trio"
    obj = cluster.wait_for(
        "the TrainJob to finish",
        lambda: finished(cluster, path, "Complete", "Failed"),
        timeout=240,
        describe=lambda: f"{cluster.kube.get(path).get('status')}\n{trainer_manager.tail()}",
    )
    assert (condition(obj, "Complete") or {}).get("status") == "True", obj["status"]
    # The TrainJob ran as a JobSet of its name, owned by it.
    jobset = cluster.kube.get(f"{JOBSET_API}/namespaces/{namespace}/jobsets/trio")
    assert jobset["metadata"]["ownerReferences"][0]["kind"] == "TrainJob"
    everyone = pods(cluster, namespace, "jobset.sigs.k8s.io/jobset-name=trio")
    assert sorted(p["status"]["phase"] for p in everyone) == ["Succeeded"] * 3
    [master] = [
        p
        for p in everyone
        if p["metadata"]["labels"].get("batch.kubernetes.io/job-completion-index") == "0"
    ]
    log = log_of(cluster, namespace, master["metadata"]["name"], "node")
    assert "rendezvous: 2 workers" in log and "loss=1.5" in log, log


def test_a_raw_pytorchjob_of_a_master_and_two_workers_succeeds(
    cluster: Cluster, training_operator: TrainingOperator, namespace: str, folder: Path
) -> None:
    body = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "trio"},
        "spec": pytorchjob_spec(folder, x="3"),
    }
    cluster.kube.post(f"{TRAINING_OPERATOR_API}/namespaces/{namespace}/pytorchjobs", body)
    path = f"{TRAINING_OPERATOR_API}/namespaces/{namespace}/pytorchjobs/trio"
    obj = cluster.wait_for(
        "the PyTorchJob to finish",
        lambda: finished(cluster, path, "Succeeded", "Failed"),
        timeout=240,
        describe=lambda: f"{cluster.kube.get(path).get('status')}\n{training_operator.tail()}",
    )
    assert (condition(obj, "Succeeded") or {}).get("status") == "True", obj["status"]
    everyone = pods(cluster, namespace, "training.kubeflow.org/job-name=trio")
    assert sorted(p["status"]["phase"] for p in everyone) == ["Succeeded"] * 3
    [master] = pods(cluster, namespace, "training.kubeflow.org/job-role=master")
    # The operator's own wiring: torch's environment, and the workers' init container (the
    # harness's template: no DNS to wait for) ahead of the master.
    env = {e["name"]: e.get("value") for e in master["spec"]["containers"][0]["env"]}
    assert env["MASTER_ADDR"] == "trio-master-0" and env["WORLD_SIZE"] == "3", env
    workers = pods(cluster, namespace, "training.kubeflow.org/replica-type=worker")
    assert [p["spec"]["initContainers"][0]["name"] for p in workers] == ["init-pytorch"] * 2
    log = log_of(cluster, namespace, master["metadata"]["name"], "pytorch")
    # The workers found the master through MASTER_ADDR (each sent its pod's name).
    assert "rendezvous: 2 workers ['trio-worker-0', 'trio-worker-1']" in log, log
    assert "loss=1.5" in log, log


def test_a_pytorchjob_without_its_pytorch_container_is_refused_by_the_served_webhook(
    cluster: Cluster, training_operator: TrainingOperator, namespace: str, folder: Path
) -> None:
    spec = pytorchjob_spec(folder)
    spec["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["name"] = "main"
    body = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "bad"}}
    with pytest.raises(ApiException) as refused:
        api = f"{TRAINING_OPERATOR_API}/namespaces/{namespace}/pytorchjobs"
        cluster.kube.post(api, {**body, "spec": spec})
    assert "must have at least one container with name pytorch" in str(refused.value)
