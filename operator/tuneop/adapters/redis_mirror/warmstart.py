"""Warm start on a cluster: the operator reads the earlier session from its Redis mirror.

``spec.warmStart.from.session`` names a session the mirror holds
(``NAMESPACE/NAME``, or a ``NAME`` unique there; a bare name in the same
namespace is tried first). The reading is bounded: the trial index of the
earlier session is read, then only the records of its ``2 * maxTrials``
most recent trials (some may have failed; ``core.suggest.warmstart`` keeps at most
``maxTrials`` successful ones). Records are kept per session and reference,
so the earlier session is read once, not on every reconcile.

A results folder (``from.results``) is a path on the machine of a local run:
the operator refuses it as an invalid spec, naming the field. A session
Redis does not hold is an invalid spec too; Redis down is a transient error
(the session waits and tries again).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import redis

from tuneop.adapters.redis_mirror.layout import Keys, records
from tuneop.api.errors import SpecError
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.core.suggest.warmstart import (
    FOLDER_ON_CLUSTER,
    NO_REDIS,
    NoRedisWarmStart,
    prior_trials,
)
from tuneop.core.wire.contract import TrialResult
from tuneop.ports import TransientError

__all__ = ["FOLDER_ON_CLUSTER", "MAX_CACHED", "NO_REDIS", "NoRedisWarmStart", "RedisWarmStart"]

MAX_CACHED = 64  # sessions whose earlier session's trials are kept in memory


def _text(v: bytes | str) -> str:
    return v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v


class RedisWarmStart:
    """A ``WarmStartSource`` over the Redis mirror's key layout."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._read: OrderedDict[str, list[TrialResult]] = OrderedDict()

    def prior(self, ref: SessionRef, spec: SessionSpec) -> Sequence[TrialResult]:
        source = spec.warm_start.from_ if spec.warm_start else None
        if source is None:
            return []
        if source.results is not None:
            raise SpecError([FOLDER_ON_CLUSTER])
        assert source.session is not None
        key = f"{ref.key} {spec.model_dump_json()}"
        if key in self._read:
            self._read.move_to_end(key)
            return self._read[key]
        try:
            found = self._records(ref, source.session, 2 * source.max_trials)
        except redis.RedisError as err:
            what = f"redis: {type(err).__name__}: cannot read {source.session}"
            raise TransientError(what) from None
        trials = prior_trials(spec, found)
        self._read[key] = trials
        while len(self._read) > MAX_CACHED:
            self._read.popitem(last=False)
        return trials

    def _records(self, ref: SessionRef, target: str, most: int) -> list[dict[str, object]]:
        session = self._resolve(ref, target)
        k = Keys(self.prefix, session)
        numbers = sorted(int(t) for t in map(_text, self.client.hkeys(k.trial_keys)) if t.isdigit())
        return records(self.client, k, numbers[-most:])

    def _resolve(self, ref: SessionRef, target: str) -> str:
        sessions = {_text(s) for s in self.client.smembers(f"{self.prefix}:sessions")}
        if "/" not in target and f"{ref.namespace}/{target}" in sessions:
            return f"{ref.namespace}/{target}"
        matches = [s for s in sessions if s == target or s.split("/", 1)[-1] == target]
        if len(matches) == 1:
            return matches[0]
        found = "several" if matches else "none"
        raise SpecError([f"spec.warmStart.from.session: {target} is not in Redis ({found} match)"])
