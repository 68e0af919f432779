"""A Katib trial template of another kind than a Job, as ``spec.trialResource``.

Katib runs a trial of any kind: its ``trialSpec`` is a full manifest, its
``successCondition`` and ``failureCondition`` are GJSON paths over the
resource, ``primaryPodLabels`` and ``primaryContainerName`` name the pod and
container whose output holds the metrics. Each carries over to tuneop's trial
resource: the manifest with its ``${trialParameters.x}`` placeholders rewritten
to ``${params.<reference>}`` in every string, the labels and the container as
they are, and the conditions translated to CEL.

GJSON is a path language, CEL an expression language: the translation knows the
shapes Katib's conditions take (its defaults and its examples), a condition
list filtered by field equalities (``status.conditions.#(type=="X")#|#(status=="Y")#``)
and a field's equality at a path (``status.[@this].#(phase=="Succeeded")#``).
Any other GJSON is not translated: a note says so, and the kind's own default
stands (a kind tuneop has no default for cannot be converted: ``KatibError``).
A condition Katib leaves out is left out here too: tuneop's default for the kind
is Katib's (``tuneop.api.trial_kinds``).
"""

from __future__ import annotations

import re
from typing import Any

from tuneop.api.trial_kinds import known_kind

__all__ = ["gjson_to_cel", "trial_resource_fields"]

_PARAM = re.compile(r"\$\{trialParameters\.([^}]*)\}")
_PATH = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_EQ = r'#\(([A-Za-z_][A-Za-z0-9_]*)=="([^"\\]*)"\)#'
# status.conditions.#(type=="Succeeded")#|#(status=="True")#
_LIST_FILTER = re.compile(rf"^({_PATH})\.{_EQ}((?:\|{_EQ})*)$")
# status.[@this].#(phase=="Succeeded")#
_THIS_FIELD = re.compile(rf"^({_PATH})\.\[@this\]\.{_EQ}$")
_MORE_EQ = re.compile(_EQ)


def _has(path: str) -> str:
    parts = path.split(".")
    return " && ".join(f"has(self.{'.'.join(parts[: i + 1])})" for i in range(len(parts)))


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def gjson_to_cel(condition: str) -> str | None:
    """The CEL for a Katib GJSON condition of a shape tuneop knows, else None."""
    if m := _LIST_FILTER.match(condition):
        path, tests = m.group(1), [(m.group(2), m.group(3))]
        tests += [(t.group(1), t.group(2)) for t in _MORE_EQ.finditer(m.group(4))]
        match = " && ".join(f"c.{field} == {_quote(value)}" for field, value in tests)
        return f"{_has(path)} && self.{path}.exists(c, {match})"
    if m := _THIS_FIELD.match(condition):
        path, field, value = m.group(1), m.group(2), m.group(3)
        return f"{_has(f'{path}.{field}')} && self.{path}.{field} == {_quote(value)}"
    return None


def _rewrite(value: Any, refs: dict[str, Any]) -> Any:
    """``value`` with each ``${trialParameters.x}`` replaced by ``refs[x]`` everywhere."""

    def one(m: re.Match[str]) -> str:
        return str(refs.get(m.group(1), m.group(0)))

    if isinstance(value, str):
        return _PARAM.sub(one, value)
    if isinstance(value, dict):
        return {k: _rewrite(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, refs) for v in value]
    return value


def trial_resource_fields(
    tt: dict[str, Any], manifest: dict[str, Any], refs: dict[str, Any], notes: list[str]
) -> dict[str, Any] | str:
    """The session fields for a Katib trial template ``tt`` of another kind, or why not.

    ``manifest`` is its ``trialSpec``; ``refs`` maps each trial parameter to its
    replacement text (``${params.NAME}`` or a fixed value).
    """
    api_version, kind = manifest.get("apiVersion"), manifest.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return "spec.trialTemplate.trialSpec: apiVersion and kind required"
    defaults = known_kind(api_version, kind)
    resource: dict[str, Any] = {"manifest": _rewrite(manifest, refs)}
    for key in ("successCondition", "failureCondition"):
        given = tt.get(key)
        if given is None or given == "":
            continue
        if not isinstance(given, str):
            return f"spec.trialTemplate.{key}: must be a string"
        cel = gjson_to_cel(given)
        if cel is not None:
            resource[key] = cel
            continue
        if defaults is None:
            return f"spec.trialTemplate.{key}: GJSON {given[:80]!r} has no CEL translation"
        notes.append(
            f"spec.trialTemplate.{key}: GJSON {given[:80]!r} has no CEL translation;"
            f" tuneop's default for a {kind} stands"
        )
    labels = tt.get("primaryPodLabels")
    if labels is not None:
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            return "spec.trialTemplate.primaryPodLabels: must map text to text"
        resource["primaryPodLabels"] = dict(labels)
    primary = tt.get("primaryContainerName")
    if primary is not None:
        if not isinstance(primary, str):
            return "spec.trialTemplate.primaryContainerName: must be a string"
        resource["primaryContainer"] = primary
    fields: dict[str, Any] = {"trialResource": resource}
    if tt.get("retain") is True:
        fields["jobCleanup"] = "Keep"  # Katib's retain: the finished resource stays
    return fields
