"""One line of a trial's metrics text read by the session's collector: ``metric_pairs``.

Katib's default filter (``KATIB_FILTER``: ``name=value``, every match on the line);
hypertune's JSON lines (``format: JSON``: each number, or number as text, of the
line's object is a metric; ``timestamp`` and ``trial`` are not); the session's own
regexes (``metricsFormat``: the first two groups are name and value, as Katib's
``filter.metricsFormat``); and the TensorFlowEvent follower's ``metric=value`` lines,
whose names may hold a ``/`` (``test/accuracy``). A line is cut to
``MAX_LINE_CHARS`` before any regex reads it, so a session's own regex runs on
bounded text, and in time linear in it (RE2, ``tuneop.api.patterns``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tuneop.api.patterns import compile_pattern

if TYPE_CHECKING:  # the command line reads metric lines without building the API's models
    from tuneop.api.spec import MetricsCollector

__all__ = ["KATIB_FILTER", "MAX_LINE_CHARS", "metric_pairs"]

# Katib's default filter, as its Go regexp reads it (RE2: \w, \d and \s are ASCII). Run on
# RE2 like a session's own: on Python's re a long run of word characters not followed
# by "=" makes it quadratic (0.2 s for one 4 KiB line), stalling a harvest on a log tail.
KATIB_FILTER = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"
# TensorFlowEvent: the follower prints metric names as the session gives them ("test/acc").
_TF_FILTER = r"([\w|./-]+)=([+-]?[\w.+-]+)"
MAX_LINE_CHARS = 4096
_NOT_METRICS = ("timestamp", "trial")  # hypertune's JSON fields that are no metric


def _json_pairs(line: str) -> list[tuple[str, str]]:
    try:
        doc = json.loads(line)
    except ValueError:
        return []
    if not isinstance(doc, dict):
        return []
    return [
        (str(k), str(v))
        for k, v in doc.items()
        if k not in _NOT_METRICS and not isinstance(v, bool) and isinstance(v, int | float | str)
    ]


def metric_pairs(line: str, collector: MetricsCollector | None) -> list[tuple[str, str]]:
    """``(name, value text)`` of each metric on one line, by the collector's format."""
    line = line[:MAX_LINE_CHARS]
    if collector is not None and collector.format == "JSON":
        return _json_pairs(line) if line.lstrip().startswith("{") else []
    if "=" not in line and not (collector and collector.metrics_format):
        return []
    if collector is not None and collector.metrics_format:
        # Katib takes each match's first two groups, trimmed, as name and value.
        return [
            (m.group(1).strip(), m.group(2).strip())
            for rx in map(compile_pattern, collector.metrics_format)  # cached there
            for m in rx.finditer(line)
            if m.group(1) is not None and m.group(2) is not None
        ]
    tf = collector is not None and collector.kind == "TensorFlowEvent"
    rx = compile_pattern(_TF_FILTER if tf else KATIB_FILTER)
    return [(m.group(1), m.group(2)) for m in rx.finditer(line)]
