"""The Redis mirror against a real redis-server: layout, order, atomicity, outages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from redis_server import RedisServer
from rich.console import Console

from tuneop.adapters.memory import MemoryResults
from tuneop.adapters.redis_mirror import BACKOFF_MAX, RedisMirror
from tuneop.api.session import SessionRef, parse_manifest
from tuneop.api.spec import parse_spec
from tuneop.api.status import SessionStatus, TrialCounts, TrialRef
from tuneop.cli.run import run_local
from tuneop.core.planning.planner import Event, JobToCreate
from tuneop.core.wire.contract import Outcome, TrialResult

REF = SessionRef("team-a", "sweep", "uid")
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def spec(direction: str = "minimize") -> Any:
    return parse_spec(
        {
            "objective": {"metric": "loss", "direction": direction},
            "searchSpace": [{"name": "x", "type": "int", "min": 0, "max": 9}],
            "optimizer": {"type": "grid"},
            "runner": {"image": "tuneop/runner:0.1.0", "objective": "m:f"},
        }
    )


def ok(trial: int, value: float, job: int | None = None) -> TrialResult:
    return TrialResult(
        trial=trial,
        job_index=trial if job is None else job,
        params={"x": trial},
        outcome=Outcome.SUCCEEDED,
        value=value,
        metrics={"loss": value},
    )


def bad(trial: int) -> TrialResult:
    return TrialResult(
        trial=trial, job_index=trial, params={"x": trial}, outcome=Outcome.FAILED, error="boom"
    )


def job(index: int, trials: tuple[int, ...]) -> JobToCreate:
    return JobToCreate(
        index=index,
        name=f"sweep-{index}",
        trials=trials,
        params=tuple({"x": t} for t in trials),
        manifest={},
    )


def mirror(url: str, **kw: Any) -> RedisMirror:
    return RedisMirror.from_url(url, clock=lambda: T0, **kw)


def test_keys_and_values_follow_the_documented_layout(redis_url: str) -> None:
    m, s = mirror(redis_url), spec()
    m.record_launch(REF, s, [job(0, (0, 1))])
    m.persist(REF, s, [ok(0, 2.5, job=0), ok(1, 1.5, job=0)])
    status = SessionStatus(
        phase="Running",
        progress="2/10",
        trials=TrialCounts(total=10, succeeded=2),
        best=TrialRef(trial=1, value=1.5, params={"x": 1}),
    )
    m.record_status(REF, s, status, [Event("Normal", "NewBest", "trial 1: loss=1.5")])
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    result = json.loads(r.get("tuneop:tuning_session:team-a/sweep:worker:0:iteration:1"))
    assert result["objective"] == {"metric": "loss", "direction": "minimize", "value": 1.5}
    assert result["params"] == {"x": 1} and result["outcome"] == "Succeeded"
    record = json.loads(r.get("tuneop:session:team-a/sweep:job:sweep-0"))
    assert record == {
        "job_id": "sweep-0",
        "session_id": "team-a/sweep",
        "worker_id": 0,
        "trials": [0, 1],
        "optimizer": "grid",
        "status": "SUCCESS",
        "return_code": 0,
        "started_at": T0.isoformat(),
        "finished_at": T0.isoformat(),
    }
    h = r.hgetall("tuneop:session:team-a/sweep")
    assert (h["phase"], h["succeeded"], h["best_trial"], h["best_value"]) == (
        "Running",
        "2",
        "1",
        "1.5",
    )
    assert json.loads(h["best_params"]) == {"x": 1} and len(h["spec_hash"]) == 16
    assert r.smembers("tuneop:sessions") == {"team-a/sweep"}
    kinds = [f["type"] for _, f in r.xrange("tuneop:session:team-a/sweep:events")]
    assert kinds == ["trial_started", "trial_finished", "trial_finished", "new_best"]


def test_prefix_is_configurable(redis_url: str) -> None:
    m = mirror(redis_url, prefix="lab")
    m.persist(REF, spec(), [ok(3, 1.0)])
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    assert r.exists("lab:tuning_session:team-a/sweep:worker:3:iteration:3")
    assert not r.keys("tuneop:*")


@pytest.mark.parametrize(
    ("direction", "expected"),
    [("minimize", ["2", "0", "1"]), ("maximize", ["1", "0", "2"])],
)
def test_leaderboard_top_n_is_one_query(
    redis_url: str, direction: str, expected: list[str]
) -> None:
    m = mirror(redis_url)
    m.persist(REF, spec(direction), [ok(0, 5.0), ok(1, 9.0), ok(2, -1.0), bad(3)])
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    key = "tuneop:session:team-a/sweep:leaderboard"
    top = r.zrange(key, 0, 2, desc=direction == "maximize")
    assert top == expected


def snapshot(r: redis.Redis) -> dict[str, Any]:  # type: ignore[type-arg]
    """Every key's value, in a comparable form (the event stream is a log: left out)."""
    out: dict[str, Any] = {}
    for key in r.keys("*"):
        kind = r.type(key)
        if kind == "string":
            out[key] = r.get(key)
        elif kind == "set":
            out[key] = sorted(r.smembers(key))
        elif kind == "zset":
            out[key] = r.zrange(key, 0, -1, withscores=True)
        elif kind == "hash":
            out[key] = r.hgetall(key)
    return out


