"""Reading typed values out of a trial's params mapping.

Params arrive as decoded JSON, so a number may be an int or a float and a
search space may hand back ``7.0`` for an integer. These readers accept what
is meaningful, reject the rest with a ``ValueError`` that names the param (the
result line then reads e.g. ``ValueError: parameter 'x1' is missing``), and never
treat a boolean as a number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["flag", "integer", "number"]

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})
_MISSING = object()


def number(params: Mapping[str, object], name: str, default: float | None = None) -> float:
    """A finite number; ``default`` when absent (None means required)."""
    value = params.get(name, _MISSING)
    if value is _MISSING:
        if default is None:
            raise ValueError(f"parameter {name!r} is missing")
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"parameter {name!r} must be a number, got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"parameter {name!r} must be finite, got {value!r}")
    return result


def integer(params: Mapping[str, object], name: str, default: int | None = None) -> int:
    """A whole number (``7`` or ``7.0``); ``default`` when absent."""
    value = params.get(name, _MISSING)
    if value is _MISSING:
        if default is None:
            raise ValueError(f"parameter {name!r} is missing")
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"parameter {name!r} must be an integer, got {value!r}")


def flag(params: Mapping[str, object], name: str, default: bool = False) -> bool:
    """A boolean; strings such as ``"true"``/``"no"`` count as what they say."""
    value = params.get(name, _MISSING)
    if value is _MISSING:
        return default
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        raise ValueError(f"parameter {name!r} must be a boolean, got {value!r}")
    return bool(value)
