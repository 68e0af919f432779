r"""A session's own metric regexes (``metricsFormat``), compiled by RE2 as Katib's are.

Katib reads ``filter.metricsFormat`` with Go's ``regexp``, which is RE2: matching takes
time linear in the text, whatever the pattern. Python's ``re`` backtracks, and a pattern
such as ``((?:a+)+)=([0-9]+)`` takes exponential time on a line of ``a``: one trial's
output would freeze a local run past its signals, or the operator with every session
it reconciles. So these patterns are compiled by RE2 (google-re2) with Katib's syntax:
what Go's ``regexp`` refuses (backreferences, lookarounds) is refused at validation,
naming the field. Katib's default filter runs on RE2 too (``core.wire.metric_lines``),
as Katib's does: ``\w``, ``\d`` and ``\s`` are ASCII there, so ``précision=0.9`` reads as
Katib reads it. RE2 is imported when the first metric line is read, not before.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

__all__ = ["COMPILED", "MAX_PATTERN_MEMORY", "compile_pattern"]


def _options() -> Any:
    import re2

    options = re2.Options()
    options.log_errors = False  # a bad pattern is one line of ours, not RE2's log on stderr
    # RE2's budget for a pattern's program and its DFA cache (8 MiB by default): past it
    # a search goes on in linear time without the cache; a pattern whose program alone
    # is larger is refused. Bounds an operator's memory for the patterns it holds.
    options.max_mem = MAX_PATTERN_MEMORY
    return options


# Per compiled pattern; with COMPILED kept, the patterns hold at most 64 MiB.
MAX_PATTERN_MEMORY = 2 * 1024 * 1024
COMPILED = 32


@lru_cache(maxsize=COMPILED)
def compile_pattern(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (``finditer``, ``groups``, ``group(n)`` as ``re``'s);
    raises ``ValueError`` naming RE2's objection for one it refuses."""
    import re2

    try:
        return re2.compile(pattern, options=_options())
    except re2.error as err:
        raise ValueError(_words(err)) from None


def _words(err: Exception) -> str:
    said = err.args[0] if err.args else err
    return said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
