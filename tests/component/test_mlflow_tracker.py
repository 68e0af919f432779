"""The MLflow tracker against a real ``mlflow server``: a result recorded while the server is
down goes out once it is back, and once only; a new process (a new tracker over the same
result store) logs nothing twice; a Job made while the server is down starts at once,
without a run to name."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest
from mlflow.tracking import MlflowClient

from builders import REF, result, spec
from minicluster.mlflow_server import MlflowServer
from tuneop.adapters.mlflow_tracking import MlflowTracker
from tuneop.api.spec import SessionSpec
from tuneop.core.jobs.manifests import job_manifest, job_name
from tuneop.core.planning.planner import JobToCreate
from tuneop.core.wire.contract import TrialResult
from tuneop.ports import MirrorRecord

pytestmark = pytest.mark.component


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    mlflow = MlflowServer(tmp_path_factory.mktemp("mlflow"))
    mlflow.start()
    yield mlflow
    mlflow.stop()


@pytest.fixture(autouse=True)
def quick_client(monkeypatch: pytest.MonkeyPatch) -> None:
    # The outbox retries on its own (docs/mlflow.md): the client's own retries only wait.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")


def tracked(server: MlflowServer, experiment: str) -> SessionSpec:
    mlflow = {"trackingUri": server.url, "experiment": experiment, "runWaitSeconds": 60}
    return spec(tracking={"mlflow": mlflow})


def logged(server: MlflowServer, experiment: str) -> dict[int, list[float]]:
    """Each trial run's logged values of the objective, by trial."""
    client = MlflowClient(tracking_uri=server.url)
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    out: dict[int, list[float]] = {}
    for run in client.search_runs([found.experiment_id], max_results=1000):
        if "tuneop.outcome" in run.data.tags:
            history = client.get_metric_history(run.info.run_id, "loss")
            out.setdefault(int(run.data.tags["tuneop.trial"]), []).extend(m.value for m in history)
    return out


def results(n: int) -> list[TrialResult]:
    return [
        dataclasses.replace(result(t, float(t)), metrics={"loss": float(t)}, duration_seconds=1.0)
        for t in range(n)
    ]


def test_what_waited_through_an_outage_goes_out_once_the_server_is_back(
    server: MlflowServer,
) -> None:
    s = tracked(server, "outage")
    tracker = MlflowTracker(secrets=False)
    tracker.record(REF, s, MirrorRecord(results=results(2)[:1]))
    assert tracker.drain(120)
    server.stop()
    try:
        tracker.record(REF, s, MirrorRecord(results=results(2)[1:]))
        started = time.monotonic()
        assert not tracker.drain(3)  # nothing to send to: it waits, the caller does not
        assert time.monotonic() - started < 10
    finally:
        server.start()
    assert tracker.drain(180)
    assert logged(server, "outage") == {0: [0.0], 1: [1.0]}


def test_a_new_process_logs_what_the_store_holds_and_nothing_twice(server: MlflowServer) -> None:
    s = tracked(server, "restart")
    first = MlflowTracker(secrets=False)
    first.record(REF, s, MirrorRecord(results=results(3)[:2]))
    assert first.drain(120)
    # A restart: the store holds 3 results, MLflow 2 of them.
    second = MlflowTracker(secrets=False, source=lambda ref: results(3))
    second.record(REF, s, MirrorRecord(results=results(3)[1:2]))  # one it also re-harvests
    assert second.drain(180)
    assert logged(server, "restart") == {0: [0.0], 1: [1.0], 2: [2.0]}


def new_job(s: SessionSpec, index: int) -> JobToCreate:
    manifest = job_manifest(s, REF, index, (index,), [{"x": index}])
    return JobToCreate(index, job_name(REF.name, index), (index,), ({"x": index},), manifest)


def env_of(job: JobToCreate) -> dict[str, str | None]:
    container = job.manifest["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


def test_a_job_made_while_the_server_is_down_starts_at_once_without_a_run(
    server: MlflowServer,
) -> None:
    s = tracked(server, "down")
    tracker = MlflowTracker(secrets=False)
    [ready] = tracker.prepare(REF, s, [new_job(s, 0)])
    assert env_of(ready)["MLFLOW_RUN_ID"]  # the server answers: the run is made first
    server.stop()
    try:
        started = time.monotonic()
        tracker.prepare(REF, s, [new_job(s, 1)])  # the first call meets the dead server
        [second] = tracker.prepare(REF, s, [new_job(s, 2)])
        assert time.monotonic() - started < 30
        assert "MLFLOW_RUN_ID" not in env_of(second)
    finally:
        server.start()
    assert tracker.drain(180)
