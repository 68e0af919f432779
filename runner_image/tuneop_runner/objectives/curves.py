"""A synthetic learning curve for early-stopping examples and tests: fast, standard library.

``learning_curve`` trains nothing: its "accuracy" after step ``s`` is
``ceiling * (1 - exp(-s / pace))``, where ``ceiling`` is the final accuracy
the params lead to (best at ``x = 0.3``: ``ceiling = 0.95 - (x - 0.3)^2``)
and ``pace = 3``. Every step it reports the value (``tuneop_runner.report``),
sleeps ``stepSeconds`` (default 0) and, before its last step, asks
``should_prune``; a pruned trial raises ``TrialPruned``. The last step is never
pruned: the trial has done all its work, so stopping it would save nothing and
throw away a finished value. ``steps`` (default 20) is a full trial's length.
Curves never cross, so a pruner that stops a trial early stops one that
would have finished worse, as with a real model most of the time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

from tuneop_runner.objectives.params import number
from tuneop_runner.trial import TrialPruned, report, should_prune

__all__ = ["learning_curve"]


def learning_curve(params: Mapping[str, object]) -> dict[str, float]:
    x = number(params, "x")
    steps = int(number(params, "steps", default=20.0))
    pause = max(number(params, "stepSeconds", default=0.0), 0.0)
    ceiling = 0.95 - (x - 0.3) ** 2
    accuracy = 0.0
    for step in range(1, steps + 1):
        accuracy = ceiling * (1 - math.exp(-step / 3))
        report(step, accuracy)
        time.sleep(pause)
        if step < steps and should_prune():
            raise TrialPruned()
    return {"accuracy": accuracy}
