"""Kueue's controller manager against an e2e cluster: built, configured, started, stopped.

``build-kueue.sh`` builds ``sigs.k8s.io/kueue/cmd/kueue`` of ``KUEUE_VERSION`` from the Go
module proxy into ``$TUNEOP_CACHE/kueue-<version>/bin`` and copies the release's CRDs to
``crds/`` beside it. ``Kueue(cluster, state_dir).start()`` applies those CRDs
(server-side: the Workload CRD is past the size of kubectl's last-applied annotation), then
runs the manager as a local process with the cluster's admin kubeconfig and this
configuration:

- only the ``batch/job`` integration (``frameworks`` adds others, such as
  ``jobset.x-k8s.io/jobset``), only objects that carry a queue label (Kueue's default);
- no leader election, the health probe on a free loopback port, metrics off;
- **no webhooks registered in the API server**: the apiserver cannot reach a webhook
  server on this host over TLS without a Service, and tuneop does not need them. Kueue's
  Job webhook would only default ``suspend: true`` on a labelled Job and validate it; the
  operator already creates its Jobs suspended and labelled, and Kueue's Job reconciler
  (which creates the Workload, admits it and unsuspends the Job) works without them. The
  manager still starts its webhook server (on a free loopback port, a self-signed
  certificate in the state directory); nothing calls it;
- internal certificate management off (it would wait for webhook configurations that do
  not exist). Kueue then reads its metrics certificate from the fixed path
  ``/etc/kueue/metrics/certs``, so the manager runs in a mount namespace of its own
  (util-linux ``unshare --mount``) with an overlay on ``/etc`` that adds just that
  directory: nothing on the host changes;
- the visibility API server off (``VisibilityOnDemand=false``: it would bind a fixed port).

Its log is ``STATE/logs/kueue.log``. ``queue(...)`` creates a ResourceFlavor, a ClusterQueue
and a LocalQueue that admit workloads up to a CPU quota.
"""

from __future__ import annotations

import os
import shlex
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from minicluster import pki, processes
from minicluster.controlplane import cache_root, free_port
from minicluster.harness import Cluster

__all__ = [
    "BUILD_SCRIPT",
    "KUEUE_API",
    "KUEUE_VERSION",
    "Kueue",
    "kueue_dir",
    "missing",
]

KUEUE_VERSION = "0.17.0"
KUEUE_API = "/apis/kueue.x-k8s.io/v1beta2"
BUILD_SCRIPT = Path(__file__).resolve().parent / "build-kueue.sh"
NAMESPACE = "kueue-system"
UNSHARE = shutil.which("unshare")


def kueue_dir() -> Path:
    version = (os.environ.get("TUNEOP_KUEUE_VERSION") or KUEUE_VERSION).removeprefix("v")
    return cache_root() / f"kueue-{version}"


def missing() -> str | None:
    """What is missing to run Kueue here, or None."""
    if not os.access(kueue_dir() / "bin" / "kueue", os.X_OK):
        return f"kueue binary ({kueue_dir() / 'bin' / 'kueue'})"
    if not (kueue_dir() / "crds" / ".ready").exists():
        return f"Kueue CRDs ({kueue_dir() / 'crds'})"
    if UNSHARE is None:
        return "util-linux unshare"
    return None


