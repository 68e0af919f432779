"""Katib v0.19.0 beside the bench cluster: its PostgreSQL, DB manager and controller.

Each piece runs as a local process, the way the e2e harness runs the control plane; what a
real cluster would give them and this one lacks is bridged here, never in Katib (see
README.md, "Bridges"):

* ``Postgres``: Debian's PostgreSQL 15 in a fresh data directory, as the ``postgres`` user
  (the server refuses root), on a free loopback port; Katib's database ``katib``.
* ``DbManager``: ``katib-db-manager`` with ``DB_NAME=postgres``. Katib's clients dial
  ``katib-db-manager.kubeflow:6789``; the suggestion service also listens on 6789 and all
  of it shares one host, so the DB manager listens on ``127.0.0.1:16789`` instead and the
  controller is told that port (``KATIB_DB_MANAGER_SERVICE_PORT``, Katib's own setting).
* ``KatibController``: ``katib-controller`` with a KatibConfig file, in a private mount
  namespace (``unshare -m``) in which ``/etc/hosts`` maps the DB manager's and each
  suggestion Service's DNS name to 127.0.0.1 (there is no cluster DNS) and ``/tmp/cert``
  (Katib's fixed webhook certificate directory) is this run's directory. Its webhooks are
  registered by URL (``https://127.0.0.1:PORT/...``) with a self-signed certificate, since
  the API server cannot reach a Service here; Katib's own certificate generator is off.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.katib.experiment import KATIB_HOME, python_path
from minicluster import processes
from minicluster.redis_server import free_port

__all__ = [
    "DB_MANAGER_PORT",
    "KATIB_USER",
    "SUGGESTION_PORT",
    "DbManager",
    "Postgres",
    "suggestion_host",
]

KATIB_USER = "system:serviceaccount:kubeflow:katib-controller"
DB_MANAGER_PORT = 16789
SUGGESTION_PORT = 6789  # Katib's constant: the controller dials each suggestion Service there
HYPEROPT_MAIN = "cmd/suggestion/hyperopt/v1beta1/main.py"
SUGGESTION_IMAGE = "ghcr.io/kubeflow/katib/suggestion-hyperopt:v0.19.0"
COLLECTOR_IMAGE = "ghcr.io/kubeflow/katib/file-metrics-collector:v0.19.0"


def suggestion_host(experiment: str, algorithm: str, namespace: str) -> str:
    """The suggestion Service's DNS name the controller dials (util.GetAlgorithmEndpoint)."""
    return f"{experiment}-{algorithm}.{namespace}"


