"""spec.template: what the operator adds to the user's pod, what it never touches,
the secure defaults, the schema check's messages, and params without a shell."""

from __future__ import annotations

import copy
import json
from typing import Any

import kubernetes_validate
import pytest

from builders import DROP, REF, T0, spec, spec_data
from tuneop.api.spec import SpecError, parse_spec
from tuneop.api.template import template_problems
from tuneop.api.vocabulary import ANN_CONTAINER, ANN_PARAMS, LABEL_SESSION
from tuneop.core.jobs.manifests import decode_job
from tuneop.core.jobs.observed import Observed
from tuneop.core.jobs.podtemplate import PARAMS_FILE, applied_defaults, kube_expand
from tuneop.core.planning.planner import plan

HOSTILE = "; rm -rf / $(HOME) $$ `id` ${params.x} \"'"

# A template using what a real training pod uses: everything here must reach the Job.
TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"team": "ml"}, "annotations": {"owner": "ana"}},
    "spec": {
        "serviceAccountName": "trainer",
        "priorityClassName": "batch-low",
        "runtimeClassName": "nvidia",
        "imagePullSecrets": [{"name": "registry"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}
                    ]
                }
            }
        },
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}
        ],
        "initContainers": [
            {"name": "fetch", "image": "busybox", "command": ["sh", "-c", "echo hi > /d/x"]},
            {"name": "proxy", "image": "envoy", "restartPolicy": "Always"},
        ],
        "containers": [
            {"name": "logger", "image": "fluent"},
            {
                "name": "trial",
                "image": "pytorch/pytorch:2",
                "command": ["python", "train.py"],
                "args": ["--lr=${params.x}", "--epochs", "3"],
                "env": [
                    {"name": "MODE", "value": "fast"},
                    {
                        "name": "TOKEN",
                        "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}},
                    },
                ],
                "envFrom": [{"secretRef": {"name": "creds"}}],
                "resources": {"limits": {"nvidia.com/gpu": 1, "memory": "8Gi"}},
                "volumeMounts": [
                    {"name": "data", "mountPath": "/data"},
                    {"name": "shm", "mountPath": "/dev/shm"},
                ],
            },
        ],
        "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": "datasets"}},
            {"name": "cfg", "configMap": {"name": "settings"}},
            {"name": "shm", "emptyDir": {"medium": "Memory"}},
        ],
    },
}


def template(**pod_overrides: Any) -> dict[str, Any]:
    """``TEMPLATE`` with pod-spec keys replaced; ``DROP`` removes one."""
    t = copy.deepcopy(TEMPLATE)
    for key, value in pod_overrides.items():
        if value is DROP:
            t["spec"].pop(key, None)
        else:
            t["spec"][key] = value
    return t


