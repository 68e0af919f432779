"""What ``tuneop plan`` says of a spec beyond its tables: hyperband's brackets, pbt's
generations, the
distribution of each normal or log-normal parameter, when each conditional parameter is
active, a trial resource's kind and how it is read. Every name from the spec is cleaned
(control characters escaped) here."""

from __future__ import annotations

from tuneop.api.conditions import describe as describe_condition
from tuneop.api.distributions import describe
from tuneop.api.hyperband import schedule
from tuneop.api.spec import SessionSpec
from tuneop.cli.text import clean

__all__ = [
    "condition_lines",
    "drawn_lines",
    "kind_lines",
    "pbt_lines",
    "schedule_lines",
    "spec_lines",
]


def schedule_lines(s: SessionSpec) -> list[str]:
    """Hyperband's brackets, one line each: each rung's trials and budget."""
    h = s.optimizer.hyperband
    if h is None:
        return []
    out: dict[int, list[str]] = {}
    for r in schedule(h):
        last = r.first + r.size - 1
        trials = f"trials {r.first}-{last}" if last > r.first else f"trial {r.first}"
        word = "drawn at random" if r.rung == 0 else f"the best {r.size} of the rung before"
        out.setdefault(r.bracket, []).append(f"{trials} {word}, {clean(h.resource)}={r.resource}")
    return [f"hyperband bracket {b}: " + "; then ".join(rungs) for b, rungs in out.items()]


def pbt_lines(s: SessionSpec) -> list[str]:
    """pbt's generations: the first drawn at random, the rest derived, and where the
    checkpoints go."""
    pbt = s.optimizer.pbt
    if pbt is None:
        return []
    total = s.total_trials or 0  # validated: pbt needs totalTrials
    n = pbt.population
    generations = -(-total // n)
    first = f"pbt generation 0: trials 0-{min(n, total) - 1} drawn at random"
    if generations > 1:
        first += (
            f"; generations 1-{generations - 1} (trials {n}-{total - 1}) each from the one"
            f" before, once it has ended: the bottom {pbt.truncation:g} copy the top, the rest"
            " perturb their own params"
        )
    where = f"{pbt.checkpoint_dir.rstrip('/')}/<session>/trial-<n>"
    return [
        first,
        f"pbt checkpoints: {where} (TUNEOP_CHECKPOINT_DIR; the parent's in"
        " TUNEOP_PARENT_CHECKPOINT_DIR)",
    ]


def drawn_lines(s: SessionSpec) -> list[str]:
    """One line per normal or log-normal parameter: the distribution its values come from,
    as Katib's hyperopt service reads ``min`` and ``max`` (not bounds)."""
    return [f"{clean(p.name)}: {describe(p)}" for p in s.search_space or [] if p.gaussian]


def condition_lines(s: SessionSpec) -> list[str]:
    """One line per conditional parameter: the values of its parents that make it active
    (a trial where they do not hold has no value for it)."""
    return [clean(f"{p.name}: {describe_condition(p)}") for p in s.search_space or [] if p.when]


def kind_lines(s: SessionSpec) -> list[tuple[str, ...]]:
    """What a trial resource of another kind is, and how tuneop reads it."""
    if s.trial_resource is None:
        return []
    r = s.trial_resource.resolved()
    labels = ", ".join(f"{k}={v}" for k, v in r.primary_pod_labels.items()) or "any"
    container = r.primary_container or "its first"
    return [
        (f"each trial runs as a {clean(r.kind)} ({clean(r.api_version)})",),
        (f"  succeeded when: {clean(r.success_condition)}",),
        (f"  failed when: {clean(r.failure_condition)}",),
        (f"  metrics from: the pod labelled {clean(labels)}, container {clean(container)}",),
    ]


def spec_lines(s: SessionSpec) -> list[str]:
    """Every line above the trials: conditions, distributions, brackets, generations."""
    return [*condition_lines(s), *drawn_lines(s), *schedule_lines(s), *pbt_lines(s)]
