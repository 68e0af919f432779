"""Katib's StdOut metrics format: ``name=value`` in a trial's output.

A script written for Katib's StdOut metrics collector prints its metrics as
text, for example ``epoch 3: accuracy=0.91 loss=0.24``. This module reads them
the way Katib's default filter does (``([\\w|-]+)\\s*=\\s*([+-]?\\d*(\\.\\d+)?([Ee][+-]?\\d+)?)``,
every match on every line) and keeps, per metric, the value its strategy
asks for: the latest (the default), the min or the max. A Job in this format
holds one trial, so every metric in its log is that trial's.

The same text format comes from a metrics file (``kind: File``, read by the
follower beside the trial and printed to its own log), where it may also be
hypertune's JSON lines (``format: JSON``: each number, or number as text, of a
line's object is a metric; ``timestamp`` and ``trial`` are not) or read by the
session's own regexes (``metricsFormat``: each with two groups, name and value,
as Katib's ``filter.metricsFormat``); and from TensorFlow event files
(``kind: TensorFlowEvent``), whose follower prints ``metric=value`` with the
metric's name as given, a ``/`` in it too. ``metric_pairs`` reads one line so.

The log is untrusted: at most ``MAX_METRICS`` distinct names are kept (the
objective's always), each at most ``MAX_NAME_CHARS`` characters; a value
that is not a finite number is passed over. The harvest reads what
``tuneop.core.wire.logscan`` kept of the log: its last ``LOG_TAIL_BYTES``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tuneop.api.spec import MetricsCollector
from tuneop.core.untrusted import finite_number, sane_text
from tuneop.core.wire.contract import MAX_ENTRIES, MAX_NAME_CHARS
from tuneop.core.wire.metric_lines import KATIB_FILTER, metric_pairs

__all__ = ["KATIB_FILTER", "MAX_METRICS", "stdout_metrics"]

MAX_METRICS = MAX_ENTRIES


@dataclass
class _Seen:
    latest: float
    min: float
    max: float

    def add(self, value: float) -> None:
        self.latest = value
        self.min = min(self.min, value)
        self.max = max(self.max, value)


def stdout_metrics(log: str, collector: MetricsCollector, objective: str) -> dict[str, float]:
    """Each metric the log reports, by its strategy; names past the bounds are dropped."""
    seen: dict[str, _Seen] = {}
    for line in log.splitlines():
        for name, text in metric_pairs(line, collector):
            try:
                value = float(text)
            except ValueError:
                continue  # "name=" with no number
            if finite_number(value) is None or len(name) > MAX_NAME_CHARS:
                continue
            name = sane_text(name)
            if name in seen:
                seen[name].add(value)
            elif len(seen) < MAX_METRICS - 1 or name == objective:
                seen[name] = _Seen(value, value, value)
    strategies = {"latest": lambda s: s.latest, "min": lambda s: s.min, "max": lambda s: s.max}
    return {name: strategies[collector.strategy(name)](s) for name, s in seen.items()}
