"""A trial's pod as Kubernetes knows it: ``spec.template``, a PodTemplateSpec.

A session either describes its worker with the short ``spec.runner`` form (an
image, a command, env) or gives a whole PodTemplateSpec in ``spec.template``:
volumes, ``envFrom``, init containers, native sidecars, affinity, anything a
pod can hold. The trial container is the one ``spec.runner.container`` names;
without a name, the one named ``trial``, else the first.

The template is checked against the Kubernetes OpenAPI schema of one release
(``SCHEMA_VERSION``, strict: an unknown field is an error), which tuneop ships
in ``tuneop/data/`` (``SCHEMA_FILE``: kubernetes-validate's PodTemplateSpec
schema and the definitions it reaches, written by
``scripts/vendor_pod_schema.py``; the whole of kubernetes-validate is 77 MB), so
``tuneop plan``, local runs and the operator refuse the same templates with
the same message, naming the path:
``spec.template.spec.containers[0].volumeMounts[0].mountPath: required``.
The schema is loaded once; a template is checked once per distinct content.

Also here: the ``${params.x}`` placeholders a trial container's ``command``
and ``args`` may hold.
"""

from __future__ import annotations

import functools
import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema

__all__ = [
    "MAX_POD_DEPTH",
    "MAX_TEMPLATE_BYTES",
    "PARAM_PLACEHOLDER",
    "SCHEMA_FILE",
    "SCHEMA_VERSION",
    "TRIAL_CONTAINER",
    "larger_than",
    "nesting_problem",
    "placeholders",
    "pod_spec_schema",
    "template_problems",
    "trial_container_index",
]

# The newest Kubernetes schema kubernetes-validate ships; fields added after it are
# refused as unknown (docs/spec.md, "spec.template").
SCHEMA_VERSION = "1.34.0"
# Its PodTemplateSpec schema and the definitions that one reaches, in tuneop/data/.
SCHEMA_FILE = f"podtemplatespec-v{SCHEMA_VERSION}.json"
TRIAL_CONTAINER = "trial"
# A template's size as JSON: a pod fits in far less; past it a spec is refused unread.
MAX_TEMPLATE_BYTES = 256 * 1024
# Lists and mappings inside one another in a free-form pod field (the template, a
# runner's resources or tolerations): a pod's deepest path (affinity's match
# expressions) is about twelve; pydantic stops serializing at about 250.
MAX_POD_DEPTH = 32
# ``${params.NAME}`` in a trial container's command or args: replaced by the operator.
PARAM_PLACEHOLDER = re.compile(r"\$\{params\.([A-Za-z_][A-Za-z0-9_.\-]*)\}")
_MAX_PROBLEMS = 5
_MAX_SHOWN = 80


@functools.cache
def _schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    # Read on first use: a session without a template never pays for it.
    from importlib.resources import files

    doc = json.loads(files("tuneop").joinpath("data", SCHEMA_FILE).read_text())
    return doc["schema"], doc["definitions"]


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    import jsonschema
    from referencing import Registry, Resource

    schema, defs = _schemas()
    registry: Registry = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(defs) @ registry
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def pod_spec_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """The PodSpec's schema and the definitions it refers to, for the CRD."""
    _, defs = _schemas()
    every: dict[str, Any] = defs["$defs"]
    return every["io.k8s.api.core.v1.PodSpec"], every


def _path(parts: Any) -> str:
    out = "spec.template"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


def _message(err: jsonschema.ValidationError) -> str:
    """One problem as ``path: rule``; what the user wrote is quoted, bounded."""
    where = _path(err.absolute_path)
    if err.validator == "required":
        missing = [f for f in err.validator_value if f not in (err.instance or {})]
        return f"{where}.{missing[0] if missing else '?'}: required"
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = set((err.schema or {}).get("properties") or {})
        unknown = sorted(k for k in err.instance if k not in known)
        name = unknown[0] if unknown else "?"
        return f"{where}.{name[:_MAX_SHOWN]}: unknown field"
    if err.validator == "type":
        kinds = err.validator_value
        kinds = [k for k in kinds if k != "null"] if isinstance(kinds, list) else [kinds]
        return f"{where}: must be {' or '.join(map(str, kinds))}, not {_shown(err.instance)}"
    if err.validator == "enum":
        allowed = [v for v in err.validator_value if v is not None]
        return f"{where}: must be one of {_shown(allowed)}"
    return f"{where}: {err.message[:200]}"


