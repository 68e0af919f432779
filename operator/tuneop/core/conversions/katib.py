"""A Katib ``v1beta1`` Experiment, converted into a TuningSession.

What carries over: the parameters and their feasible spaces (``double`` →
float, ``int``, ``categorical``, ``discrete`` → categorical; ``logUniform`` →
``log``), the objective (type, goal, metric strategies), the algorithm
(random, grid and cmaes as they are; hyperband with its ``resource_name``,
``r_l`` and ``eta`` as tuneop's hyperband search; tpe, multivariate-tpe and
bayesianoptimization as tuneop's bayesian optimizer, Optuna's TPE; sobol as
qmc; ``random_state`` as the seed),
``parallelTrialCount``, ``maxTrialCount``, ``maxFailedTrialCount``, a
``batch/v1`` Job ``trialSpec`` (its pod template becomes ``spec.template``,
``primaryContainerName`` the trial container, ``backoffLimit`` the retries,
``activeDeadlineSeconds`` the trial timeout) with its ``${trialParameters.x}``
placeholders rewritten to ``${params.<reference>}`` (or the same Job from the
ConfigMap ``trialTemplate.configMap`` names, handed in by the caller:
``tuneop.core.conversions.katib_configmap``; either way every placeholder must be
declared, as Katib's webhook checks), a trial template of any other kind as
``spec.trialResource`` (``katib_kinds``: the manifest, the conditions translated
from GJSON to CEL, the primary pod labels and container), and the StdOut metrics
collector (Katib's default). ``normal`` and ``logNormal`` distributions carry over
as tuneop's ``distribution`` where Katib draws them (random and tpe, its hyperopt
service); with another algorithm Katib samples them uniformly, and so does the
import, with a note.

The metrics collector carries over too: StdOut, File (``name=value`` lines, JSON
lines, custom ``metricsFormat`` regexes) and TensorFlowEvent, read by tuneop's own
follower (``tuneop.core.jobs.metricsfile``); Katib's Custom collector, which
Katib's own example marks as not working in v1beta1, becomes a File collector on
the path it names, with a note.

Katib's ``medianstop`` early stopping becomes ``earlyStopping.type: medianStop``
(``min_trials_required``, ``start_step``), which the operator applies to trials read
from their output or a file. What does not carry over is returned as notes, one line
each: other early stopping algorithms, NAS, GJSON conditions CEL cannot state, other
collectors (Prometheus), placeholders outside the trial container's command and
args. A conversion that leaves
nothing to run (no parameters, no Job trial spec) raises ``KatibError``.
Katib has no trial timeout nor experiment deadline: the session gets a day per
trial and tuneop's 30-day bound unless the Job says otherwise.

An Experiment file is untrusted: every field is read with its type checked
(a mapping, a list, a whole number that is not a boolean, a finite number), and
a field of the wrong shape is a ``KatibError`` naming it, never another
exception.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any

from tuneop.api.spec import API_GROUP, API_VERSION, KIND, MAX_SECONDS
from tuneop.core.conversions.katib_configmap import (
    ConfigMapError,
    configmap_ref,
    placeholder_problem,
    trial_spec_from,
    unused_notes,
)
from tuneop.core.conversions.katib_kinds import trial_resource_fields

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
    "hyperband": "hyperband",
}
# Katib's hyperband settings → optimizer.hyperband's fields
_HYPERBAND = {"resource_name": "resource", "r_l": "maxResource", "eta": "eta"}

# Katib v0.19.0 draws normal and logNormal parameters in its hyperopt service only
# (random and tpe); its optuna, goptuna and skopt services sample them uniformly.
_DRAWN = ("normal", "logNormal")
_DRAWS_NORMAL = ("random", "tpe")


class KatibError(ValueError):
    """An Experiment with nothing tuneop can run; ``str()`` says why, in one line."""


def _number(text: Any, where: str) -> float:
    """A finite number from Katib's text (``"0.01"``) or a YAML number; never a boolean."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise KatibError(f"{where}: not a number")
    try:
        value = float(text)
    except (ValueError, OverflowError):
        raise KatibError(f"{where}: not a number") from None
    if not math.isfinite(value):
        raise KatibError(f"{where}: not a finite number")
    return value


