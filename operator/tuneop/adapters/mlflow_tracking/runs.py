"""The runs a session leaves in MLflow, found by their tags and written idempotently.

A session is a parent run in its experiment, tagged ``tuneop.session`` (the
session's ``namespace/name``) and ``tuneop.uid`` (the object's uid, empty for a
local session); each trial a nested run (``mlflow.parentRunId``) tagged besides
with ``tuneop.trial``. Every run is looked up by those tags before it is made,
so a restarted process (or a second write after a lost answer) finds the run it
made before instead of making another. A trial is logged once: its metrics, the
outcome and duration, the log excerpt as the artifact ``tuneop/log-excerpt.txt``,
then the tag ``tuneop.outcome`` and its end; a trial run that has that tag is
never logged again. Metrics carry timestamps taken from the run's own start
(the final ones at start plus the trial's duration), so a write repeated after
a crash between two of its calls logs the same points, which MLflow keeps once.

Names and values from a trial's output are untrusted: metric and parameter
names outside MLflow's characters are rewritten (``safe_key``), values cut to
MLflow's limits, non-finite metric values left out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient

from tuneop.api.session import SessionRef
from tuneop.core.clock import SYSTEM_CLOCK
from tuneop.core.wire.contract import Outcome, TrialResult

__all__ = [
    "EXCERPT_FILE",
    "TAG_OUTCOME",
    "TAG_SESSION",
    "TAG_TRIAL",
    "Runs",
    "SessionRuns",
    "safe_key",
]

TAG_SESSION = "tuneop.session"
TAG_UID = "tuneop.uid"
TAG_TRIAL = "tuneop.trial"
TAG_OUTCOME = "tuneop.outcome"
TAG_BEST = "tuneop.best"
EXCERPT_FILE = "tuneop/log-excerpt.txt"
MAX_PARAM_VALUE = 6000  # MLflow's limit on a parameter's value
MAX_KEY = 250
BATCH = 1000  # metrics per log_batch call (MLflow's limit)
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")
_STATUS = {Outcome.SUCCEEDED: "FINISHED", Outcome.PRUNED: "KILLED", Outcome.CANCELLED: "KILLED"}


def safe_key(name: str) -> str:
    """``name`` in the characters MLflow allows in a metric or parameter name."""
    return _UNSAFE.sub("_", name)[:MAX_KEY] or "_"


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class SessionRuns:
    """Where one session's runs are: its experiment and parent run."""

    experiment_id: str
    parent_id: str


