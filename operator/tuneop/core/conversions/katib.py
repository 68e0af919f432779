"""A Katib ``v1beta1`` Experiment, converted into a TuningSession as Katib runs it.

What carries over (docs/katib.md has the table, field by field): the parameters
and their feasible spaces (``double`` → float, ``int``, ``categorical``,
``discrete`` → categorical with its values as written; ``logUniform`` →
``log``), the objective (type, goal) with Katib's metric strategies: those given,
else ``min`` for minimize and ``max`` for maximize, for the objective and every
additional metric (``experiment_defaults.go``); the algorithm (random, grid and
cmaes as they are; ``tpe`` as independent TPE, hyperopt's kind;
``multivariate-tpe`` as Optuna's multivariate TPE; ``bayesianoptimization`` as
``gp`` when ``tuneop[gp]`` is installed, else TPE with a note; sobol as qmc;
hyperband with its ``resource_name``, ``r_l`` and ``eta`` as tuneop's hyperband
search; ``random_state`` as the seed); ``normal`` and ``logNormal``
distributions as tuneop's ``distribution`` where Katib draws them (random and
tpe, its hyperopt service; with another algorithm Katib samples them uniformly,
and so does the import, with a note); ``parallelTrialCount`` (default 3),
``maxTrialCount``, and ``maxFailedTrialCount`` N as ``maxFailedTrials:
max(N-1, 0)``: Katib v0.19.0 fails the experiment when failed trials reach N
(``status_util.go``: ``failed != 0 && failed >= N``, a trial without metrics
counted as failed), tuneop stops when more than ``maxFailedTrials`` have failed.
The trial template is ``katib_trial``'s (a Job, inline or from a ConfigMap,
or a resource of another kind through ``katib_kinds``); the metrics collector
and early stopping are ``katib_metrics``'s.

What does not carry over is returned as notes, one line per field; the command
prints them and ``--strict`` refuses them. An Experiment tuneop cannot run at all
(no parameters, no inline Job) or a field of the wrong shape raises
``KatibError`` naming the field.
"""

from __future__ import annotations

import json
from typing import Any

from tuneop.api.parameters import env_name_clash
from tuneop.api.spec import API_GROUP, API_VERSION, KIND, MAX_SECONDS
from tuneop.core.conversions.katib_algorithm import algorithm, algorithm_name
from tuneop.core.conversions.katib_fields import (
    KatibError,
    count,
    listed,
    mapping,
    number,
    whole,
)
from tuneop.core.conversions.katib_metrics import collector, early_stopping
from tuneop.core.conversions.katib_trial import TRIAL_TIMEOUT_SECONDS, trial_template

__all__ = ["TRIAL_TIMEOUT_SECONDS", "KatibError", "convert_experiment", "max_failed_trials"]

# Katib v0.19.0 draws normal and logNormal parameters in its hyperopt service only
# (random and tpe); its optuna, goptuna and skopt services sample them uniformly.
_DRAWN = ("normal", "logNormal")
_DRAWS_NORMAL = ("random", "tpe")
# Katib's webhook takes these (empty: uniform, its default; "unknown" is its own zero value).
_DISTRIBUTIONS = (None, "", "uniform", "unknown", "logUniform", *_DRAWN)
_STRATEGIES = ("min", "max", "latest")
_EXPERIMENT_CARRIED = {
    "parameters", "objective", "algorithm", "trialTemplate", "parallelTrialCount",
    "maxTrialCount", "maxFailedTrialCount", "metricsCollectorSpec",
}  # fmt: skip


def max_failed_trials(katib_max_failed: int) -> int:
    """tuneop's ``maxFailedTrials`` for Katib's ``maxFailedTrialCount``.

    Katib v0.19.0 (``pkg/controller.v1beta1/experiment/util/status_util.go``) fails an
    experiment when ``failed != 0 && failed >= N``; tuneop stops when ``failed >
    maxFailedTrials``. Both hold at the same count when ``maxFailedTrials = N - 1``;
    N = 0 stops at the first failure in both.
    """
    return max(katib_max_failed - 1, 0)


def _values(space: dict[str, Any], kind: str, where: str) -> list[Any]:
    values = listed(space.get("list"), f"{where}.list")
    if not values:
        raise KatibError(f"{where}.list: at least one value")
    if kind == "discrete":
        for j, v in enumerate(values):
            number(v, f"{where}.list[{j}]")  # checked, kept as written: "0.010" stays
    # A categorical value's type is the session's to check (every bad one named).
    return list(values)


