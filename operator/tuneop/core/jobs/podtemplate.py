"""A worker Job's pod: the user's template plus exactly what a trial needs.

The pod starts from ``spec.template`` as written, or from the short form
``spec.runner`` made into a one-container template. The operator then adds,
and only adds:

* the trial env on the trial container (after the user's own entries);
* for a Job of one trial, the params: ``TUNEOP_TRIAL``, ``TUNEOP_PARAMS``
  (JSON), one ``TUNEOP_PARAM_<NAME>`` per param, and a JSON file at
  ``PARAMS_FILE`` (a downward-API volume over the pod's ``tuneop.dev/params``
  annotation), and ``${params.NAME}`` in the trial container's ``command`` and
  ``args`` replaced by the value — by the operator, never a shell;
* ``restartPolicy: Never`` (each attempt is its own pod, with its own log);
* the session's labels, and the ``tuneop.dev/container`` annotation naming the
  trial container, so the log of the right container is harvested;
* for a file collector (``metricsCollector.kind: File``, ``TensorFlowEvent``), the
  sidecar following the file (``tuneop.core.jobs.metricsfile``);
* for the ``spec.runner`` short form only, whose image tuneop knows, secure
  defaults — non-root, read-only root filesystem with a writable ``/tmp``, no
  privilege escalation, no capabilities, ``RuntimeDefault`` seccomp — unless it
  sets a security context itself. A ``spec.template`` is the user's pod, taken as
  written, as Kubernetes, Katib and Kubeflow Trainer take it: most ML images run
  as root, and enforcement belongs to the namespace's Pod Security Admission
  (docs/spec.md, "Security"). ``applied_defaults`` says which were applied.

Values put into ``command``, ``args`` and env are written with ``$`` doubled:
the kubelet expands ``$(VAR)`` there, and a param must arrive as it is.
``kube_expand`` is that expansion, for local runs.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from tuneop.api.conditions import placeholder_values
from tuneop.api.parameters import param_env_name
from tuneop.api.spec import SessionSpec
from tuneop.api.template import PARAM_PLACEHOLDER, trial_container_index
from tuneop.api.vocabulary import ANN_CONTAINER, ANN_PARAMS
from tuneop.core.jobs.metricsfile import metrics_sidecar
from tuneop.core.jobs.observed import Params

__all__ = [
    "CONTAINER",
    "PARAMS_DIR",
    "PARAMS_FILE",
    "applied_defaults",
    "kube_expand",
    "param_env_name",
    "param_text",
    "short_form_template",
    "trial_pod",
]

CONTAINER = "runner"
PARAMS_DIR = "/etc/tuneop"
PARAMS_FILE = f"{PARAMS_DIR}/params.json"
_PARAMS_VOLUME = "tuneop-params"
_TMP_VOLUME = "tuneop-tmp"
_KUBE_REF = re.compile(r"\$(\$|\(([^)]*)\))")

_CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
_POD_SECURITY = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def param_text(value: object) -> str:
    """A param as text: numbers as ``str()``, booleans ``true``/``false``, text as is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _literal(text: str) -> str:
    # The kubelet expands $(VAR) and turns $$ into $ in command, args and env values.
    return text.replace("$", "$$")


def kube_expand(text: str, env: Mapping[str, str]) -> str:
    """The kubelet's expansion of ``$(VAR)`` and ``$$``; an unknown ``$(VAR)`` stays."""

    def one(m: re.Match[str]) -> str:
        if m.group(1) == "$":
            return "$"
        name = m.group(2)
        return env[name] if name in env else m.group(0)

    return _KUBE_REF.sub(one, text)


def short_form_template(spec: SessionSpec) -> dict[str, Any]:
    """``spec.runner``'s short form as the PodTemplateSpec it stands for."""
    r = spec.runner
    container: dict[str, Any] = {"name": CONTAINER, "image": r.image, "command": list(r.command)}
    if r.args:
        container["args"] = list(r.args)
    if r.env:
        container["env"] = [{"name": e.name, "value": e.value} for e in r.env]
    if r.resources:
        container["resources"] = r.resources
    if r.image_pull_policy:
        container["imagePullPolicy"] = r.image_pull_policy
    # The short form never needs the API: no token unless a service account is named.
    pod: dict[str, Any] = {"automountServiceAccountToken": False, "containers": [container]}
    if r.service_account_name:
        pod["serviceAccountName"] = r.service_account_name
    if r.node_selector:
        pod["nodeSelector"] = dict(r.node_selector)
    if r.tolerations:
        pod["tolerations"] = list(r.tolerations)
    return {"spec": pod}


