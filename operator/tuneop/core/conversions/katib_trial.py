"""A Katib Experiment's ``trialTemplate``: its Job, its pod, its placeholders.

Katib renders a trial by string replacement over the whole serialized
``trialSpec`` (``pkg/controller.v1beta1/experiment/manifest/generator.go``,
``applyParameters``, v0.19.0): each ``${trialParameters.NAME}`` becomes the
value its ``reference`` names, a search parameter's assignment or one of the
trial's metadata: ``${trialSpec.Name}``, ``.Namespace``, ``.Kind``,
``.APIVersion``, ``.Labels[key]``, ``.Annotations[key]`` (a missing label or
annotation fails the trial there). Its webhook refuses a template that uses a
name ``trialParameters`` does not declare.

Here, the same values reach the same places where tuneop can put them:

* Kind, APIVersion, Labels[k], Annotations[k] are the same for every trial:
  written in, everywhere in the template;
* a search parameter: ``${params.<reference>}`` in the trial container's
  command and args (the operator substitutes it), ``$(TUNEOP_PARAM_<NAME>)``
  in its env values (the kubelet expands it from the env tuneop sets first);
* Name and Namespace, the trial Job's: ``$(TUNEOP_JOB)`` and
  ``$(TUNEOP_NAMESPACE)`` in the trial container's command, args and env values.

The Job comes inline (``trialSpec``) or from the ConfigMap ``configMap`` names,
handed in by the caller (``katib_configmap``; its placeholders checked as
Katib's webhook checks them); a trial template of another kind becomes
``spec.trialResource`` (``katib_kinds``).

Anywhere else a per-trial value stays as written, named in one note per field.
The Job's ``backoffLimit`` becomes per-trial ``retries`` (absent: Kubernetes'
default, 6) of a trial that failed (``retryOn: [Failed]``: a Job runs a pod again when
it failed, not when its deadline passed nor when its metrics are missing),
``activeDeadlineSeconds`` the trial timeout (absent: tuneop's longest, 30 days),
the Job's labels and annotations go on each trial's pod (tuneop writes its own
Jobs), and every other Job field is named as not carried over.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from tuneop.api.parameters import param_env_name
from tuneop.api.spec import MAX_SECONDS
from tuneop.core.conversions.katib_configmap import (
    ConfigMapError,
    configmap_ref,
    placeholder_problem,
    trial_spec_from,
    unused_notes,
)
from tuneop.core.conversions.katib_fields import KatibError, count, listed, mapping
from tuneop.core.conversions.katib_kinds import trial_resource_fields

__all__ = ["JOB_BACKOFF_LIMIT", "TRIAL_TIMEOUT_SECONDS", "param_env", "trial_template"]

# Katib bounds a trial only by its Job's activeDeadlineSeconds: without one, tuneop's
# longest timeout (30 days, as the session's deadline), not a limit Katib never set.
TRIAL_TIMEOUT_SECONDS = MAX_SECONDS
# Kubernetes' default for a Job's spec.backoffLimit: a Katib trial Job without one
# is retried six times before the trial fails.
JOB_BACKOFF_LIMIT = 6
_PLACEHOLDER = re.compile(r"\$\{trialParameters\.([^}]*)\}")
_META = re.compile(r"^\$\{trialSpec\.([^}]+)\}$")
_INDEXED = re.compile(r"^(.+)\[(.+)\]$")
# Katib's defaults for a batch/v1 Job (experiment_defaults.go): the Job's own status.
_DEFAULT_CONDITIONS = {
    "successCondition": 'status.conditions.#(type=="Complete")#|#(status=="True")#',
    "failureCondition": 'status.conditions.#(type=="Failed")#|#(status=="True")#',
}
_JOB_CARRIED = {"template", "backoffLimit", "activeDeadlineSeconds"}
# Katib's trial Job names are the trial's; the env tuneop gives a trial holds its Job's.
_PER_TRIAL = {"Name": "$(TUNEOP_JOB)", "Namespace": "$(TUNEOP_NAMESPACE)"}
_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"


def param_env(name: str) -> str:
    """``$(TUNEOP_PARAM_<NAME>)``: the kubelet reference to param ``name``'s env."""
    return f"$({param_env_name(name)})"


