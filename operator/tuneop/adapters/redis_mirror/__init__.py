"""The Redis adapter: sessions mirrored into Redis, and read back.

``layout`` is the key layout and its reader, ``outbox`` the writes waiting
for Redis, ``mirror`` the ``RedisMirror`` itself. The names other modules
use are offered here.
"""

from tuneop.adapters.redis_mirror.layout import (
    DEFAULT_TTL_SECONDS,
    STREAM_MAXLEN,
    Keys,
    job_status,
    records,
    spec_hash,
)
from tuneop.adapters.redis_mirror.mirror import MARKER_CHECK_SECONDS, RedisMirror
from tuneop.adapters.redis_mirror.outbox import BACKOFF_MAX, MAX_QUEUED_EVENTS, SOCKET_TIMEOUT
from tuneop.adapters.redis_mirror.warmstart import NoRedisWarmStart, RedisWarmStart

__all__ = [
    "BACKOFF_MAX",
    "DEFAULT_TTL_SECONDS",
    "MARKER_CHECK_SECONDS",
    "MAX_QUEUED_EVENTS",
    "SOCKET_TIMEOUT",
    "STREAM_MAXLEN",
    "Keys",
    "NoRedisWarmStart",
    "RedisMirror",
    "RedisWarmStart",
    "job_status",
    "records",
    "spec_hash",
]