def templated(tmpl: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    runner = overrides.pop("runner", {})
    return spec_data(template=tmpl or template(), runner=runner, **overrides)


def jobs(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [c.manifest for c in plan(parse_spec(data), Observed(session=REF), T0).create]


def pod(job: dict[str, Any]) -> dict[str, Any]:
    return job["spec"]["template"]  # type: ignore[no-any-return]


def named(items: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(i for i in items if i["name"] == name)


def trial_of(job: dict[str, Any]) -> dict[str, Any]:
    p = pod(job)
    return named(p["spec"]["containers"], p["metadata"]["annotations"][ANN_CONTAINER])


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


# ---- what the operator adds, and what it never changes


def test_every_pod_field_of_the_template_reaches_the_job_as_written() -> None:
    want = template(securityContext={"runAsUser": 1000})["spec"]
    job = jobs(templated(template(securityContext={"runAsUser": 1000})))[0]
    got = pod(job)["spec"]
    for key in want:
        if key not in {"containers", "volumes"}:
            assert got[key] == want[key], key
    assert got["volumes"][: len(want["volumes"])] == want["volumes"]
    assert named(got["containers"], "logger") == named(want["containers"], "logger")
    trial, mine = trial_of(job), named(want["containers"], "trial")
    for key in ("image", "command", "envFrom", "resources"):
        assert trial[key] == mine[key], key
    assert trial["volumeMounts"][:2] == mine["volumeMounts"]
    assert trial["env"][-2:] == mine["env"]  # the user's env, after ours, untouched


def test_the_operator_adds_the_trial_env_params_restart_policy_and_labels() -> None:
    job = jobs(templated())[0]
    p, trial = pod(job), trial_of(job)
    assert p["spec"]["restartPolicy"] == "Never"
    assert p["metadata"]["labels"]["team"] == "ml"
    assert p["metadata"]["labels"][LABEL_SESSION] == "demo"
    assert p["metadata"]["annotations"]["owner"] == "ana"
    assert json.loads(p["metadata"]["annotations"][ANN_PARAMS]) == {"x": 0}
    env = env_of(trial)
    assert env["TUNEOP_TRIAL"] == "0" and env["TUNEOP_PARAM_X"] == "0"
    assert json.loads(env["TUNEOP_PARAMS"]) == {"x": 0}
    assert env["TUNEOP_PARAMS_FILE"] == PARAMS_FILE
    assert trial["args"] == ["--lr=0", "--epochs", "3"]
    assert job["spec"]["activeDeadlineSeconds"] > 0
    assert decode_job(job) is not None and decode_job(job).trials == (0,)  # type: ignore[union-attr]


def test_a_template_is_given_nothing_more_than_a_trial_needs() -> None:
    tmpl = template(securityContext={"runAsUser": 0})
    p = pod(jobs(templated(tmpl))[0])["spec"]
    assert set(p) - set(tmpl["spec"]) == {"restartPolicy"}  # no token setting, no defaults
    added = [v["name"] for v in p["volumes"][len(tmpl["spec"]["volumes"]) :]]
    assert added == ["tuneop-params"]
    for got, want in zip(p["containers"], tmpl["spec"]["containers"], strict=True):
        assert set(got) - set(want) <= {"env", "volumeMounts"}
    assert p["initContainers"] == tmpl["spec"]["initContainers"]


@pytest.mark.parametrize(
    ("containers", "chosen", "expected"),
    [
        pytest.param([{"name": "a"}, {"name": "b"}], None, "a", id="the-first"),
        pytest.param([{"name": "a"}, {"name": "trial"}], None, "trial", id="the-one-named-trial"),
        pytest.param([{"name": "a"}, {"name": "trial"}], "a", "a", id="runner-container"),
    ],
)
def test_the_trial_container_is_the_named_one_else_trial_else_the_first(
    containers: list[dict[str, Any]], chosen: str | None, expected: str
) -> None:
    tmpl = {"spec": {"containers": [{**c, "image": "i"} for c in containers]}}
    runner = {"container": chosen} if chosen else {}
    job = jobs(templated(tmpl, runner=runner))[0]
    assert pod(job)["metadata"]["annotations"][ANN_CONTAINER] == expected
    assert "TUNEOP_TRIALS" in env_of(trial_of(job))
    others = [c for c in pod(job)["spec"]["containers"] if c["name"] != expected]
    assert all("env" not in c for c in others)


# ---- security: the short form's restricted defaults; a template as written

SECURE = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def test_a_template_without_a_security_context_is_taken_as_written() -> None:
    # Most ML images run as root: a template is the user's pod, as Kubernetes and Katib
    # take it (docs/spec.md, "Security"); the namespace's Pod Security Admission enforces.
    tmpl = template()
    p = pod(jobs(templated(tmpl))[0])["spec"]
    assert "securityContext" not in p
    for c in [*p["containers"], *p["initContainers"]]:
        assert "securityContext" not in c, c["name"]
    assert not any(v.get("name") == "tuneop-tmp" for v in p["volumes"])


def test_only_the_short_form_reports_security_defaults() -> None:
    assert applied_defaults(parse_spec(templated())) == []
    assert "runAsNonRoot" in applied_defaults(parse_spec(spec_data()))


@pytest.mark.parametrize(
    "place",
    [
        pytest.param(lambda t: t["spec"].update(securityContext={"runAsUser": 0}), id="pod"),
        pytest.param(
            lambda t: t["spec"]["containers"][1].update(securityContext={"privileged": False}),
            id="trial-container",
        ),
        pytest.param(
            lambda t: t["spec"]["initContainers"][0].update(securityContext={"runAsUser": 0}),
            id="init-container",
        ),
    ],
)
def test_a_template_with_its_own_security_context_is_taken_as_written(place: Any) -> None:
    tmpl = template()
    place(tmpl)
    p = pod(jobs(templated(tmpl))[0])["spec"]
    assert p.get("securityContext") == tmpl["spec"].get("securityContext")
    for got, want in zip(p["containers"], tmpl["spec"]["containers"], strict=True):
        assert got.get("securityContext") == want.get("securityContext")
    assert not any(v.get("name") == "tuneop-tmp" for v in p["volumes"])


def test_the_short_form_keeps_its_restricted_pod() -> None:
    p = pod(jobs(spec_data())[0])["spec"]
    assert p["automountServiceAccountToken"] is False
    assert p["containers"][0]["securityContext"] == SECURE


# ---- the schema check: one problem, its path, its rule


BAD = [
    pytest.param(
        lambda t: t["spec"]["containers"][1]["volumeMounts"][0].pop("mountPath"),
        "spec.template.spec.containers[1].volumeMounts[0].mountPath: required",
        id="missing-required",
    ),
    pytest.param(
        lambda t: t["spec"]["containers"][1].update(volumeMount=[]),
        "spec.template.spec.containers[1].volumeMount: unknown field",
        id="unknown-field",
    ),
    pytest.param(
        lambda t: t["spec"].update(priority="high"),
        'spec.template.spec.priority: must be integer, not "high"',
        id="wrong-type",
    ),
    pytest.param(
        lambda t: t["spec"]["containers"][0].pop("image") and t["spec"].pop("volumes"),
        None,  # image is optional in a PodTemplateSpec: a Job may take it from elsewhere
        id="no-image-is-allowed",
    ),
    pytest.param(
        lambda t: t["spec"].pop("containers"),
        "spec.template.spec.containers: required",
        id="no-containers",
    ),
    pytest.param(
        lambda t: t["spec"]["containers"][1]["env"].append({"name": "TUNEOP_X", "value": "1"}),
        "spec.template.spec.containers[1].env[2].name: names starting with TUNEOP_ are reserved",
        id="reserved-env",
    ),
]


@pytest.mark.parametrize(("corrupt", "message"), BAD)
def test_a_bad_template_is_refused_naming_its_path(corrupt: Any, message: str | None) -> None:
    tmpl = template()
    corrupt(tmpl)
    if message is None:
        parse_spec(templated(tmpl))
        return
    with pytest.raises(SpecError) as err:
        parse_spec(templated(tmpl))
    assert message in err.value.problems


def test_a_template_nested_past_any_pod_is_one_problem() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(5000):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(SpecError) as err:
        parse_spec(templated({"spec": {"containers": [{"name": "t", "image": "i", "x": deep}]}}))
    assert err.value.problems == ["spec.template: nested too deeply (more than 32 levels)"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            {"runner": {"image": "i"}},
            "spec.runner.image: set it in spec.template, not in spec.runner",
            id="runner-image-with-template",
        ),
        pytest.param(
            {"runner": {"container": "nope"}},
            "spec.runner.container: the template has no container named 'nope'",
            id="unknown-container",
        ),
        pytest.param(
            {"trialsPerJob": 2},
            "spec.trialsPerJob: ${params.x} placeholders need one trial per Job"
            " (no workers, trialsPerJob 1)",
            id="placeholders-packed",
        ),
        pytest.param(
            {"searchSpace": [{"name": "y", "type": "int", "min": 0, "max": 1}]},
            "spec.template: ${params.x} names no parameter of the search space",
            id="unknown-placeholder",
        ),
    ],
)
def test_a_template_that_contradicts_the_session_is_refused(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(templated(**overrides))
    assert message in err.value.problems


def test_katib_stdout_metrics_need_one_trial_per_job() -> None:
    with pytest.raises(SpecError) as err:
        spec(workers=2, metricsCollector={"kind": "StdOut"})
    assert any(
        "metricsCollector.kind StdOut need one trial per Job" in p for p in err.value.problems
    )


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(lambda: templated(), id="template"),
        pytest.param(lambda: templated(trials=[{"x": HOSTILE}], searchSpace=DROP), id="hostile"),
        pytest.param(
            lambda: spec_data(runner={"image": "i", "args": ["--x=${params.x}"]}), id="short"
        ),
    ],
)
def test_jobs_from_templates_validate_against_the_kubernetes_job_schema(data: Any) -> None:
    for job in jobs(data()):
        kubernetes_validate.validate(job, "1.34", strict=True)


