"""Early stopping on a cluster: the trials' pods meet in the session's Redis and prune.

``examples/curve-pruning.yaml`` under the operator, with the Redis URL in a
Secret of the session's namespace (``earlyStopping.redisUrlSecret``): each
trial's pod takes its seat in the Optuna study kept in that Redis, reports
its learning curve into it, and the median pruner stops the hopeless ones.
The status counts them as pruned (neither failed nor succeeded), the best is
a finished trial, and each trial's curve is kept in the results folder and in
the Redis mirror.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import yaml

from minicluster.harness import Cluster
from minicluster.kube import Json
from minicluster.redis_server import RedisServer
from tests.e2e.operator_support import EXAMPLES, Served, apply, serve_namespaces
from tuneop.adapters.redis_mirror import Keys, records

NAME = "curve-pruning"


@pytest.fixture(scope="module")
def served(
    cluster: Cluster,
    crd: Json,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("operator-pruning")
    with serve_namespaces(cluster, workdir, ["pruning"], ["--redis-url", redis_server.url]) as s:
        yield s


def redis_secret(url: str) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "tuneop-redis"},
        "data": {"url": base64.b64encode(url.encode()).decode()},
    }


def test_a_cluster_session_prunes_trials_through_its_redis(
    served: Served, redis_server: RedisServer
) -> None:
    ns = served.ns("pruning")
    session: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{NAME}.yaml").read_text())
    session["spec"]["totalTrials"] = 12
    apply(served.cluster, ns, redis_secret(redis_server.url), session)

    status = served.wait_phase(ns, NAME, "Succeeded", "Failed", timeout=300)["status"]

    why = served.explain(ns, NAME)
    t = status["trials"]
    assert status["phase"] == "Succeeded", why
    assert t["pruned"] >= 1 and t["failed"] == 0, why
    assert t["succeeded"] + t["pruned"] == 12, why
    assert status["message"].endswith(f"{t['pruned']} pruned") or "pruned" in status["message"]
    folder = served.results_dir / ns / NAME / "trials"
    on_disk = [json.loads(p.read_text()) for p in sorted(folder.glob("trial-*.json"))]
    pruned = [r for r in on_disk if r["outcome"] == "Pruned"]
    assert len(pruned) == t["pruned"], why
    assert status["best"]["trial"] not in {r["trial"] for r in pruned}
    for r in pruned:
        assert 0 < len(r["intermediate"]) < 20 and r["objective"]["value"] is not None, r
    assert all(len(r["intermediate"]) == 20 for r in on_disk if r["outcome"] == "Succeeded")

    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        mirrored = {r["trial"]: r for r in records(client, Keys("tuneop", f"{ns}/{NAME}"))}
        assert {k: r["intermediate"] for k, r in mirrored.items()} == {
            r["trial"]: r["intermediate"] for r in on_disk
        }
        # The trials met in the session's own journal there (its uid in the name).
        journals = list(client.scan_iter(f"tuneop:pruning:tuneop:{ns}/{NAME}:*:log_number"))
        assert len(journals) == 1, journals
    finally:
        client.close()
