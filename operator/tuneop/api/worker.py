"""How a trial runs: the worker's short form, its metrics, and the rules joining them.

``spec.runner`` is the short form of a trial's pod: an image, a command, env,
resources. It is a shorthand for a ``spec.template`` holding one container.
With a template, ``spec.runner`` keeps only what is about the trial itself
(which container runs it, the tuneop runner's objective), and everything
about the pod lives in the template; setting it in both places is an error.

``MetricsCollector`` says how metrics come back: the tuneop result contract
(``TUNEOP_RESULT`` lines, any number of trials per Job), Katib's StdOut text
format (``name=value`` on stdout, one trial per Job), or, as Katib's File and
TensorFlowEvent collectors, a file the trial writes (``name=value`` lines,
hypertune's JSON lines or the session's own regexes) or TensorFlow event files
under a directory, read by the ``tuneop-metrics-file`` follower beside the trial
(on a cluster a native sidecar in the trial's pod running ``image``; on this
machine a process), one trial per Job. A trial container's
``command`` and ``args`` may hold ``${params.NAME}`` placeholders; those, and
the StdOut format, need one trial per Job.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from tuneop.api import rules as R
from tuneop.api.patterns import compile_pattern
from tuneop.api.template import (
    MAX_TEMPLATE_BYTES,
    nesting_problem,
    placeholders,
    template_problems,
    trial_container_index,
)

__all__ = [
    "DEFAULT_COMMAND",
    "FILE_KINDS",
    "METRICS_IMAGE",
    "ApiModel",
    "EnvVar",
    "MetricStrategy",
    "MetricsCollector",
    "Runner",
    "trial_setup_problems",
]

DEFAULT_COMMAND = ["tuneop-runner"]
# The image whose tuneop-metrics-file follows a metrics file (the runner image).
METRICS_IMAGE = "tuneop/runner:0.1.0"
FILE_KINDS = ("File", "TensorFlowEvent")  # collectors that read a file, not the log
MAX_PATTERN_CHARS = 1024
# The short-form fields that describe the pod (the rest are about the trial itself).
_POD_FIELDS = {
    "image",
    "command",
    "args",
    "env",
    "resources",
    "service_account_name",
    "node_selector",
    "tolerations",
    "image_pull_policy",
}


class ApiModel(BaseModel):
    """The base of every spec model: camelCase on the wire, no unknown fields, frozen."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class EnvVar(ApiModel):
    name: str = Field(min_length=1, max_length=253)
    value: str = ""


class Runner(ApiModel):
    """The worker container (short form), or with a template the trial container's name."""

    model_config = ConfigDict(json_schema_extra=R.schema_extra(R.RUNNER_RULES))

    image: str | None = Field(
        default=None, min_length=1, description="Runner image (short form; not with a template)."
    )
    container: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        description="With spec.template: the trial container (default: 'trial', else the first).",
    )
    objective: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$",
        description="Python callable module:function, params in, metrics out.",
    )
    objective_command: list[str] | None = Field(
        default=None,
        min_length=1,
        description="External command run per trial; params as env and JSON on stdin.",
    )
    command: list[str] = Field(
        default_factory=lambda: list(DEFAULT_COMMAND),
        min_length=1,
        description="Container command; the default runs the tuneop runner.",
    )
    args: list[str] = Field(default_factory=list)
    env: list[EnvVar] = Field(default_factory=list)
    resources: dict[str, Any] = Field(
        default_factory=dict, description="Container resources (requests, limits)."
    )
    service_account_name: str | None = Field(default=None, max_length=253)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None

    @model_validator(mode="after")
    def _check(self) -> Runner:
        if self.objective is not None and self.objective_command is not None:
            raise ValueError(R.OBJECTIVE_XOR_COMMAND.message)
        reserved = [e.name for e in self.env if e.name.startswith("TUNEOP_")]
        if reserved:
            raise ValueError(f"{R.RESERVED_ENV.message} ({reserved[0]})")
        for field, value in (("resources", self.resources), ("tolerations", self.tolerations)):
            if problem := nesting_problem(value):
                raise ValueError(f"{field}: {problem}")
        # The short form is a template: the same bound (the plan copies it into each Job).
        pod = self.model_dump(include=_POD_FIELDS, mode="json")
        if len(json.dumps(pod)) > MAX_TEMPLATE_BYTES:
            raise ValueError(
                f"at most {MAX_TEMPLATE_BYTES:,} bytes as JSON, as spec.template (its short form)"
            )
        return self

    def pod_fields(self) -> list[str]:
        """The short-form fields this runner sets (they describe the pod)."""
        set_ = {
            "image": self.image is not None,
            "command": self.command != DEFAULT_COMMAND,
            "args": bool(self.args),
            "env": bool(self.env),
            "resources": bool(self.resources),
            "serviceAccountName": self.service_account_name is not None,
            "nodeSelector": bool(self.node_selector),
            "tolerations": bool(self.tolerations),
            "imagePullPolicy": self.image_pull_policy is not None,
        }
        return [name for name, is_set in set_.items() if is_set]


class MetricStrategy(ApiModel):
    """Which of a metric's values counts when a trial prints it more than once."""

    name: str = Field(min_length=1, max_length=128)
    value: Literal["latest", "min", "max"] = "latest"


