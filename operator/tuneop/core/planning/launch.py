"""The launch step: which worker Jobs to create in this reconcile.

Jobs are laid out from the launch watermark (``packing.next_job_size``) while
``maxParallel`` leaves a slot: every live Job holds one (running, finished and
not harvested yet, or harvested and not yet deleted), except a finished Job an
earlier status write recorded as harvested that the cleanup policy keeps
(``ledger.slot_holders``). So the Jobs of a session stay at most ``maxParallel``
(plus the retry Jobs of one harvest batch) however often a reconcile dies
before its status write: a Job created just before a kill is live, is adopted
by the next reconcile (``ledger._opened``) and holds its slot there. Grid,
random, qmc and explicit trials get their params from ``search.point``; the
learning optimizers (bayesian, cmaes, gp) take the warm-start points first,
then ask the suggester, which sees every known result and the params still
running. Hyperband (``tuneop.core.suggest.hyperband``) launches a rung's trials
only once every trial of the rung before has its result, and derives their
params from those results; pbt (``tuneop.core.suggest.pbt``) likewise launches a
generation once the one before has ended, and tells each trial its checkpoint folder
and its parent's. Each new Job is put in
flight in the ledger and announced by a TrialsStarted event. Retry Jobs
(``tuneop.core.planning.retry``) come first: each takes the slot of the Job it retries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tuneop.api.pbt import ENV_CHECKPOINT_DIR, ENV_PARENT_CHECKPOINT_DIR, checkpoint_dir
from tuneop.api.spec import SessionSpec
from tuneop.core.jobs.manifests import job_manifest, job_name
from tuneop.core.jobs.observed import Observed, Params, Retry
from tuneop.core.planning import events
from tuneop.core.planning.ledger import Ledger, Step, count, repeated_error, slot_holders
from tuneop.core.planning.packing import next_job_size
from tuneop.core.ranges import IndexSet
from tuneop.core.suggest import hyperband, pbt
from tuneop.core.suggest.bayesian import suggest as tpe_suggest
from tuneop.core.suggest.search import point, warm_point
from tuneop.core.wire.contract import TrialResult

__all__ = ["JobToCreate", "Suggest", "drop_retries", "launch", "launch_retries"]

# (spec, history, pending params, first trial, how many) → params for each new trial.
Suggest = Callable[[SessionSpec, Sequence[TrialResult], Sequence[Params], int, int], list[Params]]


@dataclass(frozen=True)
class JobToCreate:
    index: int
    name: str
    trials: tuple[int, ...]
    params: tuple[Params, ...]
    manifest: dict[str, Any]
    # Set on a retry Job (also on its manifest: tuneop.core.jobs.manifests).
    retry: Retry | None = None


def launch(
    spec: SessionSpec,
    observed: Observed,
    ledger: Ledger,
    total: int,
    suggest: Suggest | None,
    fresh: Sequence[TrialResult] = (),
) -> tuple[Step, list[JobToCreate]]:
    """The Jobs to create now, and the ledger with its watermark and in-flight map past
    them. ``fresh``: the results harvested in this reconcile (the suggester learns them)."""
    retried, create = launch_retries(spec, observed, ledger)
    ledger = retried.ledger
    committed = IndexSet.parse(observed.status.harvested_jobs)
    slots = spec.max_parallel - slot_holders(spec, committed, ledger) - len(create)
    history = _history(observed, fresh)
    if spec.optimizer.type == "hyperband":  # a rung starts once the one before has ended
        total = hyperband.launchable(spec, history, total)
    elif spec.optimizer.type == "pbt":  # a generation starts once the one before has ended
        total = pbt.launchable(spec, history, total)
    layout: list[tuple[int, tuple[int, ...]]] = []
    next_job, next_trial = ledger.next_job, ledger.next_trial
    while slots > 0 and (
        size := next_job_size(spec, total, next_job - ledger.retry_jobs, next_trial)
    ):
        layout.append((next_job, tuple(range(next_trial, next_trial + size))))
        next_job += 1
        next_trial += size
        slots -= 1
    trials = [t for _, ts in layout for t in ts]
    params = _params(spec, ledger, trials, suggest, history)
    inflight = dict(ledger.inflight)
    found = list(retried.events)
    pos = 0
    for idx, trials_ in layout:
        job_params = tuple(params[pos : pos + len(trials_)])
        pos += len(trials_)
        lineage = _lineage_env(spec, observed, trials_, history)
        manifest = job_manifest(
            spec, observed.session, idx, trials_, list(job_params), None, lineage
        )
        name = job_name(observed.session.name, idx)
        create.append(JobToCreate(idx, name, trials_, job_params, manifest))
        inflight[idx] = trials_
        found.append(events.trials_started(idx, trials_))
    after = replace(ledger, next_job=next_job, next_trial=next_trial, inflight=inflight)
    return Step(after, retried.persist, tuple(found)), create


def launch_retries(
    spec: SessionSpec, observed: Observed, ledger: Ledger
) -> tuple[Step, list[JobToCreate]]:
    """A retry Job for each pending retry, from the watermark; counted in ``retryJobs``."""
    if not ledger.retries:
        return Step(ledger), []
    create = []
    found = []
    inflight = dict(ledger.inflight)
    retried = ledger.counts.retried
    for k, pending in enumerate(ledger.retries):
        idx = ledger.next_job + k
        trials = pending.trials
        params = [dict(r.params) for r in pending.failed]
        lineage = _lineage_env(spec, observed, trials, _history(observed, ()))
        manifest = job_manifest(spec, observed.session, idx, trials, params, pending.retry, lineage)
        name = job_name(observed.session.name, idx)
        create.append(JobToCreate(idx, name, trials, tuple(params), manifest, pending.retry))
        inflight[idx] = trials
        retried += len(trials)
        found.append(events.trial_retried(idx, pending.retry.attempt, spec.retries, pending.failed))
    after = replace(
        ledger,
        next_job=ledger.next_job + len(create),
        retry_jobs=ledger.retry_jobs + len(create),
        inflight=inflight,
        counts=ledger.counts.model_copy(update={"retried": retried}),
        retries=(),
    )
    return Step(after, (), tuple(found)), create


def drop_retries(ledger: Ledger) -> Step:
    """The session launches nothing more: the failed trials waiting to retry count as they are."""
    failed = tuple(r for pending in ledger.retries for r in pending.failed)
    found = tuple(
        e
        for pending in ledger.retries
        for e in events.job_finished(pending.failed[0].job_index, pending.failed)
    )
    after = replace(ledger, retries=())
    if not failed:
        return Step(after, (), found)
    error, streak = repeated_error((ledger.repeated_error, ledger.repeated_error_count), failed)
    after = replace(
        after,
        counts=count(ledger.counts, failed),
        repeated_error=error,
        repeated_error_count=streak,
    )
    return Step(after, failed, found)


def _history(observed: Observed, fresh: Sequence[TrialResult]) -> dict[int, TrialResult]:
    """Every known result by trial, those harvested in this reconcile included."""
    history = {r.trial: r for r in observed.history}
    history.update((r.trial, r) for r in fresh)
    return history


def _params(
    spec: SessionSpec,
    ledger: Ledger,
    trials: Sequence[int],
    suggest: Suggest | None,
    history: dict[int, TrialResult],
) -> list[Params]:
    if not trials:
        return []
    if not spec.learns_from_history:
        return [point(spec, t) for t in trials]
    if spec.optimizer.type == "hyperband":
        return [hyperband.params(spec, t, history) for t in trials]
    if spec.optimizer.type == "pbt":
        return [pbt.lineage(spec, t, history)[0] for t in trials]
    warm = [p for t in trials if (p := warm_point(spec, t)) is not None]
    asked = trials[len(warm) :]  # warm-start points are trials 0, 1, ...: they come first
    if not asked:
        return warm
    suggest = suggest or tpe_suggest
    pending = [p for j in ledger.active for p in j.params] + warm
    return warm + suggest(spec, list(history.values()), pending, asked[0], len(asked))


def _lineage_env(
    spec: SessionSpec, observed: Observed, trials: Sequence[int], history: dict[int, TrialResult]
) -> list[dict[str, str]]:
    """pbt's checkpoint folders for a Job of one trial: its own and its parent's."""
    settings = spec.optimizer.pbt
    if settings is None:
        return []
    (trial,) = trials  # validated: pbt runs one trial per Job
    session = observed.session.name
    env = [{"name": ENV_CHECKPOINT_DIR, "value": checkpoint_dir(settings, session, trial)}]
    _, parent = pbt.lineage(spec, trial, history)
    if parent is not None:
        folder = checkpoint_dir(settings, session, parent)
        env.append({"name": ENV_PARENT_CHECKPOINT_DIR, "value": folder})
    return env
