"""A session's result records as an Optuna study: what the report and the export share.

Optuna's study is the common shape of tuning results: its visualization module
draws it, ``optuna-dashboard`` browses it, and any Optuna storage keeps it.
``study_trials`` turns result records (``tuneop.core.records``, already bounded)
into frozen Optuna trials, in tuneop's trial order:

- a trial that ``Succeeded`` with a finite objective value is ``COMPLETE``;
  every other outcome (failed, timed out, metrics unavailable, lost, cancelled)
  is ``FAIL``, with the tuneop outcome and error kept as user attributes;
  a trial early stopping ended (``Pruned``) is ``PRUNED``, its last value in
  the ``tuneop.lastValue`` user attribute (Optuna keeps no value for it);
- a trial's learning curve (the record's ``intermediate``) is its
  intermediate values, which the report draws as learning curves;
- each parameter's distribution is read off the values the session tried (the
  records hold values, not the search space): integers give an
  ``IntDistribution``, other numbers a ``FloatDistribution`` over the range
  seen, anything else a ``CategoricalDistribution`` of the values seen;
- user attributes keep tuneop's own names: ``tuneop.trial``, ``tuneop.jobIndex``,
  ``tuneop.outcome``, ``tuneop.error``, ``tuneop.durationSeconds`` and one
  ``metric.<name>`` per reported metric;
- a trial's start is its end less its ``durationSeconds`` (the records keep
  no start time), so the dashboard's timeline shows each trial's duration;
- with several objectives (records that carry ``objectives``), the study has
  a direction per objective and a trial is ``COMPLETE`` with every value.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from tuneop.core.contract import Outcome
from tuneop.core.records import Record
from tuneop.core.summary import default_direction, metric_value, objectives_of

__all__ = ["StudyData", "build_study", "distributions", "study_data", "study_trials"]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def distributions(records: Sequence[Record]) -> dict[str, BaseDistribution]:
    """Each parameter's distribution, from the values the session tried."""
    seen: dict[str, list[Any]] = {}
    for r in records:
        for name, value in (r.get("params") or {}).items():
            seen.setdefault(name, []).append(value)
    out: dict[str, BaseDistribution] = {}
    for name, values in seen.items():
        if all(_is_int(v) for v in values):
            out[name] = IntDistribution(min(values), max(values))
        elif all(_is_number(v) for v in values):
            out[name] = FloatDistribution(float(min(values)), float(max(values)))
        else:
            # Keyed by type too: True and 1 are equal in a set, but different choices.
            unique = {(type(v).__name__, repr(v)): v for v in values}
            out[name] = CategoricalDistribution([unique[k] for k in sorted(unique)])
    return out


def _param(dist: BaseDistribution, value: Any) -> Any:
    """The value as the distribution holds it (a float distribution holds floats)."""
    return float(value) if isinstance(dist, FloatDistribution) else value


def study_trials(
    records: Sequence[Record], metric: str, objectives: Sequence[str] = ()
) -> list[FrozenTrial]:
    """One frozen trial per record, in trial order (a storage numbers them from 0); with
    several ``objectives`` (their metrics) a completed trial holds each one's value."""
    dists = distributions(records)
    trials = []
    for r in sorted(records, key=lambda r: int(r["trial"])):
        found = [metric_value(r, m) for m in objectives or (metric,)]
        values = [v for v in found if v is not None]
        ok = r.get("outcome") == Outcome.SUCCEEDED and len(values) == len(found)
        pruned = r.get("outcome") == Outcome.PRUNED
        value = found[0]
        params = r.get("params") or {}
        attrs: dict[str, Any] = {
            "tuneop.trial": r["trial"],
            "tuneop.jobIndex": r.get("jobIndex", -1),
            "tuneop.outcome": r.get("outcome", "Unknown"),
            "tuneop.error": r.get("error"),
            "tuneop.durationSeconds": r.get("durationSeconds"),
        }
        attrs.update({f"metric.{k}": v for k, v in (r.get("metrics") or {}).items()})
        if pruned:
            attrs["tuneop.lastValue"] = value
        state = TrialState.COMPLETE if ok else TrialState.PRUNED if pruned else TrialState.FAIL
        trial = optuna.trial.create_trial(
            state=state,
            values=values if ok else None,
            intermediate_values={int(s): float(v) for s, v in r.get("intermediate") or []},
            params={k: _param(dists[k], v) for k, v in params.items()},
            distributions={k: dists[k] for k in params},
            user_attrs=attrs,
        )
        seconds = r.get("durationSeconds")
        if isinstance(seconds, float | int) and not isinstance(seconds, bool) and seconds >= 0:
            # A trial's span is its duration (the records keep no start time of their own).
            end = trial.datetime_complete or trial.datetime_start
            if end is not None:
                trial.datetime_start = end - timedelta(seconds=float(seconds))
        trials.append(trial)
    return trials


class StudyData:
    """The records of one session with the objective they are ranked by."""

    def __init__(
        self,
        records: Sequence[Record],
        metric: str,
        direction: str,
        objectives: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.records = list(records)
        self.metric = metric
        self.direction = direction
        # Several objectives: each (metric, direction); ``metric`` is the first.
        self.objectives = list(objectives)

    @property
    def session(self) -> str:
        names = sorted({str(r.get("session") or "") for r in self.records} - {""})
        return ", ".join(names) or "session"


def study_data(
    records: Sequence[Record], metric: str | None = None, direction: str | None = None
) -> StudyData:
    """The objective from the records themselves unless one is given: several objectives
    when the records carry them and no metric is asked for."""
    objectives = [] if metric else objectives_of(records)
    if objectives:
        return StudyData(records, objectives[0][0], objectives[0][1], objectives)
    found = [(r.get("objective") or {}).get("metric") for r in records]
    metric = metric or next((m for m in found if m), None) or "value"
    return StudyData(records, metric, direction or default_direction(records, metric))


def build_study(
    data: StudyData, storage: str | optuna.storages.BaseStorage | None = None, name: str = ""
) -> optuna.Study:
    """A new study holding every record as a trial (in memory unless ``storage`` is given)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directions = [d for _, d in data.objectives] or [data.direction]
    study = optuna.create_study(storage=storage, study_name=name or None, directions=directions)
    study.set_user_attr("tuneop.session", data.session)
    study.set_user_attr("tuneop.metric", data.metric)
    if data.objectives:
        study.set_user_attr("tuneop.objectives", [m for m, _ in data.objectives])
        with warnings.catch_warnings():  # experimental in Optuna 4; pinned and tested
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([m for m, _ in data.objectives])
    study.add_trials(study_trials(data.records, data.metric, [m for m, _ in data.objectives]))
    return study
