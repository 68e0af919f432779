"""Suggestions from the history: Optuna's samplers over the session's history.

A ``normal`` or ``logNormal`` parameter has no prior in Optuna: the study holds it
as a probability on (0, 1), suggested uniformly there (TPE's random start, and the
prior its estimators mix in), and each suggestion is drawn through the parameter's
inverse CDF (``tuneop.api.distributions``), so the prior is the normal one.

``bayesian`` (TPE, or NSGA-II) is described here; ``cmaes`` and ``gp`` plug
into the same path through the sampler factory of ``tuneop.core.suggest.samplers``,
which says how each one learns from a rebuilt study. Only TPE's and NSGA-II's
studies are kept between calls (and CMA-ES's replayed state).

The study is rebuilt from what is known (completed trials with their values,
failed ones, and the ones still running, which TPE's constant-liar mode treats
as pessimistic guesses so parallel workers spread out). The sampler is seeded
from the session seed and the index of the first trial asked, so the same
history gives the same suggestions. A suggestion, once launched, is recorded
with its Job (and then its result), so it is never asked again.

Optuna (with numpy and SQLAlchemy, about 28 MB of resident memory) is imported
on the first bayesian suggestion, not with this module: an operator or local
run that never meets a bayesian session never loads it.

A conditional space (``when``) is asked define-by-run: each parameter suggested only
when the values suggested before make it active, so a trial's params (and the history's
trials) hold exactly their active parameters.

With several objectives (``spec.objectives``) the study has one direction per
objective and each completed trial all its values: TPE is then Optuna's
multi-objective TPE. ``optimizer.sampler: nsga2`` picks NSGA-II, a genetic
algorithm whose generations Optuna keeps on each trial; a study rebuilt from
results has lost them, so trial ``i`` is put back in generation
``i // populationSize``, the generation it was asked in when trials complete
in order, a pure function of the trial number like everything else here.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from tuneop.api.errors import SpecError
from tuneop.api.session import SessionRef
from tuneop.api.spec import Scalar, SessionSpec
from tuneop.core.clock import SYSTEM_CLOCK
from tuneop.core.suggest.samplers import (
    GP_NEEDS,
    GP_STARTUP_TRIALS,
    CmaState,
    gp_available,
    liar_value,
    make_sampler,
    population,
)
from tuneop.core.suggest.space import ask_one, distribution, fits, of, to_study
from tuneop.core.wire.contract import Outcome, TrialResult

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

__all__ = [
    "Params",
    "SessionStudies",
    "Told",
    "distribution",
    "frozen_trial",
    "suggest",
]

Params = dict[str, Scalar]
Told = float | tuple[float, ...] | None  # a trial's value, its values (several objectives), or None


def suggest(
    spec: SessionSpec,
    history: Sequence[TrialResult],
    pending: Sequence[Params],
    first_trial: int,
    count: int,
) -> list[Params]:
    """``count`` new parameter sets for trials ``first_trial``, ``first_trial + 1``, ...,
    from a study built afresh from ``history`` (what ``SessionStudies`` keeps between
    calls instead)."""
    fresh = SessionStudies(max_sessions=1)
    return fresh.suggest(SessionRef("", ""), spec, history, pending, first_trial, count)


@dataclass
class _Kept:
    """One session's study between reconciles: whose (the object's uid) and for which spec."""

    uid: str
    spec: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    study: optuna.Study | None = None
    seen: dict[int, Told] = field(default_factory=dict)
    cma: CmaState | None = None
    used: float = 0.0  # when it last suggested (the monotonic clock of ``SessionStudies``)


class SessionStudies:
    """The ``Suggester`` port over Optuna: each session's study kept between reconciles.

    Rebuilding a study copies every past trial into Optuna's storage, which is
    most of the cost of a suggestion once a session has hundreds of trials.
    This keeps one study per session holding the completed history, adds only
    trials completed since the last call, and tells the suggestions it made
    (and the pending trials it added) as FAIL afterwards, which TPE ignores, so
    the study stays equal, for sampling, to a fresh rebuild from the same
    history. A history that does not extend the kept one (a restart) rebuilds
    from scratch. CMA-ES keeps its replayed state the same way
    (``samplers.CmaState``); GP builds its study afresh each time, its cost
    being the model's fit.

    A study belongs to a session object: it is kept under the session's
    namespace/name and holds that object's uid and spec, so two sessions with
    the same spec in different namespaces never share one, and a session
    deleted and created again under its name (another uid), or whose spec was
    edited, starts a study of its own. kopf reconciles sessions in threads: one
    lock guards the table, and each session's own lock its study (different
    sessions ask at once). One instance per operator or local run; ``release``
    drops a session's study when it ends or is deleted.

    A study holds its session's every trial (about 2.8 KB each): at most ``max_sessions``
    are kept, the most recently asked, and one not asked for ``idle_seconds`` is dropped at
    the next suggestion; it is rebuilt when next asked (7 ms at 100 trials, 50 at 1,000).
    """

    def __init__(
        self,
        max_sessions: int = 256,
        idle_seconds: float | None = None,
        monotonic: Callable[[], float] = SYSTEM_CLOCK.monotonic,
    ) -> None:
        self.max_sessions = max_sessions
        self.idle_seconds = idle_seconds
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._kept: dict[str, _Kept] = {}

    def suggest(
        self,
        ref: SessionRef,
        spec: SessionSpec,
        history: Sequence[TrialResult],
        pending: Sequence[Params],
        first_trial: int,
        count: int,
    ) -> list[Params]:
        if count <= 0:
            return []
        dists = {p.name: distribution(p) for p in spec.search_space}
        if any(p.gaussian for p in spec.search_space):
            history = [replace(r, params=to_study(r.params, spec)) for r in history]
            pending = [to_study(p, spec) for p in pending]
        usable = sorted((r for r in history if fits(r.params, dists, spec)), key=lambda r: r.trial)
        if spec.optimizer.type == "gp":
            return _gp(
                spec, usable, [p for p in pending if fits(p, dists, spec)], first_trial, count
            )
        kept = self._session(ref, spec)
        with kept.lock:
            if spec.optimizer.type == "cmaes":
                return _cma(kept, spec, dists, usable, first_trial, count)
            return _tpe(kept, spec, dists, usable, pending, first_trial, count)

    def release(self, ref: SessionRef) -> None:
        """Forget the study of a session that will ask no more (a later call rebuilds it);
        a ``ref`` without a uid releases whichever object holds its namespace/name."""
        with self._lock:
            kept = self._kept.get(ref.key)
            if kept is not None and (not ref.uid or kept.uid == ref.uid):
                del self._kept[ref.key]

    def study(self, ref: SessionRef) -> optuna.Study | None:
        """The study kept for ``ref`` (None when none is), for inspection."""
        with self._lock:
            kept = self._kept.get(ref.key)
        return kept.study if kept is not None and kept.uid == ref.uid else None

    def _session(self, ref: SessionRef, spec: SessionSpec) -> _Kept:
        """``ref``'s kept study, a fresh one for another object or spec; the most recently
        asked sessions are kept, the oldest forgotten beyond ``max_sessions``."""
        spec_json = spec.model_dump_json()
        now = self.monotonic()
        with self._lock:
            kept = self._kept.pop(ref.key, None)
            if kept is None or kept.uid != ref.uid or kept.spec != spec_json:
                kept = _Kept(ref.uid, spec_json)
            limit = math.inf if self.idle_seconds is None else self.idle_seconds
            for key in [k for k, v in self._kept.items() if now - v.used > limit]:
                del self._kept[key]
            kept.used = now
            self._kept[ref.key] = kept
            while len(self._kept) > self.max_sessions:
                del self._kept[next(iter(self._kept))]
            return kept


def _cma(
    kept: _Kept,
    spec: SessionSpec,
    dists: dict[str, BaseDistribution],
    usable: Sequence[TrialResult],
    first_trial: int,
    count: int,
) -> list[Params]:
    """CMA-ES (it ignores trials in flight): the kept replay, extended or replayed afresh."""
    known = {r.trial: _told(r, spec) for r in usable}
    if kept.cma is None or not kept.cma.extended_by(known):
        kept.cma = CmaState(spec, dists)
    kept.cma.add(usable)
    return _ask(kept.cma.ask_study(spec, first_trial), spec, dists, count)


def _tpe(
    kept: _Kept,
    spec: SessionSpec,
    dists: dict[str, BaseDistribution],
    usable: Sequence[TrialResult],
    pending: Sequence[Params],
    first_trial: int,
    count: int,
) -> list[Params]:
    """TPE or NSGA-II over the kept study, the trials in flight added as liars."""
    import optuna
    from optuna.trial import TrialState, create_trial

    known = {r.trial: _told(r, spec) for r in usable}
    if kept.study is None or any(known.get(t, "gone") != v for t, v in kept.seen.items()):
        directions = [o.direction for o in spec.all_objectives]
        kept.study, kept.seen = optuna.create_study(directions=directions), {}
    study = kept.study
    study.add_trials([frozen_trial(r, dists, spec) for r in usable if r.trial not in kept.seen])
    kept.seen.update(known)
    study.sampler = make_sampler(spec, first_trial)
    liars = [
        create_trial(params=p, distributions=of(dists, p), state=TrialState.RUNNING)
        for p in pending
        if fits(p, dists, spec)
    ]
    study.add_trials(liars)
    out = _ask(study, spec, dists, count)
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(frozen.number, state=TrialState.FAIL)
    _forget_parents(study)
    return out


def _ask(
    study: optuna.Study, spec: SessionSpec, dists: dict[str, BaseDistribution], count: int
) -> list[Params]:
    return [ask_one(study, spec, dists)[1] for _ in range(count)]


def _gp(
    spec: SessionSpec,
    usable: Sequence[TrialResult],
    pending: Sequence[Params],
    first_trial: int,
    count: int,
) -> list[Params]:
    """GP: a study built afresh, trials in flight lying pessimistically
    (``core.suggest.samplers``)."""
    import optuna
    from optuna.trial import TrialState, create_trial

    if spec.optimizer.type == "gp" and not gp_available():
        raise SpecError([GP_NEEDS])  # the operator fails the session, naming the field
    dists = {p.name: distribution(p) for p in spec.search_space}
    sampler = make_sampler(spec, first_trial)
    study = optuna.create_study(direction=spec.objective.direction, sampler=sampler)
    study.add_trials([frozen_trial(r, dists, spec) for r in usable])
    worst = liar_value(spec, usable)
    if sum(r.succeeded for r in usable) < GP_STARTUP_TRIALS:
        worst = None  # still sampling at random: lies would only end that early
    if worst is not None:
        lies = [create_trial(params=p, distributions=of(dists, p), value=worst) for p in pending]
        study.add_trials(lies)
    out: list[Params] = []
    for _ in range(count):
        trial, params = ask_one(study, spec, dists)
        out.append(params)
        if worst is None:
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, worst)
    return out


def _forget_parents(study: optuna.Study) -> None:
    """Drop NSGA-II's cached parents: it lists them in selection order when it picks them
    and in trial order when it reads them back, and the order steers its crossover, so a
    kept study would ask otherwise than one rebuilt from the same history."""
    from optuna.samplers import NSGAIISampler

    prefix = NSGAIISampler._get_parent_cache_key_prefix()
    for key in study._storage.get_study_system_attrs(study._study_id):
        if key.startswith(prefix):
            study._storage.set_study_system_attr(study._study_id, key, None)


def _told(r: TrialResult, spec: SessionSpec) -> Told:
    """What the study is told of a result: its value(s), or None when it failed."""
    if not r.succeeded:
        return None
    return r.values if spec.multi_objective else r.value


def frozen_trial(
    r: TrialResult, dists: dict[str, BaseDistribution], spec: SessionSpec
) -> optuna.trial.FrozenTrial:
    """A result as the sampler's history: complete with its value(s), pruned with its
    curve, else failed.

    TPE ranks a pruned trial below the complete ones by how far and how well it got,
    so early stopping's verdicts inform the next suggestions too. NSGA-II reads each
    trial's generation from its system attributes.
    """
    from optuna.samplers import NSGAIISampler
    from optuna.trial import TrialState, create_trial

    told = _told(r, spec)
    attrs: dict[str, Any] = {}
    if spec.optimizer.sampler == "nsga2":
        attrs[NSGAIISampler._get_generation_key()] = r.trial // population(spec)
    if told is not None:
        values = list(told) if isinstance(told, tuple) else [told]
        return create_trial(
            params=r.params, distributions=of(dists, r.params), values=values, system_attrs=attrs
        )
    if r.outcome is Outcome.PRUNED and r.intermediate and not spec.multi_objective:
        return create_trial(
            params=r.params,
            distributions=of(dists, r.params),
            state=TrialState.PRUNED,
            intermediate_values=dict(r.intermediate),
            system_attrs=attrs,
        )
    return create_trial(
        params=r.params,
        distributions=of(dists, r.params),
        state=TrialState.FAIL,
        system_attrs=attrs,
    )
