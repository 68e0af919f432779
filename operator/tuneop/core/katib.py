"""A Katib ``v1beta1`` Experiment, converted into a TuningSession.

What carries over: the parameters and their feasible spaces (``double`` →
float, ``int``, ``categorical``, ``discrete`` → categorical; ``logUniform`` →
``log``), the objective (type, goal, metric strategies), the algorithm
(random, grid and cmaes as they are; tpe, multivariate-tpe and
bayesianoptimization as tuneop's bayesian optimizer, Optuna's TPE; sobol as
qmc; ``random_state`` as the seed),
``parallelTrialCount``, ``maxTrialCount``, ``maxFailedTrialCount``, a
``batch/v1`` Job ``trialSpec`` (its pod template becomes ``spec.template``,
``primaryContainerName`` the trial container, ``backoffLimit`` the retries,
``activeDeadlineSeconds`` the trial timeout) with its ``${trialParameters.x}``
placeholders rewritten to ``${params.<reference>}``, and the StdOut metrics
collector (Katib's default).

What does not carry over is returned as notes, one line each: early stopping,
NAS, other trial kinds, other collectors, custom metric filters, placeholders
outside the trial container's command and args. A conversion that leaves
nothing to run (no parameters, no Job trial spec) raises ``KatibError``.
Katib has no trial timeout nor experiment deadline: the session gets a day per
trial and tuneop's 30-day bound unless the Job says otherwise.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from tuneop.api.spec import API_GROUP, API_VERSION, KIND, MAX_SECONDS

__all__ = ["TRIAL_TIMEOUT_SECONDS", "KatibError", "convert_experiment"]

TRIAL_TIMEOUT_SECONDS = 24 * 3600
_TRIAL_PARAM = re.compile(r"\$\{trialParameters\.([^}]*)\}")
_ALGORITHMS = {
    "random": "random",
    "grid": "grid",
    "tpe": "bayesian",
    "multivariate-tpe": "bayesian",
    "bayesianoptimization": "bayesian",
    "cmaes": "cmaes",
    "sobol": "qmc",
}


class KatibError(ValueError):
    """An Experiment with nothing tuneop can run; ``str()`` says why, in one line."""


def _number(text: Any, where: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise KatibError(f"{where}: not a number") from None


def _parameter(p: Any, i: int, notes: list[str]) -> dict[str, Any]:
    where = f"spec.parameters[{i}]"
    if not isinstance(p, dict) or not isinstance(p.get("name"), str):
        raise KatibError(f"{where}.name: required")
    kind, space = p.get("parameterType"), p.get("feasibleSpace") or {}
    out: dict[str, Any] = {"name": p["name"]}
    if kind in {"categorical", "discrete"}:
        values = list(space.get("list") or [])
        if kind == "discrete":
            values = [_number(v, f"{where}.feasibleSpace.list") for v in values]
            values = [int(v) if v == int(v) else v for v in values]
        return {**out, "type": "categorical", "values": values}
    if kind not in {"double", "int"}:
        raise KatibError(f"{where}.parameterType: {str(kind)[:40]!r} is not one tuneop knows")
    out["type"] = "float" if kind == "double" else "int"
    for key in ("min", "max", "step"):
        if space.get(key) not in (None, ""):
            value = _number(space[key], f"{where}.feasibleSpace.{key}")
            out[key] = int(value) if kind == "int" and value == int(value) else value
    distribution = space.get("distribution")
    if distribution == "logUniform":
        out["log"] = True
    elif distribution not in (None, "uniform"):
        notes.append(f"{where}: distribution {distribution} not carried over (sampled uniformly)")
    return out


def _algorithm(spec: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    algo = spec.get("algorithm") or {}
    name = algo.get("algorithmName", "random")
    optimizer: dict[str, Any] = {"type": _ALGORITHMS.get(name, "random")}
    if name not in _ALGORITHMS:
        notes.append(f"spec.algorithm: {str(name)[:40]} not carried over; random search instead")
    elif name in {"bayesianoptimization", "multivariate-tpe"}:
        notes.append(f"spec.algorithm: {name} becomes tuneop's bayesian optimizer (Optuna TPE)")
    for setting in algo.get("algorithmSettings") or []:
        if setting.get("name") == "random_state":
            optimizer["seed"] = int(_number(setting.get("value"), "random_state"))
        else:
            notes.append(
                f"spec.algorithm.algorithmSettings: {setting.get('name')} not carried over"
            )
    return optimizer


def _objective(spec: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    obj = spec.get("objective") or {}
    metric = obj.get("objectiveMetricName")
    if not isinstance(metric, str) or not metric:
        raise KatibError("spec.objective.objectiveMetricName: required")
    out: dict[str, Any] = {"metric": metric, "direction": obj.get("type", "minimize")}
    if obj.get("goal") is not None:
        out["goal"] = _number(obj["goal"], "spec.objective.goal")
    strategies = [
        {"name": s["name"], "value": s["value"]}
        for s in obj.get("metricStrategies") or []
        if isinstance(s, dict) and s.get("name") and s.get("value") in {"min", "max", "latest"}
    ]
    return out, strategies


def _rewrite(words: list[str], refs: dict[str, str]) -> list[str]:
    return [
        _TRIAL_PARAM.sub(lambda m: "${params." + refs.get(m.group(1), m.group(1)) + "}", w)
        for w in words
    ]


def _template(spec: dict[str, Any], notes: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pod template and the session fields taken from ``trialTemplate``."""
    tt = spec.get("trialTemplate") or {}
    job = tt.get("trialSpec")
    if not isinstance(job, dict):
        what = "a configMap trial template" if tt.get("configMap") else "no trialSpec"
        raise KatibError(f"spec.trialTemplate: {what}; tuneop needs an inline batch/v1 Job")
    if (job.get("apiVersion"), job.get("kind")) != ("batch/v1", "Job"):
        kind = f"{job.get('apiVersion')} {job.get('kind')}"[:80]
        raise KatibError(f"spec.trialTemplate.trialSpec: {kind} is not a batch/v1 Job")
    job_spec = job.get("spec") or {}
    template = copy.deepcopy(job_spec.get("template") or {})
    refs = {p.get("name"): p.get("reference") for p in tt.get("trialParameters") or []}
    containers = (template.get("spec") or {}).get("containers") or []
    primary = tt.get("primaryContainerName")
    for c in containers:
        if c.get("name") == primary or primary is None:
            for key in ("command", "args"):
                if c.get(key):
                    c[key] = _rewrite(list(c[key]), refs)
            break
    leftover = sorted(set(_TRIAL_PARAM.findall(str(template))))
    if leftover:
        notes.append(
            f"spec.trialTemplate: ${{trialParameters.{leftover[0]}}} outside the primary"
            " container's command and args is not substituted"
        )
    (template.get("spec") or {}).pop("restartPolicy", None)  # tuneop sets Never
    fields: dict[str, Any] = {}
    if isinstance(job_spec.get("backoffLimit"), int):
        fields["retries"] = job_spec["backoffLimit"]
    fields["trialTimeoutSeconds"] = job_spec.get("activeDeadlineSeconds") or TRIAL_TIMEOUT_SECONDS
    if primary:
        fields["runner"] = {"container": primary}
    for key in ("successCondition", "failureCondition"):
        if tt.get(key):
            notes.append(
                f"spec.trialTemplate.{key}: not carried over (the Job's own status counts)"
            )
    return template, fields


