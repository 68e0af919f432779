"""The samplers behind the optimizers that learn from history, keyed by optimizer type.

``bayesian`` is Optuna's TPE (multi-objective TPE with several objectives,
or NSGA-II with ``optimizer.sampler: nsga2``), ``cmaes`` its CMA-ES (``CmaEsSampler``, over
the ``cmaes`` package) and ``gp`` its Gaussian process (``GPSampler``, over
PyTorch on the CPU). Each is seeded from the session seed and the first trial
asked, so the same history gives the same suggestions; ``core.suggest.bayesian``
builds the study from the history and asks.

How each learns from a history rebuilt into a fresh study:

- TPE reads the completed trials directly (``study.add_trials``).
- CMA-ES keeps its state (the mean, the covariance, the generation) in trial
  attributes it writes while it samples, which results do not carry. So the
  history is *replayed*: trial after trial, in trial order, the sampler runs
  its sampling step on a trial holding that trial's real params, then the
  value is told. The state is exactly the one a sequential run that had
  tried those params would have: a pure function of the history.
- GP fits its model to the completed trials each time; it has no notion of
  trials still running, so the params in flight (and the ones suggested
  earlier in the same call) are added as completed with the worst value seen
  (a pessimistic constant liar): parallel workers spread out instead of
  asking the same point.

Conditional parameters (``when``): TPE groups the parameters that occur together
(``group=True``, with its multivariate default); CMA-ES and GP model the parameters
every trial has and draw the others independently.

Categorical parameters: CMA-ES models numbers only; Optuna samples a
categorical parameter of a ``cmaes`` session independently, at random
(seeded). GP handles categoricals in its kernel.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tuneop.api.conditions import conditional
from tuneop.api.spec import SessionSpec
from tuneop.core.wire.contract import TrialResult

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

__all__ = [
    "DEFAULT_POPULATION",
    "GP_NEEDS",
    "GP_STARTUP_TRIALS",
    "CmaState",
    "gp_available",
    "liar_value",
    "make_sampler",
    "missing_extra",
    "population",
    "seed_of",
    "suggest_from",
]

GP_NEEDS = (
    "spec.optimizer.type: gp needs PyTorch, which this Python does not have;"
    " install it with pip install 'tuneop[gp]'"
)

DEFAULT_POPULATION = 50  # Optuna's NSGA-II default

# GPSampler's default: the first ten trials are sampled at random, then the model leads.
GP_STARTUP_TRIALS = 10


def seed_of(spec: SessionSpec, first_trial: int) -> int:
    """The sampler's seed: the session seed and the first trial asked."""
    return (spec.optimizer.seed * 1_000_003 + first_trial) % 2**32


def population(spec: SessionSpec) -> int:
    """NSGA-II's generation size."""
    return spec.optimizer.population_size or DEFAULT_POPULATION


def missing_extra(spec: SessionSpec) -> str | None:
    """The optional package this session's optimizer needs and this Python lacks, or None."""
    from tuneop.core.suggest.search import QMC_NEEDS, qmc_available

    if spec.optimizer.type == "gp" and not gp_available():
        return GP_NEEDS
    if spec.optimizer.type == "qmc" and not qmc_available():
        return QMC_NEEDS
    return None


def gp_available() -> bool:
    """Whether ``GPSampler`` can run here (it imports PyTorch when it first samples)."""
    import importlib.util

    # GPSampler optimizes its acquisition function with scipy (the gp extra has both).
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "scipy"))


def make_sampler(spec: SessionSpec, first_trial: int) -> optuna.samplers.BaseSampler:
    """The Optuna sampler of ``spec.optimizer.type``, seeded."""
    import optuna

    seed = seed_of(spec, first_trial)
    kind = spec.optimizer.type
    with warnings.catch_warnings():
        # Some of these are flagged experimental in some Optuna releases; we pin and test them.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if kind == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        if kind == "gp":
            return optuna.samplers.GPSampler(
                seed=seed, n_startup_trials=GP_STARTUP_TRIALS, warn_independent_sampling=False
            )
        assert kind == "bayesian", f"{kind} is not a learning optimizer"
        if spec.optimizer.sampler == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed, population_size=population(spec))
        joint = spec.optimizer.multivariate is not False
        # A conditional space: TPE models each group of parameters that occur together
        # (Optuna's define-by-run groups), not only those every trial has.
        grouped = conditional(spec.search_space)
        return optuna.samplers.TPESampler(
            seed=seed,
            constant_liar=True,
            multivariate=joint,
            group=joint and grouped,
            **_quiet_independent_sampling(grouped),
        )


