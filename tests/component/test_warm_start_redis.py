"""Warm start from a session in a real Redis: what the operator and ``--redis-url`` read.

A local run mirrored into Redis stands in for the earlier cluster session (the
operator writes the same keys). The operator's source (``RedisWarmStart``)
must read it back bounded, name the field when the session is not there, and
wait (a transient error) while Redis is down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from builders import session_doc
from minicluster.redis_server import RedisServer
from tuneop.adapters.redis_mirror import RedisWarmStart
from tuneop.adapters.results_folder.folder import load_records
from tuneop.api.errors import SpecError
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec, parse_spec
from tuneop.cli.main import main
from tuneop.ports import TransientError

LATER = SessionRef("default", "later")
SPHERE = "tuneop_runner.objectives.functions:sphere"


def earlier_run(tmp_path: Path, redis_url: str) -> Path:
    """A 5-point grid over x, mirrored into Redis as default/earlier."""
    doc = session_doc(
        "earlier",
        {
            "objective": {"metric": "value"},
            "searchSpace": [{"name": "x", "type": "int", "min": -2, "max": 2}],
            "optimizer": {"type": "grid"},
            "runner": {"image": "tuneop/runner:0.1.0", "objective": SPHERE},
        },
    )
    path = tmp_path / "earlier.yaml"
    path.write_text(yaml.safe_dump(doc))
    args = ["run", str(path), "--local", "--no-progress", "--no-report", "--redis-url", redis_url]
    assert main([*args, "--results-dir", str(tmp_path / "local")]) == 0
    return tmp_path / "local" / "earlier"


def later_data(source: str = "default/earlier", most: int = 1000) -> dict[str, Any]:
    return {
        "objective": {"metric": "value"},
        "searchSpace": [{"name": "x", "type": "float", "min": -5, "max": 5}],
        "optimizer": {"type": "bayesian", "seed": 1},
        "totalTrials": 3,
        "maxParallel": 1,
        "warmStart": {"from": {"session": source, "maxTrials": most}},
        "runner": {"image": "tuneop/runner:0.1.0", "objective": SPHERE},
    }


def later(source: str = "default/earlier", most: int = 1000) -> SessionSpec:
    return parse_spec(later_data(source, most))


def test_the_operator_reads_the_earlier_session_from_redis_bounded(
    tmp_path: Path, redis_url: str
) -> None:
    folder = earlier_run(tmp_path, redis_url)
    client = redis.Redis.from_url(redis_url)
    source = RedisWarmStart(client, "tuneop")
    by_folder = {r["trial"]: r["objective"]["value"] for r in load_records(folder)}

    prior = source.prior(LATER, later())
    assert [r.trial for r in prior] == [-5, -4, -3, -2, -1]
    assert [r.value for r in prior] == [by_folder[t] for t in range(5)]
    assert [r.params for r in prior] == [{"x": float(x)} for x in (-2, -1, 0, 1, 2)]
    # A bare name is looked up in the session's namespace; maxTrials keeps the most recent.
    assert [r.params for r in source.prior(LATER, later("earlier", 2))] == [{"x": 1.0}, {"x": 2.0}]

    with pytest.raises(SpecError) as err:
        source.prior(LATER, later("default/missing"))
    assert err.value.problems == [
        "spec.warmStart.from.session: default/missing is not in Redis (none match)"
    ]


def test_redis_down_is_a_transient_error_not_an_invalid_spec(fresh_server: RedisServer) -> None:
    client = redis.Redis.from_url(fresh_server.url, socket_connect_timeout=1, socket_timeout=1)
    source = RedisWarmStart(client, "tuneop")
    fresh_server.stop()
    with pytest.raises(TransientError, match="redis: ConnectionError"):
        source.prior(LATER, later())


def test_a_local_run_warm_starts_from_a_session_in_redis(tmp_path: Path, redis_url: str) -> None:
    earlier_run(tmp_path, redis_url)
    path = tmp_path / "later.yaml"
    path.write_text(yaml.safe_dump(session_doc("later", later_data())))
    args = ["run", str(path), "--local", "--no-progress", "--no-report", "--redis-url", redis_url]
    assert main([*args, "--results-dir", str(tmp_path / "local")]) == 0
    records = load_records(tmp_path / "local" / "later")
    assert sorted(r["trial"] for r in records) == [0, 1, 2]  # only its own trials
