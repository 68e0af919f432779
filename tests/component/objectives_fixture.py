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


def fails_once_when_flaky(params: dict[str, float]) -> dict[str, float]:
    """Records each run (with its attempt) in $TUNEOP_TEST_STATE/runs-<x>; a ``flaky`` trial
    raises on its first run."""
    runs = Path(os.environ["TUNEOP_TEST_STATE"]) / f"runs-{params['x']}"
    with runs.open("a") as f:
        f.write(os.environ.get("TUNEOP_ATTEMPT", "0") + "\n")
    if params.get("flaky") and len(runs.read_text().split()) == 1:
        raise RuntimeError("flaky the first time")
    return {"value": float(params["x"])}


# ---- hostile output: what an unlucky or malicious objective can print -------------


def raises_markup(params: dict[str, float]) -> dict[str, float]:
    """Fails with a message that is rich markup and terminal escapes."""
    raise KeyError("[/data] \x1b[2J\x1b]0;owned\x07")


def markup_metric(params: dict[str, float]) -> dict[str, float]:
    """A metric whose name is rich markup, beside the objective's own."""
    return {"value": float(params.get("x", 0)), "acc[/]": 1.0}


def noisy(params: dict[str, float]) -> dict[str, float]:
    """Writes ``mb`` megabytes to stderr before reporting."""
    import sys

    chunk = "noise " * 170 + "\n"  # about 1 KiB a line
    for _ in range(int(float(params.get("mb", 2)) * 1024)):
        sys.stderr.write(chunk)
    sys.stderr.flush()
    return {"value": float(params.get("x", 0))}


def poison(params: dict[str, float]) -> dict[str, float]:
    """Prints a result line nested 5,000 deep (when ``poison`` is set), then reports normally."""
    if params.get("poison"):
        print("TUNEOP_RESULT " + "[" * 5000 + "]" * 5000, flush=True)
    return {"value": float(params.get("x", 0))}


# ---- resuming and stopping ----------------------------------------------------------


def slow_first_time(params: dict[str, float]) -> dict[str, float]:
    """Records each evaluation; with ``slow`` set, the first evaluation of a trial hangs."""
    state = Path(os.environ["TUNEOP_TEST_STATE"])
    with (state / "evaluations").open("a") as f:
        f.write(f"{params['x']}\n")
    marker = state / f"seen-{params['x']}"
    if params.get("slow") and not marker.exists():
        marker.write_text("seen")
        time.sleep(120)
    return {"value": float(params["x"])}


def spawns_daemon(params: dict[str, float]) -> dict[str, float]:
    """Starts a grandchild in its own session (setsid) that outlives the trial, then sleeps
    ``seconds``; the grandchild's pid goes to $TUNEOP_TEST_STATE/daemons."""
    import subprocess

    child = subprocess.Popen(["sleep", "300"], start_new_session=True)
    with (Path(os.environ["TUNEOP_TEST_STATE"]) / "daemons").open("a") as f:
        f.write(f"{child.pid}\n")
    time.sleep(float(params.get("seconds", 0)))
    return {"value": float(params.get("x", 0))}
