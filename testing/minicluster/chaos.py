"""Churn for the operator: SIGKILL it every few seconds, with busy loops loading the CPU.

The e2e chaos test (``tests/e2e/test_operator_chaos.py``) and the chaos benchmark
(``bench/chaos_bench.py``) both run a session through ``run_session``: an
``OperatorProcess`` started for one namespace, a session applied, and for
``kill_seconds`` the operator killed (SIGKILL, no clean-up) after a seeded
2-5 s of life and started again at once, as a crash-looping pod would be; then
it runs in peace until the session ends. A life is counted from the process's
start (``life_from="start"``, the issue's measurement) or from the moment kopf
has started in it (``"ready"``, its ``startup`` activity logged): on a machine
so loaded that importing the operator takes longer than a life, the first
never lets an operator reach the API at all, which measures start-up, not the
reconcile. ``busy_loops(n)`` runs ``n`` processes
that spin the CPU for as long as the context is open (the issue's ``LOAD=2``).

``ChaosRun`` is what was seen: the trials done when the kills began and ended
(from the session's status, which is what the operator committed), the kills,
the seconds of each phase, and the status at the end; ``check_exactly_once``,
``check_redis`` and ``check_best`` say what is wrong with the run (an empty
list: nothing).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minicluster.kube import Json, Kube
from minicluster.operator_process import OperatorProcess
from minicluster.watch import JobWatch

__all__ = [
    "ChaosRun",
    "ExistingJobs",
    "busy_loops",
    "check_best",
    "check_exactly_once",
    "check_redis",
    "done_trials",
    "run_session",
]

BUSY = "import time\nwhile True:\n    pass\n"
FINISHED_PHASES = ("Succeeded", "Failed", "Cancelled")


class ExistingJobs(JobWatch):
    """A ``JobWatch`` that also keeps the most Jobs that existed at once, in any state
    (finished Jobs not yet deleted included: what piled up in the issue's measurement)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._existing: set[str] = set()
        self.peak_existing = 0

    def observe(self, kind: str, obj: Json) -> None:
        super().observe(kind, obj)
        uid = str(obj["metadata"]["uid"])
        if kind == "DELETED":
            self._existing.discard(uid)
        else:
            self._existing.add(uid)
        self.peak_existing = max(self.peak_existing, len(self._existing))


@contextmanager
def busy_loops(n: int) -> Iterator[None]:
    """``n`` processes spinning the CPU while the context is open."""
    procs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def done_trials(status: Json) -> int:
    """The trials the status counts as ended, whatever their outcome."""
    t = status.get("trials") or {}
    keys = ("succeeded", "failed", "lost", "cancelled", "pruned", "infraFailed")
    return sum(int(t.get(k) or 0) for k in keys)


@dataclass
class ChaosRun:
    kills: int = 0
    done_at_first_kill: int = 0
    done_at_last_kill: int = 0
    kill_seconds: float = 0.0
    total_seconds: float = 0.0
    status: Json = field(default_factory=dict)
    # The most trials the status counted as done, and when, during the kill phase.
    progress: list[tuple[float, int]] = field(default_factory=list)
    # Seconds from each start to kopf's startup activity (life_from="ready" only).
    startups: list[float] = field(default_factory=list)

    @property
    def finished_while_killing(self) -> int:
        return self.done_at_last_kill - self.done_at_first_kill

    @property
    def per_minute_while_killing(self) -> float:
        return 60.0 * self.finished_while_killing / self.kill_seconds if self.kill_seconds else 0.0

    @property
    def per_minute(self) -> float:
        return 60.0 * done_trials(self.status) / self.total_seconds if self.total_seconds else 0.0


READY = "Activity 'startup' succeeded"


def _ready(operator: OperatorProcess, timeout: float) -> float:
    """Wait until the operator's latest start has logged kopf's startup; seconds it took."""
    seen = operator.log_text().rsplit("===== start #", 1)[-1]
    began = operator.started_wall
    deadline = time.monotonic() + max(timeout, 0.0)
    while READY not in seen and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = operator.log_text().rsplit("===== start #", 1)[-1]
    return time.time() - began


def _status(kube: Kube, path: str) -> Json:
    obj = kube.get_or_none(path)
    return dict((obj or {}).get("status") or {})


def run_session(
    kube: Kube,
    operator: OperatorProcess,
    session_path: str,
    apply: Callable[[], None],
    *,
    kill_seconds: float,
    seed: int,
    life: tuple[float, float] = (2.0, 5.0),
    life_from: str = "start",
    min_kills: int = 0,
    timeout: float = 600.0,
) -> ChaosRun:
    """Start the operator, apply the session, kill the operator for ``kill_seconds`` (each
    life drawn from ``life``; longer, up to three times as long, until ``min_kills``
    kills: a loaded machine's slow start-ups must not leave the test with too few), then
    let it finish the session; what was seen."""
    rng = random.Random(seed)
    run = ChaosRun()
    operator.start()
    start = time.monotonic()
    apply()
    killing_until = start + kill_seconds
    hard_stop = start + 3 * kill_seconds
    status: Json = {}

    def killing() -> bool:
        now = time.monotonic()
        return kill_seconds > 0 and (
            now < killing_until or (run.kills < min_kills and now < hard_stop)
        )

    while killing():
        lived = rng.uniform(*life)
        if life_from == "ready":
            run.startups.append(_ready(operator, min(60.0, hard_stop - time.monotonic())))
        due = time.monotonic() + lived
        while time.monotonic() < due and killing():
            status = _status(kube, session_path)
            run.progress.append((time.monotonic() - start, done_trials(status)))
            time.sleep(0.2)
        if status.get("phase") in FINISHED_PHASES:
            break
        operator.kill()
        run.kills += 1
        operator.start()
    run.kill_seconds = time.monotonic() - start
    run.done_at_last_kill = done_trials(_status(kube, session_path))

    def finished() -> Json | None:
        s = _status(kube, session_path)
        return s if s.get("phase") in FINISHED_PHASES else None

    run.status = operator.wait_for("the session to finish", finished, timeout=timeout, interval=0.2)
    run.total_seconds = time.monotonic() - start
    return run


def check_exactly_once(
    run: ChaosRun, total: int, duplicates: dict[str, list[str]], results: Path
) -> list[str]:
    """What says a trial ran twice or went missing (the Job watch's names created twice,
    the results folder's records, the status's counters)."""
    problems = []
    if duplicates:
        problems.append(f"Jobs created twice: {duplicates}")
    records = [json.loads(p.read_text()) for p in sorted(results.glob("trial-*.json"))]
    trials = sorted(r["trial"] for r in records)
    if trials != list(range(total)):
        missing = sorted(set(range(total)) - set(trials))
        problems.append(f"results folder: {len(trials)} records, missing {missing[:20]}")
    t = run.status.get("trials") or {}
    if (t.get("succeeded"), t.get("lost", 0)) != (total, 0):
        problems.append(f"status counts {t}")
    return problems


def check_redis(client: Any, prefix: str, session_id: str, run: ChaosRun) -> list[str]:
    """The Redis session hash against the final status: phase and every counter."""
    found = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in client.hgetall(f"{prefix}:session:{session_id}").items()
    }
    t = run.status.get("trials") or {}
    want = {
        "phase": run.status.get("phase"),
        "succeeded": str(t.get("succeeded", 0)),
        "failed": str(t.get("failed", 0)),
        "lost": str(t.get("lost", 0)),
        "total": str(t.get("total", 0)),
    }
    got = {k: found.get(k) for k in want}
    held = client.hlen(f"{prefix}:session:{session_id}:trials")
    problems = [] if got == want else [f"Redis session hash {got} != status {want}"]
    if held != int(t.get("total", 0)):
        problems.append(f"Redis holds {held} trials of {t.get('total')}")
    return problems


def check_best(kube: Kube, namespace: str, name: str, run: ChaosRun) -> list[str]:
    """The ``<session>-best`` ConfigMap against the status's best trial."""
    best = run.status.get("best") or {}
    cm = kube.get_or_none(f"/api/v1/namespaces/{namespace}/configmaps/{name}-best")
    if cm is None:
        return ["no best ConfigMap"]
    data = cm.get("data") or {}
    got = json.loads(data.get("best.json") or "{}")
    if got.get("trial") != best.get("trial") or json.loads(data.get("params.json") or "{}") != (
        best.get("params")
    ):
        return [f"best ConfigMap {got} != status best {best}"]
    return []


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"
