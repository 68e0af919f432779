"""MLflow tracking: a session as a parent run, each trial a nested run (``spec.tracking.mlflow``).

The one package that imports ``mlflow`` (the extra ``tuneop[mlflow]``): the
tracker (``tracker.py``: made before a Job starts, written as trials end), the
runs it finds by their tags and writes idempotently (``runs.py``), and the
outbox its writes wait in while the server is down (``outbox.py``).
"""

from tuneop.adapters.mlflow_tracking.tracker import MlflowTracker

__all__ = ["MlflowTracker"]
