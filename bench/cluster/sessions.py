"""The benchmark's TuningSessions and the namespaces they run in.

``session_doc`` builds a session: explicit trials of the runner's quadratic (or a command of
one's own), or a random/bayesian search over it; ``Namespace`` is a fresh namespace for one
measurement, emptied and deleted afterwards; small readers of a session's status.
"""

from __future__ import annotations

import time
from typing import Any

from bench.cluster.cluster import TS, BenchCluster

QUADRATIC = "tuneop_runner.objectives.functions:quadratic"


def session_doc(
    name: str,
    *,
    trials: list[dict[str, Any]] | None = None,
    total: int | None = None,
    max_parallel: int = 1,
    per_job: int = 1,
    command: list[str] | None = None,
    timeout: int = 120,
    optimizer: str = "random",
    seed: int = 1,
) -> dict[str, Any]:
    runner: dict[str, Any] = {"image": "tuneop/runner:0.1.0"}
    if command:
        runner["objectiveCommand"] = command
    else:
        runner["objective"] = QUADRATIC
    spec: dict[str, Any] = {
        "objective": {"metric": "loss"},
        "maxParallel": max_parallel,
        "trialsPerJob": per_job,
        "trialTimeoutSeconds": timeout,
        "runner": runner,
    }
    if trials is not None:
        spec["trials"] = trials
    else:
        spec["searchSpace"] = [
            {"name": "x", "type": "float", "min": -5, "max": 10},
            {"name": "y", "type": "float", "min": -3, "max": 3},
        ]
        spec["optimizer"] = {"type": optimizer, "seed": seed}
        spec["totalTrials"] = total
    return {
        "apiVersion": "tuneop.dev/v1alpha1",
        "kind": "TuningSession",
        "metadata": {"name": name},
        "spec": spec,
    }


def explicit_trials(n: int) -> list[dict[str, Any]]:
    return [{"x": i % 7} for i in range(n)]


def create_session(bc: BenchCluster, namespace: str, doc: dict[str, Any]) -> None:
    bc.kube.post(f"{TS}/namespaces/{namespace}/tuningsessions", doc)


def phase(obj: dict[str, Any] | None) -> str:
    return str(((obj or {}).get("status") or {}).get("phase") or "")


def status_jobs(obj: dict[str, Any] | None, key: str) -> int:
    return int((((obj or {}).get("status") or {}).get("jobs") or {}).get(key) or 0)


class Namespace:
    """A fresh namespace (pods can run in it once its default ServiceAccount has a token)."""

    def __init__(self, bc: BenchCluster, name: str) -> None:
        self.bc = bc
        self.name = name

    def __enter__(self) -> str:
        self.bc.kube.post(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.name}},
        )
        self.bc.cluster.wait_for_service_account(self.name, "default", timeout=60)
        return self.name

    def __exit__(self, *exc: object) -> None:
        """Delete it and wait until the namespace controller has emptied it (bounded)."""
        kube = self.bc.kube
        try:
            # The operator is stopped by now: drop kopf's finalizer, or the sessions (and
            # so the namespace) would wait for it forever.
            path = f"{TS}/namespaces/{self.name}/tuningsessions"
            for item in kube.get(path).get("items") or []:
                if item["metadata"].get("finalizers"):
                    kube.patch(
                        f"{path}/{item['metadata']['name']}", {"metadata": {"finalizers": None}}
                    )
            kube.delete(f"/api/v1/namespaces/{self.name}")
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                if kube.get_or_none(f"/api/v1/namespaces/{self.name}") is None:
                    return
                time.sleep(0.5)
            print(f"  (namespace {self.name} still terminating after 180 s; going on)")
        except Exception as error:  # clean-up must not hide the measurement's own error
            print(f"  (could not delete namespace {self.name}: {error})")
