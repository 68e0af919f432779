"""The MLflow tracker as the assembly hands it out: built at the first tracked session.

``LazyTracker`` is the ``TrialTracker`` and ``Mirror`` a run is wired with; it
imports MLflow's client (``tuneop.adapters.mlflow_tracking``, a second or more
to import) only when a session tracked in MLflow comes along: through
``spec.tracking.mlflow``, or on a cluster the operator's default server
(``--mlflow-tracking-uri``, the chart's ``mlflow.trackingUri``) for a session
that names none. An operator without the ``mlflow`` extra says so once in its
log and runs such sessions untracked (the command line refuses them before
they start: ``tuneop.cli.run_command``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.api.tracking import MlflowTracking, Tracking
from tuneop.core.extras import missing_module, needs
from tuneop.core.planning.planner import JobToCreate
from tuneop.core.wire.contract import TrialResult
from tuneop.ports import MirrorRecord

if TYPE_CHECKING:
    from tuneop.adapters.mlflow_tracking import MlflowTracker

__all__ = ["LazyTracker"]

log = logging.getLogger(__name__)


class LazyTracker:
    """An ``MlflowTracker`` made when a tracked session first needs it (module doc)."""

    def __init__(
        self,
        *,
        secrets: bool,
        source: Callable[[SessionRef], Sequence[TrialResult]] | None,
        default_uri: str | None = None,
    ) -> None:
        self.secrets = secrets
        self.source = source
        self.default = None if not default_uri else MlflowTracking(tracking_uri=default_uri)
        self._tracker: MlflowTracker | None = None
        self._missing = False

    def _spec(self, spec: SessionSpec) -> SessionSpec | None:
        """``spec`` as tracked (with the default server if it names none), or None."""
        if spec.tracking is not None and spec.tracking.mlflow is not None:
            return spec
        if self.default is None:
            return None
        return replace_tracking(spec, Tracking(mlflow=self.default))

    def _get(self) -> MlflowTracker | None:
        if self._tracker is None and not self._missing:
            if missing_module("mlflow") is not None:
                self._missing = True
                missing = needs("spec.tracking.mlflow", "mlflow")
                log.warning("%s; its sessions run untracked", missing)
                return None
            from tuneop.adapters.mlflow_tracking import MlflowTracker

            self._tracker = MlflowTracker(secrets=self.secrets, source=self.source)
        return self._tracker

    def prepare(
        self, ref: SessionRef, spec: SessionSpec, jobs: Sequence[JobToCreate]
    ) -> list[JobToCreate]:
        tracked = self._spec(spec)
        tracker = None if tracked is None else self._get()
        if tracked is None or tracker is None:
            return list(jobs)
        return tracker.prepare(ref, tracked, jobs)

    def record(self, ref: SessionRef, spec: SessionSpec, change: MirrorRecord) -> None:
        tracked = self._spec(spec)
        tracker = None if tracked is None else self._get()
        if tracked is not None and tracker is not None:
            tracker.record(ref, tracked, change)

    def forget(self, key: str) -> None:
        """A deleted session (``namespace/name``) forgotten by the tracker, if one was made."""
        if self._tracker is not None:
            self._tracker.forget(key)

    def drain(self) -> bool:
        """Wait a while for MLflow to take what is queued (a local run's end)."""
        return True if self._tracker is None else self._tracker.drain()


def replace_tracking(spec: SessionSpec, tracking: Tracking) -> SessionSpec:
    return spec.model_copy(update={"tracking": tracking})
