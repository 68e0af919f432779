"""The launch step: which worker Jobs to create in this reconcile.

Jobs are laid out from the launch watermark (``packing.next_job_size``) while
``maxParallel`` leaves a slot: a running Job holds one, and so does a finished
Job whose results are not harvested yet. Grid, random, qmc and explicit trials
get their params from ``search.point``; the learning optimizers (bayesian,
cmaes, gp) take the warm-start points first, then ask the suggester, which
sees every known result and the params still running. Each new Job is put in
flight in the ledger and announced by a TrialsStarted event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tuneop.api.spec import SessionSpec
from tuneop.core import events
from tuneop.core.bayesian import suggest as tpe_suggest
from tuneop.core.contract import TrialResult
from tuneop.core.ledger import Ledger
from tuneop.core.manifests import job_manifest, job_name
from tuneop.core.observed import Observed, Params
from tuneop.core.packing import next_job_size
from tuneop.core.search import point, warm_point

__all__ = ["JobToCreate", "Suggest", "launch"]

# (spec, history, pending params, first trial, how many) → params for each new trial.
Suggest = Callable[[SessionSpec, Sequence[TrialResult], Sequence[Params], int, int], list[Params]]


@dataclass(frozen=True)
class JobToCreate:
    index: int
    name: str
    trials: tuple[int, ...]
    params: tuple[Params, ...]
    manifest: dict[str, Any]


def launch(
    spec: SessionSpec, observed: Observed, ledger: Ledger, total: int, suggest: Suggest | None
) -> list[JobToCreate]:
    """The Jobs to create now; the ledger's watermark and in-flight map move past them."""
    slots = spec.max_parallel - len(ledger.active) - len(ledger.unharvested)
    layout: list[tuple[int, tuple[int, ...]]] = []
    while slots > 0 and (size := next_job_size(spec, total, ledger.next_job, ledger.next_trial)):
        layout.append((ledger.next_job, tuple(range(ledger.next_trial, ledger.next_trial + size))))
        ledger.next_job += 1
        ledger.next_trial += size
        slots -= 1
    params = _params(spec, observed, ledger, [t for _, ts in layout for t in ts], suggest)
    create: list[JobToCreate] = []
    pos = 0
    for idx, trials in layout:
        job_params = tuple(params[pos : pos + len(trials)])
        pos += len(trials)
        manifest = job_manifest(spec, observed.session, idx, trials, list(job_params))
        name = job_name(observed.session.name, idx)
        create.append(JobToCreate(idx, name, trials, job_params, manifest))
        ledger.inflight[idx] = (trials[0], trials[-1])
        ledger.events.append(events.trials_started(idx, trials))
    return create


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
