"""Redis mirror benchmark: commands per trial, and the time to mirror 10,000 trials.

Starts its own redis-server on a free loopback port (Debian's redis-server),
mirrors a 10,000-trial session the way a reconcile does (a launch, a harvest of
each worker's results and a status write per reconcile, 20 workers at a time),
and counts the commands Redis executed (INFO commandstats). The floor is the
same trial documents written with one bare SET each, pipelined the same way.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from bench.common import header, save
from minicluster.redis_server import RedisServer
from tuneop.adapters.redis_mirror import RedisMirror
from tuneop.api.session import SessionRef
from tuneop.api.spec import parse_spec
from tuneop.api.status import SessionStatus, TrialCounts
from tuneop.core.planning.planner import JobToCreate
from tuneop.core.wire.contract import Outcome, TrialResult

SPEC = parse_spec(
    {
        "objective": {"metric": "loss"},
        "searchSpace": [{"name": "x", "type": "float", "min": 0, "max": 1}],
        "totalTrials": 10_000,
        "runner": {"image": "tuneop/runner:0.1.0", "objective": "m:f"},
    }
)


def commands(client: redis.Redis) -> int:
    stats: dict[str, Any] = client.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k not in {"cmdstat_info"})


def mirror_session(url: str, trials: int, wave: int) -> tuple[float, int]:
    client = redis.Redis.from_url(url)
    client.flushall()
    client.config_resetstat()
    m = RedisMirror.from_url(url)
    ref = SessionRef("bench", "mirror")
    start = time.perf_counter()
    for first in range(0, trials, wave):
        idx = range(first, min(first + wave, trials))
        jobs = [
            JobToCreate(
                index=i, name=f"mirror-{i}", trials=(i,), params=({"x": i / trials},), manifest={}
            )
            for i in idx
        ]
        m.record_launch(ref, SPEC, jobs)
        results = [
            TrialResult(
                trial=i,
                job_index=i,
                params={"x": i / trials},
                outcome=Outcome.SUCCEEDED,
                value=(i * 7919) % 1000 / 1000,
                metrics={"loss": 0.5},
            )
            for i in idx
        ]
        m.persist(ref, SPEC, results)
        m.record_status(
            ref,
            SPEC,
            SessionStatus(phase="Running", trials=TrialCounts(total=trials, succeeded=idx.stop)),
            [],
        )
    elapsed = time.perf_counter() - start
    total = commands(client)
    assert len(m.records(ref)) == trials
    return elapsed, total


def floor(url: str, trials: int, wave: int) -> tuple[float, int]:
    client = redis.Redis.from_url(url)
    client.flushall()
    client.config_resetstat()
    start = time.perf_counter()
    for first in range(0, trials, wave):
        pipe = client.pipeline(transaction=False)
        for i in range(first, min(first + wave, trials)):
            pipe.set(f"floor:{i}", json.dumps({"trial": i, "params": {"x": i / trials}}))
        pipe.execute()
    return time.perf_counter() - start, commands(client)


def main() -> int:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    wave = 20
    header(f"redis mirror: {trials:,} trials, {wave} workers per reconcile, {runs} runs")
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            ours = [mirror_session(server.url, trials, wave) for _ in range(runs)]
            bare = [floor(server.url, trials, wave) for _ in range(runs)]
        finally:
            server.stop()
    t_ours = sorted(t for t, _ in ours)
    t_bare = sorted(t for t, _ in bare)
    per_trial = ours[0][1] / trials
    print(
        f"mirror: median {t_ours[len(t_ours) // 2]:.2f} s (min {t_ours[0]:.2f}, "
        f"max {t_ours[-1]:.2f}); bare SET floor: median {t_bare[len(t_bare) // 2]:.2f} s; "
        f"ratio {t_ours[len(t_ours) // 2] / t_bare[len(t_bare) // 2]:.1f}x"
    )
    print(f"redis commands per trial: {per_trial:.1f} (floor {bare[0][1] / trials:.1f}: one SET)")
    print(
        "raw:",
        save(
            "redis",
            {
                "trials": trials,
                "wave": wave,
                "mirror_seconds": t_ours,
                "floor_seconds": t_bare,
                "commands_per_trial": per_trial,
            },
        ),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
