"""Intermediate reports: a trial's metric values at each step while it runs.

A trial that learns over epochs reports how it is doing as it goes, one line
per step, beside its one result line::

    TUNEOP_INTERMEDIATE {"metrics":{"accuracy":0.91},"step":3,"trial":7}

These values draw the trial's learning curve and are what early stopping
judges a trial on (docs/concepts.md, "Early stopping"). A script in Katib's
StdOut format reports them too: every line that prints the objective metric
is a step (``stdout_curve``).

What a worker prints is untrusted, so a line is held to small bounds (its
length, its metrics, a step number below 2**31) and a trial keeps at most
``MAX_STEPS`` steps: the first ones; its last value is on its result line
anyway. A later line for a step already seen replaces it. ``Curves`` gathers
the lines of one log; a trial's record keeps the objective metric's curve,
as ``[step, value]`` pairs in step order.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tuneop.core.untrusted import finite_number, sane_text
from tuneop.core.wire.metric_lines import metric_pairs

if TYPE_CHECKING:  # the command line reads curves without building the API's models
    from tuneop.api.spec import MetricsCollector

__all__ = [
    "INTERMEDIATE_PREFIX",
    "MAX_INTERMEDIATE_LINE_BYTES",
    "MAX_INTERMEDIATE_METRICS",
    "MAX_STEP",
    "MAX_STEPS",
    "Curve",
    "Curves",
    "IntermediateReport",
    "curve_from_json",
    "objective_curve",
    "parse_intermediate",
    "stdout_curve",
]

INTERMEDIATE_PREFIX = "TUNEOP_INTERMEDIATE "
MAX_INTERMEDIATE_LINE_BYTES = 4096
MAX_INTERMEDIATE_METRICS = 16  # metric values on one intermediate line
MAX_STEPS = 1000  # steps kept per trial (the first ones)
MAX_STEP = 2**31 - 1  # Optuna keeps steps as 32-bit integers in its SQL storages
_MAX_NAME_CHARS = 256
# A step counter named on the line (hypertune's JSON names it global_step).
_STEP_NAMES = ("step", "epoch", "iteration", "global_step")

Curve = tuple[tuple[int, float], ...]  # (step, value) pairs, in step order


@dataclass(frozen=True)
class IntermediateReport:
    trial: int
    step: int
    metrics: dict[str, float]


def _step(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_STEP:
        raise ValueError(f"step: must be an integer from 0 to {MAX_STEP}")
    return int(value)


def parse_intermediate(body: str) -> IntermediateReport:
    """One intermediate line's JSON (after the prefix) as a report; ``ValueError`` otherwise."""
    if len(body) > MAX_INTERMEDIATE_LINE_BYTES:
        raise ValueError(f"longer than {MAX_INTERMEDIATE_LINE_BYTES} bytes")
    doc = json.loads(body, parse_constant=lambda name: float(name.replace("Infinity", "inf")))
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    trial = doc.get("trial")
    if not isinstance(trial, int) or isinstance(trial, bool) or trial < 0:
        raise ValueError("trial: must be a non-negative integer")
    metrics = doc.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        raise ValueError("metrics: must be an object with at least one metric")
    if len(metrics) > MAX_INTERMEDIATE_METRICS:
        raise ValueError(f"metrics: more than {MAX_INTERMEDIATE_METRICS} entries")
    kept: dict[str, float] = {}
    for name, v in metrics.items():
        if len(name) > _MAX_NAME_CHARS:
            raise ValueError(f"metrics: a name longer than {_MAX_NAME_CHARS} characters")
        if v is None:
            continue  # a writer's way to say "not finite": nothing to draw
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"metrics.{name[:64]}: must be a number")
        number = finite_number(v)  # NaN, inf or past the magnitude bound: no point
        if number is not None:
            kept[sane_text(name)] = number
    return IntermediateReport(trial, _step(doc.get("step")), kept)


@dataclass
class Curves:
    """The intermediate reports of one log, per trial and step, bounded."""

    steps: dict[int, dict[int, dict[str, float]]] = field(default_factory=dict)
    dropped: int = 0  # steps past MAX_STEPS of their trial

    def add(self, rep: IntermediateReport) -> None:
        trial = self.steps.setdefault(rep.trial, {})
        if rep.step in trial or len(trial) < MAX_STEPS:
            trial[rep.step] = rep.metrics
        else:
            self.dropped += 1

    def update(self, other: Curves) -> None:
        """Take ``other``'s trials whole (a later pod's log replaces an earlier one's)."""
        self.steps.update(other.steps)
        self.dropped += other.dropped

    def curve(self, trial: int, metric: str) -> Curve:
        steps = self.steps.get(trial, {})
        return tuple((s, steps[s][metric]) for s in sorted(steps) if metric in steps[s])


def objective_curve(curves: Curves | None, trial: int, metric: str) -> Curve:
    return curves.curve(trial, metric) if curves is not None else ()


def stdout_curve(log: str, metric: str, collector: MetricsCollector | None = None) -> Curve:
    """The objective's values in Katib's ``name=value`` text, one step per line naming it.

    The step is a ``step``, ``epoch`` or ``iteration`` counter on the same line when
    there is one (a whole number), else the line's position among those naming the
    metric, from 1.
    """
    seen: dict[int, float] = {}
    count = 0
    for line in log.splitlines():
        if metric not in line:
            continue
        found = dict(metric_pairs(line, collector))
        try:
            value = float(found.get(metric, ""))
        except ValueError:
            continue
        if finite_number(value) is None:
            continue
        count += 1
        named = [w for n in _STEP_NAMES if (w := _whole(found.get(n))) is not None]
        step = named[0] if named else count
        if step in seen or len(seen) < MAX_STEPS:
            seen[step] = value
    return tuple(sorted(seen.items()))


def _whole(text: str | None) -> int | None:
    try:
        number = float(text or "")
    except ValueError:
        return None
    if not math.isfinite(number) or number != int(number) or not 0 <= number <= MAX_STEP:
        return None
    return int(number)


def curve_from_json(value: Any) -> Curve:
    """A record's ``intermediate`` field, read back bounded; anything else is dropped."""
    if not isinstance(value, list):
        return ()
    out: list[tuple[int, float]] = []
    for item in value[:MAX_STEPS]:
        if not isinstance(item, list | tuple) or len(item) != 2:
            continue
        step, v = item
        ok_step = isinstance(step, int) and not isinstance(step, bool) and 0 <= step <= MAX_STEP
        number = finite_number(v)
        if ok_step and number is not None:
            out.append((step, number))
    return tuple(out)
