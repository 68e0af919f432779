"""An earlier session's records made into history the sampler can learn from.

``spec.warmStart.from`` names an earlier session (``tuneop.api.warmstart``);
the adapters read its records, bounded and untrusted (``core.results.records``), and
``prior_trials`` keeps what the sampler can use: successful trials whose
objective metric is a finite number and whose params are a point of this
session's search space (a trial of a wider or other space is left out), at
most ``maxTrials`` of them, the most recent. They are numbered ``-n … -1`` in
their order, so they come before this session's trials ``0, 1, …`` in the
study and never meet their numbers: they are history, not this session's
trials, and nothing counts them in the budget or the status.
``NoRedisWarmStart`` is the source of an operator without Redis, where a warm start
from an earlier session is an invalid spec (it lives here, not in the Redis adapter,
so that an operator without ``--redis-url`` never imports the Redis client).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from tuneop.api.errors import SpecError
from tuneop.api.session import SessionRef
from tuneop.api.spec import Scalar, SessionSpec
from tuneop.api.warmstart import point_problem
from tuneop.core.results.records import Record
from tuneop.core.suggest.search import native
from tuneop.core.wire.contract import Outcome, TrialResult

__all__ = ["FOLDER_ON_CLUSTER", "NO_REDIS", "NoRedisWarmStart", "prior_trials"]

FOLDER_ON_CLUSTER = (
    "spec.warmStart.from.results: a results folder is read by a local run (tuneop run"
    " --local); on a cluster name the earlier session in from.session (read from Redis)"
)
NO_REDIS = (
    "spec.warmStart.from.session: the operator reads earlier sessions from Redis,"
    " and it runs without one (--redis-url)"
)


def _value(record: Record, metric: str) -> float | None:
    objective = record.get("objective") or {}
    v: Any = objective.get("value") if objective.get("metric") == metric else None
    if v is None:
        v = (record.get("metrics") or {}).get(metric)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def prior_trials(spec: SessionSpec, records: Iterable[Record]) -> list[TrialResult]:
    """The sampler's history from an earlier session's ``records`` (none without ``from``)."""
    source = spec.warm_start.from_ if spec.warm_start else None
    if source is None:
        return []
    usable: list[tuple[int, dict[str, Scalar], float]] = []
    for record in records:
        if record.get("outcome") != str(Outcome.SUCCEEDED):
            continue
        value = _value(record, spec.objective.metric)
        params = record.get("params")
        if value is None or not isinstance(params, dict):
            continue
        if point_problem(params, spec.search_space) is not None:
            continue
        typed = {p.name: native(params[p.name], p) for p in spec.search_space if p.name in params}
        usable.append((int(record["trial"]), typed, value))
    usable.sort(key=lambda u: u[0])
    kept = usable[-source.max_trials :]
    return [
        TrialResult(
            trial=k - len(kept),
            job_index=-1,
            params=params,
            outcome=Outcome.SUCCEEDED,
            value=value,
        )
        for k, (_, params, value) in enumerate(kept)
    ]


class NoRedisWarmStart:
    """The operator without Redis: a warm start from an earlier session is an invalid spec."""

    def prior(self, ref: SessionRef, spec: SessionSpec) -> Sequence[TrialResult]:
        source = spec.warm_start.from_ if spec.warm_start else None
        if source is None:
            return []
        raise SpecError([FOLDER_ON_CLUSTER if source.results is not None else NO_REDIS])
