"""Argo Workflows and Tekton PipelineRuns: their real CRDs, a TEST STATUS PLAYER, not theirs.

The CRDs are the projects' own (``build-controllers.sh pipelines`` takes them from the Go
module proxy's module zips); their controllers do not run here. ``minicluster.statusplayer``
plays the status a controller would write for the simplest shape of each (one pod; see its
docstring), so these tests prove the CRDs accept such objects and the pods run, and
``test_trial_kind_sessions.py`` drives tuneop's sessions of these kinds against the same
player. Without the CRDs the module is skipped, naming the script.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from minicluster import statusplayer
from minicluster.harness import Cluster
from minicluster.statusplayer import ARGO_API, TEKTON_API, StatusPlayer


def require_pipeline_crds() -> None:
    why = statusplayer.missing()
    if why is None:
        return
    message = f"Argo/Tekton {why} not fetched: run build-controllers.sh pipelines"
    if os.environ.get("TUNEOP_E2E_REQUIRE_CONTROLLERS") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def pipeline_crds(cluster: Cluster) -> list[str]:
    require_pipeline_crds()
    return statusplayer.install_pipeline_crds(cluster)


@pytest.fixture
def player(cluster: Cluster, pipeline_crds: list[str], namespace: str) -> Iterator[StatusPlayer]:
    with StatusPlayer(cluster, [namespace]) as running:
        yield running
    assert not running.errors, running.errors


def script(code: int, text: str) -> list[str]:
    return ["python", "-c", f"import sys; print({text!r}, flush=True); sys.exit({code})"]


def workflow(name: str, command: list[str]) -> dict[str, object]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {
            "entrypoint": "train",
            "templates": [
                {"name": "train", "container": {"image": "python:3.11", "command": command}}
            ],
        },
    }


def pipeline_run(name: str, command: list[str]) -> dict[str, object]:
    step = {"name": "fit", "image": "python:3.11", "command": command}
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": name},
        "spec": {"pipelineSpec": {"tasks": [{"name": "train", "taskSpec": {"steps": [step]}}]}},
    }


def test_the_real_crds_are_established(pipeline_crds: list[str]) -> None:
    assert set(pipeline_crds) == {"workflows.argoproj.io", "pipelineruns.tekton.dev"}


@pytest.mark.parametrize(("code", "phase"), [(0, "Succeeded"), (3, "Failed")])
def test_a_played_workflow_ends_as_its_pod(
    cluster: Cluster, player: StatusPlayer, namespace: str, code: int, phase: str
) -> None:
    path = f"{ARGO_API}/namespaces/{namespace}/workflows"
    cluster.kube.post(path, workflow("wf", script(code, "loss=0.25")))
    obj = cluster.wait_for(
        f"the Workflow to be {phase}",
        lambda: (w := cluster.kube.get(f"{path}/wf")).get("status", {}).get("phase") == phase and w,
        timeout=90,
        describe=lambda: (cluster.kube.get(f"{path}/wf").get("status"), player.errors),
    )
    assert obj["status"]["finishedAt"]
    log = cluster.kubectl("logs", "-n", namespace, "wf", "-c", "main").stdout
    assert "loss=0.25" in log


@pytest.mark.parametrize(("code", "status"), [(0, "True"), (3, "False")])
def test_a_played_pipeline_run_sets_its_succeeded_condition(
    cluster: Cluster, player: StatusPlayer, namespace: str, code: int, status: str
) -> None:
    path = f"{TEKTON_API}/namespaces/{namespace}/pipelineruns"
    cluster.kube.post(path, pipeline_run("pr", script(code, "loss=0.5")))

    def succeeded() -> dict[str, object] | None:
        conds = cluster.kube.get(f"{path}/pr").get("status", {}).get("conditions") or []
        done = [c for c in conds if c["type"] == "Succeeded" and c["status"] == status]
        return done[0] if done else None

    cond = cluster.wait_for(f"Succeeded={status}", succeeded, timeout=90)
    assert "status player" in str(cond["message"])
    pod = "pr-train-pod"
    assert "loss=0.5" in cluster.kubectl("logs", "-n", namespace, pod, "-c", "step-fit").stdout
