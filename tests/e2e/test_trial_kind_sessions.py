"""Sessions of JobSet, TrainJob, PyTorchJob, Workflow and PipelineRun trials (#29), on real
controllers.

Written against the agreed interface of ``spec.trialResource`` (a full manifest with
``${params.NAME}`` placeholders, ``primaryPodLabels``, ``primaryContainer``; conditions left
to the well-known kinds' defaults). The operator creates, polls, harvests
and deletes them as it does worker Jobs (``tuneop.adapters.kube.resource_trials``). The
operator runs as in the other operator tests (``serve_namespaces``); JobSet, Trainer and
the training operator are their real managers (``trial_support``), Workflow and
PipelineRun the test status player (``minicluster.statusplayer``). Each
JobSet/TrainJob/PyTorchJob trial is a master and 2 workers that rendezvous over loopback
(a PyTorchJob's at the socket its MASTER_ADDR names); the metrics are in the master's log
(the primary pod), and the best trial is x=2 (loss 0.5).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from minicluster import statusplayer
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
from minicluster.kube import Json
from minicluster.kueue import Kueue
from minicluster.statusplayer import StatusPlayer
from tests.e2e.operator_support import (
    LABEL_SESSION,
    Served,
    apply,
    serve_namespaces,
    session_manifest,
)
from tests.e2e.test_trial_pipelines_played import require_pipeline_crds
from tests.e2e.trial_support import (
    container,
    jobset_spec,
    kueue_or_skip,
    node_command,
    pytorchjob_spec,
    rendezvous_dir,
)

NAMESPACES = ("jobsets", "trainjobs", "pytorchjobs", "pipelines", "queued")
RUNTIME = "tuneop-e2e-sessions"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
MASTER = {"jobset.sigs.k8s.io/replicatedjob-name": "master"}
NODE_0 = {
    "jobset.sigs.k8s.io/replicatedjob-name": "node",
    "batch.kubernetes.io/job-completion-index": "0",
}


@pytest.fixture(scope="module")
def kueue(
    cluster: Cluster, jobset_manager: JobSet, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Kueue]:
    state = tmp_path_factory.mktemp("kueue-jobset")
    with kueue_or_skip(cluster, state, ("batch/job", "jobset.x-k8s.io/jobset")) as running:
        yield running


@pytest.fixture(scope="module")
def served(
    cluster: Cluster,
    crd: Json,
    trainer_manager: Trainer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    require_pipeline_crds()
    statusplayer.install_pipeline_crds(cluster)
    with serve_namespaces(cluster, tmp_path_factory.mktemp("operator"), NAMESPACES) as s:
        yield s


class Peak:
    """The most unfinished (and admitted: not suspended) objects of a session at once."""

    def __init__(self, cluster: Cluster, path: str, session: str) -> None:
        self.cluster, self.path, self.session = cluster, path, session
        self.peak = self.peak_admitted = 0
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(0.3):
            items = self.cluster.kube.get(
                self.path, labelSelector=f"{LABEL_SESSION}={self.session}"
            )
            live = [o for o in items["items"] if not _done(o)]
            self.seen |= {o["metadata"]["name"] for o in items["items"]}
            self.peak = max(self.peak, len(live))
            admitted = [o for o in live if not o["spec"].get("suspend")]
            self.peak_admitted = max(self.peak_admitted, len(admitted))


def _done(obj: Json) -> bool:
    conds = (obj.get("status") or {}).get("conditions") or []
    return any(
        c.get("type") in {"Completed", "Complete", "Succeeded", "Failed"}
        and c.get("status") == "True"
        for c in conds
    )


def trial_session(name: str, resource: Json, **spec: Any) -> Json:
    fields: dict[str, Any] = {
        "objective": {"metric": "loss", "direction": "minimize"},
        "trials": [{"x": 1}, {"x": 2}, {"x": 3}, {"x": 4}],
        "metricsCollector": {"kind": "StdOut"},
        "trialTimeoutSeconds": 180,
        "maxParallel": 2,
        "trialResource": resource,
        **spec,
    }
    return session_manifest(name, **fields)


def jobset_resource(port: int, edit: Callable[[Json], None] = lambda spec: None) -> Json:
    spec = jobset_spec(port, x="${params.x}")
    edit(spec)
    return {
        "manifest": {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "spec": spec},
        "primaryPodLabels": MASTER,
        "primaryContainer": "master",
    }


def assert_best_is_two(served: Served, ns: str, name: str, trials: int = 4) -> Json:
    status = served.wait_phase(ns, name, "Succeeded", "Failed", timeout=600)["status"]
    why = served.explain(ns, name)
    assert status["phase"] == "Succeeded", why
    assert status["trials"]["succeeded"] == trials, why
    assert status["best"]["params"] == {"x": 2} and status["best"]["value"] == 0.5, why
    return dict(status)


def test_a_session_of_jobset_trials_runs_two_at_a_time_to_succeeded(served: Served) -> None:
    ns = served.ns("jobsets")
    path = f"{JOBSET_API}/namespaces/{ns}/jobsets"
    with Peak(served.cluster, path, "sets") as peak:
        apply(served.cluster, ns, trial_session("sets", jobset_resource(free_port())))
        assert_best_is_two(served, ns, "sets")
    assert peak.peak == 2, peak.peak
    # Deterministic names, the session's labels and owner, deleted after the harvest.
    assert len(peak.seen) == 4 and all(n.startswith("sets-") for n in peak.seen), peak.seen
    served.wait_for("the harvested JobSets to be deleted", lambda: not served.cluster.kube.get(
        path, labelSelector=f"{LABEL_SESSION}=sets")["items"])  # fmt: skip


def test_a_failed_jobset_trial_is_retried_by_recreating_it(served: Served, tmp_path: Path) -> None:
    ns = served.ns("jobsets")
    marker = tmp_path / f"failed-once-{uuid.uuid4().hex[:6]}"

    def fail_once(spec: Json) -> None:
        # The master of x=3 fails its first attempt (pods share this host's files).
        master = spec["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
        code = (
            "import os, pathlib, sys\n"
            f"m = pathlib.Path({str(marker)!r})\n"
            "if sys.argv[1] == '3' and not m.exists():\n"
            "    m.write_text('1'); sys.exit(1)\n"
        )
        command = master["containers"][0]["command"]
        master["containers"][0]["command"] = [
            "sh", "-c", 'python -c "$0" "$1" && shift && exec "$@"', code, "${params.x}", *command,
        ]  # fmt: skip

    resource = jobset_resource(free_port(), fail_once)
    apply(served.cluster, ns, trial_session("retried", resource, retries=1, maxParallel=1))
    status = assert_best_is_two(served, ns, "retried")
    assert status["trials"]["retried"] == 1, served.explain(ns, "retried")
    assert marker.exists()


def test_a_session_of_trainjob_trials_succeeds_with_the_master_log_harvested(
    served: Served, trainer_manager: Trainer
) -> None:
    ns = served.ns("trainjobs")
    port = free_port()
    trainer_manager.runtime(RUNTIME, [container("node", ["false"], port)])
    resource = {
        "manifest": {
            "apiVersion": "trainer.kubeflow.org/v1alpha1",
            "kind": "TrainJob",
            "spec": {
                "runtimeRef": {"name": RUNTIME},
                "trainer": {"numNodes": 3, "command": node_command("node", 2, "${params.x}")},
            },
        },
        "primaryPodLabels": NODE_0,
        "primaryContainer": "node",
    }
    path = f"{TRAINER_API}/namespaces/{ns}/trainjobs"
    with Peak(served.cluster, path, "train") as peak:
        apply(served.cluster, ns, trial_session("train", resource))
        assert_best_is_two(served, ns, "train")
    assert peak.peak == 2, peak.peak


def test_a_session_of_pytorchjob_trials_succeeds_with_the_master_log_harvested(
    served: Served, training_operator: TrainingOperator
) -> None:
    ns = served.ns("pytorchjobs")
    # examples/kinds-pytorchjob.yaml's shape: the kind's defaults pick the primary pod
    # (training.kubeflow.org/job-role: master) and container (pytorch), and its conditions.
    with rendezvous_dir() as folder:
        spec = pytorchjob_spec(folder, x="${params.x}")
        resource = {
            "manifest": {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": spec}
        }
        path = f"{TRAINING_OPERATOR_API}/namespaces/{ns}/pytorchjobs"
        with Peak(served.cluster, path, "torch") as peak:
            apply(served.cluster, ns, trial_session("torch", resource))
            assert_best_is_two(served, ns, "torch")
    assert peak.peak == 2, peak.peak
    assert len(peak.seen) == 4 and all(n.startswith("torch-") for n in peak.seen), peak.seen


def test_jobset_trials_are_admitted_by_kueue_through_the_queue_label(
    served: Served, kueue: Kueue
) -> None:
    ns = served.ns("queued")
    # Each JobSet asks 3 CPU (3 pods of 1); the quota admits one JobSet at a time.
    kueue.queue(ns, "trials", cpu="3")

    def requests(spec: Json) -> None:
        for job in spec["replicatedJobs"]:
            for c in job["template"]["spec"]["template"]["spec"]["containers"]:
                c["resources"] = {"requests": {"cpu": "1"}}

    path = f"{JOBSET_API}/namespaces/{ns}/jobsets"
    resource = jobset_resource(free_port(), requests)
    workloads = f"/apis/kueue.x-k8s.io/v1beta2/namespaces/{ns}/workloads"
    with Peak(served.cluster, path, "queued") as peak:
        apply(served.cluster, ns, trial_session("queued", resource, queueName="trials"))
        # Kueue's Workload of a JobSet goes with it (its owner) once the trial is harvested:
        # it is looked for while the session runs.
        served.wait_for(
            "Kueue's Workload of a JobSet trial",
            lambda: served.cluster.kube.get(workloads)["items"],
            timeout=120,
            describe=kueue.tail,
        )
        assert_best_is_two(served, ns, "queued")
    assert peak.peak == 2 and peak.peak_admitted == 1, (peak.peak, peak.peak_admitted)


@pytest.mark.parametrize("kind", ["Workflow", "PipelineRun"])
def test_a_session_of_played_pipeline_trials_succeeds(served: Served, kind: str) -> None:
    ns = served.ns("pipelines")
    code = "import sys; x = float(sys.argv[1]); print(f'loss={(x - 2) ** 2 + 0.5}')"
    command = ["python", "-c", code, "${params.x}"]
    train = {"name": "train", "container": {"image": "python:3.11", "command": command}}
    if kind == "Workflow":
        manifest: Json = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "spec": {"entrypoint": "train", "templates": [train]},
        }
        primary: Json = {"primaryContainer": "main"}
    else:
        step = {"name": "fit", "image": "python:3.11", "command": command}
        manifest = {
            "apiVersion": "tekton.dev/v1",
            "kind": "PipelineRun",
            "spec": {"pipelineSpec": {"tasks": [{"name": "train", "taskSpec": {"steps": [step]}}]}},
        }
        primary = {"primaryContainer": "step-fit"}
    name = kind.lower()
    with StatusPlayer(served.cluster, [ns]) as player:
        apply(served.cluster, ns, trial_session(name, {"manifest": manifest, **primary}))
        assert_best_is_two(served, ns, name)
    assert not player.errors, player.errors
