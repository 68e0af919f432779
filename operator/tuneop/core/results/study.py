"""A session's result records as an Optuna study: what the report and the export share.

Optuna's study is the common shape of tuning results: its visualization module
draws it, ``optuna-dashboard`` browses it, and any Optuna storage keeps it.
``study_trials`` turns result records (``tuneop.core.results.records``, already bounded)
into frozen Optuna trials, in tuneop's trial order:

- a trial that ``Succeeded`` with a finite objective value is ``COMPLETE``;
  every other outcome (failed, timed out, metrics unavailable, lost, cancelled)
  is ``FAIL``, with the tuneop outcome and error kept as user attributes;
  a trial early stopping ended (``Pruned``) is ``PRUNED``, its last value in
  the ``tuneop.lastValue`` user attribute (Optuna keeps no value for it);
- a trial's learning curve (the record's ``intermediate``) is its
  intermediate values, which the report draws as learning curves;
- each parameter's distribution is the one the spec declared
  (``declared_distributions``: bounds, ``log``, ``step`` and choices as written,
  from the ``spec.json`` the session recorded), so plots draw a log-scale
  parameter on a log axis and an exported study samples the same space; a
  parameter the spec did not declare (an explicit trial list) or whose tried
  values fall outside the declared space gets one read off the values tried:
  integers give an ``IntDistribution``, other numbers a ``FloatDistribution``
  over the range seen, anything else a ``CategoricalDistribution`` of the
  values seen;
- a ``normal`` or ``logNormal`` parameter (Optuna has no such distribution) gets one
  read off the values tried, and the study's ``tuneop.distributions`` user attribute
  says its draw in words;
- a conditional parameter (``when``) is in the trials where it was active only (each
  trial's distributions are those of its own params), and the study's
  ``tuneop.conditions`` user attribute says when each one is active;
- user attributes keep tuneop's own names: ``tuneop.trial``, ``tuneop.jobIndex``,
  ``tuneop.outcome``, ``tuneop.error``, ``tuneop.durationSeconds`` and one
  ``metric.<name>`` per reported metric;
- a trial's start is its end less its ``durationSeconds`` (the records keep
  no start time), so the dashboard's timeline shows each trial's duration;
- with several objectives (records that carry ``objectives``), the study has
  a direction per objective and a trial is ``COMPLETE`` with every value;
- the study's metric names (``set_metric_names``) are the objectives' metrics,
  so Optuna and its dashboard call the value ``loss``, not ``Objective 0``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
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

from tuneop.api.conditions import describe as describe_condition
from tuneop.api.distributions import describe
from tuneop.api.parameters import Parameter
from tuneop.api.spec import SessionSpec
from tuneop.core.results.records import Record
from tuneop.core.results.summary import default_direction, metric_value, objectives_of
from tuneop.core.wire.contract import Outcome

__all__ = [
    "EXPORT_ATTR",
    "StudyData",
    "build_study",
    "declared_distributions",
    "distributions",
    "prepare_study",
    "spec_study_data",
    "study_data",
    "study_directions",
    "study_trials",
]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def declared_distributions(space: Sequence[Parameter]) -> dict[str, BaseDistribution]:
    """Each declared parameter as Optuna's distribution: bounds, log scale, grid step and
    choices as the spec wrote them (a grid's ``max`` brought down onto its last point, as
    tuneop's grid never goes past it)."""
    out: dict[str, BaseDistribution] = {}
    for p in space:
        if p.gaussian:  # a normal draw has no bounds: its range is read off the values
            continue
        if p.type == "categorical":
            out[p.name] = CategoricalDistribution(list(p.values or []))
            continue
        assert p.min is not None and p.max is not None
        if p.type == "int":
            step = int(p.step or 1)
            low, high = int(p.min), int(p.max)
            high = low + (high - low) // step * step
            out[p.name] = IntDistribution(low, high, log=p.log, step=step)
        elif p.step is not None:
            last = p.min + math.floor((p.max - p.min) / p.step + 1e-9) * p.step
            with warnings.catch_warnings():  # Optuna's own rounding of the last grid point
                warnings.simplefilter("ignore", UserWarning)
                out[p.name] = FloatDistribution(p.min, max(last, p.min), step=p.step)
        else:
            out[p.name] = FloatDistribution(p.min, p.max, log=p.log)
    return out


def _fits(dist: BaseDistribution, value: Any) -> bool:
    """Whether a value tried lies in the declared distribution (type included: ``True``
    is no choice ``1``, a string no number)."""
    if isinstance(dist, CategoricalDistribution):
        return any(type(c) is type(value) and c == value for c in dist.choices)
    if not _is_number(value) or (isinstance(dist, IntDistribution) and not _is_int(value)):
        return False
    try:
        return bool(dist._contains(dist.to_internal_repr(value)))
    except (ValueError, TypeError, OverflowError):
        return False


def distributions(
    records: Sequence[Record], declared: Mapping[str, BaseDistribution] | None = None
) -> dict[str, BaseDistribution]:
    """Each parameter's distribution: the declared one when every value tried fits it,
    else one read off the values the session tried."""
    seen: dict[str, list[Any]] = {}
    for r in records:
        for name, value in (r.get("params") or {}).items():
            seen.setdefault(name, []).append(value)
    out: dict[str, BaseDistribution] = {}
    for name, values in seen.items():
        dist = (declared or {}).get(name)
        if dist is not None and all(_fits(dist, v) for v in values):
            out[name] = dist
        elif all(_is_int(v) for v in values):
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
    records: Sequence[Record],
    metric: str,
    objectives: Sequence[str] = (),
    declared: Mapping[str, BaseDistribution] | None = None,
) -> list[FrozenTrial]:
    """One frozen trial per record, in trial order (a storage numbers them from 0); with
    several ``objectives`` (their metrics) a completed trial holds each one's value."""
    dists = distributions(records, declared)
    ordered = sorted(records, key=lambda r: int(r["trial"]))
    return [_study_trial(r, metric, objectives, dists) for r in ordered]


