"""Worker Job manifests: names, labels, ownership, limits, safety, and the real Job schema."""

from __future__ import annotations

import json
import re
from typing import Any

import kubernetes_validate
import pytest
from core_builders import REF, T0

from builders import DROP, spec
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.api.vocabulary import (
    ANN_START_TIMEOUT,
    ANN_TRIALS,
    LABEL_JOB_INDEX,
    LABEL_MANAGED_BY,
    LABEL_SESSION,
)
from tuneop.core.jobs.manifests import (
    JOB_START_SLACK_SECONDS,
    DecodedJob,
    decode_job,
    job_name,
    session_label,
)
from tuneop.core.jobs.observed import Observed
from tuneop.core.planning.planner import JobToCreate, plan

K8S_VERSION = "1.30"
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
LONG = "a" * 60 + "." + "b" * 192  # 253 characters, the most a session name may have


def created(s: SessionSpec, ref: SessionRef = REF) -> list[JobToCreate]:
    return list(plan(s, Observed(session=ref), T0).create)


def first_manifest(s: SessionSpec, ref: SessionRef = REF) -> dict[str, Any]:
    return created(s, ref)[0].manifest


def container(m: dict[str, Any]) -> dict[str, Any]:
    containers = m["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]  # type: ignore[no-any-return]


def env(m: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(m)["env"]}


# ---- names


@pytest.mark.parametrize(
    ("session", "index", "name"),
    [
        ("demo", 0, "demo-0"),
        ("demo", 12, "demo-12"),
        ("a.b", 3, "a.b-3"),
        ("s" * 61, 0, "s" * 61 + "-0"),  # exactly 63: kept as is
    ],
    ids=["short", "two-digit-index", "dotted", "fits-exactly"],
)
def test_short_session_names_give_session_dash_index(session: str, index: int, name: str) -> None:
    assert job_name(session, index) == name


@pytest.mark.parametrize(
    ("session", "index"),
    [(LONG, 0), (LONG, 999_999), ("s" * 62, 0), ("s" * 63, 10), ("a-" * 40 + "z", 7)],
    ids=["253-chars", "253-chars-big-index", "62-chars", "63-chars", "dashes-at-cut"],
)
def test_long_session_names_give_valid_job_names_within_63_chars(session: str, index: int) -> None:
    name = job_name(session, index)
    assert len(name) <= 63
    assert DNS_SUBDOMAIN.match(name), name
    assert name.endswith(f"-{index}")
    assert job_name(session, index) == name  # deterministic


def test_job_names_of_one_session_are_distinct() -> None:
    names = {job_name(LONG, i) for i in range(2000)}
    assert len(names) == 2000


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("x" * 61 + "aa", "x" * 61 + "bb"),
        ("x" * 62 + "a", "x" * 62 + "b"),
        (LONG, LONG[:-1] + "c"),
        ("x" * 80, "x" * 81),
    ],
    ids=["63-chars", "63-chars-last-differs", "253-chars", "prefix"],
)
def test_sessions_whose_names_share_a_long_prefix_never_share_job_names(a: str, b: str) -> None:
    for index in (0, 7, 12345):
        assert job_name(a, index) != job_name(b, index)
    assert session_label(a) != session_label(b)


@pytest.mark.parametrize("session", ["demo", "s" * 63, "s" * 64, LONG], ids=str.__len__)
def test_session_label_is_a_valid_label_value(session: str) -> None:
    label = session_label(session)
    assert len(label) <= 63 and LABEL_VALUE.match(label)
    assert (label == session) is (len(session) <= 63)


# ---- metadata, ownership, limits


def test_manifest_is_labelled_annotated_and_owned_by_its_session() -> None:
    m = created(spec(trialsPerJob=3))[1].manifest
    meta = m["metadata"]
    assert (m["apiVersion"], m["kind"]) == ("batch/v1", "Job")
    assert (meta["name"], meta["namespace"]) == ("demo-1", "ns")
    labels = {LABEL_SESSION: "demo", LABEL_JOB_INDEX: "1", LABEL_MANAGED_BY: "tuneop"}
    assert meta["labels"] == labels
    assert m["spec"]["template"]["metadata"]["labels"] == labels
    assert meta["annotations"] == {ANN_TRIALS: "3-5", ANN_START_TIMEOUT: "900"}
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "tuneop.dev/v1alpha1",
            "kind": "TuningSession",
            "name": "demo",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def test_manifest_without_a_uid_has_no_owner_reference() -> None:
    m = first_manifest(spec(), SessionRef(namespace="ns", name="demo"))
    assert "ownerReferences" not in m["metadata"]


