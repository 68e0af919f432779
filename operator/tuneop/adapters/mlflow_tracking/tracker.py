"""The MLflow tracker: a session's runs, made before its trials start and logged as they end.

``MlflowTracker`` is both a ``TrialTracker`` (``prepare``: each new Job's trials
get their nested runs, made within ``runWaitSeconds``, and the Job the
variables naming them, ``core.jobs.tracking``) and a ``Mirror`` (``record``: each
harvested trial logged on its run, the best trial tagged, the parent run ended
with the session). Every MLflow call goes through the server's ``Outbox``, on a
thread of its own: a server that is down or slow costs a reconcile at most
``runWaitSeconds`` once, then nothing (its Jobs start without ``MLFLOW_RUN_ID``;
their runs are made, and their results logged, when the server is back). The
runs are found by their tags (``runs.py``), so nothing is logged twice, and the
first time this process meets a session it logs every result of ``source``
(the result store) that MLflow does not hold yet: what a process that died
during an outage, or a local run that ended during one, left unsent.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

from mlflow.exceptions import RestException
from mlflow.tracking import MlflowClient

from tuneop.adapters.mlflow_tracking.outbox import Outbox
from tuneop.adapters.mlflow_tracking.runs import Runs, SessionRuns
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus
from tuneop.api.tracking import MlflowTracking
from tuneop.api.vocabulary import Phase
from tuneop.core.jobs.observed import Params
from tuneop.core.jobs.tracking import tracking_env, with_env
from tuneop.core.planning.planner import JobToCreate
from tuneop.core.wire.contract import TrialResult
from tuneop.ports import MirrorRecord

__all__ = ["DRAIN_BUDGET", "MlflowTracker"]

DRAIN_BUDGET = 15.0  # seconds a local run waits at its end for MLflow to take the rest
_REFUSED = frozenset({400, 404, 409, 413, 422})
_SERVERS = itertools.count(1)  # names the outboxes' threads


def _permanent(err: Exception) -> bool:
    """The server answered and refused this write (a retry gets the same answer)."""
    if not isinstance(err, RestException):
        return False
    status: int = err.get_http_status_code()  # type: ignore[no-untyped-call]
    return status in _REFUSED


class _Server:
    """One tracking server: its runs and its outbox."""

    def __init__(self, uri: str, client: Callable[[str], MlflowClient]) -> None:
        self.runs = Runs(client(uri))
        self.outbox = Outbox(str(next(_SERVERS)), _permanent)


class MlflowTracker:
    """Each session of ``spec.tracking.mlflow`` as a parent run, its trials nested (module doc)."""

    def __init__(
        self,
        *,
        secrets: bool,
        source: Callable[[SessionRef], Sequence[TrialResult]] | None = None,
        client: Callable[[str], MlflowClient] = lambda uri: MlflowClient(tracking_uri=uri),
    ) -> None:
        # ``secrets``: the trials get the credentials of ``secretRef`` (on a cluster).
        self.secrets = secrets
        self.source = source
        self._client = client
        self._lock = threading.Lock()
        self._servers: dict[str, _Server] = {}
        self._where: dict[str, SessionRuns] = {}
        self._runs: dict[str, dict[int, str]] = {}
        self._best: dict[str, int] = {}
        self._seen: set[str] = set()

    # --- TrialTracker -------------------------------------------------------------------

    def prepare(
        self, ref: SessionRef, spec: SessionSpec, jobs: Sequence[JobToCreate]
    ) -> list[JobToCreate]:
        mlflow = _settings(spec)
        if mlflow is None:
            return list(jobs)
        server = self._open(ref, spec, mlflow)
        key = _key(ref)
        with self._lock:  # the outbox's thread adds runs as they are made
            known = set(self._runs.get(key, {}))
        waits = [
            server.outbox.queue(
                f"{key}/run/{trial}",
                functools.partial(self._trial_run, server, ref, spec, mlflow, trial, params),
            )
            for job in jobs
            for trial, params in zip(job.trials, job.params, strict=False)
            if trial not in known
        ]
        server.outbox.wait(waits, mlflow.run_wait_seconds)
        where = self._where.get(key)
        with self._lock:
            runs = dict(self._runs.get(key, {}))
        experiment = None if where is None else where.experiment_id
        return [
            replace(
                job,
                manifest=with_env(
                    job.manifest, tracking_env(mlflow, experiment, runs, job.trials, self.secrets)
                ),
            )
            for job in jobs
        ]

    # --- Mirror -------------------------------------------------------------------------

    def record(self, ref: SessionRef, spec: SessionSpec, change: MirrorRecord) -> None:
        mlflow = _settings(spec)
        if mlflow is None:
            return
        server = self._open(ref, spec, mlflow)
        key = _key(ref)
        for result in change.results:
            excerpt = change.logs.get(result.job_index)
            server.outbox.queue(
                f"{key}/result/{result.trial}",
                functools.partial(self._result, server, ref, spec, mlflow, result, excerpt),
            )
        if change.status is not None:
            self._status(server, ref, spec, mlflow, change.status)

    def _status(
        self,
        server: _Server,
        ref: SessionRef,
        spec: SessionSpec,
        mlflow: MlflowTracking,
        status: SessionStatus,
    ) -> None:
        key = _key(ref)
        best = status.best
        if best is not None and self._best.get(key) != best.trial:
            self._best[key] = best.trial
            write = functools.partial(
                self._tag_best, server, ref, spec, mlflow, best.trial, best.value
            )
            server.outbox.queue(f"{key}/best", write)
        if status.terminal and status.phase is not None:
            ok = status.phase is Phase.SUCCEEDED
            end = functools.partial(self._end, server, ref, spec, mlflow, str(status.phase), ok)
            server.outbox.queue(f"{key}/end", end)

    def forget(self, key: str) -> None:
        """Forget the session ``namespace/name`` (deleted): its runs stay in MLflow."""
        with self._lock:
            for table in (self._where, self._runs, self._best):
                for k in [k for k in table if k.split("#", 1)[0] == key]:
                    del table[k]
            self._seen = {k for k in self._seen if k.split("#", 1)[0] != key}

    def drain(self, budget: float = DRAIN_BUDGET) -> bool:
        """Wait at most ``budget`` seconds for each server to take what is queued."""
        with self._lock:
            servers = list(self._servers.values())
        return all(s.outbox.drain(budget) for s in servers)

    # --- on the outbox's thread ---------------------------------------------------------

    def _open(self, ref: SessionRef, spec: SessionSpec, mlflow: MlflowTracking) -> _Server:
        """The session's server; the first time, its backfill from ``source`` queued."""
        with self._lock:
            server = self._servers.get(mlflow.tracking_uri)
            if server is None:
                server = _Server(mlflow.tracking_uri, self._client)
                self._servers[mlflow.tracking_uri] = server
            first = _key(ref) not in self._seen
            self._seen.add(_key(ref))
        if first and self.source is not None:
            write = functools.partial(self._backfill, server, ref, spec, mlflow)
            server.outbox.queue(f"{_key(ref)}/backfill", write)
        return server

    def _session(
        self, server: _Server, ref: SessionRef, spec: SessionSpec, mlflow: MlflowTracking
    ) -> SessionRuns:
        where = self._where.get(_key(ref))
        if where is None:
            tags = {"tuneop.optimizer": spec.optimizer.type, "tuneop.metric": spec.objective.metric}
            where = server.runs.session(ref, mlflow.experiment, tags)
            self._where[_key(ref)] = where
        return where

    def _trial_run(
        self,
        server: _Server,
        ref: SessionRef,
        spec: SessionSpec,
        mlflow: MlflowTracking,
        trial: int,
        params: Params,
    ) -> None:
        where = self._session(server, ref, spec, mlflow)
        run = server.runs.trial(ref, where, trial, params)
        self._ran(ref, trial, run.info.run_id)

    def _result(
        self,
        server: _Server,
        ref: SessionRef,
        spec: SessionSpec,
        mlflow: MlflowTracking,
        result: TrialResult,
        excerpt: str | None,
    ) -> None:
        where = self._session(server, ref, spec, mlflow)
        metric = spec.objective.metric
        run_id = server.runs.finish_trial(ref, where, result, metric, excerpt)
        self._ran(ref, result.trial, run_id)

    def _ran(self, ref: SessionRef, trial: int, run_id: str) -> None:
        with self._lock:
            self._runs.setdefault(_key(ref), {})[trial] = run_id

    def _tag_best(
        self,
        server: _Server,
        ref: SessionRef,
        spec: SessionSpec,
        mlflow: MlflowTracking,
        trial: int,
        value: float,
    ) -> None:
        where = self._session(server, ref, spec, mlflow)
        server.runs.best(ref, where, trial, value)

    def _end(
        self,
        server: _Server,
        ref: SessionRef,
        spec: SessionSpec,
        mlflow: MlflowTracking,
        phase: str,
        ok: bool,
    ) -> None:
        server.runs.end_session(self._session(server, ref, spec, mlflow), phase, ok)

    def _backfill(
        self, server: _Server, ref: SessionRef, spec: SessionSpec, mlflow: MlflowTracking
    ) -> None:
        assert self.source is not None
        results = list(self.source(ref))
        if not results:
            return
        where = self._session(server, ref, spec, mlflow)
        logged = server.runs.logged_trials(ref, where)
        for result in results:
            if result.trial not in logged:
                server.runs.finish_trial(ref, where, result, spec.objective.metric, None)


def _settings(spec: SessionSpec) -> MlflowTracking | None:
    return None if spec.tracking is None else spec.tracking.mlflow


def _key(ref: SessionRef) -> str:
    return f"{ref.key}#{ref.uid or ''}"
