"""Shared by the e2e tests of trial kinds: the real controllers, and multi-pod trials.

The node simulator has no cluster DNS and every pod shares this host's network, so a
multi-pod trial cannot find its master by ``<jobset>-master-0-0.<jobset>``. The workers
here really rendezvous, over loopback instead: the master (the primary pod) listens on
``127.0.0.1:PORT`` (a free port the test picks and passes in ``RENDEZVOUS_PORT``), each worker
connects and sends its index, and the master prints the metrics only once all workers have
reported (their indexes in its log), then the workers exit 0. A trial's pods therefore
prove they ran together; the training itself is a stand-in (``loss`` from ``x``).

PyTorchJob's pods find their master by the address the training operator gives them
(``MASTER_ADDR``, ``<job>-master-0``, its Service's name): with ``RENDEZVOUS_DIR`` set the
master listens on the Unix socket ``RENDEZVOUS_DIR/<MASTER_ADDR>`` (pods share this host's
files) and the workers connect there, so the operator's own wiring is what brings a trial's
pods together, and trials that run at once do not meet each other.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from minicluster import controllers
from minicluster.controllers import JobSet, Trainer, TrainingOperator
from minicluster.harness import Cluster
from minicluster.kueue import KUEUE_VERSION, Kueue
from minicluster.kueue import missing as kueue_missing

__all__ = [
    "RENDEZVOUS",
    "container",
    "jobset_manager",
    "jobset_spec",
    "kueue_or_skip",
    "log_of",
    "node_command",
    "pods",
    "pytorchjob_spec",
    "rendezvous_dir",
    "require",
    "trainer_manager",
    "training_operator",
]

# argv: role (master|worker|node), workers. `node` picks its role from JOB_COMPLETION_INDEX
# (Trainer's one replicated Job, index 0 the master). Params arrive as X (env or argv[3]).
RENDEZVOUS = r"""
import os, socket, sys, time
role, workers = sys.argv[1], int(sys.argv[2])
x = float(sys.argv[3]) if len(sys.argv) > 3 else float(os.environ.get("X", "1"))
index = os.environ.get("JOB_COMPLETION_INDEX", os.environ.get("RANK", "?"))
if os.environ.get("RENDEZVOUS_DIR"):
    family = socket.AF_UNIX
    address = os.path.join(os.environ["RENDEZVOUS_DIR"], os.environ["MASTER_ADDR"])
else:
    # Offset by x: trials of one session (each its own x) running at once never meet.
    port = int(os.environ["RENDEZVOUS_PORT"]) + round(x) % 100
    family, address = socket.AF_INET, ("127.0.0.1", port)
if role == "node":
    role = "master" if index == "0" else "worker"
if role == "master":
    server = socket.socket(family)
    if family == socket.AF_UNIX:
        if os.path.exists(address):
            os.unlink(address)  # an earlier attempt's
    else:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(address)
    server.listen(workers)
    server.settimeout(150)
    seen = []
    for _ in range(workers):
        conn, _ = server.accept()
        seen.append(conn.recv(64).decode())
        conn.close()
    print(f"rendezvous: {workers} workers {sorted(seen)}", flush=True)
    print(f"loss={(x - 2) ** 2 + 0.5}", flush=True)
else:
    for _ in range(1500):
        try:
            conn = socket.socket(family)
            conn.settimeout(2)
            conn.connect(address)
            break
        except OSError:
            conn.close()
            time.sleep(0.1)
    else:
        sys.exit(f"worker {index}: no master at {address}")
    conn.sendall(f"{os.environ.get('HOSTNAME', '?')}".encode())
    conn.close()
    print(f"worker {index} joined", flush=True)
