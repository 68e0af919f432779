"""Worker Job manifests as plain data: the Job wire format, encoded and decoded.

``job_manifest`` writes a Job; ``decode_job`` reads back what the operator put
on it. Names are deterministic (``<session>-<index>``, within 63 characters)
so a repeated create is harmless. The Job's index is its
``tuneop.dev/job-index`` label and its trials the ``tuneop.dev/trials``
annotation (a range, ``"12-15"``, or runs, ``"12,14"``, for a retry Job). The
trials and their params travel as JSON in the ``TUNEOP_TRIALS`` environment
variable, never interpolated into a shell string. The pod is the session's
template plus what a trial needs (``tuneop.core.jobs.podtemplate``), and with early
stopping where its trials meet (``tuneop.core.jobs.pruning``). With
``spec.queueName`` the Job carries Kueue's queue label and is created
suspended, for Kueue to admit.

**Failure policy.** Every Job has ``backoffLimit: 0`` and a ``podFailurePolicy``:
a pod disrupted by the platform (its ``DisruptionTarget`` condition: a drained
node, preemption, an eviction) is replaced without counting as a failure; the
trial container exiting with ``EXIT_TRIAL_BROKEN`` fails the Job at once (reason
``PodFailurePolicy``: the trial is broken, a retry would fail the same way); any
other failure fails the Job. A failed trial is retried by the operator, alone, in
a *retry Job* (``tuneop.core.planning.retry``), which carries the attempt and the Job it
retries, so the trials that succeeded never run again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tuneop.api.conditions import placeholder_values
from tuneop.api.session import SessionRef
from tuneop.api.spec import API_GROUP, API_VERSION, KIND, SessionSpec
from tuneop.api.vocabulary import (
    ANN_ATTEMPT,
    ANN_CONTAINER,
    ANN_PARAMS,
    ANN_START_TIMEOUT,
    ANN_TIMEOUT,
    ANN_TRIALS,
    EXIT_TRIAL_BROKEN,
    LABEL_JOB_INDEX,
    LABEL_MANAGED_BY,
    LABEL_QUEUE_NAME,
    LABEL_RETRY_OF,
    LABEL_SESSION,
    MANAGED_BY,
)
from tuneop.core.jobs.observed import Params, Retry
from tuneop.core.jobs.podtemplate import CONTAINER, trial_pod
from tuneop.core.jobs.pruning import early_stopping_env
from tuneop.core.jobs.trialresource import render_trial_resource, suspended
from tuneop.core.ranges import format_ranges, parse_ranges

__all__ = [
    "CONTAINER",
    "ENV_ATTEMPT",
    "ENV_TRIALS",
    "JOB_START_SLACK_SECONDS",
    "DecodedJob",
    "decode_job",
    "format_trials",
    "job_manifest",
    "job_name",
    "owner_reference",
    "parse_trials",
    "pod_failure_policy",
    "runner_env",
    "runner_trials",
    "selector",
    "session_label",
]

ENV_TRIALS = "TUNEOP_TRIALS"
ENV_ATTEMPT = "TUNEOP_ATTEMPT"
MAX_NAME = 63
# Pod start-up (scheduling, image pull) counts against a Job's activeDeadlineSeconds;
# this slack lets the runner's own per-trial timeout fire first and report the trial.
JOB_START_SLACK_SECONDS = 30
# A trial resource's params annotation read back: at most this much text (an annotation
# holds 256 KiB in all; tuneop writes one trial's params).
MAX_PARAMS_TEXT = 64 * 1024


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


# A garbled annotation must not make the operator expand a huge range.
_MAX_ANNOTATED_TRIALS = 100_000


def format_trials(trials: tuple[int, ...]) -> str:
    """The ``tuneop.dev/trials`` annotation: ``"12-15"``, or runs for a retry Job."""
    return format_ranges(trials)


def parse_trials(text: Any) -> tuple[int, ...]:
    """The trials of a ``tuneop.dev/trials`` annotation; () when it is absent or garbled."""
    if not isinstance(text, str) or not text or len(text) > 10_000:
        return ()
    try:
        runs = [part.partition("-") for part in text.split(",")]
        if sum(int(b or a) - int(a) + 1 for a, _, b in runs) > _MAX_ANNOTATED_TRIALS:
            return ()
        return tuple(sorted(parse_ranges(text)))
    except ValueError:
        return ()


def pod_failure_policy(container: str) -> dict[str, Any]:
    """Disruptions replaced without counting; the reserved exit code fails the Job at once."""
    return {
        "rules": [
            {
                "action": "Ignore",
                "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
            },
            {
                "action": "FailJob",
                "onExitCodes": {
                    "containerName": container,
                    "operator": "In",
                    "values": [EXIT_TRIAL_BROKEN],
                },
            },
        ]
    }


def runner_env(
    spec: SessionSpec, ref: SessionRef, index: int, trials: tuple[int, ...], params: list[Params]
) -> list[dict[str, str]]:
    payload = [{"trial": t, "params": p} for t, p in zip(trials, params, strict=True)]
    env = [
        {"name": ENV_TRIALS, "value": json.dumps(payload, separators=(",", ":"))},
        {"name": "TUNEOP_METRIC", "value": spec.objective.metric},
        {"name": "TUNEOP_TRIAL_TIMEOUT_SECONDS", "value": str(spec.trial_timeout_seconds)},
        {"name": "TUNEOP_SESSION", "value": ref.key},
        {"name": "TUNEOP_JOB_INDEX", "value": str(index)},
        # The Job's name and namespace: what Katib's ${trialSpec.Name} and .Namespace
        # give a trial, so an imported template can say $(TUNEOP_JOB).
        {"name": "TUNEOP_JOB", "value": job_name(ref.name, index)},
        {"name": "TUNEOP_NAMESPACE", "value": ref.namespace},
    ]
    if spec.runner.objective:
        env.append({"name": "TUNEOP_OBJECTIVE", "value": spec.runner.objective})
    if spec.runner.objective_command:
        env.append(
            {"name": "TUNEOP_OBJECTIVE_COMMAND", "value": json.dumps(spec.runner.objective_command)}
        )
    return env


def runner_trials(job: Mapping[str, Any]) -> list[tuple[int, Params]]:
    """(trial, params) pairs from the runner container's ``TUNEOP_TRIALS`` env."""
    pod = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in pod.get("containers") or []:
        for env in container.get("env") or []:
            if env.get("name") != ENV_TRIALS:
                continue
            try:
                payload = json.loads(env.get("value") or "[]")
                return [(int(p["trial"]), dict(p.get("params") or {})) for p in payload]
            except (ValueError, TypeError, KeyError):
                return []
    return []


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
    spec: SessionSpec,
    ref: SessionRef,
    index: int,
    trials: tuple[int, ...],
    params: list[Params],
    retry: Retry | None = None,
    extra_env: Sequence[dict[str, str]] = (),
) -> dict[str, Any]:
    """The worker Job of trials ``trials``; ``extra_env`` goes on its trial container
    (pbt's checkpoint folders)."""
    labels = {
        LABEL_SESSION: session_label(ref.name),
        LABEL_JOB_INDEX: str(index),
        LABEL_MANAGED_BY: MANAGED_BY,
    }
    env = [
        *runner_env(spec, ref, index, trials, params),
        *early_stopping_env(spec, ref),
        *extra_env,
    ]
    annotations = {
        ANN_TRIALS: format_trials(trials),
        ANN_START_TIMEOUT: str(spec.pod_start_timeout_seconds),
    }
    if retry is not None:
        env.append({"name": ENV_ATTEMPT, "value": str(retry.attempt)})
        annotations[ANN_ATTEMPT] = str(retry.attempt)
    job_labels = dict(labels)
    if retry is not None:
        job_labels[LABEL_RETRY_OF] = str(retry.of)
    metadata: dict[str, Any] = {
        "name": job_name(ref.name, index),
        "namespace": ref.namespace,
        "labels": job_labels,
        "annotations": annotations,
    }
    if ref.uid:
        metadata["ownerReferences"] = [owner_reference(ref)]
    if spec.trial_resource is not None:
        # Another kind: the same metadata over the session's manifest, one trial each
        # (the spec's rules); with a queue, a kind Kueue admits is created suspended, as a
        # Job is, and carries the queue label Kueue reads.
        # Its params and deadline ride in annotations: no runner env holds them, and no
        # activeDeadlineSeconds of its own ends it.
        if spec.queue_name is not None:
            metadata["labels"] = {**job_labels, LABEL_QUEUE_NAME: spec.queue_name}
        annotations[ANN_PARAMS] = json.dumps(params[0], sort_keys=True, separators=(",", ":"))
        annotations[ANN_TIMEOUT] = str(spec.trial_timeout_seconds + JOB_START_SLACK_SECONDS)
        filled = placeholder_values(spec.search_space, params[0])  # inactive ones: empty
        manifest = render_trial_resource(spec.trial_resource, metadata, filled)
        if spec.queue_name is not None:
            suspended(manifest, True)
        return manifest
    template = trial_pod(spec, labels, env, trials, params)
    container = template["metadata"]["annotations"][ANN_CONTAINER]
    job_spec: dict[str, Any] = {
        # Retries are per trial, by the operator (core.planning.retry): a Job retried whole would
        # run its succeeded trials again.
        "backoffLimit": 0,
        "podFailurePolicy": pod_failure_policy(container),
        "activeDeadlineSeconds": spec.trial_timeout_seconds * len(trials) + JOB_START_SLACK_SECONDS,
        "template": template,
    }
    if spec.queue_name is not None:
        # Kueue admits the Job by unsuspending it; the label is on the Job only (not its
        # pods), as Kueue's Job integration reads it there.
        metadata["labels"] = {**job_labels, LABEL_QUEUE_NAME: spec.queue_name}
        job_spec["suspend"] = True
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": job_spec}