def _parameter(p: Any, i: int, algorithm: str, notes: list[str]) -> dict[str, Any]:
    where = f"spec.parameters[{i}]"
    if not isinstance(p, dict) or not isinstance(p.get("name"), str):
        raise KatibError(f"{where}.name: required")
    kind = p.get("parameterType")
    if kind is None or kind == "":
        raise KatibError(f"{where}.parameterType: required (double, int, categorical, discrete)")
    kind = kind if isinstance(kind, str) else repr(kind)
    space = mapping(p.get("feasibleSpace"), f"{where}.feasibleSpace")
    given = {k for k in ("min", "max", "step") if space.get(k) not in (None, "")}
    out: dict[str, Any] = {"name": p["name"]}
    if kind in {"categorical", "discrete"}:
        if given:  # as Katib's webhook refuses them: tuneop would drop them
            raise KatibError(
                f"{where}.feasibleSpace: .max, .min and .step are not supported for"
                f" parameterType: {kind}"
            )
        values = _values(space, kind, f"{where}.feasibleSpace")
        return {**out, "type": "categorical", "values": values}
    if kind not in {"double", "int"}:
        raise KatibError(f"{where}.parameterType: {str(kind)[:40]!r} is not one tuneop knows")
    if listed(space.get("list"), f"{where}.feasibleSpace.list"):
        raise KatibError(
            f"{where}.feasibleSpace.list: not supported for parameterType: {kind} (give min"
            " and max, or make it discrete)"
        )
    if not {"min", "max"} <= given:
        raise KatibError(
            f"{where}.feasibleSpace: max and min must be specified for parameterType: {kind}"
        )
    out["type"] = "float" if kind == "double" else "int"
    for key in sorted(given, key=("min", "max", "step").index):
        value = number(space[key], f"{where}.feasibleSpace.{key}")
        out[key] = whole(value) if kind == "int" else value
    return _distribution(out, space.get("distribution"), where, algorithm, notes)


def _distribution(
    out: dict[str, Any], distribution: Any, where: str, algorithm: str, notes: list[str]
) -> dict[str, Any]:
    """A numeric parameter ``out`` with its ``feasibleSpace.distribution`` as tuneop's."""
    if distribution not in _DISTRIBUTIONS:
        raise KatibError(
            f"{where}.feasibleSpace.distribution: {str(distribution)[:40]} is not one of"
            " Katib's (uniform, logUniform, normal, logNormal)"
        )
    if distribution == "logUniform" and "step" in out:
        raise KatibError(
            f"{where}.feasibleSpace: logUniform with a step (hyperopt's qloguniform) has no"
            " match in tuneop: Optuna steps a linear scale only; drop the step or the log"
        )
    if distribution == "logUniform":
        out["log"] = True
    elif distribution in _DRAWN and algorithm in _DRAWS_NORMAL:
        out["distribution"] = distribution
    elif distribution in _DRAWN:
        notes.append(
            f"{where}.feasibleSpace.distribution: {distribution} sampled uniformly, as"
            f" Katib's suggestion service for {algorithm[:40]} samples it (only random and"
            " tpe draw it)"
        )
    return out


def _strategies(obj: dict[str, Any], metric: str, direction: str) -> list[dict[str, str]]:
    where = "spec.objective.metricStrategies"
    given: dict[str, str] = {}
    for i, s in enumerate(listed(obj.get("metricStrategies"), where)):
        s = mapping(s, f"{where}[{i}]")
        if not isinstance(s.get("name"), str) or s.get("value") not in _STRATEGIES:
            raise KatibError(f"{where}[{i}]: a name and a value of min, max or latest")
        given[s["name"]] = s["value"]
    extra = listed(obj.get("additionalMetricNames"), "spec.objective.additionalMetricNames")
    if not all(isinstance(m, str) for m in extra):
        raise KatibError("spec.objective.additionalMetricNames: must be a list of strings")
    if metric in extra:
        raise KatibError(
            "spec.objective.additionalMetricNames: should not contain"
            " spec.objective.objectiveMetricName"
        )
    default = "min" if direction == "minimize" else "max"
    for name in [metric, *extra]:
        given.setdefault(name, default)
    return [{"name": k, "value": v} for k, v in given.items()]


