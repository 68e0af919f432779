"""The operator's long-lived state: its settings, what was wired for it, and its scheduling.

``build_runtime`` turns an ``OperatorConfig`` into a ``Runtime`` once, at kopf's
startup: the adapters and the ``Reconciler`` over them come from the composition
root (``tuneop.assembly.operator.operator_loop``); the runtime adds the
``Scheduler`` (``tuneop.controller.scheduling``: one reconcile of a session at a
time, requeues, the time of each last reconcile) and the metrics' phase tracker.
The kopf handlers find it in kopf's ``memo``, and feed it the session versions,
Jobs and pods the watches bring; ``Runtime.close`` releases it at cleanup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tuneop.assembly.operator import (
    DEFAULT_LIVENESS,
    DEFAULT_METRICS_PORT,
    SERVED,
    OperatorConfig,
    OperatorLoop,
    operator_loop,
)
from tuneop.controller.metrics import REDIS_UP, PhaseTracker
from tuneop.controller.scheduling import Scheduler
from tuneop.core.clock import SYSTEM_CLOCK, Clock

__all__ = [
    "DEFAULT_LIVENESS",
    "DEFAULT_METRICS_PORT",
    "SERVED",
    "OperatorConfig",
    "Runtime",
    "build_runtime",
]


@dataclass
class Runtime:
    """The operator while it runs: its settings, its wiring, its scheduling, its gauges."""

    config: OperatorConfig
    wired: OperatorLoop
    phases: PhaseTracker = field(default_factory=PhaseTracker)
    clock: Clock = SYSTEM_CLOCK
    schedule: Scheduler = field(init=False)

    def __post_init__(self) -> None:
        self.schedule = Scheduler(
            reconciler=self.wired.reconciler,
            fetch=self.wired.fetch,
            phases=self.phases,
            on_gone=self.forget,
            monotonic=self.clock.monotonic,
            harvest_window=self.config.harvest_window,
        )

    def forget(self, key: str) -> None:
        """Drop what is remembered about a deleted session."""
        for forget in self.wired.forgetters:
            forget(key)
        self.schedule.forget(key)
        self.phases.forget(key)

    def start(self) -> None:
        """Start the wiring's background work (kopf's startup, once the runtime is built)."""
        for start in self.wired.starters:
            start()

    def close(self) -> None:
        for close in self.wired.closers:
            close()


def build_runtime(
    config: OperatorConfig,
    kube: Any = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Runtime:
    """Everything the handlers need, built once; ``kube`` and ``clock`` are injected by
    tests. Every part reads the time from ``clock``."""
    wired = operator_loop(config, clock, kube, on_redis_health=REDIS_UP.set)
    return Runtime(config, wired, clock=clock)