def _sets_security(pod: Mapping[str, Any]) -> bool:
    every = [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]
    return "securityContext" in pod or any("securityContext" in c for c in every)


def _secure(pod: dict[str, Any]) -> None:
    pod["securityContext"] = copy.deepcopy(_POD_SECURITY)
    every = [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]
    for c in every:
        c["securityContext"] = copy.deepcopy(_CONTAINER_SECURITY)
        mounts = c.setdefault("volumeMounts", [])
        if not any(m.get("mountPath") == "/tmp" for m in mounts):
            # A read-only root still needs somewhere to write scratch files.
            mounts.append({"name": _TMP_VOLUME, "mountPath": "/tmp"})
    pod.setdefault("volumes", []).append({"name": _TMP_VOLUME, "emptyDir": {}})


def applied_defaults(spec: SessionSpec) -> list[str]:
    """The security defaults a trial's pod gets, in words (empty: the pod as written)."""
    if spec.template:
        return []
    return [
        "runAsNonRoot",
        "readOnlyRootFilesystem (a writable /tmp)",
        "no privilege escalation",
        "capabilities dropped",
        "RuntimeDefault seccomp",
    ]


def _substitute(words: list[str], params: Params) -> list[str]:
    def one(m: re.Match[str]) -> str:
        return _literal(param_text(params[m.group(1)])) if m.group(1) in params else m.group(0)

    return [PARAM_PLACEHOLDER.sub(one, w) for w in words]


def _give_params(
    pod: dict[str, Any], trial: dict[str, Any], number: int, params: Params, spec: SessionSpec
) -> list[dict[str, str]]:
    """One trial's params on its container: a JSON file and ``${params.x}`` (empty for an
    inactive conditional parameter); its env."""
    for key in ("command", "args"):
        if trial.get(key):
            trial[key] = _substitute(trial[key], placeholder_values(spec.search_space, params))
    text = json.dumps(params, sort_keys=True, separators=(",", ":"))
    env = [
        {"name": "TUNEOP_TRIAL", "value": str(number)},
        {"name": "TUNEOP_PARAMS", "value": _literal(text)},
        {"name": "TUNEOP_PARAMS_FILE", "value": PARAMS_FILE},
    ]
    env += [
        {"name": param_env_name(k), "value": _literal(param_text(params[k]))}
        for k in sorted(params)
    ]
    trial.setdefault("volumeMounts", []).append(
        {"name": _PARAMS_VOLUME, "mountPath": PARAMS_DIR, "readOnly": True}
    )
    path = {
        "path": "params.json",
        "fieldRef": {"fieldPath": f"metadata.annotations['{ANN_PARAMS}']"},
    }
    pod.setdefault("volumes", []).append({"name": _PARAMS_VOLUME, "downwardAPI": {"items": [path]}})
    return env


def trial_pod(
    spec: SessionSpec,
    labels: Mapping[str, str],
    env: list[dict[str, Any]],
    trials: tuple[int, ...],
    params: list[Params],
) -> dict[str, Any]:
    """The Job's pod template: the user's, plus the trial env, params and labels."""
    template = copy.deepcopy(spec.template) if spec.template else short_form_template(spec)
    pod = template.setdefault("spec", {})
    name = spec.runner.container if spec.template else CONTAINER
    index = trial_container_index(template, name)
    assert index is not None, "parse_spec checked the trial container"
    trial = pod["containers"][index]
    meta = template.setdefault("metadata", {})
    annotations = {**(meta.get("annotations") or {}), ANN_CONTAINER: trial["name"]}
    if len(trials) == 1:
        env = [*env, *_give_params(pod, trial, trials[0], params[0], spec)]
        annotations[ANN_PARAMS] = json.dumps(params[0], sort_keys=True, separators=(",", ":"))
    # The user's env comes after ours, so it may refer to ours: LR=$(TUNEOP_PARAM_LR).
    trial["env"] = [*env, *trial.get("env", [])]
    pod["restartPolicy"] = "Never"
    annotations.update(metrics_sidecar(spec, pod, trial))  # a file collector's follower
    if not spec.template and not _sets_security(pod):
        _secure(pod)
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    meta["annotations"] = annotations
    return template
