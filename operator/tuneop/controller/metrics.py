"""Prometheus metrics of the operator, served on ``--metrics-port``.

- ``tuneop_sessions{phase}`` (gauge): sessions this operator reconciled, by phase;
- ``tuneop_trials_started_total`` (counter): trials in worker Jobs this process created;
- ``tuneop_trials_finished_total{outcome}`` (counter): harvested trials;
- ``tuneop_trials_failed_total`` (counter): harvested trials that did not succeed, other
  than cancelled and pruned ones (failed, timed out, metrics unavailable, results lost,
  infrastructure);
- ``tuneop_reconcile_duration_seconds{result}`` (histogram): one reconcile, by how it
  ended: ok, invalid, transient, rejected, gone, error;
- ``tuneop_api_errors_total{operation,code}`` (counter): failed Kubernetes API calls
  (``code`` is the HTTP status, or ``none`` for a connection failure).

Counters count what this process did since it started (Prometheus' usual
reset semantics); the session gauge is rebuilt from the first reconcile of
every session after a restart. The metrics live in the default registry, so
the process and platform collectors are served alongside.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from tuneop.api.vocabulary import Phase
from tuneop.core.planning.planner import Plan
from tuneop.core.wire.contract import Outcome

__all__ = [
    "NOT_FAILED",
    "PHASES",
    "RECONCILE_SECONDS",
    "REDIS_UP",
    "SESSIONS",
    "TRIALS_FAILED",
    "TRIALS_FINISHED",
    "PhaseTracker",
    "record_plan",
    "serve",
]

PHASES = tuple(str(p) for p in Phase)
NOT_FAILED = frozenset({Outcome.SUCCEEDED, Outcome.CANCELLED, Outcome.PRUNED})

SESSIONS = Gauge(
    "tuneop_sessions", "TuningSessions reconciled by this operator, by phase.", ["phase"]
)
TRIALS_FINISHED = Counter("tuneop_trials_finished", "Harvested trials, by outcome.", ["outcome"])
TRIALS_FAILED = Counter(
    "tuneop_trials_failed",
    "Harvested trials that did not succeed, other than cancelled and pruned ones.",
)
RECONCILE_SECONDS = Histogram(
    "tuneop_reconcile_duration_seconds",
    "Wall time of one reconcile of a session (observe, plan, act).",
    ["result"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
REDIS_UP = Gauge("tuneop_redis_up", "1 while the Redis mirror takes writes, 0 during an outage.")


def record_plan(plan: Plan) -> None:
    """Count the trials a successful reconcile harvested (once: its status was written)."""
    for result in plan.persist:
        TRIALS_FINISHED.labels(outcome=str(result.outcome)).inc()
        if result.outcome not in NOT_FAILED:
            TRIALS_FAILED.inc()


class PhaseTracker:
    """The last phase of every session, folded into the ``tuneop_sessions`` gauge."""

    def __init__(self) -> None:
        self._phases: dict[str, str] = {}
        self._lock = threading.Lock()
        for phase in PHASES:
            SESSIONS.labels(phase=phase).set(0)

    def set(self, key: str, phase: str) -> None:
        with self._lock:
            self._phases[key] = phase
            self._publish()

    def forget(self, key: str) -> None:
        with self._lock:
            self._phases.pop(key, None)
            self._publish()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return _tally(self._phases.values())

    def _publish(self) -> None:
        for phase, n in _tally(self._phases.values()).items():
            SESSIONS.labels(phase=phase).set(n)


def _tally(phases: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(PHASES, 0)
    for p in phases:
        counts[p] = counts.get(p, 0) + 1
    return counts


def serve(port: int, addr: str = "0.0.0.0") -> None:
    """Serve /metrics on ``port`` from a daemon thread (0 disables it)."""
    if port:
        start_http_server(port, addr=addr)