def _whole(value: float) -> int | float:
    return int(value) if value == int(value) else value


def _count(value: Any, where: str) -> int:
    """A count Katib types as int32: a whole number, not a boolean nor text."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise KatibError(f"{where}: must be a whole number")
    return int(value)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise KatibError(f"{where}: must be a mapping")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise KatibError(f"{where}: must be a list")
    return value


def _parameter(p: Any, i: int, algorithm: str, notes: list[str]) -> dict[str, Any]:
    where = f"spec.parameters[{i}]"
    if not isinstance(p, dict) or not isinstance(p.get("name"), str):
        raise KatibError(f"{where}.name: required")
    kind = p.get("parameterType")
    kind = kind if isinstance(kind, str) else repr(kind)
    space = _mapping(p.get("feasibleSpace"), f"{where}.feasibleSpace")
    out: dict[str, Any] = {"name": p["name"]}
    if kind in {"categorical", "discrete"}:
        values = list(_list(space.get("list"), f"{where}.feasibleSpace.list"))
        if kind == "discrete":
            values = [_whole(_number(v, f"{where}.feasibleSpace.list")) for v in values]
        return {**out, "type": "categorical", "values": values}
    if kind not in {"double", "int"}:
        raise KatibError(f"{where}.parameterType: {str(kind)[:40]!r} is not one tuneop knows")
    out["type"] = "float" if kind == "double" else "int"
    for key in ("min", "max", "step"):
        if space.get(key) not in (None, ""):
            value = _number(space[key], f"{where}.feasibleSpace.{key}")
            out[key] = _whole(value) if kind == "int" else value
    distribution = space.get("distribution")
    if distribution == "logUniform":
        out["log"] = True
    elif distribution in _DRAWN and algorithm in _DRAWS_NORMAL:
        out["distribution"] = distribution
    elif distribution in _DRAWN:
        notes.append(
            f"{where}: distribution {distribution} sampled uniformly, as Katib's suggestion"
            f" service for {algorithm[:40]} samples it (only random and tpe draw it)"
        )
    elif distribution not in (None, "uniform"):
        notes.append(
            f"{where}: distribution {str(distribution)[:40]} not carried over (sampled uniformly)"
        )
    return out


def _algorithm_name(spec: dict[str, Any]) -> str:
    algo = _mapping(spec.get("algorithm"), "spec.algorithm")
    name = algo.get("algorithmName", "random")
    if not isinstance(name, str):
        raise KatibError("spec.algorithm.algorithmName: must be a string")
    return name


def _algorithm(spec: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    algo = _mapping(spec.get("algorithm"), "spec.algorithm")
    name = _algorithm_name(spec)
    optimizer: dict[str, Any] = {"type": _ALGORITHMS.get(name, "random")}
    if name not in _ALGORITHMS:
        notes.append(f"spec.algorithm: {name[:40]} not carried over; random search instead")
    elif name in {"bayesianoptimization", "multivariate-tpe"}:
        notes.append(f"spec.algorithm: {name} becomes tuneop's bayesian optimizer (Optuna TPE)")
    where = "spec.algorithm.algorithmSettings"
    hyperband: dict[str, Any] = {}
    for i, setting in enumerate(_list(algo.get("algorithmSettings"), where)):
        setting = _mapping(setting, f"{where}[{i}]")
        key = setting.get("name")
        if key == "random_state":
            seed = _number(setting.get("value"), f"{where}[{i}].value")
            optimizer["seed"] = _whole(seed)
        elif name == "hyperband" and key in _HYPERBAND:
            hyperband[_HYPERBAND[key]] = _hyperband_setting(key, setting.get("value"), i)
        else:
            notes.append(f"{where}: {str(key)[:40]} not carried over")
    if name == "hyperband":
        optimizer["hyperband"] = _hyperband(hyperband)
    return optimizer


def _hyperband_setting(key: str, value: Any, i: int) -> Any:
    """One of Katib's hyperband settings, checked: a name, or a number (eta, r_l)."""
    where = f"spec.algorithm.algorithmSettings[{i}].value"
    if key == "resource_name":
        if not isinstance(value, str) or not value:
            raise KatibError(f"{where}: resource_name must name a parameter")
        return value
    number = _number(value, where)
    if key == "eta":  # Katib: int(float(eta)), and 3 when not positive
        return float(int(number)) if number > 0 else 3.0
    if number < 1:
        raise KatibError(f"{where}: r_l must be at least 1 (Katib's s_max = log(r_l) / log(eta))")
    return number


