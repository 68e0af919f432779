"""The trial-kind controllers of the e2e tier: JobSet and Kubeflow Trainer, run for real.

``build-controllers.sh`` builds each manager from the Go module proxy into
``$TUNEOP_CACHE/<name>-<version>/bin`` with the release's CRDs in ``crds/`` (versions below).
``JobSet(cluster, state_dir).start()`` and ``Trainer(...)`` apply those CRDs (server-side:
they are past kubectl's last-applied annotation) and run the manager as a local process with
the cluster's admin kubeconfig, no leader election, metrics off, the health probe on a free
loopback port:

- **JobSet's webhooks are served and registered.** Without its defaulting webhook a JobSet
  lacks the defaults its controller relies on (success policy, completion mode, DNS
  hostnames). Internal certificate management is off; the harness issues the webhook
  server a certificate for ``127.0.0.1`` from a CA of its own, and registers JobSet's own
  Mutating/ValidatingWebhookConfigurations (``webhooks/manifests.yaml`` of the release)
  with ``clientConfig.url: https://127.0.0.1:<port>/<path>`` and that CA as ``caBundle``: the
  API server reaches the webhook over TLS with no Service. Only the JobSet webhooks are
  registered, not its pod webhooks (exclusive placement only, and a cluster-wide pod
  webhook would stall every pod of the tier whenever the manager is down).
- **Trainer's webhook is not registered.** Its manager always rotates its own certificate
  for ``<service>.<namespace>.svc``, a name the API server cannot reach here; the webhook
  only validates TrainJobs and runtimes, and the TrainJob controller works without it.
  The rotator fills the Secret ``kubeflow-trainer-webhook-cert`` (created empty, as
  Trainer's manifests do, with an empty ``validator.trainer.kubeflow.org`` for its CA
  injection) and waits for a kubelet to mount it at the fixed path
  ``/tmp/k8s-webhook-server/serving-certs``: the manager runs in a mount namespace of its
  own (util-linux ``unshare --mount``) with a tmpfs there, and the harness writes the
  Secret's files into it through ``/proc/PID/root`` (nothing on the host is written, and
  two test runs do not share it).
  Trainer needs JobSet running (a TrainJob becomes a JobSet).

Logs: ``STATE/logs/<name>.log``.
"""

from __future__ import annotations

import base64
import os
import shlex
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from minicluster import pki, processes
from minicluster.controlplane import ClusterError, cache_root, free_port
from minicluster.harness import Cluster
from minicluster.kube import Json

__all__ = [
    "ARGO_VERSION",
    "BUILD_SCRIPT",
    "JOBSET_API",
    "JOBSET_VERSION",
    "TEKTON_VERSION",
    "TRAINER_API",
    "TRAINER_VERSION",
    "TRAINING_OPERATOR_VERSION",
    "JobSet",
    "Manager",
    "Trainer",
    "install_crds",
    "missing",
]

JOBSET_VERSION = "0.8.2"
TRAINER_VERSION = "2.0.0"
ARGO_VERSION = "3.6.2"
TEKTON_VERSION = "1.0.0"
TRAINING_OPERATOR_VERSION = "1.9.2"
JOBSET_API = "/apis/jobset.x-k8s.io/v1alpha2"
TRAINER_API = "/apis/trainer.kubeflow.org/v1alpha1"
BUILD_SCRIPT = Path(__file__).resolve().parent / "build-controllers.sh"
UNSHARE = shutil.which("unshare")
TRAINER_CERT_DIR = Path("/tmp/k8s-webhook-server")
TRAINER_NAMESPACE = "kubeflow-system"

# name -> (cache folder, binary): what build-controllers.sh leaves for each.
BUILT = {
    "jobset": (f"jobset-{JOBSET_VERSION}", "jobset"),
    "trainer": (f"trainer-{TRAINER_VERSION}", "trainer-controller-manager"),
    "training-operator": (f"training-operator-{TRAINING_OPERATOR_VERSION}", "training-operator"),
}


def home(name: str) -> Path:
    return cache_root() / BUILT[name][0]


def missing(name: str) -> str | None:
    """What is missing to run controller ``name`` here, or None."""
    folder, binary = BUILT[name]
    if not os.access(cache_root() / folder / "bin" / binary, os.X_OK):
        return f"{binary} ({cache_root() / folder / 'bin'})"
    if not (cache_root() / folder / "crds" / ".ready").exists():
        return f"{name} CRDs ({cache_root() / folder / 'crds'})"
    if UNSHARE is None:
        return "util-linux unshare"
    return None


