"""Journeys: the commands that read a session from Redis pass over what they cannot read.

``watch``, ``summary`` and ``results`` read the session mirror through one
reader (``tuneop.adapters.redis_mirror.reader``). What Redis holds is
untrusted: a listed session id that is no ``NAMESPACE/NAME`` (written by
something else, or by hand) is no reason for a traceback; the session asked
for is still found. The Redis here is a real ``redis-server``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from user import User

from minicluster.redis_server import RedisServer


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[RedisServer]:
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (["watch", "quickstart"], "default/quickstart: Succeeded, 30/30 trials"),
        (["summary", "quickstart"], 'best parameters: {"x": 3'),
        (["results", "quickstart", "-o", "fetched"], "(30 trials, Succeeded)"),
    ],
    ids=["watch", "summary", "results"],
)
def test_a_listed_id_that_is_no_namespace_name_is_passed_over(
    user: User, mirror: RedisServer, command: list[str], said: str
) -> None:
    seen = user.tuneop(
        "run", "examples/quickstart.yaml", "--local", "--no-report", "--redis-url", mirror.url
    )
    assert seen.code == 0, seen
    client = redis.Redis.from_url(mirror.url)
    client.sadd("tuneop:sessions", "no-slash-here", "\x1b[2Jhostile")
    client.close()

    seen = user.tuneop(*command, "--redis-url", mirror.url, timeout=60)

    assert seen.code == 0, seen
    assert "Traceback" not in seen.both and said in seen.out, seen
