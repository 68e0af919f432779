"""The trial-kind controllers of the e2e tier: JobSet, Kubeflow Trainer and the training
operator (PyTorchJob), run for real.

``build-controllers.sh`` builds each manager from the Go module proxy into
``$TUNEOP_CACHE/<name>-<version>/bin`` with the release's CRDs in ``crds/`` (versions below).
``JobSet(cluster, state_dir).start()``, ``Trainer(...)`` and ``TrainingOperator(...)``
(each a ``Manager``, a ``processes.Managed``) apply those CRDs (server-side:
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
- **The training operator's PyTorchJob webhook is served and registered.** Its rotator
  (the same scheme, Secret ``training-operator-webhook-cert`` in ``kubeflow``) only waits
  for a certificate file in that directory; the harness puts its own ``127.0.0.1``
  certificate there before the manager starts, and registers the release's PyTorchJob
  webhook as JobSet's. Only the PyTorchJob scheme runs. Its workers' init container (by
  default an ``nslookup`` of the master, which no DNS here answers) comes from a template
  of the harness (``INIT_CONTAINER_TEMPLATE``, the operator's own flag for it).

Logs: ``STATE/logs/<name>.log``.
"""

from __future__ import annotations

import base64
import os
import shlex
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self

import yaml

from minicluster import processes, webhooks
from minicluster.controlplane import cache_root, free_port
from minicluster.harness import Cluster
from minicluster.kube import Json
from minicluster.webhooks import (
    UNSHARE,
    ServedWebhooks,
    in_own_mount_namespace,
    rotator_placeholders,
)

__all__ = [
    "ARGO_VERSION",
    "BUILD_SCRIPT",
    "JOBSET_API",
    "JOBSET_VERSION",
    "TEKTON_VERSION",
    "TRAINER_API",
    "TRAINER_VERSION",
    "TRAINING_OPERATOR_API",
    "TRAINING_OPERATOR_VERSION",
    "JobSet",
    "Manager",
    "Trainer",
    "TrainingOperator",
    "home",
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
TRAINER_NAMESPACE = "kubeflow-system"
TRAINER_SECRET = "kubeflow-trainer-webhook-cert"
TRAINING_OPERATOR_API = "/apis/kubeflow.org/v1"
# The training operator's rotator: its namespace (MY_POD_NAMESPACE's default), Secret and
# webhook configuration (the flags' and the binary's defaults).
TRAINING_OPERATOR_NAMESPACE = "kubeflow"
TRAINING_OPERATOR_SECRET = "training-operator-webhook-cert"
TRAINING_OPERATOR_WEBHOOKS = "validator.training-operator.kubeflow.org"
# Its init container for PyTorchJob workers, in the operator's own template format (the
# --pytorch-init-container-template-file flag): the default looks the master up in cluster
# DNS (`nslookup <job>-master-0`, 100 tries), which this tier does not have; the workers
# here rendezvous with the master over loopback in their own container instead.
INIT_CONTAINER_TEMPLATE = """\
- name: init-pytorch
  image: {{.InitContainerImage}}
  command: ['sh', '-c', 'echo "init-pytorch: {{.MasterAddr}} not looked up (no cluster DNS)"']
"""

# name -> (cache folder, binary): what build-controllers.sh leaves for each.
BUILT = {
    "jobset": (f"jobset-{JOBSET_VERSION}", "jobset"),
    "trainer": (f"trainer-{TRAINER_VERSION}", "trainer-controller-manager"),
    "training-operator": (f"training-operator-{TRAINING_OPERATOR_VERSION}", "training-operator"),
}
# Those whose webhooks are served and registered: their manifests are in webhooks/.
SERVED = ("jobset", "training-operator")


def home(name: str) -> Path:
    return cache_root() / BUILT[name][0]


def missing(name: str) -> str | None:
    """What is missing to run controller ``name`` here, or None."""
    folder, binary = BUILT[name]
    if not os.access(cache_root() / folder / "bin" / binary, os.X_OK):
        return f"{binary} ({cache_root() / folder / 'bin'})"
    for part in ("crds", "webhooks") if name in SERVED else ("crds",):
        if not (cache_root() / folder / part / ".ready").exists():
            return f"{name} {part} ({cache_root() / folder / part})"
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


class Manager(processes.Managed):
    """A controller manager process on ``cluster``, ready when its health probe answers."""

    name = "manager"

    def __init__(self, cluster: Cluster, state_dir: Path) -> None:
        super().__init__(state_dir)
        self.cluster = cluster

    def argv(self, health_port: int) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """CRDs, namespaces and files the manager needs before it starts."""

    def spawned(self, deadline: float) -> None:
        """What to do once the process runs, before it is ready."""

    def after_ready(self) -> None:
        """What to register once the manager serves (its webhooks)."""

    def start(self, timeout: float = 180.0) -> Self:
        deadline = time.monotonic() + timeout
        self.prepare()
        health = free_port()
        self.launch(
            self.argv(health), env={**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig)}
        )
        try:
            self.spawned(deadline)
            self.wait_ready(f"http://127.0.0.1:{health}/readyz", deadline)
            self.after_ready()
        except BaseException:
            self.stop()
            raise
        return self


