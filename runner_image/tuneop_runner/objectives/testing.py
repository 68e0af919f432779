"""Small objectives that misbehave on purpose, for tests and failure examples.

* ``sleep``: sleeps ``seconds`` (default 0) and returns ``{"value": seconds}``,
  to exercise timeouts and packing;
* ``fail_when``: raises ``ValueError`` when ``fail`` is truthy, otherwise returns
  ``{"value": x}`` (``x`` defaults to 0), to show one bad trial among good ones;
* ``nan``: returns ``{"value": nan}``, to show how a non-finite metric is reported.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from tuneop_runner.objectives.params import flag, number

__all__ = ["fail_when", "nan", "sleep"]


def sleep(params: Mapping[str, object]) -> dict[str, float]:
    seconds = number(params, "seconds", default=0.0)
    time.sleep(max(seconds, 0.0))
    return {"value": seconds}


def fail_when(params: Mapping[str, object]) -> dict[str, float]:
    if flag(params, "fail"):
        raise ValueError("failing on purpose (fail is set)")
    return {"value": number(params, "x", default=0.0)}


def nan(params: Mapping[str, object]) -> dict[str, float]:
    return {"value": float("nan")}
