"""Queueing with Kueue on the e2e cluster: Kueue's own controller manager admits the Jobs.

Kueue (``sigs.k8s.io/kueue`` of ``minicluster.kueue.KUEUE_VERSION``, built from the Go
module proxy by ``testing/minicluster/build-kueue.sh``) runs against the e2e API server
with its Job integration and without webhooks registered (see ``minicluster/kueue.py``).
A session with ``queueName`` and ``maxParallel: 5`` behind a ClusterQueue whose CPU quota
admits two workers at a time never has more than two admitted Jobs and completes; a
session whose LocalQueue does not exist waits, its Jobs suspended past their own
deadline without failing, says so with ``Admitted=False``, and runs once the queue exists.
Without the Kueue build the module is skipped (``TUNEOP_E2E_REQUIRE=1``: failed;
``TUNEOP_E2E_BUILD=1``: built first).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from builders import RUNNER_IMAGE
from minicluster.harness import Cluster
from minicluster.kube import Json
from minicluster.kueue import BUILD_SCRIPT, KUEUE_API, KUEUE_VERSION, Kueue, missing
from minicluster.watch import JobWatch, job_done
from tests.e2e.operator_support import (
    LABEL_SESSION,
    Served,
    apply,
    condition,
    parse_table,
    serve_namespaces,
    session_jobs,
    session_manifest,
    session_pods,
    status_of,
)

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"


@pytest.fixture(scope="module")
def kueue(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kueue]:
    why = missing()
    if why is not None and os.environ.get("TUNEOP_E2E_BUILD") == "1":
        subprocess.run(["bash", str(BUILD_SCRIPT)], check=True)
        why = missing()
    if why is not None:
        message = f"Kueue {KUEUE_VERSION} not built (missing {why}): run {BUILD_SCRIPT.name}"
        if os.environ.get("TUNEOP_E2E_REQUIRE") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with Kueue(cluster, tmp_path_factory.mktemp("kueue")) as running:
        yield running


@pytest.fixture(scope="module")
def served(
    cluster: Cluster, crd: Json, kueue: Kueue, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("operator-kueue")
    with serve_namespaces(cluster, workdir, ["kueue-quota", "kueue-missing", "kueue-katib"]) as s:
        yield s


class AdmissionWatch(JobWatch):
    """Also the most Jobs admitted at once (unsuspended, unfinished) and how each began."""

    def __init__(self, cluster: Cluster, namespace: str, name: str) -> None:
        super().__init__(cluster.kubeconfig, namespace, f"{LABEL_SESSION}={name}")
        self.peak_admitted = 0
        self.created_suspended: dict[str, bool] = {}
        self._admitted: dict[str, bool] = {}

    def observe(self, kind: str, obj: Json) -> None:
        super().observe(kind, obj)
        uid = str(obj["metadata"]["uid"])
        self.created_suspended.setdefault(
            str(obj["metadata"]["name"]), (obj.get("spec") or {}).get("suspend") is True
        )
        if kind == "DELETED":
            self._admitted.pop(uid, None)
        else:
            suspended = (obj.get("spec") or {}).get("suspend") is True
            self._admitted[uid] = not suspended and job_done(obj) is None
        self.peak_admitted = max(self.peak_admitted, sum(self._admitted.values()))


def sleepy_session(name: str, trials: int, seconds: float, **spec: Any) -> Json:
    """One-trial Jobs that sleep, each pod asking for one CPU (what the quota counts)."""
    return session_manifest(
        name,
        objective={"metric": "value", "direction": "minimize"},
        trials=[{"seconds": seconds}] * trials,
        runner={
            "image": RUNNER_IMAGE,
            "objective": "tuneop_runner.objectives.testing:sleep",
            "resources": {"requests": {"cpu": "1"}},
        },
        **spec,
    )


def workloads(cluster: Cluster, namespace: str) -> list[Json]:
    return list(cluster.kube.get(f"{KUEUE_API}/namespaces/{namespace}/workloads")["items"])


def test_kueue_admits_two_of_five_jobs_at_a_time_and_the_session_completes(
    cluster: Cluster, served: Served, kueue: Kueue
) -> None:
    ns = served.ns("kueue-quota")
    kueue.queue(ns, "team", cpu="2")  # two one-CPU workers at a time
    with AdmissionWatch(cluster, ns, "queued") as watch:
        apply(cluster, ns, sleepy_session("queued", 8, 5, maxParallel=5, queueName="team"))

        def two_running_three_queued() -> dict[str, str] | None:
            rows = parse_table(cluster.kubectl("get", "ts", "-n", ns).stdout)
            row = rows[0] if rows else {}
            return row if (row.get("RUNNING"), row.get("QUEUED")) == ("2", "3") else None

        row = served.wait_for(
            "kubectl get ts: 2 running, 3 queued",
            two_running_three_queued,
            timeout=120,
            describe=lambda: (status_of(cluster, ns, "queued"), kueue.tail(10)),
        )
        # Kueue holds a Workload per Job, and has admitted two of them.
        admitted = [w for w in workloads(cluster, ns) if (w.get("status") or {}).get("admission")]
        assert len(admitted) <= 2, [w["metadata"]["name"] for w in admitted]
        done = served.wait_phase(ns, "queued", "Succeeded", "Failed", timeout=300)
    status = done["status"]
    assert status["phase"] == "Succeeded", served.explain(ns, "queued")
    assert status["trials"]["succeeded"] == 8
    assert (status["jobs"]["queued"], status["trials"]["queued"]) == (0, 0)
    assert watch.peak_admitted == 2, (watch.peak_admitted, row)
    assert watch.peak_unfinished == 5  # maxParallel Jobs in flight, queued ones included
    assert len(watch.created_suspended) == 8 and all(watch.created_suspended.values())
    assert not watch.duplicates()


def test_jobs_nobody_admits_wait_suspended_past_their_deadline_and_the_session_says_so(
    cluster: Cluster, served: Served, kueue: Kueue
) -> None:
    ns = served.ns("kueue-missing")
    manifest = sleepy_session(
        "unqueued",
        1,
        0,
        queueName="later",
        admissionWarningSeconds=5,
        trialTimeoutSeconds=5,  # the Job's activeDeadlineSeconds: 5 + 30 s
    )
    apply(cluster, ns, manifest)

    def not_admitted() -> Json | None:
        cond = condition(status_of(cluster, ns, "unqueued"), "Admitted")
        return cond if cond and cond["reason"] == "NotAdmitted" else None

    cond = served.wait_for("Admitted=False (NotAdmitted)", not_admitted, timeout=90)
    assert cond["status"] == "False" and "LocalQueue later" in cond["message"]

    def warned() -> bool:
        events = cluster.kube.get(f"/api/v1/namespaces/{ns}/events")["items"]
        return any(e.get("reason") == "NotAdmitted" for e in events)

    # Events are posted after the status write that set the condition.
    served.wait_for("a NotAdmitted event", warned, timeout=60)
    (job,) = session_jobs(cluster, ns, "unqueued")
    assert job["metadata"]["labels"][QUEUE_LABEL] == "later"
    deadline = job["spec"]["activeDeadlineSeconds"]
    time.sleep(max(deadline + 5 - (time.time() - _created(job)), 0))
    (job,) = session_jobs(cluster, ns, "unqueued")
    # Suspended past its activeDeadlineSeconds: not started, not failed, no pod.
    assert job["spec"]["suspend"] is True and job_done(job) is None, job.get("status")
    assert "startTime" not in (job.get("status") or {})
    assert session_pods(cluster, ns, "unqueued") == []
    status = status_of(cluster, ns, "unqueued")
    assert (status["phase"], status["trials"]["running"], status["jobs"]["queued"]) == (
        "Running",
        0,
        1,
    )
    kueue.queue(ns, "later", cpu="1")
    done = served.wait_phase(ns, "unqueued", "Succeeded", "Failed", timeout=120)
    assert done["status"]["phase"] == "Succeeded", served.explain(ns, "unqueued")
    assert (condition(done["status"], "Admitted") or {}).get("reason") == "Admitted"


def _created(job: Json) -> float:
    return datetime.fromisoformat(job["metadata"]["creationTimestamp"]).timestamp()


# A Katib Experiment whose trial Job template sits in a ConfigMap on the cluster and
# carries Kueue's queue label, as a Katib user queues trials.
KATIB_EXPERIMENT = """\
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: {{name: queued-katib, namespace: {ns}}}
spec:
  objective: {{type: minimize, objectiveMetricName: loss}}
  algorithm: {{algorithmName: grid}}
  parallelTrialCount: 2
  maxTrialCount: 3
  parameters:
    - {{name: x, parameterType: int, feasibleSpace: {{min: "0", max: "2"}}}}
  trialTemplate:
    primaryContainerName: training-container
    trialParameters:
      - {{name: xValue, reference: x}}
    configMap:
      configMapName: queued-templates
      configMapNamespace: {ns}
      templatePath: train.yaml
