"""Smoke tests of the e2e harness: the real control plane and the node simulator together.

Each test asserts behaviour that tuneop's end-to-end tests rely on: Jobs run to completion or
failure the way the Job controller decides, logs reach ``kubectl`` through the apiserver,
deadlines and deletions end the local processes, the garbage collector follows owner
references, pods act with their ServiceAccount's RBAC, and custom resources work.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from minicluster.harness import Cluster
from minicluster.kube import Json

BATCH = "/apis/batch/v1"


def job_manifest(name: str, command: list[str], **spec: Any) -> Json:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            **spec,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "unused", "command": command}],
                }
            },
        },
    }


def create_job(
    cluster: Cluster, namespace: str, name: str, command: list[str], **spec: Any
) -> Json:
    return cluster.kube.post(
        f"{BATCH}/namespaces/{namespace}/jobs", job_manifest(name, command, **spec)
    )


def job_condition(job: Json, kind: str) -> Json | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition["type"] == kind and condition["status"] == "True":
            return dict(condition)
    return None


def wait_for_job(
    cluster: Cluster, namespace: str, name: str, kind: str, timeout: float = 60.0
) -> Json:
    """Wait for the Job's ``Complete`` or ``Failed`` condition; return the Job."""
    path = f"{BATCH}/namespaces/{namespace}/jobs/{name}"

    def finished() -> Json | None:
        job = cluster.kube.get(path)
        other = "Failed" if kind == "Complete" else "Complete"
        if job_condition(job, other):
            raise AssertionError(f"job {name} ended {other}: {job.get('status')}")
        return job if job_condition(job, kind) else None

    return cluster.wait_for(
        f"job {namespace}/{name} to be {kind}",
        finished,
        timeout=timeout,
        describe=lambda: cluster.kube.get(path).get("status"),
    )


def job_pods(cluster: Cluster, namespace: str, name: str) -> list[Json]:
    listing = cluster.kube.get(
        f"/api/v1/namespaces/{namespace}/pods", labelSelector=f"job-name={name}"
    )
    return list(listing["items"])


def running_pids(cluster: Cluster, namespace: str, job: str, count: int) -> list[int]:
    """Wait until ``count`` pods of the Job run; return their processes' pids."""

    def pids() -> list[int] | None:
        found = []
        for pod in job_pods(cluster, namespace, job):
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                if "running" in status["state"]:
                    found.append(int(status["containerID"].removeprefix("nodesim://")))
        return found if len(found) == count else None

    return cluster.wait_for(f"{count} running pod(s) of job {namespace}/{job}", pids)


def process_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def pod_phase(cluster: Cluster, namespace: str, name: str, *phases: str) -> Json | None:
    pod = cluster.kube.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
    return pod if (pod.get("status") or {}).get("phase") in phases else None


def test_job_completes_and_its_log_reaches_kubectl(cluster: Cluster, namespace: str) -> None:
    create_job(
        cluster, namespace, "hello", ["python", "-c", "print('hello'); import sys; sys.exit(0)"]
    )

    job = wait_for_job(cluster, namespace, "hello", "Complete")

    assert job["status"]["succeeded"] == 1
    logs = cluster.kubectl("logs", "-n", namespace, "job/hello")
    assert logs.stdout.strip() == "hello"


def test_failing_job_exhausts_its_backoff_limit(cluster: Cluster, namespace: str) -> None:
    create_job(
        cluster, namespace, "fails", ["python", "-c", "import sys; sys.exit(3)"], backoffLimit=1
    )

    job = wait_for_job(cluster, namespace, "fails", "Failed", timeout=90)

    assert (job_condition(job, "Failed") or {}).get("reason") == "BackoffLimitExceeded"
    pods = job_pods(cluster, namespace, "fails")
    assert len(pods) == 2
    for pod in pods:
        assert pod["status"]["phase"] == "Failed"
        terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        assert terminated["exitCode"] == 3
        assert terminated["reason"] == "Error"


def test_job_deadline_ends_the_job_and_its_process(cluster: Cluster, namespace: str) -> None:
    create_job(cluster, namespace, "slow", ["sleep", "30"], activeDeadlineSeconds=2)
    [pid] = running_pids(cluster, namespace, "slow", 1)

    job = wait_for_job(cluster, namespace, "slow", "Failed", timeout=30)

    assert (job_condition(job, "Failed") or {}).get("reason") == "DeadlineExceeded"
    cluster.wait_for(f"process {pid} of job slow to end", lambda: process_gone(pid), timeout=15)


