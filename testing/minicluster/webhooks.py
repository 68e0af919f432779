"""Admission webhooks of the real controllers, served on loopback, and their certificates.

The API server of the e2e tier reaches no Service, so a manager's webhooks are served on
``127.0.0.1:<port>`` with a certificate for that address from a CA of the harness, and the
release's own webhook configurations are registered with ``clientConfig.url`` and that CA
as ``caBundle`` (``ServedWebhooks``), or not at all.

Kubeflow's managers (Trainer, the training operator) run a certificate rotator instead of
reading a configured directory: it fills a Secret with a certificate for
``<service>.<namespace>.svc``, injects its CA into a named ValidatingWebhookConfiguration,
and then waits until a kubelet has mounted that Secret at the fixed path
``/tmp/k8s-webhook-server/serving-certs``. ``rotator_placeholders`` creates the empty Secret
and configuration it expects; ``in_own_mount_namespace`` runs the manager in a mount
namespace of its own (util-linux ``unshare --mount``) with a tmpfs on that path, so nothing
on the host is written and two runs do not share it; the caller fills it.
"""

from __future__ import annotations

import base64
import shlex
import shutil
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import yaml

from minicluster import pki
from minicluster.controlplane import free_port
from minicluster.harness import Cluster
from minicluster.kube import Json
from minicluster.processes import ClusterError

__all__ = [
    "ROTATOR_CERT_DIR",
    "UNSHARE",
    "ServedWebhooks",
    "in_own_mount_namespace",
    "rotator_placeholders",
]

UNSHARE = shutil.which("unshare")
# Where Kubeflow's certificate rotators wait for their certificates (a fixed path).
ROTATOR_CERT_DIR = Path("/tmp/k8s-webhook-server")


class ServedWebhooks:
    """Webhooks of a release's manifests, served by a manager on ``127.0.0.1:port`` with a
    certificate from a CA of the harness, registered in the API server by URL."""

    def __init__(self, cluster: Cluster, directory: Path, name: str) -> None:
        self.cluster, self.name = cluster, name
        self.port = free_port()
        self.ca = pki.make_ca(directory / "ca", f"{name}-webhook-ca")
        pair = pki.issue(
            self.ca, directory / "ca", "webhook", f"{name}-webhook", server=True,
            ip_addresses=("127.0.0.1",),
        )  # fmt: skip
        self.certs = directory / "webhook-certs"
        self.certs.mkdir(parents=True, exist_ok=True)
        shutil.copy(pair.cert, self.certs / "tls.crt")
        shutil.copy(pair.key, self.certs / "tls.key")
        self.registered: list[str] = []

    def register(self, manifests: Path, resource: str, deadline: float) -> None:
        """Register the webhooks of ``manifests`` whose rules name ``resource``, once the
        manager answers on each path (an unregistered path is a 404: a refused write)."""
        bundle = base64.b64encode(self.ca.cert.read_bytes()).decode()
        for doc in yaml.safe_load_all(manifests.read_text()):
            hooks = [w for w in (doc or {}).get("webhooks", []) if _names(w, resource)]
            if not hooks:
                continue
            for hook in hooks:
                url = f"https://127.0.0.1:{self.port}{hook['clientConfig']['service']['path']}"
                self._wait_served(url, deadline)
                hook["clientConfig"] = {"url": url, "caBundle": bundle}
            name = f"tuneop-e2e-{self.name}-{doc['kind'].lower()}"
            body = {**doc, "metadata": {"name": name}, "webhooks": hooks}
            plural = "mutatingwebhookconfigurations"
            if doc["kind"] == "ValidatingWebhookConfiguration":
                plural = "validatingwebhookconfigurations"
            api = f"/apis/admissionregistration.k8s.io/v1/{plural}"
            self.cluster.kube.delete(f"{api}/{name}")
            self.cluster.kube.post(api, body)
            self.registered.append(f"{api}/{name}")

    def unregister(self) -> None:
        # Webhooks whose server is gone would refuse every write (failurePolicy Fail).
        for path in self.registered:
            self.cluster.kube.delete(path)
        self.registered.clear()

    def _wait_served(self, url: str, deadline: float) -> None:
        context = ssl.create_default_context(cafile=str(self.ca.cert))
        request = urllib.request.Request(url, data=b"{}", method="POST")
        request.add_header("Content-Type", "application/json")
        while True:
            try:
                with urllib.request.urlopen(request, context=context, timeout=5):
                    return
            except urllib.error.HTTPError as error:
                if error.code != 404:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ClusterError(f"{self.name}: no webhook served at {url}")
            time.sleep(0.3)


def _names(webhook: Json, resource: str) -> bool:
    return any(resource in rule.get("resources", []) for rule in webhook.get("rules", []))


def rotator_placeholders(cluster: Cluster, namespace: str, secret: str, webhooks: str) -> None:
    """What a Kubeflow manager's certificate rotator reads (as its install manifests ship
    them): the empty Secret it fills, and an empty ValidatingWebhookConfiguration it injects
    its CA into (its own webhooks are registered otherwise, or not at all)."""
    cluster.create_namespace(namespace, exist_ok=True)
    kube = cluster.kube
    secrets = f"/api/v1/namespaces/{namespace}/secrets"
    if kube.get_or_none(f"{secrets}/{secret}") is None:
        kube.post(secrets, {"metadata": {"name": secret}})
    hooks = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
    if kube.get_or_none(f"{hooks}/{webhooks}") is None:
        kube.post(hooks, {"metadata": {"name": webhooks}})
    # The mount point of the tmpfs that hides the rotator's fixed certificate path.
    ROTATOR_CERT_DIR.mkdir(parents=True, exist_ok=True)


def in_own_mount_namespace(argv: Sequence[str], then: str = "") -> list[str]:
    """``argv`` run in a mount namespace of its own with a tmpfs on ROTATOR_CERT_DIR
    (``then``: shell commands run there first)."""
    command = " ".join(shlex.quote(a) for a in argv)
    script = f"mount -t tmpfs tmpfs {ROTATOR_CERT_DIR} && {then}exec {command}"
    assert UNSHARE is not None
    return [UNSHARE, "--mount", "--propagation", "private", "--", "sh", "-c", script]
