"""The control plane of an end-to-end cluster: etcd, kube-apiserver and kube-controller-manager.

All three run as local processes on free loopback ports, with their state, credentials and
logs in one state directory::

    STATE/pki/                   CA, serving and client certificates, service-account keys
    STATE/etcd/                  etcd's data
    STATE/logs/<component>.log   every component's output
    STATE/admin.kubeconfig       a system:masters kubeconfig for kubectl and tests

``ControlPlane.start`` waits until the apiserver answers ``/readyz`` and the controller-manager
``/healthz``; if anything fails on the way it stops what it already started and raises with the
tail of the logs. ``stop`` (also run by the context manager) ends every process it started,
each with its whole process group.

The Kubernetes release is ``$TUNEOP_K8S_VERSION`` (default ``DEFAULT_K8S_VERSION``); its
binaries come from ``build-kubernetes.sh`` (built from the Go module proxy into
``$TUNEOP_CACHE/k8s-<version>/bin``) and etcd from ``install-etcd.sh`` (Debian trixie's 3.5,
unpacked into ``$TUNEOP_CACHE/etcd``); see HARNESS.md. Releases older than
``OLDEST_SUPPORTED`` are refused: the flags here are those of a current cluster.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import yaml

from minicluster import pki, processes
from minicluster.processes import ClusterError as ClusterError  # re-exported: harness.py

DEFAULT_K8S_VERSION = "1.37.2"
OLDEST_SUPPORTED = (1, 31)
SERVICE_CIDR = "10.0.0.0/24"
SERVICE_IP = "10.0.0.1"
ISSUER = "https://kubernetes.default.svc.cluster.local"
BINARIES = ("kube-apiserver", "kube-controller-manager", "kubectl")
HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
BUILD_SCRIPT = HERE / "build-kubernetes.sh"
ETCD_SCRIPT = HERE / "install-etcd.sh"
# A current kube-apiserver refuses older etcd ("etcd cluster version ... is not supported").
MIN_ETCD = (3, 5, 13)


def k8s_version() -> str:
    """The release the tier runs: ``$TUNEOP_K8S_VERSION`` (like ``1.31.14``) or the default."""
    version = (os.environ.get("TUNEOP_K8S_VERSION") or DEFAULT_K8S_VERSION).removeprefix("v")
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"TUNEOP_K8S_VERSION={version!r}: want MAJOR.MINOR.PATCH")
    if (int(parts[0]), int(parts[1])) < OLDEST_SUPPORTED:
        oldest = ".".join(map(str, OLDEST_SUPPORTED))
        raise ValueError(f"TUNEOP_K8S_VERSION={version}: the harness supports {oldest} and newer")
    return version


K8S_VERSION = k8s_version()


def cache_root() -> Path:
    """``$TUNEOP_CACHE`` or ``~/.cache/tuneop``."""
    return Path(os.environ.get("TUNEOP_CACHE") or str(Path.home() / ".cache" / "tuneop"))


def cache_dir() -> Path:
    """Where ``build-kubernetes.sh`` puts the release's build."""
    return cache_root() / f"k8s-{K8S_VERSION}"


def bin_dir() -> Path:
    return cache_dir() / "bin"


def kubectl_binary() -> str:
    """The kubectl built with the server (client and server versions match), else PATH's."""
    built = bin_dir() / "kubectl"
    if os.access(built, os.X_OK):
        return str(built)
    return shutil.which("kubectl") or "kubectl"


def etcd_version(binary: str) -> tuple[int, ...]:
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except OSError:
        return ()
    for line in out.splitlines():
        if line.startswith("etcd Version:"):
            return tuple(int(p) for p in line.split(":", 1)[1].strip().split(".")[:3])
    return ()


