"""A whole end-to-end cluster: the control plane, the node simulator, and test helpers.

``Cluster`` starts ``ControlPlane`` (etcd, apiserver, controller-manager), then the node
simulator as a separate process, and waits until the cluster can run pods: the node is Ready
and the controller-manager has given the ``default`` ServiceAccount its token. Its helpers are
what tests need on top of the API: ``kubectl``, ``wait_for`` (poll with a deadline, fail with
the last observation and the tail of every component log) and ``create_namespace``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from minicluster import processes
from minicluster.controlplane import REPO_ROOT, ClusterError, ControlPlane, kubectl_binary
from minicluster.kube import Json, Kube

T = TypeVar("T")

KUBECTL = kubectl_binary()
MARKER = ".tuneop-e2e-cluster"


class WaitTimeout(AssertionError):
    """A condition the test waited for did not come true in time."""


class Cluster:
    """A running single-node cluster on loopback (use as a context manager)."""

    def __init__(self, state_dir: Path, binaries: Path | None = None) -> None:
        self.state_dir = state_dir.resolve()
        self.controlplane = ControlPlane(self.state_dir, binaries)
        self.nodesim: subprocess.Popen[bytes] | None = None
        self.node_name = "tuneop-node"
        self._kube: Kube | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.controlplane.kubeconfig

    @property
    def server(self) -> str:
        return self.controlplane.server

    @property
    def kube(self) -> Kube:
        """A JSON API client with admin rights."""
        if self._kube is None:
            self._kube = Kube(str(self.kubeconfig))
        return self._kube

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, timeout: float = 180.0) -> Cluster:
        deadline = time.monotonic() + timeout
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / MARKER).touch()
        try:
            self.controlplane.start(timeout=timeout)
            self.nodesim = processes.spawn(
                [
                    sys.executable,
                    "-m",
                    "minicluster.nodesim",
                    f"--kubeconfig={self.kubeconfig}",
                    f"--state-dir={self.state_dir / 'node'}",
                    f"--node-name={self.node_name}",
                ],
                log_path=self.controlplane.logs_dir / "nodesim.log",
                cwd=REPO_ROOT,
                death_signal="TERM",
            )
            left = max(1.0, deadline - time.monotonic())
            self.wait_for("node simulator's node to be Ready", self._node_ready, timeout=left)
            left = max(1.0, deadline - time.monotonic())
            self.wait_for(
                "a token for ServiceAccount default/default",
                lambda: self._service_account_token("default", "default"),
                timeout=left,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the node simulator (which ends all pod processes), then the control plane."""
        if self._kube is not None:
            self._kube.close()
            self._kube = None
        if self.nodesim is not None:
            processes.stop(self.nodesim, grace=15.0)
            self.nodesim = None
        self.controlplane.stop()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def diagnostics(self, lines: int = 30) -> str:
        return self.controlplane.diagnostics(lines)

    # -- helpers ------------------------------------------------------------------------------

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; with ``check``, fail with its output on error."""
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        result = subprocess.run(
            [KUBECTL, *args],
            env=env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def wait_for(
        self,
        what: str,
        probe: Callable[[], T | None],
        *,
        timeout: float = 60.0,
        interval: float = 0.2,
        describe: Callable[[], object] | None = None,
    ) -> T:
        """Call ``probe`` until it returns something truthy and return that.

        On timeout, fail with ``what``, the last value or error of the probe (or of
        ``describe``, if given) and the tail of the component logs.
        """
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            try:
                value = probe()
                if value:
                    return value
                last = value
            except ClusterError:
                raise
            except Exception as error:
                last = f"{type(error).__name__}: {error}"
            if time.monotonic() >= deadline:
                break
            time.sleep(interval)
        if describe is not None:
            try:
                last = describe()
            except Exception as error:
                last = f"(describe failed: {error})"
        raise WaitTimeout(
            f"timed out after {timeout:.0f}s waiting for {what}; last seen: "
            f"{last}\n{self.diagnostics()}"
        )

    def create_namespace(self, name: str, timeout: float = 30.0, exist_ok: bool = False) -> str:
        """Create a namespace and wait until pods can run in it (its default SA has a token).

        ``exist_ok``: a namespace already there is used as it is (the controllers' fixed
        namespaces, which every test module that starts a controller asks for)."""
        if not (exist_ok and self.kube.get_or_none(f"/api/v1/namespaces/{name}") is not None):
            self.kube.post(
                "/api/v1/namespaces",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
            )
        self.wait_for(
            f"a token for ServiceAccount {name}/default",
            lambda: self._service_account_token(name, "default"),
            timeout=timeout,
        )
        return name

    def wait_for_service_account(self, namespace: str, name: str, timeout: float = 30.0) -> str:
        """Wait until the token controller has made the ServiceAccount's token Secret."""
        return self.wait_for(
            f"a token for ServiceAccount {namespace}/{name}",
            lambda: self._service_account_token(namespace, name),
            timeout=timeout,
        )

    def _service_account_token(self, namespace: str, name: str) -> str | None:
        """The account's name once pods can use it: it exists (since 1.24 a pod gets a
        projected token from the TokenRequest API; no token Secret is made any more)."""
        account = self.kube.get_or_none(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}")
        if account is not None and not account.get("secrets"):
            return name
        for ref in (account or {}).get("secrets") or []:
            secret = self.kube.get_or_none(f"/api/v1/namespaces/{namespace}/secrets/{ref['name']}")
            if secret and (secret.get("data") or {}).get("token"):
                return str(ref["name"])
        return None

    def _node_ready(self) -> Json | None:
        if self.nodesim is not None and self.nodesim.poll() is not None:
            raise ClusterError(
                f"node simulator exited with {self.nodesim.returncode}\n" + self.diagnostics()
            )
        node = self.kube.get_or_none(f"/api/v1/nodes/{self.node_name}")
        conditions = ((node or {}).get("status") or {}).get("conditions") or []
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        return node if ready else None