def _collector(
    spec: dict[str, Any], strategies: list[dict[str, Any]], notes: list[str]
) -> dict[str, Any]:
    mc = spec.get("metricsCollectorSpec") or {}
    kind = (mc.get("collector") or {}).get("kind", "StdOut")
    if kind != "StdOut":
        notes.append(
            f"spec.metricsCollectorSpec: collector {str(kind)[:40]} not carried over;"
            " the trial must print name=value on stdout"
        )
    if ((mc.get("source") or {}).get("filter") or {}).get("metricsFormat"):
        notes.append("spec.metricsCollectorSpec.source.filter: custom formats not carried over")
    out: dict[str, Any] = {"kind": "StdOut"}
    if strategies:
        out["metricStrategies"] = strategies
    return out


def convert_experiment(exp: Any) -> tuple[dict[str, Any], list[str]]:
    """A TuningSession manifest for Katib Experiment ``exp``, and what did not carry over."""
    if not isinstance(exp, dict) or exp.get("kind") != "Experiment":
        raise KatibError("not a Katib Experiment (kind: Experiment)")
    if not str(exp.get("apiVersion", "")).startswith("kubeflow.org/"):
        raise KatibError("apiVersion: not kubeflow.org/v1beta1")
    spec = exp.get("spec") or {}
    notes: list[str] = []
    for key, what in (("earlyStopping", "early stopping"), ("nasConfig", "NAS")):
        if spec.get(key):
            notes.append(f"spec.{key}: {what} not carried over")
    if not spec.get("parameters"):
        raise KatibError("spec.parameters: none to tune (a NAS experiment has nothing tuneop runs)")
    objective, strategies = _objective(spec)
    template, fields = _template(spec, notes)
    session: dict[str, Any] = {
        "objective": objective,
        "searchSpace": [_parameter(p, i, notes) for i, p in enumerate(spec["parameters"])],
        "optimizer": _algorithm(spec, notes),
    }
    if spec.get("maxTrialCount") is not None:
        session["totalTrials"] = int(spec["maxTrialCount"])
    elif session["optimizer"]["type"] != "grid":
        session["totalTrials"] = 10
        notes.append("spec.maxTrialCount: absent; totalTrials set to 10")
    session["maxParallel"] = int(spec.get("parallelTrialCount") or 3)
    if spec.get("maxFailedTrialCount") is not None:
        session["maxFailedTrials"] = int(spec["maxFailedTrialCount"])
    session.update(fields)
    session["deadlineSeconds"] = MAX_SECONDS
    session["metricsCollector"] = _collector(spec, strategies, notes)
    session["template"] = template
    meta = exp.get("metadata") or {}
    metadata = {k: meta[k] for k in ("name", "namespace") if isinstance(meta.get(k), str)}
    manifest = {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": KIND, "metadata": metadata}
    return {**manifest, "spec": session}, notes
