"""A client-side token bucket for API writes.

kopf and the ``kubernetes`` client put no bound on how fast an operator writes
to the API server. A session of thousands of short trials makes Job creates,
deletes, status patches and Events in bursts, and several sessions multiply
that; an unbounded burst can trip the API server's priority-and-fairness
limits and slow the whole cluster. Every write of the Kubernetes adapters
calls ``TokenBucket.acquire`` first.

The bucket holds up to ``burst`` tokens and refills at ``qps`` tokens per
second. ``acquire`` takes a token, waiting (in the calling worker thread) when
none is left. Waiters reserve tokens in arrival order: the balance may go
negative, and each caller sleeps until its own token has been refilled, so a
burst is smoothed into a steady ``qps`` instead of a thundering retry loop.
The clock and the sleep are injected so tests assert exact waits.

``wait_idle`` is for writes that may wait (a mirror's): it takes no token, it only
waits until the bucket has refilled to a given level, that is until the writes
queued before have gone and some budget is left for the next ones.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tuneop.core.clock import SYSTEM_CLOCK

__all__ = ["DEFAULT_BURST", "DEFAULT_QPS", "TokenBucket"]

DEFAULT_QPS = 20.0
DEFAULT_BURST = 40
# The shortest sleep of ``wait_idle`` between two looks at the bucket.
MIN_POLL_SECONDS = 0.05
# Less time than this left to wait is none (a clock's rounding must not loop forever).
MIN_SLEEP_SECONDS = 0.001


@dataclass
class TokenBucket:
    qps: float = DEFAULT_QPS
    burst: int = DEFAULT_BURST
    clock: Callable[[], float] = SYSTEM_CLOCK.monotonic
    sleep: Callable[[float], None] = time.sleep
    _tokens: float = field(init=False)
    _stamp: float = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.qps <= 0:
            raise ValueError("qps must be > 0")
        if self.burst < 1:
            raise ValueError("burst must be >= 1")
        self._tokens = float(self.burst)
        self._stamp = self.clock()

    def reserve(self) -> float:
        """Take a token now; return how long the caller must wait before using it."""
        with self._lock:
            now = self.clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.qps)
            self._stamp = now
            self._tokens -= 1.0
            return max(0.0, -self._tokens / self.qps)

    def acquire(self) -> float:
        """Block until a token is available; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            # Sleep outside the lock: other callers can reserve their later slots meanwhile.
            self.sleep(wait)
        return wait

    def level(self) -> float:
        """The tokens in the bucket now (negative while callers wait for theirs)."""
        with self._lock:
            return min(float(self.burst), self._tokens + (self.clock() - self._stamp) * self.qps)

    def wait_idle(self, tokens: float, limit: float) -> float:
        """Wait until the bucket holds ``tokens`` (at most ``burst``), at most ``limit``
        seconds; take nothing; return the seconds waited."""
        start = self.clock()
        need = min(float(tokens), float(self.burst))
        while True:
            have = self.level()
            left = limit - (self.clock() - start)
            if have >= need - 1e-9 or left < MIN_SLEEP_SECONDS:
                return self.clock() - start
            # Other writers may take what refills meanwhile: look again after the wait.
            self.sleep(min(left, max((need - have) / self.qps, MIN_POLL_SECONDS)))
