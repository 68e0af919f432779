"""Where a command's results come from: a results folder, or a session in Redis.

``summary``, ``report``, ``export`` and ``results`` take the same SOURCE: a
path that exists (a results folder at any depth, a session folder, a trial
file or ``results.csv``) is read from disk; anything else is a session
reference, ``NAMESPACE/NAME`` (or a ``NAME`` unique among the mirrored
sessions), read from Redis (``--redis-url``, default ``$TUNEOP_REDIS_URL``).
What either holds is untrusted and read with the bounded reader of
``tuneop.core.records``. Every problem is a ``UsageError``: one line, never a
traceback, and never the Redis URL (it may hold a password). Every Redis
request waits at most ``READ_TIMEOUT`` seconds (to connect, and for each
answer), so a hung Redis ends the command, exit 2, instead of hanging it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuneop.cli.inputs import UsageError
from tuneop.cli.text import clean
from tuneop.core.records import Record

__all__ = [
    "BAD_REDIS_URL",
    "READ_TIMEOUT",
    "Mirrored",
    "UsageError",
    "is_reference",
    "mirrored_session",
    "read_source",
    "redis_client",
]

BAD_REDIS_URL = "--redis-url: not a Redis URL (redis://, rediss:// or unix://)"
# Seconds a reading command waits to connect to Redis, and for each answer: a hung Redis
# (it accepts connections and never answers) is one line and exit 2, never a hang.
READ_TIMEOUT = 5.0
# NAMESPACE/NAME or NAME, each a DNS label or subdomain, as Kubernetes names them.
_NAME = r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?"
_REFERENCE = re.compile(rf"({_NAME}/)?{_NAME}")


def is_reference(source: str) -> bool:
    return _REFERENCE.fullmatch(source) is not None


@contextmanager
def redis_client(url: str, doing: str) -> Iterator[Any]:
    """A Redis client whose failures become one-line usage errors (never the URL)."""
    import redis

    from tuneop.cli.watch import UnknownSession

    try:
        client = redis.Redis.from_url(
            url, socket_timeout=READ_TIMEOUT, socket_connect_timeout=READ_TIMEOUT
        )
    except ValueError:
        raise UsageError(BAD_REDIS_URL) from None
    try:
        yield client
    except UnknownSession as err:
        raise UsageError(str(err)) from None
    except redis.TimeoutError:
        raise UsageError(
            f"Redis did not answer within {READ_TIMEOUT:g} s: cannot {doing}"
        ) from None
    except redis.RedisError as err:
        raise UsageError(f"redis: {type(err).__name__}: cannot {doing}") from None
    finally:
        client.close()


@dataclass
class Mirrored:
    """A session as its Redis mirror holds it: its id, hash fields and result records."""

    session: str
    fields: dict[str, str]
    records: list[Record]


def _text(v: bytes | str) -> str:
    return v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v


def mirrored_session(url: str, prefix: str, target: str) -> Mirrored:
    """Everything Redis holds of one session (``target``: NAMESPACE/NAME or a unique NAME)."""
    from tuneop.adapters.redis_mirror import Keys, records
    from tuneop.cli.watch import resolve

    with redis_client(url, "read the session") as client:
        session = resolve(client, prefix, target)
        k = Keys(prefix, session)
        fields = {_text(a)[:256]: _text(b)[:65536] for a, b in client.hgetall(k.hash).items()}
        return Mirrored(session, fields, records(client, k))


def read_source(source: str, redis_url: str | None, prefix: str) -> list[Record]:
    """The result records of SOURCE: a path on disk, else a session reference in Redis."""
    from tuneop.adapters.local.folder import load_records

    path = Path(source)
    if path.exists() or not is_reference(source):
        try:
            return load_records(path)
        except FileNotFoundError:
            raise UsageError(f"{clean(source)}: no such results folder or file") from None
        except (ValueError, KeyError) as err:
            raise UsageError(f"{clean(source)}: not a results file ({err})") from None
    if not redis_url:
        raise UsageError(
            f"{clean(source)}: no such results folder; for a session in Redis"
            " give --redis-url URL (or $TUNEOP_REDIS_URL)"
        )
    return mirrored_session(redis_url, prefix, source).records