def install_crds(
    cluster: Cluster,
    paths: Sequence[Path],
    timeout: float = 120.0,
    edit: Callable[[Json], Json] = lambda crd: crd,
) -> list[str]:
    """Apply CRD files server-side (``edit`` may change each first); wait until Established."""
    docs = [edit(d) for path in paths for d in yaml.safe_load_all(path.read_text()) if d]
    text = "\n".join(yaml.safe_dump(d) + "---" for d in docs)
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", input=text, timeout=timeout
    )
    names = [d["metadata"]["name"] for d in docs]
    deadline = time.monotonic() + timeout
    for name in names:
        crd_path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"

        def established(crd_path: str = crd_path) -> bool:
            conds = (cluster.kube.get(crd_path).get("status") or {}).get("conditions")
            return any(
                c.get("type") == "Established" and c.get("status") == "True" for c in conds or []
            )

        remaining = max(deadline - time.monotonic(), 1.0)
        cluster.wait_for(f"CRD {name} Established", established, timeout=remaining)
    return names


class Manager:
    """A controller manager process on ``cluster``, ready when its health probe answers."""

    name = "manager"

    def __init__(self, cluster: Cluster, state_dir: Path) -> None:
        self.cluster = cluster
        self.state_dir = state_dir.resolve()
        self.log_path = self.state_dir / "logs" / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def argv(self, health_port: int) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """CRDs, namespaces and files the manager needs before it starts."""

    def spawned(self, deadline: float) -> None:
        """What to do once the process runs, before it is ready."""

    def after_ready(self) -> None:
        """What to register once the manager serves (its webhooks)."""

    def start(self, timeout: float = 180.0) -> Manager:
        deadline = time.monotonic() + timeout
        self.prepare()
        health = free_port()
        self.process = processes.spawn(
            self.argv(health),
            log_path=self.log_path,
            env={**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig)},
            cwd=self.state_dir,
            death_signal="TERM",
        )
        try:
            self.spawned(deadline)
            self._wait_ready(f"http://127.0.0.1:{health}/readyz", deadline)
            self.after_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None:
            processes.stop(self.process, grace=10.0)
            self.process = None

    def tail(self, lines: int = 40) -> str:
        return processes.tail(self.log_path, lines)

    def __enter__(self) -> Manager:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_ready(self, url: str, deadline: float) -> None:
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = self.process.returncode if self.process is not None else None
                raise ClusterError(f"{self.name} exited with {code}\n{self.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    if answer.status == 200:
                        return
                    last = f"HTTP {answer.status}"
            except urllib.error.HTTPError as error:
                last = f"HTTP {error.code}"
            except OSError as error:
                last = str(error)
            time.sleep(0.5)
        raise ClusterError(f"{self.name} not ready at {url}: {last}\n{self.tail()}")


class JobSet(Manager):
    """JobSet's controller manager, its JobSet webhooks served and registered."""

    name = "jobset"

    def __init__(self, cluster: Cluster, state_dir: Path) -> None:
        super().__init__(cluster, state_dir)
        self.webhook_port = free_port()
        self.ca: pki.KeyPair | None = None
        self.registered: list[str] = []

    def prepare(self) -> None:
        install_crds(self.cluster, sorted((home("jobset") / "crds").glob("*.yaml")))
        self.cluster.create_namespace("jobset-system")

    def argv(self, health_port: int) -> list[str]:
        return [
            str(home("jobset") / "bin" / "jobset"),
            f"--config={self._write_config()}",
            "--metrics-bind-address=0",
            f"--health-probe-bind-address=127.0.0.1:{health_port}",
            "--leader-elect=false",
        ]

    def _write_config(self) -> Path:
        directory = self.state_dir / "jobset"
        certs = directory / "webhook-certs"
        self.ca = pki.make_ca(directory / "ca", "jobset-webhook-ca")
        pair = pki.issue(
            self.ca, directory / "ca", "webhook", "jobset-webhook", server=True,
            ip_addresses=("127.0.0.1",),
        )  # fmt: skip
        certs.mkdir(parents=True, exist_ok=True)
        shutil.copy(pair.cert, certs / "tls.crt")
        shutil.copy(pair.key, certs / "tls.key")
        config: dict[str, Any] = {
            "apiVersion": "config.jobset.x-k8s.io/v1alpha1",
            "kind": "Configuration",
            "internalCertManagement": {"enable": False},
            "webhook": {"port": self.webhook_port, "host": "127.0.0.1", "certDir": str(certs)},
            "leaderElection": {"leaderElect": False},
        }
        path = directory / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def after_ready(self) -> None:
        assert self.ca is not None
        bundle = base64.b64encode(self.ca.cert.read_bytes()).decode()
        manifests = home("jobset") / "webhooks" / "manifests.yaml"
        for doc in yaml.safe_load_all(manifests.read_text()):
            if not doc:
                continue
            hooks = [w for w in doc["webhooks"] if _for_jobsets(w)]
            for hook in hooks:
                path = hook["clientConfig"]["service"]["path"]
                hook["clientConfig"] = {
                    "url": f"https://127.0.0.1:{self.webhook_port}{path}",
                    "caBundle": bundle,
                }
            name = f"tuneop-e2e-jobset-{doc['kind'].lower()}"
            body = {**doc, "metadata": {"name": name}, "webhooks": hooks}
            plural = "mutatingwebhookconfigurations"
            if doc["kind"] == "ValidatingWebhookConfiguration":
                plural = "validatingwebhookconfigurations"
            api = f"/apis/admissionregistration.k8s.io/v1/{plural}"
            self.cluster.kube.delete(f"{api}/{name}")
            self.cluster.kube.post(api, body)
            self.registered.append(f"{api}/{name}")

    def stop(self) -> None:
        # Webhooks whose server is gone would refuse every JobSet write (failurePolicy Fail).
        for path in self.registered:
            self.cluster.kube.delete(path)
        self.registered.clear()
        super().stop()


def _for_jobsets(webhook: Json) -> bool:
    return any("jobsets" in rule.get("resources", []) for rule in webhook.get("rules", []))


class Trainer(Manager):
    """Kubeflow Trainer's controller manager (TrainJob over JobSet), its webhook unregistered."""

    name = "trainer"

    def prepare(self) -> None:
        install_crds(self.cluster, sorted((home("trainer") / "crds").glob("*.yaml")))
        self.cluster.create_namespace(TRAINER_NAMESPACE)
        # What Trainer's install manifests ship for its certificate rotator: the (empty)
        # Secret it fills, and the webhook configuration it injects its CA into, here
        # with no webhooks at all (see the module's docstring).
        kube = self.cluster.kube
        secrets = f"/api/v1/namespaces/{TRAINER_NAMESPACE}/secrets"
        if kube.get_or_none(f"{secrets}/kubeflow-trainer-webhook-cert") is None:
            kube.post(secrets, {"metadata": {"name": "kubeflow-trainer-webhook-cert"}})
        hooks = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
        if kube.get_or_none(f"{hooks}/validator.trainer.kubeflow.org") is None:
            kube.post(hooks, {"metadata": {"name": "validator.trainer.kubeflow.org"}})
        # The mount point of the tmpfs that hides the rotator's fixed certificate path.
        TRAINER_CERT_DIR.mkdir(parents=True, exist_ok=True)

    def argv(self, health_port: int) -> list[str]:
        manager = " ".join(
            shlex.quote(a)
            for a in (
                str(home("trainer") / "bin" / "trainer-controller-manager"),
                "--metrics-bind-address=0",
                f"--health-probe-bind-address=127.0.0.1:{health_port}",
                "--leader-elect=false",
                f"--webhook-server-port={free_port()}",
            )
        )
        script = f"mount -t tmpfs tmpfs {TRAINER_CERT_DIR} && exec {manager}"
        assert UNSHARE is not None
        return [UNSHARE, "--mount", "--propagation", "private", "--", "sh", "-c", script]

    def spawned(self, deadline: float) -> None:
        """Play the kubelet's Secret volume: the rotator writes its certificate into the
        Secret ``kubeflow-trainer-webhook-cert`` and waits for it to appear in its cert dir,
        the tmpfs of the manager's mount namespace (reached through ``/proc/PID/root``)."""
        threading.Thread(target=self._mount_certs, args=(deadline,), daemon=True).start()

    def _mount_certs(self, deadline: float) -> None:
        secret = f"/api/v1/namespaces/{TRAINER_NAMESPACE}/secrets/kubeflow-trainer-webhook-cert"
        while time.monotonic() < deadline and self.process is not None:
            data = (self.cluster.kube.get_or_none(secret) or {}).get("data") or {}
            if data.get("tls.crt") and data.get("tls.key"):
                root = Path(f"/proc/{self.process.pid}/root")
                certs = root / str(TRAINER_CERT_DIR).lstrip("/") / "serving-certs"
                try:
                    certs.mkdir(parents=True, exist_ok=True)
                    for key in ("tls.crt", "tls.key", "ca.crt"):
                        if data.get(key):
                            (certs / key).write_bytes(base64.b64decode(data[key]))
                    return
                except OSError:
                    pass  # the tmpfs is not mounted yet
            time.sleep(0.5)

    def runtime(self, name: str, containers: list[Json], num_nodes: int = 1) -> None:
        """A ClusterTrainingRuntime ``name``: one replicated Job ``node`` (Trainer's own
        layout: the TrainJob's trainer fills the container ``node``), without an ML policy
        (Trainer's plain runtime: no torchrun environment)."""
        body = {
            "apiVersion": "trainer.kubeflow.org/v1alpha1",
            "kind": "ClusterTrainingRuntime",
            "metadata": {"name": name},
            "spec": {
                "mlPolicy": {"numNodes": num_nodes},
                "template": {
                    "spec": {
                        "replicatedJobs": [
                            {
                                "name": "node",
                                "template": {
                                    "metadata": {
                                        "labels": {
                                            "trainer.kubeflow.org/trainjob-ancestor-step": (
                                                "trainer"
                                            )
                                        }
                                    },
                                    "spec": {
                                        "template": {
                                            "spec": {
                                                "restartPolicy": "Never",
                                                "containers": containers,
                                            }
                                        }
                                    },
                                },
                            }
                        ]
                    }
                },
            },
        }
        api = f"{TRAINER_API}/clustertrainingruntimes"
        self.cluster.kube.delete(f"{api}/{name}")
        self.cluster.kube.post(api, body)
