"""Objectives used by the local-session tests (importable via PYTHONPATH)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def timed(params: dict[str, float]) -> dict[str, float]:
    """Sleeps ``seconds`` and appends start/end times to $TUNEOP_TEST_TIMELINE."""
    start = time.time()
    time.sleep(float(params.get("seconds", 0.2)))
    end = time.time()
    with Path(os.environ["TUNEOP_TEST_TIMELINE"]).open("a") as f:
        f.write(f"{start} {end}\n")
    return {"value": float(params.get("x", 0))}


def flaky_once(params: dict[str, float]) -> dict[str, float]:
    """Kills its own worker on the first attempt of each trial, succeeds on the next."""
    marker = Path(os.environ["TUNEOP_TEST_STATE"]) / f"trial-{params['x']}"
    if not marker.exists():
        marker.write_text("tried")
        os._exit(3)
    return {"value": float(params["x"])}