class Runs:
    """One MLflow server's runs for tuneop's sessions (module doc)."""

    def __init__(self, client: MlflowClient) -> None:
        self.client = client

    def _find(self, experiment_id: str, tags: Mapping[str, str]) -> list[Any]:
        where = " and ".join(f"tags.`{k}` = {_quoted(v)}" for k, v in tags.items())
        return list(self.client.search_runs([experiment_id], where, max_results=10))

    def session(self, ref: SessionRef, experiment: str, tags: Mapping[str, str]) -> SessionRuns:
        """The session's experiment and parent run, made if missing."""
        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            experiment_id = self.client.create_experiment(experiment)
        else:
            experiment_id = found.experiment_id
        key = {TAG_SESSION: ref.key, TAG_UID: ref.uid or ""}
        runs = [r for r in self._find(experiment_id, key) if TAG_TRIAL not in r.data.tags]
        if runs:
            return SessionRuns(experiment_id, runs[0].info.run_id)
        run = self.client.create_run(experiment_id, tags={**key, **tags}, run_name=ref.name)
        return SessionRuns(experiment_id, run.info.run_id)

    def trial(
        self, ref: SessionRef, where: SessionRuns, trial: int, params: Mapping[str, Any]
    ) -> Any:
        """The trial's nested run (an ``mlflow.entities.Run``), made with its params if
        missing."""
        key = {TAG_SESSION: ref.key, TAG_UID: ref.uid or "", TAG_TRIAL: str(trial)}
        runs = self._find(where.experiment_id, key)
        if runs:
            return runs[0]
        tags = {**key, "mlflow.parentRunId": where.parent_id}
        run = self.client.create_run(where.experiment_id, tags=tags, run_name=f"trial-{trial}")
        batch = [Param(safe_key(k), _text(v)[:MAX_PARAM_VALUE]) for k, v in sorted(params.items())]
        for start in range(0, len(batch), 100):  # MLflow takes 100 params a call
            self.client.log_batch(run.info.run_id, params=batch[start : start + 100])
        return run

    def finish_trial(
        self,
        ref: SessionRef,
        where: SessionRuns,
        result: TrialResult,
        metric: str,
        excerpt: str | None,
    ) -> str:
        """Log ``result`` on its trial's run once (``metric``: the objective, whose
        intermediate values it carries); the run's id."""
        run = self.trial(ref, where, result.trial, result.params)
        run_id: str = run.info.run_id
        if TAG_OUTCOME in run.data.tags:
            return run_id  # logged before (this process or an earlier one)
        start = int(run.info.start_time or 0)
        duration_ms = int((result.duration_seconds or 0.0) * 1000)
        metrics = _metrics(result, metric, start, start + duration_ms)
        for first in range(0, len(metrics), BATCH):
            self.client.log_batch(run_id, metrics=metrics[first : first + BATCH])
        if excerpt:
            self.client.log_text(run_id, excerpt, EXCERPT_FILE)
        tags = [RunTag(TAG_OUTCOME, str(result.outcome))]
        if result.error:
            tags.append(RunTag("tuneop.error", result.error[:MAX_PARAM_VALUE]))
        if result.duration_seconds is not None:
            tags.append(RunTag("tuneop.duration_seconds", f"{result.duration_seconds:.3f}"))
        self.client.log_batch(run_id, tags=tags)
        self._terminate(run_id, _STATUS.get(result.outcome, "FAILED"), start + duration_ms)
        return run_id

    def _terminate(self, run_id: str, status: str, end_time: int) -> None:
        """End the run at ``end_time``. Through the client's store: its ``set_terminated``
        also prints the run's URL on this process's stdout, the user's terminal."""
        store = self.client._tracking_client.store
        store.update_run_info(run_id, RunStatus.from_string(status), end_time, None)

    def best(self, ref: SessionRef, where: SessionRuns, trial: int, value: float) -> None:
        """Tag ``trial`` as the session's best, and no other trial."""
        key = {TAG_SESSION: ref.key, TAG_UID: ref.uid or "", TAG_BEST: "true"}
        tagged = self._find(where.experiment_id, key)
        for run in tagged:
            if run.data.tags.get(TAG_TRIAL) != str(trial):
                self.client.set_tag(run.info.run_id, TAG_BEST, "false")
        if not any(run.data.tags.get(TAG_TRIAL) == str(trial) for run in tagged):
            run = self.trial(ref, where, trial, {})
            self.client.set_tag(run.info.run_id, TAG_BEST, "true")
        self.client.log_batch(
            where.parent_id,
            tags=[RunTag("tuneop.best_trial", str(trial))],
            # At the time it is found: the latest value is the one MLflow shows.
            metrics=[Metric("best_value", value, _now_ms(), 0)] if math.isfinite(value) else [],
        )

    def end_session(self, where: SessionRuns, phase: str, succeeded: bool) -> None:
        self.client.set_tag(where.parent_id, "tuneop.phase", phase)
        status = "FINISHED" if succeeded else "FAILED"
        self._terminate(where.parent_id, status, _now_ms())

    def logged_trials(self, ref: SessionRef, where: SessionRuns) -> set[int]:
        """The trials of the session whose results were logged (a restart's backfill)."""
        key = {TAG_SESSION: ref.key, TAG_UID: ref.uid or ""}
        where_ = " and ".join(f"tags.`{k}` = {_quoted(v)}" for k, v in key.items())
        done: set[int] = set()
        token = None
        while True:
            page = self.client.search_runs(
                [where.experiment_id], where_, max_results=1000, page_token=token
            )
            for run in page:
                tags = run.data.tags
                if TAG_OUTCOME in tags and tags.get(TAG_TRIAL, "").isdigit():
                    done.add(int(tags[TAG_TRIAL]))
            token = page.token
            if not token:
                return done


def _now_ms() -> int:
    return int(SYSTEM_CLOCK.now().timestamp() * 1000)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _metrics(result: TrialResult, metric: str, start: int, end: int) -> list[Metric]:
    """The objective's intermediate values at their steps, then the final metrics at the
    last step (a later timestamp: MLflow shows the final value as the latest)."""
    out: list[Metric] = []
    last_step = 0
    for step, value in result.intermediate:
        last_step = max(last_step, int(step))
        if math.isfinite(value):
            out.append(Metric(safe_key(metric), float(value), start, int(step)))
    for key, value in sorted(result.metrics.items()):
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            out.append(Metric(safe_key(key), float(value), end, last_step))
    return out
