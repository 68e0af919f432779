"""Worker Job manifests, built as plain data.

Names are deterministic (``<session>-<index>``, within 63 characters) so a
repeated create is harmless. The trials travel as JSON in the ``TUNEOP_TRIALS``
environment variable, never interpolated into a shell string, and are also
recorded in an annotation so the operator can read a Job's trials back.
Pods run with a restricted security context and no API token.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tuneop.api.session import SessionRef
from tuneop.api.spec import API_GROUP, API_VERSION, KIND, SessionSpec
from tuneop.core.observed import Params

LABEL_SESSION = "tuneop.dev/session"
LABEL_JOB_INDEX = "tuneop.dev/job-index"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "tuneop"
ANN_TRIALS = "tuneop.dev/trials"
CONTAINER = "runner"
MAX_NAME = 63
# Pod start-up (scheduling, image pull) counts against a Job's activeDeadlineSeconds;
# this slack lets the runner's own per-trial timeout fire first and report the trial.
JOB_START_SLACK_SECONDS = 30


def session_label(name: str) -> str:
    """A label value for the session name: names over 63 chars are cut and hashed."""
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9].rstrip('-.')}-{digest}"


def job_name(session: str, index: int) -> str:
    suffix = f"-{index}"
    if len(session) + len(suffix) <= MAX_NAME:
        return f"{session}{suffix}"
    # A cut name keeps a hash of the whole session name: sessions whose names share a
    # long prefix must never share (and so adopt) each other's Jobs.
    digest = hashlib.sha256(session.encode()).hexdigest()[:8]
    return f"{session[: MAX_NAME - len(suffix) - 9].rstrip('-.')}-{digest}{suffix}"


def selector(session: str) -> str:
    return f"{LABEL_SESSION}={session_label(session)},{LABEL_MANAGED_BY}={MANAGED_BY}"


def format_trials(trials: tuple[int, ...]) -> str:
    return f"{trials[0]}-{trials[-1]}" if len(trials) > 1 else str(trials[0])


def runner_env(
    spec: SessionSpec, ref: SessionRef, index: int, trials: tuple[int, ...], params: list[Params]
) -> list[dict[str, str]]:
    payload = [{"trial": t, "params": p} for t, p in zip(trials, params, strict=True)]
    env = [
        {"name": "TUNEOP_TRIALS", "value": json.dumps(payload, separators=(",", ":"))},
        {"name": "TUNEOP_METRIC", "value": spec.objective.metric},
        {"name": "TUNEOP_TRIAL_TIMEOUT_SECONDS", "value": str(spec.trial_timeout_seconds)},
        {"name": "TUNEOP_SESSION", "value": ref.key},
        {"name": "TUNEOP_JOB_INDEX", "value": str(index)},
    ]
    if spec.runner.objective:
        env.append({"name": "TUNEOP_OBJECTIVE", "value": spec.runner.objective})
    if spec.runner.objective_command:
        env.append(
            {"name": "TUNEOP_OBJECTIVE_COMMAND", "value": json.dumps(spec.runner.objective_command)}
        )
    env.extend({"name": e.name, "value": e.value} for e in spec.runner.env)
    return env


def owner_reference(ref: SessionRef) -> dict[str, Any]:
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": KIND,
        "name": ref.name,
        "uid": ref.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def job_manifest(
    spec: SessionSpec, ref: SessionRef, index: int, trials: tuple[int, ...], params: list[Params]
) -> dict[str, Any]:
    labels = {
        LABEL_SESSION: session_label(ref.name),
        LABEL_JOB_INDEX: str(index),
        LABEL_MANAGED_BY: MANAGED_BY,
    }
    r = spec.runner
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": r.image,
        "command": list(r.command),
        "env": runner_env(spec, ref, index, trials, params),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # A read-only root still needs somewhere to write scratch files.
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if r.args:
        container["args"] = list(r.args)
    if r.resources:
        container["resources"] = r.resources
    if r.image_pull_policy:
        container["imagePullPolicy"] = r.image_pull_policy
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    if r.service_account_name:
        pod_spec["serviceAccountName"] = r.service_account_name
    if r.node_selector:
        pod_spec["nodeSelector"] = dict(r.node_selector)
    if r.tolerations:
        pod_spec["tolerations"] = list(r.tolerations)
    metadata: dict[str, Any] = {
        "name": job_name(ref.name, index),
        "namespace": ref.namespace,
        "labels": labels,
        "annotations": {ANN_TRIALS: format_trials(trials)},
    }
    if ref.uid:
        metadata["ownerReferences"] = [owner_reference(ref)]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": spec.retries,
            "activeDeadlineSeconds": spec.trial_timeout_seconds * len(trials)
            + JOB_START_SLACK_SECONDS,
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