def etcd_binary() -> str | None:
    """An etcd new enough for the apiserver: ``$TUNEOP_ETCD``, the cached one, or PATH's."""
    candidates = [
        os.environ.get("TUNEOP_ETCD"),
        str(cache_root() / "etcd" / "bin" / "etcd"),
        shutil.which("etcd"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and etcd_version(candidate) >= MIN_ETCD:
            return candidate
    return None


def missing_binaries(directory: Path | None = None) -> list[str]:
    """The control-plane programs that are not installed (empty when all are there)."""
    directory = directory or bin_dir()
    missing = [name for name in BINARIES if not os.access(directory / name, os.X_OK)]
    if etcd_binary() is None:
        missing.append("etcd >= " + ".".join(map(str, MIN_ETCD)))
    return missing


def build() -> None:
    """Run ``build-kubernetes.sh`` and ``install-etcd.sh`` (quick when cached)."""
    subprocess.run(["bash", str(BUILD_SCRIPT), K8S_VERSION], check=True)
    subprocess.run(["bash", str(ETCD_SCRIPT)], check=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_kubeconfig(
    path: Path, server: str, ca: Path, client: pki.KeyPair, user: str, context: str = "e2e"
) -> Path:
    """A kubeconfig file that authenticates with a client certificate."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": context, "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate": str(client.cert), "client-key": str(client.key)},
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": user}}],
        "current-context": context,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)
    return path


@dataclass
class Component:
    """One running control-plane process."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager on loopback, started and stopped."""

    def __init__(self, state_dir: Path, binaries: Path | None = None) -> None:
        self.state_dir = state_dir.resolve()
        self.binaries = binaries or bin_dir()
        self.logs_dir = self.state_dir / "logs"
        self.components: list[Component] = []
        self.api_port = 0
        self.pki: pki.Pki | None = None

    # -- public -----------------------------------------------------------------------------

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "admin.kubeconfig"

    def start(self, timeout: float = 120.0) -> ControlPlane:
        missing = missing_binaries(self.binaries)
        if missing:
            raise ClusterError(
                f"missing {', '.join(missing)}: run {BUILD_SCRIPT} {K8S_VERSION} and {ETCD_SCRIPT}"
            )
        deadline = time.monotonic() + timeout
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self.logs_dir.mkdir(exist_ok=True)
            self.pki = pki.make_pki(self.state_dir / "pki", service_ip=SERVICE_IP)
            etcd_url = self._start_etcd(deadline)
            self._start_apiserver(etcd_url, deadline)
            write_kubeconfig(
                self.kubeconfig, self.server, self.pki.ca.cert, self.pki.admin, "admin"
            )
            self._start_controller_manager(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every component, newest first; safe to call more than once."""
        while self.components:
            component = self.components.pop()
            processes.stop(component.process, grace=10.0)

    def alive(self) -> list[str]:
        return [c.name for c in self.components if c.process.poll() is None]

    def log_paths(self) -> list[Path]:
        return sorted(self.logs_dir.glob("*.log"))

    def diagnostics(self, lines: int = 30) -> str:
        """The tail of every component log, for failure messages."""
        parts = [
            f"--- {path} (last {lines} lines) ---\n{processes.tail(path, lines)}"
            for path in self.log_paths()
        ]
        return "\n".join(parts)

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- components -------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> Component:
        log_path = self.logs_dir / f"{name}.log"
        process = processes.spawn(argv, log_path=log_path, cwd=self.state_dir, death_signal="TERM")
        component = Component(name, process, log_path)
        self.components.append(component)
        return component

    def _wait(
        self, component: Component, check: str, deadline: float, probe: ssl.SSLContext
    ) -> None:
        """Poll ``check`` (a URL) until it answers 200, the process dies, or time runs out."""
        processes.wait_ready(
            component.process, component.name, check, deadline, self.diagnostics,
            context=probe, interval=0.2,
        )  # fmt: skip

    def _start_etcd(self, deadline: float) -> str:
        client_port, peer_port = free_port(), free_port()
        client_url = f"http://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        etcd = etcd_binary() or "etcd"
        component = self._spawn(
            "etcd",
            [
                etcd,
                "--name=e2e",
                f"--data-dir={self.state_dir / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=e2e={peer_url}",
                "--initial-cluster-state=new",
                # A throwaway cluster: no fsync (etcd >= 3.5), the tests do not wait on the disk.
                "--unsafe-no-fsync",
            ],
        )
        self._wait(component, f"{client_url}/health", deadline, ssl.create_default_context())
        return client_url

    def _start_apiserver(self, etcd_url: str, deadline: float) -> None:
        assert self.pki is not None
        p = self.pki
        self.api_port = free_port()
        component = self._spawn(
            "kube-apiserver",
            [
                str(self.binaries / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.api_port}",
                f"--cert-dir={self.state_dir / 'apiserver'}",
                f"--tls-cert-file={p.apiserver.cert}",
                f"--tls-private-key-file={p.apiserver.key}",
                f"--client-ca-file={p.ca.cert}",
                f"--service-account-issuer={ISSUER}",
                f"--service-account-signing-key-file={p.service_account_key}",
                f"--service-account-key-file={p.service_account_pub}",
                f"--api-audiences={ISSUER}",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--kubelet-client-certificate={p.apiserver_kubelet_client.cert}",
                f"--kubelet-client-key={p.apiserver_kubelet_client.key}",
                "--kubelet-preferred-address-types=InternalIP",
                "--allow-privileged=true",
                # The lease reconciler would publish 127.0.0.1 as the endpoint of the kubernetes
                # Service, which Endpoints validation rejects (loopback); pods use KUBECONFIG.
                "--endpoint-reconciler-type=none",
                "--profiling=false",
                "--v=1",
            ],
        )
        probe = ssl.create_default_context(cafile=str(p.ca.cert))
        probe.load_cert_chain(str(p.admin.cert), str(p.admin.key))
        self._wait(component, f"{self.server}/readyz", deadline, probe)

    def _start_controller_manager(self, deadline: float) -> None:
        assert self.pki is not None
        p = self.pki
        kubeconfig = write_kubeconfig(
            self.state_dir / "controller-manager.kubeconfig",
            self.server,
            p.ca.cert,
            p.controller_manager,
            "system:kube-controller-manager",
        )
        port = free_port()
        component = self._spawn(
            "kube-controller-manager",
            [
                str(self.binaries / "kube-controller-manager"),
                f"--kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.state_dir / 'controller-manager'}",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={p.service_account_key}",
                f"--root-ca-file={p.ca.cert}",
                f"--cluster-signing-cert-file={p.ca.cert}",
                f"--cluster-signing-key-file={p.ca.key}",
                "--controllers=*",
                "--leader-elect=false",
                "--profiling=false",
                "--v=1",
            ],
        )
        probe = ssl.create_default_context()
        probe.check_hostname = False
        probe.verify_mode = ssl.CERT_NONE
        self._wait(component, f"https://127.0.0.1:{port}/healthz", deadline, probe)
