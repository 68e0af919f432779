"""``spec.trialResource``: a trial run as a resource of any kind.

Instead of a Job's pod (``spec.template`` or the ``runner`` short form), a
session may name a full manifest (apiVersion, kind, metadata, spec) with the
same ``${params.NAME}`` placeholders in any string value; tuneop creates one
such resource per trial. When it has finished is told by two CEL expressions
over the object as ``self`` (``successCondition``, ``failureCondition``), the
language Kubernetes writes its own rules in, and which pod's log holds the
metrics by ``primaryPodLabels`` and ``primaryContainer``. A well-known kind
(``tuneop.api.trial_kinds``) fills in whatever of these the session leaves out;
any other kind must give both conditions.

A condition is untrusted text: it is bounded before it is parsed (length), then
compiled with cel-python (``celpy``, imported only for a session that has a
trial resource), and its cost is bounded by how deeply its comprehensions
(``exists``, ``all``, ``map``...) nest: at most ``MAX_COMPREHENSION_DEPTH``, so
an evaluation over an object of bounded size takes bounded time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field, model_validator

from tuneop.api.template import MAX_TEMPLATE_BYTES, PARAM_PLACEHOLDER, nesting_problem
from tuneop.api.trial_kinds import KindDefaults, known_kind
from tuneop.api.worker import ApiModel

__all__ = [
    "MAX_COMPREHENSION_DEPTH",
    "MAX_CONDITION_LENGTH",
    "ResolvedTrialResource",
    "TrialResource",
    "cel_problem",
    "manifest_strings",
    "trial_resource_problem",
]

MAX_CONDITION_LENGTH = 1024
MAX_COMPREHENSION_DEPTH = 2
_MACROS = {"exists", "all", "exists_one", "map", "filter"}
_LABEL_KEY = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
_LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"


def _depth(tree: Any) -> int:
    """How deeply comprehension macros nest in a lark parse tree of CEL."""
    children = getattr(tree, "children", None)
    if children is None:
        return 0
    own = int(
        getattr(tree, "data", "") == "member_dot_arg"
        and len(children) > 1
        and str(children[1]) in _MACROS
    )
    return own + max((_depth(c) for c in children), default=0)


def cel_problem(expression: str) -> str | None:
    """Why ``expression`` is no condition tuneop evaluates, in a few words, or None."""
    if len(expression) > MAX_CONDITION_LENGTH:
        return f"longer than {MAX_CONDITION_LENGTH} characters"
    import celpy  # only for a session with a trial resource: it costs ~0.3 s to import

    try:
        tree = celpy.Environment().compile(expression)
    except Exception as err:
        column = getattr(err, "column", None)
        return "not valid CEL" + (f" (at character {column})" if isinstance(column, int) else "")
    if _depth(tree) > MAX_COMPREHENSION_DEPTH:
        return f"comprehensions nest deeper than {MAX_COMPREHENSION_DEPTH}"
    return None


def manifest_strings(value: Any) -> list[str]:
    """Every string value in a manifest (where ``${params.NAME}`` may stand)."""
    out: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


@dataclass(frozen=True)
class ResolvedTrialResource:
    """A trial resource with its kind's defaults filled in: what the operator acts on."""

    api_version: str
    kind: str
    success_condition: str
    failure_condition: str
    primary_pod_labels: dict[str, str]
    primary_container: str | None
    pod_label: str | None  # the kind's label naming the resource on its pods, if known
    kueue: bool


