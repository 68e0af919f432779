"""The Redis key layout of a mirrored session, and reading it back.

Keys (documented in docs/redis.md), with ``{id}`` = ``namespace/name``:

- ``{p}:session:{id}`` hash: phase, counts, best, spec hash, updated_at
- ``{p}:session:{id}:job:{job_id}`` JSON job record
- ``{p}:tuning_session:{id}:worker:{worker}:iteration:{trial}`` result JSON
- ``{p}:session:{id}:leaderboard`` sorted set, member trial, score value
- ``{p}:session:{id}:events`` stream of session events
- ``{p}:session:{id}:trials`` hash: trial index → its result key
- ``{p}:session:{id}:running`` set of the job ids running now
- ``{p}:session:{id}:keys`` set of this session's per-trial and per-job keys
- ``{p}:sessions`` set of session ids
- ``{p}:mirror`` the mirror's marker (gone: Redis lost its data)

What Redis hands back is untrusted: ``records`` reads result records with the
bounded reader of ``tuneop.core.results.records``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from tuneop.api.spec import SessionSpec, spec_to_wire
from tuneop.core.results.records import read_record
from tuneop.core.wire.contract import Outcome, TrialResult

__all__ = [
    "DEFAULT_TTL_SECONDS",
    "STREAM_MAXLEN",
    "Keys",
    "Write",
    "job_status",
    "records",
    "spec_hash",
    "utcnow",
]

STREAM_MAXLEN = 10_000
DEFAULT_TTL_SECONDS = 7 * 24 * 3600


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Keys:
    prefix: str
    session: str  # namespace/name

    @property
    def hash(self) -> str:
        return f"{self.prefix}:session:{self.session}"

    def job(self, job_id: str) -> str:
        return f"{self.hash}:job:{job_id}"

    def trial(self, worker: int, trial: int) -> str:
        return f"{self.prefix}:tuning_session:{self.session}:worker:{worker}:iteration:{trial}"

    @property
    def leaderboard(self) -> str:
        return f"{self.hash}:leaderboard"

    @property
    def events(self) -> str:
        return f"{self.hash}:events"

    @property
    def trial_keys(self) -> str:
        return f"{self.hash}:trials"

    @property
    def running(self) -> str:
        return f"{self.hash}:running"

    @property
    def members(self) -> str:
        return f"{self.hash}:keys"

    @property
    def index(self) -> str:
        return f"{self.prefix}:sessions"


def spec_hash(spec: SessionSpec) -> str:
    wire = json.dumps(spec_to_wire(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(wire.encode()).hexdigest()[:16]


def job_status(results: Sequence[TrialResult]) -> str:
    if any(r.outcome is Outcome.CANCELLED for r in results):
        return "CANCELLED"
    ended_well = all(r.succeeded or r.outcome is Outcome.PRUNED for r in results)
    return "SUCCESS" if ended_well else "FAILED"


# An outbox entry: one idempotent write, applied inside a MULTI/EXEC pipeline.
Write = Callable[["redis.client.Pipeline"], None]


def records(
    client: redis.Redis, k: Keys, trials: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """Result records of a session (or of some of its trials), in trial order.

    What Redis holds is untrusted: an index entry that is no trial number, or a
    record that is not one (``tuneop.core.results.records``), is passed over.
    """
    if trials is None:
        mapping = client.hgetall(k.trial_keys)
        pairs = sorted((int(t), key) for t, key in mapping.items() if t.isdigit())
    else:
        found = client.hmget(k.trial_keys, [str(t) for t in trials]) if trials else []
        pairs = [(t, key) for t, key in zip(trials, found, strict=True) if key is not None]
    docs = client.mget([key for _, key in pairs]) if pairs else []
    found_records = (read_record(d) for d in docs if d is not None)
    return [r for r in found_records if r is not None]