def test_background_deletion_collects_the_pods(cluster: Cluster, namespace: str) -> None:
    job = create_job(cluster, namespace, "pair", ["sleep", "30"], parallelism=2, completions=2)
    pids = running_pids(cluster, namespace, "pair", 2)
    for pod in job_pods(cluster, namespace, "pair"):
        [owner] = pod["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == (
            "Job",
            job["metadata"]["uid"],
            True,
        )

    cluster.kube.delete(
        f"{BATCH}/namespaces/{namespace}/jobs/pair",
        {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
    )

    cluster.wait_for(
        "the garbage collector to delete the pods of job pair",
        lambda: not job_pods(cluster, namespace, "pair"),
        timeout=45,
        describe=lambda: [p["metadata"]["name"] for p in job_pods(cluster, namespace, "pair")],
    )
    for pid in pids:
        assert process_gone(pid), f"process {pid} of a deleted pod still runs"


def test_pod_deadline_and_environment(cluster: Cluster, namespace: str) -> None:
    api = f"/api/v1/namespaces/{namespace}"
    cluster.kube.post(
        f"{api}/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds"},
            "stringData": {"token": "s3cret"},
        },
    )
    cluster.kube.post(
        f"{api}/configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings"},
            "data": {"mode": "fast", "level": "3"},
        },
    )
    script = (
        "import json, os, time; print(json.dumps(dict(os.environ)), flush=True); time.sleep(30)"
    )
    cluster.kube.post(
        f"{api}/pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "envy", "labels": {"app": "envy"}},
            "spec": {
                "restartPolicy": "Never",
                "activeDeadlineSeconds": 2,
                "containers": [
                    {
                        "name": "main",
                        "image": "unused",
                        "command": ["python", "-c", script],
                        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CM_"}],
                        "env": [
                            {"name": "GREETING", "value": "hi"},
                            {"name": "MESSAGE", "value": "$(GREETING) from $(POD_NAME)"},
                            {
                                "name": "POD_NAME",
                                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                            },
                            {
                                "name": "POD_NAMESPACE",
                                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                            },
                            {
                                "name": "APP",
                                "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}},
                            },
                            {
                                "name": "TOKEN",
                                "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}},
                            },
                            {
                                "name": "MODE",
                                "valueFrom": {
                                    "configMapKeyRef": {"name": "settings", "key": "mode"}
                                },
                            },
                            {
                                "name": "ABSENT",
                                "valueFrom": {
                                    "secretKeyRef": {"name": "nope", "key": "x", "optional": True}
                                },
                            },
                        ],
                    }
                ],
            },
        },
    )

    pod = cluster.wait_for(
        "pod envy to fail",
        lambda: pod_phase(cluster, namespace, "envy", "Failed", "Succeeded"),
        timeout=20,
    )

    assert (pod["status"]["phase"], pod["status"]["reason"]) == ("Failed", "DeadlineExceeded")
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 137
    pid = int(terminated["containerID"].removeprefix("nodesim://"))
    assert process_gone(pid)
    env = json.loads(cluster.kubectl("logs", "-n", namespace, "envy").stdout)
    expected = {
        "GREETING": "hi",
        "MESSAGE": "hi from $(POD_NAME)",
        "POD_NAME": "envy",
        "POD_NAMESPACE": namespace,
        "APP": "envy",
        "TOKEN": "s3cret",
        "MODE": "fast",
        "CM_mode": "fast",
        "CM_level": "3",
        "HOSTNAME": "envy",
    }
    assert {k: env.get(k) for k in expected} == expected
    assert "ABSENT" not in env
    assert Path(env["KUBECONFIG"]).is_file()
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)


def kubectl_pod(name: str, account: str) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "serviceAccountName": account,
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "main",
                    "image": "unused",
                    "command": ["kubectl", "get", "pods", "-o", "name"],
                }
            ],
        },
    }


def test_pods_act_with_their_service_account(cluster: Cluster, namespace: str) -> None:
    pods = f"/api/v1/namespaces/{namespace}/pods"
    cluster.kube.post(
        f"/api/v1/namespaces/{namespace}/serviceaccounts",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bot"}},
    )
    cluster.wait_for_service_account(namespace, "bot")

    cluster.kube.post(pods, kubectl_pod("denied", "bot"))
    cluster.wait_for(
        "pod denied to fail", lambda: pod_phase(cluster, namespace, "denied", "Failed", "Succeeded")
    )
    denied = cluster.kubectl("logs", "-n", namespace, "denied").stdout
    assert "Forbidden" in denied
    assert f"system:serviceaccount:{namespace}:bot" in denied

    rbac = "/apis/rbac.authorization.k8s.io/v1"
    cluster.kube.post(
        f"{rbac}/namespaces/{namespace}/roles",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
        },
    )
    cluster.kube.post(
        f"{rbac}/namespaces/{namespace}/rolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "bot-reads-pods"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "pod-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": namespace}],
        },
    )
    cluster.kube.post(pods, kubectl_pod("allowed", "bot"))

    pod = cluster.wait_for(
        "pod allowed to finish",
        lambda: pod_phase(cluster, namespace, "allowed", "Failed", "Succeeded"),
    )
    allowed = cluster.kubectl("logs", "-n", namespace, "allowed").stdout
    assert pod["status"]["phase"] == "Succeeded", allowed
    assert "pod/allowed" in allowed.split()


CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.e2e.tuneop.test
spec:
  group: e2e.tuneop.test
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer}
            status:
              type: object
              properties:
                phase: {type: string}
"""


def test_custom_resource_with_status_subresource(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("apply", "-f", "-", input=CRD)
    crd_path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.e2e.tuneop.test"
    cluster.wait_for(
        "CRD widgets to be Established",
        lambda: job_condition(cluster.kube.get(crd_path), "Established"),
    )
    widgets = f"/apis/e2e.tuneop.test/v1/namespaces/{namespace}/widgets"

    created = cluster.wait_for(
        "the widgets API to be served",
        lambda: cluster.kube.post(
            widgets,
            {
                "apiVersion": "e2e.tuneop.test/v1",
                "kind": "Widget",
                "metadata": {"name": "w1"},
                "spec": {"size": 3},
            },
        ),
    )
    ignored = cluster.kube.patch(f"{widgets}/w1", {"status": {"phase": "Ignored"}})
    cluster.kube.patch(f"{widgets}/w1/status", {"status": {"phase": "Ready"}})

    widget = cluster.kube.get(f"{widgets}/w1")
    assert created["spec"] == {"size": 3}
    assert "status" not in ignored, "the main resource must not write status"
    assert widget["status"] == {"phase": "Ready"}
    assert widget["metadata"]["generation"] == 1
    assert cluster.controlplane.alive() == ["etcd", "kube-apiserver", "kube-controller-manager"]