class TrialResource(ApiModel):
    """A manifest of any kind, one per trial, and how to tell how it ended."""

    manifest: dict[str, Any] = Field(
        description="A full manifest (apiVersion, kind, metadata, spec) with ${params.NAME}"
        " placeholders in any string value."
    )
    success_condition: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CONDITION_LENGTH,
        description="CEL over the object as self: true once the trial succeeded"
        " (optional for a well-known kind).",
    )
    failure_condition: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CONDITION_LENGTH,
        description="CEL over the object as self: true once the trial failed"
        " (optional for a well-known kind).",
    )
    primary_pod_labels: dict[str, str] | None = Field(
        default=None,
        description="Labels of the pod whose log holds the metrics (optional for a well-known"
        " kind).",
    )
    primary_container: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        description="The container of that pod (default: the kind's, else its first).",
    )

    @property
    def api_version(self) -> str:
        return str(self.manifest["apiVersion"])

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    @property
    def defaults(self) -> KindDefaults | None:
        return known_kind(self.api_version, self.kind)

    def resolved(self) -> ResolvedTrialResource:
        """Every field, the session's own where it gave one, else the kind's default."""
        d = self.defaults
        labels = self.primary_pod_labels
        if labels is None:
            labels = d.primary_pod_labels(self.manifest) if d else {}
        # The validator refused an unknown kind without both conditions.
        success = self.success_condition or (d.success if d else "false")
        failure = self.failure_condition or (d.failure if d else "false")
        return ResolvedTrialResource(
            api_version=self.api_version,
            kind=self.kind,
            success_condition=success,
            failure_condition=failure,
            primary_pod_labels=dict(labels),
            primary_container=self.primary_container or (d.primary_container if d else None),
            pod_label=d.pod_label if d else None,
            kueue=d.kueue if d else False,
        )

    @model_validator(mode="after")
    def _check(self) -> TrialResource:
        if problem := self._manifest_problem():
            raise ValueError(problem)
        if self.defaults is None:
            for field, value in (
                ("successCondition", self.success_condition),
                ("failureCondition", self.failure_condition),
            ):
                if value is None:
                    raise ValueError(
                        f"{field}: required for {self.api_version} {self.kind}"
                        " (tuneop knows no default for this kind)"
                    )
        for field, value in (
            ("successCondition", self.success_condition),
            ("failureCondition", self.failure_condition),
        ):
            if value is not None and (why := cel_problem(value)):
                raise ValueError(f"{field}: {why}")
        if problem := self._labels_problem():
            raise ValueError(problem)
        return self

    def _manifest_problem(self) -> str | None:
        m = self.manifest
        for key in ("apiVersion", "kind"):
            value = m.get(key)
            if not isinstance(value, str) or not value or len(value) > 253:
                return f"manifest.{key}: required, a non-empty string"
        if not isinstance(m.get("spec"), dict):
            return "manifest.spec: required, a mapping"
        if "metadata" in m and not isinstance(m["metadata"], dict):
            return "manifest.metadata: must be a mapping"
        if (m.get("apiVersion"), m.get("kind")) == ("batch/v1", "Job"):
            return "manifest: a batch/v1 Job is spec.template's (its pod template)"
        if why := nesting_problem(m):
            return f"manifest: {why}"
        if len(repr(m)) > MAX_TEMPLATE_BYTES:
            return f"manifest: larger than {MAX_TEMPLATE_BYTES // 1024} KiB"
        return None

    def _labels_problem(self) -> str | None:
        import re

        labels = self.primary_pod_labels or {}
        if len(labels) > 16:
            return "primaryPodLabels: at most 16 labels"
        for key, value in labels.items():
            if len(key) > 316 or not re.match(_LABEL_KEY, key):
                return f"primaryPodLabels: {key[:63]!r} is not a label key"
            if len(value) > 63 or not re.match(_LABEL_VALUE, value):
                return f"primaryPodLabels.{key}: not a label value"
        return None


def trial_resource_problem(
    resource: TrialResource,
    template: dict[str, Any] | None,
    runner_fields: list[str],
    param_names: set[str] | None,
    packs_trials: bool,
) -> str | None:
    """The first problem with a session whose trials are ``resource``, or None.

    ``runner_fields`` are the ``spec.runner`` fields the session set: the manifest
    holds the pod, so none of them has a place; the container is ``primaryContainer``.
    """
    if template is not None:
        return "trialResource: set it or spec.template, not both"
    if runner_fields:
        return f"runner.{runner_fields[0]}: not with spec.trialResource (its manifest holds it)"
    used = {
        m.group(1)
        for s in manifest_strings(resource.manifest)
        for m in PARAM_PLACEHOLDER.finditer(s)
    }
    unknown = sorted(used - param_names) if param_names is not None else []
    if unknown:
        return (
            f"trialResource.manifest: ${{params.{unknown[0]}}} names no parameter"
            " of the search space"
        )
    if packs_trials:
        return "trialsPerJob: a trial resource runs one trial (no workers, trialsPerJob 1)"
    return None
