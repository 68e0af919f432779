"""Importing a library while keeping one of its optional dependencies out.

Optuna imports some optional dependencies eagerly when they are installed:
``optuna.importance`` imports scikit-learn (and with it scipy) for its fANOVA evaluator,
which the report never uses (it ranks parameters with PED-ANOVA), and
``optuna.visualization`` imports scipy for its matplotlib contour plot, which the report
does not draw. In a user's environment that has them, that costs the report 1-2 s of
imports. ``without``
hides a module for the length of an import, so the library sees it as absent, as it
would where it is not installed; afterwards the module imports normally again.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["without"]


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
