"""What ``tuneop operator`` starts before it imports kopf (``tuneop.controller.prestart``).

The wiring is built at once (its build injected here) and the API server asked in a
thread; a failed build is raised once where the startup handler asks for it; the "served"
answer is trusted only while it is fresh; a signal before kopf's handlers is noted; log
records made before kopf's logging are held, then handed over in order.
The real start is the e2e tier's and the start-up benchmark's (bench/operator_start_bench.py).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import dataclass
from typing import Any

import pytest

from tuneop.controller.prestart import (
    HELD_RECORDS,
    SERVED_FRESH_SECONDS,
    HeldLogs,
    Prestart,
    note_signals,
)
from tuneop.core.clock import FrozenClock


@dataclass
class Wired:
    answer: bool
    gate: threading.Event | None = None
    asked_in: str = ""

    def ready(self) -> bool:
        self.asked_in = threading.current_thread().name
        if self.gate is not None:
            self.gate.wait(5)
        return self.answer


def building(wired: Wired) -> Any:
    built_in: list[str] = []

    def build(config: Any, clock: Any) -> Wired:
        built_in.append(threading.current_thread().name)
        return wired

    build.built_in = built_in  # type: ignore[attr-defined]
    return build


def test_the_wiring_is_built_at_once_and_the_api_server_asked_meanwhile() -> None:
    wired = Wired(True, threading.Event())
    build = building(wired)
    early = Prestart(object(), build=build, clock=FrozenClock())  # type: ignore[arg-type]
    # Built in the caller's thread (its imports there), asked in another, still asking.
    assert build.built_in == [threading.current_thread().name]
    assert early.wired() is wired
    assert wired.gate is not None and not wired.gate.is_set()
    wired.gate.set()
    assert early.served()
    assert wired.asked_in == "prestart"


@pytest.mark.parametrize(
    ("answer", "waited", "served"),
    [
        (True, 0.0, True),
        (True, SERVED_FRESH_SECONDS + 1, False),  # a standby that led much later asks again
        (False, 0.0, False),  # not served yet: the startup handler waits as before
    ],
)
def test_a_served_answer_counts_only_while_fresh(answer: bool, waited: float, served: bool) -> None:
    clock = FrozenClock()
    early = Prestart(object(), build=building(Wired(answer)), clock=clock)  # type: ignore[arg-type]
    clock.advance(waited)
    assert early.served() is served


def test_a_failed_build_is_raised_once_where_the_wiring_is_asked_for() -> None:
    def broken(config: Any, clock: Any) -> Wired:
        raise RuntimeError("kubeconfig: cannot load it")

    early = Prestart(object(), build=broken, clock=FrozenClock())  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="kubeconfig"):
        early.wired()
    assert not early.served()
    # kopf retries its startup handler, which then builds afresh (never this error again).
    with pytest.raises(RuntimeError, match="used already"):
        early.wired()


def test_a_signal_before_kopf_s_handlers_is_noted_not_fatal() -> None:
    stop = threading.Event()
    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        note_signals(stop)
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
    finally:
        for sig, handler in kept.items():
            signal.signal(sig, handler)


def test_records_made_before_kopf_logs_are_held_then_handed_over_in_order() -> None:
    seen: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    root = logging.getLogger()
    level = root.level
    held = HeldLogs().hold()
    try:
        for i in range(HELD_RECORDS + 5):
            logging.getLogger("tuneop.test").info("line %d", i)
        catch = Catch()
        root.addHandler(catch)  # kopf's handler, in place now
        held.hand_over()
        logging.getLogger("tuneop.test").info("after")
    finally:
        root.removeHandler(held)
        root.removeHandler(catch)
        root.setLevel(level)
    assert seen[:2] == ["line 0", "line 1"]
    assert len(seen) == HELD_RECORDS + 1 and seen[-1] == "after"
    assert held not in root.handlers
