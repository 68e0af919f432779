"""The operator's result store: where harvested results become durable.

A Job is deleted only after its results are stored durably, so which store
the operator uses decides what survives a crash:

- with ``--results-dir``: the results folder (``FolderStore``), each file
  fsynced before the reconcile goes on; a folder that cannot be written (a
  full volume) is a ``TransientError``, and the Jobs wait;
- without a folder but with ``--redis-url``: Redis (``RedisStore``); a result
  counts as stored once Redis has acknowledged it, so while Redis is down the
  finished Jobs wait with their logs, and nothing lives only in memory. The
  bayesian history is also kept in memory, where the optimizer reads it;
- with neither: the in-memory history (``MemoryHistory``), which keeps only
  what the bayesian optimizer needs; results then live in the status
  (counters, best, leaderboard) and the worker logs are gone with their Jobs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from tuneop.adapters.memory import MemoryHistory
from tuneop.adapters.results_folder.claim import claim_for_object
from tuneop.adapters.results_folder.folder import DirectoryResults
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.core.clock import SYSTEM_CLOCK
from tuneop.core.wire.contract import TrialResult
from tuneop.ports import TransientError

if TYPE_CHECKING:  # imported only by an operator with --redis-url
    from tuneop.adapters.redis_mirror import RedisMirror

__all__ = ["FolderStore", "RedisStore"]


@dataclass
class FolderStore:
    """The results folder; a session's folder belongs to one object (``claim_for_object``):
    a session deleted and created again under its name starts a folder of its own."""

    folder: DirectoryResults
    clock: Callable[[], datetime] = SYSTEM_CLOCK.now
    _claimed: dict[str, str] = field(default_factory=dict)

    def _claim(self, ref: SessionRef, spec: SessionSpec | None) -> None:
        if not ref.uid or self._claimed.get(ref.key) == ref.uid:
            return
        if claim_for_object(self.folder.session_dir(ref), spec, ref.uid, self.clock()):
            self.folder.forget(ref)
        self._claimed[ref.key] = ref.uid

    def persist(self, ref: SessionRef, spec: SessionSpec, results: Sequence[TrialResult]) -> None:
        try:
            self._claim(ref, spec)
            self.folder.persist(ref, spec, results)
        except OSError as err:
            raise TransientError(f"results folder: {err.strerror or err}") from err

    def history(self, ref: SessionRef) -> list[TrialResult]:
        with contextlib.suppress(OSError):  # persist claims it again, or says why not
            self._claim(ref, None)
        return self.folder.history(ref)


@dataclass
class RedisStore:
    redis: RedisMirror
    memory: MemoryHistory
    # Sessions whose finished trials were read back from Redis (once per process: a
    # restarted operator's memory starts empty; what it harvests after is kept there).
    _read_back: set[str] = field(default_factory=set)

    def persist(self, ref: SessionRef, spec: SessionSpec, results: Sequence[TrialResult]) -> None:
        self.redis.store(ref, spec, results)  # raises TransientError until Redis has them
        self.memory.persist(ref, spec, results)

    def history(self, ref: SessionRef) -> list[TrialResult]:
        # Asked only for a session that needs its history (a learning optimizer, early
        # stopping the operator judges), so only those are read back.
        if ref.key not in self._read_back:
            earlier = self.redis.read_back(ref)
            if earlier is not None:  # Redis down: from memory now, read back next time
                self.memory.seed(ref, earlier)
                self._read_back.add(ref.key)
        return self.memory.history(ref)