def test_long_session_labels_and_names_fit() -> None:
    m = first_manifest(spec(), SessionRef(namespace="ns", name=LONG, uid="u"))
    assert m["metadata"]["name"] == job_name(LONG, 0)
    assert m["metadata"]["labels"][LABEL_SESSION] == session_label(LONG)
    assert m["metadata"]["ownerReferences"][0]["name"] == LONG


@pytest.mark.parametrize("retries", [0, 3, 100])
def test_a_job_is_never_retried_whole_retries_are_per_trial(retries: int) -> None:
    assert first_manifest(spec(retries=retries))["spec"]["backoffLimit"] == 0


@pytest.mark.parametrize(
    ("extra", "container"),
    [({}, "runner"), ({"trialsPerJob": 3}, "runner")],
    ids=["one-trial", "packed"],
)
def test_every_job_ignores_disruptions_and_fails_at_once_on_the_reserved_exit_code(
    extra: dict[str, object], container: str
) -> None:
    rules = first_manifest(spec(**extra))["spec"]["podFailurePolicy"]["rules"]
    assert rules == [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        {
            "action": "FailJob",
            "onExitCodes": {"containerName": container, "operator": "In", "values": [78]},
        },
    ]


def test_the_pod_start_timeout_is_on_the_job_for_the_adapter() -> None:
    m = first_manifest(spec(podStartTimeoutSeconds=42))
    assert m["metadata"]["annotations"][ANN_START_TIMEOUT] == "42"


def test_active_deadline_is_trial_timeout_times_the_job_s_trials_plus_start_slack() -> None:
    # The slack lets the runner's own per-trial timeout fire (and report) before the Job's.
    assert JOB_START_SLACK_SECONDS > 0
    jobs = created(spec(trialsPerJob=4, trialTimeoutSeconds=30, maxParallel=3))
    assert [len(j.trials) for j in jobs] == [4, 4, 2]
    deadlines = [j.manifest["spec"]["activeDeadlineSeconds"] for j in jobs]
    assert deadlines == [120 + JOB_START_SLACK_SECONDS] * 2 + [60 + JOB_START_SLACK_SECONDS]


def test_pods_run_once_restricted_and_without_an_api_token() -> None:
    m = first_manifest(spec())
    pod = m["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container(m)["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["runAsNonRoot"] is True
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "privileged" not in sc


# ---- what the worker is told


def test_trials_travel_as_json_in_tuneop_trials() -> None:
    jobs = created(spec(trialsPerJob=2, maxParallel=1))
    e = env(jobs[0].manifest)
    assert json.loads(e["TUNEOP_TRIALS"]) == [
        {"trial": 0, "params": {"x": 0}},
        {"trial": 1, "params": {"x": 1}},
    ]
    assert e["TUNEOP_METRIC"] == "loss"
    assert e["TUNEOP_TRIAL_TIMEOUT_SECONDS"] == str(7 * 24 * 3600)
    assert e["TUNEOP_SESSION"] == "ns/demo"
    assert e["TUNEOP_JOB_INDEX"] == "0"


HOSTILE = "$(rm -rf /); `id` \"quoted\" 'single' \\ ${HOME}\nnext line"


def test_hostile_param_values_stay_data_in_json_never_in_command_or_args() -> None:
    s = spec(
        searchSpace=DROP,
        trials=[{"cmd": HOSTILE}],
        runner={"image": "i", "args": ["--verbose"], "objective": "m:f"},
    )
    m = first_manifest(s)
    c = container(m)
    assert json.loads(env(m)["TUNEOP_TRIALS"])[0]["params"]["cmd"] == HOSTILE
    assert c["command"] == ["tuneop-runner"]
    assert c["args"] == ["--verbose"]
    for arg in [*c["command"], *c["args"]]:
        assert "rm -rf" not in arg
    assert env(m)["TUNEOP_OBJECTIVE"] == "m:f"


def test_user_env_and_objective_command_are_passed_after_tuneop_env() -> None:
    s = spec(
        runner={
            "image": "i",
            "objectiveCommand": ["python", "train.py"],
            "env": [{"name": "MODE", "value": "fast"}],
        }
    )
    names = [e["name"] for e in container(first_manifest(s))["env"]]
    assert names[-1] == "MODE"
    assert json.loads(env(first_manifest(s))["TUNEOP_OBJECTIVE_COMMAND"]) == ["python", "train.py"]
    assert "TUNEOP_OBJECTIVE" not in env(first_manifest(s))


def test_runner_placement_and_resources_are_passed_through() -> None:
    s = spec(runner=RICH_RUNNER)
    m = first_manifest(s)
    pod, c = m["spec"]["template"]["spec"], container(m)
    assert c["resources"] == RICH_RUNNER["resources"]
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert pod["serviceAccountName"] == "tuner"
    assert pod["nodeSelector"] == {"pool": "cpu"}
    assert pod["tolerations"] == RICH_RUNNER["tolerations"]


# ---- the real Job schema

RICH_RUNNER = {
    "image": "registry.example/runner:1.2",
    "objective": "pkg.mod:fn",
    "command": ["python", "-m", "tuneop_runner"],
    "args": ["--log-level", "debug"],
    "env": [{"name": "A", "value": "1"}, {"name": "EMPTY"}],
    "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
    "serviceAccountName": "tuner",
    "nodeSelector": {"pool": "cpu"},
    "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
    "imagePullPolicy": "IfNotPresent",
}

VALIDATED = [
    pytest.param({}, REF, id="minimal"),
    pytest.param({"trialsPerJob": 4, "retries": 2}, REF, id="packed"),
    pytest.param({"runner": RICH_RUNNER}, REF, id="every-runner-field"),
    pytest.param(
        {"runner": {"image": "i", "objectiveCommand": ["./score.sh"]}}, REF, id="objective-command"
    ),
    pytest.param({}, SessionRef(namespace="ns", name=LONG, uid="u"), id="253-char-name"),
    pytest.param({}, SessionRef(namespace="ns", name="demo"), id="no-owner"),
    pytest.param(
        {"searchSpace": DROP, "trials": [{"cmd": HOSTILE, "n": 1, "b": True}]}, REF, id="hostile"
    ),
    pytest.param(
        {"earlyStopping": {"type": "median", "redisUrlSecret": {"name": "r", "key": "url"}}},
        REF,
        id="early-stopping",
    ),
]


@pytest.mark.parametrize(("overrides", "ref"), VALIDATED)
def test_generated_jobs_validate_against_the_kubernetes_job_schema(
    overrides: dict[str, Any], ref: SessionRef
) -> None:
    for c in created(spec(**overrides), ref):
        assert kubernetes_validate.validate(c.manifest, K8S_VERSION, strict=True) == K8S_VERSION


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda m: m["spec"].update(backoffLimit="3"), id="string-backoff"),
        pytest.param(lambda m: m["spec"].update(bogus=1), id="unknown-field"),
        pytest.param(lambda m: container(m).pop("name"), id="container-without-name"),
    ],
)
def test_the_schema_check_rejects_a_broken_job(corrupt: Any) -> None:
    m = first_manifest(spec())
    corrupt(m)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(m, K8S_VERSION, strict=True)


