"""A Katib Experiment's fields read with their types checked, and the one error.

An Experiment file is untrusted: every field is read with its type checked (a
mapping, a list, a whole number that is not a boolean, a finite number), and a
field of the wrong shape is a ``KatibError`` naming it, never another exception.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["KatibError", "count", "listed", "mapping", "number", "whole"]


class KatibError(ValueError):
    """An Experiment tuneop cannot take; ``str()`` says which field and why, in one line."""


def number(text: Any, where: str) -> float:
    """A finite number from Katib's text (``"0.01"``) or a YAML number; never a boolean."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise KatibError(f"{where}: not a number")
    try:
        value = float(text)
    except (ValueError, OverflowError):
        raise KatibError(f"{where}: not a number") from None
    if not math.isfinite(value):
        raise KatibError(f"{where}: not a finite number")
    return value


def whole(value: float) -> int | float:
    """``value`` as an int when it is one (``3.0`` → ``3``)."""
    return int(value) if value == int(value) else value


def count(value: Any, where: str) -> int:
    """A count Katib types as int32: a whole number, not a boolean nor text."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise KatibError(f"{where}: must be a whole number")
    return int(value)


def mapping(value: Any, where: str) -> dict[str, Any]:
    """A mapping (absent: empty), or a ``KatibError`` naming ``where``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise KatibError(f"{where}: must be a mapping")
    return value


def listed(value: Any, where: str) -> list[Any]:
    """A list (absent: empty), or a ``KatibError`` naming ``where``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise KatibError(f"{where}: must be a list")
    return value
