"""tuneop-runner: the program inside every tuneop worker Job.

A worker is handed one trial, or several packed together, as parameter sets in
``TUNEOP_TRIALS``. The runner evaluates the session's objective (a Python
callable or an external command) for each of them in order and prints one
``TUNEOP_RESULT`` line per trial, the contract the operator reads back from the
pod log. The package uses the standard library only so the image stays small
and starts fast.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
