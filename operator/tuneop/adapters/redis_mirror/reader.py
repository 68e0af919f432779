"""A session's Redis mirror read back for the command line (``summary``, ``report``,
``export``, ``results``, ``watch``, warm start from a session, a cluster run's results).

``MirrorReader`` is the ``ResultsReader`` port over one Redis client: the
sessions the mirror lists, a session's hash, its result records, its running
Jobs, its leaderboard and its event stream (``layout`` has the keys). What
Redis holds is untrusted: text is decoded leniently and cut to a bound, and
records go through the bounded reader of ``tuneop.core.results.records``. Every
request waits at most ``timeout`` seconds (to connect, and for each answer).
A Redis failure is a ``TransientError`` whose message names it (a timeout, or
the client's error class), never the URL (it may hold a password).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import redis

from tuneop.adapters.redis_mirror.layout import Keys, records
from tuneop.ports import TransientError

__all__ = [
    "MAX_FIELD_CHARS",
    "MAX_NAME_CHARS",
    "MirrorReader",
    "open_reader",
]

# A hash field's name and value, and a listed name (a session, a Job), as far as they are read.
MAX_NAME_CHARS = 256
MAX_FIELD_CHARS = 65536

T = TypeVar("T")


def _text(v: bytes | str | None, limit: int) -> str:
    text = v.decode("utf-8", errors="replace") if isinstance(v, bytes) else (v or "")
    return text[:limit]


def open_reader(url: str, prefix: str, timeout: float) -> MirrorReader:
    """A reader of the mirror at ``url`` (``ValueError``: not a Redis URL)."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    return MirrorReader(client, prefix, timeout)


class MirrorReader:
    """The ``ResultsReader`` port over one Redis client and key prefix."""

    def __init__(self, client: redis.Redis, prefix: str, timeout: float) -> None:
        self.client = client
        self.prefix = prefix
        self.timeout = timeout

    @contextmanager
    def _asking(self) -> Iterator[None]:
        try:
            yield
        except redis.TimeoutError:
            raise TransientError(f"Redis did not answer within {self.timeout:g} s") from None
        except redis.RedisError as err:
            raise TransientError(f"redis: {type(err).__name__}") from None

    def _ask(self, call: Callable[[], T]) -> T:
        with self._asking():
            return call()

    def _keys(self, session: str) -> Keys:
        return Keys(self.prefix, session)

    def sessions(self) -> list[str]:
        """The ids (``namespace/name``) of the sessions the mirror lists, sorted."""
        members = self._ask(lambda: self.client.smembers(f"{self.prefix}:sessions"))
        return sorted(_text(s, MAX_NAME_CHARS) for s in members)

    def fields(self, session: str) -> dict[str, str]:
        """The session's hash (phase, counts, best…), as text."""
        found = self._ask(lambda: self.client.hgetall(self._keys(session).hash))
        return {_text(a, MAX_NAME_CHARS): _text(b, MAX_FIELD_CHARS) for a, b in found.items()}

    def records(self, session: str, trials: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """The session's result records (or those of ``trials``), in trial order."""
        return self._ask(lambda: records(self.client, self._keys(session), trials))

    def running(self, session: str) -> list[str]:
        """The ids of the session's Jobs running now, sorted."""
        members = self._ask(lambda: self.client.smembers(self._keys(session).running))
        return sorted(_text(j, MAX_NAME_CHARS) for j in members)

    def leaderboard(self, session: str, n: int, descending: bool) -> list[tuple[str, float]]:
        """The first ``n`` members of the leaderboard (trial numbers as text) and scores."""
        key = self._keys(session).leaderboard
        rows = self._ask(
            lambda: self.client.zrange(key, 0, n - 1, desc=descending, withscores=True)
        )
        return [(_text(m, MAX_NAME_CHARS), float(s)) for m, s in rows]

    def events(
        self, session: str, after: str, *, count: int = 500, block_ms: int = 500
    ) -> list[tuple[str, dict[str, str]]]:
        """Entries of the session's event stream after id ``after``, waiting up to
        ``block_ms`` for the first: (id, fields) each."""
        key = self._keys(session).events
        found = self._ask(lambda: self.client.xread({key: after}, count=count, block=block_ms))
        out = []
        for _stream, entries in found or []:
            for entry_id, fields in entries:
                text = {
                    _text(a, MAX_NAME_CHARS): _text(b, MAX_FIELD_CHARS) for a, b in fields.items()
                }
                out.append((_text(entry_id, MAX_NAME_CHARS), text))
        return out

    def close(self) -> None:
        self.client.close()