def _hyperband(found: dict[str, Any]) -> dict[str, Any]:
    """Katib's hyperband settings as tuneop's; resource_name and r_l are required, as
    Katib's ValidateAlgorithmSettings requires them."""
    for key, field in _HYPERBAND.items():
        if key != "eta" and field not in found:
            raise KatibError(f"spec.algorithm.algorithmSettings: hyperband needs {key}")
    return found


def _objective(spec: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    obj = _mapping(spec.get("objective"), "spec.objective")
    metric = obj.get("objectiveMetricName")
    if not isinstance(metric, str) or not metric:
        raise KatibError("spec.objective.objectiveMetricName: required")
    out: dict[str, Any] = {"metric": metric, "direction": obj.get("type", "minimize")}
    if obj.get("goal") is not None:
        out["goal"] = _number(obj["goal"], "spec.objective.goal")
    strategies = [
        {"name": s["name"], "value": s["value"]}
        for s in _list(obj.get("metricStrategies"), "spec.objective.metricStrategies")
        if isinstance(s, dict) and s.get("name") and s.get("value") in ("min", "max", "latest")
    ]
    return out, strategies


def _rewrite(words: Any, refs: dict[str, Any], where: str) -> list[str]:
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise KatibError(f"{where}: must be a list of strings")
    return [
        _TRIAL_PARAM.sub(lambda m: "${params." + str(refs.get(m.group(1), m.group(1))) + "}", w)
        for w in words
    ]


def _trial_job(tt: dict[str, Any], config_map: Any, notes: list[str]) -> dict[str, Any]:
    """The trial's Job: inline (``trialSpec``) or from the ConfigMap it names, with its
    ``${trialParameters.x}`` placeholders checked as Katib's webhook checks them."""
    job = tt.get("trialSpec")
    source = "spec.trialTemplate.trialSpec"
    try:
        if job is None and tt.get("configMap") is not None:
            namespace, name, key = configmap_ref(tt)
            if config_map is None:
                raise KatibError(
                    f"spec.trialTemplate.configMap: the trial template is in ConfigMap"
                    f" {namespace[:63]}/{name[:253]}; give it with --configmap FILE or read"
                    " it with --from-cluster"
                )
            job = trial_spec_from(tt, config_map)
            source = f"the template in ConfigMap {namespace[:63]}/{name[:253]} ({key[:253]})"
    except ConfigMapError as err:
        raise KatibError(str(err)) from None
    if not isinstance(job, dict):
        raise KatibError("spec.trialTemplate: no trialSpec; tuneop needs a batch/v1 Job")
    problem = placeholder_problem(tt, job, source)
    if problem:
        raise KatibError(problem)
    notes.extend(unused_notes(tt, job, source))
    return job


def _template(
    spec: dict[str, Any], notes: list[str], config_map: Any = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pod template and the session fields taken from ``trialTemplate``."""
    tt = _mapping(spec.get("trialTemplate"), "spec.trialTemplate")
    job = _trial_job(tt, config_map, notes)
    if (job.get("apiVersion"), job.get("kind")) != ("batch/v1", "Job"):
        return {}, _other_kind(tt, job, notes)
    where = "spec.trialTemplate.trialSpec.spec"
    job_spec = _mapping(job.get("spec"), where)
    template = copy.deepcopy(_mapping(job_spec.get("template"), f"{where}.template"))
    pod = _mapping(template.get("spec"), f"{where}.template.spec")
    params = _list(tt.get("trialParameters"), "spec.trialTemplate.trialParameters")
    refs = {
        p["name"]: p.get("reference")
        for p in params
        if isinstance(p, dict) and isinstance(p.get("name"), str)
    }
    containers = _list(pod.get("containers"), f"{where}.template.spec.containers")
    primary = tt.get("primaryContainerName")
    if primary is not None and not isinstance(primary, str):
        raise KatibError("spec.trialTemplate.primaryContainerName: must be a string")
    for i, c in enumerate(containers):
        c = _mapping(c, f"{where}.template.spec.containers[{i}]")
        if c.get("name") == primary or primary is None:
            for key in ("command", "args"):
                if c.get(key):
                    c[key] = _rewrite(c[key], refs, f"{where}.template.spec.containers[{i}].{key}")
            break
    leftover = sorted(set(_TRIAL_PARAM.findall(str(template))))
    if leftover:
        notes.append(
            f"spec.trialTemplate: ${{trialParameters.{leftover[0]}}} outside the primary"
            " container's command and args is not substituted"
        )
    pod.pop("restartPolicy", None)  # tuneop sets Never
    fields: dict[str, Any] = {}
    if job_spec.get("backoffLimit") is not None:
        fields["retries"] = _count(job_spec["backoffLimit"], f"{where}.backoffLimit")
    fields["trialTimeoutSeconds"] = job_spec.get("activeDeadlineSeconds") or TRIAL_TIMEOUT_SECONDS
    if primary:
        fields["runner"] = {"container": primary}
    for key in ("successCondition", "failureCondition"):
        if tt.get(key):
            notes.append(
                f"spec.trialTemplate.{key}: not carried over (the Job's own status counts)"
            )
    return template, fields


def _other_kind(tt: dict[str, Any], job: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """The session fields of a trial template of another kind (``katib_kinds``)."""
    params = _list(tt.get("trialParameters"), "spec.trialTemplate.trialParameters")
    refs = {p["name"]: p.get("reference") for p in params if isinstance(p, dict) and "name" in p}
    fields = trial_resource_fields(tt, job, refs, notes)
    if isinstance(fields, str):
        raise KatibError(fields)
    fields["trialTimeoutSeconds"] = TRIAL_TIMEOUT_SECONDS
    return fields


def _source(mc: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``source.fileSystemPath`` and ``source.filter.metricsFormat``, their types checked."""
    where = "spec.metricsCollectorSpec.source"
    source = _mapping(mc.get("source"), where)
    fs = _mapping(source.get("fileSystemPath"), f"{where}.fileSystemPath")
    formats = _list(
        _mapping(source.get("filter"), f"{where}.filter").get("metricsFormat"),
        f"{where}.filter.metricsFormat",
    )
    if not all(isinstance(f, str) for f in formats):
        raise KatibError(f"{where}.filter.metricsFormat: must be a list of strings")
    return fs, formats


def _collector(
    spec: dict[str, Any], strategies: list[dict[str, Any]], notes: list[str]
) -> dict[str, Any]:
    """Katib's collector: StdOut, File (text, JSON, custom regexes), TensorFlowEvent, and
    Custom as a File collector on the path it names (Katib's own example marks it broken)."""
    where = "spec.metricsCollectorSpec"
    mc = _mapping(spec.get("metricsCollectorSpec"), where)
    collector = _mapping(mc.get("collector"), f"{where}.collector")
    kind = collector.get("kind", "StdOut")
    fs, formats = _source(mc)
    path = fs.get("path")
    out: dict[str, Any] = {"kind": "StdOut"}
    if kind in ("File", "TensorFlowEvent", "Custom") and isinstance(path, str) and path:
        out = {"kind": "TensorFlowEvent" if kind == "TensorFlowEvent" else "File", "path": path}
        if kind == "Custom":
            notes.append(
                f"{where}.collector: Custom (marked not working in v1beta1 by Katib's own"
                f" example) becomes a File collector on {path[:200]}; its image is not run"
            )
        if fs.get("format") == "JSON" and kind != "TensorFlowEvent":
            out["format"] = "JSON"
    elif kind != "StdOut":
        notes.append(
            f"{where}: collector {str(kind)[:40]} not carried over;"
            " the trial must print name=value on stdout"
        )
    if formats and out.get("format") != "JSON" and out["kind"] != "TensorFlowEvent":
        out["metricsFormat"] = list(formats)
    if strategies:
        out["metricStrategies"] = strategies
    return out


_MEDIAN_SETTINGS = {"min_trials_required": "minTrialsRequired", "start_step": "startStep"}


def _early_stopping(spec: dict[str, Any], notes: list[str]) -> dict[str, Any] | None:
    """Katib's ``medianstop`` as ``earlyStopping.type: medianStop``, its two settings
    (whole numbers of at least 1, as Katib's service validates them)."""
    where = "spec.earlyStopping"
    es = _mapping(spec.get("earlyStopping"), where)
    if not es:
        return None
    name = es.get("algorithmName")
    if name != "medianstop":
        notes.append(f"{where}: {str(name)[:40]} not carried over (tuneop knows medianstop)")
        return None
    out: dict[str, Any] = {"type": "medianStop"}
    for i, setting in enumerate(_list(es.get("algorithmSettings"), f"{where}.algorithmSettings")):
        setting = _mapping(setting, f"{where}.algorithmSettings[{i}]")
        key = _MEDIAN_SETTINGS.get(str(setting.get("name")))
        if key is None:
            raise KatibError(
                f"{where}.algorithmSettings[{i}].name: {str(setting.get('name'))[:40]} is not a"
                " medianstop setting (min_trials_required, start_step)"
            )
        value = _number(setting.get("value"), f"{where}.algorithmSettings[{i}].value")
        if value != int(value) or value < 1:
            raise KatibError(f"{where}.algorithmSettings[{i}].value: must be a whole number >= 1")
        out[key] = int(value)
    return out


def convert_experiment(exp: Any, config_map: Any = None) -> tuple[dict[str, Any], list[str]]:
    """A TuningSession manifest for Katib Experiment ``exp``, and what did not carry over.

    ``config_map`` is the ConfigMap (a mapping) holding the trial template when
    ``trialTemplate.configMap`` names one; without it such an Experiment is refused."""
    if not isinstance(exp, dict) or exp.get("kind") != "Experiment":
        raise KatibError("not a Katib Experiment (kind: Experiment)")
    if not str(exp.get("apiVersion", "")).startswith("kubeflow.org/"):
        raise KatibError("apiVersion: not kubeflow.org/v1beta1")
    spec = _mapping(exp.get("spec"), "spec")
    notes: list[str] = []
    if spec.get("nasConfig"):
        notes.append("spec.nasConfig: NAS not carried over")
    if not _list(spec.get("parameters"), "spec.parameters"):
        raise KatibError("spec.parameters: none to tune (a NAS experiment has nothing tuneop runs)")
    objective, strategies = _objective(spec)
    template, fields = _template(spec, notes, config_map)
    session: dict[str, Any] = {
        "objective": objective,
        "searchSpace": [
            _parameter(p, i, _algorithm_name(spec), notes) for i, p in enumerate(spec["parameters"])
        ],
        "optimizer": _algorithm(spec, notes),
    }
    if spec.get("maxTrialCount") is not None:
        session["totalTrials"] = _count(spec["maxTrialCount"], "spec.maxTrialCount")
    elif session["optimizer"]["type"] not in ("grid", "hyperband"):
        session["totalTrials"] = 10
        notes.append("spec.maxTrialCount: absent; totalTrials set to 10")
    parallel = spec.get("parallelTrialCount")
    session["maxParallel"] = 3 if parallel is None else _count(parallel, "spec.parallelTrialCount")
    if spec.get("maxFailedTrialCount") is not None:
        session["maxFailedTrials"] = _count(spec["maxFailedTrialCount"], "spec.maxFailedTrialCount")
    session.update(fields)
    session["deadlineSeconds"] = MAX_SECONDS
    session["metricsCollector"] = _collector(spec, strategies, notes)
    early = _early_stopping(spec, notes)
    if early is not None:
        session["earlyStopping"] = early
    if template:  # a Job's pod; another kind's manifest is in fields' trialResource
        session["template"] = template
    meta = _mapping(exp.get("metadata"), "metadata")
    metadata = {k: meta[k] for k in ("name", "namespace") if isinstance(meta.get(k), str)}
    manifest = {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": KIND, "metadata": metadata}
    return {**manifest, "spec": session}, notes
