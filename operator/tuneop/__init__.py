"""tuneop: a Kubernetes operator that runs parameter-tuning sessions.

The package is layered. ``tuneop.core`` is pure (data in, data out: the API
model, the planner, the result contract); ``tuneop.adapters`` hold every piece
of I/O behind small protocols; ``tuneop.reconciler`` runs observe → plan → act;
``tuneop.controller.handlers`` (kopf) and ``tuneop.cli.run`` (local processes) drive it;
``tuneop.cli`` is the command line. import-linter enforces the order.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
