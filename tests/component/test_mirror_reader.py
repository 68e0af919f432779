"""``MirrorReader`` (the ``ResultsReader`` port over Redis) against a real redis-server:
what it hands back is bounded text, and a Redis that fails is a ``TransientError``."""

from __future__ import annotations

import pytest
import redis

from minicluster.redis_server import RedisServer
from tuneop.adapters.redis_mirror import Keys
from tuneop.adapters.redis_mirror.reader import MAX_FIELD_CHARS, MAX_NAME_CHARS
from tuneop.assembly.cli_clients import redis_results
from tuneop.ports import TransientError


def test_what_redis_holds_comes_back_as_bounded_text(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    k = Keys("tuneop", "ns/demo")
    client.sadd(k.index, "ns/demo", "n" * 10_000)
    client.hset(k.hash, mapping={"phase": "Running", "k" * 1000: "v" * 1_000_000})
    client.hset(k.hash, "bad", b"\xff\xfe")
    client.sadd(k.running, "ns-demo-0")
    client.zadd(k.leaderboard, {"3": 0.5, "1": 0.25})
    client.xadd(k.events, {"type": "phase", "data": '{"phase": "Running"}'})
    client.close()

    reader = redis_results(redis_url, "tuneop", 5.0)
    try:
        assert "ns/demo" in reader.sessions()
        assert max(len(s) for s in reader.sessions()) == MAX_NAME_CHARS
        fields = reader.fields("ns/demo")
        assert fields["phase"] == "Running" and fields["bad"] == "\ufffd\ufffd"
        assert fields["k" * MAX_NAME_CHARS] == "v" * MAX_FIELD_CHARS
        assert reader.running("ns/demo") == ["ns-demo-0"]
        assert reader.leaderboard("ns/demo", 5, descending=False) == [("1", 0.25), ("3", 0.5)]
        ((entry, event),) = reader.events("ns/demo", "0-0", block_ms=10)
        assert event == {"type": "phase", "data": '{"phase": "Running"}'} and "-" in entry
        assert reader.events("ns/demo", entry, block_ms=10) == []
        assert reader.records("ns/demo") == []
    finally:
        reader.close()


def test_a_redis_that_is_gone_is_a_transient_error_naming_no_url(
    fresh_server: RedisServer,
) -> None:
    url = fresh_server.url
    fresh_server.stop()
    reader = redis_results(url, "tuneop", 1.0)
    with pytest.raises(TransientError, match=r"^redis: ConnectionError$"):
        reader.sessions()
    reader.close()


def test_a_url_that_is_no_redis_url_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        redis_results("http://example.com", "tuneop", 1.0)
