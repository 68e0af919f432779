"""A trial resource of any kind: its manifest rendered for one trial, and how it ended.

With ``spec.trialResource`` each trial runs as one resource of the session's kind
(a JobSet, a TrainJob, a PyTorchJob, a Workflow...) instead of a Job. The
resource carries exactly the metadata a worker Job carries (name, namespace,
the ``tuneop.dev/session`` and ``tuneop.dev/job-index`` labels, the trials
annotation, the owner reference to the session, Kueue's queue-name label with
``spec.queueName``, and then created suspended when Kueue admits its kind:
``suspended``), so the ledger, the retries and the cleanup read it as they
read a Job: the Job is this model's instance whose manifest tuneop writes itself.

``${params.NAME}`` placeholders are filled in every string value of the manifest
with the param's text (no kubelet escaping: which strings a kind's controller
hands to the kubelet as a command is the kind's business).

``outcome`` evaluates the resolved success and failure conditions (CEL, as
``self``) on the object the cluster returned: an object past ``MAX_OBJECT_VALUES``
values is not evaluated (the conditions' comprehensions nest at most twice, so
this bounds the work), and a condition that cannot be evaluated yet (a field
absent, a type that does not fit) counts as not yet true.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Mapping
from typing import Any, Literal

from tuneop.api.spec import SessionSpec
from tuneop.api.template import PARAM_PLACEHOLDER
from tuneop.api.trial_kinds import suspend_path
from tuneop.api.trial_resource import ResolvedTrialResource, TrialResource
from tuneop.core.jobs.observed import Params
from tuneop.core.jobs.podtemplate import param_text

__all__ = [
    "MAX_OBJECT_VALUES",
    "Outcome",
    "outcome",
    "render_trial_resource",
    "suspended",
    "trial_kind_name",
]

MAX_OBJECT_VALUES = 20_000
Outcome = Literal["Succeeded", "Failed"]


def trial_kind_name(spec: SessionSpec) -> str:
    """What one trial's resource is called in messages: ``Job``, ``JobSet``..."""
    return spec.trial_resource.kind if spec.trial_resource is not None else "Job"


def _fill(value: Any, params: Params) -> Any:
    """``value`` with every ``${params.NAME}`` of its strings replaced by the param's text."""

    def one(m: Any) -> str:
        name = m.group(1)
        return param_text(params[name]) if name in params else str(m.group(0))

    if isinstance(value, str):
        return PARAM_PLACEHOLDER.sub(one, value)
    if isinstance(value, dict):
        return {k: _fill(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, params) for v in value]
    return value


def render_trial_resource(
    resource: TrialResource, metadata: Mapping[str, Any], params: Params
) -> dict[str, Any]:
    """The manifest tuneop creates for one trial: the session's, params filled, and
    ``metadata`` (the worker Job's: name, namespace, labels, annotations, owner) over
    the manifest's own labels and annotations (tuneop's keys win)."""
    manifest = _fill(copy.deepcopy(resource.manifest), params)
    own = manifest.get("metadata") or {}
    meta: dict[str, Any] = {
        k: v for k, v in own.items() if k not in ("name", "generateName", "namespace")
    }
    meta.update(
        {
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "labels": {**(own.get("labels") or {}), **metadata.get("labels", {})},
            "annotations": {**(own.get("annotations") or {}), **metadata.get("annotations", {})},
        }
    )
    if "ownerReferences" in metadata:
        meta["ownerReferences"] = metadata["ownerReferences"]
    manifest["metadata"] = meta
    return dict(manifest)


def suspended(manifest: Mapping[str, Any], value: bool | None = None) -> bool:
    """Whether the resource is held suspended (a kind Kueue admits; False for any other);
    with ``value``, set so first (created suspended for Kueue to admit, as a Job is: without
    Kueue's webhook it would run before Kueue suspends it)."""
    path = suspend_path(str(manifest.get("apiVersion", "")), str(manifest.get("kind", "")))
    if path is None:
        return False
    node: Any = manifest
    for key in path[:-1]:
        if value is not None and not isinstance(node.get(key), dict):
            node[key] = {}
        node = node.get(key)
        if not isinstance(node, dict):
            return False
    if value is not None:
        node[path[-1]] = value
    return node.get(path[-1]) is True


def _size(value: Any, limit: int) -> int:
    """How many values ``value`` holds, counting up to just past ``limit``."""
    count, stack = 0, [value]
    while stack and count <= limit:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


_EVALUATING = threading.Lock()


@functools.lru_cache(maxsize=64)
def _program(expression: str) -> Any:
    """The compiled program of a condition: compiled once, evaluated for every object."""
    import celpy  # a session of a trial resource only

    env = celpy.Environment()
    return env.program(env.compile(expression))


def _holds(expression: str, obj: Any) -> bool:
    import celpy

    try:
        # One evaluation at a time: the programs are shared across the operator's threads,
        # and celpy does not promise its parsed tree is safe to walk from several at once.
        with _EVALUATING:
            value = _program(expression).evaluate({"self": obj})
    except Exception:
        return False
    # Only a boolean true holds: a condition that yields 1 or "yes" is no verdict.
    return isinstance(value, celpy.celtypes.BoolType) and bool(value)


def outcome(resolved: ResolvedTrialResource, obj: Mapping[str, Any]) -> Outcome | None:
    """``Failed``, ``Succeeded`` or None (still running) for the observed object ``obj``.

    The failure condition is read first: an object that says both has failed.
    """
    if _size(obj, MAX_OBJECT_VALUES) > MAX_OBJECT_VALUES:
        return None
    from celpy.adapter import json_to_cel

    try:
        value = json_to_cel(dict(obj))
    except Exception:
        return None  # nothing CEL can hold: no verdict
    if _holds(resolved.failure_condition, value):
        return "Failed"
    if _holds(resolved.success_condition, value):
        return "Succeeded"
    return None
