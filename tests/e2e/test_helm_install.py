"""The Helm chart installed on the real control plane, the operator running as its pod.

The node simulator runs the chart's Deployment pod (``tuneop operator ...``) as a local
process whose KUBECONFIG carries the chart ServiceAccount's token, so the operator has exactly
the chart's RBAC: a missing rule shows as a session that does not complete, or as a
``Forbidden`` in the operator's log (both fail the test). ``helm uninstall`` must then leave
no operator object behind, except the CRD (Helm never deletes CRDs).

The pod's health and metrics ports are bound on this host (pods share its network), so the
test gives the chart free ports instead of the fixed defaults 8081/9090. The chart's own Redis
runs too (its default): the simulator runs the StatefulSet's ``redis-server`` command with the
machine's ``redis-server``, on a free port, its data in the test's folder, and the operator
reaches it on 127.0.0.1 (pods have no Service routing here). The session's results are then
read back with ``tuneop results``, through the password the chart generated.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from minicluster.controlplane import REPO_ROOT, free_port
from minicluster.harness import Cluster
from minicluster.kube import Json
from tests.e2e.operator_support import (
    CRD_PATH,
    EXAMPLES,
    apply,
    condition,
    get_session,
    process_gone,
    release_sessions,
    running_pids,
    session_jobs,
    session_path,
    status_of,
)

CHART = REPO_ROOT / "charts" / "tuneop"
RELEASE = "tuneop"
INSTANCE = f"app.kubernetes.io/instance={RELEASE}"


@pytest.fixture(scope="module")
def helm_binary() -> str:
    fetched = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "fetch-helm.sh")],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert fetched.returncode == 0, f"scripts/fetch-helm.sh failed:\n{fetched.stderr}"
    return fetched.stdout.strip().splitlines()[-1]


@dataclass
class Helm:
    binary: str
    cluster: Cluster
    home: Path

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.cluster.kubeconfig),
            # Keep Helm's own state out of the user's home.
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }
        done = subprocess.run(
            [self.binary, *args], env=env, capture_output=True, text=True, timeout=300
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"helm {' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
            )
        return done


@pytest.fixture
def helm(helm_binary: str, cluster: Cluster, tmp_path: Path) -> Helm:
    return Helm(helm_binary, cluster, tmp_path / "helm")


def operator_pods(cluster: Cluster, system: str) -> list[Json]:
    pods = cluster.kube.get(
        f"/api/v1/namespaces/{system}/pods",
        labelSelector=f"{INSTANCE},app.kubernetes.io/component=operator",
    )
    return list(pods["items"])


def http_get(port: int, path: str) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return str(reply.read().decode())
    except OSError:
        return None


def release_objects(cluster: Cluster, system: str, watched: str) -> dict[str, list[str]]:
    """What of the release is left: every kind the chart makes, by the release label."""
    namespaces = [system, watched]
    found: dict[str, list[str]] = {}
    namespaced = {
        "deployments": "/apis/apps/v1",
        "replicasets": "/apis/apps/v1",
        "pods": "/api/v1",
        "statefulsets": "/apis/apps/v1",
        "persistentvolumeclaims": "/api/v1",
        "networkpolicies": "/apis/networking.k8s.io/v1",
        "services": "/api/v1",
        "serviceaccounts": "/api/v1",
        "secrets": "/api/v1",
        "roles": "/apis/rbac.authorization.k8s.io/v1",
        "rolebindings": "/apis/rbac.authorization.k8s.io/v1",
    }
    for kind, group in namespaced.items():
        for ns in namespaces:
            items = cluster.kube.get(f"{group}/namespaces/{ns}/{kind}", labelSelector=INSTANCE)
            found[kind] = found.get(kind, []) + [
                f"{ns}/{i['metadata']['name']}" for i in items["items"]
            ]
    for kind in ("clusterroles", "clusterrolebindings"):
        items = cluster.kube.get(
            f"/apis/rbac.authorization.k8s.io/v1/{kind}", labelSelector=INSTANCE
        )
        found[kind] = [i["metadata"]["name"] for i in items["items"]]
    # Also by name: the operator's and the runners' ServiceAccounts.
    for ns, account in [(system, RELEASE), (watched, "tuneop-runner")]:
        if cluster.kube.get_or_none(f"/api/v1/namespaces/{ns}/serviceaccounts/{account}"):
            found["serviceaccounts"].append(f"{ns}/{account} (by name)")
    return {kind: names for kind, names in found.items() if names}


@pytest.fixture
def system_namespace(cluster: Cluster, helm: Helm) -> Iterator[str]:
    """The release namespace (new for each test: a deleted one takes a while to go);
    whatever the test left installed is removed afterwards."""
    system = f"tuneop-system-{uuid.uuid4().hex[:6]}"
    yield system
    if helm("status", RELEASE, "-n", system, check=False).returncode == 0:
        helm("uninstall", RELEASE, "-n", system, "--wait", "--timeout", "60s", check=False)
    cluster.kube.delete(f"/api/v1/namespaces/{system}")


MODES: dict[str, Any] = {
    # The least-privileged mode: a Role in each watched namespace, no cluster-wide access to
    # sessions, Jobs or pods. The session's runner pods use the chart's runner account.
    # Its Redis volume goes with the release.
    "namespaces": lambda ns: [
        "--set",
        "watch.mode=namespaces",
        "--set",
        f"watch.namespaces={{{ns}}}",
        "--set",
        "redis.bundled.persistence.keepOnUninstall=false",
    ],
    # The defaults: the Redis volume (every session's results) outlives the release.
    "cluster": lambda ns: ["--set", "watch.mode=cluster"],
}
KEPT = {"namespaces": {}, "cluster": {"persistentvolumeclaims": ["{system}/data-tuneop-redis-0"]}}


@pytest.mark.parametrize("mode", list(MODES))
def test_helm_installed_operator_runs_a_session_and_uninstalls_cleanly(
    cluster: Cluster,
    crd: Json,
    namespace: str,
    helm: Helm,
    system_namespace: str,
    mode: str,
    tmp_path: Path,
) -> None:
    health, metrics, redis_port = free_port(), free_port(), free_port()
    (tmp_path / "redis-data").mkdir()
    values = [
        *MODES[mode](namespace),
        "--set", f"healthPort={health}",
        "--set", f"metrics.port={metrics}",
        "--set", f"redis.bundled.port={redis_port}",
        "--set", f"redis.bundled.dataDir={tmp_path / 'redis-data'}",
        "--set", "redis.bundled.host=127.0.0.1",
        # Pods share this host's ports here, so a second replica could not bind its own;
        # the election still runs (and its Lease RBAC is the chart's).
        "--set", "replicaCount=1",
    ]  # fmt: skip

    helm(
        "install", RELEASE, str(CHART), "-n", system_namespace, "--create-namespace",
        *values, "--wait", "--timeout", "120s",
    )  # fmt: skip

    [pod] = cluster.wait_for(
        "the operator pod to run",
        lambda: [p for p in operator_pods(cluster, system_namespace) if running_pids([p])],
        describe=lambda: [p.get("status") for p in operator_pods(cluster, system_namespace)],
    )
    [pid] = running_pids([pod])
    assert pod["spec"]["serviceAccountName"] == RELEASE

    def operator_log() -> str:
        return cluster.kubectl("logs", "-n", system_namespace, pod["metadata"]["name"]).stdout

    def why() -> str:
        tail = "\n".join(operator_log().splitlines()[-40:])
        return f"{status_of(cluster, namespace, 'quickstart')}\n--- operator pod log ---\n{tail}"

    cluster.wait_for("the operator's health endpoint", lambda: http_get(health, "/healthz"))

    # A session, run by the installed operator under the chart's RBAC.
    manifest = yaml.safe_load((EXAMPLES / "quickstart.yaml").read_text())
    if mode == "namespaces":
        manifest["spec"]["runner"]["serviceAccountName"] = "tuneop-runner"
    apply(cluster, namespace, manifest)
    try:
        cluster.wait_for(
            "the session to succeed under the installed operator",
            lambda: status_of(cluster, namespace, "quickstart").get("phase") == "Succeeded",
            timeout=120,
            describe=why,
        )
    except AssertionError as error:
        raise AssertionError(f"{error}\n{why()}") from None
    # Any API call the chart's RBAC refuses is logged (even one the session survives).
    refused = [line for line in operator_log().splitlines() if "forbidden" in line.lower()]
    assert not refused, "the operator was refused API calls:\n" + "\n".join(refused[:10])
    status = status_of(cluster, namespace, "quickstart")
    assert (status["trials"]["succeeded"], status["exitCode"]) == (30, 0), why()
    assert (condition(status, "Complete") or {}).get("status") == "True", why()
    # The other writes the chart must allow: Events, the best ConfigMap, Job deletion.
    events = cluster.kube.get(
        f"/api/v1/namespaces/{namespace}/events",
        fieldSelector="involvedObject.name=quickstart",
    )
    reasons = {e["reason"] for e in events["items"]}
    assert {"TrialsStarted", "TrialsFinished", "NewBest"} <= reasons, reasons
    best = f"/api/v1/namespaces/{namespace}/configmaps/quickstart-best"
    assert cluster.kube.get_or_none(best), f"no ConfigMap quickstart-best\n{why()}"
    cluster.wait_for(
        "the harvested Jobs to be deleted",
        lambda: not session_jobs(cluster, namespace, "quickstart"),
    )
    scraped = http_get(metrics, "/metrics") or ""
    assert 'tuneop_trials_finished_total{outcome="Succeeded"} 30.0' in scraped, scraped[-2000:]
    assert "tuneop_redis_up 1.0" in scraped, scraped[-2000:]
    # The one replica leads: it holds the chart's Lease under its pod name.
    assert "tuneop_leader 1.0" in scraped, scraped[-2000:]
    lease = cluster.kube.get(
        f"/apis/coordination.k8s.io/v1/namespaces/{system_namespace}/leases/{RELEASE}"
    )
    assert lease["spec"]["holderIdentity"].startswith(pod["metadata"]["name"] + "_"), lease

    # Every trial, read back from the chart's Redis into a results folder.
    secret = cluster.kube.get(f"/api/v1/namespaces/{system_namespace}/secrets/tuneop-redis")
    url = base64.b64decode(secret["data"]["url"]).decode()
    assert url.startswith("redis://:") and f"@127.0.0.1:{redis_port}/0" in url
    fetched = subprocess.run(
        [sys.executable, "-m", "tuneop", "results", f"{namespace}/quickstart",
         "--redis-url", url, "-o", str(tmp_path / "fetched")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert fetched.returncode == 0, fetched.stderr
    trials = sorted((tmp_path / "fetched" / "quickstart" / "trials").glob("trial-*.json"))
    assert len(trials) == 30, fetched.stdout
    assert (tmp_path / "redis-data" / "appendonlydir").is_dir()  # the append-only file is on

    # Deleting the session: the operator takes kopf's finalizer off (it may patch sessions).
    cluster.kube.delete(session_path(namespace, "quickstart"))
    cluster.wait_for(
        "the session to be deleted",
        lambda: get_session(cluster, namespace, "quickstart") is None,
        describe=why,
    )
    refused = [line for line in operator_log().splitlines() if "forbidden" in line.lower()]
    assert not refused, "the operator was refused API calls:\n" + "\n".join(refused[:10])

    helm("uninstall", RELEASE, "-n", system_namespace, "--wait", "--timeout", "120s")

    kept = {k: [n.format(system=system_namespace) for n in v] for k, v in KEPT[mode].items()}
    cluster.wait_for(
        "no object of the release to be left but the kept Redis volume",
        lambda: release_objects(cluster, system_namespace, namespace) == kept,
        timeout=60,
        describe=lambda: release_objects(cluster, system_namespace, namespace),
    )
    cluster.wait_for("the operator process to end", lambda: process_gone(pid), timeout=30)
    assert cluster.kube.get_or_none(CRD_PATH) is not None, "helm uninstall deleted the CRD"
    release_sessions(cluster, namespace)
