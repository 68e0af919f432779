"""Fixtures of the end-to-end tier: one real single-node cluster per test session.

The cluster is the kube-apiserver and kube-controller-manager of ``$TUNEOP_K8S_VERSION``
(default: ``controlplane.DEFAULT_K8S_VERSION``), built from the Go module proxy by
``testing/minicluster/build-kubernetes.sh``, etcd 3.5 from ``install-etcd.sh``, and a node
simulator that runs pods as local processes (see ``testing/minicluster/HARNESS.md``).

Without the built binaries the tier is skipped, unless ``TUNEOP_E2E_BUILD=1`` asks to build
them first, or ``TUNEOP_E2E_REQUIRE=1`` (set by ``.ci/run``) makes a missing control plane an
error: in CI the tier never skips silently.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from minicluster import controlplane
from minicluster.harness import Cluster
from minicluster.kube import Json
from minicluster.redis_server import RedisServer
from tests.e2e.operator_support import CRD_FILE, CRD_PATH, condition

# The real controllers' managers, one each per cluster (session fixtures, registered here
# once: a fixture imported into several test modules would be one per module).
from tests.e2e.trial_support import jobset_manager, trainer_manager, training_operator

__all__ = ["jobset_manager", "trainer_manager", "training_operator"]  # fixtures, for pytest

E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/e2e is an ``e2e`` test."""
    for item in items:
        if E2E_DIR in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A running cluster: ``kubeconfig``, ``server``, ``kubectl(...)``, ``kube``, ``wait_for``."""
    missing = controlplane.missing_binaries()
    if missing:
        if os.environ.get("TUNEOP_E2E_BUILD") != "1":
            why = (
                f"e2e control plane {controlplane.K8S_VERSION} not built (missing "
                f"{', '.join(missing)}): run "
                f"{controlplane.BUILD_SCRIPT.relative_to(controlplane.REPO_ROOT)} "
                f"{controlplane.K8S_VERSION} and "
                f"{controlplane.ETCD_SCRIPT.relative_to(controlplane.REPO_ROOT)}, "
                "or set TUNEOP_E2E_BUILD=1"
            )
            if os.environ.get("TUNEOP_E2E_REQUIRE") == "1":
                pytest.fail(why, pytrace=False)
            pytest.skip(why)
        controlplane.build()
    state_dir = tmp_path_factory.mktemp("cluster")
    with Cluster(state_dir) as running:
        served = running.kube.get("/version")["gitVersion"]
        assert served == f"v{controlplane.K8S_VERSION}", (
            f"the apiserver reports {served}, the tier asked for {controlplane.K8S_VERSION}"
        )
        yield running


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace in which pods can run at once; deleted (not awaited) afterwards."""
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.removeprefix("test_").lower())
    stem = stem[:40].strip("-") or "test"
    name = cluster.create_namespace(f"{stem}-{uuid.uuid4().hex[:6]}")
    yield name
    cluster.kube.delete(f"/api/v1/namespaces/{name}")


@pytest.fixture(scope="session")
def crd(cluster: Cluster) -> Json:
    """The TuningSession CRD, applied with kubectl and Established; also kubectl's output.

    Operators serving fixed namespaces do not follow CRD changes (kopf's scanning is off),
    so every operator in this tier starts after this fixture.
    """
    applied = cluster.kubectl("apply", "-f", str(CRD_FILE))

    def established() -> Json | None:
        found = cluster.kube.get(CRD_PATH)
        ready = condition(found.get("status") or {}, "Established")
        return found if ready and ready["status"] == "True" else None

    found = cluster.wait_for("the TuningSession CRD to be Established", established, timeout=30)
    # The API is served once discovery lists it (a moment after Established).
    cluster.wait_for(
        "the tuningsessions API to be served",
        lambda: cluster.kube.get("/apis/tuneop.dev/v1alpha1/tuningsessions") is not None,
        timeout=30,
    )
    return {"crd": found, "kubectl": applied.stdout}


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server of the test module's own, on a free loopback port."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()
