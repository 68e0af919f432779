"""Chaos: the operator SIGKILLed every 2-5 s (seeded) for a minute under CPU load.

Two busy-loop processes load the CPU (the issue's ``LOAD=2``) while the operator is killed
and started again, as a crash-looping pod would be. The session must move on while the
kills run (its status, what the operator committed, counts trials done during the kill
phase; trials per minute are printed), then finish with every trial run exactly once: no
Job name created twice (the Job watch), every result in the results folder once, nothing
lost; the Jobs that existed at once stay within ``maxParallel``; and the mirrors converge:
Redis's session hash says what the final status says, and the best ConfigMap holds the
status's best.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import redis

from minicluster.chaos import (
    ExistingJobs,
    busy_loops,
    check_best,
    check_exactly_once,
    check_redis,
    load_average,
    run_session,
)
from minicluster.harness import Cluster
from minicluster.kube import Json
from minicluster.operator_process import OperatorProcess
from minicluster.redis_server import RedisServer
from tests.e2e.operator_support import (
    apply,
    explain,
    explicit_session,
    release_sessions,
    session_path,
)
from tuneop.core.planning.planner import HARVEST_BATCH

TRIALS = 60
MAX_PARALLEL = 10
SEED = int(os.environ.get("TUNEOP_CHAOS_SEED", "27"))
KILL_SECONDS = float(os.environ.get("TUNEOP_CHAOS_SECONDS", "60"))
MIN_KILLS = 5  # the kill phase goes on past KILL_SECONDS (up to 3x) until this many
# Lives of 2-5 s counted from kopf's start in the process, not from the process's start: on
# a shared machine importing the operator alone can take longer than a life (8.8 s measured
# at a load of 16 on 2 cores), which would test start-up (issue 27's "fast start", another
# item), not what a live operator commits. TUNEOP_CHAOS_LIFE_FROM=start: the way.
LIFE_FROM = os.environ.get("TUNEOP_CHAOS_LIFE_FROM", "ready")


def _spread(seconds: list[float]) -> str:
    return f"{min(seconds):.1f}-{max(seconds):.1f}s" if seconds else "not timed"


def test_operator_killed_every_few_seconds_under_load_progresses_and_runs_each_trial_once(
    cluster: Cluster, crd: Json, namespace: str, tmp_path: Path, redis_server: RedisServer
) -> None:
    ns, name = namespace, "chaos"
    results = tmp_path / "results"
    operator = OperatorProcess(
        cluster.kubeconfig,
        [ns],
        tmp_path / "operator.log",
        ["--results-dir", str(results), "--redis-url", redis_server.url],
    )
    manifest = explicit_session(
        name,
        "testing:sleep",
        # Trials of 4-5.5 s: on a quiet machine 60 short ones all finished within 4 kills
        # (28 s); these keep the session alive through the kill phase's 5 kills.
        [{"seconds": 4 + 0.5 * (i % 4)} for i in range(TRIALS)],
        maxParallel=MAX_PARALLEL,
    )
    try:
        with ExistingJobs(cluster.kubeconfig, ns) as watch, busy_loops(2):
            run = run_session(
                cluster.kube,
                operator,
                session_path(ns, name),
                lambda: apply(cluster, ns, manifest),
                kill_seconds=KILL_SECONDS,
                seed=SEED,
                life_from=LIFE_FROM,
                min_kills=MIN_KILLS,
                timeout=480,
            )
        why = explain(cluster, operator, ns, name)
        print(
            f"\nchaos: {run.kills} kills in {run.kill_seconds:.0f}s,"
            f" {run.finished_while_killing} trials finished while killing"
            f" ({run.per_minute_while_killing:.1f}/min), {run.per_minute:.1f}/min overall,"
            f" {run.total_seconds:.0f}s in all; at most {watch.peak_existing} Jobs at once;"
            f" start-up to kopf {_spread(run.startups)};"
            f" load {load_average()}"
        )
        assert run.kills >= MIN_KILLS, f"only {run.kills} kills\n{why}"
        assert run.finished_while_killing > 0, f"no progress while the kills ran\n{why}"
        assert run.status["phase"] == "Succeeded", why
        trials = results / ns / name / "trials"
        problems = check_exactly_once(run, TRIALS, watch.duplicates(), trials)
        assert not problems, f"{problems}\n{why}"
        assert watch.peak_unfinished <= MAX_PARALLEL, (watch.peak_unfinished, why)
        # Backpressure: finished Jobs never pile up beside new ones (a few may be on their
        # way out: the operator forgets a Job when it deletes it, the API a moment later).
        assert watch.peak_existing <= MAX_PARALLEL + HARVEST_BATCH, (watch.peak_existing, why)
        assert len(watch.names()) == TRIALS, why
        assert not watch.errors, watch.errors

        # The mirrors converge on the final status, once the last operator has settled.
        # The mirrors are written just after the status write that ended the session: a
        # moment's grace, then they must agree with it.
        client = redis.Redis.from_url(redis_server.url)
        deadline = time.monotonic() + 20
        try:
            while True:
                problems = check_redis(client, "tuneop", f"{ns}/{name}", run)
                problems += check_best(cluster.kube, ns, name, run)
                if not problems or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            client.close()
        assert not problems, f"{problems}\n{why}"
    finally:
        if operator.alive():
            cluster.kube.delete(session_path(ns, name))
            operator.wait_for(
                f"session {ns}/{name} to be deleted",
                lambda: cluster.kube.get_or_none(session_path(ns, name)) is None,
            )
        else:
            release_sessions(cluster, ns)
        operator.stop()
