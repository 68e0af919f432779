"""An operator session tracked in a real MLflow server (``spec.tracking.mlflow``): the session a
parent run, every trial a nested run made before its Job, whose pod names it in
``MLFLOW_RUN_ID`` and gets the credentials of the Secret ``secretRef`` names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from minicluster.harness import Cluster
from minicluster.kube import Json
from minicluster.mlflow_server import MlflowServer
from tests.e2e.operator_support import (
    Served,
    apply,
    explicit_session,
    serve_namespaces,
    session_jobs,
)

NAME = "tracked"
TRIALS = [{"x": 0.5}, {"x": 1.5}, {"x": -1.0}, {"x": 2.0}]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def served(
    cluster: Cluster, crd: Json, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    with serve_namespaces(cluster, tmp_path_factory.mktemp("operator"), ["mlflow"]) as served:
        yield served


def trial_runs(url: str, experiment: str) -> tuple[list[Any], list[Any]]:
    client = MlflowClient(tracking_uri=url)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return [], []
    every = client.search_runs([found.experiment_id], max_results=1000)
    parents = [r for r in every if "tuneop.trial" not in r.data.tags]
    trials = [r for r in every if "tuneop.outcome" in r.data.tags]
    return parents, sorted(trials, key=lambda r: int(r.data.tags["tuneop.trial"]))


def test_an_operator_session_appears_in_mlflow_with_every_trial_nested(
    served: Served, mlflow_server: MlflowServer
) -> None:
    cluster, ns = served.cluster, served.ns("mlflow")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "mlflow-creds", "namespace": ns},
        "stringData": {"MLFLOW_TRACKING_TOKEN": "unused-by-a-server-without-auth"},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(secret))
    tracking = {
        "mlflow": {
            "trackingUri": mlflow_server.url,
            "experiment": f"{ns}-{NAME}",
            "runWaitSeconds": 60,
            "secretRef": {"name": "mlflow-creds"},
        }
    }
    session = explicit_session(
        NAME, "functions:quadratic", TRIALS, maxParallel=2, jobCleanup="Keep", tracking=tracking
    )
    session["spec"]["objective"]["metric"] = "loss"
    apply(cluster, ns, session)
    status = served.wait_phase(ns, NAME, "Succeeded", "Failed", timeout=300)["status"]
    assert status["phase"] == "Succeeded", served.explain(ns, NAME)

    def logged() -> tuple[list[Any], list[Any]] | None:
        parents, trials = trial_runs(mlflow_server.url, f"{ns}-{NAME}")
        done = len(trials) == len(TRIALS) and parents and parents[0].info.status == "FINISHED"
        return (parents, trials) if done else None

    parents, trials = served.wait_for("MLflow to hold every trial", logged, timeout=120)
    assert len(parents) == 1 and parents[0].info.run_name == NAME
    assert parents[0].data.tags["tuneop.session"] == f"{ns}/{NAME}"
    best = status["best"]["trial"]
    assert parents[0].data.tags["tuneop.best_trial"] == str(best)
    by_trial = {int(r.data.tags["tuneop.trial"]): r for r in trials}
    assert sorted(by_trial) == list(range(len(TRIALS)))
    for trial, run in by_trial.items():
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert float(run.data.params["x"]) == TRIALS[trial]["x"]
        assert run.data.tags["tuneop.outcome"] == "Succeeded"
        assert "loss" in run.data.metrics
        assert run.data.tags.get("tuneop.best", "false") == ("true" if trial == best else "false")
    # Each Job's pod named its trial's run, made before the Job, and the Secret's credentials.
    for job in session_jobs(cluster, ns, NAME):
        container = job["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        trial = json.loads(env["TUNEOP_TRIALS"]["value"])[0]["trial"]
        assert env["MLFLOW_RUN_ID"]["value"] == by_trial[trial].info.run_id
        assert env["MLFLOW_TRACKING_URI"]["value"] == mlflow_server.url
        ref = env["MLFLOW_TRACKING_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "mlflow-creds"
