"""A test status player for Argo Workflows and Tekton PipelineRuns: NOT their controllers.

The e2e tier installs the real CRDs of Argo Workflows (``argoproj.io/v1alpha1`` Workflow, the
CRD of Argo's own install manifests) and Tekton Pipelines (``tekton.dev/v1`` PipelineRun,
``config/300-crds``), built into ``$TUNEOP_CACHE/pipelines`` by ``build-controllers.sh``.
Their controllers are not run (Argo's needs an executor image and Tekton's an entrypoint
binary injected into images; the node simulator has neither). Instead ``StatusPlayer``
plays the part of the controller that tuneop sees, for the simplest shape of each:

- a Workflow's ``entrypoint`` template with a ``container``: one pod ``<workflow>`` with the
  container ``main`` (Argo's name), labelled ``workflows.argoproj.io/workflow=<name>``;
  ``status.phase`` goes Running, then Succeeded or Failed with the pod (Argo's phases);
- a PipelineRun with an inline ``pipelineSpec`` whose first task has an inline ``taskSpec``:
  one pod ``<run>-<task>-pod`` with a container ``step-<step>`` per step, labelled
  ``tekton.dev/pipelineRun=<name>`` and ``tekton.dev/pipelineTask=<task>``; the ``Succeeded``
  condition goes Unknown/Running, then True/Succeeded or False/Failed (Tekton's condition).

Each pod is owned by its object, so deleting the object deletes the pod (the garbage
collector). Everything else of the two projects (DAGs, several tasks, artifacts, retries of
their own, parameters they resolve themselves) is out of scope: tuneop fills
``${params.NAME}`` before it creates the object.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from minicluster.controllers import ARGO_VERSION, TEKTON_VERSION, install_crds
from minicluster.controlplane import cache_root
from minicluster.harness import Cluster
from minicluster.kube import Json

__all__ = ["ARGO_API", "TEKTON_API", "StatusPlayer", "install_pipeline_crds", "missing"]

ARGO_API = "/apis/argoproj.io/v1alpha1"
TEKTON_API = "/apis/tekton.dev/v1"


def crd_dirs() -> list[Path]:
    root = cache_root() / "pipelines"
    return [root / f"argo-{ARGO_VERSION}" / "crds", root / f"tekton-{TEKTON_VERSION}" / "crds"]


def missing() -> str | None:
    """What is missing to install the Argo and Tekton CRDs here, or None."""
    absent = [str(d) for d in crd_dirs() if not (d / ".ready").exists()]
    return f"CRDs ({', '.join(absent)})" if absent else None


def _no_conversion_webhook(crd: Json) -> Json:
    # Tekton's CRD converts v1beta1 <-> v1 through its webhook, which does not run here;
    # the tests read and write v1 only (the storage version), so no conversion is needed.
    if (crd["spec"].get("conversion") or {}).get("strategy") == "Webhook":
        crd["spec"]["conversion"] = {"strategy": "None"}
    return crd


def install_pipeline_crds(cluster: Cluster) -> list[str]:
    """Argo's Workflow and Tekton's PipelineRun CRDs, Established."""
    paths = [p for d in crd_dirs() for p in sorted(d.glob("*.yaml"))]
    return install_crds(cluster, paths, edit=_no_conversion_webhook)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _owner(obj: Json) -> Json:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _pod(obj: Json, name: str, labels: dict[str, str], containers: list[Json]) -> Json:
    spec = obj.get("spec") or {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": obj["metadata"]["namespace"],
            "labels": {**(obj["metadata"].get("labels") or {}), **labels},
            "ownerReferences": [_owner(obj)],
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": containers,
            **(
                {"serviceAccountName": spec["serviceAccountName"]}
                if spec.get("serviceAccountName")
                else {}
            ),
        },
    }


class StatusPlayer:
    """Plays Workflow and PipelineRun status in ``namespaces`` from a thread, until stopped."""

    def __init__(self, cluster: Cluster, namespaces: list[str], period: float = 0.5) -> None:
        self.cluster = cluster
        self.namespaces = list(namespaces)
        self.period = period
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="status-player", daemon=True)

    def __enter__(self) -> StatusPlayer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            for ns in self.namespaces:
                try:
                    self._tick(ns)
                except Exception as error:
                    self.errors.append(f"{type(error).__name__}: {error}")

    def _tick(self, ns: str) -> None:
        kube = self.cluster.kube
        for wf in kube.get(f"{ARGO_API}/namespaces/{ns}/workflows")["items"]:
            self._workflow(wf)
        for run in kube.get(f"{TEKTON_API}/namespaces/{ns}/pipelineruns")["items"]:
            self._pipeline_run(run)

    # -- Argo ---------------------------------------------------------------------------

    def _workflow(self, wf: Json) -> None:
        status = wf.get("status") or {}
        if status.get("phase") in {"Succeeded", "Failed", "Error"}:
            return
        name, ns = wf["metadata"]["name"], wf["metadata"]["namespace"]
        if not status.get("phase"):
            spec = wf["spec"]
            [template] = [t for t in spec["templates"] if t["name"] == spec["entrypoint"]]
            main = {**template["container"], "name": "main"}
            labels = {"workflows.argoproj.io/workflow": name}
            self._create_pod(_pod(wf, name, labels, [main]))
            self._set_workflow(wf, {"phase": "Running", "startedAt": _now()})
            return
        phase = self._pod_phase(ns, name)
        if phase in {"Succeeded", "Failed"}:
            self._set_workflow(wf, {**status, "phase": phase, "finishedAt": _now()})

    def _set_workflow(self, wf: Json, status: Json) -> None:
        # Argo's Workflow CRD has no status subresource: status is part of the object.
        path = f"{ARGO_API}/namespaces/{wf['metadata']['namespace']}/workflows"
        self.cluster.kube.patch(f"{path}/{wf['metadata']['name']}", {"status": status})

    # -- Tekton -------------------------------------------------------------------------

    def _pipeline_run(self, run: Json) -> None:
        conds = (run.get("status") or {}).get("conditions") or []
        succeeded = next((c for c in conds if c.get("type") == "Succeeded"), None)
        if succeeded is not None and succeeded.get("status") in {"True", "False"}:
            return
        name, ns = run["metadata"]["name"], run["metadata"]["namespace"]
        task = run["spec"]["pipelineSpec"]["tasks"][0]
        pod_name = f"{name}-{task['name']}-pod"
        if succeeded is None:
            steps = task["taskSpec"]["steps"]
            containers = [
                {k: v for k, v in {**s, "name": f"step-{s['name']}"}.items() if k != "script"}
                for s in steps
            ]
            labels = {"tekton.dev/pipelineRun": name, "tekton.dev/pipelineTask": task["name"]}
            self._create_pod(_pod(run, pod_name, labels, containers))
            self._set_run(run, "Unknown", "Running", {"startTime": _now()})
            return
        phase = self._pod_phase(ns, pod_name)
        if phase == "Succeeded":
            self._set_run(run, "True", "Succeeded", {"completionTime": _now()})
        elif phase == "Failed":
            self._set_run(run, "False", "Failed", {"completionTime": _now()})

    def _set_run(self, run: Json, status: str, reason: str, extra: dict[str, Any]) -> None:
        condition = {
            "type": "Succeeded",
            "status": status,
            "reason": reason,
            "message": f"played by the e2e tier's status player ({reason})",
            "lastTransitionTime": _now(),
        }
        body = {"status": {**extra, "conditions": [condition]}}
        path = f"{TEKTON_API}/namespaces/{run['metadata']['namespace']}/pipelineruns"
        self.cluster.kube.patch(f"{path}/{run['metadata']['name']}/status", body)

    # -- pods ---------------------------------------------------------------------------

    def _create_pod(self, pod: Json) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        if self.cluster.kube.get_or_none(f"/api/v1/namespaces/{ns}/pods/{name}") is None:
            self.cluster.kube.post(f"/api/v1/namespaces/{ns}/pods", pod)

    def _pod_phase(self, ns: str, name: str) -> str | None:
        pod = self.cluster.kube.get_or_none(f"/api/v1/namespaces/{ns}/pods/{name}")
        if pod is None:
            return "Failed"  # deleted under us: the run cannot succeed
        return str((pod.get("status") or {}).get("phase") or "") or None
