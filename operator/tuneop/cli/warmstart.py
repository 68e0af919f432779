"""Warm start in a local run: the earlier session's results from a folder or from Redis.

``spec.warmStart.from.results`` is a results folder on this machine (the
same reader as ``tuneop summary``), ``from.session`` a session mirrored in
Redis (``--redis-url``, default ``$TUNEOP_REDIS_URL``). The records are read
once, before any worker starts, so a bad reference is one line on stderr
naming the field (exit 2) and never a failure in the middle of a run. Of a
session folder only the ``2 * maxTrials`` most recent trial files are read
(``core.suggest.warmstart`` keeps at most ``maxTrials`` successful ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.cli.inputs import UsageError
from tuneop.cli.sources import mirrored_session
from tuneop.cli.text import clean
from tuneop.core.results.records import Record
from tuneop.core.suggest.warmstart import prior_trials
from tuneop.core.wire.contract import TrialResult

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
        assert spec.warm_start is not None and spec.warm_start.from_ is not None
        source = spec.warm_start.from_
        if source.results is not None:
            where = f"spec.warmStart.from.results: {clean(source.results)}"
            try:
                return _recent(Path(source.results), 2 * source.max_trials)
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


def _trial_number(path: Path) -> int:
    number = path.stem.rpartition("-")[2]
    return int(number) if number.isdigit() else -1


def _recent(path: Path, most: int) -> list[Record]:
    """The records of the ``most`` latest trial files of a session folder; of anything
    else a results reader takes (a CSV, one file, a tree of sessions), all of them."""
    from tuneop.adapters.local.folder import load_records

    files = sorted(path.glob("trials/trial-*.json"), key=_trial_number) if path.is_dir() else []
    if not files:
        return load_records(path)
    out: list[Record] = []
    for file in files[-most:]:
        try:
            out.extend(load_records(file, below=path))  # found in the folder: no link followed
        except (ValueError, KeyError):
            continue  # not a record: passed over, as the folder reader does
    return out
