"""tuneop-runner: the program inside every tuneop worker Job.

A worker is handed one trial, or several packed together, as parameter sets in
``TUNEOP_TRIALS``. The runner evaluates the session's objective (a Python
callable or an external command) for each of them in order and prints one
``TUNEOP_RESULT`` line per trial, the contract the operator reads back from the
pod log. The package uses the standard library only so the image stays small
and starts fast. An objective reports its progress with ``report(step,
value)`` and asks ``should_prune()`` for early stopping (``tuneop_runner.trial``).
"""

from tuneop_runner.trial import TrialPruned, report, should_prune

__all__ = ["TrialPruned", "__version__", "report", "should_prune"]

__version__ = "0.1.0"
