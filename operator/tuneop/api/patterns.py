"""A session's own metric regexes (``metricsFormat``), compiled by RE2 as Katib's are.

Katib reads ``filter.metricsFormat`` with Go's ``regexp``, which is RE2: matching takes
time linear in the text, whatever the pattern. Python's ``re`` backtracks, and a pattern
such as ``((?:a+)+)=([0-9]+)`` takes exponential time on a line of ``a``: one trial's
output would freeze a local run past its signals, or the operator with every session
it reconciles. So these patterns are compiled by RE2 (google-re2) with Katib's syntax:
what Go's ``regexp`` refuses (backreferences, lookarounds) is refused at validation,
naming the field. tuneop's own fixed patterns stay with ``re``, a few times faster per
line here. RE2 is imported when a session with such a pattern is read, not before.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

__all__ = ["compile_pattern", "pattern_error"]


def _options() -> Any:
    import re2

    options = re2.Options()
    options.log_errors = False  # a bad pattern is one line of ours, not RE2's log on stderr
    return options


@lru_cache(maxsize=64)
def compile_pattern(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (``finditer``, ``groups``, ``group(n)`` as ``re``'s);
    raises ``ValueError`` naming RE2's objection for one it refuses."""
    import re2

    try:
        return re2.compile(pattern, options=_options())
    except re2.error as err:
        raise ValueError(_words(err)) from None


def pattern_error(pattern: str) -> str | None:
    """Why RE2 refuses ``pattern``, or None."""
    try:
        compile_pattern(pattern)
    except ValueError as err:
        return str(err)
    return None


def _words(err: Exception) -> str:
    said = err.args[0] if err.args else err
    return said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
