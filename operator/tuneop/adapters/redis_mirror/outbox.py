"""The Redis mirror's outbox: writes wait here, and go out in batches while Redis answers.

Every write is an idempotent closure over a pipeline, kept under its key: the
latest write of a key replaces an earlier one, so the outbox stays as large
as the sessions it serves, not as long as an outage. Stream events are a
log and are kept in order, the newest ``MAX_QUEUED_EVENTS`` of them.

A Redis that is down, or hung (it accepts connections and never answers),
costs at most one short timeout (``SOCKET_TIMEOUT``) and then nothing: after
a failure ``send`` does not try again until a back-off has passed (doubling
from ``BACKOFF_FIRST`` to ``BACKOFF_MAX`` seconds), so writes wait here, not
on the server. Writes go out in transactions of at most ``SEND_BATCH``
(each write holds one trial's or one record's commands, so those stay
atomic), the events with the last batch.
"""

from __future__ import annotations

import itertools
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from tuneop.adapters.redis_mirror.layout import STREAM_MAXLEN, Write
from tuneop.core.clock import SYSTEM_CLOCK

__all__ = [
    "BACKOFF_FIRST",
    "BACKOFF_MAX",
    "CONNECT_TIMEOUT",
    "MAX_QUEUED_EVENTS",
    "SEND_BATCH",
    "SOCKET_TIMEOUT",
    "Outbox",
]

log = logging.getLogger(__name__)

SOCKET_TIMEOUT = 0.5  # seconds a request may wait for Redis's answer
CONNECT_TIMEOUT = 0.5
BACKOFF_FIRST = 5.0
BACKOFF_MAX = 60.0
SEND_BATCH = 500  # outbox writes per transaction
MAX_QUEUED_EVENTS = 10_000


@dataclass
class Outbox:
    client: redis.Redis
    monotonic: Callable[[], float] = SYSTEM_CLOCK.monotonic
    on_health: Callable[[bool], None] | None = None
    healthy: bool = True
    writes: OrderedDict[str, Write] = field(default_factory=OrderedDict)
    events: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    dropped_events: int = 0
    _retry_at: float = 0.0
    _backoff: float = 0.0

    def queue(self, key: str, write: Write) -> None:
        self.writes.pop(key, None)
        self.writes[key] = write  # the latest write of a key wins; order kept otherwise

    def event(self, stream: str, fields: dict[str, str]) -> None:
        self.events.append((stream, fields))
        if len(self.events) > MAX_QUEUED_EVENTS:
            del self.events[0]  # a long outage keeps the newest events, not all of them
            self.dropped_events += 1

    def send(self) -> bool:
        """Send everything queued; True when Redis took it all."""
        if not self.writes and not self.events:
            return True
        if not self.healthy and self.monotonic() < self._retry_at:
            return False  # known to be down: queue, do not wait on it
        try:
            while True:
                batch = list(itertools.islice(self.writes.items(), SEND_BATCH))
                last = len(batch) == len(self.writes)
                pipe = self.client.pipeline(transaction=True)
                for _key, write in batch:
                    write(pipe)
                if last:  # a reconcile's records and its events in one transaction
                    for stream, fields in self.events:
                        pipe.xadd(stream, fields, maxlen=STREAM_MAXLEN, approximate=True)
                pipe.execute()
                for key, _write in batch:
                    self.writes.pop(key, None)
                if last:
                    self.events.clear()
                    return self.set_health(True)
        except redis.RedisError as err:
            return self.set_health(False, err)

    def set_health(self, ok: bool, err: Exception | None = None) -> bool:
        """Note whether Redis answered (and when to try again); returns ``ok``."""
        if not ok and self.healthy:
            # Only the error's type is logged: a connection error can quote the URL.
            log.warning("redis unreachable, queueing writes: %s", type(err).__name__)
        if ok:
            self._backoff = 0.0
        else:
            self._backoff = min(max(2 * self._backoff, BACKOFF_FIRST), BACKOFF_MAX)
            self._retry_at = self.monotonic() + self._backoff
        self.healthy = ok
        if self.on_health is not None:
            self.on_health(ok)
        return ok
