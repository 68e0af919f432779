"""Optuna's pruners for trials whose metrics tuneop reads: which running trials to stop.

With ``earlyStopping.type`` ``median``, ``successiveHalving`` or ``hyperband`` and a
``metricsCollector.kind`` of StdOut, File or TensorFlowEvent, the trial does not ask
the pruner itself (it runs no tuneop runner): the operator (or a local run) reads the
beginning of each running trial's output, at most ``FOLLOW_BYTES``, takes its curve and
asks **Optuna's own pruner** (built from ``pruner_settings``) whether to stop it.
Values a trial prints past those bytes are not seen while it runs (its harvest, at
its end, reads its whole log).

Stateless: each judgement builds an in-memory Optuna study from data alone, so the
same observation gives the same verdict, and an operator restarted in the middle of
a session decides as the one before it would have:

* the study is named ``core.jobs.pruning.study_name`` and its trial numbers are the
  tuneop trial indices (``hyperband`` picks a trial's bracket from the study's name
  and the trial's number: the missing numbers are filled by empty running trials,
  which no pruner looks at);
* the finished trials (the result store's history: ``TrialResult.intermediate``,
  at most ``MAX_HISTORY``, the newest) are fed in index order as if they had run
  one after another: each one's curve is reported through Optuna's ``Trial`` and the
  pruner asked at the steps where successive halving records a rung (the first
  reported step at or past ``minResource * reductionFactor**k``), so the
  ``completed_rung_k`` values are Optuna's own; then told its state (COMPLETE,
  PRUNED, FAIL). ``median`` needs no rungs: its finished trials are added whole;
* then each running trial read this time is replayed the same way, and its verdict
  is the first step at which the pruner says prune (``median``: checked at its last
  ``MAX_CHECKED`` steps; the earlier ones were checked at earlier reads).

A pruned trial keeps its curve up to that step, as a trial that asked the pruner
itself would have stopped there. With ``minResource`` (successive halving) or
``maxResource`` (hyperband) left to Optuna's ``auto``, the estimate is the one a
pruner makes over the trials finished when it is first asked, here the trials fed
before it in index order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from tuneop.api.early_stopping import EarlyStopping, pruner_settings
from tuneop.api.spec import SessionSpec
from tuneop.core.jobs.metricsfile import file_lines
from tuneop.core.jobs.observed import JobState, ObservedJob
from tuneop.core.jobs.pruning import HYPERBAND_MAX_NUMBER, operator_prunes
from tuneop.core.wire.contract import Outcome, TrialResult
from tuneop.core.wire.intermediate import Curve, stdout_curve

if TYPE_CHECKING:
    import optuna

__all__ = [
    "FOLLOW_BYTES",
    "MAX_CHECKED",
    "MAX_HISTORY",
    "MAX_NUMBER",
    "OPTUNA_TYPES",
    "Seen",
    "follows_output",
    "load_optuna",
    "needs_following",
    "prune_steps",
    "running_curve",
    "stopped_job",
]

# What of a running trial's output is read each time it is judged (from its start).
FOLLOW_BYTES = 1024 * 1024
MAX_HISTORY = 100  # finished trials a judgement feeds in (the highest indices)
MAX_CHECKED = 100  # median: a running trial's last steps checked at one read
# hyperband: trials numbered past this are not judged (the study is filled up to its
# number, and each question to the pruner reads every trial of it).
MAX_NUMBER = HYPERBAND_MAX_NUMBER
OPTUNA_TYPES = ("median", "successiveHalving", "hyperband")
_PRUNERS = {
    "median": "MedianPruner",
    "successiveHalving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
}
_DEFAULT_FACTOR = {"successiveHalving": 4, "hyperband": 3}


@dataclass(frozen=True)
class Seen:
    """A running trial's curve as read now."""

    trial: int
    curve: Curve


def follows_output(spec: SessionSpec) -> bool:
    """Whether the operator judges the session's running trials with an Optuna pruner."""
    es = spec.early_stopping
    return es is not None and es.type in OPTUNA_TYPES and operator_prunes(spec)


def needs_following(spec: SessionSpec, job: ObservedJob) -> bool:
    """Whether ``job`` is a running one-trial Job whose output the pruner judges."""
    return (
        follows_output(spec)
        and job.state is JobState.ACTIVE
        and not job.queued
        and len(job.trials) == 1
        and (spec.early_stopping is None or _numbered(spec.early_stopping, job.trials[0]))
    )


def _numbered(es: EarlyStopping, trial: int) -> bool:
    return es.type != "hyperband" or trial < MAX_NUMBER


def running_curve(spec: SessionSpec, output: str) -> Curve:
    """The objective's curve in the beginning of a running trial's output."""
    collector = spec.metrics_collector
    return stdout_curve(file_lines(output, collector), spec.objective.metric, collector)


def load_optuna() -> None:
    """Import Optuna now (it is imported when first needed; this costs a second or so)."""
    import optuna  # noqa: F401


def _pruner(es: EarlyStopping) -> optuna.pruners.BasePruner:
    import optuna

    cls = getattr(optuna.pruners, _PRUNERS[es.type])
    pruner: optuna.pruners.BasePruner = cls(**pruner_settings(es)["settings"])
    return pruner


def _rung_steps(curve: Curve, first: int, factor: int) -> list[int]:
    """The first reported step at or past ``first * factor**k``, for each k: where a
    successive-halving pruner records a rung (a superset of every bracket's rungs)."""
    steps, target = [s for s, _ in curve], first
    out: list[int] = []
    for step in steps:
        while step >= target:
            if not out or out[-1] != step:
                out.append(step)
            target *= factor
    return out


