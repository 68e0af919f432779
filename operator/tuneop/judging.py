"""Early stopping by the operator: running trials judged on their output, for the reconciler.

With ``earlyStopping.type: medianStop`` (Katib's median stop) each running trial's output
is read from its beginning (``RunningLogs``, bounded, at most ``MAX_JUDGED`` Jobs a
reconcile) until the trial is judged (``tuneop.core.planning.medianstop``): once kept, it
is never read again. With ``median``, ``successiveHalving`` or ``hyperband`` and a StdOut,
File or TensorFlowEvent collector, each running trial's output is read again while it
runs (``FOLLOW_BYTES``) and Optuna's pruner judges its curve
(``tuneop.core.planning.optuna_pruning``); Optuna's judgements cost CPU that grows with
the session, so those of one session take at most ``JUDGE_SHARE`` of the time. A trial
that is stopped comes back as a finished Job, its trial Pruned, so the plan records it
and deletes its Job. Per session state, one reconcile at a time per session: each
session's entries have one writer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.core.clock import Clock
from tuneop.core.jobs.observed import JobState, ObservedJob
from tuneop.core.jobs.pruning import study_name
from tuneop.core.planning import optuna_pruning as op
from tuneop.core.planning.medianstop import (
    FIRST_BYTES,
    Verdict,
    judged_job,
    needs_judging,
    threshold,
)
from tuneop.core.wire.intermediate import Curve
from tuneop.ports import ResultStore, RunningLogs, TransientError

__all__ = ["JUDGE_SHARE", "MAX_JUDGED", "RunningJudge"]

log = logging.getLogger(__name__)

MAX_JUDGED = 16  # running trials whose output one reconcile reads (early stopping)
# At most this share of the time goes to judging one session's running trials with
# Optuna's pruners (each judgement waits 1/share its cost before the next).
JUDGE_SHARE = 0.1


def names(jobs: list[ObservedJob]) -> set[str]:
    return {j.name for j in jobs}


@dataclass
class RunningJudge:
    """Judges a session's running trials as its reconcile observes them."""

    # Running trials' output; without it, none is stopped.
    running_logs: RunningLogs | None
    # The finished trials' curves the rules compare against.
    store: ResultStore
    clock: Clock
    # The share of the time one session's Optuna judgements may take (1.0: one after another).
    share: float = JUDGE_SHARE
    # Per session, its Jobs judged and kept (medianStop): never read again.
    _kept: dict[str, set[str]] = field(default_factory=dict)
    # Sessions with a running trial not judged yet: looked at again soon.
    _waiting: set[str] = field(default_factory=set)
    # Per session, when its running trials may be judged again by an Optuna pruner.
    _judge_at: dict[str, float] = field(default_factory=dict)
    # Per session, each followed Job's last read: the least recently read go first, so
    # with more than MAX_JUDGED running every trial has its turn.
    _read_at: dict[str, dict[str, float]] = field(default_factory=dict)
    # Per session, the Jobs an Optuna pruner stopped, until they are gone: a reconcile
    # whose status write conflicted observes again within the pacing window, and must
    # see the same verdict (its result may already be stored and mirrored).
    _stopped: dict[str, dict[str, ObservedJob]] = field(default_factory=dict)

    def judge(
        self, ref: SessionRef, spec: SessionSpec, jobs: list[ObservedJob]
    ) -> list[ObservedJob]:
        """``jobs``, with each running trial the session's rule stops finished and Pruned."""
        if op.follows_output(spec):
            return self._follow(ref, spec, jobs)
        return self._median_stop(ref, spec, jobs)

    def waiting(self, ref: SessionRef) -> bool:
        """Whether a running trial of the session waits to be judged: look again soon."""
        return ref.key in self._waiting

    def _follow(
        self, ref: SessionRef, spec: SessionSpec, jobs: list[ObservedJob]
    ) -> list[ObservedJob]:
        """Running trials judged by an Optuna pruner on their curves so far (each read
        again while it runs, the least recently read first); a stopped one comes back
        finished and Pruned, and again at each observe until its Job is gone."""
        jobs = self._stopped_before(ref, jobs)
        due = [j for j in jobs if op.needs_following(spec, j)]
        self._waiting.discard(ref.key)
        if self.running_logs is None or not due:
            return jobs
        self._waiting.add(ref.key)  # a running trial is judged again at its next values
        if self.clock.monotonic() < self._judge_at.get(ref.key, 0.0):
            return jobs
        running_names = names(due)
        read_at = {n: t for n, t in self._read_at.get(ref.key, {}).items() if n in running_names}
        self._read_at[ref.key] = read_at
        due.sort(key=lambda j: read_at.get(j.name, -1.0))  # least recently read first
        seen: dict[int, tuple[ObservedJob, Curve]] = {}
        for job in due[:MAX_JUDGED]:  # the rest at the next read
            read_at[job.name] = self.clock.monotonic()
            try:
                text = self.running_logs.first_output(ref, job, op.FOLLOW_BYTES)
            except TransientError as err:
                log.warning("%s: cannot read the output of %s yet: %s", ref.key, job.name, err)
                continue
            seen[job.trials[0]] = (job, op.running_curve(spec, text or ""))
        running = [op.Seen(trial, curve) for trial, (_, curve) in seen.items()]
        op.load_optuna()  # once per process: not a judgement's cost
        began = self.clock.monotonic()
        steps = op.prune_steps(spec, study_name(spec, ref), self.store.history(ref), running)
        self._judge_at[ref.key] = began + (self.clock.monotonic() - began) / self.share
        out = {j.name: j for j in jobs}
        for trial, step in steps.items():
            name = seen[trial][0].name
            out[name] = op.stopped_job(spec, *seen[trial], step)
            self._stopped.setdefault(ref.key, {})[name] = out[name]
        return list(out.values())

    def _stopped_before(self, ref: SessionRef, jobs: list[ObservedJob]) -> list[ObservedJob]:
        """``jobs`` with each Job stopped earlier and still running given its verdict again;
        the ones gone (deleted once the verdict was written) are forgotten."""
        stopped = self._stopped.pop(ref.key, {})
        left = {n: j for n, j in stopped.items() if n in names(jobs)}
        if not left:
            return jobs
        self._stopped[ref.key] = left
        return [left.get(j.name, j) if j.state is JobState.ACTIVE else j for j in jobs]

    def _median_stop(
        self, ref: SessionRef, spec: SessionSpec, jobs: list[ObservedJob]
    ) -> list[ObservedJob]:
        """Running trials judged by Katib's median stop; a stopped one comes back finished."""
        listed = names(jobs)
        kept = {n for n in self._kept.pop(ref.key, set()) if n in listed}  # gone ones go
        due = [j for j in jobs if needs_judging(spec, j) and j.name not in kept]
        if kept:
            self._kept[ref.key] = kept
        self._waiting.discard(ref.key)
        if self.running_logs is None or not due:
            return jobs
        es = spec.early_stopping
        assert es is not None
        curves = [r.intermediate for r in self.store.history(ref) if r.succeeded]
        rule = threshold(es, curves)
        out = {j.name: j for j in jobs}
        if len(due) > MAX_JUDGED:  # the rest next time
            self._waiting.add(ref.key)
        for job in due[:MAX_JUDGED]:
            try:
                text = self.running_logs.first_output(ref, job, FIRST_BYTES)
            except TransientError as err:
                log.warning("%s: cannot read the output of %s yet: %s", ref.key, job.name, err)
                continue
            out[job.name], verdict = judged_job(spec, job, text or "", rule)
            if verdict is Verdict.KEEP:
                self._kept.setdefault(ref.key, set()).add(job.name)
            elif verdict is Verdict.WAIT:
                self._waiting.add(ref.key)
        return list(out.values())
