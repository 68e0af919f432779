"""spec.tracking.mlflow: what it takes and refuses, and the variables a worker Job's trial
container gets from it (``core.jobs.tracking``): the server, the experiment, its trial's run
(one trial) or the runs of its trials (several), the Secret's credentials on a cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest

from builders import REF, spec
from tuneop.api.errors import SpecError
from tuneop.core.jobs.manifests import job_manifest
from tuneop.core.jobs.tracking import ENV_RUN_ID, ENV_RUN_IDS, tracking_env, with_env

URI = "http://mlflow.mlflow:5000"


def tracked(**mlflow: Any) -> Any:
    return spec(tracking={"mlflow": {"trackingUri": URI, **mlflow}})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("trackingUri", "ftp://host"),
        ("trackingUri", "http://user:secret@host:5000"),
        ("trackingUri", "mlflow.mlflow:5000"),
        ("trackingUri", "http://host/" + "a" * 2100),
        ("runWaitSeconds", 61),
        ("runWaitSeconds", -1),
        ("experiment", "bad\nname"),
        ("secretRef", {"name": "Not_A_Name"}),
        ("unknown", 1),
    ],
)
def test_a_bad_tracking_field_is_refused_naming_it(field: str, value: Any) -> None:
    with pytest.raises(SpecError, match=field):
        tracked(**{field: value})


def test_the_defaults_are_the_tuneop_experiment_and_a_short_wait() -> None:
    mlflow = tracked().tracking.mlflow
    assert (mlflow.experiment, mlflow.run_wait_seconds, mlflow.secret_ref) == ("tuneop", 5.0, None)


def env_of(manifest: dict[str, Any]) -> dict[str, Any]:
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.mark.parametrize(
    ("trials", "runs", "expected"),
    [
        ((3,), {3: "r3"}, {ENV_RUN_ID: "r3"}),
        ((3,), {}, {}),  # the server was down: no run yet
        ((3, 4), {3: "r3", 4: "r4"}, {ENV_RUN_IDS: json.dumps({"3": "r3", "4": "r4"})}),
        ((3, 4), {4: "r4", 9: "r9"}, {ENV_RUN_IDS: json.dumps({"4": "r4"})}),
    ],
)
def test_a_job_names_its_trials_runs(
    trials: tuple[int, ...], runs: dict[int, str], expected: dict[str, str]
) -> None:
    s = tracked()
    manifest = job_manifest(s, REF, 0, trials, [{"x": 1.0}] * len(trials))
    env = env_of(with_env(manifest, tracking_env(s.tracking.mlflow, "7", runs, trials, False)))
    assert env["MLFLOW_TRACKING_URI"] == URI and env["MLFLOW_EXPERIMENT_ID"] == "7"
    named = {k: v for k, v in env.items() if k in (ENV_RUN_ID, ENV_RUN_IDS)}
    if ENV_RUN_IDS in named:
        named[ENV_RUN_IDS] = json.dumps(json.loads(named[ENV_RUN_IDS]))
    assert named == expected


@pytest.mark.parametrize("secrets", [True, False])
def test_the_secret_gives_credentials_on_a_cluster_only(secrets: bool) -> None:
    s = tracked(secretRef={"name": "mlflow-creds"})
    manifest = job_manifest(s, REF, 0, (0,), [{"x": 1.0}])
    env = env_of(with_env(manifest, tracking_env(s.tracking.mlflow, None, {}, (0,), secrets)))
    keys = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")
    if secrets:
        for key in keys:
            ref = {"name": "mlflow-creds", "key": key, "optional": True}
            assert env[key] == {"secretKeyRef": ref}
    else:
        assert not set(keys) & set(env)


def test_a_variable_the_users_container_sets_stays_the_users() -> None:
    s = spec(
        runner={
            "image": "img",
            "command": ["train"],
            "env": [{"name": ENV_RUN_ID, "value": "mine"}],
        },
        tracking={"mlflow": {"trackingUri": URI}},
    )
    manifest = job_manifest(s, REF, 0, (0,), [{"x": 1.0}])
    env = with_env(manifest, tracking_env(s.tracking.mlflow, None, {0: "ours"}, (0,), False))
    container = env["spec"]["template"]["spec"]["containers"][0]
    assert [e["value"] for e in container["env"] if e["name"] == ENV_RUN_ID] == ["mine"]


def test_a_trial_resource_of_another_kind_is_left_as_written() -> None:
    other = {"apiVersion": "x/v1", "kind": "PipelineRun", "spec": {}}
    assert with_env(other, [{"name": "MLFLOW_TRACKING_URI", "value": URI}]) == other
