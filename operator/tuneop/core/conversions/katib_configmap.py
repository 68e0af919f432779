"""A Katib trial template kept in a ConfigMap, and Katib's check of its placeholders.

Katib's ``trialTemplate.configMap: {configMapName, configMapNamespace, templatePath}``
names a ConfigMap key whose text is the trial's Job (YAML). The import is handed
that ConfigMap (from a file, or read from the cluster by the command line) and
turns the key's text into the inline ``trialSpec`` the rest of the conversion
reads. The text is untrusted: it is read within the YAML budget
(``tuneop.core.boundedyaml``), before any tree is built.

Katib's webhook (``validateTrialTemplate`` in v0.19.0's
``pkg/webhook/v1beta1/experiment/validator/validator.go``) refuses a template whose
``${trialParameters.x}`` placeholders and ``trialTemplate.trialParameters`` do not
match, both ways. ``placeholder_problem`` says the same, one line naming the
parameter: a placeholder no trial parameter declares first (the case of Katib's
own ConfigMap-source example, whose shipped template uses an undeclared
``${trialParameters.momentum}``), then a declared parameter the template never
uses.
"""

from __future__ import annotations

import re
from typing import Any

from tuneop.core.boundedyaml import YamlBudgetError, load_all

__all__ = [
    "MAX_TEMPLATE_TEXT",
    "ConfigMapError",
    "configmap_ref",
    "placeholder_problem",
    "trial_spec_from",
    "unused_notes",
]

MAX_TEMPLATE_TEXT = 256 * 1024  # a ConfigMap holds at most 1 MiB; one template, far less
_PLACEHOLDER = re.compile(r"\$\{trialParameters\.([^}]*)\}")


class ConfigMapError(ValueError):
    """A ConfigMap template tuneop cannot take; ``str()`` names the field and the rule."""


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigMapError(f"{where}: required, a string")
    return value


def configmap_ref(tt: dict[str, Any]) -> tuple[str, str, str]:
    """``(namespace, name, templatePath)`` of ``trialTemplate.configMap``."""
    where = "spec.trialTemplate.configMap"
    ref = tt.get("configMap")
    if not isinstance(ref, dict):
        raise ConfigMapError(f"{where}: must be a mapping")
    return (
        _text(ref.get("configMapNamespace"), f"{where}.configMapNamespace"),
        _text(ref.get("configMapName"), f"{where}.configMapName"),
        _text(ref.get("templatePath"), f"{where}.templatePath"),
    )


def trial_spec_from(tt: dict[str, Any], config_map: Any) -> dict[str, Any]:
    """The Job that ``trialTemplate.configMap`` names, from ``config_map`` (a ConfigMap
    object as a mapping); ``ConfigMapError`` naming what does not fit."""
    namespace, name, key = configmap_ref(tt)
    if not isinstance(config_map, dict) or config_map.get("kind", "ConfigMap") != "ConfigMap":
        raise ConfigMapError(f"ConfigMap {namespace}/{name}: not a ConfigMap")
    meta = config_map.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    if meta.get("name") != name:
        raise ConfigMapError(
            f"spec.trialTemplate.configMap.configMapName: {name} names another ConfigMap"
            f" than the one given ({str(meta.get('name'))[:63]})"
        )
    if meta.get("namespace") not in (None, namespace):
        raise ConfigMapError(
            f"spec.trialTemplate.configMap.configMapNamespace: {namespace}, but the ConfigMap"
            f" given is in {str(meta.get('namespace'))[:63]}"
        )
    data = config_map.get("data")
    if not isinstance(data, dict) or not isinstance(data.get(key), str):
        raise ConfigMapError(
            f"spec.trialTemplate.configMap.templatePath: ConfigMap {namespace}/{name}"
            f" has no key {key[:253]}"
        )
    text = data[key]
    if len(text.encode()) > MAX_TEMPLATE_TEXT:
        raise ConfigMapError(
            f"ConfigMap {namespace}/{name}: {key[:253]}: at most {MAX_TEMPLATE_TEXT:,} bytes"
        )
    try:
        docs = [d for d in load_all(text) if d is not None]
    except (YamlBudgetError, ValueError) as err:
        raise ConfigMapError(
            f"ConfigMap {namespace}/{name}: {key[:253]}: not a YAML template ({str(err)[:120]})"
        ) from None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise ConfigMapError(
            f"ConfigMap {namespace}/{name}: {key[:253]}: must hold one Job as a mapping"
        )
    job: dict[str, Any] = docs[0]
    return job


def _declared(tt: dict[str, Any]) -> list[str]:
    params = tt.get("trialParameters")
    if not isinstance(params, list):
        return []
    return [p["name"] for p in params if isinstance(p, dict) and isinstance(p.get("name"), str)]


def placeholder_problem(tt: dict[str, Any], job: Any, source: str) -> str | None:
    """Katib's rule, as one ``field: rule`` line, or None: every ``${trialParameters.x}``
    in the template declared in ``trialParameters``."""
    declared = _declared(tt)
    for name in _used(job):
        if name not in declared:
            return (
                f"spec.trialTemplate.trialParameters: {source} uses ${{trialParameters."
                f"{name[:63]}}}, which no trial parameter declares (Katib's webhook refuses it)"
            )
    return None


def unused_notes(tt: dict[str, Any], job: Any, source: str) -> list[str]:
    """A declared trial parameter the template never uses, one note line each. Katib's
    webhook refuses these too, but its own Tekton example has one (it writes
    ``$(trialParameters.lr)``), and a parameter nobody reads changes no trial: the
    import goes on and says so."""
    used = set(_used(job))
    return [
        f"spec.trialTemplate.trialParameters[{i}].name: {name[:63]} is not used in {source}"
        " (Katib's webhook would refuse it; nothing is substituted for it)"
        for i, name in enumerate(_declared(tt))
        if name not in used
    ]


def _used(job: Any) -> list[str]:
    """The names of the ``${trialParameters.x}`` placeholders in the template, sorted."""
    return sorted({m for s in _strings(job) for m in _PLACEHOLDER.findall(s)})


def _strings(value: Any) -> list[str]:
    """Every string in a (bounded, already read) YAML tree, keys and values, depth-first."""
    out: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out
