"""Writes that yield: a mirror's writes held back until the reconciles' writes have gone.

Every write shares one budget (``ratelimit.TokenBucket``, 20 a second by default).
A reconcile's writes move sessions on (a harvested Job deleted, its status written,
the next Job created); a mirror's (the ``<session>-best`` ConfigMap) only copy what
the status already says. After a restart with many sessions to recover, each of those
copies made in turn delays the next session's Job by one write, so they wait here:

- **coalesced:** one pending write per key (a session); a newer one replaces it, so
  a best that changes three times while writes are scarce is written once;
- **settled:** a write is due ``settle`` seconds after its last submission, so the
  rounds of one reconcile (the harvest's status write, then the next Job's create,
  at once) have made their writes before it;
- **yielding:** a due write waits until the bucket holds ``idle_tokens`` again (no
  write queued before it, budget left for the next), at most ``max_yield`` seconds,
  then takes its token like any other write: a busy operator still writes it.

One daemon thread (``start``) makes the due writes, one at a time; ``run_due`` is
that thread's step, which tests call with a clock of their own. ``close`` makes the
pending writes at once (the process is stopping: what is pending would be lost).
A write that raises is logged; the writer that submitted it decides what to retry.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from tuneop.adapters.kube.ratelimit import TokenBucket

__all__ = ["MAX_YIELD_SECONDS", "SETTLE_SECONDS", "Yielding"]

log = logging.getLogger(__name__)

SETTLE_SECONDS = 0.5
MAX_YIELD_SECONDS = 10.0
# How long ``close`` spends on the pending writes, at most (a SIGTERM's grace is short).
CLOSE_SECONDS = 5.0

Write = Callable[[], None]


@dataclass
class Yielding:
    limiter: TokenBucket
    clock: Callable[[], float]
    settle: float = SETTLE_SECONDS
    max_yield: float = MAX_YIELD_SECONDS
    # Half the burst: the next reconcile's writes find budget left after this one's.
    idle_tokens: float = field(default=-1.0)
    _pending: dict[str, tuple[float, Write]] = field(default_factory=dict)
    # Per key, when its oldest unwritten write was submitted: a key resubmitted faster than
    # ``settle`` is still due ``max_yield`` after that (its writes are not put off for ever).
    _first: dict[str, float] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _thread: threading.Thread | None = None
    _closed: bool = False

    def __post_init__(self) -> None:
        if self.idle_tokens < 0:
            self.idle_tokens = max(1.0, self.limiter.burst / 2)

    def submit(self, key: str, write: Write) -> None:
        """Hold ``write`` as ``key``'s pending write, replacing the one before."""
        with self._cond:
            if self._closed:
                closed = True
            else:
                closed = False
                now = self.clock()
                first = self._first.setdefault(key, now)
                # Due at ``settle`` after this one, but no later than ``max_yield`` after
                # the first unwritten one: stored as the time ``settle`` is counted from.
                self._pending[key] = (min(now, first + self.max_yield - self.settle), write)
                self._cond.notify_all()
        if closed:  # after close nothing writes later: now or never
            _run(key, write)

    def discard(self, key: str) -> None:
        with self._cond:
            self._pending.pop(key, None)
            self._first.pop(key, None)

    def pending(self) -> list[str]:
        with self._cond:
            return list(self._pending)

    def _next_due(self) -> tuple[str, float] | None:
        """The key whose write is due first, and how long until then (caller holds the lock)."""
        if not self._pending:
            return None
        key, (at, _) = min(self._pending.items(), key=lambda kv: kv[1][0])
        return key, at + self.settle - self.clock()

    def run_due(self) -> int:
        """Make every write that has settled, each after yielding; return how many."""
        done = 0
        while True:
            with self._cond:
                due = self._next_due()
            if due is None or due[1] > 0:
                return done
            self._yield_then_write(due[0])
            done += 1

    def _yield_then_write(self, key: str) -> None:
        self.limiter.wait_idle(self.idle_tokens, self.max_yield)
        with self._cond:  # the latest write of the key, submitted while this one yielded
            entry = self._pending.pop(key, None)
            self._first.pop(key, None)
        if entry is not None:
            _run(key, entry[1])

    def start(self) -> None:
        """Make the due writes on a daemon thread from now on (once)."""
        with self._cond:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._loop, name="yielding-writes", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._cond:
                due = self._next_due()
                while not self._closed and (due is None or due[1] > 0):
                    self._cond.wait(None if due is None else due[1])
                    due = self._next_due()
                if self._closed:
                    return
            self.run_due()

    def close(self, timeout: float = CLOSE_SECONDS) -> None:
        """Stop the thread, and make the pending writes now, for at most ``timeout`` s."""
        deadline = self.clock() + timeout  # the join below counts against it too
        with self._cond:
            self._closed = True
            pending, self._pending = dict(self._pending), {}
            self._first.clear()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        ordered = sorted(pending.items(), key=lambda kv: kv[1][0])
        for done, (key, (_, write)) in enumerate(ordered):
            if self.clock() > deadline:
                log.warning("%d deferred writes left unwritten at shutdown", len(ordered) - done)
                return
            _run(key, write)


def _run(key: str, write: Write) -> None:
    try:
        write()
    except Exception:  # a mirror's write: its writer logs and retries, never the loop
        log.exception("%s: a deferred write failed", key)
