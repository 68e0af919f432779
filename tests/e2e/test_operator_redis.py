"""The operator mirroring a session into a real Redis (``--redis-url``), read back two ways:
the key layout of docs/redis.md, and ``tuneop summary --redis``; and a session warm-started
from an earlier one that Redis holds (``spec.warmStart.from.session``)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Iterator
from typing import cast

import pytest
import redis

from minicluster.harness import Cluster
from minicluster.kube import Json
from minicluster.operator_process import TUNEOP
from minicluster.redis_server import RedisServer
from tests.e2e.operator_support import (
    EXAMPLES,
    Served,
    apply,
    condition,
    serve_namespaces,
    session_jobs,
    session_manifest,
)
from tuneop.adapters.redis_mirror import Keys, records

PREFIX = "tuneop"
NAME = "branin-random"  # 40 random trials over 4 worker Jobs (10 trials each)


@pytest.fixture(scope="module")
def served(
    cluster: Cluster,
    crd: Json,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("operator-redis")
    with serve_namespaces(cluster, workdir, ["redis"], ["--redis-url", redis_server.url]) as served:
        yield served


def hash_of(client: redis.Redis, key: str) -> dict[str, str]:
    return cast(dict[str, str], client.hgetall(key))


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield connection
    connection.close()


def test_redis_mirror_matches_the_finished_session(
    served: Served, redis_server: RedisServer, client: redis.Redis
) -> None:
    cluster, ns = served.cluster, served.ns("redis")
    session_id = f"{ns}/{NAME}"
    keys = Keys(PREFIX, session_id)
    cluster.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / f"{NAME}.yaml"))

    status = served.wait_phase(ns, NAME, "Succeeded", "Failed", timeout=120)["status"]

    def mirrored_as_succeeded() -> dict[str, str] | None:
        found = hash_of(client, keys.hash)
        return found if found.get("phase") == "Succeeded" else None

    mirrored = served.wait_for(
        "Redis to hold the session as Succeeded",
        mirrored_as_succeeded,
        describe=lambda: hash_of(client, keys.hash),
    )
    served.wait_for("the Jobs to be deleted", lambda: not session_jobs(cluster, ns, NAME))

    why = served.explain(ns, NAME)
    assert status["phase"] == "Succeeded", why
    # The session hash mirrors the status.
    assert client.sismember(keys.index, session_id)
    assert {k: mirrored[k] for k in ("total", "succeeded", "failed", "exit_code")} == {
        "total": "40",
        "succeeded": "40",
        "failed": "0",
        "exit_code": "0",
    }, mirrored
    assert mirrored["progress"] == status["progress"] == "40/40"
    assert int(mirrored["best_trial"]) == status["best"]["trial"]
    assert float(mirrored["best_value"]) == pytest.approx(status["best"]["value"])
    assert json.loads(mirrored["best_params"]) == status["best"]["params"]
    assert client.scard(keys.running) == 0

    # Every trial's result key, named by its worker (Job index) and trial, as in the results
    # folder.
    found = records(client, keys)
    assert [r["trial"] for r in found] == list(range(40))
    index = hash_of(client, keys.trial_keys)
    folder = served.results_dir / ns / NAME / "trials"
    for record in found:
        trial, worker = record["trial"], record["jobIndex"]
        assert worker == trial // 10, record
        assert index[str(trial)] == keys.trial(worker, trial)
        assert client.exists(keys.trial(worker, trial))
        assert record["outcome"] == "Succeeded", record
        on_disk = json.loads((folder / f"trial-{trial:06d}.json").read_text())
        assert record == on_disk
    # One record per worker Job, finished.
    for job in range(4):
        job_record = json.loads(cast(str | None, client.get(keys.job(f"{NAME}-{job}"))) or "{}")
        assert (job_record.get("status"), job_record.get("worker_id")) == ("SUCCESS", job), (
            job_record
        )

    # The leaderboard: Redis's sorted set, the CLI's ranking and the CR's agree.
    board = status["leaderboard"]
    assert len(board) == 5, why
    top = [int(t) for t in cast(list[str], client.zrange(keys.leaderboard, 0, 4))]
    assert top == [e["trial"] for e in board]
    summary = subprocess.run(
        [
            TUNEOP,
            "summary",
            "--redis",
            redis_server.url,
            "--session",
            session_id,
            "--csv",
            "--top-n",
            "5",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert summary.returncode == 0, summary.stderr
    rows = list(csv.DictReader(io.StringIO(summary.stdout)))
    assert [int(r["trial"]) for r in rows] == [e["trial"] for e in board], summary.stdout
    assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4, 5]
    for row, entry in zip(rows, board, strict=True):
        assert float(row["value"]) == pytest.approx(entry["value"]), (row, entry)
        assert row["session"] == session_id


def branin(name: str, **spec: object) -> Json:
    return session_manifest(
        name,
        objective={"metric": "value"},
        searchSpace=[
            {"name": "x1", "type": "float", "min": -5, "max": 10},
            {"name": "x2", "type": "float", "min": 0, "max": 15},
        ],
        runner={
            "image": "tuneop/runner:0.1.0",
            "objective": "tuneop_runner.objectives.functions:branin",
        },
        **spec,
    )


def test_a_session_warm_starts_from_an_earlier_session_in_redis(
    served: Served, client: redis.Redis
) -> None:
    cluster, ns = served.cluster, served.ns("redis")
    apply(cluster, ns, branin("warm-earlier", optimizer={"type": "qmc"}, totalTrials=6))
    served.wait_phase(ns, "warm-earlier", "Succeeded", "Failed", timeout=120)
    served.wait_for(
        "Redis to hold the earlier session's trials",
        lambda: len(records(client, Keys(PREFIX, f"{ns}/warm-earlier"))) == 6,
    )
    warm = {"from": {"session": "warm-earlier", "maxTrials": 4}, "points": [{"x1": 3, "x2": 2}]}
    later = branin(
        "warm-later", optimizer={"type": "cmaes"}, totalTrials=3, maxParallel=1, warmStart=warm
    )
    folder = branin(
        "warm-folder",
        optimizer={"type": "bayesian"},
        totalTrials=3,
        warmStart={"from": {"results": "tuneop-results/warm-earlier"}},
    )
    apply(cluster, ns, later, folder)

    status = served.wait_phase(ns, "warm-later", "Succeeded", "Failed", timeout=120)["status"]
    assert status["phase"] == "Succeeded", served.explain(ns, "warm-later")
    # The earlier trials informed the sampler; the session ran its own 3, the point first.
    assert status["trials"]["succeeded"] == 3 and status["progress"] == "3/3"
    own = sorted((served.results_dir / ns / "warm-later" / "trials").iterdir())
    assert [p.name for p in own] == [f"trial-{i:06d}.json" for i in range(3)]
    assert json.loads(own[0].read_text())["params"] == {"x1": 3.0, "x2": 2.0}

    refused = served.wait_phase(ns, "warm-folder", "Failed", "Succeeded", timeout=60)["status"]
    failed = condition(refused, "Failed") or {}
    assert failed.get("reason") == "InvalidSpec", refused
    assert failed["message"].startswith("spec.warmStart.from.results: a results folder"), failed
    assert not session_jobs(cluster, ns, "warm-folder")