class Kueue(processes.Managed):
    """Kueue's manager on ``cluster``; a context manager."""

    name = "kueue"

    def __init__(
        self, cluster: Cluster, state_dir: Path, frameworks: tuple[str, ...] = ("batch/job",)
    ) -> None:
        super().__init__(state_dir)
        self.cluster = cluster
        # Kueue's integrations, e.g. "jobset.x-k8s.io/jobset" (its CRD must be installed).
        self.frameworks = list(frameworks)

    def start(self, timeout: float = 180.0) -> Kueue:
        deadline = time.monotonic() + timeout
        self._install_crds(deadline)
        self.cluster.create_namespace(NAMESPACE, exist_ok=True)
        health = free_port()
        config = self._write_config(health, free_port())
        overlay = self._overlay()
        script = (
            f"mount -t overlay overlay -o lowerdir=/etc,upperdir={overlay}/upper,"
            f"workdir={overlay}/work /etc && exec {shlex.quote(str(kueue_dir() / 'bin/kueue'))}"
            f" --config={shlex.quote(str(config))} --feature-gates=VisibilityOnDemand=false"
        )
        assert UNSHARE is not None
        self.launch(
            [UNSHARE, "--mount", "--propagation", "private", "--", "sh", "-c", script],
            env={**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig)},
        )
        try:
            self.wait_ready(f"http://127.0.0.1:{health}/readyz", deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def queue(self, namespace: str, name: str, cpu: str) -> None:
        """A LocalQueue ``name`` in ``namespace`` over a ClusterQueue of ``cpu`` CPU."""
        cq = f"{namespace}-{name}"[:56]
        flavor = f"{cq}-flavor"
        kube = self.cluster.kube
        kube.post(
            f"{KUEUE_API}/resourceflavors",
            {
                "apiVersion": "kueue.x-k8s.io/v1beta2",
                "kind": "ResourceFlavor",
                "metadata": {"name": flavor},
            },
        )
        kube.post(f"{KUEUE_API}/clusterqueues", _cluster_queue(cq, flavor, cpu))
        kube.post(
            f"{KUEUE_API}/namespaces/{namespace}/localqueues",
            {
                "apiVersion": "kueue.x-k8s.io/v1beta2",
                "kind": "LocalQueue",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"clusterQueue": cq},
            },
        )

        def active() -> bool:
            found = kube.get(f"{KUEUE_API}/clusterqueues/{cq}")
            conds = (found.get("status") or {}).get("conditions") or []
            return any(c.get("type") == "Active" and c.get("status") == "True" for c in conds)

        self.cluster.wait_for(
            f"ClusterQueue {cq} to be Active", active, timeout=60, describe=self.tail
        )

    # -- internals --------------------------------------------------------------------------

    def _install_crds(self, deadline: float) -> None:
        crds = sorted((kueue_dir() / "crds").glob("*.yaml"))
        args = [a for path in crds for a in ("-f", str(path))]
        self.cluster.kubectl("apply", "--server-side", "--force-conflicts", *args, timeout=120)
        for path in crds:
            name = yaml.safe_load(path.read_text())["metadata"]["name"]
            crd_path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"

            def established(crd_path: str = crd_path) -> bool:
                conds = (self.cluster.kube.get(crd_path).get("status") or {}).get("conditions")
                return any(
                    c.get("type") == "Established" and c.get("status") == "True"
                    for c in conds or []
                )

            remaining = max(deadline - time.monotonic(), 1.0)
            self.cluster.wait_for(f"CRD {name} Established", established, timeout=remaining)

    def _write_config(self, health_port: int, webhook_port: int) -> Path:
        directory = self.state_dir / "kueue"
        certs = directory / "webhook-certs"
        pair = pki.self_signed_server(certs, "webhook", "kueue-webhook", ("127.0.0.1",))
        pair.cert.rename(certs / "tls.crt")
        pair.key.rename(certs / "tls.key")
        config: dict[str, Any] = {
            "apiVersion": "config.kueue.x-k8s.io/v1beta2",
            "kind": "Configuration",
            "namespace": NAMESPACE,
            "health": {"healthProbeBindAddress": f"127.0.0.1:{health_port}"},
            "metrics": {"bindAddress": "0"},
            "webhook": {"port": webhook_port, "host": "127.0.0.1", "certDir": str(certs)},
            "leaderElection": {"leaderElect": False},
            "internalCertManagement": {"enable": False},
            "integrations": {"frameworks": self.frameworks},
        }
        path = directory / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def _overlay(self) -> Path:
        """The upper layer of /etc for the manager: only ``kueue/metrics/certs``."""
        overlay = self.state_dir / "kueue" / "etc"
        certs = overlay / "upper" / "kueue" / "metrics" / "certs"
        pair = pki.self_signed_server(certs, "metrics", "kueue-metrics", ("127.0.0.1",))
        pair.cert.rename(certs / "tls.crt")
        pair.key.rename(certs / "tls.key")
        (certs / "metrics.cnf").unlink(missing_ok=True)
        (overlay / "work").mkdir(parents=True, exist_ok=True)
        return overlay


def _cluster_queue(name: str, flavor: str, cpu: str) -> dict[str, Any]:
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "ClusterQueue",
        "metadata": {"name": name},
        "spec": {
            "namespaceSelector": {},
            "resourceGroups": [
                {
                    "coveredResources": ["cpu"],
                    "flavors": [
                        {"name": flavor, "resources": [{"name": "cpu", "nominalQuota": cpu}]}
                    ],
                }
            ],
        },
    }
