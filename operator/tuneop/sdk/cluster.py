"""A session submitted to a cluster from Python: applied, followed, its results read back.

``submit`` applies the session as ``tuneop run FILE`` does (server-side apply under
the same field manager, ``tuneop.cli.cluster.ClusterRun``, over the
``ClusterSessions`` port the assembly builds) and returns a ``ClusterSession``.
``follow`` yields a ``Progress`` each time the status changes until the session is
finished for the generation this submit applied (an earlier run's end never ends
it); ``wait`` follows it to its ``Results``: the status's leaderboard, or with
``redis_url`` every trial from the operator's Redis mirror, written into a results
folder as ``tuneop results`` writes it. What the API server returns is read as the
command line reads it: bounded, leniently, never trusted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from tuneop.api.session import Session, SessionRef
from tuneop.api.spec import Parameter
from tuneop.api.status import SessionStatus, status_from_wire
from tuneop.cli.cluster import ClusterRun, leaderboard_records
from tuneop.cli.inputs import UsageError
from tuneop.cli.text import clean
from tuneop.core.extras import missing_module, needs
from tuneop.core.results.records import Record
from tuneop.ports import SessionGone
from tuneop.sdk.results import Progress, Results, SessionError

__all__ = ["POLL_SECONDS", "ClusterSession", "submit"]

POLL_SECONDS = 1.0
# API errors in a row (the server restarting, a network blip) before following gives up.
MAX_READ_FAILURES = 30


def _as_declared(records: list[Record], space: list[Parameter]) -> list[Record]:
    """The records with each float parameter a float again: the API server writes a
    whole-number float as an integer (-1.0 comes back as -1)."""
    floats = {p.name for p in space if p.type == "float"}
    for r in records:
        params = r.get("params") or {}
        for name in floats & params.keys():
            if isinstance(params[name], int) and not isinstance(params[name], bool):
                params[name] = float(params[name])
    return records


def _generation(obj: dict[str, Any]) -> int:
    g = (obj.get("metadata") or {}).get("generation")
    return g if isinstance(g, int) and not isinstance(g, bool) else 0


class ClusterSession:
    """A session applied to a cluster; close it (or use ``with``) to drop the connection."""

    def __init__(self, run: ClusterRun, generation: int) -> None:
        self._run = run
        self.generation = generation

    @property
    def ref(self) -> SessionRef:
        return self._run.session.ref

    def __enter__(self) -> ClusterSession:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._run.close()

    def status(self) -> SessionStatus:
        """The status the API server holds now."""
        try:
            return status_from_wire(self._run.read().get("status"))
        except SessionGone:
            raise SessionError(f"session {self.ref.key} was deleted") from None

    def follow(
        self, poll_seconds: float = POLL_SECONDS, sleep: Callable[[float], None] = time.sleep
    ) -> Iterator[Progress]:
        """Each new status until the session is finished for this submit's generation."""
        failures, last = 0, None
        while True:
            try:
                status = self.status()
                failures = 0
            except SessionError:
                raise
            except Exception as err:  # transient: the server restarting, a network blip
                failures += 1
                if failures >= MAX_READ_FAILURES:
                    why = clean(str(err) or type(err).__name__, 200)
                    raise SessionError(f"cannot read session {self.ref.key}: {why}") from None
                sleep(poll_seconds)
                continue
            seen = status.model_dump(exclude={"conditions"})
            if seen != last:
                last = seen
                yield Progress.of(status)
            current = (
                status.observed_generation is None or status.observed_generation >= self.generation
            )
            if status.terminal and current:
                return
            sleep(poll_seconds)

    def wait(
        self,
        on_progress: Callable[[Progress], None] | None = None,
        *,
        redis_url: str | None = None,
        results_dir: str | Path = "tuneop-results",
        poll_seconds: float = POLL_SECONDS,
    ) -> Results:
        """Follow the session to its end; its ``results``."""
        for progress in self.follow(poll_seconds):
            if on_progress is not None:
                on_progress(progress)
        return self.results(redis_url=redis_url, results_dir=results_dir)

    def results(
        self, *, redis_url: str | None = None, results_dir: str | Path = "tuneop-results"
    ) -> Results:
        """The trials so far: the status's leaderboard (its best few), or with
        ``redis_url`` every trial from the Redis mirror, kept in ``results_dir``."""
        status = self.status()
        session = self._run.session
        if redis_url is None:
            records = _as_declared(leaderboard_records(session, status), session.spec.search_space)
            return Results.of(self.ref.key, status, records)
        from tuneop.cli.results import fetch_results

        try:
            folder, found, _ = fetch_results(redis_url, "tuneop", self.ref.key, Path(results_dir))
        except UsageError as err:
            raise SessionError(str(err)) from None
        return Results.of(self.ref.key, status, found.records, folder=folder)

    def suspend(self) -> None:
        """``spec.suspend: true``: no new trials; the running ones finish."""
        try:
            self._run.suspend()
        except Exception as err:  # whatever the client raises: one line
            why = clean(str(err) or type(err).__name__, 200)
            raise SessionError(f"cannot suspend {self.ref.key}: {why}") from None


def submit(
    session: Session, kubeconfig: str | None = None, dry_run: bool = False
) -> ClusterSession:
    """Apply ``session`` to the cluster of ``kubeconfig`` (else in-cluster, else the
    default kubeconfig); ``dry_run`` has the API server validate it without keeping it."""
    if missing_module("kubernetes") is not None:
        raise SessionError(needs("submitting a session to a cluster", "kubernetes"))
    from tuneop.assembly.cli_clients import cluster_sessions

    try:
        sessions = cluster_sessions(kubeconfig)
    except Exception as err:  # a missing or broken kubeconfig: one line
        raise SessionError(
            f"kubeconfig: cannot load it ({type(err).__name__}); give kubeconfig=FILE"
        ) from None
    run = ClusterRun(sessions, session)
    try:
        obj = run.apply(dry_run=dry_run)
    except UsageError as err:
        run.close()
        raise SessionError(str(err)) from None
    return ClusterSession(run, _generation(obj))
