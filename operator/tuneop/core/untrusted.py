"""Numbers and text from a trial's output, checked where they enter.

What a worker prints (and what a results folder or Redis hands back) is
untrusted: a metric may be an integer of 400 digits, which no float holds
(``float(10**400)`` and even ``math.isfinite(10**400)`` raise
``OverflowError``), and a text may hold a lone surrogate (``"\\ud800"``, legal
in a JSON string and in a Python ``str``, but not encodable as UTF-8, so
writing or printing it raises ``UnicodeEncodeError``).

The rule (docs/concepts.md, "Untrusted input", "Trial output"): a number is
usable when it is an int or a float (never a bool) whose value, as a float,
is finite and at most ``MAX_MAGNITUDE`` in magnitude; anything past that is
a malformed metric, never a crash. Text is normalised with ``sane_text``: each
lone surrogate becomes U+FFFD, the replacement character, before it is stored
or printed.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["MAX_MAGNITUDE", "finite_number", "magnitude_problem", "sane_text"]

# Room below the float limit (about 1.8e308) so that sums, differences and squares
# of a few values, as ranking, plots and samplers compute them, stay finite.
MAX_MAGNITUDE = 1e300
_SURROGATE = re.compile("[\ud800-\udfff]")


def finite_number(value: Any) -> float | None:
    """``value`` as a float when it is a usable number (see the module), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) and value.bit_length() > 1024:
        return None  # past any float: no conversion attempted
    number = float(value)
    return number if math.isfinite(number) and abs(number) <= MAX_MAGNITUDE else None


def magnitude_problem(value: Any) -> str | None:
    """Why a number is unusable for its size (too large, or not finite), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"is not finite ({value})"
    if finite_number(value) is None:
        return f"is too large (more than {MAX_MAGNITUDE:g} in magnitude)"
    return None


def sane_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD, so it encodes as UTF-8."""
    return _SURROGATE.sub("\ufffd", text)
