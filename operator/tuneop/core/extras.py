"""Which optional part of tuneop a command needs, and the one line that names it.

The default install is what a local session needs. The rest comes as extras
(``pyproject.toml``): ``report`` (plotly), ``qmc`` (scipy), ``operator`` (kopf, the
Kubernetes client, the Prometheus client), ``mlflow`` (MLflow's client, for
``spec.tracking.mlflow``), ``gp`` (PyTorch) and ``dataframe`` (pandas, for the Python
API's DataFrame). A command that needs a missing one stops with one line naming the
extra, before it imports anything of it; ``find_spec`` looks for a module without
importing it.
"""

from __future__ import annotations

import importlib.util

__all__ = ["EXTRA_OF", "missing_module", "needs"]

# The module each extra brings that tuneop imports.
EXTRA_OF = {
    "plotly": "report",
    "scipy": "qmc",
    "kopf": "operator",
    "kubernetes": "operator",
    "prometheus_client": "operator",
    "torch": "gp",
    "mlflow": "mlflow",
    "pandas": "dataframe",
}


def missing_module(*modules: str) -> str | None:
    """The first of ``modules`` this Python cannot import, or None."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            return module
    return None


def needs(what: str, module: str) -> str:
    """``what`` needs ``module``: the line that says which extra to install."""
    return (
        f"{what} needs {module}, which this Python does not have;"
        f" install it with pip install 'tuneop[{EXTRA_OF[module]}]'"
    )