def _study_trial(
    r: Record, metric: str, objectives: Sequence[str], dists: Mapping[str, BaseDistribution]
) -> FrozenTrial:
    found = [metric_value(r, m) for m in objectives or (metric,)]
    values = [v for v in found if v is not None]
    ok = r.get("outcome") == Outcome.SUCCEEDED and len(values) == len(found)
    pruned = r.get("outcome") == Outcome.PRUNED
    params = r.get("params") or {}
    attrs = _attrs(r)
    if pruned:
        attrs["tuneop.lastValue"] = found[0]
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
    return trial


def _attrs(r: Record) -> dict[str, Any]:
    """What the record says beyond params and values, as the trial's user attributes."""
    attrs: dict[str, Any] = {
        "tuneop.trial": r["trial"],
        "tuneop.jobIndex": r.get("jobIndex", -1),
        "tuneop.outcome": r.get("outcome", "Unknown"),
        "tuneop.error": r.get("error"),
        "tuneop.durationSeconds": r.get("durationSeconds"),
    }
    attrs.update({f"metric.{k}": v for k, v in (r.get("metrics") or {}).items()})
    return attrs


class StudyData:
    """The records of one session with the objective they are ranked by."""

    def __init__(
        self,
        records: Sequence[Record],
        metric: str,
        direction: str,
        objectives: Sequence[tuple[str, str]] = (),
        space: Mapping[str, BaseDistribution] | None = None,
        drawn: Mapping[str, str] | None = None,
        conditions: Mapping[str, str] | None = None,
    ) -> None:
        self.records = list(records)
        self.metric = metric
        self.direction = direction
        # Several objectives: each (metric, direction); ``metric`` is the first.
        self.objectives = list(objectives)
        # The declared search space (``declared_distributions``); empty when unknown.
        self.space = dict(space or {})
        # Each normal or log-normal parameter's draw in words (``distributions.describe``).
        self.drawn = dict(drawn or {})
        # When each conditional parameter is active, in words (``conditions.describe``).
        self.conditions = dict(conditions or {})

    def notes(self) -> list[tuple[str, str]]:
        """What the report says of parameters: each one's condition, then each draw."""
        return sorted(self.conditions.items()) + sorted(self.drawn.items())

    @property
    def session(self) -> str:
        names = sorted({str(r.get("session") or "") for r in self.records} - {""})
        return ", ".join(names) or "session"