def _meta_value(ref: str, job: dict[str, Any], where: str) -> str | None:
    """The fixed value of metadata reference ``ref`` (``Kind``, ``Labels[k]``…); None
    for Name and Namespace, which differ per trial."""
    key, index = ref, None
    if m := _INDEXED.match(ref):
        key, index = m.group(1), m.group(2)
    if key in _PER_TRIAL and index is None:
        return None
    if key in ("Kind", "APIVersion") and index is None:
        return str(job.get("kind" if key == "Kind" else "apiVersion"))
    if key in ("Labels", "Annotations") and index is not None:
        meta = mapping(job.get("metadata"), "spec.trialTemplate.trialSpec.metadata")
        values = mapping(meta.get(key.lower()), f"spec.trialTemplate.trialSpec.metadata.{key}")
        if index not in values:
            raise KatibError(f"{where}: ${{trialSpec.{ref[:60]}}}: the Job has no such {key[:-1]}")
        return str(values[index])
    raise KatibError(f"{where}: ${{trialSpec.{ref[:60]}}} is not trial metadata Katib knows")


def _references(
    tt: dict[str, Any], job: dict[str, Any], names: set[str]
) -> dict[str, tuple[str, str]]:
    """Each trial parameter's name → (kind, what): ``param``/``meta``/``fixed`` and its value."""
    out: dict[str, tuple[str, str]] = {}
    where = "spec.trialTemplate.trialParameters"
    for i, p in enumerate(listed(tt.get("trialParameters"), where)):
        p = mapping(p, f"{where}[{i}]")
        name, ref = p.get("name"), p.get("reference")
        if not isinstance(name, str) or not isinstance(ref, str):
            raise KatibError(f"{where}[{i}]: name and reference must be strings")
        if m := _META.match(ref):
            value = _meta_value(m.group(1), job, f"{where}[{i}].reference")
            out[name] = ("fixed", value) if value is not None else ("meta", m.group(1))
        elif ref in names:
            out[name] = ("param", ref)
        else:
            raise KatibError(f"{where}[{i}].reference: {ref[:60]!r} is no parameter's name")
    return out


def _replacement(kind: str, value: str, place: str) -> str | None:
    """What a placeholder becomes in ``place`` (``args``, ``env`` or ``other``), or None."""
    if kind == "fixed":
        return value
    if place == "other":
        return None
    if kind == "meta":
        return _PER_TRIAL[value]
    return "${params." + value + "}" if place == "args" else param_env(value)


def _substitute(
    text: str, refs: dict[str, tuple[str, str]], place: str, path: str, notes: list[str]
) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in refs:  # placeholder_problem refused undeclared names already
            return m.group(0)
        new = _replacement(*refs[name], place)
        if new is None:
            notes.append(
                f"{path}: ${{trialParameters.{name[:60]}}} is not substituted here (tuneop"
                " gives a trial's values in its container's command, args and env)"
            )
            return m.group(0)
        return new

    return _PLACEHOLDER.sub(one, text)


def _walk(
    value: Any, path: str, place: str, refs: dict[str, tuple[str, str]], notes: list[str]
) -> Any:
    """``value`` with every placeholder replaced; ``place`` says what tuneop can put there."""
    if isinstance(value, str):
        return _substitute(value, refs, place, path, notes) if "${" in value else value
    if isinstance(value, list):
        return [_walk(v, f"{path}[{i}]", place, refs, notes) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _walk(v, f"{path}.{k}", place, refs, notes) for k, v in value.items()}
    return value


def _place(container_key: str, env_key: str | None) -> str:
    if container_key in ("command", "args"):
        return "args"
    return "env" if container_key == "env" and env_key == "value" else "other"