class MetricsCollector(ApiModel):
    """How a trial's metrics come back: from its log, or from a file it writes."""

    kind: Literal["TuneopResult", "StdOut", "File", "TensorFlowEvent"] = Field(
        default="TuneopResult",
        description=(
            "TuneopResult: the TUNEOP_RESULT line contract. StdOut: Katib's text format,"
            " name=value on stdout, one trial per Job. File: the same text (or JSON lines,"
            " or metricsFormat) in the file at path. TensorFlowEvent: the scalars of the"
            " TensorFlow event files under the directory path. File and TensorFlowEvent:"
            " one trial per Job."
        ),
    )
    metric_strategies: list[MetricStrategy] = Field(
        default_factory=list,
        max_length=64,
        description="Per metric, latest (the default), min or max of its values.",
    )
    path: str | None = Field(
        default=None,
        min_length=2,
        max_length=1024,
        pattern=r"^/[^\x00]*[^/]$",
        description="File: the metrics file; TensorFlowEvent: the event files' directory."
        " An absolute path in the trial container.",
    )
    format: Literal["TEXT", "JSON"] = Field(
        default="TEXT",
        description="File: TEXT (name=value lines) or JSON (one JSON object per line).",
    )
    metrics_format: list[str] = Field(
        default_factory=list,
        max_length=16,
        description="StdOut, File TEXT: regexes whose first two groups are the metric's name"
        " and value (Katib's filter.metricsFormat); default Katib's name=value filter.",
    )
    image: str = Field(
        default=METRICS_IMAGE,
        min_length=1,
        max_length=512,
        description="File, TensorFlowEvent: the image of the sidecar that follows the file"
        " (it runs tuneop-metrics-file: the tuneop runner image).",
    )

    @model_validator(mode="after")
    def _check(self) -> MetricsCollector:
        if self.kind in FILE_KINDS and self.path is None:
            raise ValueError(f"path: required with kind {self.kind}")
        if self.kind not in FILE_KINDS and self.path is not None:
            raise ValueError("path: only with kind File or TensorFlowEvent")
        if self.format == "JSON" and self.kind != "File":
            raise ValueError("format: JSON only with kind File")
        if self.metrics_format and (self.kind not in ("StdOut", "File") or self.format == "JSON"):
            raise ValueError("metricsFormat: only with kind StdOut or File (format TEXT)")
        for i, pattern in enumerate(self.metrics_format):
            if problem := _pattern_problem(pattern):
                raise ValueError(f"metricsFormat[{i}]: {problem}")
        return self

    def strategy(self, metric: str) -> str:
        for s in self.metric_strategies:
            if s.name == metric:
                return s.value
        return "latest"


def _pattern_problem(pattern: str) -> str | None:
    """A regex of metricsFormat: at most 1024 characters, valid, two groups at least, the
    metric's name and its value (Katib takes the first two)."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"at most {MAX_PATTERN_CHARS} characters"
    try:
        groups = int(compile_pattern(pattern).groups)
    except ValueError as err:
        return f"not a valid RE2 regex, Katib's syntax ({err})"
    if groups < 2:
        return "must have two groups: the metric's name and its value"
    return None


def _trial_container(template: dict[str, Any], runner: Runner) -> tuple[list[str], str | None]:
    """The trial container's command and args, or a problem with the template."""
    problems = template_problems(template)
    if problems:
        return [], problems[0]
    index = trial_container_index(template, runner.container)
    if index is None:
        return [], f"runner.container: the template has no container named {runner.container!r}"
    container = template["spec"]["containers"][index]
    for i, env in enumerate(container.get("env") or []):
        if str(env.get("name", "")).startswith("TUNEOP_"):
            where = f"spec.template.spec.containers[{index}].env[{i}].name"
            return [], f"{where}: names starting with TUNEOP_ are reserved"
    return [*(container.get("command") or []), *(container.get("args") or [])], None


def trial_setup_problems(
    template: dict[str, Any] | None,
    runner: Runner,
    collector: MetricsCollector,
    param_names: set[str] | None,
    packs_trials: bool,
) -> str | None:
    """The first problem with how trials run, as ``field: rule``, or None.

    ``param_names`` is None when the trials list may name any param; ``packs_trials``
    says whether a Job may hold several trials (``workers``, ``trialsPerJob`` > 1).
    """
    if template is None:
        if runner.image is None:
            return R.RUNNER_IMAGE_OR_TEMPLATE.message
        if runner.container is not None:
            return "runner.container: only with spec.template"
        words, where = [*runner.command, *runner.args], "runner.args"
    else:
        pod_fields = runner.pod_fields()
        if pod_fields:
            return f"runner.{pod_fields[0]}: set it in spec.template, not in spec.runner"
        where = "template"
        words, problem = _trial_container(template, runner)
        if problem:
            return problem
    used = placeholders(words)
    unknown = sorted(used - param_names) if param_names is not None else []
    if unknown:
        return f"{where}: ${{params.{unknown[0]}}} names no parameter of the search space"
    if packs_trials and (used or collector.kind != "TuneopResult"):
        why = "${params.x} placeholders" if used else f"metricsCollector.kind {collector.kind}"
        return f"trialsPerJob: {why} need one trial per Job (no workers, trialsPerJob 1)"
    return None