def study_data(
    records: Sequence[Record],
    metric: str | None = None,
    direction: str | None = None,
    space: Sequence[Parameter] = (),
) -> StudyData:
    """The objective from the records themselves unless one is given: several objectives
    when the records carry them and no metric is asked for. ``space``: the search space
    the spec declared, when it is known."""
    declared = declared_distributions(space)
    drawn = {p.name: describe(p) for p in space if p.gaussian}
    conditions = {p.name: describe_condition(p) for p in space if p.when}
    objectives = [] if metric else objectives_of(records)
    if objectives:
        first, way = objectives[0]
        return StudyData(records, first, way, objectives, declared, drawn, conditions)
    found = [(r.get("objective") or {}).get("metric") for r in records]
    metric = metric or next((m for m in found if m), None) or "value"
    direction = direction or default_direction(records, metric)
    return StudyData(records, metric, direction, [], declared, drawn, conditions)


# A study ``build_study`` wrote: "incomplete" until its last trial is in.
EXPORT_ATTR = "tuneop.export"


def build_study(
    data: StudyData, storage: str | optuna.storages.BaseStorage | None = None, name: str = ""
) -> optuna.Study:
    """A new study holding every record as a trial (in memory unless ``storage`` is given).
    It says ``EXPORT_ATTR: incomplete`` until its last trial is in: an export stopped
    midway (Ctrl-C, a lost connection) is known as such and can be replaced."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=storage, study_name=name or None, directions=study_directions(data)
    )
    study.set_user_attr(EXPORT_ATTR, "incomplete")
    prepare_study(study, data, data.session)
    objectives = [m for m, _ in data.objectives]
    study.add_trials(study_trials(data.records, data.metric, objectives, data.space))
    study.set_user_attr(EXPORT_ATTR, "complete")
    return study


def study_directions(data: StudyData) -> list[str]:
    """The study's directions: one per objective."""
    return [d for _, d in data.objectives] or [data.direction]


def prepare_study(study: optuna.Study, data: StudyData, session: str) -> None:
    """The study's user attributes and metric names, as the export and the live mirror
    write them."""
    study.set_user_attr("tuneop.session", session)
    study.set_user_attr("tuneop.metric", data.metric)
    if data.objectives:
        study.set_user_attr("tuneop.objectives", [m for m, _ in data.objectives])
    if data.drawn:  # Optuna has no normal distribution: the export says it in words
        study.set_user_attr("tuneop.distributions", data.drawn)
    if data.conditions:  # a trial holds only its active parameters: when each one is
        study.set_user_attr("tuneop.conditions", data.conditions)
    with warnings.catch_warnings():  # experimental in Optuna 4; pinned and tested
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([m for m, _ in data.objectives] or [data.metric])


def spec_study_data(spec: SessionSpec, records: Sequence[Record]) -> StudyData:
    """``records`` of a session whose spec is known: its objectives and declared space."""
    objectives = [(o.metric, o.direction) for o in spec.all_objectives]
    space = spec.search_space or []
    return StudyData(
        records,
        spec.objective.metric,
        spec.objective.direction,
        objectives if spec.multi_objective else (),
        declared_distributions(space),
        {p.name: describe(p) for p in space if p.gaussian},
    )
