"""Small, fast sessions a journey writes into the user's folder, as a user writes their own.

``toy_objectives`` is a module the user keeps beside the spec (``toy.py``); ``PYTHONPATH``
points at the folder so ``runner.objective: toy:NAME`` imports it, as it would for a user
who tunes a function of their own project. ``session_yaml`` writes a TuningSession with the
fields a journey needs and nothing else.
"""

from __future__ import annotations

from typing import Any

import yaml
from user import User

__all__ = ["TOY", "session_yaml", "with_toy"]

TOY = '''
"""Objectives of the journeys: fast, with known values."""
import math
import time


def bowl(params):
    x = float(params.get("x", 0))
    return {"loss": (x - 3) ** 2}


def slow_bowl(params):
    time.sleep(float(params.get("sleep", 0.6)))
    return bowl(params)


def line(params):
    # Every point of the line is on the Pareto front of (f1, f2), both minimized.
    x = float(params["x"])
    return {"f1": x, "f2": 20.0 - x}


def tuned(params):
    # Every kind of parameter; the objective named val_loss.
    lr, n = float(params["lr"]), float(params["n"])
    return {"val_loss": abs(math.log10(lr) + 2) + n / 64 + float(params["k"]) / 10}
'''


def with_toy(user: User) -> User:
    """``toy.py`` in the user's folder, importable by the trials."""
    user.write("toy.py", TOY)
    user.env["PYTHONPATH"] = str(user.cwd)
    return user


def session_yaml(name: str, objective: str, spec: dict[str, Any]) -> str:
    """A TuningSession named ``name`` whose runner calls ``toy:<objective>``."""
    doc = {
        "apiVersion": "tuneop.dev/v1alpha1",
        "kind": "TuningSession",
        "metadata": {"name": name},
        "spec": {
            **spec,
            "runner": {"image": "tuneop/runner:0.1.0", "objective": f"toy:{objective}"},
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)