def _objective(spec: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    obj = mapping(spec.get("objective"), "spec.objective")
    metric = obj.get("objectiveMetricName")
    if not isinstance(metric, str) or not metric:
        raise KatibError("spec.objective.objectiveMetricName: required")
    direction = obj.get("type")
    if direction not in ("minimize", "maximize"):  # Katib has no default: it refuses
        raise KatibError("spec.objective.type: must be minimize or maximize")
    out: dict[str, Any] = {"metric": metric, "direction": direction}
    if obj.get("goal") is not None:
        out["goal"] = number(obj["goal"], "spec.objective.goal")
    return out, _strategies(obj, metric, direction)


def _katib_count(spec: dict[str, Any], key: str, least: int) -> int | None:
    """``spec.<key>``, at least ``least`` as Katib's webhook requires, or None when absent."""
    if spec.get(key) is None:
        return None
    found = count(spec[key], f"spec.{key}")
    if found < least:
        rule = "should not be less than 0" if least == 0 else "must be greater than 0"
        raise KatibError(f"spec.{key}: {rule}")
    return found


def _counts(spec: dict[str, Any], session: dict[str, Any], notes: list[str]) -> None:
    for key in ("maxTrialCount", "parallelTrialCount"):
        _katib_count(spec, key, 1)
    _katib_count(spec, "maxFailedTrialCount", 0)
    if spec.get("maxTrialCount") is not None:
        session["totalTrials"] = count(spec["maxTrialCount"], "spec.maxTrialCount")
    elif session["optimizer"]["type"] not in ("grid", "hyperband"):
        session["totalTrials"] = 10
        notes.append("spec.maxTrialCount: absent; totalTrials set to 10")
    parallel = spec.get("parallelTrialCount")
    session["maxParallel"] = 3 if parallel is None else count(parallel, "spec.parallelTrialCount")
    if spec.get("maxFailedTrialCount") is not None:
        failed = count(spec["maxFailedTrialCount"], "spec.maxFailedTrialCount")
        session["maxFailedTrials"] = max_failed_trials(failed)


def _rest(spec: dict[str, Any], notes: list[str]) -> None:
    """One note per Experiment field tuneop has no place for."""
    if spec.get("nasConfig"):
        notes.append("spec.nasConfig: NAS not carried over")
    if spec.get("resumePolicy") is not None:
        notes.append(
            f"spec.resumePolicy: {str(spec['resumePolicy'])[:40]} not carried over (a tuneop"
            " session resumes from its results whenever it is run again)"
        )
    for key in sorted(
        set(spec) - _EXPERIMENT_CARRIED - {"earlyStopping", "nasConfig", "resumePolicy"}
    ):
        notes.append(f"spec.{str(key)[:60]}: not carried over")


def _env_clash(space: list[dict[str, Any]], template: dict[str, Any]) -> None:
    """Two parameters the trial's env values read through one ``TUNEOP_PARAM_`` variable
    (``learning-rate``, ``learning_rate``) would read one value: Katib gives each its own."""
    clash = env_name_clash([p["name"] for p in space])
    if clash is not None and f"$({clash[2]})" in json.dumps(template):
        raise KatibError(
            f"spec.trialTemplate: the env values of {clash[0]} and {clash[1]} would both read"
            f" {clash[2]} (tuneop names a parameter's variable by its letters and digits);"
            " rename one of them"
        )


def convert_experiment(
    exp: Any, gp: bool = False, config_map: Any = None
) -> tuple[dict[str, Any], list[str]]:
    """A TuningSession manifest for Katib Experiment ``exp``, and what did not carry over.

    ``gp``: whether tuneop's ``gp`` optimizer can run here (PyTorch is installed).
    ``config_map``: the ConfigMap (a mapping) holding the trial template when
    ``trialTemplate.configMap`` names one; without it such an Experiment is refused.
    """
    if not isinstance(exp, dict) or exp.get("kind") != "Experiment":
        raise KatibError("not a Katib Experiment (kind: Experiment)")
    if not str(exp.get("apiVersion", "")).startswith("kubeflow.org/"):
        raise KatibError("apiVersion: not kubeflow.org/v1beta1")
    spec = mapping(exp.get("spec"), "spec")
    notes: list[str] = []
    _rest(spec, notes)
    parameters = listed(spec.get("parameters"), "spec.parameters")
    if not parameters:
        if spec.get("nasConfig"):
            raise KatibError(
                "spec.parameters: none to tune (a NAS experiment has nothing tuneop runs)"
            )
        raise KatibError("spec.parameters: required (the parameters to tune)")
    objective, strategies = _objective(spec)
    name = algorithm_name(spec)
    space = [_parameter(p, i, name, notes) for i, p in enumerate(parameters)]
    names = {p["name"] for p in space}
    template, fields, trial_notes = trial_template(spec, names, config_map)
    _env_clash(space, template)
    session: dict[str, Any] = {
        "objective": objective,
        "searchSpace": space,
        "optimizer": algorithm(spec, gp, notes),
    }
    _counts(spec, session, notes)
    notes += trial_notes
    session.update(fields)
    session["deadlineSeconds"] = MAX_SECONDS
    session["metricsCollector"] = {**collector(spec, notes), "metricStrategies": strategies}
    if (early := early_stopping(spec, notes)) is not None:
        session["earlyStopping"] = early
    if template:  # a Job's pod; another kind's manifest is in fields' trialResource
        session["template"] = template
    meta = mapping(exp.get("metadata"), "metadata")
    metadata = {k: meta[k] for k in ("name", "namespace") if isinstance(meta.get(k), str)}
    manifest = {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": KIND, "metadata": metadata}
    return {**manifest, "spec": session}, notes
