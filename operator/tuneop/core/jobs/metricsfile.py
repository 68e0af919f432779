"""Metrics from a file: the follower beside the trial, on a cluster and on this machine.

With ``metricsCollector.kind: File`` or ``TensorFlowEvent`` the trial writes its
metrics to a file (or TensorFlow event files under a directory) rather than
printing them. Katib reads such files with a sidecar image of its own; tuneop
runs its runner image's ``tuneop-metrics-file`` instead:

* on a cluster as a native sidecar (``metrics_sidecar``): an init container with
  ``restartPolicy: Always`` (Kubernetes 1.29 and later) named
  ``METRICS_CONTAINER``, sharing the file's directory with the trial container
  through an emptyDir (mounted at the directory of ``path``, or at ``path`` for
  event files), printing what is written there to its own log. The pod's
  ``tuneop.dev/metrics-container`` annotation names it, so the harvest reads its
  log rather than the trial container's. The kubelet stops the sidecar once the
  trial container has exited; it reads the rest and exits 0, and then the Job
  completes.
* on this machine (``follower_words``): the same program runs the trial as its
  child (``--run --``) and follows the file while it runs.

Each line the follower prints starts with ``METRICS_PREFIX``
(``tuneop_runner.metricsfile`` has the same text; a test holds them equal):
``file_lines`` keeps those lines of a log, without it, for the harvest.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from tuneop.api.spec import SessionSpec
from tuneop.api.vocabulary import ANN_METRICS_CONTAINER
from tuneop.api.worker import FILE_KINDS, MetricsCollector

__all__ = [
    "FOLLOWER",
    "METRICS_CONTAINER",
    "METRICS_PREFIX",
    "file_lines",
    "follower_words",
    "metrics_sidecar",
]

METRICS_PREFIX = "TUNEOP_METRICS_FILE "
METRICS_CONTAINER = "tuneop-metrics"
FOLLOWER = "tuneop-metrics-file"
_VOLUME = "tuneop-metrics"


def _args(spec: SessionSpec) -> list[str]:
    c = spec.metrics_collector
    assert c.path is not None, "the model requires a path for a file collector"
    args = ["--path", c.path, "--kind", c.kind]
    if c.kind == "TensorFlowEvent":
        names = [spec.objective.metric, *(s.name for s in c.metric_strategies)]
        for name in dict.fromkeys(names):
            args += ["--metric", name]
    return args


def metrics_sidecar(
    spec: SessionSpec, pod: dict[str, Any], trial: dict[str, Any]
) -> dict[str, str]:
    """Add the follower sidecar and its volume to ``pod`` (its trial container ``trial``);
    the annotations that name it. Nothing for a collector that reads the log."""
    c = spec.metrics_collector
    if c.kind not in FILE_KINDS or c.path is None:
        return {}
    directory = c.path if c.kind == "TensorFlowEvent" else posixpath.dirname(c.path)
    trial.setdefault("volumeMounts", []).append({"name": _VOLUME, "mountPath": directory})
    sidecar = {
        "name": METRICS_CONTAINER,
        "image": c.image,
        "command": [FOLLOWER, *_args(spec)],
        "restartPolicy": "Always",
        "volumeMounts": [{"name": _VOLUME, "mountPath": directory, "readOnly": True}],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
    }
    pod.setdefault("initContainers", []).append(sidecar)
    pod.setdefault("volumes", []).append({"name": _VOLUME, "emptyDir": {}})
    return {ANN_METRICS_CONTAINER: METRICS_CONTAINER}


def follower_words(template: Mapping[str, Any]) -> list[str]:
    """The words a local run puts before the trial's command for a pod with the follower
    sidecar (``FOLLOWER ... --run --``); none for another pod."""
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    name = annotations.get(ANN_METRICS_CONTAINER)
    if not name:
        return []
    for init in (template.get("spec") or {}).get("initContainers") or []:
        if init.get("name") == name and (init.get("command") or [None])[0] == FOLLOWER:
            return [*init["command"], "--run", "--"]
    return []


def file_lines(log: str, collector: MetricsCollector | None) -> str:
    """The follower's lines of ``log`` (without their prefix) for a file collector; the log
    as it is for any other."""
    if collector is None or collector.kind not in FILE_KINDS:
        return log
    n = len(METRICS_PREFIX)
    return "\n".join(line[n:] for line in log.splitlines() if line.startswith(METRICS_PREFIX))