"""


def node_command(role: str, workers: int, x: str = "") -> list[str]:
    return ["python", "-c", RENDEZVOUS, role, str(workers), *([x] if x else [])]


def require(name: str) -> None:
    """Skip (fail where CI requires it) when controller ``name`` is not built. CI builds the
    training operator in a stage of its own (.ci/run), so it has its own variable."""
    why = controllers.missing(name)
    if why is not None and os.environ.get("TUNEOP_E2E_BUILD") == "1":
        what = "training-operator" if name == "training-operator" else "jobset trainer pipelines"
        subprocess.run(["bash", str(controllers.BUILD_SCRIPT), *what.split()], check=True)
        why = controllers.missing(name)
    if why is None:
        return
    script = controllers.BUILD_SCRIPT.name
    if name == "training-operator":
        script += " training-operator"
    message = f"{name} not built (missing {why}): run {script} (or TUNEOP_E2E_BUILD=1)"
    variable = "TUNEOP_E2E_REQUIRE_CONTROLLERS"
    if name == "training-operator":
        variable = "TUNEOP_E2E_REQUIRE_TRAINING_OPERATOR"
    if os.environ.get(variable) == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


# One manager of each controller per cluster (the session's): a second one started
# beside the first's leftovers (its webhook Secrets, its registrations) would not be the
# controller a cluster runs.
@pytest.fixture(scope="session")
def jobset_manager(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobSet]:
    require("jobset")
    with JobSet(cluster, tmp_path_factory.mktemp("jobset")) as running:
        assert isinstance(running, JobSet)
        yield running


@pytest.fixture(scope="session")
def trainer_manager(
    cluster: Cluster, jobset_manager: JobSet, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Trainer]:
    require("trainer")
    with Trainer(cluster, tmp_path_factory.mktemp("trainer")) as running:
        assert isinstance(running, Trainer)
        yield running


@pytest.fixture(scope="session")
def training_operator(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TrainingOperator]:
    require("training-operator")
    with TrainingOperator(cluster, tmp_path_factory.mktemp("training-operator")) as running:
        assert isinstance(running, TrainingOperator)
        yield running


def pytorchjob_spec(folder: Path, x: str = "") -> dict[str, Any]:
    """A PyTorchJob's spec: a Master and 2 Workers (containers ``pytorch``, the operator's
    default), meeting at the socket ``folder/<MASTER_ADDR>`` (the module's docstring)."""

    def replica(role: str, replicas: int) -> dict[str, Any]:
        pod = {
            "name": "pytorch",
            "image": "python:3.11",
            "command": node_command(role, 2, x),
            "env": [
                {"name": "RENDEZVOUS_DIR", "value": str(folder)},
                {"name": "PYTHONUNBUFFERED", "value": "1"},
            ],
        }
        return {
            "replicas": replicas,
            "restartPolicy": "Never",
            "template": {"spec": {"containers": [pod]}},
        }

    return {"pytorchReplicaSpecs": {"Master": replica("master", 1), "Worker": replica("worker", 2)}}


@contextmanager
def rendezvous_dir() -> Iterator[Path]:
    """A short folder for the masters' sockets (a socket's path has at most 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="rdv-") as folder:
        yield Path(folder)


def container(name: str, command: list[str], port: int) -> dict[str, Any]:
    return {
        "name": name,
        "image": "python:3.11",
        "command": command,
        "env": [
            {"name": "RENDEZVOUS_PORT", "value": str(port)},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
        ],
    }


def jobset_spec(port: int, x: str = "") -> dict[str, Any]:
    """A JobSet's spec: a master (1 pod) and 2 workers (1 Job of 2 pods), rendezvous on port."""

    def job(role: str, pods: int) -> dict[str, Any]:
        command = node_command(role, 2, x)
        pod = {"restartPolicy": "Never", "containers": [container(role, command, port)]}
        return {
            "name": role,
            "replicas": 1,
            "template": {
                "spec": {
                    "parallelism": pods,
                    "completions": pods,
                    "backoffLimit": 0,
                    "template": {"spec": pod},
                }
            },
        }

    return {"replicatedJobs": [job("master", 1), job("workers", 2)]}


def log_of(cluster: Cluster, namespace: str, pod: str, container_name: str) -> str:
    done = cluster.kubectl("logs", "-n", namespace, pod, "-c", container_name, check=False)
    return done.stdout + done.stderr


def pods(cluster: Cluster, namespace: str, selector: str) -> list[dict[str, Any]]:
    found = cluster.kube.get(f"/api/v1/namespaces/{namespace}/pods", labelSelector=selector)
    return list(found["items"])


@contextmanager
def kueue_or_skip(
    cluster: Cluster, state_dir: Path, frameworks: tuple[str, ...]
) -> Iterator[Kueue]:
    """Kueue with these integrations, as test_kueue.py runs it; skipped when not built."""
    why = kueue_missing()
    if why is not None:
        message = f"Kueue {KUEUE_VERSION} not built (missing {why}): run build-kueue.sh"
        if os.environ.get("TUNEOP_E2E_REQUIRE") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with Kueue(cluster, state_dir, frameworks) as running:
        yield running