class _Replay:
    """One in-memory study, its trials created in index order, then replayed."""

    def __init__(self, spec: SessionSpec, name: str, numbers: Sequence[int]) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        es = spec.early_stopping
        assert es is not None
        self.es = es
        self.storage = optuna.storages.InMemoryStorage()
        self.study = optuna.create_study(
            storage=self.storage,
            study_name=name,
            direction=spec.objective.direction,
            pruner=_pruner(es),
            sampler=optuna.samplers.RandomSampler(seed=0),
        )
        study_id = self.storage.get_study_id_from_name(name)
        self.ids: dict[int, int] = {}
        numbered = es.type == "hyperband"  # only its brackets read the trials' numbers
        number = 0
        for index in numbers:
            while numbered and number < index:
                self.storage.create_new_trial(study_id)  # an empty filler
                number += 1
            self.ids[index] = self.storage.create_new_trial(study_id)
            number += 1
        self.first: int | None = es.min_resource  # the first rung's steps, once known
        self.completed: list[int] = []  # last steps of the trials told COMPLETE

    def _first_rung(self) -> int | None:
        if self.es.type == "hyperband":
            return self.first or 1  # Optuna's default minResource for hyperband
        if self.first is None and self.completed:
            # Optuna's estimate of an "auto" minResource: the pruner makes it (and keeps
            # it) the first time it is asked once a trial completed (``replay``).
            return max(max(self.completed) // 100, 1)
        return self.first

    def _asked_at(self, curve: Curve) -> list[int]:
        if self.es.type == "median":
            return [s for s, _ in curve[-MAX_CHECKED:]]
        first = self._first_rung()
        factor = self.es.reduction_factor or _DEFAULT_FACTOR[self.es.type]
        return [] if first is None else _rung_steps(curve, first, factor)

    def replay(self, index: int, curve: Curve, running: bool = True) -> int | None:
        """Report ``curve`` as trial ``index``; the first step the pruner said prune at,
        or None. A running trial stops there; a finished one (it ran on) goes on."""
        import optuna

        trial = optuna.trial.Trial(self.study, self.ids[index])
        asked = set(self._asked_at(curve))
        if asked and self.completed and self.es.type == "successiveHalving":
            self.first = self._first_rung()  # the pruner's estimate, kept from now on
        pruned: int | None = None
        for step, value in curve:
            if self.es.type != "median" and step not in asked and step != curve[-1][0]:
                continue  # successive halving reads a trial's values at its rungs only
            trial.report(value, step)
            if step in asked and trial.should_prune() and pruned is None:
                pruned = step
                if running:
                    break
        return pruned

    def finish(self, result: TrialResult) -> None:
        """Feed a finished trial: its curve replayed, then its state told."""
        from optuna.trial import TrialState

        index, curve = result.trial, result.intermediate
        complete = result.succeeded and result.value is not None
        if self.es.type == "median":
            for step, value in curve:  # the median reads every step of a finished trial
                self.storage.set_trial_intermediate_value(self.ids[index], step, value)
        elif curve:
            self.replay(index, curve, running=False)
        if complete:
            state = TrialState.COMPLETE
            if curve:
                self.completed.append(curve[-1][0])
        else:
            state = TrialState.PRUNED if result.outcome is Outcome.PRUNED else TrialState.FAIL
        values = [float(result.value)] if complete and result.value is not None else None
        self.storage.set_trial_state_values(self.ids[index], state, values)


def prune_steps(
    spec: SessionSpec, name: str, history: Sequence[TrialResult], running: Sequence[Seen]
) -> dict[int, int]:
    """Each running trial the pruner stops, with the step it stopped it at (see above)."""
    if not running:
        return {}
    finished = sorted((r for r in history if r.trial >= 0), key=lambda r: r.trial)
    finished = finished[-MAX_HISTORY:]
    seen = sorted(running, key=lambda s: s.trial)
    # A trial running again (a retry) is judged on its new run, not its earlier end.
    again = {s.trial for s in seen}
    es = spec.early_stopping
    assert es is not None, "only sessions whose pruner the operator runs are judged"
    # Hyperband's trials past MAX_NUMBER are never judged, nor compared against: their
    # filler trials would make each judgement grow with the session's highest number.
    finished = [r for r in finished if r.trial not in again and _numbered(es, r.trial)]
    numbers = sorted({*(r.trial for r in finished), *(s.trial for s in seen)})
    play = _Replay(spec, name, numbers)
    for result in finished:
        play.finish(result)
    out: dict[int, int] = {}
    for s in seen:
        if s.curve and (step := play.replay(s.trial, s.curve)) is not None:
            out[s.trial] = step
    return out


def stopped_job(spec: SessionSpec, job: ObservedJob, curve: Curve, step: int) -> ObservedJob:
    """``job`` finished, its trial ``Pruned`` at ``step`` with its curve up to that step,
    so the plan records it and deletes the Job (which stops its pod)."""
    es = spec.early_stopping
    assert es is not None
    kept = tuple((s, v) for s, v in curve if s <= step)
    value = kept[-1][1]
    why = (
        f"early stopped ({es.type}): Optuna's {_PRUNERS[es.type]} pruned it at step {step},"
        f" its value {value:.6g}"
    )
    metric = spec.objective.metric
    result = TrialResult(
        trial=job.trials[0],
        job_index=job.index,
        params=dict(job.params[0]) if job.params else {},
        outcome=Outcome.PRUNED,
        value=value,
        metrics={metric: value},
        error=why,
        intermediate=kept,
    )
    return replace(job, state=JobState.FAILED, reason="EarlyStopped", results=(result,))