def _pod(
    template: dict[str, Any], primary: str | None, refs: dict[str, tuple[str, str]], where: str
) -> tuple[dict[str, Any], list[str]]:
    """The pod template with its placeholders replaced, and the notes of those left."""
    notes: list[str] = []
    pod = mapping(template.get("spec"), f"{where}.spec")
    containers = listed(pod.get("containers"), f"{where}.spec.containers")
    names = [
        mapping(c, f"{where}.spec.containers[{i}]").get("name") for i, c in enumerate(containers)
    ]
    trial = names.index(primary) if primary in names else 0
    out = _walk({k: v for k, v in template.items() if k != "spec"}, where, "other", refs, notes)
    spec_out: dict[str, Any] = {}
    for key, value in pod.items():
        if key != "containers":
            spec_out[key] = _walk(value, f"{where}.spec.{key}", "other", refs, notes)
            continue
        spec_out[key] = []
        for i, c in enumerate(containers):
            base = f"{where}.spec.containers[{i}]"
            new: dict[str, Any] = {}
            for ck, cv in c.items():
                if i != trial:
                    new[ck] = _walk(cv, f"{base}.{ck}", "other", refs, notes)
                elif ck == "env":
                    entries = listed(cv, f"{base}.env")
                    new[ck] = [
                        {
                            ek: _walk(ev, f"{base}.env[{j}].{ek}", _place(ck, ek), refs, notes)
                            for ek, ev in mapping(e, f"{base}.env[{j}]").items()
                        }
                        for j, e in enumerate(entries)
                    ]
                else:
                    if ck in ("command", "args"):
                        words = listed(cv, f"{base}.{ck}")
                        if not all(isinstance(w, str) for w in words):
                            raise KatibError(f"{base}.{ck}: must be a list of strings")
                    new[ck] = _walk(cv, f"{base}.{ck}", _place(ck, None), refs, notes)
            spec_out[key].append(new)
    out["spec"] = spec_out
    return out, notes


