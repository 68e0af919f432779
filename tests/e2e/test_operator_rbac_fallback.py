"""An operator whose RBAC lacks ``deletecollection`` on Jobs (a chart from before it was
granted) still deletes every Job it harvested, each by its own DELETE, and says so once.

The operator runs as a user of its own, bound to a ClusterRole made from
``tuneop.api.rbac.CALLS`` without that one verb: the API server answers the first
harvested batch's DELETE of the collection with 403, and the session goes on to the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from minicluster import pki
from minicluster.controlplane import write_kubeconfig
from minicluster.harness import Cluster
from minicluster.kube import Json
from minicluster.operator_process import OperatorProcess
from tests.e2e.operator_support import (
    apply,
    explicit_session,
    session_jobs,
    status_of,
    wait_phase,
    wait_with_log,
)
from tuneop.api.rbac import CALLS

RBAC = "/apis/rbac.authorization.k8s.io/v1"
FALLBACK = "deleting Jobs one by one from now on"
TRIALS = 8


def rules_without(verb: str) -> list[Json]:
    """The operator's rules, one per call, but ``verb``."""
    return [
        {"apiGroups": [c.group], "resources": [c.resource], "verbs": [c.verb]}
        for c in CALLS
        if c.verb != verb
    ]


@pytest.fixture
def older_chart_user(cluster: Cluster, tmp_path: Path) -> Iterator[Path]:
    """A kubeconfig of a user granted the operator's calls but ``deletecollection``."""
    user = f"tuneop-older-chart-{uuid.uuid4().hex[:6]}"
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": user},
        "rules": rules_without("deletecollection"),
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": user},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": user},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    cluster.kube.post(f"{RBAC}/clusterroles", role)
    cluster.kube.post(f"{RBAC}/clusterrolebindings", binding)
    plane = cluster.controlplane
    assert plane.pki is not None
    pair = pki.issue(plane.pki.ca, tmp_path, user, user, client=True)
    kubeconfig = write_kubeconfig(
        tmp_path / "older.kubeconfig", plane.server, plane.pki.ca.cert, pair, user
    )
    try:
        yield kubeconfig
    finally:
        cluster.kube.delete(f"{RBAC}/clusterrolebindings/{user}")
        cluster.kube.delete(f"{RBAC}/clusterroles/{user}")


def test_an_operator_refused_deletecollection_deletes_each_harvested_job_and_says_so_once(
    cluster: Cluster, crd: Json, namespace: str, tmp_path: Path, older_chart_user: Path
) -> None:
    ns, name = namespace, "older-chart"
    # A long window: Jobs finishing together are harvested together, so a batch of
    # several (the one a collection's DELETE would take) comes.
    args = ["--results-dir", str(tmp_path / "results"), "--harvest-window", "3"]
    operator = OperatorProcess(older_chart_user, [ns], tmp_path / "operator.log", args)
    manifest = explicit_session(
        name, "testing:sleep", [{"seconds": 0.5} for _ in range(TRIALS)], maxParallel=4
    )
    try:
        operator.start()
        apply(cluster, ns, manifest)
        wait_phase(cluster, operator, ns, name, "Succeeded", timeout=120)
        wait_with_log(
            cluster,
            operator,
            "every harvested Job deleted",
            lambda: not session_jobs(cluster, ns, name),
            timeout=30,
        )
        status = status_of(cluster, ns, name)
        assert status["trials"]["succeeded"] == TRIALS
        said = [line for line in operator.log_text().splitlines() if FALLBACK in line]
        assert len(said) == 1, operator.tail()
        assert "403" in said[0]
    finally:
        operator.stop()
