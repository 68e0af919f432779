"""Redis down or hung: sessions never wait on it, and what it missed comes back complete.

A hung Redis is a real listener on loopback that accepts connections and
never answers; a Redis that comes back empty is a real ``redis-server``
stopped and started again on the same port.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from redis_server import RedisServer
from test_redis_mirror import REF, job, ok, spec

from tuneop.adapters.memory import MemoryHistory
from tuneop.adapters.redis_mirror import BACKOFF_MAX, MAX_QUEUED_EVENTS, RedisMirror
from tuneop.assembly.stores import RedisStore
from tuneop.ports import TransientError
from tuneop.testing import MemoryResults

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class HungListener:
    """Accepts every connection and never answers; counts the connections."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.accepted = 0
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.sock.getsockname()[1]}/0"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def hung() -> Iterator[HungListener]:
    listener = HungListener()
    yield listener
    listener.close()


def test_a_hung_redis_is_asked_once_per_back_off_not_once_per_write(hung: HungListener) -> None:
    m = RedisMirror.from_url(hung.url, clock=lambda: T0)
    s = spec()
    for trial in range(20):
        m.persist(REF, s, [ok(trial, float(trial))])
    assert m.healthy is False
    assert hung.accepted == 1  # the first write timed out; the other 19 were only queued
    assert len(m.outbox.writes) == 40  # every trial and job record waits for Redis


def test_a_backfill_rebuilds_job_records_with_their_start_times(
    fresh_server: RedisServer,
) -> None:
    primary = MemoryResults()
    now = [0.0]
    m = RedisMirror.from_url(
        fresh_server.url, clock=lambda: T0, source=primary.history, monotonic=lambda: now[0]
    )
    s = spec()
    jobs = [job(i, (i,)) for i in range(4)]
    m.record_launch(REF, s, jobs)
    for i in range(4):
        primary.persist(REF, s, [ok(i, float(i))])
        m.persist(REF, s, [ok(i, float(i))])
    fresh_server.stop()
    fresh_server.start()  # empty again, and no write saw it gone
    now[0] += BACKOFF_MAX  # past the marker check's interval (and any back-off)
    m.persist(REF, s, [ok(9, 9.0, job=3)])
    assert m.healthy is True
    r = redis.Redis.from_url(fresh_server.url, decode_responses=True)
    records: list[dict[str, Any]] = [
        json.loads(r.get(f"tuneop:session:team-a/sweep:job:sweep-{i}") or "{}") for i in range(4)
    ]
    assert [rec.get("started_at") for rec in records] == [T0.isoformat()] * 4
    assert sorted(int(t) for t in r.hkeys("tuneop:session:team-a/sweep:trials")) == [0, 1, 2, 3, 9]


def test_a_new_process_re_sends_what_redis_missed_from_the_result_store(
    redis_url: str,
) -> None:
    # An earlier process harvested trials 0-4 into the results folder while Redis was down
    # and died before it came back: Redis holds trial 0 only.
    primary = MemoryResults()
    s = spec()
    first = RedisMirror.from_url(redis_url, clock=lambda: T0)
    first.persist(REF, s, [ok(0, 0.0)])
    primary.persist(REF, s, [ok(i, float(i)) for i in range(5)])
    restarted = RedisMirror.from_url(redis_url, clock=lambda: T0, source=primary.history)
    restarted.persist(REF, s, [ok(5, 5.0)])
    assert {r["trial"] for r in restarted.records(REF)} == {0, 1, 2, 3, 4, 5}


def test_the_event_backlog_of_a_long_outage_is_bounded(hung: HungListener) -> None:
    m = RedisMirror.from_url(hung.url, clock=lambda: T0)
    s = spec()
    m.persist(REF, s, [ok(0, 0.0)])
    for trial in range(1, MAX_QUEUED_EVENTS + 500):
        m._event(m.keys(REF), "trial_finished", {"trial": trial})
    assert len(m.outbox.events) == MAX_QUEUED_EVENTS


def test_as_the_result_store_redis_must_acknowledge_a_result_before_it_counts(
    fresh_server: RedisServer,
) -> None:
    now = [0.0]
    m = RedisMirror.from_url(fresh_server.url, clock=lambda: T0, monotonic=lambda: now[0])
    store = RedisStore(m, MemoryHistory())
    s = spec()
    store.persist(REF, s, [ok(0, 0.0)])
    fresh_server.stop()
    with pytest.raises(TransientError):
        store.persist(REF, s, [ok(1, 1.0)])  # the reconcile leaves its Job un-harvested
    fresh_server.start()
    now[0] += BACKOFF_MAX
    store.persist(REF, s, [ok(1, 1.0)])  # the next reconcile harvests it again
    assert {r["trial"] for r in m.records(REF)} >= {1}
