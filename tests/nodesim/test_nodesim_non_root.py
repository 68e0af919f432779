"""The node simulator's kubelet rule for ``runAsNonRoot`` against the image's user.

Katib's trial images run as root (no ``USER`` in their Dockerfiles,
``minicluster.imageusers``): a kubelet refuses them under ``runAsNonRoot: true`` with
``CreateContainerConfigError``, and so does the simulator. The last test gives it the pod
``tuneop import katib`` + ``tuneop plan`` make of a Katib example, as a user would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minicluster.imageusers import image_user, run_as_non_root_problem
from minicluster.nodesim import NodeSimulator
from tests.nodesim.test_nodesim import RecordingKube, container, drive, pod

KATIB_IMAGE = "ghcr.io/kubeflow/katib/pytorch-mnist-cpu:v0.19.0"
REPO = Path(__file__).resolve().parents[2]
TUNEOP = str(Path(sys.executable).with_name("tuneop"))


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[tuple[NodeSimulator, RecordingKube]]:
    kube = RecordingKube()
    simulator = NodeSimulator(kube, tmp_path / "node")  # type: ignore[arg-type]
    yield simulator, kube
    simulator.shutdown()


def waiting(kube: RecordingKube, name: str) -> dict[str, Any]:
    if not kube.statuses(name):
        return {}
    state = kube.last_status(name)["containerStatuses"][0]["state"]
    return state.get("waiting") or {}


def started(kube: RecordingKube, name: str) -> bool:
    return bool(kube.statuses(name)) and any(
        s.get("started") or s["state"].get("terminated")
        for s in kube.last_status(name)["containerStatuses"]
    )


@pytest.mark.parametrize(
    ("image", "uid"),
    [
        (KATIB_IMAGE, 0),
        ("ghcr.io/kubeflow/katib/simple-pbt@sha256:00", 0),
        ("python:3.11-slim", 0),
        ("registry.local:5000/team/trainer:1", 10001),
    ],
)
def test_katibs_trial_images_run_as_root(image: str, uid: int) -> None:
    assert image_user(image) == uid


@pytest.mark.parametrize(
    ("pod_sc", "container_sc", "refused"),
    [
        ({"runAsNonRoot": True}, {}, True),
        ({}, {"runAsNonRoot": True}, True),
        ({"runAsNonRoot": True}, {"runAsUser": 1000}, False),
        ({"runAsNonRoot": True, "runAsUser": 0}, {}, True),
        ({"runAsNonRoot": True}, {"runAsNonRoot": False}, False),
        ({}, {}, False),
    ],
)
def test_the_kubelets_rule_takes_the_container_over_the_pod(
    pod_sc: dict[str, Any], container_sc: dict[str, Any], refused: bool
) -> None:
    c = {"name": "c", "image": KATIB_IMAGE, "securityContext": container_sc}
    assert (run_as_non_root_problem({"securityContext": pod_sc}, c) is not None) is refused


def test_a_root_image_under_run_as_non_root_waits_in_config_error(sim: Any) -> None:
    simulator, kube = sim
    c = container("main", "print(1)", image=KATIB_IMAGE, securityContext={"runAsNonRoot": True})
    simulator.on_pod(pod("rootimg", [c]))
    drive(simulator, lambda: waiting(kube, "rootimg").get("reason") == "CreateContainerConfigError")
    assert "image will run as root" in waiting(kube, "rootimg")["message"]
    for _ in range(10):  # no process ever starts
        simulator.tick()
        time.sleep(0.05)
    assert not started(kube, "rootimg")


def test_the_pod_of_an_imported_katib_example_starts(sim: Any, tmp_path: Path) -> None:
    simulator, kube = sim
    example = REPO / "tests/data/katib/hp-tuning/random.yaml"
    session = tmp_path / "session.yaml"
    subprocess.run([TUNEOP, "import", "katib", str(example), "-o", str(session)], check=True)
    planned = subprocess.run(
        [TUNEOP, "plan", str(session), "-o", "json"], check=True, capture_output=True, text=True
    )
    template = json.loads(planned.stdout)["manifests"][0]["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == KATIB_IMAGE
    p = pod("katib", template["spec"]["containers"])
    p["spec"] = {**template["spec"], **p["spec"]}
    simulator.on_pod(p)
    refused = ("CreateContainerConfigError", "ImagePullBackOff")
    drive(
        simulator,
        lambda: started(kube, "katib") or waiting(kube, "katib").get("reason") in refused,
    )
    assert waiting(kube, "katib").get("reason") != "CreateContainerConfigError", waiting(
        kube, "katib"
    )
    assert started(kube, "katib"), kube.last_status("katib")["containerStatuses"][0]["state"]
