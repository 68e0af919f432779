"""Early stopping from inside the worker: the session's Optuna study, where trials meet.

With ``spec.earlyStopping`` the operator hands every worker the pruner
(``TUNEOP_EARLY_STOPPING``: its type and Optuna settings, the metric, its
direction, the study's name) and where the session's trials meet
(``TUNEOP_PRUNING_STORAGE``): an Optuna journal storage, in a file for a
local run or in Redis on a cluster (``redis://`` or ``rediss://``). Each
trial takes a seat in that study (``study.ask``), reports its intermediate
values into it, asks Optuna's pruner whether to stop, and ends with its state
(complete with its value, pruned, or failed), so every worker's pruner
judges against the others' curves. The design is in docs/concepts.md
("Early stopping").

Optuna (and redis for a Redis storage) is imported only here, only when a
session asks for early stopping; the runner stays standard-library only
otherwise (``pip install tuneop-runner[pruning]`` brings them).

The storage never fails a trial: when it cannot be reached (Redis down or
hung: a request waits at most ``REDIS_TIMEOUT_SECONDS``) the trial says so
once on stderr and runs on unpruned, printing its intermediate lines as
always; the next trial tries the storage again.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tuneop_runner.config import ConfigError
from tuneop_runner.contract import ReportStatus, truncate_error

__all__ = [
    "ENV_EARLY_STOPPING",
    "ENV_PRUNING_STORAGE",
    "REDIS_TIMEOUT_SECONDS",
    "PrunerConfig",
    "PruningStudy",
    "SeatInStudy",
    "parse_pruner_config",
]

ENV_EARLY_STOPPING = "TUNEOP_EARLY_STOPPING"
ENV_PRUNING_STORAGE = "TUNEOP_PRUNING_STORAGE"
REDIS_TIMEOUT_SECONDS = 2
_PRUNERS = {
    "median": (
        "MedianPruner",
        {"n_warmup_steps", "n_startup_trials", "interval_steps", "n_min_trials"},
    ),
    "successiveHalving": (
        "SuccessiveHalvingPruner",
        {"min_resource", "reduction_factor", "min_early_stopping_rate"},
    ),
    "hyperband": ("HyperbandPruner", {"min_resource", "max_resource", "reduction_factor"}),
}


@dataclass(frozen=True)
class PrunerConfig:
    kind: str
    settings: dict[str, int]
    metric: str
    direction: str
    study: str
    storage: str | None


def _is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "unix://"))


def parse_pruner_config(env: Mapping[str, str]) -> PrunerConfig | None:
    """The session's pruner from the environment; None without early stopping."""
    text = env.get(ENV_EARLY_STOPPING, "").strip()
    if not text:
        return None
    try:
        doc = json.loads(text)
        kind, settings = doc["type"], dict(doc.get("settings") or {})
        metric, direction, study = str(doc["metric"]), str(doc["direction"]), str(doc["study"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{ENV_EARLY_STOPPING} is not a pruner's JSON: {exc}") from exc
    if kind not in _PRUNERS or direction not in ("minimize", "maximize"):
        raise ConfigError(f"{ENV_EARLY_STOPPING}: unknown type or direction")
    unknown = sorted(set(settings) - _PRUNERS[kind][1])
    if unknown or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in settings.values()
    ):
        raise ConfigError(f"{ENV_EARLY_STOPPING}: bad settings for {kind}: {unknown or settings}")
    storage = env.get(ENV_PRUNING_STORAGE, "").strip() or None
    needs = ["optuna"] + (["redis"] if storage and _is_redis(storage) else [])
    missing = [m for m in needs if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"early stopping needs {' and '.join(missing)}: install tuneop-runner[pruning]"
        )
    return PrunerConfig(kind, settings, metric, direction, study, storage)


def _warn(message: str) -> None:
    print(f"tuneop-runner: early stopping: {truncate_error(message)}", file=sys.stderr, flush=True)


def _with_timeouts(url: str) -> str:
    """A Redis URL whose requests give up after ``REDIS_TIMEOUT_SECONDS`` unless it says."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for key in ("socket_timeout", "socket_connect_timeout"):
        query.setdefault(key, str(REDIS_TIMEOUT_SECONDS))
    return urlunsplit(parts._replace(query=urlencode(query)))


class SeatInStudy:
    """One trial in the session's study: reports, pruning decisions, its end."""

    def __init__(self, study: Any, trial: Any) -> None:
        self._study = study
        self._trial = trial
        self._broken = False

    def _guard(self, what: str, call: Any, default: Any = None) -> Any:
        if self._broken:
            return default
        try:
            return call()
        except Exception as exc:  # the storage never fails a trial (see the module)
            self._broken = True
            _warn(f"{what} failed ({type(exc).__name__}); this trial runs on unpruned")
            return default

    def report(self, step: int, value: float) -> None:
        self._guard("reporting", lambda: self._trial.report(value, step))

    def should_prune(self) -> bool:
        return bool(self._guard("asking the pruner", self._trial.should_prune, False))

    def finish(self, status: ReportStatus, value: float | None) -> None:
        from optuna.trial import TrialState

        if status is ReportStatus.SUCCEEDED and value is not None and math.isfinite(value):
            self._guard("ending the trial", lambda: self._study.tell(self._trial, value))
            return
        state = TrialState.PRUNED if status is ReportStatus.PRUNED else TrialState.FAIL
        self._guard("ending the trial", lambda: self._study.tell(self._trial, state=state))


class PruningStudy:
    """The session's study in its journal storage, opened on first use."""

    def __init__(self, config: PrunerConfig) -> None:
        self.config = config
        self._study: Any = None
        self._said_no_storage = False

    def _open(self) -> Any:
        import optuna
        from optuna.storages import journal

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        c = self.config
        assert c.storage is not None
        if _is_redis(c.storage):
            prefix = f"tuneop:pruning:{c.study}"
            with warnings.catch_warnings():  # experimental in Optuna 4.6; pinned and tested
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                url = _with_timeouts(c.storage)
                backend: Any = journal.JournalRedisBackend(url, prefix=prefix)
        else:
            backend = journal.JournalFileBackend(c.storage)
        pruner = getattr(optuna.pruners, _PRUNERS[c.kind][0])(**c.settings)
        return optuna.create_study(
            study_name=c.study,
            storage=journal.JournalStorage(backend),
            direction=c.direction,
            pruner=pruner,
            sampler=optuna.samplers.RandomSampler(),
            load_if_exists=True,
        )

    def begin(self, trial: int) -> SeatInStudy | None:
        """A seat for ``trial``, or None (and a line on stderr) when the study is out of reach."""
        if self.config.storage is None:
            if not self._said_no_storage:
                self._said_no_storage = True
                _warn(f"{ENV_PRUNING_STORAGE} is not set: trials report but are never pruned")
            return None
        try:
            if self._study is None:
                self._study = self._open()
            seat = self._study.ask()
            seat.set_user_attr("tuneop.trial", trial)
        except Exception as exc:  # the storage never fails a trial (see the module)
            self._study = None
            _warn(f"the study is out of reach ({type(exc).__name__}); trial {trial} runs unpruned")
            return None
        return SeatInStudy(self._study, seat)