def _leaves(err: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    from jsonschema.exceptions import best_match

    # oneOf/anyOf errors (IntOrString) hide the useful message in their context.
    if err.context:
        return [best_match(err.context)]
    return [err]


@functools.lru_cache(maxsize=256)
def _problems_of(text: str) -> tuple[str, ...]:
    errors = sorted(
        _validator().iter_errors(json.loads(text)), key=lambda e: list(map(str, e.path))
    )
    out: list[str] = []
    for err in errors:
        for leaf in _leaves(err):
            msg = _message(leaf)
            if msg not in out:
                out.append(msg)
    return tuple(out[:_MAX_PROBLEMS])


def nesting_problem(value: Any, limit: int = MAX_POD_DEPTH) -> str | None:
    """ "nested too deeply" when ``value`` holds lists or mappings past ``limit`` levels.

    Walked without recursion, so any depth is measured without a RecursionError.
    """
    level: list[Any] = [value]
    for _ in range(limit + 1):
        inner: list[Any] = []
        for v in level:
            if isinstance(v, dict):
                inner.extend(v.values())
            elif isinstance(v, list):
                inner.extend(v)
        if not inner:
            return None
        level = inner
    return f"nested too deeply (more than {limit} levels)"


def larger_than(value: Any, limit: int) -> bool:
    """Whether ``value`` as JSON would take more than ``limit`` bytes, measured without
    writing it: the walk stops as soon as the count passes ``limit``, so a tree of
    shared subtrees (YAML aliases) costs at most ``limit`` steps, never its expansion."""
    size = 0
    stack: list[Any] = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            size += 2 + 4 * len(v) + sum(len(str(k)) for k in v)
            stack.extend(v.values())
        elif isinstance(v, list):
            size += 2 + len(v)
            stack.extend(v)
        else:
            size += len(v) + 2 if isinstance(v, str) else 8
        if size > limit:
            return True
    return False


def template_problems(template: dict[str, Any]) -> list[str]:
    """What makes ``template`` an invalid PodTemplateSpec, each as ``path: rule``."""
    # Measured first, bounded: neither the depth walk nor json.dumps meets more than this.
    if larger_than(template, MAX_TEMPLATE_BYTES):
        return [f"spec.template: at most {MAX_TEMPLATE_BYTES} bytes as JSON"]
    if problem := nesting_problem(template):
        return [f"spec.template: {problem}"]
    try:
        text = json.dumps(template, sort_keys=True, default=str)
    except (RecursionError, ValueError):  # ValueError: a cycle, from a program's dict
        return ["spec.template: nested too deeply"]
    if len(text) > MAX_TEMPLATE_BYTES:
        return [f"spec.template: at most {MAX_TEMPLATE_BYTES} bytes as JSON"]
    return list(_problems_of(text))


def trial_container_index(template: dict[str, Any], name: str | None) -> int | None:
    """The position of the trial container in ``template.spec.containers``, or None."""
    containers = (template.get("spec") or {}).get("containers") or []
    names = [c.get("name") if isinstance(c, dict) else None for c in containers]
    if name is not None:
        return names.index(name) if name in names else None
    if TRIAL_CONTAINER in names:
        return names.index(TRIAL_CONTAINER)
    return 0 if names else None


def placeholders(words: list[str]) -> set[str]:
    """The param names ``${params.NAME}`` placeholders in ``words`` refer to."""
    return {m.group(1) for w in words for m in PARAM_PLACEHOLDER.finditer(w)}