# ---- the wire format read back (decode_job, beside the encoder)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="one-trial"),
        pytest.param({"trialsPerJob": 3}, id="packed"),
        pytest.param({"workers": 2}, id="workers"),
    ],
)
def test_decode_job_reads_back_what_job_manifest_wrote(overrides: dict[str, Any]) -> None:
    for c in created(spec(**overrides)):
        assert decode_job(c.manifest) == DecodedJob(c.index, c.name, c.trials, c.params)


def without(manifest: dict[str, Any], *path: str) -> dict[str, Any]:
    """A deep copy of ``manifest`` with the key at ``path`` removed."""
    out = json.loads(json.dumps(manifest))
    node = out
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return out


def no_annotation(manifest: dict[str, Any]) -> dict[str, Any]:
    return without(manifest, "metadata", "annotations")


def garbled_annotation(manifest: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(manifest))
    out["metadata"]["annotations"][ANN_TRIALS] = "5-2"
    return out


def no_env(manifest: dict[str, Any]) -> dict[str, Any]:
    return without(manifest, "spec", "template", "spec", "containers")


@pytest.mark.parametrize(
    ("damage", "keeps_params"),
    [
        pytest.param(no_annotation, True, id="no-annotation-trials-from-env"),
        pytest.param(garbled_annotation, True, id="garbled-annotation-trials-from-env"),
        pytest.param(no_env, False, id="no-env-trials-from-annotation-no-params"),
    ],
)
def test_decode_job_falls_back_on_what_the_job_still_says(damage: Any, keeps_params: bool) -> None:
    c = created(spec(trialsPerJob=3))[1]
    decoded = decode_job(damage(c.manifest))
    assert decoded is not None
    assert (decoded.index, decoded.trials) == (1, (3, 4, 5))
    assert decoded.params == (c.params if keeps_params else ())


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda m: without(m, "metadata", "labels"), id="no-labels"),
        pytest.param(lambda m: no_env(no_annotation(m)), id="no-trials"),
    ],
)
def test_decode_job_refuses_a_job_without_index_or_trials(damage: Any) -> None:
    assert decode_job(damage(created(spec())[0].manifest)) is None