def test_a_repeated_write_gives_the_same_keys_and_values(redis_url: str) -> None:
    m, s = mirror(redis_url), spec()
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    m.persist(REF, s, [ok(0, 1.0), bad(1)])
    first = snapshot(r)
    m.persist(REF, s, [ok(0, 1.0), bad(1)])
    # two results, two job records, the member set, the trial-key hash, the running set,
    # the leaderboard, the session index and the mirror's marker
    assert snapshot(r) == first and len(first) == 9


def test_one_trials_records_are_written_in_one_transaction(redis_url: str) -> None:
    m = mirror(redis_url)
    seen: list[list[Any]] = []

    class Spy(redis.client.Pipeline):  # type: ignore[type-arg]
        def execute(self, raise_on_error: bool = True) -> list[Any]:
            seen.append([c[0][0] for c in self.command_stack])
            return super().execute(raise_on_error)

    m.client.pipeline = lambda transaction=True, shard_hint=None: Spy(  # type: ignore[method-assign]
        m.client.connection_pool, m.client.response_callbacks, transaction, shard_hint
    )
    m.persist(REF, spec(), [ok(4, 2.0)])
    assert len(seen) == 1
    assert {"SET", "SADD", "ZADD", "XADD"} <= set(seen[0])


def test_retention_sets_a_ttl_when_the_session_ends_and_forget_deletes(redis_url: str) -> None:
    m, s = mirror(redis_url, ttl_seconds=600), spec()
    m.record_launch(REF, s, [job(0, (0,))])
    m.persist(REF, s, [ok(0, 1.0)])
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    m.record_status(REF, s, SessionStatus(phase="Running"), [])
    assert all(r.ttl(k) == -1 for k in r.keys("tuneop:session:*"))
    m.record_status(REF, s, SessionStatus(phase="Succeeded", exit_code=0), [])
    session_keys = [k for k in r.keys("*") if "team-a/sweep" in k]
    assert session_keys and all(0 < r.ttl(k) <= 600 for k in session_keys)
    m.forget(REF)
    assert [k for k in r.keys("*") if "team-a/sweep" in k] == []
    assert r.smembers("tuneop:sessions") == set()


def test_redis_killed_and_restarted_empty_gets_every_result_back(
    fresh_server: RedisServer,
) -> None:
    primary = MemoryResults()
    health: list[bool] = []
    now = [0.0]
    m = mirror(
        fresh_server.url, on_health=health.append, source=primary.history, monotonic=lambda: now[0]
    )
    s = spec()

    def harvest(*results: TrialResult) -> None:
        primary.persist(REF, s, results)
        m.persist(REF, s, results)

    harvest(ok(0, 3.0))
    fresh_server.stop()
    harvest(ok(1, 2.0), bad(2))
    m.record_status(REF, s, SessionStatus(phase="Running", progress="3/10"), [])
    assert m.healthy is False and health[-1] is False
    fresh_server.start()  # same port, no persistence: it comes back empty
    now[0] += BACKOFF_MAX  # the mirror tries again once its back-off has passed
    harvest(ok(3, 1.0))
    assert m.healthy is True and health[-1] is True
    assert {r["trial"]: r["outcome"] for r in m.records(REF)} == {
        0: "Succeeded",
        1: "Succeeded",
        2: "Failed",
        3: "Succeeded",
    }
    r = redis.Redis.from_url(fresh_server.url, decode_responses=True)
    assert r.hget("tuneop:session:team-a/sweep", "progress") == "3/10"
    assert r.zrange("tuneop:session:team-a/sweep:leaderboard", 0, -1) == ["3", "1", "0"]
    assert r.exists("tuneop:session:team-a/sweep:job:sweep-2")


def test_local_session_mirrors_into_redis(redis_url: str, tmp_path: Path) -> None:
    doc = {
        "apiVersion": "tuneop.dev/v1alpha1",
        "kind": "TuningSession",
        "metadata": {"name": "mirrored"},
        "spec": {
            "objective": {"metric": "value"},
            "searchSpace": [{"name": "x", "type": "int", "min": 0, "max": 5}],
            "optimizer": {"type": "grid"},
            "trialsPerJob": 2,
            "runner": {
                "image": "tuneop/runner:0.1.0",
                "objective": "tuneop_runner.objectives.functions:sphere",
            },
        },
    }
    m = RedisMirror.from_url(redis_url)
    out = run_local(parse_manifest(doc), tmp_path, Console(quiet=True), extra_mirrors=[m])
    assert out.status.phase == "Succeeded"
    ref = SessionRef("default", "mirrored")
    assert sorted(r["trial"] for r in m.records(ref)) == list(range(6))
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    jobs = [
        json.loads(r.get(f"tuneop:session:default/mirrored:job:mirrored-{i}")) for i in range(3)
    ]
    assert [j["status"] for j in jobs] == ["SUCCESS"] * 3
    assert r.hget("tuneop:session:default/mirrored", "phase") == "Succeeded"
    assert r.hget("tuneop:session:default/mirrored", "exit_code") == "0"
