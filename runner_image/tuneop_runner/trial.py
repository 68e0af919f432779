"""The running trial, as an objective sees it: ``report`` its progress, ask ``should_prune``.

An objective that learns over steps (epochs, iterations) reports how it is
doing as it goes, and asks whether early stopping wants it ended::

    from tuneop_runner import TrialPruned, report, should_prune

    def objective(params):
        for epoch in range(1, 21):
            accuracy = train_one_epoch(...)
            report(epoch, accuracy)        # or report(epoch, {"accuracy": ..., "loss": ...})
            if should_prune():
                raise TrialPruned()
        return {"accuracy": accuracy}

``report`` prints an intermediate line (``tuneop_runner.contract``) and hands
the objective metric's value to the session's pruner, when the session has
``earlyStopping`` (``tuneop_runner.pruning``). ``should_prune`` asks that
pruner, and is False without one or outside a trial. Raising ``TrialPruned``
(Optuna's ``TrialPruned`` works too) ends the trial as pruned, with the
metrics it reported last.

An external command reports through its output instead (``hear``): a line
``TUNEOP_INTERMEDIATE {"step": 3, "metrics": {"accuracy": 0.91}}`` (the
trial number is the runner's to add), or a line in Katib's ``name=value``
format naming the objective metric, whose step is a ``step``, ``epoch`` or
``iteration`` on the same line or else its count of such lines. When early
stopping wants the trial ended the runner stops the command
(``tuneop_runner.command``).

A trial prints at most ``MAX_PRINTED_STEPS`` intermediate lines (the operator
keeps no more); every value still reaches the pruner.
"""

from __future__ import annotations

import json
import math
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from tuneop_runner.contract import (
    INTERMEDIATE_PREFIX,
    MAX_INTERMEDIATE_METRICS,
    MAX_STEP,
    MetricValue,
    format_intermediate_line,
    sanitize_metrics,
)
from tuneop_runner.linestart import begin_line

__all__ = [
    "MAX_PRINTED_STEPS",
    "PrunerHandle",
    "RunningTrial",
    "TrialPruned",
    "current",
    "is_pruned_exception",
    "report",
    "running",
    "should_prune",
]

MAX_PRINTED_STEPS = 1000
MAX_HEARD_LINE_CHARS = 4096  # a command's progress line longer than this is not one
_KATIB = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)")
_STEP_NAMES = ("step", "epoch", "iteration")
_lock = threading.Lock()  # a command's reader thread reports beside the main thread


class TrialPruned(Exception):
    """Raised by an objective to end its trial as pruned (like Optuna's ``TrialPruned``)."""


def is_pruned_exception(exc: BaseException) -> bool:
    """Ours or Optuna's ``TrialPruned`` (an objective written for Optuna raises that)."""
    return type(exc).__name__ == "TrialPruned"


class PrunerHandle(Protocol):
    """One trial's seat in the session's pruning study (``tuneop_runner.pruning``)."""

    def report(self, step: int, value: float) -> None: ...

    def should_prune(self) -> bool: ...


@dataclass
class RunningTrial:
    """The trial being evaluated: its number, its metric, its pruner and what it reported."""

    index: int
    metric: str
    pruner: PrunerHandle | None = None
    last: dict[str, MetricValue] = field(default_factory=dict)
    last_step: int | None = None
    printed: int = 0
    heard: int = 0  # progress lines taken from a command's output

    def report(self, step: int, value: float | Mapping[str, object]) -> None:
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP:
            raise ValueError(f"report: step must be an integer from 0 to {MAX_STEP}, not {step!r}")
        raw: dict[object, object] = {self.metric: value}
        if isinstance(value, Mapping):
            raw = {k: v for k, v in value.items()}
        metrics, _ = sanitize_metrics(raw)
        # The objective metric first, so it survives the bound on a line's metrics.
        names = sorted(metrics, key=lambda n: (n != self.metric, n))[:MAX_INTERMEDIATE_METRICS]
        kept = {n: metrics[n] for n in names}
        with _lock:
            self.last, self.last_step = kept, step
            if self.printed < MAX_PRINTED_STEPS:
                self.printed += 1
                begin_line()  # after an objective's output left without a newline
                print(format_intermediate_line(self.index, step, kept), flush=True)
        value_ = kept.get(self.metric)
        if isinstance(value_, bool) or not isinstance(value_, int | float):
            return
        if self.pruner is not None and math.isfinite(value_):
            self.pruner.report(step, float(value_))

    def should_prune(self) -> bool:
        return self.pruner.should_prune() if self.pruner is not None else False

    def hear(self, line: str) -> bool:
        """Take a command's output line as a report if it is one; True to end the trial."""
        heard = self._progress(line.strip()) if len(line) <= MAX_HEARD_LINE_CHARS else None
        if heard is None:
            return False
        self.heard += 1
        try:
            self.report(*heard)
        except ValueError:
            return False
        return self.should_prune()

    def _progress(self, line: str) -> tuple[int, dict[str, object]] | None:
        if line.startswith(INTERMEDIATE_PREFIX):
            try:
                doc = json.loads(line[len(INTERMEDIATE_PREFIX) :])
            except ValueError:
                return None
            ok = isinstance(doc, dict) and isinstance(doc.get("metrics"), dict)
            return (doc.get("step"), dict(doc["metrics"])) if ok else None
        if "=" not in line or self.metric not in line:
            return None
        found = {m.group(1): m.group(2) for m in _KATIB.finditer(line)}
        try:
            value = float(found.get(self.metric, ""))
        except ValueError:
            return None
        named = [_whole(found.get(n)) for n in _STEP_NAMES]
        step = next((s for s in named if s is not None), self.heard + 1)
        return step, {self.metric: value}

    def why_pruned(self) -> str:
        at = f" at step {self.last_step}" if self.last_step is not None else ""
        return f"pruned{at} by early stopping"


def _whole(text: str | None) -> int | None:
    try:
        number = float(text or "")
    except ValueError:
        return None
    if not math.isfinite(number) or number != int(number) or not 0 <= number <= MAX_STEP:
        return None
    return int(number)


_current: RunningTrial | None = None
_warned = False


def current() -> RunningTrial | None:
    return _current


@contextmanager
def running(trial: RunningTrial) -> Iterator[RunningTrial]:
    """Make ``trial`` the current one for the enclosed evaluation."""
    global _current
    _current = trial
    try:
        yield trial
    finally:
        _current = None


def report(step: int, value: float | Mapping[str, object]) -> None:
    """Report the objective's ``value`` (or several metrics) at ``step``; no-op outside a trial."""
    global _warned
    trial = _current
    if trial is None:
        if not _warned:
            _warned = True
            print("tuneop-runner: report() outside a trial is ignored", file=sys.stderr)
        return
    trial.report(step, value)


def should_prune() -> bool:
    """Whether early stopping wants the current trial ended (False without it)."""
    trial = _current
    return trial.should_prune() if trial is not None else False
