"""Warm start in a local run: the earlier session's results from a folder or from Redis.

``spec.warmStart.from.results`` is a results folder on this machine (the
same reader as ``tuneop summary``), ``from.session`` a session mirrored in
Redis (``--redis-url``, default ``$TUNEOP_REDIS_URL``). The records are read
once, before any worker starts, so a bad reference is one line on stderr
naming the field (exit 2) and never a failure in the middle of a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.cli.inputs import UsageError
from tuneop.cli.sources import mirrored_session
from tuneop.cli.text import clean
from tuneop.core.contract import TrialResult
from tuneop.core.records import Record
from tuneop.core.warmstart import prior_trials

__all__ = ["LocalWarmStart"]


class LocalWarmStart:
    """A ``WarmStartSource`` for ``tuneop run --local``, read once and kept."""

    def __init__(self, redis_url: str | None, prefix: str) -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self._read: dict[str, list[TrialResult]] = {}

    def prior(self, ref: SessionRef, spec: SessionSpec) -> Sequence[TrialResult]:
        source = spec.warm_start.from_ if spec.warm_start else None
        if source is None:
            return []
        key = source.model_dump_json()
        if key not in self._read:
            self._read[key] = prior_trials(spec, self._records(spec))
        return self._read[key]

    def _records(self, spec: SessionSpec) -> list[Record]:
        from tuneop.adapters.local.folder import load_records

        assert spec.warm_start is not None and spec.warm_start.from_ is not None
        source = spec.warm_start.from_
        if source.results is not None:
            where = f"spec.warmStart.from.results: {clean(source.results)}"
            try:
                return load_records(Path(source.results))
            except FileNotFoundError:
                raise UsageError(f"{where}: no such results folder") from None
            except (ValueError, KeyError, OSError) as err:
                raise UsageError(f"{where}: not a results folder ({err})") from None
        assert source.session is not None
        if not self.redis_url:
            raise UsageError(
                "spec.warmStart.from.session: a session in Redis; give --redis-url URL"
                " (or $TUNEOP_REDIS_URL), or name a results folder in from.results"
            )
        try:
            return mirrored_session(self.redis_url, self.prefix, source.session).records
        except UsageError as err:
            raise UsageError(f"spec.warmStart.from.session: {err}") from None
