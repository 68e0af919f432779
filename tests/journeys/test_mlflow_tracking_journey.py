"""A local session tracked in a real MLflow server: ``tuneop run --local`` as a user types it.

The server is the one docs/mlflow.md starts (its shell block, on a free port), with a
SQLite backend. The session is a parent run and every trial a nested run with its params,
its metrics (the intermediate ones at their steps), outcome, duration, log excerpt, and
whatever the training script logged itself through ``MLFLOW_RUN_ID``; the best trial is
tagged. Running the command again logs nothing twice; a server stopped mid-session costs
the session nothing, and the next run of the command sends what it missed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient
from user import User, doc_block

from minicluster.mlflow_server import MlflowServer

TRAIN = """\
import json, os, time
x = float(os.environ["TUNEOP_PARAM_X"])
for step in range(3):
    print(f"loss={(x - 1) ** 2 + (2 - step)}", flush=True)
time.sleep(float(os.environ.get("TRAIN_SLEEP", "0")))
if os.environ.get("OWN_LOGGING") != "off":
    # The script's own client may wait for a server on a loaded machine (tuneop's need not).
    os.environ.update(MLFLOW_HTTP_REQUEST_MAX_RETRIES="5", MLFLOW_HTTP_REQUEST_TIMEOUT="120")
    import mlflow
    mlflow.log_metric("own", x)  # the script's own logging: into its trial's run
print(json.dumps({"loss": (x - 1) ** 2, "x_seen": x}))
"""


def spec(name: str, url: str, trials: int, parallel: int) -> str:
    return f"""\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata:
  name: {name}
spec:
  objective: {{metric: loss, direction: minimize}}
  searchSpace:
    - {{name: x, type: int, min: 0, max: {trials - 1}}}
  optimizer: {{type: grid}}
  maxParallel: {parallel}
  trialTimeoutSeconds: 300
  runner:
    image: python:3.11
    objectiveCommand: ["python", "train.py"]
  tracking:
    mlflow: {{trackingUri: "{url}", experiment: {name}, runWaitSeconds: 60}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    mlflow = MlflowServer(
        tmp_path_factory.mktemp("mlflow"), command=doc_block("docs/mlflow.md", "mlflow-server")
    )
    mlflow.start()
    yield mlflow
    mlflow.stop()


def tracked_user(user: User) -> User:
    user.write("train.py", TRAIN)
    # The outbox retries on its own: MLflow's client need not (docs/mlflow.md).
    user.env.update(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="10")
    return user


def runs(url: str, experiment: str) -> tuple[Any, list[Any]]:
    """The session's parent run and its trial runs, by trial number."""
    client = MlflowClient(tracking_uri=url)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment}"
    every = client.search_runs([found.experiment_id], max_results=1000)
    parents = [r for r in every if "tuneop.trial" not in r.data.tags]
    trials = sorted(
        (r for r in every if "tuneop.trial" in r.data.tags),
        key=lambda r: int(r.data.tags["tuneop.trial"]),
    )
    assert len(parents) == 1, [r.info.run_name for r in parents]
    return parents[0], trials


def history(url: str, run_id: str, key: str) -> list[tuple[int, float]]:
    client = MlflowClient(tracking_uri=url)
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def test_a_local_session_is_a_parent_run_with_every_trial_a_nested_run(
    user: User, server: MlflowServer
) -> None:
    tracked_user(user).write("s.yaml", spec("nested", server.url, trials=3, parallel=2))
    seen = user.tuneop("run", "s.yaml", "--local", timeout=600)
    assert seen.code == 0, seen
    assert "View run" not in seen.out  # MLflow's client prints nothing on the user's terminal
    parent, trials = runs(server.url, "nested")
    assert parent.info.run_name == "nested" and parent.info.status == "FINISHED"
    assert parent.data.tags["tuneop.best_trial"] == "1"
    assert parent.data.metrics["best_value"] == 0.0
    assert [r.data.tags["tuneop.trial"] for r in trials] == ["0", "1", "2"]
    client = MlflowClient(tracking_uri=server.url)
    for run in trials:
        x = float(run.data.tags["tuneop.trial"])  # grid order: trial n has x = n
        tags = run.data.tags
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.params == {"x": str(int(x))}
        assert tags["tuneop.outcome"] == "Succeeded" and run.info.status == "FINISHED"
        assert float(tags["tuneop.duration_seconds"]) > 0
        assert run.data.metrics["own"] == x, "the script's own mlflow.log_metric went elsewhere"
        assert run.data.metrics["loss"] == (x - 1) ** 2
        assert run.data.metrics["x_seen"] == x
        curve = sorted(set(history(server.url, run.info.run_id, "loss")))  # steps from 1
        assert curve == [(1, (x - 1) ** 2 + 2), (2, (x - 1) ** 2 + 1), (3, (x - 1) ** 2)]
        assert tags.get("tuneop.best", "false") == ("true" if x == 1 else "false")
        excerpt = client.download_artifacts(run.info.run_id, "tuneop/log-excerpt.txt")
        assert "loss=" in Path(excerpt).read_text()


def test_running_the_command_again_logs_nothing_twice(user: User, server: MlflowServer) -> None:
    tracked_user(user).write("s.yaml", spec("again", server.url, trials=2, parallel=2))
    assert user.tuneop("run", "s.yaml", "--local", timeout=600).code == 0
    _, before = runs(server.url, "again")
    points = {r.info.run_id: history(server.url, r.info.run_id, "loss") for r in before}
    again = user.tuneop("run", "s.yaml", "--local", timeout=600)
    assert again.code == 0, again
    _, after = runs(server.url, "again")
    assert [r.info.run_id for r in after] == [r.info.run_id for r in before]
    assert {r.info.run_id: history(server.url, r.info.run_id, "loss") for r in after} == points


def test_a_server_stopped_mid_session_costs_it_nothing_and_is_caught_up(
    user: User, server: MlflowServer
) -> None:
    tracked_user(user).write("s.yaml", spec("outage", server.url, trials=4, parallel=1))
    # A script that logs itself fails with the server (its own affair): this one does not.
    user.env.update(TRAIN_SLEEP="2", OWN_LOGGING="off")
    proc = user.start("run", "s.yaml", "--local")
    try:
        client = MlflowClient(tracking_uri=server.url)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            found = client.get_experiment_by_name("outage")
            if found is not None and len(client.search_runs([found.experiment_id])) >= 2:
                break  # the parent and the first trial's run: the session is under way
            time.sleep(0.5)
        server.stop()
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
        if server.proc is None:
            server.start()
    assert proc.returncode == 0, err
    assert "run the same command again" in err, err  # what to do about the writes left
    assert "4 succeeded" in out or "succeeded" in out.lower(), out
    _, during = runs(server.url, "outage")
    assert len([r for r in during if "tuneop.outcome" in r.data.tags]) < 4
    again = user.tuneop("run", "s.yaml", "--local", timeout=600)
    assert again.code == 0, again
    _, after = runs(server.url, "outage")
    assert [r.data.tags["tuneop.trial"] for r in after] == ["0", "1", "2", "3"]
    assert all(r.data.tags["tuneop.outcome"] == "Succeeded" for r in after)
    assert all(r.data.metrics["loss"] == (int(r.data.tags["tuneop.trial"]) - 1) ** 2 for r in after)