@dataclass(frozen=True)
class DecodedJob:
    """What the operator wrote on a worker Job, read back."""

    index: int
    name: str
    trials: tuple[int, ...]
    # The params of ``trials``, in order; () unless every trial's params were found.
    params: tuple[Params, ...]
    retry: Retry | None = None


def decode_job(job: Mapping[str, Any]) -> DecodedJob | None:
    """A Job's index, trials and params; None when it lacks an index or trials (not ours)."""
    meta = job.get("metadata") or {}
    try:
        index = int((meta.get("labels") or {})[LABEL_JOB_INDEX])
    except (KeyError, TypeError, ValueError):
        return None
    pairs = runner_trials(job)
    # The env lists the trials too, so a Job whose annotation was stripped is still read.
    trials = parse_trials((meta.get("annotations") or {}).get(ANN_TRIALS))
    if not trials:
        trials = tuple(t for t, _ in pairs)
    if not trials:
        return None
    by_trial = dict(pairs) or _annotated_params(meta, trials)
    params = tuple(by_trial[t] for t in trials) if all(t in by_trial for t in trials) else ()
    name = str(meta.get("name") or "")
    return DecodedJob(index=index, name=name, trials=trials, params=params, retry=_retry(meta))


def _annotated_params(meta: Mapping[str, Any], trials: tuple[int, ...]) -> dict[int, Params]:
    """A trial resource's one trial's params, from its annotation ({} if absent or garbled)."""
    text = (meta.get("annotations") or {}).get(ANN_PARAMS)
    if len(trials) != 1 or not isinstance(text, str) or len(text) > MAX_PARAMS_TEXT:
        return {}
    try:
        params = json.loads(text)
    except ValueError:
        return {}
    return {trials[0]: dict(params)} if isinstance(params, dict) else {}


def _retry(meta: Mapping[str, Any]) -> Retry | None:
    """The retry a Job's metadata records; None for a first attempt (or a garbled record)."""
    of = (meta.get("labels") or {}).get(LABEL_RETRY_OF)
    attempt = (meta.get("annotations") or {}).get(ANN_ATTEMPT)
    if not isinstance(of, str) or not isinstance(attempt, str):
        return None
    if not (of.isdigit() and attempt.isdigit() and len(of) < 12 and len(attempt) < 5):
        return None
    return Retry(of=int(of), attempt=int(attempt))
