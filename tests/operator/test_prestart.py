"""What ``tuneop operator`` starts before it imports kopf (``tuneop.controller.prestart``).

The wiring is built in a thread (its build injected here), its error raised where the
startup handler asks for it, and the API server's "served" answer trusted only while it
is fresh; log records made before kopf's logging are held, then handed over in order.
The real start is the e2e tier's and the start-up benchmark's (bench/operator_start_bench.py).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import pytest

from tuneop.controller.prestart import HELD_RECORDS, SERVED_FRESH_SECONDS, HeldLogs, Prestart
from tuneop.core.clock import FrozenClock


@dataclass
class Wired:
    answer: bool

    def ready(self) -> bool:
        return self.answer


def building(answer: bool, gate: threading.Event | None = None) -> Any:
    def build(config: Any, clock: Any) -> Wired:
        if gate is not None:
            gate.wait(5)
        return Wired(answer)

    return build


def test_the_wiring_is_built_meanwhile_and_handed_to_the_startup() -> None:
    gate = threading.Event()
    early = Prestart(object(), build=building(True, gate), clock=FrozenClock())  # type: ignore[arg-type]
    gate.set()  # the build was waiting in its thread, not in the constructor
    assert early.wired() == Wired(True)
    assert early.served()


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
    early = Prestart(object(), build=building(answer), clock=clock)  # type: ignore[arg-type]
    early.wired()
    clock.advance(waited)
    assert early.served() is served


def test_a_failed_build_is_raised_where_the_wiring_is_asked_for() -> None:
    def broken(config: Any, clock: Any) -> Wired:
        raise RuntimeError("kubeconfig: cannot load it")

    early = Prestart(object(), build=broken, clock=FrozenClock())  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="kubeconfig"):
        early.wired()
    assert not early.served()


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
