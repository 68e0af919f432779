"""spec.template on a real control plane: a training pod as Kubernetes knows it.

The session's pod takes credentials from a Secret (``envFrom`` and ``valueFrom``), reads a
ConfigMap volume, a file an init container wrote into a shared emptyDir, and a flag a native
sidecar wrote; the trial is a plain script in Katib's StdOut format with its param in
``args``. A template with an unknown field fails as InvalidSpec, naming its path.
"""

from __future__ import annotations

import base64
from typing import Any

from minicluster.kube import Json
from tests.e2e.operator_support import (
    Served,
    apply,
    condition,
    served_module,
    session_jobs,
    session_manifest,
)

NAMESPACES = ("templates",)
# Mount points under /run (a tmpfs): the node simulator creates missing ones on the host.
MNT = "/run/tuneop-e2e-template"

TRIAL = f"""
import json, os, pathlib, sys
x = float(sys.argv[1].removeprefix("--x="))
assert os.environ["TOKEN"] == "s3cret", "valueFrom secretKeyRef"
assert os.environ["API_KEY"] == "k3y", "envFrom secretRef"
assert pathlib.Path("{MNT}/shared/sidecar-up").exists(), "the native sidecar runs"
params = json.loads(pathlib.Path(os.environ["TUNEOP_PARAMS_FILE"]).read_text())
assert params["x"] == x, "the params file and args agree"
seed = float(pathlib.Path("{MNT}/shared/seed").read_text())
offset = float(pathlib.Path("{MNT}/config/offset").read_text())
print(f"epoch 1: loss={{abs(x - seed) + offset + 10}}")
print(f"epoch 2: loss={{abs(x - seed) + offset}}", flush=True)
"""
SIDECAR = f"""
import pathlib, time
pathlib.Path("{MNT}/shared/sidecar-up").write_text("1")
while True:
    time.sleep(1)
"""


def template() -> Json:
    shared = {"name": "shared", "mountPath": f"{MNT}/shared"}
    return {
        "metadata": {"labels": {"team": "ml"}},
        "spec": {
            "initContainers": [
                {
                    "name": "prepare",
                    "image": "busybox",
                    "command": ["python", "-c", f"open('{MNT}/shared/seed', 'w').write('2')"],
                    "volumeMounts": [shared],
                },
                {
                    "name": "heartbeat",
                    "image": "busybox",
                    "restartPolicy": "Always",
                    "command": ["python", "-c", SIDECAR],
                    "volumeMounts": [shared],
                },
            ],
            "containers": [
                {
                    "name": "trial",
                    "image": "python:3.11",
                    "command": ["python", "-c", TRIAL, "--x=${params.x}"],
                    "envFrom": [{"secretRef": {"name": "creds"}}],
                    "env": [
                        {
                            "name": "TOKEN",
                            "valueFrom": {"secretKeyRef": {"name": "creds", "key": "TOKEN"}},
                        }
                    ],
                    "volumeMounts": [
                        shared,
                        {"name": "config", "mountPath": f"{MNT}/config", "readOnly": True},
                    ],
                }
            ],
            "volumes": [
                {"name": "shared", "emptyDir": {}},
                {"name": "config", "configMap": {"name": "settings"}},
            ],
        },
    }


def templated_session(name: str, tmpl: Json, **spec: Any) -> Json:
    return session_manifest(
        name,
        objective={"metric": "loss", "direction": "minimize"},
        trials=[{"x": 1}, {"x": 2}, {"x": 3}],
        metricsCollector={"kind": "StdOut"},
        trialTimeoutSeconds=60,
        maxParallel=3,
        template=tmpl,
        **spec,
    )


def secret_and_configmap(namespace: str) -> list[Json]:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds"},
        "data": {"TOKEN": b64("s3cret"), "API_KEY": b64("k3y")},
    }
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings"},
        "data": {"offset": "0.5"},
    }
    return [secret, config]


served = served_module(*NAMESPACES)


def test_a_template_with_secrets_volumes_init_and_sidecar_completes(served: Served) -> None:
    ns = served.ns("templates")
    apply(served.cluster, ns, *secret_and_configmap(ns), templated_session("pod", template()))

    status = served.wait_phase(ns, "pod", "Succeeded", "Failed", timeout=180)["status"]

    why = served.explain(ns, "pod")
    assert status["phase"] == "Succeeded", why
    assert status["trials"]["succeeded"] == 3, why
    assert status["best"]["params"] == {"x": 2}, why
    assert status["best"]["value"] == 0.5, why  # the ConfigMap's offset, the latest loss


def test_a_template_with_an_unknown_field_fails_naming_its_path(served: Served) -> None:
    ns = served.ns("templates")
    tmpl = template()
    tmpl["spec"]["containers"][0]["volumeMount"] = []
    apply(served.cluster, ns, templated_session("typo", tmpl))

    status = served.wait_phase(ns, "typo", "Failed", "Succeeded", "Running")["status"]

    why = served.explain(ns, "typo")
    failed = condition(status, "Failed") or {}
    assert (failed.get("status"), failed.get("reason")) == ("True", "InvalidSpec"), why
    path = "spec.template.spec.containers[0].volumeMount: unknown field"
    assert path in failed.get("message", ""), why
    assert not session_jobs(served.cluster, ns, "typo")
