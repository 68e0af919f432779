"""``katib-controller`` as a local process, with its webhooks reachable from the API server.

See ``components`` for the bridges: a private mount namespace with its own ``/etc/hosts``
(suggestion Services and the DB manager by DNS name) and ``/tmp/cert`` (the webhook
certificate), a KatibConfig file plus the ``katib-config`` ConfigMap the controller reads at
run time, and webhook configurations by URL. The controller runs as
``system:serviceaccount:kubeflow:katib-controller`` (a client certificate in
``system:masters``), so the audit log attributes its requests.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import time
from pathlib import Path

import yaml

from bench.katib.components import (
    DB_MANAGER_PORT,
    HYPEROPT_MAIN,
    KATIB_USER,
    katib_config,
    wait_port,
    webhook_configs,
)
from bench.katib.experiment import KATIB_HOME, KATIB_PYTHON
from minicluster import pki, processes
from minicluster.controlplane import write_kubeconfig
from minicluster.kube import ApiException, Kube
from minicluster.redis_server import free_port

__all__ = ["KatibController"]

ADMISSION = "/apis/admissionregistration.k8s.io/v1"
# Mount the run's hosts file and certificate directory over the fixed paths, then exec the
# controller (same pid: its RSS is the controller's).
SHELL = (
    'mount --bind "$1" /etc/hosts && mkdir -p /tmp/cert && mount --bind "$2" /tmp/cert'
    ' && shift 2 && exec "$@"'
)


class KatibController:
    """Katib's controller and webhook for one cluster, ``start``/``stop``."""

    def __init__(self, state: Path, ca: pki.KeyPair, server: str, kube: Kube) -> None:
        self.dir = state / "katib"
        self.ca = ca
        self.server = server
        self.kube = kube
        self.hosts = self.dir / "hosts"
        self.cert_dir = self.dir / "cert"
        self.kubeconfig = self.dir / "controller.kubeconfig"
        self.log = state / "logs" / "katib-controller.log"
        self.webhook_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def add_hosts(self, *names: str) -> None:
        """Map ``names`` to 127.0.0.1 for the controller (in place: the bind mount follows)."""
        with self.hosts.open("a") as handle:
            for name in names:
                handle.write(f"127.0.0.1 {name}\n")

    def _config_text(self) -> str:
        command = [str(KATIB_PYTHON), str(KATIB_HOME / "src" / HYPEROPT_MAIN)]
        return yaml.safe_dump(katib_config(self.webhook_port, command))

    def _cluster_objects(self, config: str, ca_bundle: str) -> None:
        with contextlib.suppress(ApiException):  # already there
            self.kube.post("/api/v1/namespaces", {"metadata": {"name": "kubeflow"}})
        self.kube.post(
            "/api/v1/namespaces/kubeflow/configmaps",
            {"metadata": {"name": "katib-config"}, "data": {"katib-config.yaml": config}},
        )
        for doc in webhook_configs(self.webhook_port, ca_bundle):
            plural = doc["kind"].lower() + "s"
            self.kube.post(f"{ADMISSION}/{plural}", doc)

    def start(self) -> KatibController:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cert_dir.mkdir(exist_ok=True)
        serving = pki.self_signed_server(self.cert_dir, "tls", "katib-controller", ("127.0.0.1",))
        ca_bundle = base64.b64encode(serving.cert.read_bytes()).decode()
        pair = pki.issue(self.ca, self.dir, "katib-client", KATIB_USER,
                         organizations=("system:masters",), client=True)  # fmt: skip
        write_kubeconfig(self.kubeconfig, self.server, self.ca.cert, pair, KATIB_USER)
        config = self._config_text()
        (self.dir / "katib-config.yaml").write_text(config)
        self.hosts.write_text(Path("/etc/hosts").read_text())
        self.add_hosts("katib-db-manager.kubeflow")
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", SHELL, "sh",
                str(self.hosts), str(self.cert_dir), str(KATIB_HOME / "bin" / "katib-controller"),
                f"--katib-config={self.dir / 'katib-config.yaml'}"]  # fmt: skip
        env = {
            "PATH": os.environ.get("PATH", ""),
            "KUBECONFIG": str(self.kubeconfig),
            "KATIB_DB_MANAGER_SERVICE_PORT": str(DB_MANAGER_PORT),
        }
        self._cluster_objects(config, ca_bundle)
        self.process = processes.spawn(argv, log_path=self.log, env=env)
        wait_port(self.webhook_port, self.process, "katib-controller's webhook", self.log)
        deadline = time.monotonic() + 60
        while "Starting workers" not in self.log.read_text(errors="replace"):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"katib-controller did not start:\n{processes.tail(self.log)}")
            time.sleep(0.5)
        return self

    def stop(self) -> None:
        if self.process is not None:
            processes.stop(self.process)
