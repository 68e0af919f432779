"""A trial resource of another kind, run by ``tuneop run --local``: its primary container.

A local run has no JobSet controller, no training operator, no Argo: it runs the
one container whose log holds the metrics (the primary container of the primary
pod) as a local process, the rest of the resource not at all. That is
meaningful when that container has a command of its own (an image's entrypoint
is not on this machine) and the command uses only tuneop's ``${params.NAME}``
placeholders, not the kind's own substitutions (Tekton's ``$(params.x)``,
Argo's ``{{inputs.parameters.x}}``), which only its controller fills in.

``local_resource_template`` finds that container in the manifest (a pod's
``containers``, a Tekton step, an Argo template's ``container``, a TrainJob's
``trainer``) and returns it as the PodTemplateSpec a local run already knows how
to run, or the one line that says why it cannot.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tuneop.api.trial_resource import TrialResource

__all__ = ["LocalResource", "local_resource_template"]

# Substitutions a kind's controller makes and a local process cannot.
_FOREIGN = re.compile(r"\$\((params|tasks|inputs|outputs|results|context|workspaces)\.|\{\{")
_KEPT = ("name", "command", "args", "env", "workingDir", "resources")


@dataclass(frozen=True)
class LocalResource:
    """The primary container as a one-container pod template, and where it came from."""

    template: dict[str, Any]
    container: str
    path: str  # where in the manifest, for the notice


def _containers(
    value: Any, path: str, names: str = ""
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every container of the manifest: its path, the keys and names on the way to it
    (``pytorchReplicaSpecs.Master``, a replicated Job's name) and the container under
    the name its pod gives it."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            named = item.get("name") if isinstance(item, dict) else None
            inner = f"{names} {named}" if isinstance(named, str) else names
            yield from _containers(item, f"{path}[{i}]", inner)
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        where, on_way = f"{path}.{key}", f"{names} {key}"
        if key in ("containers", "steps") and isinstance(item, list):
            for i, c in enumerate(item):
                if isinstance(c, dict) and isinstance(c.get("name"), str):
                    # Tekton runs a step NAME in the container step-NAME.
                    name = c["name"] if key == "containers" else f"step-{c['name']}"
                    yield f"{where}[{i}]", on_way, {**c, "name": name}
        elif key == "container" and isinstance(item, dict):  # Argo: the container main
            yield where, on_way, {**item, "name": "main"}
        elif key == "trainer" and isinstance(item, dict):  # TrainJob: the node container
            yield where, on_way, {"name": "node", **item}
        else:
            yield from _containers(item, where, on_way)


def _pick(resource: TrialResource) -> tuple[str, dict[str, Any]] | str:
    resolved = resource.resolved()
    want = resolved.primary_container
    found = [
        (path, names, c)
        for path, names, c in _containers(resource.manifest.get("spec"), "spec")
        if want is None or c.get("name") == want
    ]
    if not found:
        return f"no container named {want!r} in the manifest" if want else "no container"
    # Several pods may hold a container of that name (a master and workers): the one
    # on whose way a primary pod label's value stands (Master, a replicated Job) wins.
    hints = {v.lower() for v in resolved.primary_pod_labels.values() if v}
    for path, names, c in found:
        if hints & {w.lower() for w in names.split()}:
            return path, c
    return found[0][0], found[0][2]


def local_resource_template(resource: TrialResource) -> LocalResource | str:
    """The primary container to run here, or why a local run cannot run this trial."""
    kind = resource.kind
    picked = _pick(resource)
    if isinstance(picked, str):
        return f"trialResource: a {kind}'s trial cannot run locally ({picked})"
    path, container = picked
    name = str(container.get("name") or "trial")
    words = [*(container.get("command") or []), *(container.get("args") or [])]
    if not container.get("command"):
        return (
            f"trialResource: a {kind}'s trial cannot run locally (its primary container"
            f" {name} has no command; a local run runs a command, not an image's entrypoint)"
        )
    foreign = next((w for w in words if isinstance(w, str) and _FOREIGN.search(w)), None)
    if foreign is not None:
        return (
            f"trialResource: a {kind}'s trial cannot run locally (its primary container"
            f" {name} uses the {kind}'s own substitutions, which only its controller fills in)"
        )
    kept = {k: container[k] for k in _KEPT if k in container}
    kept["name"] = name
    template = {"spec": {"containers": [kept]}}
    return LocalResource(template=template, container=name, path=f"trialResource.manifest.{path}")
