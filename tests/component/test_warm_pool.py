"""The warm pool (``tuneop.adapters.processes.warm``) with real warm worker processes.

A Job's output goes to its own log, capped like any worker log but keeping the result
and frame lines past the cap; the worker is reused by the next Job; stopping a running
Job stops its worker, and the next Job gets a fresh one; workers started before the first
Job run the first Jobs, and tell whoever took the pool over when each ends.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from tuneop.adapters.processes.proctree import descendants
from tuneop.adapters.processes.warm import WarmPool
from tuneop.core.wire.contract import parse_log

OBJECTIVES = """\
import os, time

def chatty(params):
    print("x" * 5000, flush=True)
    return {"loss": params["x"], "pid": os.getpid()}

def slow(params):
    time.sleep(60)
    return {"loss": 0}
"""


def pool(tmp_path: Path, cap: int = 1 << 20) -> tuple[WarmPool, threading.Event]:
    (tmp_path / "objs.py").write_text(OBJECTIVES)
    done = threading.Event()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNEOP_")}
    return WarmPool(env, tmp_path, done.set, cap), done


def job(function: str, trial: int) -> dict[str, str]:
    trials = json.dumps([{"trial": trial, "params": {"x": trial}}])
    return {"TUNEOP_TRIALS": trials, "TUNEOP_OBJECTIVE": f"objs:{function}"}


def test_a_jobs_log_is_capped_but_keeps_its_result_and_frames(tmp_path: Path) -> None:
    warm, _ = pool(tmp_path, cap=1000)
    log = tmp_path / "a.log"
    try:
        run = warm.start(job("chatty", 0), log.open("wb"))
        assert run.done.wait(60) and run.code == 0
    finally:
        warm.close()
    text = log.read_text()
    assert "output past 1000 bytes is not kept" in text and "bytes of output were not kept" in text
    parsed = parse_log(text)
    assert parsed.framed and parsed.reports[0].metrics["loss"] == 0


def test_successive_jobs_share_a_worker_and_a_stopped_one_is_replaced(tmp_path: Path) -> None:
    warm, _ = pool(tmp_path)
    try:
        logs = [tmp_path / f"{i}.log" for i in range(4)]
        one = warm.start(job("chatty", 0), logs[0].open("wb"))
        assert one.done.wait(60) and one.code == 0
        two = warm.start(job("chatty", 1), logs[1].open("wb"))
        assert two.done.wait(60) and two.code == 0
        assert one.pid == two.pid
        slow = warm.start(job("slow", 2), logs[2].open("wb"))
        assert slow.pid == one.pid
        warm.stop(slow)
        assert slow.code is not None and slow.code != 0
        four = warm.start(job("chatty", 3), logs[3].open("wb"))
        assert four.done.wait(60) and four.code == 0
        assert four.pid != one.pid
    finally:
        warm.close()
    pids = {
        parse_log(p.read_text()).reports[t].metrics["pid"] for t, p in ((0, logs[0]), (3, logs[3]))
    }
    assert len(pids) == 2


def test_workers_started_early_run_the_first_jobs_and_tell_the_loop_that_took_them(
    tmp_path: Path,
) -> None:
    warm, told_at_start = pool(tmp_path)
    before = set(descendants(os.getpid()))
    try:
        warm.prestart(2)
        early = set(descendants(os.getpid())) - before
        assert len(early) == 2, early  # started idle, before any Job
        loop = threading.Event()
        warm.on_done = loop.set  # the session's loop takes the pool over
        logs = [tmp_path / f"{i}.log" for i in range(2)]
        runs = [warm.start(job("chatty", i), logs[i].open("wb")) for i in range(2)]
        assert all(r.done.wait(60) and r.code == 0 for r in runs)
        assert {r.pid for r in runs} == early
        assert loop.is_set() and not told_at_start.is_set()
        assert set(descendants(os.getpid())) - before == early  # no third worker
    finally:
        warm.close()
    assert set(descendants(os.getpid())) - before == set()