class JobSet(Manager):
    """JobSet's controller manager, its JobSet webhooks served and registered."""

    name = "jobset"
    webhooks: ServedWebhooks | None = None

    def prepare(self) -> None:
        install_crds(self.cluster, sorted((home("jobset") / "crds").glob("*.yaml")))
        self.cluster.create_namespace("jobset-system", exist_ok=True)
        self.webhooks = ServedWebhooks(self.cluster, self.state_dir / "jobset", "jobset")

    def argv(self, health_port: int) -> list[str]:
        return [
            str(home("jobset") / "bin" / "jobset"),
            f"--config={self._write_config()}",
            "--metrics-bind-address=0",
            f"--health-probe-bind-address=127.0.0.1:{health_port}",
            "--leader-elect=false",
        ]

    def _write_config(self) -> Path:
        assert self.webhooks is not None
        hooks = self.webhooks
        config: dict[str, Any] = {
            "apiVersion": "config.jobset.x-k8s.io/v1alpha1",
            "kind": "Configuration",
            "internalCertManagement": {"enable": False},
            "webhook": {"port": hooks.port, "host": "127.0.0.1", "certDir": str(hooks.certs)},
            "leaderElection": {"leaderElect": False},
        }
        path = self.state_dir / "jobset" / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def after_ready(self) -> None:
        assert self.webhooks is not None
        manifests = home("jobset") / "webhooks" / "manifests.yaml"
        self.webhooks.register(manifests, "jobsets", time.monotonic() + 60)

    def stop(self) -> None:
        if self.webhooks is not None:
            self.webhooks.unregister()
        super().stop()


class Trainer(Manager):
    """Kubeflow Trainer's controller manager (TrainJob over JobSet), its webhook unregistered."""

    name = "trainer"

    def prepare(self) -> None:
        install_crds(self.cluster, sorted((home("trainer") / "crds").glob("*.yaml")))
        rotator_placeholders(
            self.cluster, TRAINER_NAMESPACE, TRAINER_SECRET, "validator.trainer.kubeflow.org"
        )

    def argv(self, health_port: int) -> list[str]:
        return in_own_mount_namespace(
            [
                str(home("trainer") / "bin" / "trainer-controller-manager"),
                "--metrics-bind-address=0",
                f"--health-probe-bind-address=127.0.0.1:{health_port}",
                "--leader-elect=false",
                f"--webhook-server-port={free_port()}",
            ]
        )

    def spawned(self, deadline: float) -> None:
        """Play the kubelet's Secret volume: the rotator writes its certificate into the
        Secret ``kubeflow-trainer-webhook-cert`` and waits for it to appear in its cert dir,
        the tmpfs of the manager's mount namespace (reached through ``/proc/PID/root``)."""
        threading.Thread(target=self._mount_certs, args=(deadline,), daemon=True).start()

    def _mount_certs(self, deadline: float) -> None:
        secret = f"/api/v1/namespaces/{TRAINER_NAMESPACE}/secrets/{TRAINER_SECRET}"
        while time.monotonic() < deadline and self.process is not None:
            data = (self.cluster.kube.get_or_none(secret) or {}).get("data") or {}
            if data.get("tls.crt") and data.get("tls.key"):
                root = Path(f"/proc/{self.process.pid}/root")
                certs = root / str(webhooks.ROTATOR_CERT_DIR).lstrip("/") / "serving-certs"
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


class TrainingOperator(Manager):
    """The training operator (PyTorchJob only), its PyTorchJob webhook served and registered."""

    name = "training-operator"
    webhooks: ServedWebhooks | None = None

    def prepare(self) -> None:
        install_crds(self.cluster, sorted((home(self.name) / "crds").glob("*.yaml")))
        rotator_placeholders(
            self.cluster,
            TRAINING_OPERATOR_NAMESPACE,
            TRAINING_OPERATOR_SECRET,
            TRAINING_OPERATOR_WEBHOOKS,
        )
        directory = self.state_dir / self.name
        self.webhooks = ServedWebhooks(self.cluster, directory, self.name)
        self.init_template = directory / "init-container.yaml"
        self.init_template.write_text(INIT_CONTAINER_TEMPLATE)

    def argv(self, health_port: int) -> list[str]:
        assert self.webhooks is not None
        # The rotator only waits for a certificate file in its directory and never reads
        # it; the webhook server serves what is there: the harness's, for 127.0.0.1.
        serving = webhooks.ROTATOR_CERT_DIR / "serving-certs"
        certs = " ".join(shlex.quote(str(self.webhooks.certs / f)) for f in ("tls.crt", "tls.key"))
        return in_own_mount_namespace(
            [
                str(home(self.name) / "bin" / "training-operator"),
                "--enable-scheme=pytorchjob",
                "--metrics-bind-address=0",
                f"--health-probe-bind-address=127.0.0.1:{health_port}",
                "--leader-elect=false",
                f"--webhook-server-port={self.webhooks.port}",
                f"--pytorch-init-container-template-file={self.init_template}",
            ],
            then=f"mkdir -p {serving} && cp {certs} {serving}/ && ",
        )

    def after_ready(self) -> None:
        assert self.webhooks is not None
        manifests = home(self.name) / "webhooks" / "manifests.yaml"
        self.webhooks.register(manifests, "pytorchjobs", time.monotonic() + 60)

    def stop(self) -> None:
        if self.webhooks is not None:
            self.webhooks.unregister()
        super().stop()
