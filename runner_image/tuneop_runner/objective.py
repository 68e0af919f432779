"""Callable objectives: a Python function named as ``module:function``.

The session names its objective like an entry point, ``package.module:function``
(a dotted attribute path after the colon also works, e.g. ``mod:Model.score``).
The function takes the trial's params dict and returns a mapping of metric
names to numbers. It is resolved with importlib, with the working directory on
``sys.path`` so an objective file copied next to the worker just works.

A trial's timeout is enforced with ``SIGALRM`` (``signal.setitimer``): the
handler raises ``TrialTimeout`` in the main thread, wherever the objective is.
``TrialTimeout`` derives from ``BaseException`` so an objective's own
``except Exception`` cannot swallow it. An objective that raises
``TrialPruned`` (``tuneop_runner.trial``, or Optuna's) ends its trial as
pruned. Code stuck inside a C extension that
never returns to the interpreter cannot be interrupted this way; the Job's
deadline is the backstop for that.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import FrameType

from tuneop_runner.contract import Evaluation, describe_exception
from tuneop_runner.trial import current, is_pruned_exception

__all__ = [
    "CallableObjective",
    "ObjectiveFunction",
    "ObjectiveLoadError",
    "TrialTimeout",
    "deadline",
    "load_callable",
]

ObjectiveFunction = Callable[[dict[str, object]], object]


class ObjectiveLoadError(Exception):
    """The ``module:function`` spec cannot be resolved to a callable."""


class TrialTimeout(BaseException):
    """Raised inside the objective when its trial ran out of time."""


def load_callable(spec: str) -> ObjectiveFunction:
    """Resolve ``module:function`` to the callable it names."""
    module_name, sep, attr_path = spec.partition(":")
    module_name, attr_path = module_name.strip(), attr_path.strip()
    if not sep or not module_name or not attr_path:
        raise ObjectiveLoadError(f"objective {spec!r} must look like module:function")
    _put_cwd_on_path()
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ObjectiveLoadError(
            f"cannot import objective {spec!r}: {describe_exception(exc)}"
        ) from exc
    except Exception as exc:
        # The module itself is broken (e.g. it raises at import time): the
        # traceback is what its author needs, and it goes to the pod log.
        traceback.print_exc(file=sys.stderr)
        raise ObjectiveLoadError(
            f"cannot import objective {spec!r}: {describe_exception(exc)}"
        ) from exc
    target: object = module
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise ObjectiveLoadError(
                f"cannot load objective {spec!r}: {module_name!r} has no attribute {attr_path!r}"
            ) from exc
    if not callable(target):
        raise ObjectiveLoadError(
            f"objective {spec!r} is not callable (it is {type(target).__name__})"
        )
    function: ObjectiveFunction = target
    return function


def _put_cwd_on_path() -> None:
    # ``python -m`` already puts the working directory first, the console
    # script does not; both must find an objective module sitting in the cwd.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raise ``TrialTimeout`` in the enclosed block once ``seconds`` have passed."""
    if seconds is None:
        yield
        return
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("trial timeouts need the main thread (they use SIGALRM)")

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise TrialTimeout(seconds)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class CallableObjective:
    """Evaluates a Python callable for one trial at a time."""

    def __init__(self, function: ObjectiveFunction, name: str = "") -> None:
        self._function = function
        self.name = name or getattr(function, "__qualname__", repr(function))

    def evaluate(self, params: Mapping[str, object], timeout: float | None) -> Evaluation:
        try:
            with deadline(timeout):
                # A copy, so an objective that mutates its params cannot change
                # what the result line reports.
                value = self._function(dict(params))
        except TrialTimeout:
            return Evaluation.timeout(timeout or 0.0)
        except Exception as exc:
            trial = current()
            if is_pruned_exception(exc) and trial is not None:
                return Evaluation.pruned(trial.last, trial.why_pruned())
            traceback.print_exception(exc, file=sys.stderr)
            return Evaluation.failed(describe_exception(exc))
        except SystemExit as exc:
            # SystemExit too: one objective calling sys.exit must not take the
            # remaining packed trials down with it. The traceback goes to the
            # pod log; the result line carries only the short form.
            traceback.print_exception(exc, file=sys.stderr)
            return Evaluation.failed(describe_exception(exc))
        return Evaluation.succeeded(value)
