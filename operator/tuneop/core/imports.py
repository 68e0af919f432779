"""Importing a library while keeping one of its optional dependencies out.

Optuna imports some optional dependencies eagerly when they are installed:
``optuna.importance`` imports scikit-learn (and with it scipy) for its fANOVA evaluator,
which the report never uses (it ranks parameters with PED-ANOVA), and
``optuna.visualization`` imports scipy for its matplotlib contour plot and matplotlib's
pyplot for its matplotlib plots, none of which the report draws (it draws with plotly).
In a user's environment that has them (mlflow brings matplotlib), that costs the report
1-2 s of imports. ``without``
hides a module for the length of an import, so the library sees it as absent, as it
would where it is not installed; afterwards the module imports normally again.

``no_pydantic_plugins`` builds models without pydantic's search for plugins: the first
model pydantic builds reads the entry points of every installed distribution (30 ms
with the 80 of tuneop's development environment, more in a large one) looking for
plugins that observe validation, which tuneop's own models have no use for. Even with
the search switched off, pydantic's plugin loader imports ``importlib.metadata`` (with
``zipfile``, ``email``, ``csv``...: 20-40 ms, a tenth of ``tuneop plan``) only to read
the switch: for the length of the block a stand-in loader answers "no plugins" in its
place, and the real one is imported as usual by the first model built after it.
The command line builds the API's models so, and so does ``tuneop operator``, whose
start-up every restart pays before its first request.

``rare_collections`` and ``imports_done``: importing allocates a few hundred thousand
objects that live as long as the process (modules, classes, pydantic's validators), and
Python's cyclic collector, counting those allocations, walks all of them again and again
while they are made: a tenth to a fifth of the operator's start here. ``tuneop`` starts
with collections made rare, and a command restores the usual thresholds once it has
imported what it runs on (``imports_done``); one that never says so restores them when it
returns, and collects, only rarely, meanwhile.

``one_blas_thread``: numpy's OpenBLAS starts a thread per core when it is loaded, each
spinning for a while before it sleeps, which took 40-60 ms of CPU from the core a local
run's workers start on. tuneop's own numpy work (TPE on a session's history) is on small
arrays, where more threads gain nothing: OpenBLAS is loaded with one thread (its
documented ``OPENBLAS_NUM_THREADS``, set only for the block, as the pydantic switch below).

``walk_nothing_at_exit``: when the process ends, Python's finalization collects
cycles over every object still alive, the imports' few hundred thousand included: 70 ms
of a local run's 0.8 s here. Frozen first (``gc.freeze``), they are left to the
operating system, which frees the whole process anyway. What the process wrote is
already closed and flushed by then (files are written in ``with`` blocks, standard
output and error are flushed by the interpreter itself); only the finalizers of
objects that nothing but a cycle kept alive are skipped at that last moment.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "STARTUP_THRESHOLDS",
    "imports_done",
    "no_pydantic_plugins",
    "one_blas_thread",
    "rare_collections",
    "walk_nothing_at_exit",
    "without",
]

# The collector's thresholds while a command imports: a young collection every 100,000
# allocations rather than 700, so the start's objects are walked a handful of times.
STARTUP_THRESHOLDS = (100_000, 50, 100)
_kept: list[tuple[int, int, int]] = []


def rare_collections() -> None:
    """Make cyclic collections rare until ``imports_done`` (a command's start)."""
    if not _kept:
        _kept.append(gc.get_threshold())
        gc.set_threshold(*STARTUP_THRESHOLDS)


def imports_done() -> None:
    """The collector's usual thresholds again (nothing when ``rare_collections`` was not
    called, or was undone already)."""
    if _kept:
        gc.set_threshold(*_kept.pop())


_at_exit: list[bool] = []


def walk_nothing_at_exit() -> None:
    """Freeze every object at the process's exit, so finalization does not walk them
    (module doc). Registered once, whoever asks again."""
    if not _at_exit:
        _at_exit.append(True)
        atexit.register(gc.freeze)


@contextmanager
def without(*names: str) -> Iterator[None]:
    """Imports in the block see ``names`` as not installed (unless already imported)."""
    hidden = [n for n in names if n not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name) is None:
                del sys.modules[name]


_PLUGINS_OFF = "PYDANTIC_DISABLE_PLUGINS"
_BLAS_THREADS = "OPENBLAS_NUM_THREADS"


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """numpy imported in the block loads OpenBLAS with one thread (module doc). Set only
    for the block: the trials' processes started later keep the machine's default; a
    user's own setting is left as it is, and so is a numpy already imported."""
    if _BLAS_THREADS in os.environ or "numpy" in sys.modules:
        yield
        return
    os.environ[_BLAS_THREADS] = "1"
    try:
        yield
    finally:
        os.environ.pop(_BLAS_THREADS, None)


@contextmanager
def no_pydantic_plugins() -> Iterator[None]:
    """Models built in the block skip pydantic's plugin search (pydantic's documented
    switch, set only for the block, so no process started later inherits it; a user's
    own setting of it is left as it is)."""
    if _PLUGINS_OFF in os.environ:
        yield
        return
    os.environ[_PLUGINS_OFF] = "__all__"
    stand_in = _LOADER not in sys.modules
    if stand_in:
        sys.modules[_LOADER] = _no_plugins_loader()
    try:
        yield
    finally:
        os.environ.pop(_PLUGINS_OFF, None)
        if stand_in and isinstance(sys.modules.get(_LOADER), _StandIn):
            del sys.modules[_LOADER]  # the next model built imports the real loader


# pydantic.plugin._schema_validator imports ``get_plugins`` from this module each time it
# builds a validator (every pydantic 2 release so far); with plugins switched off its
# answer is always "none".
_LOADER = "pydantic.plugin._loader"


class _StandIn(types.ModuleType):
    """The plugin loader while plugins are off: no plugins, and nothing else."""

    @staticmethod
    def get_plugins() -> tuple[()]:
        return ()

    def __getattr__(self, name: str) -> object:
        # A pydantic that asks its loader for more than get_plugins: the real one answers.
        # (Not the import system's questions, ``__path__`` and the like: it has none.)
        if name.startswith("__"):
            raise AttributeError(name)
        if sys.modules.get(_LOADER) is self:
            del sys.modules[_LOADER]
        return getattr(importlib.import_module(_LOADER), name)


def _no_plugins_loader() -> _StandIn:
    return _StandIn(_LOADER, "pydantic's plugin loader while plugins are off (tuneop)")