"""
KATIB_TEMPLATE = f"""\
apiVersion: batch/v1
kind: Job
metadata:
  labels: {{{QUEUE_LABEL}: katib-team}}
spec:
  template:
    spec:
      containers:
        - name: training-container
          image: registry.example.com/train:1
          command:
            - {sys.executable}
            - -c
            - 'print("loss=%d" % (int("${{trialParameters.xValue}}") - 1) ** 2)'
      restartPolicy: Never
"""


def test_an_imported_katib_experiment_reads_its_template_from_the_cluster_and_is_queued(
    cluster: Cluster, served: Served, kueue: Kueue, tmp_path: Path
) -> None:
    ns = served.ns("kueue-katib")
    kueue.queue(ns, "katib-team", cpu="2")
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "queued-templates", "namespace": ns},
        "data": {"train.yaml": KATIB_TEMPLATE},
    }
    cluster.kube.post(f"/api/v1/namespaces/{ns}/configmaps", configmap)
    (tmp_path / "exp.yaml").write_text(KATIB_EXPERIMENT.format(ns=ns))
    tuneop = str(Path(sys.executable).with_name("tuneop"))
    imported = subprocess.run(
        [tuneop, "import", "katib", "exp.yaml", "--from-cluster", "-o", "session.yaml"],
        cwd=tmp_path,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.returncode == 0, imported.stderr
    session = yaml.safe_load((tmp_path / "session.yaml").read_text())
    assert session["spec"]["queueName"] == "katib-team", session["spec"]
    session["metadata"].pop("namespace", None)

    with AdmissionWatch(cluster, ns, "queued-katib") as watch:
        apply(cluster, ns, session)
        done = served.wait_phase(ns, "queued-katib", "Succeeded", "Failed", timeout=180)

    status = done["status"]
    assert status["phase"] == "Succeeded", served.explain(ns, "queued-katib")
    assert status["trials"]["succeeded"] == 3 and status["best"]["value"] == 0
    # every Job was created suspended, for Kueue, and ran only once Kueue admitted it
    assert len(watch.created_suspended) == 3 and all(watch.created_suspended.values())
    assert watch.peak_admitted >= 1 and not watch.duplicates()
    assert (condition(status, "Admitted") or {}).get("reason") == "Admitted"
