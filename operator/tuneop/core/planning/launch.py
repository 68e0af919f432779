"""The launch step: which worker Jobs to create in this reconcile.

Jobs are laid out from the launch watermark (``packing.next_job_size``) while
``maxParallel`` leaves a slot: a running Job holds one, and so does a finished
Job whose results are not harvested yet. Grid, random, qmc and explicit trials
get their params from ``search.point``; the learning optimizers (bayesian,
cmaes, gp) take the warm-start points first, then ask the suggester, which
sees every known result and the params still running. Each new Job is put in
flight in the ledger and announced by a TrialsStarted event. Retry Jobs
(``tuneop.core.planning.retry``) come first: each takes the slot of the Job it retries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tuneop.api.spec import SessionSpec
from tuneop.core.jobs.manifests import job_manifest, job_name
from tuneop.core.jobs.observed import Observed, Params, Retry
from tuneop.core.planning import events
from tuneop.core.planning.ledger import Ledger, count, repeated_error
from tuneop.core.planning.packing import next_job_size
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
    spec: SessionSpec, observed: Observed, ledger: Ledger, total: int, suggest: Suggest | None
) -> list[JobToCreate]:
    """The Jobs to create now; the ledger's watermark and in-flight map move past them."""
    create = launch_retries(spec, observed, ledger)
    slots = spec.max_parallel - len(ledger.active) - len(ledger.unharvested) - len(create)
    layout: list[tuple[int, tuple[int, ...]]] = []
    while slots > 0 and (
        size := next_job_size(spec, total, ledger.next_job - ledger.retry_jobs, ledger.next_trial)
    ):
        layout.append((ledger.next_job, tuple(range(ledger.next_trial, ledger.next_trial + size))))
        ledger.next_job += 1
        ledger.next_trial += size
        slots -= 1
    params = _params(spec, observed, ledger, [t for _, ts in layout for t in ts], suggest)
    pos = 0
    for idx, trials in layout:
        job_params = tuple(params[pos : pos + len(trials)])
        pos += len(trials)
        manifest = job_manifest(spec, observed.session, idx, trials, list(job_params))
        name = job_name(observed.session.name, idx)
        create.append(JobToCreate(idx, name, trials, job_params, manifest))
        ledger.inflight[idx] = trials
        ledger.events.append(events.trials_started(idx, trials))
    return create


def launch_retries(spec: SessionSpec, observed: Observed, ledger: Ledger) -> list[JobToCreate]:
    """A retry Job for each pending retry, from the watermark; counted in ``retryJobs``."""
    create = []
    for pending in ledger.retries:
        idx = ledger.next_job
        ledger.next_job += 1
        ledger.retry_jobs += 1
        trials = pending.trials
        params = [dict(r.params) for r in pending.failed]
        manifest = job_manifest(spec, observed.session, idx, trials, params, pending.retry)
        name = job_name(observed.session.name, idx)
        create.append(JobToCreate(idx, name, trials, tuple(params), manifest, pending.retry))
        ledger.inflight[idx] = trials
        ledger.counts = ledger.counts.model_copy(
            update={"retried": ledger.counts.retried + len(trials)}
        )
        ledger.events.append(
            events.trial_retried(idx, pending.retry.attempt, spec.retries, pending.failed)
        )
    ledger.retries = []
    return create


def drop_retries(ledger: Ledger) -> None:
    """The session launches nothing more: the failed trials waiting to retry count as they are."""
    failed = [r for pending in ledger.retries for r in pending.failed]
    for pending in ledger.retries:
        ledger.events.extend(events.job_finished(pending.failed[0].job_index, pending.failed))
    ledger.retries = []
    if not failed:
        return
    ledger.persist.extend(failed)
    ledger.counts = count(ledger.counts, failed)
    ledger.repeated_error, ledger.repeated_error_count = repeated_error(
        (ledger.repeated_error, ledger.repeated_error_count), failed
    )


def _params(
    spec: SessionSpec,
    observed: Observed,
    ledger: Ledger,
    trials: Sequence[int],
    suggest: Suggest | None,
) -> list[Params]:
    if not trials:
        return []
    if not spec.optimizer.learns or spec.trials is not None:
        return [point(spec, t) for t in trials]
    warm = [p for t in trials if (p := warm_point(spec, t)) is not None]
    asked = trials[len(warm) :]  # warm-start points are trials 0, 1, ...: they come first
    if not asked:
        return warm
    suggest = suggest or tpe_suggest
    history = {r.trial: r for r in observed.history}
    history.update((r.trial, r) for r in ledger.persist)
    pending = [p for j in ledger.active for p in j.params] + warm
    return warm + suggest(spec, list(history.values()), pending, asked[0], len(asked))
