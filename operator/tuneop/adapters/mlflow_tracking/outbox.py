"""The MLflow tracker's outbox: writes wait here, and one thread sends them while MLflow answers.

The Redis mirror's outbox, for a server reached by a slower client: every
write is an idempotent call kept under its key (the latest write of a key
replaces an earlier one that has not gone out, so the outbox stays as large
as the sessions it serves, not as long as an outage), and the writes go out
in the order they came, from one thread of their own, so a session never
waits on MLflow's answer, nor on its client's own retries. After a failure
the thread backs off (doubling from ``BACKOFF_FIRST`` to ``BACKOFF_MAX``
seconds) and tries the same write again; the rest wait behind it, so nothing
is lost or reordered while the server is down. ``wait`` lets a caller wait,
at most for a budget, for given writes (a trial's run before its Job starts);
while the server is known to be down, or was too slow for the last wait, it does not
wait at all (a write that goes out makes it wait again). ``drain``
waits, within a budget, until everything queued went out (a local run's end).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tuneop.core.clock import SYSTEM_CLOCK

__all__ = ["BACKOFF_FIRST", "BACKOFF_MAX", "Outbox"]

log = logging.getLogger(__name__)

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0

Write = Callable[[], None]


@dataclass
class _Entry:
    write: Write
    done: threading.Event = field(default_factory=threading.Event)


class Outbox:
    """Keyed writes, sent in order by one daemon thread (module doc)."""

    def __init__(
        self,
        name: str,
        permanent: Callable[[Exception], bool],
        on_health: Callable[[bool], None] | None = None,
    ) -> None:
        # ``permanent``: whether a failure is the server refusing this write, which no
        # retry can change (the write is dropped, named in the log), not the server gone.
        self._permanent = permanent
        self.healthy = True
        self._on_health = on_health
        self._lock = threading.Condition()
        self._writes: OrderedDict[str, _Entry] = OrderedDict()
        self._backoff = 0.0
        self._busy = False
        self._thread = threading.Thread(target=self._run, name=f"mlflow-outbox-{name}", daemon=True)
        self._thread.start()

    def queue(self, key: str, write: Write) -> threading.Event:
        """Queue ``write`` under ``key``; the event is set once it went out."""
        entry = _Entry(write)
        with self._lock:
            self._writes.pop(key, None)
            self._writes[key] = entry  # the latest write of a key wins
            self._lock.notify_all()
        return entry.done

    def wait(self, events: Sequence[threading.Event], budget: float) -> bool:
        """Wait for ``events`` at most ``budget`` seconds (not at all, or no longer, while
        MLflow is known to be down); True when all were set."""
        deadline = SYSTEM_CLOCK.monotonic() + budget
        with self._lock:
            while not all(e.is_set() for e in events) and self.healthy:
                left = deadline - SYSTEM_CLOCK.monotonic()
                if left <= 0:
                    self.healthy = False  # as slow as down: the next callers do not wait
                    break
                self._lock.wait(left)
            return all(e.is_set() for e in events)

    def drain(self, budget: float) -> bool:
        """Wait at most ``budget`` seconds for every queued write to go out; True if they did."""
        deadline = SYSTEM_CLOCK.monotonic() + budget
        with self._lock:
            while self._writes or self._busy:
                left = deadline - SYSTEM_CLOCK.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.2))
        return True

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._writes) + int(self._busy)

    def _next(self) -> tuple[str, _Entry]:
        with self._lock:
            while not self._writes:
                self._lock.wait()
            key, entry = next(iter(self._writes.items()))
            self._busy = True
            return key, entry

    def _run(self) -> None:
        while True:
            key, entry = self._next()
            try:
                entry.write()
            except Exception as err:  # any client failure: the write waits, the session never
                if self._permanent(err):
                    log.warning("mlflow refused a write (%s), dropped: %s", key, type(err).__name__)
                    self._done(key, entry)
                    continue
                self._set_health(False, err)
                with self._lock:
                    self._busy = False
                    self._lock.notify_all()
                threading.Event().wait(self._backoff)
                continue
            self._set_health(True)
            self._done(key, entry)

    def _done(self, key: str, entry: _Entry) -> None:
        with self._lock:
            if self._writes.get(key) is entry:
                del self._writes[key]
            self._busy = False
            entry.done.set()
            self._lock.notify_all()

    def _set_health(self, ok: bool, err: Exception | None = None) -> None:
        if not ok and self.healthy:
            # Only the error's type is logged: a client error can quote the URL or a body.
            log.warning("mlflow unreachable, queueing writes: %s", type(err).__name__)
        if ok and not self.healthy:
            log.info("mlflow answers again; sending what waited")
        self._backoff = 0.0 if ok else min(max(2 * self._backoff, BACKOFF_FIRST), BACKOFF_MAX)
        if ok != self.healthy and self._on_health is not None:
            self._on_health(ok)
        with self._lock:
            self.healthy = ok
            self._lock.notify_all()  # a caller waiting for a run stops waiting on a dead server