def _job_fields(job_spec: dict[str, Any], where: str, notes: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    limit = job_spec.get("backoffLimit")
    fields["retries"] = (
        JOB_BACKOFF_LIMIT if limit is None else count(limit, f"{where}.backoffLimit")
    )
    if fields["retries"]:  # a Job retries a pod that failed: not its deadline nor its metrics
        fields["retryOn"] = ["Failed"]
    deadline = job_spec.get("activeDeadlineSeconds")
    fields["trialTimeoutSeconds"] = (
        TRIAL_TIMEOUT_SECONDS
        if deadline is None
        else count(deadline, f"{where}.activeDeadlineSeconds")
    )
    for key in sorted(set(job_spec) - _JOB_CARRIED):
        notes.append(f"{where}.{key[:60]}: not carried over (tuneop writes its own worker Jobs)")
    return fields


def _metadata(
    job: dict[str, Any], template: dict[str, Any], fields: dict[str, Any], notes: list[str]
) -> None:
    """The Job's labels and annotations onto each trial's pod, under the pod's own."""
    where = "spec.trialTemplate.trialSpec.metadata"
    meta = mapping(job.get("metadata"), where)
    pod_meta = template.setdefault("metadata", {})
    for key in ("labels", "annotations"):
        given = mapping(meta.get(key), f"{where}.{key}")
        if given:
            pod_meta[key] = {**given, **mapping(pod_meta.get(key), f"{where}.{key}")}
            notes.append(f"{where}.{key}: on each trial's pod (tuneop writes its own worker Jobs)")
    queue = mapping(meta.get("labels"), f"{where}.labels").get(_QUEUE_LABEL)
    if isinstance(queue, str):
        fields["queueName"] = queue
    for key in sorted(set(meta) - {"labels", "annotations"}):
        notes.append(f"{where}.{key[:60]}: not carried over (tuneop names its own Jobs)")


def _trial_job(tt: dict[str, Any], config_map: Any, notes: list[str]) -> dict[str, Any]:
    """The trial's manifest: inline (``trialSpec``) or from the ConfigMap it names, with
    its ``${trialParameters.x}`` placeholders checked as Katib's webhook checks them."""
    job = tt.get("trialSpec")
    source = "spec.trialTemplate.trialSpec"
    if job is not None and tt.get("configMap") is not None:  # which one? Katib refuses too
        raise KatibError(
            "spec.trialTemplate: only one of spec.trialTemplate.trialSpec or"
            " spec.trialTemplate.configMap can be specified"
        )
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
        raise KatibError("spec.trialTemplate: no trialSpec; tuneop needs a trial manifest")
    if problem := placeholder_problem(tt, job, source):
        raise KatibError(problem)
    notes.extend(unused_notes(tt, job, source))
    return job


def _other_kind(
    tt: dict[str, Any], job: dict[str, Any], names: set[str], notes: list[str]
) -> dict[str, Any]:
    """The session fields of a trial template of another kind (``katib_kinds``)."""
    replacements: dict[str, str] = {}
    for name, (kind, what) in _references(tt, job, names).items():
        if kind == "meta":
            # A trial resource's manifest has ${params.NAME} placeholders only: no
            # per-trial name or namespace to put in Katib's ${trialSpec.Name}.
            raise KatibError(
                f"spec.trialTemplate.trialParameters: {name[:60]} references"
                f" ${{trialSpec.{what}}}, which tuneop cannot give a trial of another kind"
            )
        replacements[name] = "${params." + what + "}" if kind == "param" else what
    fields = trial_resource_fields(tt, job, replacements, notes)
    if isinstance(fields, str):
        raise KatibError(fields)
    fields["trialTimeoutSeconds"] = TRIAL_TIMEOUT_SECONDS
    return fields


def trial_template(
    spec: dict[str, Any], names: set[str], config_map: Any = None
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The pod template, the session fields and the notes of ``trialTemplate``; for a
    trial of another kind no pod template, and ``trialResource`` among the fields.

    ``names`` are the search parameters' names, which trial parameters may reference;
    ``config_map`` the ConfigMap holding the template when ``configMap`` names one.
    """
    tt = mapping(spec.get("trialTemplate"), "spec.trialTemplate")
    early: list[str] = []
    job = _trial_job(tt, config_map, early)
    if job.get("kind") == "Job" and job.get("apiVersion") not in (None, "batch/v1"):
        raise KatibError(
            f"spec.trialTemplate.trialSpec.apiVersion: {str(job.get('apiVersion'))[:40]} is"
            " no Job's (batch/v1)"
        )
    if (job.get("apiVersion"), job.get("kind")) != ("batch/v1", "Job"):
        return {}, _other_kind(tt, job, names, early), early
    where = "spec.trialTemplate.trialSpec.spec"
    job_spec = mapping(job.get("spec"), where)
    primary = tt.get("primaryContainerName")
    if primary is not None and not isinstance(primary, str):
        raise KatibError("spec.trialTemplate.primaryContainerName: must be a string")
    refs = _references(tt, job, names)
    raw = copy.deepcopy(mapping(job_spec.get("template"), f"{where}.template"))
    template, notes = _pod(raw, primary, refs, f"{where}.template")
    notes = early + notes
    pod = template["spec"]
    if pod.get("restartPolicy") not in (None, "Never"):
        notes.append(f"{where}.template.spec.restartPolicy: Never (each attempt is its own pod)")
    pod.pop("restartPolicy", None)  # tuneop sets Never
    fields = _job_fields(job_spec, where, notes)
    _metadata(job, template, fields, notes)
    if primary:
        fields["runner"] = {"container": primary}
    for key, default in _DEFAULT_CONDITIONS.items():
        if tt.get(key) not in (None, default):
            notes.append(
                f"spec.trialTemplate.{key}: not carried over (the Job's own status counts)"
            )
    if tt.get("retain") is not None:
        if not isinstance(tt["retain"], bool):
            raise KatibError("spec.trialTemplate.retain: must be true or false")
        fields["jobCleanup"] = "Keep" if tt["retain"] else "Delete"
    return template, fields, notes
