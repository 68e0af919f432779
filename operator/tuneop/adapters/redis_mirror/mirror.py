"""The Redis mirror: job records, trial results, leaderboard, session hash, events.

Redis is a mirror of the sessions (or, for an operator without a results
folder, the place results become durable: ``store``). Every write goes
through the ``Outbox``, which never makes a session wait on a Redis that is
down or hung. The mirror re-sends every result of a session from ``source``
(the result store) whenever Redis may have missed some: after an outage,
when its marker key shows Redis lost its data between two writes (looked at
every ``MARKER_CHECK_SECONDS``), and the first time this process writes a
session whose results Redis holds fewer of than the store (a process that
harvested while Redis was down and died before it came back). Each Job's
start time is kept per session (a few bytes a Job) so the job records a
re-send rebuilds carry it. Writes are idempotent: the same trial written
twice gives the same keys and values (stream events are a log).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis

from tuneop.adapters.redis_mirror.layout import (
    DEFAULT_TTL_SECONDS,
    Keys,
    Write,
    job_status,
    records,
    spec_hash,
)
from tuneop.adapters.redis_mirror.outbox import CONNECT_TIMEOUT, SOCKET_TIMEOUT, Outbox
from tuneop.api import hyperband, pbt
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus
from tuneop.api.vocabulary import NEW_BEST, Phase
from tuneop.core.clock import SYSTEM_CLOCK
from tuneop.core.planning.planner import Event, JobToCreate
from tuneop.core.wire.contract import Outcome, TrialResult
from tuneop.ports import MirrorRecord, TransientError

__all__ = ["MARKER_CHECK_SECONDS", "RedisMirror"]

log = logging.getLogger(__name__)

MARKER_CHECK_SECONDS = 10.0


@dataclass
class RedisMirror:
    """A Mirror that mirrors sessions into Redis and backfills after outages."""

    client: redis.Redis
    prefix: str = "tuneop"
    ttl_seconds: int = DEFAULT_TTL_SECONDS
    clock: Callable[[], datetime] = SYSTEM_CLOCK.now
    on_health: Callable[[bool], None] | None = None
    source: Callable[[SessionRef], Sequence[TrialResult]] | None = None
    # False when this Redis is the result store: results then come through ``store``.
    mirror_results: bool = True
    monotonic: Callable[[], float] = SYSTEM_CLOCK.monotonic
    outbox: Outbox = field(init=False)
    _marker_due: float = 0.0
    # Sessions whose results in Redis were compared with the result store in this process.
    _checked: set[str] = field(default_factory=set)
    # Each session's Jobs' start times (worker index → ISO time), for rebuilt records.
    _started: dict[str, dict[int, str]] = field(default_factory=dict)
    _sessions: dict[str, tuple[SessionRef, SessionSpec]] = field(default_factory=dict)
    _last_status: dict[str, Write] = field(default_factory=dict)
    _jobs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.client, self.monotonic, self.on_health)

    @property
    def healthy(self) -> bool:
        return self.outbox.healthy

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> RedisMirror:
        client = redis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=CONNECT_TIMEOUT,
            health_check_interval=30,
        )
        return cls(client=client, **kw)

    def keys(self, ref: SessionRef) -> Keys:
        return Keys(self.prefix, ref.key)

    # --- writes go through the outbox -------------------------------------------------

    def _queue(self, key: str, write: Write) -> None:
        self.outbox.queue(key, write)

    def flush(self) -> bool:
        """Send everything queued; True when Redis took it all."""
        was_healthy = self.healthy
        if not self.outbox.send():
            return False
        if not was_healthy or self._came_back_empty():
            self._backfill(list(self._sessions.values()))
        else:
            self._backfill([s for s in self._sessions.values() if self._missing(*s)])
        return self.outbox.send()

    def _came_back_empty(self) -> bool:
        """Whether Redis lost this mirror's keys since it last looked (a restart without
        persistence between two writes): its marker key is gone. Looked at every
        ``MARKER_CHECK_SECONDS``, and at the first write of this process."""
        now = self.monotonic()
        if now < self._marker_due:
            return False
        self._marker_due = now + MARKER_CHECK_SECONDS
        try:
            return bool(self.client.set(f"{self.prefix}:mirror", "1", nx=True))
        except redis.RedisError as err:
            self.outbox.set_health(False, err)
            return False

    def _missing(self, ref: SessionRef, spec: SessionSpec) -> bool:
        """The first time this process writes a session: does Redis hold fewer of its results
        than the result store does (harvested while Redis was down by a process that died
        before it came back)? Checked once per session and process."""
        if ref.key in self._checked or self.source is None:
            return False
        try:
            held = int(self.client.hlen(self.keys(ref).trial_keys))
        except redis.RedisError as err:
            self.outbox.set_health(False, err)
            return False
        self._checked.add(ref.key)
        return held < len(self.source(ref))

    def _backfill(self, sessions: Sequence[tuple[SessionRef, SessionSpec]]) -> None:
        for ref, spec in sessions:
            k = self.keys(ref)
            results = list(self.source(ref)) if self.source is not None else []
            by_job: dict[int, list[TrialResult]] = {}
            for r in results:
                by_job.setdefault(r.job_index, []).append(r)
                self._queue_trial(k, ref, spec, r)
            for index, rs in by_job.items():
                self._queue_job(k, self._finished_record(ref, spec, index, rs))
            for record in self._jobs.values():
                if record["session_id"] == ref.key:
                    self._queue_job(k, record)
            if ref.key in self._last_status:
                self._queue(k.hash, self._last_status[ref.key])
        if sessions:
            log.info("redis: re-sent %d sessions from the result store", len(sessions))

    # --- Mirror -------------------------------------------------------------------------

    def record(self, ref: SessionRef, spec: SessionSpec, change: MirrorRecord) -> None:
        if change.launched:
            self.record_launch(ref, spec, change.launched)
        if change.results and self.mirror_results:
            self.persist(ref, spec, change.results)
        if change.status is not None:
            self.record_status(ref, spec, change.status, change.events)

    def record_launch(
        self, ref: SessionRef, spec: SessionSpec, jobs: Sequence[JobToCreate]
    ) -> None:
        k = self.keys(ref)
        now = self.clock().isoformat()
        for job in jobs:
            record = {
                "job_id": job.name,
                "session_id": ref.key,
                "worker_id": job.index,
                "trials": list(job.trials),
                "optimizer": spec.optimizer.type,
                "status": "RUNNING",
                "return_code": None,
                "started_at": now,
                "finished_at": None,
            }
            self._jobs[job.name] = record
            self._started.setdefault(ref.key, {})[job.index] = now
            self._queue_job(k, record)
            self._event(k, "trial_started", {"job": job.name, "trials": list(job.trials)})
        self.flush()

    def _queue_job(self, k: Keys, record: dict[str, Any]) -> None:
        key = k.job(record["job_id"])
        doc = json.dumps(record, sort_keys=True)

        running = record["status"] == "RUNNING"

        def write(pipe: redis.client.Pipeline) -> None:
            pipe.set(key, doc)
            pipe.sadd(k.members, key)
            if running:
                pipe.sadd(k.running, record["job_id"])
            else:
                pipe.srem(k.running, record["job_id"])

        self._queue(key, write)

    def store(self, ref: SessionRef, spec: SessionSpec, results: Sequence[TrialResult]) -> None:
        """Keep results as a result store does: return once Redis has acknowledged them,
        else raise ``TransientError`` (they stay queued, and their Jobs wait)."""
        if not self.persist(ref, spec, results):
            raise TransientError("redis has not acknowledged the results yet")

    def persist(self, ref: SessionRef, spec: SessionSpec, results: Sequence[TrialResult]) -> bool:
        """Queue the results' records and send them; True when Redis took everything."""
        self._sessions[ref.key] = (ref, spec)
        k = self.keys(ref)
        by_job: dict[int, list[TrialResult]] = {}
        for r in results:
            by_job.setdefault(r.job_index, []).append(r)
            self._queue_trial(k, ref, spec, r)
            kind = "trial_finished" if r.succeeded else "trial_failed"
            kind = "trial_pruned" if r.outcome is Outcome.PRUNED else kind
            self._event(
                k,
                kind,
                {"trial": r.trial, "outcome": str(r.outcome), "value": r.value, "error": r.error},
            )
        for index, rs in by_job.items():
            self._queue_job(k, self._finished_record(ref, spec, index, rs))
        return self.flush()

    def _finished_record(
        self, ref: SessionRef, spec: SessionSpec, index: int, rs: Sequence[TrialResult]
    ) -> dict[str, Any]:
        name = next((n for n, j in self._jobs.items() if j["worker_id"] == index), None)
        record = dict(self._jobs.pop(name, {})) if name else {}
        if not record:
            record = {
                "job_id": f"{ref.name}-{index}",
                "session_id": ref.key,
                "worker_id": index,
                "trials": sorted(r.trial for r in rs),
                "optimizer": spec.optimizer.type,
                "started_at": self._started.get(ref.key, {}).get(index),
            }
        status = job_status(rs)
        record.update(
            status=status,
            finished_at=self.clock().isoformat(),
            return_code=0 if status == "SUCCESS" else 1,
        )
        return record

    def _queue_trial(self, k: Keys, ref: SessionRef, spec: SessionSpec, r: TrialResult) -> None:
        key = k.trial(r.job_index, r.trial)
        record = r.to_json(ref.key, spec.objective, spec.all_objectives)
        record.update(hyperband.record_fields(spec.optimizer.hyperband, r.trial))
        record.update(pbt.record_fields(spec.optimizer.pbt, r.trial))
        doc = json.dumps(record, sort_keys=True)

        def write(pipe: redis.client.Pipeline) -> None:
            pipe.set(key, doc)
            pipe.sadd(k.members, key)
            pipe.hset(k.trial_keys, str(r.trial), key)
            pipe.sadd(k.index, ref.key)
            if r.succeeded and r.value is not None:
                pipe.zadd(k.leaderboard, {str(r.trial): r.value})

        self._queue(key, write)

    def record_status(
        self, ref: SessionRef, spec: SessionSpec, status: SessionStatus, events: Sequence[Event]
    ) -> None:
        k = self.keys(ref)
        t = status.trials
        fields = {
            "phase": status.phase,
            "progress": status.progress,
            "total": t.total,
            "succeeded": t.succeeded,
            "failed": t.failed,
            "lost": t.lost,
            "infra_failed": t.infra_failed,
            "cancelled": t.cancelled,
            "pruned": t.pruned,
            "running": t.running,
            "queued": t.queued,
            "pending": t.pending,
            "metric": spec.objective.metric,
            "direction": spec.objective.direction,
            "best_trial": status.best.trial if status.best else "",
            "best_value": status.best.value if status.best else "",
            "best_params": json.dumps(status.best.params) if status.best else "",
            "exit_code": "" if status.exit_code is None else status.exit_code,
            "spec_hash": spec_hash(spec),
            "updated_at": self.clock().isoformat(),
        }
        ttl = self.ttl_seconds if status.terminal else 0

        def write(pipe: redis.client.Pipeline) -> None:
            pipe.hset(k.hash, mapping=fields)
            pipe.sadd(k.index, ref.key)
            if ttl > 0:
                self._expire(pipe, k, ttl)
            else:
                for key in (k.hash, k.leaderboard, k.events, k.members, k.running, k.trial_keys):
                    pipe.persist(key)

        self._sessions[ref.key] = (ref, spec)
        self._last_status[ref.key] = write
        self._queue(k.hash, write)
        for e in events:
            if e.reason == NEW_BEST:
                self._event(k, "new_best", {"message": e.message})
            elif e.reason in set(Phase) - {Phase.PENDING}:
                self._event(k, "phase", {"phase": e.reason, "message": e.message})
        self.flush()

    def _expire(self, pipe: redis.client.Pipeline, k: Keys, ttl: int) -> None:
        # A Lua-free expiry of every member key. SMEMBERS runs on the client while the
        # pipeline is being built, outside the MULTI: a member added after it would keep no
        # TTL. None is: this mirror is the session's only writer, and this runs for a
        # finished session, whose every trial was queued before its final status.
        for key in self.client.smembers(k.members):
            pipe.expire(key, ttl)
        for key in (k.hash, k.leaderboard, k.events, k.members, k.running, k.trial_keys):
            pipe.expire(key, ttl)

    def _event(self, k: Keys, kind: str, data: dict[str, Any]) -> None:
        fields = {
            "type": kind,
            "data": json.dumps(data, sort_keys=True),
            "at": self.clock().isoformat(),
        }
        self.outbox.event(k.events, fields)

    def read_back(self, ref: SessionRef) -> list[TrialResult] | None:
        """The session's finished trials as Redis holds them; None while Redis is down."""
        try:
            return self.history(ref)
        except redis.RedisError as err:
            log.warning("%s: cannot read the finished trials back from Redis yet: %s", ref.key, err)
            return None

    def history(self, ref: SessionRef) -> list[TrialResult]:
        out = []
        for r in self.records(ref):
            try:
                out.append(TrialResult.from_json(r))
            except (ValueError, KeyError, TypeError):
                continue  # a record the contract cannot read: not part of the history
        return out

    # --- reads (watch, summary) and cleanup ------------------------------------------

    def records(self, ref: SessionRef) -> list[dict[str, Any]]:
        return records(self.client, self.keys(ref))

    def forget(self, ref: SessionRef) -> None:
        """Delete a session's keys (the session was deleted and retention does not keep)."""
        for memory in (self._started, self._sessions, self._last_status):
            memory.pop(ref.key, None)
        self._checked.discard(ref.key)
        k = self.keys(ref)
        members = list(self.client.smembers(k.members))
        pipe = self.client.pipeline(transaction=True)
        if members:
            pipe.delete(*members)
        pipe.delete(k.hash, k.leaderboard, k.events, k.members, k.running, k.trial_keys)
        pipe.srem(k.index, ref.key)
        pipe.execute()

    def close(self) -> None:
        self.client.close()

    def forget_deleted(self, key: str) -> None:
        """``forget`` the deleted session ``namespace/name``; Redis being down is logged, not
        raised: the operator goes on, and the keys expire with their retention."""
        namespace, _, name = key.partition("/")
        try:
            self.forget(SessionRef(namespace, name))
        except redis.RedisError as err:
            log.warning("%s: could not delete its Redis keys: %s", key, type(err).__name__)