def _quiet_independent_sampling(grouped: bool) -> dict[str, Any]:
    """TPE's ``warn_independent_sampling``, passed only where Optuna still takes it: a
    grouped space draws the parameters outside its groups independently by design, so
    TPE is told not to warn. Optuna 4.9 deprecated the argument (passing it at all warns,
    on every trial) and warns no more by default: there it is left out."""
    import optuna

    if _deprecates_warning(optuna.samplers.TPESampler) or not grouped:
        return {}
    return {"warn_independent_sampling": False}


@functools.cache
def _deprecates_warning(sampler: type) -> bool:
    """Whether ``sampler`` deprecates ``warn_independent_sampling`` (TPE in 4.9: its
    default None, then False); read once per class, not for every sampler made."""
    import inspect

    taken = inspect.signature(sampler).parameters
    return bool(taken["warn_independent_sampling"].default is None)


class CmaState:
    """CMA-ES's state replayed from a history in trial order, extended as trials complete.

    The replay keeps every completed trial with the attributes CMA-ES wrote on
    it. ``ask_study`` hands the sampler only what it reads back (the trial
    holding its latest state and the current generation's trials), so the
    suggestions do not depend on how the state was reached: one replay grown
    call after call and one rebuilt at once give the same ones.
    """

    def __init__(self, spec: SessionSpec, dists: dict[str, BaseDistribution]) -> None:
        import optuna

        self.dists = dists
        self.direction = spec.objective.direction
        sampler = make_sampler(spec, 0)  # only the values told move CMA-ES, not its draws
        self.study = optuna.create_study(direction=self.direction, sampler=sampler)
        self.seen: dict[int, float | None] = {}

    def extended_by(self, known: Mapping[int, object]) -> bool:
        """Whether ``known`` keeps every trial replayed and adds only later ones."""
        if any(known.get(t, "gone") != v for t, v in self.seen.items()):
            return False
        last = max(self.seen, default=None)
        return last is None or all(t > last for t in known if t not in self.seen)

    def add(self, results: Sequence[TrialResult]) -> None:
        """Replay the trials not seen yet: the sampler's step on each, then its value."""
        from optuna.trial import TrialState

        sampler = self.study.sampler
        for r in results:
            if r.trial in self.seen:
                continue
            self.seen[r.trial] = r.value if r.succeeded else None
            if not (r.succeeded and r.value is not None):
                continue  # CMA-ES learns from completed trials only
            self.study.enqueue_trial(r.params, skip_if_exists=False)
            trial = self.study.ask()
            frozen = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))[-1]
            sampler.sample_relative(
                self.study, frozen, sampler.infer_relative_search_space(self.study, frozen)
            )
            for name, dist in self.dists.items():
                if name in r.params:  # a conditional space: the trial's active ones
                    suggest_from(trial, name, dist)
            self.study.tell(trial, r.value)

    def ask_study(self, spec: SessionSpec, first_trial: int) -> optuna.Study:
        """A study holding what CMA-ES reads back, with the sampler seeded for these asks."""
        import optuna
        from optuna.trial import create_trial

        done = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        key = "cma:generation"
        states = [t for t in done if any(a.startswith("cma:optimizer") for a in t.system_attrs)]
        generation = max((t.system_attrs.get(key, -1) for t in done), default=-1)
        keep = [t for t in done if t.system_attrs.get(key, -2) == generation] or done[-1:]
        kept = sorted({t.number: t for t in [*states[-1:], *keep]}.items())
        study = optuna.create_study(
            direction=self.direction, sampler=make_sampler(spec, first_trial)
        )
        study.add_trials(
            [
                create_trial(
                    params=t.params,
                    distributions=t.distributions,
                    value=t.value,
                    system_attrs=t.system_attrs,
                )
                for _, t in kept
            ]
        )
        return study


def suggest_from(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    """``trial``'s value of ``name`` in ``dist``: suggested, or the enqueued one (a suggest
    call returns a fixed param)."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)  # type: ignore[attr-defined]


def liar_value(spec: SessionSpec, results: Sequence[TrialResult]) -> float | None:
    """The worst value seen: what a GP takes a trial in flight to be worth."""
    values = [r.value for r in results if r.succeeded and r.value is not None]
    if not values:
        return None
    return max(values) if spec.objective.direction == "minimize" else min(values)
