"""The operator with Redis and no results folder (the chart's default) keeps the finished
trials its judgements need, and a restarted operator reads them back from Redis once.

Early stopping judged by the operator (Katib's median stop, Optuna's pruners on trials
read from their output) compares running trials with finished ones; before, the
in-memory history kept only a learning optimizer's trials, so a random session's
pruner judged against nothing, and every session's history was empty after a restart.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tests.builders import REF, finished, stdout_spec

from minicluster.redis_server import RedisServer
from tuneop.adapters.memory import MemoryHistory
from tuneop.adapters.redis_mirror import RedisMirror
from tuneop.assembly.stores import RedisStore

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
HALVING = {"type": "successiveHalving", "minResource": 1, "reductionFactor": 2}


def store(url: str) -> RedisStore:
    return RedisStore(RedisMirror.from_url(url, clock=lambda: T0), MemoryHistory())


def test_a_pruned_random_sessions_history_is_kept_and_read_back_after_a_restart(
    redis_url: str,
) -> None:
    spec = stdout_spec(HALVING)  # a random session: it learns nothing from its history
    results = [finished(i, [1.0 + i, 0.5 + i]) for i in range(3)]
    before = store(redis_url)
    before.persist(REF, spec, results)
    assert [r.trial for r in before.history(REF)] == [0, 1, 2]
    restarted = store(redis_url)  # a new process: its memory starts empty
    assert [(r.trial, r.intermediate) for r in restarted.history(REF)] == [
        (r.trial, r.intermediate) for r in results
    ]


def test_with_redis_down_the_history_is_read_back_once_it_answers(
    fresh_server: RedisServer,
) -> None:
    spec = stdout_spec(HALVING)
    restarted = store(fresh_server.url)
    fresh_server.stop()
    assert restarted.history(REF) == []  # nothing to compare with yet: no trial is pruned
    fresh_server.start()
    store(fresh_server.url).persist(REF, spec, [finished(0, [1.0])])  # what Redis holds now
    assert [r.trial for r in restarted.history(REF)] == [0]  # read back, not given up on