def wait_port(port: int, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited {process.returncode}:\n{processes.tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{what} did not listen on {port}:\n{processes.tail(log)}")


class Postgres:
    """A throw-away PostgreSQL server with a superuser and database ``katib`` (trust auth)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.log = directory.parent / "logs" / "postgres.log"
        self.process: subprocess.Popen[bytes] | None = None

    def _as_postgres(self, *argv: str) -> list[str]:
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", *argv]

    def start(self) -> Postgres:
        bindir = Path(shutil.which("initdb") or "/usr/lib/postgresql/15/bin/initdb").parent
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        shutil.chown(self.directory, "postgres", "postgres")
        subprocess.run(
            self._as_postgres(str(bindir / "initdb"), "-D", str(self.directory), "-U", "katib",
                              "--auth=trust", "-E", "UTF8"),
            check=True, capture_output=True,
        )  # fmt: skip
        argv = self._as_postgres(
            str(bindir / "postgres"), "-D", str(self.directory), "-p", str(self.port),
            "-h", "127.0.0.1", "-k", str(self.directory),
        )  # fmt: skip
        self.process = processes.spawn(argv, log_path=self.log)
        wait_port(self.port, self.process, "postgres", self.log)
        deadline = time.monotonic() + 60
        while True:
            made = subprocess.run(
                ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "katib", "-d", "postgres",
                 "-c", "CREATE DATABASE katib"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if made.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if made.returncode != 0:
            raise RuntimeError(f"could not create database katib: {made.stderr}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            processes.stop(self.process)


class DbManager:
    """``katib-db-manager`` on 127.0.0.1:16789 against ``Postgres``."""

    def __init__(self, state: Path, db: Postgres) -> None:
        self.db = db
        self.log = state / "logs" / "katib-db-manager.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> DbManager:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "DB_NAME": "postgres",
            "DB_USER": "katib",
            "DB_PASSWORD": "",
            "KATIB_POSTGRESQL_DB_HOST": "127.0.0.1",
            "KATIB_POSTGRESQL_DB_PORT": str(self.db.port),
            "KATIB_POSTGRESQL_DB_DATABASE": "katib",
        }
        argv = [str(KATIB_HOME / "bin" / "katib-db-manager"),
                f"--listen-address=127.0.0.1:{DB_MANAGER_PORT}"]  # fmt: skip
        self.process = processes.spawn(argv, log_path=self.log, env=env)
        wait_port(DB_MANAGER_PORT, self.process, "katib-db-manager", self.log)
        return self

    def stop(self) -> None:
        if self.process is not None:
            processes.stop(self.process)


def katib_config(webhook_port: int, suggestion_command: list[str]) -> dict[str, Any]:
    """The KatibConfig: Jobs as trials, the hyperopt service's command (no image runs here)."""
    suggestion = {
        "image": SUGGESTION_IMAGE,
        "command": suggestion_command,
        "env": [
            {"name": "PYTHONPATH", "value": python_path()},
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
        ],
    }
    return {
        "apiVersion": "config.kubeflow.org/v1beta1",
        "kind": "KatibConfig",
        "init": {
            "certGenerator": {"enable": False},
            "controller": {
                "webhookPort": webhook_port,
                "trialResources": ["Job.v1.batch"],
                "metricsAddr": "127.0.0.1:0",
                "healthzAddr": "127.0.0.1:0",
            },
        },
        "runtime": {
            "metricsCollectors": [
                {"kind": "StdOut", "image": COLLECTOR_IMAGE},
            ],
            "suggestions": [{"algorithmName": name, **suggestion} for name in ("random", "tpe")],
        },
    }


def webhook_configs(port: int, ca_bundle: str) -> list[dict[str, Any]]:
    """Katib's two webhook configurations (manifests/v1beta1/components/webhook), by URL."""
    base = f"https://127.0.0.1:{port}"

    def hook(name: str, path: str, resource: str, group: str, ops: list[str]) -> dict[str, Any]:
        return {
            "name": name,
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "clientConfig": {"url": base + path, "caBundle": ca_bundle},
            "rules": [{"apiGroups": [group], "apiVersions": ["v1beta1" if group else "v1"],
                       "operations": ops, "resources": [resource]}],
        }  # fmt: skip

    validating = hook("validator.experiment.katib.kubeflow.org", "/validate-experiment",
                      "experiments", "kubeflow.org", ["CREATE", "UPDATE"])  # fmt: skip
    defaulting = hook("defaulter.experiment.katib.kubeflow.org", "/mutate-experiment",
                      "experiments", "kubeflow.org", ["CREATE", "UPDATE"])  # fmt: skip
    pods = hook("mutator.pod.katib.kubeflow.org", "/mutate-pod", "pods", "", ["CREATE"])
    pods["namespaceSelector"] = {
        "matchLabels": {"katib.kubeflow.org/metrics-collector-injection": "enabled"}
    }
    exclude = f'request.userInfo.username != "{KATIB_USER}"'
    pods["matchConditions"] = [{"name": "exclude-katib-controller", "expression": exclude}]
    meta = {"name": "katib.kubeflow.org"}
    return [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": meta, "webhooks": [validating]},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
         "metadata": meta, "webhooks": [defaulting, pods]},
    ]  # fmt: skip