# ---- params into args: by the operator, never a shell, and past the kubelet intact


@pytest.mark.parametrize("value", [HOSTILE, "$(HOME)", "$$", "a b", "naïve", 0.001, True, -3])
def test_a_param_reaches_args_exactly_as_it_is_after_the_kubelets_expansion(value: Any) -> None:
    data = templated(trials=[{"x": value}], searchSpace=DROP)
    trial = trial_of(jobs(data)[0])
    text = value if isinstance(value, str) else json.dumps(value)
    env = {"HOME": "/root"}
    assert kube_expand(trial["args"][0], env) == f"--lr={text}"
    assert kube_expand(env_of(trial)["TUNEOP_PARAM_X"], env) == text
    assert json.loads(kube_expand(env_of(trial)["TUNEOP_PARAMS"], env)) == {"x": value}


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("$(A)", "1"),
        ("$(B)", "$(B)"),  # an unknown variable stays as written
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$1"),
        ("a$b", "a$b"),
        ("$", "$"),
        ("$(A", "$(A"),
    ],
)
def test_kube_expand_is_the_kubelets_expansion(text: str, expanded: str) -> None:
    assert kube_expand(text, {"A": "1"}) == expanded


def test_a_template_of_shared_subtrees_is_refused_by_its_size_without_expanding_it() -> None:
    # 10**30 leaves through shared lists (what YAML aliases build): measured, never walked
    # whole nor written as JSON (the depth walk alone would never end).
    args: Any = ["x" * 10] * 10
    for _ in range(30):
        args = [args] * 10
    tmpl = {"spec": {"containers": [{"name": "t", "image": "i", "args": args}]}}
    assert template_problems(tmpl) == ["spec.template: at most 262144 bytes as JSON"]
