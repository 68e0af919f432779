"""Component-tier fixtures: a real Redis server for the mirror tests, and a real headless
Chromium for the report's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from tests.component.headless_browser import Browser, chromium

from minicluster.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    if redis_server.proc is None:
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of the test's own, for tests that kill and restart Redis."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Any:
    binary = chromium()
    if binary is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium; .ci/run installs it)")
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    b = Browser(binary, profile)
    yield b
    b.close()
