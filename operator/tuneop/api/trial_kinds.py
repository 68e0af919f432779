"""The well-known trial kinds and what a user of each need not write.

A trial resource (``spec.trialResource``) names a manifest of any kind; for the
kinds below tuneop knows how the kind reports that it finished (a CEL condition
over the object, as ``self``), which of its pods holds the metrics (labels the
kind's controller puts on that pod) and which container of it, so a session of
one of these kinds writes no conditions.

Each default is read from the project's own sources:

- ``batch/v1`` Job: conditions ``Complete`` / ``Failed`` (Kubernetes' JobStatus);
  this is the instance of the model the Job fast path is.
- ``jobset.x-k8s.io`` JobSet: conditions ``Completed`` / ``Failed`` (JobSet's
  ``JobSetCompleted``/``JobSetFailed``); the primary pod is the first pod of the
  first replicated Job (labels ``jobset.sigs.k8s.io/replicatedjob-name``,
  ``jobset.sigs.k8s.io/job-index``, ``batch.kubernetes.io/job-completion-index``).
- ``trainer.kubeflow.org`` TrainJob: conditions ``Complete`` / ``Failed``; the
  primary pod is node 0 of the ``node`` replicated Job, container ``node``
  (Katib's ``DefaultTrainJobPrimaryPodLabels``).
- ``kubeflow.org`` PyTorchJob, TFJob, MPIJob, XGBoostJob (training-operator v1):
  conditions ``Succeeded`` / ``Failed``; the primary pod carries
  ``training.kubeflow.org/job-role: master`` (Katib's
  ``DefaultKubeflowJobPrimaryPodLabels``); the container is the operator's
  default name (``pytorch``, ``tensorflow``, ``mpi``, ``xgboost``).
- ``argoproj.io`` Workflow: ``status.phase`` ``Succeeded``, or ``Failed`` /
  ``Error``; Argo runs a step's command in the container ``main``.
- ``tekton.dev`` PipelineRun: the condition ``Succeeded`` ``True`` / ``False``;
  a step ``NAME`` runs in the container ``step-NAME``.

A kind is matched by its API group and kind, not its version (Katib's Tekton
example is ``tekton.dev/v1beta1``; the status reads the same). ``pod_label`` is
the label the kind's controller puts on every pod naming the resource: with the
primary pod labels it selects the primary pod of one trial resource.
``suspend_path`` says where a kind Kueue admits is held suspended until admitted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "KNOWN_KINDS",
    "KindDefaults",
    "group_of",
    "known_kind",
    "suspend_path",
]


def _condition(kind: str, status: str) -> str:
    """CEL: the object has a condition ``kind`` with ``status`` (absent status: not yet)."""
    return (
        "has(self.status) && has(self.status.conditions) && self.status.conditions"
        f".exists(c, c.type == '{kind}' && c.status == '{status}')"
    )


def _phase(*phases: str) -> str:
    listed = ", ".join(f"'{p}'" for p in phases)
    return f"has(self.status) && has(self.status.phase) && self.status.phase in [{listed}]"


def _no_labels(_manifest: Mapping[str, Any]) -> dict[str, str]:
    return {}


def _fixed(labels: dict[str, str]) -> Callable[[Mapping[str, Any]], dict[str, str]]:
    return lambda _manifest: dict(labels)


def _jobset_primary(manifest: Mapping[str, Any]) -> dict[str, str]:
    """The first pod of the first replicated Job (a JobSet's leader comes first)."""
    spec = manifest.get("spec")
    jobs = spec.get("replicatedJobs") if isinstance(spec, dict) else None
    first = jobs[0] if isinstance(jobs, list) and jobs and isinstance(jobs[0], dict) else {}
    labels = {
        "jobset.sigs.k8s.io/job-index": "0",
        "batch.kubernetes.io/job-completion-index": "0",
    }
    if isinstance(first.get("name"), str):
        labels["jobset.sigs.k8s.io/replicatedjob-name"] = first["name"]
    return labels


@dataclass(frozen=True)
class KindDefaults:
    """What tuneop assumes of a well-known kind unless the session says otherwise."""

    group: str
    kind: str
    success: str
    failure: str
    primary_pod_labels: Callable[[Mapping[str, Any]], dict[str, str]]
    primary_container: str | None  # None: the primary pod's first container
    pod_label: str  # the label on each of the resource's pods holding its name
    kueue: bool  # Kueue admits this kind through the queue-name label


_TRAINING = {
    "PyTorchJob": "pytorch",
    "TFJob": "tensorflow",
    "MPIJob": "mpi",
    "XGBoostJob": "xgboost",
}

KNOWN_KINDS: tuple[KindDefaults, ...] = (
    KindDefaults(
        "batch",
        "Job",
        _condition("Complete", "True"),
        _condition("Failed", "True"),
        _no_labels,
        None,
        "batch.kubernetes.io/job-name",
        True,
    ),
    KindDefaults(
        "jobset.x-k8s.io",
        "JobSet",
        _condition("Completed", "True"),
        _condition("Failed", "True"),
        _jobset_primary,
        None,
        "jobset.sigs.k8s.io/jobset-name",
        True,
    ),
    KindDefaults(
        "trainer.kubeflow.org",
        "TrainJob",
        _condition("Complete", "True"),
        _condition("Failed", "True"),
        _fixed(
            {
                "jobset.sigs.k8s.io/replicatedjob-name": "node",
                "batch.kubernetes.io/job-completion-index": "0",
            }
        ),
        "node",
        "jobset.sigs.k8s.io/jobset-name",
        True,
    ),
    *(
        KindDefaults(
            "kubeflow.org",
            kind,
            _condition("Succeeded", "True"),
            _condition("Failed", "True"),
            _fixed({"training.kubeflow.org/job-role": "master"}),
            container,
            "training.kubeflow.org/job-name",
            True,
        )
        for kind, container in _TRAINING.items()
    ),
    KindDefaults(
        "argoproj.io",
        "Workflow",
        _phase("Succeeded"),
        _phase("Failed", "Error"),
        _no_labels,
        "main",
        "workflows.argoproj.io/workflow",
        False,
    ),
    KindDefaults(
        "tekton.dev",
        "PipelineRun",
        _condition("Succeeded", "True"),
        _condition("Succeeded", "False"),
        _no_labels,
        None,
        "tekton.dev/pipelineRun",
        False,
    ),
)

_BY_KIND = {(d.group, d.kind): d for d in KNOWN_KINDS}


def group_of(api_version: str) -> str:
    """The API group of ``apiVersion`` (``""`` for the core group's ``v1``)."""
    return api_version.rpartition("/")[0]


def known_kind(api_version: str, kind: str) -> KindDefaults | None:
    """The defaults of a well-known kind, or None for a kind tuneop knows nothing of."""
    return _BY_KIND.get((group_of(api_version), kind))


def suspend_path(api_version: str, kind: str) -> tuple[str, ...] | None:
    """Where a kind Kueue admits is held suspended until admitted (the training-operator
    kinds under ``spec.runPolicy``, the others ``spec.suspend``); None for a kind Kueue
    does not admit."""
    d = known_kind(api_version, kind)
    if d is None or not d.kueue:
        return None
    return ("spec", "runPolicy", "suspend") if d.group == "kubeflow.org" else ("spec", "suspend")
