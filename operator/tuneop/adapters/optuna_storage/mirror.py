"""Sessions streamed into an Optuna RDB storage while they run: what optuna-dashboard shows.

Each session is one study, named by its key (``namespace/name``); each finished trial is
one frozen trial, written as ``tuneop export`` writes them (``core.results.study``):
COMPLETE, PRUNED or FAIL, its params with the distributions the spec declared, its
intermediate values and duration, and the ``tuneop.trial`` user attribute that maps it
back to tuneop's trial. That attribute makes the writes idempotent: whenever this mirror
(re)opens a session's study it reads which tuneop trials the study holds, and adds only
the others. Optuna numbers the trials in the order they finished.

Best effort with catch-up, the result store being the record: a storage that is down or
refuses never fails or stops a session. Writes wait in memory (one entry per trial, so
no larger than the session) and nothing tries the storage again until a back-off has
passed (``BACKOFF_FIRST`` doubling to ``BACKOFF_MAX`` seconds); connecting waits at most
``CONNECT_TIMEOUT``. When the storage answers again, and the first time this process
writes a session, the session is caught up from ``source`` (the result store): a process
that died with writes waiting leaves nothing missing once a later one writes the session.
The session's last status is tried once more whatever the back-off, so a local run that
ends as the storage comes back still writes its last trials.

A study is one run of its session: it keeps the run's start (``tuneop.started``, the
status's start time), and results wait until a status has said it. A study of the same
name that holds another run of the session (``tuneop run --local --fresh`` started it
over; its results folder was moved aside, and ``tuneop export`` makes its study again) is
deleted and made anew. A study of that name that tuneop did not write is left alone: the
session is not written there, and one warning says so.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import optuna
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial

from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.core.clock import SYSTEM_CLOCK
from tuneop.core.results.study import (
    prepare_study,
    spec_study_data,
    study_directions,
    study_trials,
)
from tuneop.core.wire.contract import TrialResult
from tuneop.ports import MirrorRecord

__all__ = [
    "BACKOFF_FIRST",
    "BACKOFF_MAX",
    "CONNECT_TIMEOUT",
    "TRIAL_ATTR",
    "OptunaStorageMirror",
    "rdb_storage",
]

log = logging.getLogger(__name__)

BACKOFF_FIRST = 5.0
BACKOFF_MAX = 60.0
CONNECT_TIMEOUT = 2  # seconds: connecting, or waiting for SQLite's lock
TRIAL_ATTR = "tuneop.trial"  # the user attribute mapping a study's trial to tuneop's
STARTED_ATTR = "tuneop.started"
SESSION_ATTR = "tuneop.session"


def _engine_kwargs(url: str) -> dict[str, Any]:
    """Short waits for the database: a storage that hangs costs a reconcile seconds, not
    minutes (each driver names its timeout its own way)."""
    scheme = url.partition(":")[0].lower()
    out: dict[str, Any] = {"pool_pre_ping": True}
    if scheme.startswith("sqlite"):
        out["connect_args"] = {"timeout": CONNECT_TIMEOUT}
    elif scheme.startswith(("postgresql", "mysql")):
        out["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
    return out


def rdb_storage(url: str) -> BaseStorage:
    """The RDB storage at ``url``: its tables made if missing (raises when unreachable)."""
    return RDBStorage(url, engine_kwargs=_engine_kwargs(url))


def _undeclared_numbers(
    records: Sequence[Mapping[str, Any]], declared: Mapping[str, BaseDistribution]
) -> dict[str, BaseDistribution]:
    """A float distribution over the values tried of each number the spec did not declare
    (explicit trials): an Optuna study keeps one kind per parameter, and a later trial's
    ``20`` must not make an integer parameter of what ``0.5`` made a float one."""
    seen: dict[str, list[float]] = {}
    for r in records:
        for name, value in (r.get("params") or {}).items():
            if name not in declared:
                number = isinstance(value, int | float) and not isinstance(value, bool)
                seen.setdefault(name, []).append(float(value) if number else math.nan)
    return {
        name: FloatDistribution(min(vs), max(vs))
        for name, vs in seen.items()
        if not any(math.isnan(v) for v in vs)
    }


def _params_as_attr(frozen: FrozenTrial) -> FrozenTrial:
    """The trial without parameters, its params kept as the ``tuneop.params`` attribute (a
    choice the study's earlier trials did not have: Optuna keeps one set of choices)."""
    trial = optuna.trial.create_trial(
        state=frozen.state,
        values=frozen.values,
        intermediate_values=frozen.intermediate_values,
        user_attrs={**frozen.user_attrs, "tuneop.params": frozen.params},
    )
    trial.datetime_start = frozen.datetime_start
    return trial


@dataclass
class _Session:
    ref: SessionRef
    spec: SessionSpec
    started: str | None = None  # the run's start: nothing is written before it is known
    study_id: int | None = None  # None: to be (re)opened, and caught up from the source
    held: set[int] = field(default_factory=set)  # tuneop trials the study holds
    pending: dict[int, TrialResult] = field(default_factory=dict)
    refused: bool = False  # a study of that name that tuneop did not write


@dataclass
class OptunaStorageMirror:
    """A Mirror that streams each session's finished trials into an Optuna storage."""

    # Given a session's status alone, it writes the trials the storage lacks from
    # ``source``: a finished local session run again is written to it (assembly.local).
    catches_up: ClassVar[bool] = True
    url: str
    source: Callable[[SessionRef], Sequence[TrialResult]] | None = None
    monotonic: Callable[[], float] = SYSTEM_CLOCK.monotonic
    connect: Callable[[str], BaseStorage] = rdb_storage
    on_health: Callable[[bool], None] | None = None
    healthy: bool = True
    _storage: BaseStorage | None = None
    _sessions: dict[str, _Session] = field(default_factory=dict)
    _retry_at: float = 0.0
    _backoff: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, ref: SessionRef, spec: SessionSpec, change: MirrorRecord) -> None:
        with self._lock:  # the operator reconciles several sessions at once
            self._record(ref, spec, change)

    def _record(self, ref: SessionRef, spec: SessionSpec, change: MirrorRecord) -> None:
        s = self._sessions.get(ref.key)
        if s is None:
            s = self._sessions[ref.key] = _Session(ref, spec)
        s.spec = spec
        for r in change.results:
            if r.trial not in s.held:
                s.pending[r.trial] = r
        status = change.status
        if status is None:
            return  # a round's results are written with its status, once the start is known
        if status.start_time is not None:
            s.started = status.start_time.isoformat()
        if not self.flush(force=status.terminal) and status.terminal and s.pending:
            log.warning(
                "optuna storage: %d trials of %s not written (tuneop export writes a finished"
                " session)",
                len(s.pending),
                ref.key,
            )

    def forget(self, key: str) -> None:
        """Stop following the deleted session ``namespace/name`` (its study stays: the
        record of its trials)."""
        with self._lock:
            self._sessions.pop(key, None)

    def pending(self, ref: SessionRef) -> int:
        """How many of the session's trials wait to be written."""
        s = self._sessions.get(ref.key)
        return 0 if s is None else len(s.pending)

    def flush(self, force: bool = False) -> bool:
        """Write what waits; True when the storage took it all. ``force`` tries even in
        the back-off (a session's last status)."""
        if not self.healthy and not force and self.monotonic() < self._retry_at:
            return False  # known to be down: keep the writes, do not wait on it
        try:
            if self._storage is None:
                self._storage = self.connect(self.url)
            for s in list(self._sessions.values()):
                if s.started is not None and not s.refused:
                    self._write(self._storage, s)
        except Exception as err:  # any failure of the storage: the session goes on
            return self._set_health(False, err)
        return self._set_health(True)

    def _write(self, storage: BaseStorage, s: _Session) -> None:
        if s.study_id is None:
            s.study_id = self._open_study(storage, s)
            if s.study_id is None:
                return
            held = (t.user_attrs.get(TRIAL_ATTR) for t in storage.get_all_trials(s.study_id))
            s.held = {t for t in held if isinstance(t, int)}
            for r in self.source(s.ref) if self.source is not None else ():
                s.pending.setdefault(r.trial, r)  # catch up with the result store
        todo = [r for t, r in sorted(s.pending.items()) if t not in s.held]
        s.pending = {t: r for t, r in s.pending.items() if t not in s.held}
        if not todo:
            return
        spec = s.spec
        records = [r.to_json(s.ref.key, spec.objective, spec.all_objectives) for r in todo]
        data = spec_study_data(spec, records)
        objectives = [m for m, _ in data.objectives]
        space = {**_undeclared_numbers(records, data.space), **data.space}
        for frozen in study_trials(records, data.metric, objectives, space):
            try:
                storage.create_new_trial(s.study_id, template_trial=frozen)
            except ValueError:  # a parameter's distribution the study's earlier trials refuse
                storage.create_new_trial(s.study_id, template_trial=_params_as_attr(frozen))
            trial = int(frozen.user_attrs[TRIAL_ATTR])
            s.held.add(trial)
            s.pending.pop(trial, None)

    def _open_study(self, storage: BaseStorage, s: _Session) -> int | None:
        """The study of this run of the session: found, made, or None (refused)."""
        name = s.ref.key
        try:
            study_id: int | None = storage.get_study_id_from_name(name)
        except KeyError:
            study_id = None
        if study_id is not None:
            attrs = storage.get_study_user_attrs(study_id)
            if attrs.get(SESSION_ATTR) != s.ref.key and storage.get_n_trials(study_id) > 0:
                s.refused = True
                log.warning("optuna storage: study %r is not tuneop's; not written", name)
                return None
            if attrs.get(STARTED_ATTR) == s.started:
                return study_id
            storage.delete_study(study_id)  # another run of the session, or half made
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        data = spec_study_data(s.spec, [])
        study = optuna.create_study(
            storage=storage, study_name=name, directions=study_directions(data)
        )
        prepare_study(study, data, s.ref.key)
        study.set_user_attr(STARTED_ATTR, s.started)  # last: a study without it is half made
        return storage.get_study_id_from_name(name)

    def _set_health(self, ok: bool, err: Exception | None = None) -> bool:
        if not ok and self.healthy:
            # Only the error's type is logged: a driver's message can quote the URL.
            log.warning("optuna storage unreachable, keeping trials: %s", type(err).__name__)
        if ok:
            self._backoff = 0.0
        else:
            self._backoff = min(max(2 * self._backoff, BACKOFF_FIRST), BACKOFF_MAX)
            self._retry_at = self.monotonic() + self._backoff
            self._storage = None  # connect anew: the tables may be gone with the database
            for s in self._sessions.values():
                s.study_id = None  # reopened and caught up once it answers
        self.healthy = ok
        if self.on_health is not None:
            self.on_health(ok)
        return ok
